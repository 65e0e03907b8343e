"""The PyTorch target, layer by layer: the generated torch model computes what Keras computes.

Each case is a tiny spec (usually one layer). It is compiled to both targets, both modules are
executed, the Keras model's weights are randomised (BatchNormalization gets non-trivial moving
statistics) and copied into the torch model with :mod:`archdsl.transfer`, and the same random
input (transposed to channels-first for torch) must give the same output in inference mode.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from archdsl.api import check_source  # noqa: E402
from archdsl.codegen import generate  # noqa: E402
from archdsl.ir import Program, TensorType  # noqa: E402
from archdsl.layers import CATALOGUE  # noqa: E402
from archdsl.targets.pyrender import snake_case  # noqa: E402
from archdsl.targets.torch import Unsupported, torch_order  # noqa: E402
from archdsl.transfer import keras_to_torch  # noqa: E402

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.keras, pytest.mark.torch]

RTOL, ATOL = 1e-4, 1e-5


# --- the harness ------------------------------------------------------------------------------


def program_of(text: str) -> Program:
    result = check_source(textwrap.dedent(text).strip() + "\n", "t.arch")
    errors = [d.message for d in result.reporter.sorted() if d.severity.value == "error"]
    assert result.program is not None and not errors, errors
    return result.program


def exec_source(source: str, name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(source, f"<{name}>", "exec"), namespace)
    return namespace


def randomise(keras_model: Any, rng: np.random.Generator) -> None:
    """Every Keras weight random: biases, gammas and BatchNorm statistics are not trivial."""
    for weight in keras_model.weights:
        shape = tuple(weight.shape)
        if "moving_variance" in weight.path:
            value = rng.uniform(0.5, 2.0, shape)
        elif "moving_mean" in weight.path:
            value = rng.normal(0.0, 0.5, shape)
        else:
            value = rng.normal(0.0, 0.4, shape)
        weight.assign(value.astype("float32"))


def to_torch_layout(array: np.ndarray, tt: TensorType) -> np.ndarray:
    return np.ascontiguousarray(array.transpose([0] + [1 + k for k in torch_order(tt)]))


def from_torch_layout(array: np.ndarray, tt: TensorType) -> np.ndarray:
    order = [0] + [1 + k for k in torch_order(tt)]
    return array.transpose(np.argsort(order))


def sample(tt: TensorType, time: int = 4) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else time for d in tt.shape)


def run_both(
    text: str, key: str, *, model: str = "M", batch: int = 2, seed: int = 0, keras_model: Any = None
) -> tuple[list, list]:
    """Compile, build both models, copy the weights, run the same data; Keras-layout outputs.

    ``keras_model`` replaces the Keras target's model by one built by hand.
    """
    program = program_of(text)
    ir = program.models[model]
    torch_source = generate(program, "torch")

    if keras_model is None:
        keras_source = generate(program, "keras")
        keras_model = exec_source(keras_source, "generated_keras")[f"build_{snake_case(model)}"]()
    torch_model = exec_source(torch_source, "generated_torch")[model]().eval()
    rng = np.random.default_rng(seed)
    randomise(keras_model, rng)
    keras_to_torch(ir, keras_model, torch_model)
    feeds = []
    for tid in ir.inputs:
        tt = ir.tensors[tid].type
        shape = (batch, *sample(tt))
        if tt.is_integer:
            bound = min([n.layer.args["input_dim"] for n in ir.nodes if n.layer.op == "Embedding"] or [5])
            feeds.append(rng.integers(0, bound, shape).astype(tt.dtype))
        else:
            feeds.append(rng.normal(0.0, 1.0, shape).astype("float32"))
    expected = keras_model(feeds if len(feeds) > 1 else feeds[0], training=False)
    expected = [np.asarray(e) for e in (expected if isinstance(expected, (list, tuple)) else [expected])]
    torch_inputs = []
    for tid, feed in zip(ir.inputs, feeds, strict=True):
        tt = ir.tensors[tid].type
        torch_inputs.append(torch.from_numpy(to_torch_layout(feed, tt)))
    with torch.no_grad():
        got = torch_model(*torch_inputs)
    got = list(got) if isinstance(got, (list, tuple)) else [got]
    out_types = [ir.tensors[t].type for t in ir.outputs]
    got = [from_torch_layout(g.numpy(), tt) for g, tt in zip(got, out_types, strict=True)]
    return expected, got


def assert_equivalent(text: str, key: str, **kwargs: Any) -> None:
    expected, got = run_both(text, key, **kwargs)
    assert len(expected) == len(got)
    for e, g in zip(expected, got, strict=True):
        assert e.shape == g.shape
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL)


@dataclass(frozen=True)
class Case:
    id: str
    text: str


def one(shape: str, layer: str, dtype: str = "") -> str:
    """A model applying ``layer`` to one input of ``shape``."""
    kind = f"{dtype} " if dtype else ""
    return f"model M {{\n    input x: {kind}{shape}\n    output x -> {layer}\n}}\n"


def many(shapes: list[str], layer: str) -> str:
    """A model applying ``layer`` to the tuple of its inputs."""
    names = [f"x{i}" for i in range(len(shapes))]
    inputs = "".join(f"    input {n}: {s}\n" for n, s in zip(names, shapes, strict=True))
    return f"model M {{\n{inputs}    output ({', '.join(names)}) -> {layer}\n}}\n"


def case(shape: str, layer: str, dtype: str = "", id: str | None = None) -> Any:
    return pytest.param(Case(id or f"{layer}@{shape}", one(shape, layer, dtype)), id=id or f"{layer}@{shape}")


def multi(shapes: list[str], layer: str, id: str | None = None) -> Any:
    name = id or f"{layer}@{'+'.join(shapes)}"
    return pytest.param(Case(name, many(shapes, layer)), id=name)


def spec(id: str, text: str) -> Any:
    return pytest.param(Case(id, textwrap.dedent(text)), id=id)


ACTIVATION_NAMES = [
    "linear", "relu", "relu6", "sigmoid", "hard_sigmoid", "tanh", "softmax", "log_softmax", "softplus",
    "softsign", "elu", "selu", "gelu", "swish", "silu", "mish", "leaky_relu", "exponential",
]  # fmt: skip

CASES = [
    # --- core and activations
    case("(6,)", 'Dense(4, activation="relu")'),
    case("(5, 6)", "Dense(3)"),
    case("(4, 5, 3)", 'Dense(4, activation="softmax")'),
    case("(2, 3, 4, 3)", "Dense(2, use_bias=False)"),
    case("(4, 4, 3)", "Dropout(0.5)"),
    *[case("(3, 4, 5)", f'Activation("{name}")') for name in ACTIVATION_NAMES],
    case("(7,)", 'Activation("softmax")'),
    case("(5, 6)", 'Activation("log_softmax")'),
    case("(4, 3, 3, 2)", 'Activation("softmax")'),
    case("(4, 5)", "ReLU()"),
    case("(4, 5)", "ReLU(max_value=0.5)"),
    case("(4, 5)", "ReLU(negative_slope=0.1)"),
    case("(4, 5)", "ReLU(threshold=0.3)"),
    case("(4, 5)", "ReLU(max_value=1.0, negative_slope=0.2, threshold=0.3)"),
    case("(4, 5)", "ReLU(max_value=6.0)"),
    case("(4, 5)", "LeakyReLU()"),
    case("(4, 5)", "LeakyReLU(0.05)"),
    case("(4, 5)", "ELU(alpha=0.5)"),
    case("(3, 4, 5)", "Softmax()"),
    case("(3, 4, 5)", "Softmax(axis=1)"),
    case("(3, 4, 5)", "Softmax(axis=2)"),
    case("(4, 5)", "Softmax(axis=1)"),
    # --- reshaping
    spec(
        "Flatten-then-Dense",
        """
        model M {
            input x: (3, 4, 5)
            output x -> Flatten() -> Dense(3)
        }
        """,
    ),
    case("(4, 5)", "Flatten()"),
    case("(2, 3, 4, 2)", "Flatten()"),
    case("(4, 4, 3)", "Reshape((12, 4))"),
    case("(48,)", "Reshape((4, 4, 3))"),
    case("(4, 4, 3)", "Reshape((2, -1, 3))"),
    case("(4, 6)", "Reshape((3, 8))"),
    case("(3, 4)", "Permute((2, 1))"),
    case("(2, 3, 4)", "Permute((3, 1, 2))"),
    case("(2, 3, 4)", "Permute((2, 3, 1))"),
    case("(2, 3, 4)", "Permute((2, 1, 3))"),
    case("(2, 3, 4, 5)", "Permute((4, 3, 1, 2))"),
    case("(5,)", "RepeatVector(3)"),
    case("(5, 3)", "UpSampling1D(3)"),
    case("(3, 4, 2)", "UpSampling2D((2, 3))"),
    case("(3, 4, 2)", 'UpSampling2D(2, interpolation="bilinear")'),
    case("(2, 3, 2, 2)", "UpSampling3D((2, 1, 3))"),
    case("(5, 3)", "ZeroPadding1D((1, 2))"),
    case("(3, 4, 2)", "ZeroPadding2D(((1, 0), (2, 1)))"),
    case("(2, 3, 2, 2)", "ZeroPadding3D(((1, 0), (0, 2), (1, 1)))"),
    case("(6, 3)", "Cropping1D((1, 2))"),
    case("(6, 3)", "Cropping1D((2, 0))"),
    case("(5, 6, 2)", "Cropping2D(((1, 0), (0, 2)))"),
    case("(4, 5, 6, 2)", "Cropping3D(((1, 0), (0, 2), (1, 1)))"),
    # --- convolution
    case("(7, 3)", "Conv1D(4, 3)"),
    case("(7, 3)", 'Conv1D(4, 4, padding="same")'),
    case("(7, 3)", 'Conv1D(4, 3, strides=2, padding="same")'),
    case("(8, 3)", 'Conv1D(4, 3, strides=2, padding="same", activation="tanh")'),
    case("(9, 3)", 'Conv1D(4, 3, padding="causal", dilation_rate=2)'),
    case("(9, 3)", 'Conv1D(4, 2, strides=2, padding="causal")'),
    case("(8, 4)", "Conv1D(6, 3, groups=2, use_bias=False)"),
    case("(7, 7, 2)", "Conv2D(3, 3)"),
    case("(7, 7, 2)", 'Conv2D(3, 3, strides=2, padding="same")'),
    case("(8, 8, 2)", 'Conv2D(3, 3, strides=2, padding="same")'),
    case("(9, 9, 2)", 'Conv2D(3, 5, strides=2, padding="same", activation="relu")'),
    case("(8, 7, 2)", 'Conv2D(3, (2, 4), padding="same")'),
    case("(7, 8, 2)", "Conv2D(3, 3, strides=(2, 1))"),
    case("(9, 9, 2)", 'Conv2D(3, 3, dilation_rate=2, padding="same")'),
    case("(6, 6, 4)", 'Conv2D(4, 3, groups=2, activation="softmax")'),
    case("(5, 6, 4, 2)", 'Conv3D(3, 3, strides=2, padding="same")'),
    case("(4, 5, 4, 2)", "Conv3D(3, (2, 3, 2))"),
    case("(5, 3)", "Conv1DTranspose(4, 3, strides=2)"),
    case("(7, 3)", 'Conv1DTranspose(4, 5, strides=2, padding="same")'),
    case("(5, 3)", "Conv1DTranspose(4, 3, strides=2, output_padding=1)"),
    case("(5, 3)", "Conv1DTranspose(4, 2, strides=3)"),
    case("(7, 7, 2)", 'Conv2DTranspose(3, 5, strides=2, padding="same")'),
    case("(4, 4, 2)", 'Conv2DTranspose(3, 4, strides=2, padding="same")'),
    case("(4, 5, 2)", "Conv2DTranspose(3, 3, strides=2)"),
    case("(4, 4, 2)", 'Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=(1, 0))'),
    case("(4, 4, 2)", 'Conv2DTranspose(3, 3, padding="same", dilation_rate=2, use_bias=False)'),
    case("(4, 4, 2)", 'Conv2DTranspose(3, 2, padding="same")'),
    case("(3, 4, 3, 2)", 'Conv3DTranspose(2, 3, strides=2, padding="same")'),
    case("(3, 3, 3, 2)", "Conv3DTranspose(2, 2, strides=(1, 2, 1))"),
    case("(7, 3)", 'DepthwiseConv1D(3, strides=2, padding="same", depth_multiplier=2)'),
    case("(7, 3)", "DepthwiseConv1D(3, dilation_rate=2, use_bias=False)"),
    case("(6, 6, 3)", 'DepthwiseConv2D(3, padding="same", depth_multiplier=2)'),
    case("(7, 7, 3)", 'DepthwiseConv2D(3, strides=2, padding="same", activation="relu")'),
    case("(8, 8, 2)", "DepthwiseConv2D((2, 3), strides=2, depth_multiplier=3)"),
    case("(9, 9, 2)", "DepthwiseConv2D(3, strides=2, dilation_rate=2)"),
    case("(9, 9, 2)", 'DepthwiseConv2D(3, strides=2, dilation_rate=2, padding="same")'),
    case("(7, 3)", 'SeparableConv1D(4, 3, strides=2, padding="same", depth_multiplier=2)'),
    case("(8, 3)", "SeparableConv1D(4, 3, dilation_rate=2, use_bias=False)"),
    case("(7, 7, 3)", 'SeparableConv2D(4, 3, strides=2, padding="same")'),
    case("(9, 3)", 'SeparableConv1D(4, 3, strides=2, dilation_rate=2, padding="same")'),
    case("(6, 6, 3)", 'SeparableConv2D(4, 3, padding="same", depth_multiplier=2, activation="relu")'),
    # --- pooling
    case("(8, 3)", "MaxPooling1D()"),
    case("(7, 3)", 'MaxPooling1D(3, strides=2, padding="same")'),
    case("(7, 7, 2)", 'MaxPooling2D(3, strides=2, padding="same")'),
    case("(8, 8, 2)", 'MaxPooling2D(3, strides=2, padding="same")'),
    case("(7, 7, 2)", "MaxPooling2D(2)"),
    case("(5, 5, 5, 2)", 'MaxPooling3D(2, padding="same")'),
    case("(4, 6, 4, 2)", "MaxPooling3D((2, 3, 2))"),
    case("(7, 3)", 'AveragePooling1D(2, padding="same")'),
    case("(7, 7, 2)", 'AveragePooling2D(3, strides=2, padding="same")'),
    case("(6, 6, 2)", "AveragePooling2D(2, strides=1)"),
    case("(5, 5, 5, 2)", 'AveragePooling3D(2, padding="same")'),
    case("(4, 6, 4, 2)", "AveragePooling3D((2, 3, 2))"),
    case("(5, 3)", "GlobalAveragePooling1D()"),
    case("(5, 3)", "GlobalMaxPooling1D(keepdims=True)"),
    case("(4, 5, 3)", "GlobalAveragePooling2D(keepdims=True)"),
    case("(4, 5, 3)", "GlobalMaxPooling2D()"),
    case("(3, 4, 5, 2)", "GlobalAveragePooling3D()"),
    case("(3, 4, 5, 2)", "GlobalMaxPooling3D(keepdims=True)"),
    # --- normalization
    case("(6,)", "BatchNormalization()"),
    case("(5, 4)", "BatchNormalization()"),
    case("(4, 4, 3)", "BatchNormalization(momentum=0.9, epsilon=0.01)"),
    case("(3, 3, 3, 2)", "BatchNormalization()"),
    case("(4, 4, 3)", "BatchNormalization(center=False)"),
    case("(4, 4, 3)", "BatchNormalization(scale=False)"),
    case("(4, 4, 3)", "BatchNormalization(center=False, scale=False)"),
    case("(4, 5, 3)", "BatchNormalization(axis=1)"),
    case("(5, 4)", "BatchNormalization(axis=1)"),
    case("(3, 4, 5, 2)", "BatchNormalization(axis=-3)"),
    case("(6,)", "LayerNormalization()"),
    case("(5, 4)", "LayerNormalization(epsilon=0.1)"),
    case("(4, 4, 3)", "LayerNormalization()"),
    case("(4, 4, 3)", "LayerNormalization(axis=(1, 2, 3))"),
    case("(5, 4)", "LayerNormalization(axis=(-2, -1))"),
    case("(5, 4)", "LayerNormalization(center=False)"),
    case("(5, 4)", "LayerNormalization(scale=False)"),
    case("(5, 4)", "LayerNormalization(center=False, scale=False)"),
    case("(5, 4)", "LayerNormalization(axis=1)"),
    case("(4, 5, 3)", "LayerNormalization(axis=(1, 2))"),
    case("(4, 5, 3)", "LayerNormalization(axis=(1, 3), scale=False)"),
    # --- embedding
    case("(5,)", "Embedding(10, 4)", "int32"),
    case("(3, 4)", "Embedding(10, 4)", "int32"),
    # --- recurrent
    case("(5, 3)", "SimpleRNN(4)"),
    case("(5, 3)", 'SimpleRNN(4, activation="relu", return_sequences=True)'),
    case("(5, 3)", "SimpleRNN(4, go_backwards=True, use_bias=False)"),
    case("(5, 3)", "LSTM(4)"),
    case("(5, 3)", "LSTM(4, return_sequences=True, go_backwards=True)"),
    case("(5, 3)", "LSTM(4, use_bias=False, dropout=0.3)"),
    case("(5, 3)", "GRU(4)"),
    case("(5, 3)", "GRU(4, return_sequences=True)"),
    case("(5, 3)", "GRU(4, go_backwards=True)"),
    case("(None, 3)", "LSTM(4)"),
    spec(
        "LSTM-return_state",
        """
        model M {
            input x: (5, 3)
            seq, h, c = x -> LSTM(4, return_sequences=True, return_state=True)
            output seq, h, c
        }
        """,
    ),
    spec(
        "GRU-return_state",
        """
        model M {
            input x: (5, 3)
            last, h = x -> GRU(4, return_state=True)
            output last, h
        }
        """,
    ),
    spec(
        "SimpleRNN-return_state-backwards",
        """
        model M {
            input x: (5, 3)
            seq, h = x -> SimpleRNN(4, return_sequences=True, return_state=True, go_backwards=True)
            output seq, h
        }
        """,
    ),
    case("(5, 3)", "Bidirectional(LSTM(4))"),
    case("(5, 3)", 'Bidirectional(LSTM(4, return_sequences=True), merge_mode="sum")'),
    case("(5, 3)", 'Bidirectional(GRU(4), merge_mode="mul")'),
    case("(5, 3)", 'Bidirectional(SimpleRNN(4, return_sequences=True), merge_mode="ave")'),
    spec(
        "Bidirectional-merge_mode-None",
        """
        model M {
            input x: (5, 3)
            forward, backward = x -> Bidirectional(GRU(4, return_sequences=True), merge_mode=None)
            output forward, backward
        }
        """,
    ),
    spec(
        "Bidirectional-LSTM-return_state",
        """
        model M {
            input x: (5, 3)
            out, hf, cf, hb, cb = x -> Bidirectional(LSTM(4, return_state=True))
            output out, hf, cf, hb, cb
        }
        """,
    ),
    spec(
        "Bidirectional-GRU-return_state",
        """
        model M {
            input x: (5, 3)
            out, hf, hb = x -> Bidirectional(GRU(4, return_sequences=True, return_state=True))
            output out, hf, hb
        }
        """,
    ),
    # --- wrappers
    case("(5, 3)", "TimeDistributed(Dense(4))"),
    case("(3, 4, 5)", 'TimeDistributed(Dense(2, activation="softmax"))'),
    case("(3, 7, 7, 2)", 'TimeDistributed(Conv2D(4, 3, strides=2, padding="same", activation="relu"))'),
    case("(3, 6, 6, 2)", "TimeDistributed(MaxPooling2D(2))"),
    case("(3, 7, 7, 2)", 'TimeDistributed(AveragePooling2D(3, strides=2, padding="same"))'),
    case("(3, 4, 4, 2)", "TimeDistributed(Flatten())"),
    case("(3, 6, 2)", 'TimeDistributed(Conv1D(4, 3, padding="same"))'),
    case("(3, 5, 2)", "TimeDistributed(LSTM(4))"),
    case("(3, 4, 4, 2)", "TimeDistributed(BatchNormalization())"),
    case("(3, 4, 4, 2)", "TimeDistributed(GlobalAveragePooling2D())"),
    case("(3, 5, 2)", "TimeDistributed(Bidirectional(GRU(3)))"),
    spec(
        "TimeDistributed-CNN-then-LSTM",
        """
        model M {
            input frames: (None, 8, 8, 2)
            output frames
                -> TimeDistributed(Conv2D(3, 3, activation="relu"))
                -> TimeDistributed(MaxPooling2D(2))
                -> TimeDistributed(Flatten())
                -> LSTM(4)
        }
        """,
    ),
    # --- merges
    multi(["(4, 3)", "(4, 3)", "(4, 3)"], "Add()"),
    multi(["(3, 3, 2)", "(3, 3, 2)"], "Subtract()"),
    multi(["(5,)", "(5,)"], "Multiply()"),
    multi(["(5,)", "(5,)", "(5,)"], "Average()"),
    multi(["(4, 3)", "(4, 3)"], "Maximum()"),
    multi(["(4, 3)", "(4, 3)", "(4, 3)"], "Minimum()"),
    multi(["(4, 4, 3)", "(4, 4, 2)"], "Concatenate()"),
    multi(["(2, 4, 3)", "(3, 4, 3)"], "Concatenate(axis=1)"),
    multi(["(4, 2, 3)", "(4, 3, 3)"], "Concatenate(axis=-2)"),
    multi(["(3, 4)", "(5, 4)"], "Concatenate(axis=1)"),
    multi(["(5,)", "(5,)"], "Dot(axes=1)"),
    multi(["(5,)", "(5,)"], "Dot(axes=1, normalize=True)"),
    multi(["(3, 4)", "(5, 4)"], "Dot(axes=(2, 2))"),
    multi(["(3, 4)", "(3, 5)"], "Dot(axes=1, normalize=True)"),
    multi(["(3, 4)", "(4,)"], "Dot(axes=(2, 1))"),
    multi(["(4,)", "(3, 4)"], "Dot(axes=(1, 2))"),
    multi(["(2, 3, 4)", "(5, 4)"], "Dot(axes=(3, 2))"),
    multi(["(2, 3, 4)", "(3, 5)"], "Dot(axes=(2, 1))"),
    # --- attention
    multi(["(4, 3)", "(5, 3)"], "Attention()"),
    multi(["(4, 3)", "(5, 2)", "(5, 3)"], "Attention()"),
    multi(["(4, 3)", "(5, 3)"], "Attention(use_scale=True)"),
    multi(["(4, 3)", "(5, 3)"], 'Attention(score_mode="concat", use_scale=True, dropout=0.2)'),
    multi(["(4, 6)", "(4, 6)"], "MultiHeadAttention(2, 3)"),
    multi(["(4, 6)", "(5, 3)"], "MultiHeadAttention(3, 4, value_dim=2, output_shape=5, dropout=0.1)"),
    multi(["(4, 6)", "(5, 3)", "(5, 2)"], "MultiHeadAttention(2, 5, use_bias=False)"),
    multi(["(4, 6)", "(5, 3)"], "MultiHeadAttention(2, 3, output_shape=(2, 3))"),
    multi(["(3, 2, 4)", "(2, 2, 4)"], "MultiHeadAttention(2, 3)"),
    # --- generative
    multi(["(4,)", "(4,)"], "Sampling()"),
]


@pytest.mark.parametrize("item", CASES)
def test_generated_torch_layer_computes_what_keras_computes(item: Case) -> None:
    assert_equivalent(item.text, item.id)


# --- graphs: blocks, sub-models, shared layers ---------------------------------------------------

GRAPHS = [
    spec(
        "residual-blocks",
        """
        block residual(filters, kernel_size=3) {
            input x
            y = x -> Conv2D(filters, kernel_size, padding="same") -> BatchNormalization() -> ReLU()
                  -> Conv2D(filters, kernel_size, padding="same") -> BatchNormalization()
            return (y, x) -> Add() -> ReLU()
        }

        model M {
            input image: (9, 9, 3)
            x = image -> Conv2D(4, 3, strides=2, padding="same") -> BatchNormalization() -> ReLU()
                      -> MaxPooling2D(3, strides=2, padding="same")
            for i in range(2) {
                x = x -> residual(4)
            }
            output x -> GlobalAveragePooling2D() -> Dense(3, activation="softmax")
        }
        """,
    ),
    spec(
        "sub-models",
        """
        model Encoder {
            input x: (6,)
            output x -> Dense(3, activation="relu")
        }

        model Decoder {
            input code: (3,)
            output code -> Dense(6, activation="sigmoid")
        }

        model M {
            encoder = Encoder()
            decoder = Decoder()
            input x: (6,)
            output x -> encoder -> decoder
        }
        """,
    ),
    spec(
        "shared-layer",
        """
        model M {
            shared = Dense(3, activation="tanh")
            input a: (5,)
            input b: (5,)
            output (a -> shared, b -> shared) -> Subtract()
        }
        """,
    ),
    spec(
        "fan-out-and-concatenate",
        """
        model M {
            input x: (6, 6, 2)
            a = x -> Conv2D(3, 1)
            b = x -> Conv2D(2, 3, padding="same")
            c = x -> MaxPooling2D(3, strides=1, padding="same")
            output (a, b, c) -> Concatenate() -> Flatten() -> Dense(2)
        }
        """,
    ),
    spec(
        "text-attention-pooling",
        """
        block attention_pooling(attention_dim=4) {
            input sequence
            scores = sequence -> Dense(attention_dim, activation="tanh") -> Dense(1)
            weights = scores -> Softmax(axis=1)
            return (weights, sequence) -> Dot(axes=1) -> Flatten()
        }

        model M {
            input tokens: int32 (7,)
            output tokens -> Embedding(20, 5) -> LSTM(6, return_sequences=True)
                -> attention_pooling(4) -> Dense(1, activation="sigmoid")
        }
        """,
    ),
    spec(
        "conv-autoencoder",
        """
        model M {
            input image: (8, 8, 1)
            output image
                -> Conv2D(4, 3, activation="relu", padding="same") -> MaxPooling2D(2, padding="same")
                -> Conv2D(2, 3, activation="relu", padding="same") -> MaxPooling2D(2, padding="same")
                -> Conv2DTranspose(2, 3, strides=2, activation="relu", padding="same")
                -> Conv2DTranspose(4, 3, strides=2, activation="relu", padding="same")
                -> Conv2D(1, 3, activation="sigmoid", padding="same")
        }
        """,
    ),
    spec(
        "dcgan-discriminator",
        """
        model M {
            input image: (28, 28, 1)
            output image
                -> Conv2D(4, 5, strides=2, padding="same") -> LeakyReLU(0.2) -> Dropout(0.3)
                -> Conv2D(8, 5, strides=2, padding="same") -> LeakyReLU(0.2)
                -> Flatten() -> Dense(1)
        }
        """,
    ),
    spec(
        "TimeDistributed-block",
        """
        block frame(filters) {
            input x
            return x -> Conv2D(filters, 3, activation="relu") -> MaxPooling2D(2) -> Flatten()
        }

        model M {
            input frames: (3, 8, 8, 2)
            output frames -> TimeDistributed(frame(4)) -> LSTM(5)
        }
        """,
    ),
    spec(
        "TimeDistributed-block-keeps-images",
        """
        block frame(filters) {
            input x
            return x -> Conv2D(filters, 3, padding="same") -> BatchNormalization() -> ReLU()
        }

        model M {
            input frames: (3, 6, 6, 2)
            output frames -> TimeDistributed(frame(4)) -> TimeDistributed(GlobalMaxPooling2D()) -> GRU(3)
        }
        """,
    ),
]


@pytest.mark.parametrize("item", GRAPHS)
def test_generated_torch_graph_computes_what_keras_computes(item: Case) -> None:
    assert_equivalent(item.text, item.id)


# --- what PyTorch cannot express: a clear error instead of approximate code --------------------

UNSUPPORTED = [
    ("(5, 3)", "GRU(4, reset_after=False)", "reset_after=False"),
    ("(5, 3)", 'LSTM(4, activation="relu")', "only has tanh"),
    ("(5, 3)", 'GRU(4, recurrent_activation="hard_sigmoid")', "recurrent_activation"),
    ("(5, 3)", 'SimpleRNN(4, activation="sigmoid")', "tanh and relu"),
    ("(5, 3)", 'Bidirectional(LSTM(4, activation="relu"))', "only has tanh"),
    ("(5,)", "Embedding(10, 4, mask_zero=True)", "mask_zero"),
    ("(None, None, 3)", 'Conv2D(3, 3, strides=2, padding="same")', "unknown size"),
    ("(None, 3)", 'MaxPooling1D(2, padding="same")', "unknown size"),
    ("(None, None, 3)", 'Conv2DTranspose(3, 3, strides=2, padding="same")', "unknown size"),
]


@pytest.mark.parametrize(("shape", "layer", "message"), UNSUPPORTED, ids=[u[1] for u in UNSUPPORTED])
def test_inexpressible_arguments_raise_unsupported(shape: str, layer: str, message: str) -> None:
    dtype = "int32" if layer.startswith("Embedding") else ""
    program = program_of(one(shape, layer, dtype))
    with pytest.raises(Unsupported, match=message):
        generate(program, "torch")


def test_transposed_convolution_of_unknown_size_without_crop_compiles() -> None:
    """valid padding with kernel >= strides needs no crop: the sizes need not be known."""
    source = generate(program_of(one("(None, None, 3)", "Conv2DTranspose(2, 3, strides=2)")), "torch")
    net = exec_source(source, "generated_torch")["M"]().eval()
    with torch.no_grad():
        assert tuple(net(torch.zeros(1, 3, 4, 5)).shape) == (1, 2, 9, 11)


# --- completeness and style ------------------------------------------------------------------


def all_specs() -> list[tuple[str, str]]:
    return [(p.values[0].id, p.values[0].text) for p in CASES + GRAPHS]


def test_every_catalogue_layer_has_a_rule_and_an_equivalence_case() -> None:
    from archdsl.targets.torch_layers import LAYERS

    assert sorted(set(CATALOGUE) - set(LAYERS)) == []
    covered: set[str] = set()
    for _, text in all_specs():
        for model in program_of(text).models.values():
            for node in model.nodes:
                layer = node.layer
                while layer is not None:
                    covered.add(layer.op)
                    layer = layer.inner
    assert sorted(set(CATALOGUE) - covered) == []


def ruff() -> list[str] | None:
    found = shutil.which("ruff") or shutil.which("ruff", path=os.path.dirname(sys.executable))
    return [found] if found else None


def test_generated_torch_code_passes_ruff_with_default_settings(tmp_path) -> None:
    command = ruff()
    if command is None:
        pytest.skip("ruff is not installed")
    for index, (_, text) in enumerate(all_specs()):
        (tmp_path / f"case_{index}.py").write_text(generate(program_of(text), "torch"), encoding="utf-8")
    for args in (["check", "--isolated", "."], ["format", "--isolated", "--check", "--diff", "."]):
        result = subprocess.run(command + args, cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


LONG_NAMES = """
    model ExtremelyDescriptiveModelName {
        input the_input_image_with_a_long_name: (None, 9, 9, 3)
        input the_second_sequence_input: (7, 5)
        feature_map_after_the_first_convolution = the_input_image_with_a_long_name
            -> TimeDistributed(Conv2D(4, 3, strides=2, padding="same", activation="softmax"))
        summary_of_the_frames_sequence = feature_map_after_the_first_convolution
            -> TimeDistributed(GlobalAveragePooling2D())
            -> Bidirectional(LSTM(5, return_sequences=True, dropout=0.1), merge_mode="ave")
        bidirectional_sequence_out, forward_hidden_state, forward_cell_state, backward_hidden_state,
            backward_cell_state = the_second_sequence_input
            -> Bidirectional(LSTM(5, return_sequences=True, return_state=True))
        attention_output_of_the_model = (summary_of_the_frames_sequence, bidirectional_sequence_out)
            -> MultiHeadAttention(2, 3, dropout=0.1, output_shape=(2, 5))
        dot_product_of_both_sequences = (summary_of_the_frames_sequence, summary_of_the_frames_sequence)
            -> Dot(axes=(2, 2), normalize=True)
        states = (forward_hidden_state, forward_cell_state, backward_hidden_state, backward_cell_state)
            -> Concatenate()
        output attention_output_of_the_model, dot_product_of_both_sequences, states -> Dense(3)
    }
