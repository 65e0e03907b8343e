"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, and the 1D/2D/3D families of
UpSampling, ZeroPadding and Cropping.

Flatten, Reshape and Permute pass integer tensors through unchanged; the other layers, like
Keras, produce float32. Unknown sizes stay unknown where a size depends on them.
"""

from __future__ import annotations

from typing import Any

from archdsl.ir import Dim, TensorType
from archdsl.layers.base import (
    Choice,
    Ctx,
    InputSpec,
    Int,
    IntSequence,
    IntTuple,
    LayerSpec,
    Padding2D,
    Param,
    ParamType,
    known,
    product,
    register,
    shape_text,
)
from archdsl.layers.core import float_or_int
from archdsl.values import format_value

SPATIAL_AXES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def _axes_text(rank: int) -> str:
    return "(" + ", ".join(SPATIAL_AXES[rank] + ("channels",)) + ")"


# --- Flatten, Reshape, Permute, RepeatVector ------------------------------------------------


def _flatten_shape(ctx: Ctx) -> TensorType:
    return TensorType((product(ctx.input.shape),), float_or_int(ctx.input))


class _TargetShape(IntSequence):
    """Reshape's target: positive sizes, at most one of them -1."""

    def __init__(self) -> None:
        super().__init__(description="a tuple of positive sizes, at most one of them -1")

    def convert(self, value: Any) -> tuple[int, ...]:
        dims = super().convert(value)
        if any(d < 1 and d != -1 for d in dims):
            self.fail("sizes must be positive; -1 stands for the one size to infer")
        if dims.count(-1) > 1:
            self.fail("only one size can be -1")
        return dims


def _reshape_shape(ctx: Ctx) -> TensorType:
    target: tuple[int, ...] = ctx["target_shape"]
    elements = product(ctx.input.shape)
    fixed = product([d for d in target if d != -1])
    assert fixed is not None
    shown = format_value(target)
    if -1 in target:
        if elements is None:
            inferred: Dim = None
        elif elements % fixed:
            ctx.fail(
                f"Reshape cannot fill the -1 in target shape {shown}: input shape {shape_text(ctx.input)} has "
                f"{elements} elements, which is not a multiple of {fixed}",
                hint="the product of the other target sizes must divide the number of elements",
                arg="target_shape",
            )
        else:
            inferred = elements // fixed
        shape = tuple(inferred if d == -1 else d for d in target)
    else:
        if elements is not None and elements != fixed:
            ctx.fail(
                f"Reshape cannot turn input shape {shape_text(ctx.input)} ({elements} elements) into target shape "
                f"{shown} ({fixed} elements)",
                hint="reshaping keeps the number of elements; write -1 for one size to have it inferred",
                arg="target_shape",
            )
        shape = target
    return TensorType(shape, float_or_int(ctx.input))


def _permute_shape(ctx: Ctx) -> TensorType:
    dims: tuple[int, ...] = ctx["dims"]
    rank = ctx.input.rank
    if sorted(dims) != list(range(1, rank + 1)):
        ctx.fail(
            f"Permute dims {format_value(dims)} are not a permutation of 1..{rank} for input of rank {rank} "
            f"with shape {shape_text(ctx.input)}",
            hint="dims count from 1 (the batch is axis 0) and name every axis once, e.g. (2, 1) swaps two axes",
            arg="dims",
        )
    return TensorType(tuple(ctx.input.shape[d - 1] for d in dims), float_or_int(ctx.input))


def _repeat_shape(ctx: Ctx) -> TensorType:
    return TensorType((ctx["n"], ctx.input.shape[0]))


FLATTEN = register(
    LayerSpec(
        name="Flatten",
        family="reshaping",
        doc="Flattens each example to one axis: (a, b, c) -> (a*b*c,). No weights.",
        params=(),
        infer=_flatten_shape,
        input_spec=InputSpec(dtype="any"),
    )
)

RESHAPE = register(
    LayerSpec(
        name="Reshape",
        family="reshaping",
        doc="Reshapes each example to target_shape (batch excluded); one size may be -1 to be inferred.",
        params=(Param("target_shape", _TargetShape(), doc="the new shape, without the batch dimension"),),
        infer=_reshape_shape,
        input_spec=InputSpec(dtype="any"),
    )
)

PERMUTE = register(
    LayerSpec(
        name="Permute",
        family="reshaping",
        doc="Reorders the axes: dims is a permutation of 1..rank (the batch is axis 0 and stays first).",
        params=(
            Param("dims", IntSequence(1, "a tuple of axis numbers counted from 1"), doc="the new order of the axes"),
        ),
        infer=_permute_shape,
        input_spec=InputSpec(min_rank=1, dtype="any"),
    )
)

REPEAT_VECTOR = register(
    LayerSpec(
        name="RepeatVector",
        family="reshaping",
        doc="Repeats a vector n times: (features,) -> (n, features).",
        params=(Param("n", Int(), doc="number of repetitions"),),
        infer=_repeat_shape,
        input_spec=InputSpec(rank=1, axes="(features,)"),
    )
)


