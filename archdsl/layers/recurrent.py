"""Recurrent layers: SimpleRNN, LSTM and GRU.

The three share one record factory: they differ only in the number of gate blocks in their
weights (1, 4, 3), the states they return (LSTM returns ``h`` and ``c``, the others ``h``)
and a few options. Input is ``(time, features)``; the time axis may be a size, None or a
named dimension and is kept as written in ``return_sequences`` outputs.

Counts follow Keras: ``gates * (features * units + units * units)`` weights plus one bias
per gate block (two for GRU with ``reset_after=True``). PyTorch's ``nn.RNN``/``nn.LSTM``/
``nn.GRU`` always keep two bias vectors (``b_ih`` and ``b_hh``), recorded in
``ParamCount.torch_trainable``.
"""

from __future__ import annotations

from archdsl.ir import ParamCount, TensorType
from archdsl.layers.base import (
    RATE,
    Activation,
    Bool,
    Ctx,
    Initializer,
    InputSpec,
    Int,
    LayerSpec,
    Param,
    RegularizerType,
    register,
    shape_text,
)

RECURRENT_LAYERS = ("SimpleRNN", "LSTM", "GRU")


def rnn_state_count(name: str) -> int:
    """How many state tensors a recurrent layer returns with ``return_state=True``."""
    return 2 if name == "LSTM" else 1


def _shape_rule(ctx: Ctx) -> tuple[TensorType, ...]:
    name = ctx.spec.name
    time, features = ctx.input.shape
    if not isinstance(features, int):
        ctx.fail(
            f"{name} needs a known number of features (the last axis), got {shape_text(ctx.input)}",
            hint="give the input a fixed size on its last axis, e.g. (T, 16)",
        )
    units = ctx["units"]
    output = TensorType((time, units) if ctx["return_sequences"] else (units,))
    if not ctx["return_state"]:
        return (output,)
    return (output,) + (TensorType((units,)),) * rnn_state_count(name)


def _make_count(gates: int):
    def count(ctx: Ctx) -> ParamCount:
        features = ctx.input.shape[-1]
        units = ctx["units"]
        weights = gates * (features * units + units * units)
        if not ctx["use_bias"]:
            return ParamCount(weights, torch_trainable=weights)
        keras_biases = 2 if ctx.args.get("reset_after", False) else 1
        return ParamCount(weights + keras_biases * gates * units, torch_trainable=weights + 2 * gates * units)

    return count


def _recurrent_spec(name: str, gates: int, doc: str, gated: bool, extra: tuple[Param, ...] = ()) -> LayerSpec:
    """One record for a recurrent layer; ``gated`` layers have a ``recurrent_activation``."""
    params = (
        Param("units", Int(), doc="size of the hidden state (and of the output features)"),
        Param("activation", Activation(), "tanh", "activation of the candidate state / output"),
    )
    if gated:
        params += (Param("recurrent_activation", Activation(), "sigmoid", "activation of the gates"),)
    params += (
        Param("use_bias", Bool(), True, "whether the layer has bias vectors", keyword_only=True),
        Param(
            "kernel_initializer", Initializer(), "glorot_uniform", "initialiser of the input kernel", keyword_only=True
        ),
        Param(
            "recurrent_initializer",
            Initializer(),
            "orthogonal",
            "initialiser of the recurrent kernel",
            keyword_only=True,
        ),
        Param("bias_initializer", Initializer(vector=True), "zeros", "initialiser of the bias", keyword_only=True),
    )
    params += tuple(p for p in extra if p.name == "unit_forget_bias")
    params += (
        Param("kernel_regularizer", RegularizerType(), None, "penalty on the input kernel", keyword_only=True),
        Param("recurrent_regularizer", RegularizerType(), None, "penalty on the recurrent kernel", keyword_only=True),
        Param("bias_regularizer", RegularizerType(), None, "penalty on the bias", keyword_only=True),
        Param(
            "dropout", RATE, 0.0, "fraction of the input units dropped at each step while training", keyword_only=True
        ),
        Param(
            "recurrent_dropout",
            RATE,
            0.0,
            "fraction of the recurrent units dropped while training (no PyTorch equivalent)",
            keyword_only=True,
        ),
        Param("return_sequences", Bool(), False, "return the output at every step, (time, units)", keyword_only=True),
        Param("return_state", Bool(), False, "also return the final state(s), each (units,)", keyword_only=True),
        Param("go_backwards", Bool(), False, "process the sequence in reverse", keyword_only=True),
    )
    params += tuple(p for p in extra if p.name != "unit_forget_bias")
    return register(
        LayerSpec(
            name=name,
            family="recurrent",
            doc=doc,
            params=params,
            infer=_shape_rule,
            count=_make_count(gates),
            input_spec=InputSpec(rank=2, axes="(time, features)"),
        )
    )


SIMPLE_RNN = _recurrent_spec(
    "SimpleRNN",
    1,
    "Fully connected recurrent layer: h_t = activation(x_t @ W + h_(t-1) @ U + b). "
    "Outputs (units,), or (time, units) with return_sequences; return_state adds the final h. "
    "PyTorch's nn.RNN has a second bias (+units parameters) and supports only tanh and relu.",
    gated=False,
)

LSTM = _recurrent_spec(
    "LSTM",
    4,
    "Long short-term memory layer (input, forget, cell and output gates). "
    "Outputs (units,), or (time, units) with return_sequences; return_state adds the final h and c. "
    "PyTorch's nn.LSTM has a second bias (+4*units parameters).",
    gated=True,
    extra=(
        Param(
            "unit_forget_bias",
            Bool(),
            True,
            "add 1 to the forget-gate bias at initialisation",
            keyword_only=True,
        ),
    ),
)

GRU = _recurrent_spec(
    "GRU",
    3,
    "Gated recurrent unit layer (update and reset gates). "
    "Outputs (units,), or (time, units) with return_sequences; return_state adds the final h. "
    "With reset_after=True (the default) the counts equal PyTorch's nn.GRU; reset_after=False "
    "has one bias per gate (3*units fewer weights) and no exact PyTorch equivalent.",
    gated=True,
    extra=(
        Param(
            "reset_after",
            Bool(),
            True,
            "apply the reset gate after the recurrent matrix product (two biases, as in PyTorch)",
            keyword_only=True,
        ),
    ),
)
