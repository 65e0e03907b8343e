"""Convolution layers, written once per kind and instantiated for each rank.

* ``Conv1D/2D/3D``: filters, kernel_size, strides, padding, dilation_rate, groups.
* ``Conv1D/2D/3DTranspose``: the transposed (fractionally strided) convolutions.
* ``DepthwiseConv1D/2D`` and ``SeparableConv1D/2D``.

Inputs are channels-last, batch excluded: ``(steps, channels)``, ``(height, width, channels)``
or ``(depth, height, width, channels)``. The channels must be known; unknown spatial sizes
give unknown output sizes. Output sizes use Keras's formulas (``conv_output_length`` and
``deconv_output_length``).
"""

from __future__ import annotations

from math import prod

from archdsl.ir import Dim, ParamCount, TensorType
from archdsl.layers.base import (
    ACTIVATION,
    KERNEL_OPTIONS,
    Choice,
    Ctx,
    Initializer,
    InputSpec,
    Int,
    IntTuple,
    LayerSpec,
    Optional,
    Param,
    RegularizerType,
    conv_output_length,
    deconv_output_length,
    register,
    shape_text,
)
from archdsl.values import format_value

SPATIAL_AXES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}
_KERNEL = {p.name: p for p in KERNEL_OPTIONS}


def _axes_text(rank: int) -> str:
    return "(" + ", ".join(SPATIAL_AXES[rank] + ("channels",)) + ")"


def _window_params(rank: int, *, causal: bool = False) -> tuple[Param, ...]:
    """kernel_size, strides and padding, as every convolution has them."""
    paddings = ("valid", "same", "causal") if causal else ("valid", "same")
    return (
        Param("kernel_size", IntTuple(rank), doc="size of the convolution window"),
        Param("strides", IntTuple(rank), (1,) * rank, "step of the window along each spatial axis"),
        Param(
            "padding",
            Choice(*paddings),
            "valid",
            '"valid" (no padding) or "same" (output size = ceil(input / strides))'
            + ('; "causal" pads only the start' if causal else ""),
        ),
    )


def _dilation(rank: int) -> Param:
    return Param("dilation_rate", IntTuple(rank), (1,) * rank, "spacing between the window's taps")


def _regularizer(name: str, what: str) -> Param:
    return Param(name, RegularizerType(), None, f"a penalty on the {what} added to the loss", keyword_only=True)


def _initializer(name: str, what: str, default: str = "glorot_uniform") -> Param:
    return Param(name, Initializer(), default, f"how the {what} is initialised", keyword_only=True)


# --- shared rules ---------------------------------------------------------------------------


def _channels(ctx: Ctx) -> int:
    channels = ctx.input.shape[-1]
    if not isinstance(channels, int):
        ctx.fail(
            f"{ctx.spec.name} needs a known number of channels (the last axis), got input shape {shape_text(ctx.input)}",
            hint="inputs are channels-last; give the last axis a fixed size",
        )
    return channels


def _no_strided_dilation(ctx: Ctx) -> None:
    strides, dilation = ctx["strides"], ctx["dilation_rate"]
    if max(strides) > 1 and max(dilation) > 1:
        ctx.fail(
            f"{ctx.spec.name}: strides {format_value(strides)} and dilation_rate {format_value(dilation)} "
            "cannot both be greater than 1",
            hint="Keras does not support strided dilated convolutions; use strides=1 with the dilation "
            "and downsample with a separate layer",
            arg="dilation_rate",
        )


def _spatial(ctx: Ctx) -> tuple[Dim, ...]:
    return tuple(
        conv_output_length(length, k, s, ctx["padding"], d)
        for length, k, s, d in zip(
            ctx.input.shape[:-1], ctx["kernel_size"], ctx["strides"], ctx["dilation_rate"], strict=True
        )
    )


def _output(ctx: Ctx, spatial: tuple[Dim, ...], channels: int) -> TensorType:
    return TensorType(spatial + (channels,))


def _bias(ctx: Ctx, size: int) -> int:
    return size if ctx["use_bias"] else 0


# --- Conv1D / Conv2D / Conv3D --------------------------------------------------------------