# --- UpSampling ---------------------------------------------------------------------------


def _scaled(dim: Dim, factor: int) -> Dim:
    return dim * factor if known(dim) else None  # type: ignore[operator]


def _upsampling_shape(ctx: Ctx) -> TensorType:
    size = ctx["size"]
    factors = size if isinstance(size, tuple) else (size,)
    spatial = tuple(_scaled(d, f) for d, f in zip(ctx.input.shape[:-1], factors, strict=True))
    return TensorType(spatial + ctx.input.shape[-1:])


def _upsampling(rank: int) -> LayerSpec:
    params: tuple[Param, ...]
    if rank == 1:
        params = (Param("size", Int(), 2, "how many times each step is repeated"),)
    else:
        params = (Param("size", IntTuple(rank), (2,) * rank, "the factor along each spatial axis"),)
    if rank == 2:
        params += (Param("interpolation", Choice("nearest", "bilinear"), "nearest", "how new values are computed"),)
    axes = ", ".join(SPATIAL_AXES[rank])
    return LayerSpec(
        name=f"UpSampling{rank}D",
        family="reshaping",
        doc=f"Enlarges the {axes} axes by repeating values"
        + (" (or by bilinear interpolation)" if rank == 2 else "")
        + "; the channels are unchanged. No weights.",
        params=params,
        infer=_upsampling_shape,
        input_spec=InputSpec(rank=rank + 1, axes=_axes_text(rank)),
    )


UPSAMPLING_1D = register(_upsampling(1))
UPSAMPLING_2D = register(_upsampling(2))
UPSAMPLING_3D = register(_upsampling(3))


# --- ZeroPadding and Cropping --------------------------------------------------------------


class _Padding1D(ParamType):
    description = "an integer or a tuple (before, after)"

    def convert(self, value: Any) -> tuple[tuple[int, int], ...]:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return ((value, value),)
        if (
            isinstance(value, tuple)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
        ):
            return ((value[0], value[1]),)
        self.fail()


class _Padding3D(Padding2D):
    description = "an integer, a tuple (depth, height, width), or three (before, after) pairs"

    def __init__(self) -> None:
        super().__init__(3)


def _amount_type(rank: int) -> ParamType:
    return {1: _Padding1D(), 2: Padding2D(2), 3: _Padding3D()}[rank]


def _padding_shape(ctx: Ctx) -> TensorType:
    pads = ctx["padding"]
    spatial = tuple(d + a + b if known(d) else None for d, (a, b) in zip(ctx.input.shape[:-1], pads, strict=True))  # type: ignore[operator]
    return TensorType(spatial + ctx.input.shape[-1:])


def _cropping_shape(ctx: Ctx) -> TensorType:
    crops = ctx["cropping"]
    names = SPATIAL_AXES[ctx.input.rank - 1]
    spatial: list[Dim] = []
    for dim, (a, b), axis in zip(ctx.input.shape[:-1], crops, names, strict=True):
        if not known(dim):
            spatial.append(None)
            continue
        assert isinstance(dim, int)
        if a + b >= dim:
            ctx.fail(
                f"{ctx.spec.name} crops {a} + {b} from the {axis} axis of size {dim}, leaving nothing: "
                f"input shape {shape_text(ctx.input)}",
                hint="the amounts cropped along each axis must add up to less than its size",
                arg="cropping",
            )
        spatial.append(dim - a - b)
    return TensorType(tuple(spatial) + ctx.input.shape[-1:])


def _padding(rank: int) -> LayerSpec:
    axes = ", ".join(SPATIAL_AXES[rank])
    return LayerSpec(
        name=f"ZeroPadding{rank}D",
        family="reshaping",
        doc=f"Adds rows of zeros at both ends of the {axes} axes. No weights.",
        params=(Param("padding", _amount_type(rank), ((1, 1),) * rank, "zeros added before and after each axis"),),
        infer=_padding_shape,
        input_spec=InputSpec(rank=rank + 1, axes=_axes_text(rank)),
    )


def _cropping(rank: int) -> LayerSpec:
    axes = ", ".join(SPATIAL_AXES[rank])
    return LayerSpec(
        name=f"Cropping{rank}D",
        family="reshaping",
        doc=f"Removes entries at both ends of the {axes} axes. No weights.",
        params=(
            Param(
                "cropping",
                _amount_type(rank),
                ((0, 0),) * rank if rank == 2 else ((1, 1),) * rank,
                "entries removed before and after each axis",
            ),
        ),
        infer=_cropping_shape,
        input_spec=InputSpec(rank=rank + 1, axes=_axes_text(rank)),
    )


ZERO_PADDING_1D = register(_padding(1))
ZERO_PADDING_2D = register(_padding(2))
ZERO_PADDING_3D = register(_padding(3))
CROPPING_1D = register(_cropping(1))
CROPPING_2D = register(_cropping(2))
CROPPING_3D = register(_cropping(3))
