"""Recurrent, wrapper, merge, attention and generative layers, checked against Keras 3 and PyTorch.

Every row of ``CASES`` is inferred by archdsl and built in Keras: all output shapes and the
trainable / non-trainable counts must agree. Recurrent rows (and Bidirectional) are also
built with ``torch.nn.RNN/LSTM/GRU`` and compared with ``ParamCount.torch_parameters``.
``ERRORS`` pins the exact text of the messages users see.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from archdsl.ir import CallValue, TensorType
from archdsl.layers.apply import Applied, BindError, apply_call, layer
from archdsl.layers.base import CATALOGUE, ShapeError


def C(name: str, *args: Any, **kwargs: Any) -> CallValue:
    """An inner layer or regularizer written as a value, e.g. ``C("LSTM", 64, return_sequences=True)``."""
    return CallValue(name, args, tuple(kwargs.items()))


def case(name: str, *inputs: Any, args: tuple = (), id: str, **kwargs: Any):
    return pytest.param(name, inputs, args, kwargs, id=id)


RNNS = ("SimpleRNN", "LSTM", "GRU")

CASES = [
    # SimpleRNN
    case("SimpleRNN", (10, 8), args=(16,), id="simplernn"),
    case("SimpleRNN", (None, 8), args=(16,), return_sequences=True, id="simplernn-seq"),
    case("SimpleRNN", ("T", 8), args=(16,), return_state=True, id="simplernn-state"),
    case(
        "SimpleRNN",
        (7, 3),
        args=(5,),
        return_sequences=True,
        return_state=True,
        use_bias=False,
        id="simplernn-seq-state-nobias",
    ),
    case("SimpleRNN", (12, 4), args=(6, "relu"), go_backwards=True, id="simplernn-relu-backwards"),
    # LSTM
    case("LSTM", (10, 8), args=(32,), id="lstm"),
    case("LSTM", (None, 8), args=(32,), return_sequences=True, id="lstm-seq"),
    case("LSTM", (20, 8), args=(16,), return_state=True, id="lstm-state"),
    case("LSTM", ("T", 8), args=(16,), return_sequences=True, return_state=True, id="lstm-seq-state"),
    case("LSTM", (60, 1), args=(50,), use_bias=False, id="lstm-nobias"),
    case("LSTM", (10, 8), args=(8,), trainable=False, id="lstm-frozen"),
    case(
        "LSTM",
        (10, 8),
        args=(12,),
        dropout=0.2,
        recurrent_dropout=0.1,
        unit_forget_bias=False,
        kernel_regularizer=C("l2", 0.01),
        recurrent_regularizer=C("l1_l2", l1=0.01, l2=0.01),
        id="lstm-options",
    ),
    # GRU
    case("GRU", (10, 8), args=(16,), id="gru"),
    case("GRU", (10, 8), args=(16,), reset_after=False, id="gru-reset-before"),
    case("GRU", (10, 8), args=(16,), reset_after=False, use_bias=False, id="gru-reset-before-nobias"),
    case("GRU", (None, 8), args=(16,), use_bias=False, id="gru-nobias"),
    case("GRU", ("T", 5), args=(9,), return_sequences=True, return_state=True, id="gru-seq-state"),
    case("GRU", (15, 5), args=(9,), return_state=True, go_backwards=True, id="gru-state-backwards"),
    case("GRU", (100, 64), args=(128,), dropout=0.2, recurrent_dropout=0.2, id="gru-reference"),
    # Bidirectional, every merge mode, with and without states
    case("Bidirectional", (10, 8), args=(C("LSTM", 16),), id="bi-lstm-concat"),
    case(
        "Bidirectional", (10, 8), args=(C("LSTM", 16, return_sequences=True),), merge_mode="sum", id="bi-lstm-seq-sum"
    ),
    case("Bidirectional", (None, 8), args=(C("GRU", 6),), merge_mode="mul", id="bi-gru-mul"),
    case(
        "Bidirectional",
        ("T", 8),
        args=(C("SimpleRNN", 5, return_sequences=True),),
        merge_mode="ave",
        id="bi-rnn-seq-ave",
    ),
    case(
        "Bidirectional", (10, 8), args=(C("LSTM", 16, return_sequences=True),), merge_mode=None, id="bi-lstm-seq-none"
    ),
    case("Bidirectional", (10, 8), args=(C("LSTM", 16, return_state=True),), id="bi-lstm-state-concat"),
    case(
        "Bidirectional",
        (10, 8),
        args=(C("GRU", 7, return_sequences=True, return_state=True),),
        merge_mode=None,
        id="bi-gru-seq-state-none",
    ),
    case(
        "Bidirectional", (10, 8), args=(C("SimpleRNN", 4, return_state=True),), merge_mode="sum", id="bi-rnn-state-sum"
    ),
    case(
        "Bidirectional",
        (10, 8),
        args=(C("LSTM", 4, return_sequences=True, return_state=True),),
        merge_mode="ave",
        id="bi-lstm-seq-state-ave",
    ),
    case("Bidirectional", (10, 8), args=(C("GRU", 16, reset_after=False),), id="bi-gru-reset-before"),
    case("Bidirectional", (10, 8), args=(C("LSTM", 16, use_bias=False),), merge_mode="concat", id="bi-lstm-nobias"),
    case("Bidirectional", (10, 8), args=(C("LSTM", 8),), trainable=False, id="bi-lstm-frozen"),
    # TimeDistributed
    case("TimeDistributed", (10, 8), args=(C("Dense", 4),), id="td-dense"),
    case("TimeDistributed", ("T", 6, 8), args=(C("Dense", 4),), id="td-dense-rank3"),
    case("TimeDistributed", (5, 28, 28, 1), args=(C("Conv2D", 32, (3, 3), activation="relu"),), id="td-conv2d"),
    case("TimeDistributed", (5, 26, 26, 32), args=(C("MaxPooling2D", (2, 2)),), id="td-maxpool"),
    case("TimeDistributed", (5, 4, 4, 8), args=(C("Flatten"),), id="td-flatten"),
    case("TimeDistributed", (None, 16, 16, 3), args=(C("Conv2D", 8, 3, padding="same"),), id="td-conv2d-same"),
    case("TimeDistributed", (4, 10, 6), args=(C("LSTM", 8),), id="td-lstm"),
    case("TimeDistributed", (3, 10, 6), args=(C("Bidirectional", C("GRU", 4)),), id="td-bidirectional"),
    # element-wise merges
    case("Add", (8,), (8,), id="add"),
    case("Add", (4, 5), (4, 5), (4, 5), id="add-3"),
    case("Add", ("T", 4), ("T", 4), id="add-named"),
    case("Subtract", (16,), (16,), id="subtract"),
    case("Multiply", (2, 3, 4), (2, 3, 4), (2, 3, 4), id="multiply-3"),
    case("Average", (10,), (10,), id="average"),
    case("Maximum", (6,), (6,), (6,), (6,), id="maximum-4"),
    case("Minimum", (5, 5), (5, 5), id="minimum"),
    # Concatenate
    case("Concatenate", (4,), (6,), id="concat"),
    case("Concatenate", (3, 5), (4, 5), axis=1, id="concat-axis1"),
    case("Concatenate", (8, 8, 3), (8, 8, 5), (8, 8, 1), id="concat-3-channels"),
    case("Concatenate", (None, 4), (3, 4), axis=-2, id="concat-unknown-axis"),
    case("Concatenate", ("T", 4), ("T", 6), axis=2, id="concat-named"),
    # Dot
    case("Dot", (8,), (8,), args=(1,), id="dot-vectors"),
    case("Dot", (5, 4), (6, 4), args=((2, 2),), id="dot-sequences"),
    case("Dot", (10,), (10,), args=(-1,), normalize=True, id="dot-cosine"),
    case("Dot", (4, 5), (4, 7), args=((1, 1),), id="dot-axis1"),
    # MultiHeadAttention
    case("MultiHeadAttention", (10, 32), (10, 32), args=(2, 16), id="mha-self"),
    case("MultiHeadAttention", (10, 32), (12, 16), args=(4, 8), id="mha-cross"),
    case("MultiHeadAttention", (10, 32), (12, 16), (12, 24), args=(4, 8), value_dim=6, id="mha-key-value-dim"),
    case("MultiHeadAttention", (10, 32), (10, 32), args=(2, 4), output_shape=10, id="mha-output-shape"),
    case(
        "MultiHeadAttention",
        (10, 32),
        (10, 32),
        args=(2, 4),
        use_bias=False,
        output_shape=(3, 5),
        id="mha-nobias-output-tuple",
    ),
    case("MultiHeadAttention", (None, 16), (None, 16), args=(2, 8), dropout=0.1, id="mha-unknown-length"),
    case("MultiHeadAttention", (4, 4, 16), (4, 4, 16), args=(2, 8), id="mha-rank3"),
    # Attention
    case("Attention", (10, 16), (12, 16), id="attention"),
    case("Attention", (10, 16), (12, 8), (12, 16), use_scale=True, id="attention-key-scale"),
    case("Attention", (None, 16), (None, 16), use_scale=True, score_mode="concat", id="attention-concat"),
    # Sampling
    case("Sampling", (8,), (8,), id="sampling"),
    case("Sampling", ("T", 4), ("T", 4), kl_weight=0.0, id="sampling-no-kl"),
]


def layer_names(value: Any) -> set[str]:
    """Layer names used by a call value (recursively), to skip rows whose layers are not catalogued."""
    if isinstance(value, CallValue):
        names = {value.name} if value.name not in ("l1", "l2", "l1_l2") else set()
        for v in value.args + tuple(v for _, v in value.kwargs):
            names |= layer_names(v)
        return names
    if isinstance(value, tuple):
        return set().union(*(layer_names(v) for v in value)) if value else set()
    return set()


def infer(name: str, inputs: tuple, args: tuple, kwargs: dict) -> Applied:
    missing = layer_names(CallValue(name, args, tuple(kwargs.items()))) - set(CATALOGUE)
    if missing:
        pytest.skip(f"not catalogued yet: {', '.join(sorted(missing))}")
    return layer(name, *inputs, args=args, **kwargs)


def keras_shape(shape: tuple) -> tuple:
    """A batch-free archdsl shape as Keras reports it: named sizes are None."""
    return tuple(d if isinstance(d, int) else None for d in shape)


# --- Keras -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def keras_sampling(keras: Any):
    """The VAE sampling layer as the Keras target defines it (Keras 3 has none built in)."""

    class Sampling(keras.layers.Layer):
        def __init__(self, kl_weight: float = 1.0, **kwargs: Any):
            super().__init__(**kwargs)
            self.kl_weight = kl_weight

        def call(self, inputs):
            z_mean, z_log_var = inputs
            if self.kl_weight:
                kl = -0.5 * keras.ops.sum(1 + z_log_var - keras.ops.square(z_mean) - keras.ops.exp(z_log_var), axis=-1)
                self.add_loss(self.kl_weight * keras.ops.mean(kl))
            eps = keras.random.normal(keras.ops.shape(z_mean))
            return z_mean + keras.ops.exp(0.5 * z_log_var) * eps

    return Sampling


def to_keras(keras: Any, value: Any) -> Any:
    if isinstance(value, CallValue):
        args = tuple(to_keras(keras, v) for v in value.args)
        kwargs = {k: to_keras(keras, v) for k, v in value.kwargs}
        if value.name in ("l1", "l2", "l1_l2"):
            return getattr(keras.regularizers, value.name)(*args, **kwargs)
        # Keras 3 wrappers ignore the trainable= keyword for the wrapped layer; assigning works.
        trainable = kwargs.pop("trainable", True)
        cls = keras_sampling(keras) if value.name == "Sampling" else getattr(keras.layers, value.name)
        built = cls(*args, **kwargs)
        built.trainable = trainable
        return built
    if isinstance(value, tuple):
        return tuple(to_keras(keras, v) for v in value)
    return value


def weight_sum(weights: list) -> int:
    total = 0
    for w in weights:
        size = 1
        for d in w.shape:
            size *= int(d)
        total += size
    return total


@pytest.mark.keras
@pytest.mark.parametrize("name, inputs, args, kwargs", CASES)
def test_matches_keras(keras, name, inputs, args, kwargs):
    applied = infer(name, inputs, args, kwargs)

    k_inputs = [keras.Input(shape=keras_shape(shape)) for shape in inputs]
    k_layer = to_keras(keras, CallValue(name, args, tuple(kwargs.items())))
    if name == "MultiHeadAttention":
        out = k_layer(*k_inputs)
    elif len(k_inputs) > 1:
        out = k_layer(k_inputs)
    else:
        out = k_layer(k_inputs[0])
    outputs = list(out) if isinstance(out, (list, tuple)) else [out]
    model = keras.Model(k_inputs, outputs)

    assert [tuple(o.shape[1:]) for o in model.outputs] == [keras_shape(t.shape) for t in applied.outputs]
    assert weight_sum(model.trainable_weights) == applied.params.trainable
    assert weight_sum(model.non_trainable_weights) == applied.params.non_trainable
    assert model.count_params() == applied.params.total


# --- PyTorch -----------------------------------------------------------------------------------

TORCH_CASES = [
    p
    for p in CASES
    if p.values[0] in RNNS + ("Bidirectional",)
    or (p.values[0] == "TimeDistributed" and p.values[2][0].name in RNNS + ("Bidirectional",))
]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def torch_rnn(torch: Any, applied: Applied, features: int, bidirectional: bool = False):
    """``nn.RNN/LSTM/GRU`` with the sizes archdsl bound for a recurrent layer."""
    cls = {"SimpleRNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[applied.spec.name]
    return cls(
        features, applied.args["units"], bias=applied.args["use_bias"], batch_first=True, bidirectional=bidirectional
    )


@pytest.mark.torch
@pytest.mark.parametrize("name, inputs, args, kwargs", TORCH_CASES)
def test_matches_torch(torch, name, inputs, args, kwargs):
    applied = infer(name, inputs, args, kwargs)
    shape = inputs[0]
    wrapped = applied
    if name == "TimeDistributed":
        wrapped = applied.inner
        shape = shape[1:]
    bidirectional = wrapped.spec.name == "Bidirectional"
    rnn = wrapped.inner if bidirectional else wrapped
    module = torch_rnn(torch, rnn, shape[-1], bidirectional)

    assert sum(p.numel() for p in module.parameters()) == applied.params.torch_parameters
    assert sum(b.numel() for b in module.buffers()) == applied.params.buffers

    # The sequence output's feature size: units, or 2 * units for a concatenating Bidirectional.
    steps = shape[0] if isinstance(shape[0], int) else 5
    sequence, _ = module(torch.zeros(2, steps, shape[-1]))
    units = rnn.args["units"]
    assert sequence.shape[-1] == (2 * units if bidirectional else units)
    if not bidirectional or wrapped.args["merge_mode"] == "concat":
        assert wrapped.outputs[0].shape[-1] == sequence.shape[-1]


# --- errors ------------------------------------------------------------------------------------

ERRORS = [
    pytest.param(
        "Add", ((8,), (16,)), (), {}, "Add needs inputs of the same shape, got (8,), (16,)", None, id="add-shapes"
    ),
    pytest.param(
        "Add",
        ((4, 5), (4, 5), (20,)),
        (),
        {},
        "Add needs inputs of the same shape, got (4, 5), (4, 5), (20,)",
        None,
        id="add-ranks",
    ),
    pytest.param(
        "Concatenate",
        ((4, 5), (3, 6)),
        (),
        {},
        "Concatenate along axis -1 needs the other axes to match, but axis 1 has sizes 4 and 3: (4, 5), (3, 6)",
        "axis",
        id="concat-mismatch",
    ),
    pytest.param(
        "Concatenate",
        ((8, 8, 3), (8, 4, 3), (8, 2, 3)),
        (),
        {"axis": 1},
        "Concatenate along axis 1 needs the other axes to match, but axis 2 has sizes 8 and 4 and 2: (8, 8, 3), (8, 4, 3), (8, 2, 3)",
        "axis",
        id="concat-mismatch-3",
    ),
    pytest.param(
        "Concatenate",
        ((4, 5), (4, 5)),
        (),
        {"axis": 3},
        "Concatenate: axis=3 is out of range for inputs of rank 2: (4, 5), (4, 5)",
        "axis",
        id="concat-axis-range",
    ),
    pytest.param(
        "Concatenate",
        ((4, 5), (4, 5)),
        (),
        {"axis": 0},
        "Concatenate: axis=0 is the batch axis; the input shapes (4, 5), (4, 5) exclude it",
        "axis",
        id="concat-batch-axis",
    ),
    pytest.param(
        "Concatenate",
        ((4, 5), (5,)),
        (),
        {},
        "Concatenate needs inputs of the same rank, got (4, 5), (5,)",
        None,
        id="concat-ranks",
    ),
    pytest.param(
        "LSTM",
        ((10, 8, 4),),
        (16,),
        {},
        "LSTM expects input of rank 2 (time, features), got rank 3 with shape (10, 8, 4)",
        None,
        id="lstm-rank3",
    ),
    pytest.param(
        "GRU",
        ((10, None),),
        (16,),
        {},
        "GRU needs a known number of features (the last axis), got (10, None)",
        None,
        id="gru-unknown-features",
    ),
    pytest.param(
        "Bidirectional",
        ((10, 8),),
        (C("Dense", 3),),
        {},
        "Bidirectional wraps a recurrent layer (SimpleRNN, LSTM or GRU), got Dense(3)",
        "layer",
        id="bidirectional-dense",
    ),
    pytest.param(
        "Bidirectional",
        ((10, 8),),
        (C("LSTM", 4, go_backwards=True),),
        {},
        "Bidirectional runs a reversed copy of its layer itself; the wrapped LSTM(4, go_backwards=True) cannot "
        "have go_backwards=True",
        "layer",
        id="bidirectional-go-backwards",
    ),
    pytest.param(
        "TimeDistributed",
        ((10,),),
        (C("Dense", 3),),
        {},
        "TimeDistributed expects input of rank 2 or more (time, ...), got rank 1 with shape (10,)",
        None,
        id="td-rank1",
    ),
    pytest.param(
        "TimeDistributed",
        ((10, 8),),
        (C("LSTM", 3),),
        {},
        "TimeDistributed(LSTM(3)): LSTM expects input of rank 2 (time, features), got rank 1 with shape (8,)",
        "layer",
        id="td-inner-error",
    ),
    pytest.param(
        "TimeDistributed",
        ((4, 10, 8),),
        (C("LSTM", 3, return_state=True),),
        {},
        "TimeDistributed needs a layer with one output, but LSTM(3, return_state=True) gives 3: (3,), (3,), (3,)",
        "layer",
        id="td-multiple-outputs",
    ),
    pytest.param(
        "Subtract",
        ((4,), (4,), (4,)),
        (),
        {},
        "Subtract takes 2 inputs, got 3: (4,), (4,), (4,)",
        None,
        id="subtract-3",
    ),
    pytest.param("Add", ((4,),), (), {}, "Add takes at least 2 inputs, got 1: (4,)", None, id="add-1"),
    pytest.param(
        "Dot",
        ((5, 4), (6, 3)),
        ((2, 2),),
        {},
        "Dot needs axis 2 of input 1 and axis 2 of input 2 to have the same size, got 4 and 3: (5, 4), (6, 3)",
        "axes",
        id="dot-mismatch",
    ),
    pytest.param(
        "Dot",
        ((5, 4), (6, 4)),
        ((2, 3),),
        {},
        "Dot: axis 3 in axes=(2, 3) is out of range for input 2 of rank 2: (5, 4), (6, 4)",
        "axes",
        id="dot-axis-range",
    ),
    pytest.param(
        "MultiHeadAttention",
        ((10, 16), (12, 16), (11, 16)),
        (2, 8),
        {},
        "MultiHeadAttention needs value and key to agree on every axis but the last, got value (12, 16) and key (11, 16)",
        None,
        id="mha-key-value",
    ),
    pytest.param(
        "Attention",
        ((10, 16), (12, 8)),
        (),
        {},
        "Attention needs query and key with the same features (last axis), got query (10, 16) and key (12, 8)",
        None,
        id="attention-features",
    ),
    pytest.param(
        "Sampling",
        ((8,), (4,)),
        (),
        {},
        "Sampling needs inputs of the same shape, got (8,), (4,)",
        None,
        id="sampling-shapes",
    ),
    pytest.param(
        "Bidirectional",
        ((10, 8),),
        (C("LSTM", 4),),
        {"merge_mode": "avg"},
        'Bidirectional: \'merge_mode\' must be one of "concat", "sum", "mul", "ave" or None, got a string ("avg")',
        None,
        id="bidirectional-merge-mode",
    ),
]


@pytest.mark.parametrize("name, inputs, args, kwargs, message, arg", ERRORS)
def test_error_messages(name, inputs, args, kwargs, message, arg):
    with pytest.raises((ShapeError, BindError)) as info:
        layer(name, *inputs, args=args, **kwargs)
    assert info.value.message == message
    if isinstance(info.value, ShapeError):
        assert info.value.arg == arg
        assert info.value.hint


def test_table_covers_every_layer_of_this_family():
    written = {"SimpleRNN", "LSTM", "GRU", "TimeDistributed", "Bidirectional", "Add", "Subtract", "Multiply"}
    written |= {"Average", "Maximum", "Minimum", "Concatenate", "Dot", "MultiHeadAttention", "Attention", "Sampling"}
    assert written <= set(CATALOGUE)
    assert written <= {p.values[0] for p in CASES}
    assert len(CASES) >= 50
    for spec in (CATALOGUE[n] for n in written):
        assert spec.doc and all(p.doc for p in spec.params)


def test_kept_types_and_inner_layer():
    """Named time axes survive; wrappers keep the bound inner layer; counts of a frozen wrapper."""
    seq = layer("LSTM", TensorType(("T", 8)), args=(16,), return_sequences=True)
    assert seq.outputs == (TensorType(("T", 16)),)
    td = layer("TimeDistributed", ("T", 8), args=(C("Dense", 4),))
    assert td.inner is not None and td.inner.spec.name == "Dense" and td.inner.args["units"] == 4
    assert td.outputs == (TensorType(("T", 4)),)
    bi = layer("Bidirectional", (10, 8), args=(C("GRU", 16, reset_after=False),), trainable=False)
    assert bi.inner.spec.name == "GRU"
    assert (bi.params.trainable, bi.params.non_trainable) == (0, 2 * 3 * (8 * 16 + 16 * 16 + 16))
    assert bi.params.torch_parameters == 2 * 3 * (8 * 16 + 16 * 16 + 2 * 16)
    assert layer("Add", ("T", 4), (5, 4)).outputs == (TensorType((None, 4)),)
    named = apply_call(CallValue("Concatenate", (-1,), (("name", "joined"),)), [TensorType((3, 4)), TensorType((3, 5))])
    assert named.args["name"] == "joined" and named.outputs == (TensorType((3, 9)),)


@pytest.mark.keras
def test_keras_wrapper_trainable_keyword_leaves_inner_trainable(keras):
    """Why generated Keras code must assign ``layer.trainable = False`` instead of passing it.

    ``Bidirectional(LSTM(8), trainable=False)`` reports no trainable weights itself, yet the
    model still trains all of the LSTMs' weights. If Keras changes this, the note can go.
    """
    x = keras.Input(shape=(10, 8))
    wrapped = keras.layers.Bidirectional(keras.layers.LSTM(8), trainable=False)
    model = keras.Model(x, wrapped(x))
    frozen = layer("Bidirectional", (10, 8), args=(C("LSTM", 8),), trainable=False).params
    assert wrapped.trainable_weights == []
    assert weight_sum(model.trainable_weights) == frozen.non_trainable == 1088


@pytest.mark.keras
@pytest.mark.parametrize("rnn", RNNS)
def test_keras_rejects_go_backwards_inside_bidirectional(keras, rnn):
    """Why archdsl rejects ``Bidirectional(LSTM(4, go_backwards=True))``: Keras raises when building it."""
    with pytest.raises(ValueError, match="go_backwards"):
        keras.layers.Bidirectional(getattr(keras.layers, rnn)(4, go_backwards=True))
    with pytest.raises(ShapeError, match="go_backwards=True"):
        layer("Bidirectional", (10, 8), args=(C(rnn, 4, go_backwards=True),))


@pytest.mark.torch
@pytest.mark.parametrize("rnn", RNNS)
def test_recurrent_counts_match_torch_for_any_size(torch, rnn):
    """Random sizes and options: archdsl's torch figure equals nn.RNN/LSTM/GRU's numel, both directions."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=30, deadline=None)
    @hypothesis.given(
        features=st.integers(1, 40),
        units=st.integers(1, 40),
        use_bias=st.booleans(),
        bidirectional=st.booleans(),
    )
    def check(features, units, use_bias, bidirectional):
        inner = C(rnn, units, use_bias=use_bias)
        applied = layer("Bidirectional", (7, features), args=(inner,)) if bidirectional else None
        applied = applied or layer(rnn, (7, features), args=(units,), use_bias=use_bias)
        rnn_applied = applied.inner if bidirectional else applied
        module = torch_rnn(torch, rnn_applied, features, bidirectional)
        assert sum(p.numel() for p in module.parameters()) == applied.params.torch_parameters

    check()