def _conv_shape(ctx: Ctx) -> TensorType:
    _no_strided_dilation(ctx)
    channels = _channels(ctx)
    filters, groups = ctx["filters"], ctx["groups"]
    if filters % groups:
        ctx.fail(
            f"{ctx.spec.name}: filters={filters} is not divisible by groups={groups}",
            hint="each group produces filters / groups output channels",
            arg="groups",
        )
    if channels % groups:
        ctx.fail(
            f"{ctx.spec.name}: the input's {channels} channels are not divisible by groups={groups}; "
            f"input shape {shape_text(ctx.input)}",
            hint="each group reads channels / groups input channels",
            arg="groups",
        )
    return _output(ctx, _spatial(ctx), filters)


def _conv_count(ctx: Ctx) -> ParamCount:
    channels, filters = ctx.input.shape[-1], ctx["filters"]
    assert isinstance(channels, int)
    kernel = prod(ctx["kernel_size"]) * (channels // ctx["groups"]) * filters
    return ParamCount(kernel + _bias(ctx, filters))


def _conv(rank: int) -> LayerSpec:
    return LayerSpec(
        name=f"Conv{rank}D",
        family="convolution",
        doc=f"{rank}D convolution over {', '.join(SPATIAL_AXES[rank])}: `filters` output channels, "
        "each a kernel_size window over the input channels (split into `groups`), plus a bias.",
        params=(Param("filters", Int(), doc="number of output channels"),)
        + _window_params(rank, causal=rank == 1)
        + (
            _dilation(rank),
            Param("groups", Int(), 1, "split the channels into this many independent groups"),
            ACTIVATION,
        )
        + KERNEL_OPTIONS,
        infer=_conv_shape,
        count=_conv_count,
        input_spec=InputSpec(rank=rank + 1, axes=_axes_text(rank)),
    )


CONV_1D = register(_conv(1))
CONV_2D = register(_conv(2))
CONV_3D = register(_conv(3))


# --- Conv1DTranspose / Conv2DTranspose / Conv3DTranspose -----------------------------------


def _transpose_shape(ctx: Ctx) -> TensorType:
    strides, output_padding = ctx["strides"], ctx["output_padding"]
    if output_padding is not None and any(p >= s for p, s in zip(output_padding, strides, strict=True)):
        ctx.fail(
            f"{ctx.spec.name}: output_padding {format_value(output_padding)} must be less than strides "
            f"{format_value(strides)} along every axis",
            hint="output_padding only picks among the output sizes a stride allows",
            arg="output_padding",
        )
    _no_strided_dilation(ctx)
    _channels(ctx)
    _warn_even_same_transpose(ctx)
    pads = output_padding if output_padding is not None else (None,) * len(strides)
    spatial = tuple(
        deconv_output_length(length, k, s, ctx["padding"], p, d)
        for length, k, s, p, d in zip(
            ctx.input.shape[:-1], ctx["kernel_size"], strides, pads, ctx["dilation_rate"], strict=True
        )
    )
    return _output(ctx, spatial, ctx["filters"])


def _warn_even_same_transpose(ctx: Ctx) -> None:
    """Keras builds padding="same" with output_padding 0 along an axis whose dilated kernel
    (dilation * (kernel - 1) + 1) is even, but TensorFlow aborts when the layer runs (Keras
    3.15, TensorFlow 2.21; tests/test_layers_b.py checks this against TensorFlow)."""
    output_padding = ctx["output_padding"]
    if ctx["padding"] != "same" or output_padding is None:
        return
    axes = zip(ctx["kernel_size"], ctx["dilation_rate"], output_padding, strict=True)
    if any(p == 0 and (d * (k - 1) + 1) % 2 == 0 for k, d, p in axes):
        ctx.warn(
            f'{ctx.spec.name}: padding="same" with output_padding 0 and an even kernel size: Keras builds '
            "this layer, but the TensorFlow backend fails when it runs",
            hint="leave output_padding out (Keras then infers it), or use an odd kernel_size",
        )


def _transpose_count(ctx: Ctx) -> ParamCount:
    channels, filters = ctx.input.shape[-1], ctx["filters"]
    assert isinstance(channels, int)
    return ParamCount(prod(ctx["kernel_size"]) * channels * filters + _bias(ctx, filters))


def _conv_transpose(rank: int) -> LayerSpec:
    return LayerSpec(
        name=f"Conv{rank}DTranspose",
        family="convolution",
        doc=f"{rank}D transposed convolution (learned upsampling): the output is about strides times "
        "larger than the input along each spatial axis.",
        params=(Param("filters", Int(), doc="number of output channels"),)
        + _window_params(rank)
        + (
            Param(
                "output_padding",
                Optional(IntTuple(rank, minimum=0)),
                None,
                "extra size added at the end of each spatial axis (less than strides); None infers it",
            ),
            _dilation(rank),
            ACTIVATION,
        )
        + KERNEL_OPTIONS,
        infer=_transpose_shape,
        count=_transpose_count,
        input_spec=InputSpec(rank=rank + 1, axes=_axes_text(rank)),
    )


CONV_1D_TRANSPOSE = register(_conv_transpose(1))
CONV_2D_TRANSPOSE = register(_conv_transpose(2))
CONV_3D_TRANSPOSE = register(_conv_transpose(3))


# --- DepthwiseConv1D/2D and SeparableConv1D/2D ----------------------------------------------
# Keras accepts strides > 1 together with dilation_rate > 1 for these two kinds.


def _depthwise_shape(ctx: Ctx) -> TensorType:
    return _output(ctx, _spatial(ctx), _channels(ctx) * ctx["depth_multiplier"])


def _depthwise_count(ctx: Ctx) -> ParamCount:
    channels = ctx.input.shape[-1]
    assert isinstance(channels, int)
    out = channels * ctx["depth_multiplier"]
    return ParamCount(prod(ctx["kernel_size"]) * out + _bias(ctx, out))


def _separable_shape(ctx: Ctx) -> TensorType:
    _channels(ctx)
    return _output(ctx, _spatial(ctx), ctx["filters"])


def _separable_count(ctx: Ctx) -> ParamCount:
    channels, filters = ctx.input.shape[-1], ctx["filters"]
    assert isinstance(channels, int)
    middle = channels * ctx["depth_multiplier"]
    return ParamCount(prod(ctx["kernel_size"]) * middle + middle * filters + _bias(ctx, filters))


_DEPTH_MULTIPLIER = Param("depth_multiplier", Int(), 1, "output channels per input channel of the depthwise step")


def _depthwise(rank: int) -> LayerSpec:
    return LayerSpec(
        name=f"DepthwiseConv{rank}D",
        family="convolution",
        doc=f"{rank}D depthwise convolution: each input channel is convolved with its own "
        "depth_multiplier kernels; output channels = channels * depth_multiplier.",
        params=_window_params(rank)
        + (_DEPTH_MULTIPLIER, _dilation(rank), ACTIVATION, _KERNEL["use_bias"])
        + (_initializer("depthwise_initializer", "depthwise kernel"), _KERNEL["bias_initializer"])
        + (_regularizer("depthwise_regularizer", "depthwise kernel"), _KERNEL["bias_regularizer"]),
        infer=_depthwise_shape,
        count=_depthwise_count,
        input_spec=InputSpec(rank=rank + 1, axes=_axes_text(rank)),
    )


def _separable(rank: int) -> LayerSpec:
    return LayerSpec(
        name=f"SeparableConv{rank}D",
        family="convolution",
        doc=f"{rank}D depthwise separable convolution: a depthwise convolution (depth_multiplier kernels "
        "per channel) followed by a 1x1 pointwise convolution to `filters` channels.",
        params=(Param("filters", Int(), doc="number of output channels"),)
        + _window_params(rank)
        + (_dilation(rank), _DEPTH_MULTIPLIER, ACTIVATION, _KERNEL["use_bias"])
        + (_initializer("depthwise_initializer", "depthwise kernel"),)
        + (_initializer("pointwise_initializer", "pointwise kernel"), _KERNEL["bias_initializer"])
        + (_regularizer("depthwise_regularizer", "depthwise kernel"),)
        + (_regularizer("pointwise_regularizer", "pointwise kernel"), _KERNEL["bias_regularizer"]),
        infer=_separable_shape,
        count=_separable_count,
        input_spec=InputSpec(rank=rank + 1, axes=_axes_text(rank)),
    )


DEPTHWISE_CONV_1D = register(_depthwise(1))
DEPTHWISE_CONV_2D = register(_depthwise(2))
SEPARABLE_CONV_1D = register(_separable(1))
SEPARABLE_CONV_2D = register(_separable(2))
