"""Pooling layers, written once and instantiated per kind (max, average) and rank (1D-3D).

* ``MaxPooling1D/2D/3D``, ``AveragePooling1D/2D/3D``: pool_size, strides (None means
  pool_size), padding "valid"/"same"; the channels pass through.
* ``GlobalMaxPooling1D/2D/3D``, ``GlobalAveragePooling1D/2D/3D``: reduce every spatial axis;
  ``keepdims=True`` keeps them with size 1.

No weights. Output sizes follow Keras's formula (``conv_output_length`` with no dilation).
"""

from __future__ import annotations

from archdsl.ir import TensorType
from archdsl.layers.base import (
    Bool,
    Choice,
    Ctx,
    InputSpec,
    IntTuple,
    LayerSpec,
    Optional,
    Param,
    conv_output_length,
    register,
)

SPATIAL_AXES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}
KINDS = {"Max": "maximum", "Average": "mean"}


def _axes_text(rank: int) -> str:
    return "(" + ", ".join(SPATIAL_AXES[rank] + ("channels",)) + ")"


def _pool_shape(ctx: Ctx) -> TensorType:
    pool = ctx["pool_size"]
    strides = ctx["strides"] if ctx["strides"] is not None else pool
    spatial = tuple(
        conv_output_length(length, p, s, ctx["padding"])
        for length, p, s in zip(ctx.input.shape[:-1], pool, strides, strict=True)
    )
    return TensorType(spatial + ctx.input.shape[-1:])


def _global_shape(ctx: Ctx) -> TensorType:
    spatial = (1,) * (ctx.input.rank - 1) if ctx["keepdims"] else ()
    return TensorType(spatial + ctx.input.shape[-1:])


def _pooling(kind: str, rank: int) -> LayerSpec:
    return LayerSpec(
        name=f"{kind}Pooling{rank}D",
        family="pooling",
        doc=f"{rank}D {kind.lower()} pooling: the {KINDS[kind]} of each pool_size window over "
        f"{', '.join(SPATIAL_AXES[rank])}, for each channel.",
        params=(
            Param("pool_size", IntTuple(rank), (2,) * rank, "size of the pooling window"),
            Param("strides", Optional(IntTuple(rank)), None, "step of the window; None means pool_size"),
            Param(
                "padding",
                Choice("valid", "same"),
                "valid",
                '"valid" (no padding) or "same" (output size = ceil(input / strides))',
            ),
        ),
        infer=_pool_shape,
        input_spec=InputSpec(rank=rank + 1, axes=_axes_text(rank)),
    )


def _global_pooling(kind: str, rank: int) -> LayerSpec:
    return LayerSpec(
        name=f"Global{kind}Pooling{rank}D",
        family="pooling",
        doc=f"The {KINDS[kind]} over all of {', '.join(SPATIAL_AXES[rank])} for each channel: "
        "(..., channels) -> (channels,).",
        params=(Param("keepdims", Bool(), False, "keep the reduced axes with size 1"),),
        infer=_global_shape,
        input_spec=InputSpec(rank=rank + 1, axes=_axes_text(rank)),
    )


POOLING = {
    spec.name: spec
    for kind in KINDS
    for rank in (1, 2, 3)
    for spec in (register(_pooling(kind, rank)), register(_global_pooling(kind, rank)))
}
