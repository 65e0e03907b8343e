"""Core layers: Dense and Dropout, and axis/softmax helpers shared by other layer families.

Axes follow Keras: they count the batch dimension as axis 0, so ``axis=1`` is the first
axis of an archdsl shape (which excludes the batch) and ``axis=-1`` is the last.
"""

from __future__ import annotations

from archdsl.ir import ParamCount, TensorType
from archdsl.layers.base import (
    ACTIVATION,
    KERNEL_OPTIONS,
    RATE,
    Ctx,
    InputSpec,
    Int,
    LayerSpec,
    Optional,
    Param,
    register,
    shape_text,
)

# --- helpers shared by several layer families ---------------------------------------------


def float_or_int(t: TensorType) -> str:
    """The output dtype of a layer that passes integers through: Keras casts floats to float32."""
    return t.dtype if t.is_integer else "float32"


# --- Dense --------------------------------------------------------------------------------


def _dense_shape(ctx: Ctx) -> TensorType:
    last = ctx.input.shape[-1]
    if not isinstance(last, int):
        ctx.fail(
            f"Dense needs a known last dimension, got shape {shape_text(ctx.input)}",
            hint="the last axis holds the features; give the input a fixed size there",
        )
    return TensorType(ctx.input.shape[:-1] + (ctx["units"],))


def _dense_count(ctx: Ctx) -> ParamCount:
    features = ctx.input.shape[-1]
    units = ctx["units"]
    return ParamCount(features * units + (units if ctx["use_bias"] else 0))


DENSE = register(
    LayerSpec(
        name="Dense",
        family="core",
        doc="Fully connected layer: output = activation(input @ kernel + bias) on the last axis.",
        params=(Param("units", Int(), doc="number of output features"), ACTIVATION) + KERNEL_OPTIONS,
        infer=_dense_shape,
        count=_dense_count,
        input_spec=InputSpec(min_rank=1, axes="(..., features)"),
    )
)


# --- Dropout ------------------------------------------------------------------------------


def _same_shape(ctx: Ctx) -> TensorType:
    return TensorType(ctx.input.shape)


DROPOUT = register(
    LayerSpec(
        name="Dropout",
        family="core",
        doc="Sets a random fraction `rate` of the inputs to 0 during training and scales the rest by "
        "1 / (1 - rate); the identity at inference. No weights.",
        params=(
            Param("rate", RATE, doc="fraction of the inputs to drop, in [0, 1)"),
            Param("seed", Optional(Int(0)), None, "seed of the random dropout mask", keyword_only=True),
        ),
        infer=_same_shape,
    )
)
