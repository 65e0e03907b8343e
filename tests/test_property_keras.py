"""Property tests against Keras 3: random layer stacks, checked by archdsl and built by Keras.

Hypothesis draws whole networks, writes each as archdsl source text and checks it with
:func:`archdsl.api.check_source`, then builds the same network with Keras's functional API.
Every node's output shapes and weight counts, and the model's totals, must equal Keras's.

Families of networks:

* image stacks on (H, W, C): convolutions of every kind, pooling, normalisation,
  activations, padding and upsampling, then optionally a flattening head;
* sequence stacks on (T, F): recurrent layers, Bidirectional, Conv1D, 1D pooling and
  TimeDistributed(Dense), ending in a recurrent layer or a pooling head;
* dense stacks: Dense, Dropout, LayerNormalization, RepeatVector, Reshape, Flatten, Permute;
* residual graphs: named branches merged back into their input with Add, Concatenate and
  the other merges.

A second property draws conv/pool stacks that need not be valid and checks that archdsl
reports an error exactly when Keras refuses to build the layer (or builds an axis of size
zero), and that the error points at the layer Keras rejects.

The number of examples per property is ``ARCHDSL_HYPOTHESIS_EXAMPLES`` (default 25), so a
long campaign is ``ARCHDSL_HYPOTHESIS_EXAMPLES=1000 pytest tests/test_property_keras.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from math import prod
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

keras = pytest.importorskip("keras")

from hypothesis import HealthCheck, event, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from archdsl.api import check_source  # noqa: E402
from archdsl.diagnostics import render_text  # noqa: E402

EXAMPLES = int(os.environ.get("ARCHDSL_HYPOTHESIS_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

pytestmark = pytest.mark.keras

MAX_SIDE = 40  # upsampling layers are only drawn while the image stays this small


# --- a network as data: rendered to archdsl text and built with Keras ----------------------


@dataclass(frozen=True)
class Call:
    """A layer call: ``name(*args, **kwargs)``; an argument may itself be a Call (a wrapper's layer)."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def text(self) -> str:
        parts = [_value_text(a) for a in self.args] + [f"{k}={_value_text(v)}" for k, v in self.kwargs]
        return f"{self.name}({', '.join(parts)})"

    def keras_layer(self):
        args = [a.keras_layer() if isinstance(a, Call) else a for a in self.args]
        return getattr(keras.layers, self.name)(*args, **dict(self.kwargs))


def _value_text(value: Any) -> str:
    if isinstance(value, Call):
        return value.text()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        inner = ", ".join(_value_text(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def call(name: str, *args: Any, **kwargs: Any) -> Call:
    return Call(name, args, tuple(kwargs.items()))


@dataclass(frozen=True)
class Stmt:
    """``target = (sources) -> layers[0] -> layers[1] ...``"""

    target: str
    sources: tuple[str, ...]
    layers: tuple[Call, ...]


@dataclass(frozen=True)
class Spec:
    """A one-input model: its input shape and statements; the last statement's target is the output."""

    input_shape: tuple[int, ...]
    statements: tuple[Stmt, ...]

    def render(self) -> tuple[str, list[int]]:
        """The source text and, for each layer application in order, its line number."""
        lines = ["model M {", f"    input x: {_value_text(self.input_shape)}"]
        layer_lines = []
        for stmt in self.statements:
            sources = stmt.sources[0] if len(stmt.sources) == 1 else "(" + ", ".join(stmt.sources) + ")"
            lines.append(f"    {stmt.target} = {sources}")
            for layer in stmt.layers:
                lines.append(f"        -> {layer.text()}")
                layer_lines.append(len(lines))
        lines += [f"    output {self.statements[-1].target}", "}"]
        return "\n".join(lines) + "\n", layer_lines

    @property
    def source(self) -> str:
        return self.render()[0]

    def __repr__(self) -> str:  # hypothesis prints the falsifying example: show the spec itself
        return "Spec:\n" + self.source


def chain(input_shape: tuple[int, ...], layers: list[Call]) -> Spec:
    return Spec(tuple(input_shape), (Stmt("x", ("x",), tuple(layers)),))


# --- the two sides ------------------------------------------------------------------------


def weight_count(weights) -> int:
    return sum(prod(int(d) for d in w.shape) for w in weights)


def plain(shape) -> tuple:
    return tuple(d if isinstance(d, int) else None for d in shape)


@dataclass
class KerasNode:
    layer: Any
    outputs: list


def keras_build(spec: Spec) -> tuple[Any, list[KerasNode]]:
    """Build the spec with Keras layers, in statement order; raises what Keras raises."""
    keras.backend.clear_session()
    inp = keras.Input(shape=spec.input_shape)
    env: dict[str, Any] = {"x": inp}
    nodes: list[KerasNode] = []
    for stmt in spec.statements:
        value = env[stmt.sources[0]] if len(stmt.sources) == 1 else [env[s] for s in stmt.sources]
        for c in stmt.layers:
            layer = c.keras_layer()
            value = layer(value)
            nodes.append(KerasNode(layer, list(value) if isinstance(value, (list, tuple)) else [value]))
        env[stmt.target] = value
    return inp, nodes


def archdsl_model(spec: Spec):
    result = check_source(spec.source, "property.arch")
    diagnostics = render_text(result.reporter.sorted(), result.reporter.sources)
    assert result.ok, f"archdsl rejects a network Keras builds:\n{spec.source}\n{diagnostics}"
    return result.program.models["M"]


def assert_matches_keras(spec: Spec) -> None:
    note(spec.source)
    model = archdsl_model(spec)
    inp, k_nodes = keras_build(spec)
    outputs = [t for node in k_nodes for t in node.outputs]
    k_model = keras.Model(inp, outputs)

    assert [n.layer.op for n in model.nodes] == [type(n.layer).__name__ for n in k_nodes]
    for i, (node, k_node) in enumerate(zip(model.nodes, k_nodes, strict=True)):
        ours = [model.tensors[t].type for t in node.outputs]
        where = f"node {i} ({node.layer.op})"
        assert [plain(t.shape) for t in ours] == [tuple(o.shape[1:]) for o in k_node.outputs], where
        assert [t.dtype for t in ours] == [o.dtype for o in k_node.outputs], where
        k_counts = (weight_count(k_node.layer.trainable_weights), weight_count(k_node.layer.non_trainable_weights))
        assert (node.layer.params.trainable, node.layer.params.non_trainable) == k_counts, where

    total = model.param_count
    assert total.trainable == weight_count(k_model.trainable_weights)
    assert total.non_trainable == weight_count(k_model.non_trainable_weights)
    assert total.total == k_model.count_params()


# --- drawing helpers -------------------------------------------------------------------------


def out_length(n: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    """Keras's size of a convolution or pooling output along one axis (a guide for drawing)."""
    if padding in ("same", "causal"):
        return -(-n // stride)
    return (n - (kernel - 1) * dilation - 1) // stride + 1


def transpose_length(n: int, kernel: int, stride: int, padding: str, output_padding, dilation: int = 1) -> int:
    kernel = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        return n * stride + max(kernel - stride, 0) if padding == "valid" else n * stride
    pad = kernel // 2 if padding == "same" else 0
    return (n - 1) * stride + kernel - 2 * pad + output_padding


def compact(values: tuple[int, ...], draw) -> int | tuple[int, ...]:
    """Equal sizes are sometimes written as one integer, as Keras allows."""
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    return values


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


ACTIVATIONS = st.sampled_from([None, "relu", "tanh", "sigmoid", "linear"])
RATES = st.sampled_from([0.0, 0.1, 0.25, 0.5])


def weight_options(draw) -> dict[str, Any]:
    """use_bias and trainable, each sometimes written."""
    options: dict[str, Any] = {}
    if draw(st.integers(0, 3)) == 0:
        options["use_bias"] = draw(st.booleans())
    if draw(st.integers(0, 5)) == 0:
        options["trainable"] = False
    return options


def draw_window(draw, spatial, *, max_kernel=5, strided_dilation=False, paddings=("valid", "same")):
    """kernel_size, strides, padding and dilation_rate that leave every axis at least 1 long."""
    padding = draw(st.sampled_from(paddings))
    kernel, strides, dilation = [], [], []
    for n in spatial:
        k = draw(st.integers(1, max_kernel if padding != "valid" else min(max_kernel, n)))
        kernel.append(k)
        strides.append(draw(st.integers(1, 3)))
    may_dilate = strided_dilation or max(strides) == 1
    for n, k in zip(spatial, kernel, strict=True):
        most = 3 if padding != "valid" or k == 1 else min(3, (n - 1) // (k - 1))
        dilation.append(draw(st.integers(1, most)) if may_dilate else 1)
    kwargs: dict[str, Any] = {"padding": padding}
    if max(strides) > 1 or draw(st.booleans()):
        kwargs["strides"] = compact(tuple(strides), draw)
    if max(dilation) > 1:
        kwargs["dilation_rate"] = compact(tuple(dilation), draw)
    out = tuple(out_length(n, k, s, padding, d) for n, k, s, d in zip(spatial, kernel, strides, dilation, strict=True))
    return compact(tuple(kernel), draw), kwargs, out


# --- family 1: image stacks ------------------------------------------------------------------

IMAGE_OPS = [
    "Conv2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "BatchNormalization",
    "Dropout",
    "ReLU",
    "LeakyReLU",
    "ZeroPadding2D",
    "Conv2DTranspose",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "UpSampling2D",
    "Cropping2D",
]


def image_layer(draw, shape: tuple[int, int, int]) -> tuple[Call, tuple[int, int, int]]:
    h, w, c = shape
    spatial = (h, w)
    small = max(h, w) * 3 + 4 <= MAX_SIDE
    ops = [op for op in IMAGE_OPS if small or op not in ("Conv2DTranspose", "UpSampling2D")]
    if min(h, w) < 2:
        ops.remove("Cropping2D")
    op = draw(st.sampled_from(ops))

    if op == "Conv2D":
        groups = draw(st.sampled_from(divisors(c))) if draw(st.integers(0, 3)) == 0 else 1
        filters = groups * draw(st.integers(1, max(1, 8 // groups)))
        kernel, kwargs, out = draw_window(draw, spatial)
        if groups > 1:
            kwargs["groups"] = groups
        kwargs.update(weight_options(draw), activation=draw(ACTIVATIONS))
        return call("Conv2D", filters, kernel, **kwargs), out + (filters,)
    if op in ("MaxPooling2D", "AveragePooling2D"):
        padding = draw(st.sampled_from(["valid", "same"]))
        limit = (4, 4) if padding == "same" else (min(4, h), min(4, w))
        pool = tuple(draw(st.integers(1, m)) for m in limit)
        strides = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
        steps = strides if strides is not None else pool
        out = tuple(out_length(n, p, s, padding) for n, p, s in zip(spatial, pool, steps, strict=True))
        kwargs = {"pool_size": compact(pool, draw), "padding": padding}
        if strides is not None or draw(st.booleans()):
            kwargs["strides"] = None if strides is None else compact(strides, draw)
        return call(op, **kwargs), out + (c,)
    if op == "BatchNormalization":
        kwargs = {"center": draw(st.booleans()), "scale": draw(st.booleans())}
        if draw(st.integers(0, 4)) == 0:
            kwargs["trainable"] = False
        return call(op, **kwargs), shape
    if op == "Dropout":
        return call(op, draw(RATES)), shape
    if op == "ReLU":
        kwargs = {}
        if draw(st.booleans()):
            kwargs["max_value"] = draw(st.sampled_from([None, 1.0, 6.0]))
        if draw(st.booleans()):
            kwargs["negative_slope"] = draw(st.sampled_from([0.0, 0.1]))
        return call(op, **kwargs), shape
    if op == "LeakyReLU":
        return call(op, negative_slope=draw(st.sampled_from([0.01, 0.2, 0.3]))), shape
    if op in ("ZeroPadding2D", "Cropping2D"):
        if op == "ZeroPadding2D":
            pairs = tuple(tuple(draw(st.integers(0, 2)) for _ in range(2)) for _ in range(2))
            out = tuple(n + a + b for n, (a, b) in zip(spatial, pairs, strict=True))
        else:
            pairs = []
            for n in spatial:
                a = draw(st.integers(0, min(2, n - 1)))
                pairs.append((a, draw(st.integers(0, min(2, n - 1 - a)))))
            pairs = tuple(pairs)
            out = tuple(n - a - b for n, (a, b) in zip(spatial, pairs, strict=True))
        form = draw(st.integers(0, 2))
        if form == 0 and len({x for pair in pairs for x in pair}) == 1:
            amount: Any = pairs[0][0]
        elif form == 1 and all(a == b for a, b in pairs):
            amount = (pairs[0][0], pairs[1][0])
        else:
            amount = pairs
        return call(op, amount), out + (c,)
    if op == "Conv2DTranspose":
        filters = draw(st.integers(1, 8))
        padding = draw(st.sampled_from(["valid", "same"]))
        kernel = tuple(draw(st.integers(1, 4)) for _ in range(2))
        strides = tuple(draw(st.integers(1, 3)) for _ in range(2))
        dilation = tuple(draw(st.integers(1, 2)) for _ in range(2)) if max(strides) == 1 else (1, 1)
        output_padding = None
        if draw(st.booleans()):
            output_padding = tuple(draw(st.integers(0, s - 1)) for s in strides)
        out = tuple(
            transpose_length(n, k, s, padding, None if output_padding is None else p, d)
            for n, k, s, p, d in zip(spatial, kernel, strides, output_padding or (0, 0), dilation, strict=True)
        )
        if min(out) < 1:  # an even kernel with "same" padding and output_padding 0 can shrink 1 to 0
            output_padding = None
            out = tuple(
                transpose_length(n, k, s, padding, None, d)
                for n, k, s, d in zip(spatial, kernel, strides, dilation, strict=True)
            )
        kwargs = {"strides": compact(strides, draw), "padding": padding}
        if output_padding is not None:
            kwargs["output_padding"] = compact(output_padding, draw)
        if max(dilation) > 1:
            kwargs["dilation_rate"] = compact(dilation, draw)
        kwargs.update(weight_options(draw), activation=draw(ACTIVATIONS))
        return call(op, filters, compact(kernel, draw), **kwargs), out + (filters,)
    if op == "DepthwiseConv2D":
        kernel, kwargs, out = draw_window(draw, spatial, strided_dilation=True)
        multiplier = draw(st.integers(1, 3))
        if multiplier > 1 or draw(st.booleans()):
            kwargs["depth_multiplier"] = multiplier
        kwargs.update(weight_options(draw), activation=draw(ACTIVATIONS))
        return call(op, kernel, **kwargs), out + (c * multiplier,)
    if op == "SeparableConv2D":
        filters = draw(st.integers(1, 8))
        kernel, kwargs, out = draw_window(draw, spatial, strided_dilation=True)
        if draw(st.booleans()):
            kwargs["depth_multiplier"] = draw(st.integers(1, 3))
        kwargs.update(weight_options(draw), activation=draw(ACTIVATIONS))
        return call(op, filters, kernel, **kwargs), out + (filters,)
    assert op == "UpSampling2D"
    size = tuple(draw(st.integers(1, 3)) for _ in range(2))
    kwargs = {"size": compact(size, draw)}
    if draw(st.booleans()):
        kwargs["interpolation"] = draw(st.sampled_from(["nearest", "bilinear"]))
    return call(op, **kwargs), (h * size[0], w * size[1], c)


def dense_head(draw, layers: list[Call]) -> None:
    """One or two Dense layers, with an optional Dropout between them."""
    for i in range(draw(st.integers(1, 2))):
        if i and draw(st.booleans()):
            layers.append(call("Dropout", draw(RATES)))
        kwargs = weight_options(draw)
        kwargs["activation"] = draw(st.sampled_from([None, "relu", "softmax", "sigmoid"]))
        layers.append(call("Dense", draw(st.integers(1, 12)), **kwargs))


@st.composite
def image_stacks(draw) -> Spec:
    shape = (draw(st.integers(1, 24)), draw(st.integers(1, 24)), draw(st.integers(1, 4)))
    layers: list[Call] = []
    current = shape
    for _ in range(draw(st.integers(1, 6))):
        layer, current = image_layer(draw, current)
        layers.append(layer)
    head = draw(st.sampled_from([None, "Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D"]))
    if head is not None:
        layers.append(call(head))
        dense_head(draw, layers)
    return chain(shape, layers)


# --- family 2: sequence stacks -------------------------------------------------------------

RNNS = ("SimpleRNN", "LSTM", "GRU")


def rnn_call(draw, *, return_sequences: bool, return_state: bool = False, wrapped: bool = False) -> tuple[Call, int]:
    name = draw(st.sampled_from(RNNS))
    units = draw(st.integers(1, 8))
    kwargs: dict[str, Any] = {}
    if return_sequences or draw(st.booleans()):
        kwargs["return_sequences"] = return_sequences
    if return_state:
        kwargs["return_state"] = True
    if draw(st.integers(0, 3)) == 0:
        kwargs["use_bias"] = draw(st.booleans())
    if name == "SimpleRNN" and draw(st.booleans()):
        kwargs["activation"] = draw(st.sampled_from(["tanh", "relu"]))
    if name == "GRU" and draw(st.booleans()):
        kwargs["reset_after"] = draw(st.booleans())
    if name == "LSTM" and draw(st.integers(0, 3)) == 0:
        kwargs["unit_forget_bias"] = draw(st.booleans())
    if not wrapped and draw(st.integers(0, 3)) == 0:  # Keras's Bidirectional refuses go_backwards=True
        kwargs["go_backwards"] = True
    if draw(st.integers(0, 3)) == 0:
        kwargs["dropout"] = draw(RATES)
    if draw(st.integers(0, 5)) == 0:
        kwargs["trainable"] = False
    return call(name, units, **kwargs), units


def bidirectional(draw, *, return_sequences: bool, final: bool) -> tuple[Call, int]:
    return_state = final and draw(st.booleans())
    inner, units = rnn_call(draw, return_sequences=return_sequences, return_state=return_state, wrapped=True)
    modes = ["concat", "sum", "mul", "ave"] + ([None] if final else [])
    mode = draw(st.sampled_from(modes))
    kwargs = {} if mode == "concat" and draw(st.booleans()) else {"merge_mode": mode}
    return call("Bidirectional", inner, **kwargs), 2 * units if mode == "concat" else units


SEQUENCE_OPS = [
    "RNN",
    "Bidirectional",
    "Conv1D",
    "MaxPooling1D",
    "AveragePooling1D",
    "TimeDistributed",
    "Dropout",
    "LayerNormalization",
    "BatchNormalization",
    "UpSampling1D",
    "ZeroPadding1D",
]


def sequence_layer(draw, shape: tuple[int, int]) -> tuple[Call, tuple[int, int]]:
    t, f = shape
    ops = [op for op in SEQUENCE_OPS if t * 3 <= 48 or op != "UpSampling1D"]
    op = draw(st.sampled_from(ops))
    if op == "RNN":
        layer, units = rnn_call(draw, return_sequences=True)
        return layer, (t, units)
    if op == "Bidirectional":
        layer, units = bidirectional(draw, return_sequences=True, final=False)
        return layer, (t, units)
    if op == "Conv1D":
        groups = draw(st.sampled_from(divisors(f))) if draw(st.integers(0, 3)) == 0 else 1
        filters = groups * draw(st.integers(1, max(1, 8 // groups)))
        kernel, kwargs, (out,) = draw_window(draw, (t,), paddings=("valid", "same", "causal"))
        if groups > 1:
            kwargs["groups"] = groups
        kwargs.update(weight_options(draw), activation=draw(ACTIVATIONS))
        return call("Conv1D", filters, kernel, **kwargs), (out, filters)
    if op in ("MaxPooling1D", "AveragePooling1D"):
        padding = draw(st.sampled_from(["valid", "same"]))
        pool = draw(st.integers(1, 4 if padding == "same" else min(4, t)))
        strides = draw(st.one_of(st.none(), st.integers(1, 3)))
        out = out_length(t, pool, strides or pool, padding)
        return call(op, pool, strides=strides, padding=padding), (out, f)
    if op == "TimeDistributed":
        units = draw(st.integers(1, 8))
        kwargs = weight_options(draw)
        kwargs["activation"] = draw(ACTIVATIONS)
        return call(op, call("Dense", units, **kwargs)), (t, units)
    if op == "Dropout":
        return call(op, draw(RATES)), shape
    if op in ("LayerNormalization", "BatchNormalization"):
        kwargs: dict[str, Any] = {}
        if op == "LayerNormalization" and draw(st.booleans()):
            kwargs["axis"] = draw(st.sampled_from([-1, 2, (1, 2), (-2, -1), 1]))
        if draw(st.booleans()):
            kwargs["center"] = draw(st.booleans())
        if draw(st.booleans()):
            kwargs["scale"] = draw(st.booleans())
        return call(op, **kwargs), shape
    if op == "UpSampling1D":
        size = draw(st.integers(1, 3))
        return call(op, size), (t * size, f)
    assert op == "ZeroPadding1D"
    amount = draw(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2))))
    a, b = (amount, amount) if isinstance(amount, int) else amount
    return call(op, amount), (t + a + b, f)


@st.composite
def sequence_stacks(draw) -> Spec:
    shape = (draw(st.integers(1, 12)), draw(st.integers(1, 6)))
    layers: list[Call] = []
    current = shape
    for _ in range(draw(st.integers(0, 4))):
        layer, current = sequence_layer(draw, current)
        layers.append(layer)
    end = draw(st.sampled_from(["RNN", "Bidirectional", "GlobalAveragePooling1D", "GlobalMaxPooling1D", None]))
    if end == "RNN":
        return_state = draw(st.booleans())
        layers.append(rnn_call(draw, return_sequences=draw(st.booleans()), return_state=return_state)[0])
        if not return_state and draw(st.booleans()):
            dense_head(draw, layers)
    elif end == "Bidirectional":
        layers.append(bidirectional(draw, return_sequences=draw(st.booleans()), final=True)[0])
    elif end is not None:
        layers.append(call(end))
        dense_head(draw, layers)
    if not layers:
        layers.append(rnn_call(draw, return_sequences=False)[0])
    return chain(shape, layers)


# --- family 3: dense stacks -----------------------------------------------------------------

DENSE_OPS = [
    "Dense",
    "Dropout",
    "LayerNormalization",
    "BatchNormalization",
    "RepeatVector",
    "Reshape",
    "Flatten",
    "Permute",
    "Activation",
    "Softmax",
]


def axis_subsets(rank: int) -> list[Any]:
    """LayerNormalization axes for an input of this rank: single axes and tuples, positive and negative."""
    choices: list[Any] = [-1]
    for axis in range(1, rank + 1):
        choices += [axis, axis - rank - 1]
    for first in range(1, rank + 1):
        for second in range(first + 1, rank + 1):
            choices += [(first, second), (first - rank - 1, second - rank - 1)]
    if rank == 3:
        choices.append((1, 2, 3))
    return choices


def dense_layer(draw, shape: tuple[int, ...]) -> tuple[Call, tuple[int, ...]]:
    rank, elements = len(shape), prod(shape)
    ops = list(DENSE_OPS)
    if rank != 1 or elements * 4 > 512:
        ops.remove("RepeatVector")
    if rank == 1:
        ops.remove("Flatten")
        ops.remove("Permute")
    op = draw(st.sampled_from(ops))
    if op == "Dense":
        units = draw(st.integers(1, 16))
        kwargs = weight_options(draw)
        kwargs["activation"] = draw(ACTIVATIONS)
        return call(op, units, **kwargs), shape[:-1] + (units,)
    if op == "Dropout":
        return call(op, draw(RATES)), shape
    if op == "LayerNormalization":
        kwargs: dict[str, Any] = {}
        if draw(st.booleans()):
            kwargs["axis"] = draw(st.sampled_from(axis_subsets(rank)))
        if draw(st.booleans()):
            kwargs["center"] = draw(st.booleans())
        if draw(st.booleans()):
            kwargs["scale"] = draw(st.booleans())
        if draw(st.integers(0, 4)) == 0:
            kwargs["trainable"] = False
        return call(op, **kwargs), shape
    if op == "BatchNormalization":
        kwargs = {}
        if draw(st.booleans()):
            kwargs["axis"] = draw(st.sampled_from([-1, rank] + list(range(1, rank + 1))))
        if draw(st.integers(0, 4)) == 0:
            kwargs["trainable"] = False
        return call(op, **kwargs), shape
    if op == "RepeatVector":
        n = draw(st.integers(1, 4))
        return call(op, n), (n, shape[0])
    if op == "Reshape":
        target = []
        remaining = elements
        for _ in range(draw(st.integers(0, 2))):
            d = draw(st.sampled_from(divisors(remaining)))
            target.append(d)
            remaining //= d
        target.append(remaining)
        target = draw(st.permutations(target))
        out = tuple(target)
        if draw(st.booleans()):
            target[draw(st.integers(0, len(target) - 1))] = -1
        return call(op, tuple(target)), out
    if op == "Flatten":
        return call(op), (elements,)
    if op == "Permute":
        dims = tuple(draw(st.permutations(range(1, rank + 1))))
        return call(op, dims), tuple(shape[d - 1] for d in dims)
    if op == "Activation":
        return call(op, draw(st.sampled_from(["relu", "tanh", "softmax", "gelu", "swish"]))), shape
    assert op == "Softmax"
    return call(op, axis=draw(st.sampled_from([-1] + list(range(1, rank + 1))))), shape


@st.composite
def dense_stacks(draw) -> Spec:
    shape = draw(st.one_of(st.tuples(st.integers(1, 24)), st.tuples(st.integers(1, 6), st.integers(1, 8))))
    layers: list[Call] = []
    current = shape
    for _ in range(draw(st.integers(1, 7))):
        layer, current = dense_layer(draw, current)
        layers.append(layer)
    return chain(shape, layers)


# --- family 4: residual graphs ----------------------------------------------------------------


def same_conv(draw, filters: int, strides: int = 1) -> Call:
    kernel = draw(st.integers(1, 5))
    kwargs: dict[str, Any] = {"padding": "same"}
    if strides > 1:
        kwargs["strides"] = strides
    elif draw(st.integers(0, 3)) == 0:
        kwargs["dilation_rate"] = draw(st.integers(1, 3))
    kwargs.update(weight_options(draw), activation=draw(ACTIVATIONS))
    return call("Conv2D", filters, kernel, **kwargs)


def branch(draw, filters: int, strides: int) -> list[Call]:
    """conv [-> BN] [-> ReLU] [-> conv ...]: keeps (ceil(H/s), ceil(W/s), filters)."""
    layers = [same_conv(draw, filters, strides)]
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            layers.append(call("BatchNormalization"))
        if draw(st.booleans()):
            layers.append(call("ReLU"))
        layers.append(same_conv(draw, filters))
    return layers


@st.composite
def residual_graphs(draw) -> Spec:
    shape = (draw(st.integers(1, 16)), draw(st.integers(1, 16)), draw(st.integers(1, 6)))
    h, w, c = shape
    statements: list[Stmt] = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["identity", "projection", "concat", "three"]))
        y, s = f"y{i}", f"s{i}"
        if kind == "identity":
            statements.append(Stmt(y, ("x",), tuple(branch(draw, c, 1))))
            merge = draw(st.sampled_from(["Add", "Average", "Maximum", "Minimum", "Multiply", "Subtract"]))
            sources = draw(st.sampled_from([(y, "x"), ("x", y)]))
            statements.append(Stmt("x", sources, (call(merge),)))
        elif kind == "projection":
            filters, stride = draw(st.integers(1, 8)), draw(st.integers(1, 3))
            statements.append(Stmt(y, ("x",), tuple(branch(draw, filters, stride))))
            shortcut = call("Conv2D", filters, 1, strides=stride, **weight_options(draw))
            statements.append(Stmt(s, ("x",), (shortcut,)))
            statements.append(Stmt("x", (y, s), (call("Add"),)))
            h, w, c = -(-h // stride), -(-w // stride), filters
        elif kind == "concat":
            filters = draw(st.integers(1, 8))
            statements.append(Stmt(y, ("x",), tuple(branch(draw, filters, 1))))
            sources = draw(st.sampled_from([(y, "x"), ("x", y)]))
            axis = draw(st.sampled_from([None, -1, 3]))
            merge = call("Concatenate") if axis is None else call("Concatenate", axis=axis)
            tail = (call("BatchNormalization"),) if draw(st.booleans()) else ()
            statements.append(Stmt("x", sources, (merge,) + tail))
            c += filters
        else:  # two branches and the input, added together
            statements.append(Stmt(y, ("x",), tuple(branch(draw, c, 1))))
            statements.append(Stmt(s, ("x",), tuple(branch(draw, c, 1))))
            statements.append(Stmt("x", (y, s, "x"), (call("Add"),)))
        if draw(st.booleans()):
            statements.append(Stmt("x", ("x",), (call(draw(st.sampled_from(["ReLU", "BatchNormalization"]))),)))
    if draw(st.booleans()):
        head = [call("GlobalAveragePooling2D")]
        dense_head(draw, head)
        statements.append(Stmt("x", ("x",), tuple(head)))
    return Spec(shape, tuple(statements))


# --- stacks that may be invalid: conv/pool size arithmetic ------------------------------------


def size_layer(draw, rank: int) -> Call:
    """A window layer with unconstrained sizes: the window may not fit, strides may meet dilation."""

    def sizes(lo: int, hi: int):
        return compact(tuple(draw(st.integers(lo, hi)) for _ in range(rank)), draw)

    kind = draw(
        st.sampled_from(
            ["Conv", "ConvTranspose", "DepthwiseConv", "SeparableConv", "MaxPooling", "AveragePooling", "Cropping"]
        )
    )
    if kind == "Cropping":
        pairs = tuple((draw(st.integers(0, 4)), draw(st.integers(0, 4))) for _ in range(rank))
        return call(f"Cropping{rank}D", pairs[0] if rank == 1 else pairs)
    if kind in ("MaxPooling", "AveragePooling"):
        strides = sizes(1, 3) if draw(st.booleans()) else None
        return call(f"{kind}{rank}D", sizes(1, 6), strides=strides, padding=draw(st.sampled_from(["valid", "same"])))
    paddings = ["valid", "same"] + (["causal"] if kind == "Conv" and rank == 1 else [])
    kwargs: dict[str, Any] = {"strides": sizes(1, 3), "padding": draw(st.sampled_from(paddings))}
    if draw(st.booleans()):
        kwargs["dilation_rate"] = sizes(1, 3)
    if kind == "ConvTranspose":
        if draw(st.booleans()):
            kwargs["output_padding"] = sizes(0, 2)
        return call(f"Conv{rank}DTranspose", draw(st.integers(1, 3)), sizes(1, 6), **kwargs)
    if kind == "DepthwiseConv":
        return call(f"DepthwiseConv{rank}D", sizes(1, 6), **kwargs)
    name = f"{kind}{rank}D"
    return call(name, draw(st.integers(1, 3)), sizes(1, 6), **kwargs)


@st.composite
def size_stacks(draw) -> Spec:
    rank = draw(st.sampled_from([1, 2]))
    shape = tuple(draw(st.integers(1, 10)) for _ in range(rank)) + (draw(st.integers(1, 3)),)
    return chain(shape, [size_layer(draw, rank) for _ in range(draw(st.integers(1, 4)))])


def keras_first_failure(spec: Spec) -> tuple[int, str] | None:
    """The index of the first layer Keras refuses to build or builds with an axis of size <= 0."""
    keras.backend.clear_session()
    value = keras.Input(shape=spec.input_shape)
    (stmt,) = spec.statements
    for i, c in enumerate(stmt.layers):
        try:
            value = c.keras_layer()(value)
        except ValueError as exc:
            return i, f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        if any(d is not None and d <= 0 for d in value.shape[1:]):
            return i, f"output shape {tuple(value.shape[1:])}"
    return None


# --- the properties -----------------------------------------------------------------------------


@SETTINGS
@given(spec=image_stacks())
def test_image_stacks_match_keras(spec: Spec) -> None:
    assert_matches_keras(spec)


@SETTINGS
@given(spec=sequence_stacks())
def test_sequence_stacks_match_keras(spec: Spec) -> None:
    assert_matches_keras(spec)


@SETTINGS
@given(spec=dense_stacks())
def test_dense_stacks_match_keras(spec: Spec) -> None:
    assert_matches_keras(spec)


@SETTINGS
@given(spec=residual_graphs())
def test_residual_graphs_match_keras(spec: Spec) -> None:
    assert_matches_keras(spec)


@SETTINGS
@given(spec=size_stacks())
def test_errors_exactly_where_keras_fails(spec: Spec) -> None:
    source, layer_lines = spec.render()
    note(source)
    result = check_source(source, "property.arch")
    errors = [d for d in result.reporter.sorted() if d.severity.value == "error"]
    failure = keras_first_failure(spec)
    event("Keras builds it" if failure is None else "Keras rejects it")
    if failure is None:
        assert result.ok, "archdsl rejects a network Keras builds:\n" + render_text(errors, result.reporter.sources)
        assert_matches_keras(spec)
        return
    index, why = failure
    assert not result.ok, f"archdsl accepts a network Keras rejects at layer {index}: {why}"
    lines = sorted({d.location.line for d in errors})
    assert lines[0] == layer_lines[index], (
        f"archdsl reports its first error at line {lines[0]}, Keras fails at layer {index} "
        f"(line {layer_lines[index]}): {why}\n" + render_text(errors, result.reporter.sources)
    )
