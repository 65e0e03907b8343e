"""Merge layers: combine several tensors into one.

The element-wise family (Add, Subtract, Multiply, Average, Maximum, Minimum) needs inputs of
equal shape; an unknown dimension (None or a named one) matches any size. Concatenate joins
along one axis; Dot takes dot products along a pair of axes. None of them has weights.

Axes follow Keras, where the batch is axis 0: ``axis=1`` is the first axis of the shapes
written in a spec and ``axis=-1`` the last. The batch axis cannot be merged along.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archdsl.ir import Dim, TensorType
from archdsl.layers.base import Bool, Ctx, InputSpec, Int, LayerSpec, Param, ParamType, register, shape_text
from archdsl.values import format_value


def shapes_text(types: Sequence[TensorType]) -> str:
    return ", ".join(shape_text(t) for t in types)


def dims_match(a: Dim, b: Dim) -> bool:
    """Equal sizes, or at least one unknown (None or named)."""
    return not (isinstance(a, int) and isinstance(b, int)) or a == b


def merge_dim(dims: Sequence[Dim]) -> Dim:
    """The output size of matched dimensions: kept when all agree, else unknown (as in Keras)."""
    return dims[0] if all(d == dims[0] for d in dims) else None


def merged_dtype(types: Sequence[TensorType]) -> str:
    dtypes = {t.dtype for t in types}
    return types[0].dtype if len(dtypes) == 1 else "float32"


def equal_shapes(ctx: Ctx, hint: str) -> TensorType:
    """The common type of inputs that must have equal shapes; fails listing every shape."""
    types = ctx.inputs
    same_rank = len({t.rank for t in types}) == 1
    if not same_rank or not all(
        dims_match(a, b) for t in types[1:] for a, b in zip(types[0].shape, t.shape, strict=True)
    ):
        ctx.fail(f"{ctx.spec.name} needs inputs of the same shape, got {shapes_text(types)}", hint=hint)
    shape = tuple(merge_dim([t.shape[i] for t in types]) for i in range(types[0].rank))
    return TensorType(shape, merged_dtype(types))


def keras_axis(ctx: Ctx, axis: int, rank: int, arg: str, written: str, which: str = "inputs") -> int:
    """The index into a batch-free shape of a Keras axis (batch = 0); fails when out of range.

    ``written`` is how the axis appears in messages, e.g. ``axis=3``.
    """
    if axis == 0 or axis == -(rank + 1):
        ctx.fail(
            f"{ctx.spec.name}: {written} is the batch axis; the input shapes {shapes_text(ctx.inputs)} exclude it",
            hint=f"axes count the batch as axis 0: {arg}=1 is the first axis of the shape and {arg}=-1 the last",
            arg=arg,
        )
    if not -rank <= axis <= rank:
        ctx.fail(
            f"{ctx.spec.name}: {written} is out of range for {which} of rank {rank}: {shapes_text(ctx.inputs)}",
            hint=f"valid axes are 1 to {rank} or -1 to -{rank}",
            arg=arg,
        )
    return axis - 1 if axis > 0 else rank + axis


# --- element-wise -------------------------------------------------------------------------


def _elementwise_spec(name: str, doc: str, inputs: tuple[int, int | None]) -> LayerSpec:
    def infer(ctx: Ctx) -> TensorType:
        return equal_shapes(
            ctx,
            hint="element-wise merges combine matching positions; make the shapes equal first "
            "(e.g. a Dense or 1x1 Conv2D with matching units), or join them with Concatenate",
        )

    return register(
        LayerSpec(
            name=name,
            family="merge",
            doc=doc,
            params=(),
            infer=infer,
            inputs=inputs,
            input_spec=InputSpec(dtype="any"),
        )
    )


ADD = _elementwise_spec("Add", "Element-wise sum of two or more tensors of the same shape.", (2, None))
SUBTRACT = _elementwise_spec(
    "Subtract", "Element-wise difference a - b of exactly two tensors of the same shape.", (2, 2)
)
MULTIPLY = _elementwise_spec("Multiply", "Element-wise product of two or more tensors of the same shape.", (2, None))
AVERAGE = _elementwise_spec("Average", "Element-wise mean of two or more tensors of the same shape.", (2, None))
MAXIMUM = _elementwise_spec("Maximum", "Element-wise maximum of two or more tensors of the same shape.", (2, None))
MINIMUM = _elementwise_spec("Minimum", "Element-wise minimum of two or more tensors of the same shape.", (2, None))


# --- Concatenate ----------------------------------------------------------------------------


def _concatenate_shape(ctx: Ctx) -> TensorType:
    types = ctx.inputs
    rank = types[0].rank
    if any(t.rank != rank for t in types):
        ctx.fail(
            f"Concatenate needs inputs of the same rank, got {shapes_text(types)}",
            hint="Reshape or Flatten the inputs so that only the joined axis differs",
        )
    axis = ctx["axis"]
    index = keras_axis(ctx, axis, rank, "axis", f"axis={axis}")
    for i in range(rank):
        if i == index:
            continue
        dims = [t.shape[i] for t in types]
        known = [d for d in dims if isinstance(d, int)]
        if len(set(known)) > 1:
            sizes = " and ".join(str(d) for d in dict.fromkeys(known))
            ctx.fail(
                f"Concatenate along axis {axis} needs the other axes to match, "
                f"but axis {i + 1} has sizes {sizes}: {shapes_text(types)}",
                hint="only the joined axis may differ; the batch is axis 0, so axis 1 is the first written axis",
                arg="axis",
            )
    joined = [t.shape[index] for t in types]
    total: Dim = sum(joined) if all(isinstance(d, int) for d in joined) else None  # type: ignore[arg-type]
    shape = types[0].shape[:index] + (total,) + types[0].shape[index + 1 :]
    return TensorType(shape, merged_dtype(types))


CONCATENATE = register(
    LayerSpec(
        name="Concatenate",
        family="merge",
        doc="Joins two or more tensors along one axis (default the last); every other axis must match. "
        "Axes count the batch as 0, as in Keras.",
        params=(Param("axis", Int(None), -1, "the axis to join along (1 = first written axis, -1 = last)"),),
        infer=_concatenate_shape,
        inputs=(2, None),
        input_spec=InputSpec(dtype="any"),
    )
)


# --- Dot ------------------------------------------------------------------------------------


class DotAxes(ParamType):
    """An axis, or a pair (axis of the first input, axis of the second): normalised to a pair."""

    description = "an axis or a pair of axes (a, b)"

    def convert(self, value: Any) -> tuple[int, int]:
        if isinstance(value, int) and not isinstance(value, bool):
            return (value, value)
        if (
            isinstance(value, tuple)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            return value
        self.fail()


def _dot_shape(ctx: Ctx) -> TensorType:
    first, second = ctx.inputs
    axes = ctx["axes"]
    written = f"axes={format_value(axes)}"
    i = keras_axis(ctx, axes[0], first.rank, "axes", f"axis {axes[0]} in {written}", "input 1")
    j = keras_axis(ctx, axes[1], second.rank, "axes", f"axis {axes[1]} in {written}", "input 2")
    a, b = first.shape[i], second.shape[j]
    # Keras checks these sizes when the model is built, where every named size is None.
    if a != b and (isinstance(a, int) or isinstance(b, int)):
        ctx.fail(
            f"Dot needs axis {axes[0]} of input 1 and axis {axes[1]} of input 2 to have the same size, "
            f"got {a} and {b}: {shapes_text(ctx.inputs)}",
            hint="choose the axes that hold the same features, e.g. axes=(2, 2) for two (T, d) sequences",
            arg="axes",
        )
    shape = first.shape[:i] + first.shape[i + 1 :] + second.shape[:j] + second.shape[j + 1 :]
    return TensorType(shape or (1,), merged_dtype(ctx.inputs))


DOT = register(
    LayerSpec(
        name="Dot",
        family="merge",
        doc="Dot product of two tensors along the given axes (batch = axis 0, as in Keras): "
        "(n,) . (n,) gives (1,); (T, d) . (S, d) with axes=(2, 2) gives (T, S). "
        "normalize=True L2-normalises both first, giving cosine similarities.",
        params=(
            Param("axes", DotAxes(), doc="the axis summed over, or a pair (axis of input 1, axis of input 2)"),
            Param("normalize", Bool(), False, "L2-normalise along the axes first (cosine similarity)"),
        ),
        infer=_dot_shape,
        inputs=(2, 2),
        input_spec=InputSpec(dtype="any"),
    )
)