"""


def ruff_problems(sources: dict[str, str], directory) -> list[str]:
    command = ruff()
    if command is None:
        pytest.skip("ruff is not installed")
    for name, source in sources.items():
        (directory / name).write_text(source, encoding="utf-8")
    problems = []
    for args in (["check", "--isolated", "."], ["format", "--isolated", "--check", "--diff", "."]):
        result = subprocess.run(command + args, cwd=directory, capture_output=True, text=True)
        if result.returncode != 0:
            problems.append(result.stdout[-4000:] + result.stderr[-2000:])
    return problems


def test_layer_code_for_long_names_passes_ruff(tmp_path) -> None:
    """The rules lay out long expressions themselves (one argument per line)."""
    source = generate(program_of(LONG_NAMES), "torch")
    body = source[source.index("class ExtremelyDescriptiveModelName") : source.index('if __name__ == "__main__":')]
    several_targets = re.compile(r"^\s+\w+(, \w+)+ = ")  # the emitter's part (see the xfail below)
    long_lines = [line for line in body.splitlines() if len(line) > 88 and not several_targets.match(line)]
    assert [line for line in long_lines if not line.lstrip().startswith(("Input:", "Output:"))] == []
    net = exec_source(source, "generated_torch")["ExtremelyDescriptiveModelName"]().eval()
    with torch.no_grad():
        shapes = [tuple(o.shape) for o in net(torch.rand(2, 3, 4, 9, 9), torch.rand(2, 7, 5))]
    assert shapes == [(2, 5, 4, 2), (2, 4, 4), (2, 3)]


def test_generated_torch_code_for_long_names_passes_ruff(tmp_path) -> None:
    assert ruff_problems({"long_names.py": generate(program_of(LONG_NAMES), "torch")}, tmp_path) == []


# --- the transfer API ------------------------------------------------------------------------


def test_copy_layer_weights_takes_an_op_and_args_or_an_ir_layer() -> None:
    from archdsl.transfer import copy_layer_weights

    program = program_of(one("(5, 3)", "GRU(4)"))
    layer = program.models["M"].nodes[0].layer
    keras_layer = keras.layers.GRU(4)
    keras_layer(np.zeros((1, 5, 3), "float32"))
    randomise(keras_layer, np.random.default_rng(3))
    by_op, by_layer = torch.nn.GRU(3, 4, batch_first=True), torch.nn.GRU(3, 4, batch_first=True)
    copy_layer_weights("GRU", dict(layer.args), keras_layer, by_op)
    copy_layer_weights(layer, keras_layer, by_layer)
    for (name, a), (_, b) in zip(by_op.named_parameters(), by_layer.named_parameters(), strict=True):
        assert torch.equal(a, b), name
    # Keras's (z, r, h) blocks become PyTorch's (r, z, n): the input bias of the reset gate first.
    keras_bias = keras_layer.cell.bias.numpy()
    np.testing.assert_array_equal(by_op.bias_ih_l0.detach().numpy()[:4], keras_bias[0, 4:8])
    np.testing.assert_array_equal(by_op.bias_hh_l0.detach().numpy()[4:8], keras_bias[1, :4])


def test_copy_layer_weights_refuses_mismatched_shapes() -> None:
    from archdsl.transfer import TransferError, copy_layer_weights

    keras_layer = keras.layers.Dense(3)
    keras_layer(np.zeros((1, 4), "float32"))
    with pytest.raises(TransferError, match=r"Dense kernel: Keras gives shape \(3, 4\), PyTorch expects \(3, 5\)"):
        copy_layer_weights("Dense", {}, keras_layer, torch.nn.Linear(5, 3))
    unbiased = keras.layers.Dense(3, use_bias=False)
    unbiased(np.zeros((1, 4), "float32"))
    with pytest.raises(TransferError, match="no bias"):
        copy_layer_weights("Dense", {}, unbiased, torch.nn.Linear(4, 3))


def test_initialisers_of_the_spec_run_on_kernels_and_biases() -> None:
    """Every initialiser name works on a kernel and on a bias (a vector, where Keras uses
    fan_in = fan_out = its size; Keras refuses an orthogonal vector) and is not overwritten by
    the default initialisation."""
    from archdsl.layers.base import INITIALIZERS

    def bias(name: str) -> str:  # Keras refuses an orthogonal vector too
        return "zeros" if name == "orthogonal" else name

    chain = " -> ".join(f'Dense(64, kernel_initializer="{n}", bias_initializer="{bias(n)}")' for n in INITIALIZERS)
    source = generate(program_of(one("(64,)", chain)), "torch")
    torch.manual_seed(0)
    net = exec_source(source, "generated_torch")["M"]()
    layers = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    stds = {name: float(layer.weight.detach().std()) for name, layer in zip(INITIALIZERS, layers, strict=True)}
    assert stds["zeros"] == 0.0 and float(layers[INITIALIZERS.index("ones")].bias.detach().min()) == 1.0
    # he_normal: a normal of std sqrt(2 / 64) truncated at two deviations (std about 0.88 of that)
    assert abs(stds["he_normal"] - 0.88 * (2 / 64) ** 0.5) < 0.02
    assert abs(stds["random_normal"] - 0.05) < 0.005


def test_lstm_forget_gate_bias_starts_at_one_as_in_keras() -> None:
    text = """
        model M {
            input x: (5, 3)
            output (x -> LSTM(4), x -> Bidirectional(LSTM(4)), x -> LSTM(4, unit_forget_bias=False)) -> Concatenate()
        }
    """
    net = exec_source(generate(program_of(text), "torch"), "generated_torch")["M"]()
    expected = [0.0] * 4 + [1.0] * 4 + [0.0] * 8
    for bias in (net.lstm.bias_ih_l0, net.bidirectional.bias_ih_l0, net.bidirectional.bias_ih_l0_reverse):
        assert bias.detach().tolist() == expected
    assert net.lstm_1.bias_ih_l0.detach().abs().sum() == 0
    assert net.lstm.bias_hh_l0.detach().abs().sum() == 0


def test_depthwise_and_attention_kernels_start_with_keras_limits() -> None:
    """Glorot-uniform with Keras's fans, which differ from those of the torch weights: a
    depthwise kernel (3, 3, 4, 2) has fans 36 and 18; an attention kernel (6, 2, 8) has 12, 48."""
    text = """
        model M {
            input x: (6, 6, 4)
            input s: (5, 6)
            output x -> DepthwiseConv2D(3, depth_multiplier=2), (s, s) -> MultiHeadAttention(2, 8)
        }
    """
    torch.manual_seed(0)
    net = exec_source(generate(program_of(text), "torch"), "generated_torch")["M"]()
    depthwise = net.depthwise_conv2d.weight.detach().abs().max()
    assert 0.9 * (6 / 54) ** 0.5 < depthwise <= (6 / 54) ** 0.5
    query = net.multi_head_attention.query.weight.detach().abs().max()
    assert 0.9 * (6 / 60) ** 0.5 < query <= (6 / 60) ** 0.5
    output = net.multi_head_attention.output.weight.detach().abs().max()  # (2, 8, 6): fans 16, 12
    assert 0.9 * (6 / 28) ** 0.5 < output <= (6 / 28) ** 0.5


# --- weight penalties ------------------------------------------------------------------------


def penalties_both(text: str) -> tuple[float, float]:
    program = program_of(text)
    keras_model = exec_source(generate(program, "keras"), "generated_keras")["build_m"]()
    torch_model = exec_source(generate(program, "torch"), "generated_torch")["M"]()
    randomise(keras_model, np.random.default_rng(0))
    keras_to_torch(program.models["M"], keras_model, torch_model)
    with torch.no_grad():
        return float(sum(np.asarray(loss) for loss in keras_model.losses)), float(torch_model.regularization_loss())


def test_weight_penalties_match_keras_losses() -> None:
    text = """
        model M {
            input x: (6, 4)
            output x
                -> Conv1D(3, 3, kernel_regularizer=l2(0.01), bias_regularizer=l1(0.1))
                -> LSTM(4, kernel_regularizer=l1_l2(l1=0.01, l2=0.02), recurrent_regularizer=l2(0.03))
                -> Dense(2, kernel_regularizer=l1(0.05))
        }
    """
    expected, got = penalties_both(text)
    assert expected > 0
    assert got == pytest.approx(expected, rel=1e-5)


def test_default_and_positional_penalty_factors_match_keras_losses() -> None:
    """l1() and l2() default to 0.01, l1_l2's factors default to 0 and may be positional, as
    in Keras 3: the Keras code passes the spec's arguments through, the PyTorch code gets
    the factors the IR bound, and both give the same loss."""
    text = """
        model M {
            input x: (4,)
            output x
                -> Dense(3, kernel_regularizer=l1(), bias_regularizer=l2())
                -> Dense(3, kernel_regularizer=l1_l2(0.01, 0.02), bias_regularizer=l1_l2(l2=0.03))
                -> Dense(2, kernel_regularizer=l1_l2(0.04))
        }
    """
    expected, got = penalties_both(text)
    assert expected > 0
    assert got == pytest.approx(expected, rel=1e-5)


def test_depthwise_and_pointwise_penalties_match_keras_losses() -> None:
    text = """
        model M {
            input x: (6, 6, 3)
            output x -> DepthwiseConv2D(3, depthwise_regularizer=l2(0.01))
                -> SeparableConv2D(4, 3, pointwise_regularizer=l1(0.01), bias_regularizer=l2(0.1))
        }
    """
    expected, got = penalties_both(text)
    assert got == pytest.approx(expected, rel=1e-5)
