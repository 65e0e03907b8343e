"""Normalization layers: BatchNormalization and LayerNormalization.

Axes count the batch as axis 0, as in Keras (``axis=-1`` is the channels axis of a
channels-last tensor). The normalised axes must have known sizes.

BatchNormalization is where Keras and PyTorch count differently: Keras lists the moving
mean and variance as non-trainable weights; PyTorch keeps them as buffers, together with
``num_batches_tracked`` (one element), and its affine parameters come as a pair.
"""

from __future__ import annotations

from math import prod
from typing import Any

from archdsl.ir import ParamCount, TensorType
from archdsl.layers.base import (
    Bool,
    Ctx,
    Float,
    Initializer,
    InputSpec,
    Int,
    LayerSpec,
    Param,
    ParamType,
    RegularizerType,
    register,
    resolve_axis,
    shape_text,
)


class _Axes(ParamType):
    """One axis (kept as an int) or a tuple of distinct axes."""

    description = "an axis (an integer) or a tuple of axes"

    def convert(self, value: Any) -> int | tuple[int, ...]:
        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        if is_int(value):
            return value
        if isinstance(value, tuple) and value and all(is_int(v) for v in value):
            return value
        self.fail()


def _same_shape(ctx: Ctx) -> TensorType:
    return TensorType(ctx.input.shape)


def _normalised_sizes(ctx: Ctx) -> tuple[int, ...]:
    """The sizes of the normalised axes (each weight vector has their product as size)."""
    axis = ctx["axis"]
    axes = axis if isinstance(axis, tuple) else (axis,)
    indices = [resolve_axis(ctx, a) for a in axes]
    if len(set(indices)) != len(indices):
        ctx.fail(
            f"{ctx.spec.name}: axis {axis} names the same axis twice for input shape {shape_text(ctx.input)}",
            arg="axis",
        )
    sizes = []
    for a, i in zip(axes, indices, strict=True):
        size = ctx.input.shape[i]
        if not isinstance(size, int):
            ctx.fail(
                f"{ctx.spec.name} needs a known size along axis {a}, got input shape {shape_text(ctx.input)}",
                hint="the normalised axis holds one weight per entry, so its size must be fixed",
                arg="axis",
            )
        sizes.append(size)
    return tuple(sizes)


def _norm_shape(ctx: Ctx) -> TensorType:
    _normalised_sizes(ctx)
    return _same_shape(ctx)


def _batch_norm_count(ctx: Ctx) -> ParamCount:
    (channels,) = _normalised_sizes(ctx)
    affine = int(ctx["center"]) + int(ctx["scale"])
    return ParamCount(
        trainable=affine * channels,
        non_trainable=2 * channels,
        # torch.nn.BatchNorm*d(affine=True) always has both weight and bias
        torch_trainable=2 * channels if affine else 0,
        torch_buffers=2 * channels + 1,
    )


def _layer_norm_count(ctx: Ctx) -> ParamCount:
    size = prod(_normalised_sizes(ctx))
    keras = (int(ctx["center"]) + int(ctx["scale"])) * size
    # nn.LayerNorm can drop beta (bias=False) but not gamma: with scale=False the PyTorch
    # model holds gamma too, frozen at one.
    torch = 2 * size if ctx["center"] and not ctx["scale"] else keras
    return ParamCount(trainable=keras, torch_trainable=torch)


def _options() -> tuple[Param, ...]:
    return (
        Param("center", Bool(), True, "add a learned offset (beta)"),
        Param("scale", Bool(), True, "multiply by a learned scale (gamma)"),
        Param("beta_initializer", Initializer(vector=True), "zeros", "how beta is initialised", keyword_only=True),
        Param("gamma_initializer", Initializer(vector=True), "ones", "how gamma is initialised", keyword_only=True),
    )


_REGULARIZERS = (
    Param("beta_regularizer", RegularizerType(), None, "a penalty on beta added to the loss", keyword_only=True),
    Param("gamma_regularizer", RegularizerType(), None, "a penalty on gamma added to the loss", keyword_only=True),
)

BATCH_NORMALIZATION = register(
    LayerSpec(
        name="BatchNormalization",
        family="normalization",
        doc="Normalises each channel with the batch's mean and variance during training, and with moving "
        "averages of them at inference; then scales by gamma and shifts by beta. Keras counts gamma and beta "
        "as trainable and the moving mean and variance as non-trainable; PyTorch keeps the latter (and a "
        "batch counter) as buffers.",
        params=(
            Param("axis", Int(None), -1, "the channels axis; the batch is axis 0, -1 is the last axis"),
            Param("momentum", Float(0.0, 1.0), 0.99, "how slowly the moving averages follow the batches"),
            Param("epsilon", Float(0.0), 0.001, "added to the variance to avoid dividing by zero"),
        )
        + _options()
        + (
            Param(
                "moving_mean_initializer",
                Initializer(vector=True),
                "zeros",
                "how the moving mean starts",
                keyword_only=True,
            ),
            Param(
                "moving_variance_initializer",
                Initializer(vector=True),
                "ones",
                "how the moving variance starts",
                keyword_only=True,
            ),
        )
        + _REGULARIZERS,
        infer=_norm_shape,
        count=_batch_norm_count,
        input_spec=InputSpec(min_rank=1, axes="(..., channels)"),
    )
)

LAYER_NORMALIZATION = register(
    LayerSpec(
        name="LayerNormalization",
        family="normalization",
        doc="Normalises each example over the given axes (by default the last) to mean 0 and variance 1, "
        "then scales by gamma and shifts by beta, one of each per entry of those axes.",
        params=(
            Param("axis", _Axes(), -1, "the axis or axes to normalise; the batch is axis 0, -1 is the last axis"),
            Param("epsilon", Float(0.0), 0.001, "added to the variance to avoid dividing by zero"),
        )
        + _options()
        + _REGULARIZERS,
        infer=_norm_shape,
        count=_layer_norm_count,
        input_spec=InputSpec(min_rank=1, axes="(..., features)"),
    )
)
