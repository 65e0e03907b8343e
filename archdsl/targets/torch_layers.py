"""Per-layer PyTorch rules: how each catalogued layer is built and applied.

Each rule takes a :class:`~archdsl.targets.torch.LayerCtx` and returns an
:class:`~archdsl.targets.torch.Emitted`: the module constructor (or None for stateless
operations) and the forward expression, where ``{m}`` is the module and ``{0}``, ``{1}``...
are the inputs. Helper functions used by the generated code are Jinja macros in
templates/torch/helpers.j2, named in :data:`HELPER_ORDER`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from archdsl.ir import TensorType
from archdsl.targets import pyrender as py
from archdsl.targets.torch import Emitted, LayerCtx, Unsupported

Rule = Callable[[LayerCtx], Emitted]
LAYERS: dict[str, Rule] = {}

# Helper functions the generated code may need, in the order they are emitted.
HELPER_ORDER = [
    "init_like_keras",
    "avg_pool_same",
    "rnn_outputs",
    "bidirectional_outputs",
    "Sampling",
    "MultiHeadAttention",
]
# What each helper needs imported; "math" is also a pseudo-helper that rules add when their
# code calls math.sqrt (the spec's initialisers).
HELPER_IMPORTS: dict[str, set[str]] = {
    "math": {"math"},
    "init_like_keras": set(),
    "avg_pool_same": {"F"},
    "Sampling": set(),
    "rnn_outputs": set(),
    "bidirectional_outputs": set(),
}


def rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for name in names:
            LAYERS[name] = fn
        return fn

    return register


# --- shared pieces ----------------------------------------------------------------------

ACTIVATIONS = {
    "linear": "{x}",
    "relu": "torch.relu({x})",
    "relu6": "F.relu6({x})",
    "sigmoid": "torch.sigmoid({x})",
    "hard_sigmoid": "F.hardsigmoid({x})",
    "tanh": "torch.tanh({x})",
    "softmax": "torch.softmax({x}, dim={dim})",
    "log_softmax": "torch.log_softmax({x}, dim={dim})",
    "softplus": "F.softplus({x})",
    "softsign": "F.softsign({x})",
    "elu": "F.elu({x})",
    "selu": "F.selu({x})",
    "gelu": "F.gelu({x})",
    "swish": "F.silu({x})",
    "silu": "F.silu({x})",
    "mish": "F.mish({x})",
    "leaky_relu": "F.leaky_relu({x}, 0.2)",
    "exponential": "torch.exp({x})",
}


def activate(ctx: LayerCtx, expr: str, activation: str | None, tt: TensorType | None = None) -> str:
    """Apply a Keras activation (on the last Keras axis) to a torch expression."""
    if not activation or activation == "linear":
        return expr
    template = ACTIVATIONS[activation]
    return template.format(x=expr, dim=ctx.dim(-1, tt or ctx.output))


INITIALIZERS = {
    # Keras's normal initialisers are truncated at two standard deviations.
    "glorot_uniform": "nn.init.xavier_uniform_({w})",
    "glorot_normal": "nn.init.trunc_normal_({w}, std=math.sqrt(2.0 / sum(fans({w}))), a=-2 * math.sqrt(2.0 / sum(fans({w}))), b=2 * math.sqrt(2.0 / sum(fans({w}))))",
    "he_uniform": 'nn.init.kaiming_uniform_({w}, nonlinearity="relu")',
    "he_normal": "nn.init.trunc_normal_({w}, std=math.sqrt(2.0 / fans({w})[0]), a=-2 * math.sqrt(2.0 / fans({w})[0]), b=2 * math.sqrt(2.0 / fans({w})[0]))",
    "lecun_uniform": "nn.init.uniform_({w}, -math.sqrt(3.0 / fans({w})[0]), math.sqrt(3.0 / fans({w})[0]))",
    "lecun_normal": "nn.init.trunc_normal_({w}, std=math.sqrt(1.0 / fans({w})[0]), a=-2 * math.sqrt(1.0 / fans({w})[0]), b=2 * math.sqrt(1.0 / fans({w})[0]))",
    "orthogonal": "nn.init.orthogonal_({w})",
    "zeros": "nn.init.zeros_({w})",
    "ones": "nn.init.ones_({w})",
    "random_uniform": "nn.init.uniform_({w}, -0.05, 0.05)",
    "random_normal": "nn.init.normal_({w}, std=0.05)",
    "truncated_normal": "nn.init.trunc_normal_({w}, std=0.05, a=-0.1, b=0.1)",
}


def initializers(ctx: LayerCtx, weight: str = "weight", bias: str = "bias") -> list[str]:
    """__init__ lines for initialisers the spec chose (defaults come from init_like_keras)."""
    lines = []
    kernel = ctx.layer.args.get("kernel_initializer")
    if kernel and kernel != "glorot_uniform":
        lines.append(INITIALIZERS[kernel].format(w="{m}." + weight))
        if "math." in INITIALIZERS[kernel]:
            ctx.helper("math")
    bias_init = ctx.layer.args.get("bias_initializer")
    if bias_init and bias_init != "zeros" and ctx.layer.args.get("use_bias", True):
        lines.append(INITIALIZERS[bias_init].format(w="{m}." + bias))
    return lines


def pairs(values: tuple[int, ...]) -> str:
    return py.literal(values[0] if len(set(values)) == 1 else tuple(values))


def same_pads(
    ctx: LayerCtx, kernel: tuple[int, ...], strides: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[int, ...] | None:
    """F.pad amounts (last axis first) for TF's ``same``: the odd pixel goes after."""
    spatial = ctx.input.shape[:-1][-len(kernel) :]
    pads: list[int] = []
    for size, k, s, d in reversed(list(zip(spatial, kernel, strides, dilation, strict=True))):
        if not isinstance(size, int):
            return None
        effective = (k - 1) * d + 1
        total = max((math.ceil(size / s) - 1) * s + effective - size, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


def channels_last_first(rank: int) -> tuple[str, str]:
    """permute() arguments: channels-first -> channels-last, and back, for a tensor of ``rank``
    axes (batch excluded)."""
    to_last = (0,) + tuple(range(2, rank + 1)) + (1,)
    to_first = (0, rank) + tuple(range(1, rank))
    return ", ".join(map(str, to_last)), ", ".join(map(str, to_first))


# --- core -------------------------------------------------------------------------------


@rule("Dense")
def dense(ctx: LayerCtx) -> Emitted:
    a = ctx.layer.args
    features = ctx.input.shape[-1]
    args: list[str] = [str(features), str(a["units"])]
    if not a["use_bias"]:
        args.append("bias=False")
    init = py.Call("nn.Linear", tuple(args))
    x = "{0}"
    if ctx.input.rank >= 3:  # Dense acts on the last Keras axis: the channels
        to_last, to_first = channels_last_first(ctx.input.rank)
        forward = activate(
            ctx, "{m}(" + x + f".permute({to_last}))", a["activation"], ctx.output.__class__(ctx.output.shape[-1:])
        )
        return Emitted(init, f"{forward}.permute({to_first})", initializers(ctx), "Dense acts on the channels")
    return Emitted(init, activate(ctx, "{m}(" + x + ")", a["activation"]), initializers(ctx))


@rule("Dropout")
def dropout(ctx: LayerCtx) -> Emitted:
    return Emitted(py.Call("nn.Dropout", (py.literal(ctx.layer.args["rate"]),)), "{m}({0})")


@rule("Activation")
def activation_layer(ctx: LayerCtx) -> Emitted:
    return Emitted(None, activate(ctx, "{0}", ctx.layer.args["activation"]))


@rule("ReLU")
def relu(ctx: LayerCtx) -> Emitted:
    a = ctx.layer.args
    if a.get("max_value") is None and not a.get("negative_slope") and not a.get("threshold"):
        return Emitted(py.Call("nn.ReLU", ()), "{m}({0})")
    expr = "{0}"
    if a.get("threshold"):
        slope = a.get("negative_slope") or 0.0
        expr = f"torch.where({{0}} >= {a['threshold']!r}, {{0}}, {slope!r} * ({{0}} - {a['threshold']!r}))"
    elif a.get("negative_slope"):
        expr = f"F.leaky_relu({{0}}, {a['negative_slope']!r})"
    else:
        expr = "torch.relu({0})"
    if a.get("max_value") is not None:
        expr = f"torch.clamp({expr}, max={a['max_value']!r})"
    return Emitted(None, expr)


@rule("LeakyReLU")
def leaky_relu(ctx: LayerCtx) -> Emitted:
    return Emitted(py.Call("nn.LeakyReLU", (py.literal(ctx.layer.args["negative_slope"]),)), "{m}({0})", comment=None)


@rule("ELU")
def elu(ctx: LayerCtx) -> Emitted:
    return Emitted(py.Call("nn.ELU", (py.literal(ctx.layer.args.get("alpha", 1.0)),)), "{m}({0})")


@rule("Softmax")
def softmax(ctx: LayerCtx) -> Emitted:
    return Emitted(py.Call("nn.Softmax", (f"dim={ctx.dim(ctx.layer.args['axis'])}",)), "{m}({0})")


# --- reshaping --------------------------------------------------------------------------


@rule("Flatten")
def flatten(ctx: LayerCtx) -> Emitted:
    if ctx.input.rank >= 3:
        to_last, _ = channels_last_first(ctx.input.rank)
        return Emitted(
            None, f"torch.flatten({{0}}.permute({to_last}), 1)", comment="flatten in channels-last order, as Keras does"
        )
    return Emitted(None, "torch.flatten({0}, 1)")


@rule("Reshape")
def reshape(ctx: LayerCtx) -> Emitted:
    x = "{0}"
    comment = None
    if ctx.input.rank >= 3:
        to_last, _ = channels_last_first(ctx.input.rank)
        x = f"{x}.permute({to_last})"
        comment = "reshape in channels-last order, as Keras does"
    target = ", ".join(str(d) for d in ctx.output.shape)
    expr = f"{x}.reshape(-1, {target})"
    if ctx.output.rank >= 3:
        _, to_first = channels_last_first(ctx.output.rank)
        expr += f".permute({to_first})"
        comment = "reshape in channels-last order, as Keras does, then move channels first"
    return Emitted(None, expr, comment=comment)


@rule("RepeatVector")
def repeat_vector(ctx: LayerCtx) -> Emitted:
    return Emitted(None, f"{{0}}.unsqueeze(1).repeat(1, {ctx.layer.args['n']}, 1)")


@rule("ZeroPadding2D")
def zero_padding2d(ctx: LayerCtx) -> Emitted:
    (top, bottom), (left, right) = ctx.layer.args["padding"]
    return Emitted(py.Call("nn.ZeroPad2d", (py.literal((left, right, top, bottom)),)), "{m}({0})")


@rule("Cropping2D")
def cropping2d(ctx: LayerCtx) -> Emitted:
    (top, bottom), (left, right) = ctx.layer.args["cropping"]
    h = f"{top}:{-bottom}" if bottom else f"{top}:"
    w = f"{left}:{-right}" if right else f"{left}:"
    return Emitted(None, f"{{0}}[:, :, {h}, {w}]")


@rule("UpSampling2D")
def upsampling2d(ctx: LayerCtx) -> Emitted:
    size = ctx.layer.args["size"]
    mode = ctx.layer.args.get("interpolation", "nearest")
    args = [f"scale_factor={pairs(size)}", f"mode={py.string(mode)}"]
    return Emitted(py.Call("nn.Upsample", tuple(args)), "{m}({0})")


# --- convolution and pooling ------------------------------------------------------------


def _conv(ctx: LayerCtx, rank: int) -> Emitted:
    a = ctx.layer.args
    kernel, strides, dilation = a["kernel_size"], a["strides"], a["dilation_rate"]
    channels = ctx.input.shape[-1]
    args: list[str] = [str(channels), str(a["filters"]), pairs(kernel)]
    if any(s != 1 for s in strides):
        args.append(f"stride={pairs(strides)}")
    pad_expr = "{0}"
    comment = None
    padding = a["padding"]
    if padding == "same":
        if all(s == 1 for s in strides):
            args.append('padding="same"')
        else:
            pads = same_pads(ctx, kernel, strides, dilation)
            if pads is None:
                raise Unsupported('padding="same" with strides > 1 on an unknown size')
            if any(pads):
                pad_expr = f"F.pad({{0}}, {py.literal(pads)})"
                comment = "TF-style same padding: the odd pixel goes after"
    elif padding == "causal":
        pad_expr = f"F.pad({{0}}, ({(kernel[0] - 1) * dilation[0]}, 0))"
        comment = "causal padding: pad the past only"
    if any(d != 1 for d in dilation):
        args.append(f"dilation={pairs(dilation)}")
    if a.get("groups", 1) != 1:
        args.append(f"groups={a['groups']}")
    if not a["use_bias"]:
        args.append("bias=False")
    init = py.Call(f"nn.Conv{rank}d", tuple(args))
    if rank == 1:  # sequences are (N, T, F); Conv1d wants (N, F, T)
        forward = activate(
            ctx, "{m}(" + pad_expr.replace("{0}", "{0}.transpose(1, 2)") + ").transpose(1, 2)", a["activation"]
        )
    else:
        forward = activate(ctx, "{m}(" + pad_expr + ")", a["activation"])
    return Emitted(init, forward, initializers(ctx), comment)


@rule("Conv1D")
def conv1d(ctx: LayerCtx) -> Emitted:
    return _conv(ctx, 1)


@rule("Conv2D")
def conv2d(ctx: LayerCtx) -> Emitted:
    return _conv(ctx, 2)


@rule("Conv3D")
def conv3d(ctx: LayerCtx) -> Emitted:
    return _conv(ctx, 3)


@rule("Conv2DTranspose")
def conv2d_transpose(ctx: LayerCtx) -> Emitted:
    a = ctx.layer.args
    kernel, strides = a["kernel_size"], a["strides"]
    dilation = a.get("dilation_rate", (1, 1))
    channels = ctx.input.shape[-1]
    args: list[str] = [str(channels), str(a["filters"]), pairs(kernel)]
    if any(s != 1 for s in strides):
        args.append(f"stride={pairs(strides)}")
    if any(d != 1 for d in dilation):
        args.append(f"dilation={pairs(dilation)}")
    # Run without padding and crop like TensorFlow: it keeps the window that starts at
    # (full - out) // 2, which torch's padding/output_padding cannot express in general.
    out_h, out_w = ctx.output.shape[0], ctx.output.shape[1]
    in_h, in_w = ctx.input.shape[0], ctx.input.shape[1]
    full = [(n - 1) * s + (k - 1) * d + 1 for n, s, k, d in zip((in_h, in_w), strides, kernel, dilation, strict=True)]
    extra = [max(o - f, 0) for o, f in zip((out_h, out_w), full, strict=True)]
    if any(extra):
        args.append(f"output_padding={pairs(tuple(extra))}")
        full = [f + e for f, e in zip(full, extra, strict=True)]
    if not a["use_bias"]:
        args.append("bias=False")
    crops = [(f - o) // 2 for f, o in zip(full, (out_h, out_w), strict=True)]
    forward = "{m}({0})"
    comment = None
    if any(f != o for f, o in zip(full, (out_h, out_w), strict=True)):
        forward += f"[:, :, {crops[0]}:{crops[0] + out_h}, {crops[1]}:{crops[1] + out_w}]"
        comment = 'crop the full transposed convolution as TensorFlow\'s padding="same" does'
    init = py.Call("nn.ConvTranspose2d", tuple(args))
    return Emitted(init, activate(ctx, forward, a["activation"]), initializers(ctx), comment)


def _pool(ctx: LayerCtx, rank: int, kind: str) -> Emitted:
    a = ctx.layer.args
    size = a["pool_size"]
    strides = a["strides"] or size
    args = [pairs(size)]
    if tuple(strides) != tuple(size):
        args.append(f"stride={pairs(strides)}")
    x = "{0}.transpose(1, 2)" if rank == 1 else "{0}"
    back = ".transpose(1, 2)" if rank == 1 else ""
    comment = None
    if a["padding"] == "same":
        pads = same_pads(ctx, size, strides, (1,) * rank)
        if pads is None:
            raise Unsupported('pooling with padding="same" on an unknown size')
        if any(pads):
            if kind == "Max":
                x = f'F.pad({x}, {py.literal(pads)}, value=float("-inf"))'
                comment = "TF-style same padding; padded positions never win the max"
            else:
                ctx.helper("avg_pool_same")
                stride_text = pairs(strides)
                return Emitted(
                    None,
                    f"avg_pool_same({x}, {pairs(size)}, {stride_text}, {py.literal(pads)}){back}",
                    comment="TF-style same padding; padded positions are left out of each average",
                )
    module = f"nn.{kind}Pool{rank}d"
    return Emitted(py.Call(module, tuple(args)), "{m}(" + x + ")" + back, comment=comment)


@rule("MaxPooling1D")
def max_pooling1d(ctx: LayerCtx) -> Emitted:
    return _pool(ctx, 1, "Max")


@rule("MaxPooling2D")
def max_pooling2d(ctx: LayerCtx) -> Emitted:
    return _pool(ctx, 2, "Max")


@rule("AveragePooling1D")
def average_pooling1d(ctx: LayerCtx) -> Emitted:
    return _pool(ctx, 1, "Avg")


@rule("AveragePooling2D")
def average_pooling2d(ctx: LayerCtx) -> Emitted:
    return _pool(ctx, 2, "Avg")


def _global_pool(ctx: LayerCtx, kind: str) -> Emitted:
    rank = ctx.input.rank
    dims = (1,) if rank == 2 else tuple(range(2, rank + 1))
    keep = ctx.layer.args.get("keepdims", False)
    dim_text = str(dims[0]) if len(dims) == 1 else py.literal(dims)
    fn = "mean" if kind == "Average" else "amax"
    expr = f"{{0}}.{fn}(dim={dim_text}" + (", keepdim=True)" if keep else ")")
    if keep and rank == 2:
        return Emitted(None, expr)
    return Emitted(None, expr)


@rule("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D")
def global_average_pooling(ctx: LayerCtx) -> Emitted:
    return _global_pool(ctx, "Average")


@rule("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D")
def global_max_pooling(ctx: LayerCtx) -> Emitted:
    return _global_pool(ctx, "Max")


# --- normalization ----------------------------------------------------------------------


@rule("BatchNormalization")
def batch_normalization(ctx: LayerCtx) -> Emitted:
    a = ctx.layer.args
    if ctx.dim(a["axis"]) != (1 if ctx.input.rank != 2 else 2):
        raise Unsupported("BatchNormalization over an axis other than the channels")
    channels = ctx.input.shape[-1]
    rank = ctx.input.rank
    kind = {1: "1d", 2: "1d", 3: "2d", 4: "3d"}[rank]
    args = [str(channels), f"eps={a['epsilon']!r}", f"momentum={round(1 - a['momentum'], 10)!r}"]
    after: list[str] = []
    if not a["center"] and not a["scale"]:
        args.append("affine=False")
    elif not a["center"]:
        after.append("{m}.bias.requires_grad_(False)  # center=False: no beta")
    elif not a["scale"]:
        after.append("{m}.weight.requires_grad_(False)  # scale=False: no gamma")
    init = py.Call(f"nn.BatchNorm{kind}", tuple(args))
    if rank == 2:  # (N, T, F): BatchNorm1d wants the features in dim 1
        return Emitted(init, "{m}({0}.transpose(1, 2)).transpose(1, 2)", after)
    return Emitted(init, "{m}({0})", after)


@rule("LayerNormalization")
def layer_normalization(ctx: LayerCtx) -> Emitted:
    a = ctx.layer.args
    axis = a["axis"]
    if axis not in (-1, ctx.input.rank) and axis != (-1,):
        raise Unsupported("LayerNormalization over axes other than the last")
    channels = ctx.input.shape[-1]
    args = [str(channels), f"eps={a['epsilon']!r}"]
    if not a["center"] and not a["scale"]:
        args.append("elementwise_affine=False")
    init = py.Call("nn.LayerNorm", tuple(args))
    if ctx.input.rank >= 3:
        to_last, to_first = channels_last_first(ctx.input.rank)
        return Emitted(
            init, f"{{m}}({{0}}.permute({to_last})).permute({to_first})", comment="normalise over the channels"
        )
    return Emitted(init, "{m}({0})")


# --- embedding and recurrent --------------------------------------------------------------


@rule("Embedding")
def embedding(ctx: LayerCtx) -> Emitted:
    a = ctx.layer.args
    init = py.Call("nn.Embedding", (str(a["input_dim"]), str(a["output_dim"])))
    after = []
    initializer = a.get("embeddings_initializer", "uniform")
    if initializer == "uniform":
        after.append("nn.init.uniform_({m}.weight, -0.05, 0.05)")
    elif initializer in INITIALIZERS:
        after.append(INITIALIZERS[initializer].format(w="{m}.weight"))
    return Emitted(init, "{m}({0})", after)


RNN_MODULES = {"SimpleRNN": "nn.RNN", "LSTM": "nn.LSTM", "GRU": "nn.GRU"}


def _rnn_module(ctx: LayerCtx, inner_args: dict, features: int, bidirectional: bool) -> py.Call:
    op = ctx.layer.inner.op if ctx.layer.op == "Bidirectional" else ctx.layer.op
    args = [str(features), str(inner_args["units"]), "batch_first=True"]
    if op == "SimpleRNN" and inner_args.get("activation") == "relu":
        args.append('nonlinearity="relu"')
    elif inner_args.get("activation") not in ("tanh",):
        raise Unsupported(f"{op} with activation={inner_args.get('activation')!r}: PyTorch's fused {op} only has tanh")
    if op in ("LSTM", "GRU") and inner_args.get("recurrent_activation", "sigmoid") != "sigmoid":
        raise Unsupported(f"{op} with recurrent_activation={inner_args['recurrent_activation']!r}")
    if op == "GRU" and not inner_args.get("reset_after", True):
        raise Unsupported("GRU with reset_after=False has no PyTorch equivalent")
    if not inner_args.get("use_bias", True):
        args.append("bias=False")
    if bidirectional:
        args.append("bidirectional=True")
    return py.Call(RNN_MODULES[op], tuple(args))


@rule("SimpleRNN", "LSTM", "GRU")
def recurrent(ctx: LayerCtx) -> Emitted:
    a = ctx.layer.args
    init = _rnn_module(ctx, a, ctx.input.shape[-1], False)
    after = _rnn_init(ctx.layer.op, a, bidirectional=False)
    x, comment = _rnn_input(a)
    sequences = a.get("return_sequences", False)
    if not a.get("return_state", False):
        forward = "{m}(" + x + ")[0]" + ("" if sequences else "[:, -1]")
        return Emitted(init, forward, after, comment)
    ctx.helper("rnn_outputs")
    return Emitted(init, f"rnn_outputs({{m}}({x}), return_sequences={sequences})", after, comment, len(ctx.outputs))


@rule("Bidirectional")
def bidirectional(ctx: LayerCtx) -> Emitted:
    inner = ctx.layer.inner
    assert inner is not None
    a = dict(inner.args)
    init = _rnn_module(ctx, a, ctx.input.shape[-1], True)
    after = _rnn_init(inner.op, a, bidirectional=True)
    x, comment = _rnn_input(a)
    ctx.helper("bidirectional_outputs")
    options = [
        str(a["units"]),
        f"return_sequences={a.get('return_sequences', False)}",
        f"merge_mode={py.literal(ctx.layer.args['merge_mode'])}",
    ]
    if a.get("return_state"):
        options.append("return_state=True")
    return Emitted(init, f"bidirectional_outputs({{m}}({x}), {', '.join(options)})", after, comment, len(ctx.outputs))


def _rnn_input(a: dict) -> tuple[str, str | None]:
    x = "torch.flip({0}, [1])" if a.get("go_backwards") else "{0}"
    if a.get("dropout"):
        return f"F.dropout({x}, {a['dropout']!r}, self.training)", "Keras applies the layer's dropout to its inputs"
    return x, None


def _rnn_init(op: str, a: dict, bidirectional: bool) -> list[str]:
    """Keras's LSTM forget-gate bias of 1 (unit_forget_bias); other defaults come from
    init_like_keras."""
    lines = []
    if op == "LSTM" and a.get("unit_forget_bias", True) and a.get("use_bias", True):
        units = a["units"]
        for suffix in ["l0"] + (["l0_reverse"] if bidirectional else []):
            lines.append(f"nn.init.ones_({{m}}.bias_ih_{suffix}.data[{units}:{2 * units}])  # forget gate starts open")
    return lines


@rule("TimeDistributed")
def time_distributed(ctx: LayerCtx) -> Emitted:
    """Fold time into the batch, apply the layer, unfold."""
    inner = ctx.layer.inner
    assert inner is not None
    inner_in = [TensorType(t.shape[1:], t.dtype) for t in ctx.inputs]
    inner_out = [TensorType(t.shape[1:], t.dtype) for t in ctx.outputs]
    inner_ctx = LayerCtx(inner, inner_in, inner_out, ctx.args_in, ctx.attr, ctx.emitter, False)
    rule_fn = LAYERS.get(inner.op)
    if rule_fn is None:
        raise Unsupported(f"the torch target has no rule for {inner.op}")
    emitted = rule_fn(inner_ctx)
    forward = "(" + emitted.forward.replace("{0}", "{0}.flatten(0, 1)") + ").unflatten(0, {0}.shape[:2])"
    return Emitted(
        emitted.init, forward, emitted.init_after, "TimeDistributed: fold time into the batch, apply, unfold"
    )


# --- merges --------------------------------------------------------------------------------


def _elementwise(op: str) -> Rule:
    def emit(ctx: LayerCtx) -> Emitted:
        n = len(ctx.inputs)
        names = [f"{{{i}}}" for i in range(n)]
        if op in ("+", "*"):
            return Emitted(None, f" {op} ".join(names))
        if op == "-":
            return Emitted(None, f"{names[0]} - {names[1]}")
        if op == "mean":
            return Emitted(None, f"({' + '.join(names)}) / {n}")
        fn = "torch.maximum" if op == "max" else "torch.minimum"
        expr = names[0]
        for other in names[1:]:
            expr = f"{fn}({expr}, {other})"
        return Emitted(None, expr)

    return emit


LAYERS["Add"] = _elementwise("+")
LAYERS["Subtract"] = _elementwise("-")
LAYERS["Multiply"] = _elementwise("*")
LAYERS["Average"] = _elementwise("mean")
LAYERS["Maximum"] = _elementwise("max")
LAYERS["Minimum"] = _elementwise("min")


@rule("Concatenate")
def concatenate(ctx: LayerCtx) -> Emitted:
    dim = ctx.dim(ctx.layer.args["axis"])
    names = ", ".join(f"{{{i}}}" for i in range(len(ctx.inputs)))
    return Emitted(None, f"torch.cat([{names}], dim={dim})")


# --- VAE -----------------------------------------------------------------------------------


@rule("Sampling")
def sampling(ctx: LayerCtx) -> Emitted:
    ctx.helper("Sampling")
    return Emitted(py.Call("Sampling", (f"kl_weight={ctx.layer.args['kl_weight']!r}",)), "{m}({0}, {1})")
