"""Activation layers: Activation, ReLU, LeakyReLU, ELU and Softmax.

They have no weights and keep the input shape. A softmax over an axis of size 1 is
reported as a warning: its output is the constant 1.0 (0.0 for log_softmax).
"""

from __future__ import annotations

from typing import Any

from archdsl.ir import TensorType
from archdsl.layers.base import Activation as ActivationType
from archdsl.layers.base import (
    Ctx,
    Float,
    Int,
    LayerSpec,
    Optional,
    Param,
    register,
    resolve_axis,
    warn_trivial_softmax,
)


class _ActivationName(ActivationType):
    """An activation name; unlike the ``activation=`` option of other layers, None is not allowed."""

    description = 'an activation name such as "relu"'

    def convert(self, value: Any) -> str:
        if value is None:
            self.fail('write Activation("linear") for the identity')
        return super().convert(value)


def _same_shape(ctx: Ctx) -> TensorType:
    return TensorType(ctx.input.shape)


def _activation_shape(ctx: Ctx) -> TensorType:
    return TensorType(ctx.input.shape)


def _softmax_shape(ctx: Ctx) -> TensorType:
    axis = ctx["axis"]
    index = resolve_axis(ctx, axis)
    warn_trivial_softmax(ctx, "softmax", ctx.input.shape, index, axis)
    return TensorType(ctx.input.shape)


ACTIVATION_LAYER = register(
    LayerSpec(
        name="Activation",
        family="activation",
        doc='Applies a named activation function elementwise, e.g. Activation("relu"); "softmax" '
        'and "log_softmax" normalise over the last axis.',
        params=(Param("activation", _ActivationName(), doc="the activation's name"),),
        infer=_activation_shape,
    )
)

RELU = register(
    LayerSpec(
        name="ReLU",
        family="activation",
        doc="Rectified linear unit: x for x >= threshold, negative_slope * (x - threshold) below it, "
        "capped at max_value when given.",
        params=(
            Param("max_value", Optional(Float(0.0)), None, "upper bound of the output, or None for no bound"),
            Param("negative_slope", Float(0.0), 0.0, "slope below the threshold"),
            Param("threshold", Float(0.0), 0.0, "inputs below this are damped"),
        ),
        infer=_same_shape,
    )
)

LEAKY_RELU = register(
    LayerSpec(
        name="LeakyReLU",
        family="activation",
        doc="Leaky rectified linear unit: x for x >= 0, negative_slope * x below 0.",
        params=(Param("negative_slope", Float(0.0), 0.3, "slope for negative inputs"),),
        infer=_same_shape,
    )
)

ELU = register(
    LayerSpec(
        name="ELU",
        family="activation",
        doc="Exponential linear unit: x for x > 0, alpha * (exp(x) - 1) otherwise.",
        params=(Param("alpha", Float(), 1.0, "scale of the negative part"),),
        infer=_same_shape,
    )
)

SOFTMAX = register(
    LayerSpec(
        name="Softmax",
        family="activation",
        doc="Softmax over one axis: the entries along it become positive and sum to 1.",
        params=(Param("axis", Int(None), -1, "the axis to normalise; the batch is axis 0, -1 is the last axis"),),
        infer=_softmax_shape,
    )
)
