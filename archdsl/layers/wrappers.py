"""Wrappers: layers that take another layer as their argument.

``TimeDistributed(layer)`` applies ``layer`` to every step of the time axis (the first
axis), with shared weights; ``Bidirectional(rnn)`` runs a recurrent layer forwards and a
copy of it backwards and merges their outputs. Both bind the inner layer through
``ctx.infer_inner`` and keep it in ``ctx.inner`` so the IR holds the wrapped layer.
"""

from __future__ import annotations

from archdsl.ir import CallValue, ParamCount, TensorType
from archdsl.layers.base import (
    Choice,
    Ctx,
    InputSpec,
    LayerArg,
    LayerSpec,
    Optional,
    Param,
    ShapeError,
    register,
    shape_text,
)
from archdsl.layers.recurrent import RECURRENT_LAYERS, rnn_state_count


def _infer_inner(ctx: Ctx, step: TensorType):
    """Bind and infer the wrapped layer; its shape errors are reported as this wrapper's."""
    call: CallValue = ctx["layer"]
    try:
        return ctx.infer_inner(call, [step])
    except ShapeError as exc:
        ctx.fail(f"{ctx.spec.name}({call}): {exc.message}", hint=exc.hint, arg="layer")


# --- TimeDistributed ---------------------------------------------------------------------


def _time_distributed_shape(ctx: Ctx) -> TensorType:
    time = ctx.input.shape[0]
    step = TensorType(ctx.input.shape[1:], ctx.input.dtype)
    inner = _infer_inner(ctx, step)
    if len(inner.outputs) != 1:
        ctx.fail(
            f"TimeDistributed needs a layer with one output, but {ctx['layer']} gives {len(inner.outputs)}: "
            + ", ".join(shape_text(t) for t in inner.outputs),
            hint="drop return_state from the wrapped layer",
            arg="layer",
        )
    ctx.inner = inner
    out = inner.outputs[0]
    return TensorType((time,) + out.shape, out.dtype)


def _inner_count(ctx: Ctx) -> ParamCount:
    return ctx.inner.params


TIME_DISTRIBUTED = register(
    LayerSpec(
        name="TimeDistributed",
        family="wrappers",
        doc="Applies a layer to every step of the first (time) axis with shared weights: "
        "input (time, ...) gives (time, ...inner output). Weights are the inner layer's.",
        params=(Param("layer", LayerArg(), doc="the layer applied at each time step, e.g. Conv2D(32, 3)"),),
        infer=_time_distributed_shape,
        count=_inner_count,
        input_spec=InputSpec(min_rank=2, axes="(time, ...)", dtype="any"),
        wrapper=True,
    )
)


# --- Bidirectional -----------------------------------------------------------------------


def _bidirectional_shape(ctx: Ctx) -> tuple[TensorType, ...]:
    call: CallValue = ctx["layer"]
    if call.name not in RECURRENT_LAYERS:
        ctx.fail(
            f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM or GRU), got {call}",
            hint=f"to apply {call} at every time step use TimeDistributed({call})",
            arg="layer",
        )
    inner = _infer_inner(ctx, ctx.input)
    if inner.args["go_backwards"]:
        # Keras builds the backward copy with go_backwards=True and raises when both copies agree.
        ctx.fail(
            f"Bidirectional runs a reversed copy of its layer itself; the wrapped {call} cannot have go_backwards=True",
            hint="drop go_backwards: Bidirectional already processes the sequence in both directions",
            arg="layer",
        )
    ctx.inner = inner
    n_states = rnn_state_count(call.name) if inner.args["return_state"] else 0
    output = inner.outputs[0]
    states = inner.outputs[1 : 1 + n_states]
    mode = ctx["merge_mode"]
    if mode is None:
        merged: tuple[TensorType, ...] = (output, output)
    elif mode == "concat":
        last = output.shape[-1]
        merged = (TensorType(output.shape[:-1] + (2 * last,), output.dtype),)
    else:
        merged = (output,)
    return merged + states + states


def _bidirectional_count(ctx: Ctx) -> ParamCount:
    inner: ParamCount = ctx.inner.params
    return ParamCount(
        2 * inner.trainable,
        2 * inner.non_trainable,
        2 * inner.torch_parameters,
        2 * inner.buffers,
    )


BIDIRECTIONAL = register(
    LayerSpec(
        name="Bidirectional",
        family="wrappers",
        doc="Runs a recurrent layer forwards and a copy backwards over the time axis and merges "
        'the two outputs: merge_mode "concat" doubles the last axis, "sum", "mul" and "ave" keep '
        "it, None returns both outputs (forward, backward). With return_state on the inner layer "
        "the forward states then the backward states follow. Weights: twice the inner layer's. "
        "The inner layer may not set go_backwards=True (Keras refuses it).",
        params=(
            Param("layer", LayerArg(RECURRENT_LAYERS), doc="the recurrent layer, e.g. LSTM(64)"),
            Param(
                "merge_mode",
                Optional(Choice("concat", "sum", "mul", "ave")),
                "concat",
                "how the forward and backward outputs are combined; None returns both",
            ),
        ),
        infer=_bidirectional_shape,
        count=_bidirectional_count,
        input_spec=InputSpec(rank=2, axes="(time, features)"),
        wrapper=True,
    )
)
