"""Per-layer PyTorch rules: how each catalogued layer is built and applied.

Each rule takes a :class:`~archdsl.targets.torch.LayerCtx` and returns an
:class:`~archdsl.targets.torch.Emitted`: the module constructor (or None for stateless
operations) and the forward expression, where ``{m}`` is the module and ``{0}``, ``{1}``...
are the inputs. Helper functions used by the generated code are Jinja macros in
templates/torch/helpers.j2, named in :data:`HELPER_ORDER`.

Rules build their forward expressions as small :class:`Code` trees rather than strings, so
that :func:`_finish` can lay a long expression out the way ``ruff format`` would (one
argument per line, with a magic trailing comma) and TimeDistributed can rewrite the input
of the rule it wraps.

Layouts: a Keras tensor of rank >= 3 (batch excluded) is channels-first in PyTorch
(``(H, W, C)`` -> ``(C, H, W)``); ranks 1 and 2 keep their order (see
:func:`archdsl.targets.torch.torch_order`). Every rule converts between the two where the
operation depends on the order of the axes.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from archdsl.ir import TensorType
from archdsl.targets import pyrender as py
from archdsl.targets.torch import Emitted, LayerCtx, Unsupported, torch_order

Rule = Callable[[LayerCtx], Emitted]
LAYERS: dict[str, Rule] = {}

# Helper functions the generated code may need, in the order they are emitted.
HELPER_ORDER = [
    "init_like_keras",
    "avg_pool_same",
    "rnn_outputs",
    "bidirectional_outputs",
    "SeparableConv",
    "Sampling",
    "Attention",
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
    "SeparableConv": set(),
    "Attention": set(),
    "MultiHeadAttention": {"math"},
}


# --- code trees and their layout ----------------------------------------------------------


@dataclass(frozen=True)
class Code:
    """A call ``func(args...)`` followed by ``tail`` (``.transpose(1, 2)``, ``[:, -1]``...).

    Arguments are Code or pre-rendered text. Placeholders ``{m}``, ``{0}``, ``{1}``... are
    replaced by the module and the input variables when the rule's result is finished.
    """

    func: str
    args: tuple[Code | str, ...] = ()
    tail: str = ""
    brackets: str = "()"  # "[]" with func "" is a list


Expr = Code | str


def call(func: str, *args: Expr, tail: str = "") -> Code:
    return Code(func, tuple(args), tail)


def flat(expr: Expr) -> str:
    if isinstance(expr, str):
        return expr
    opening, closing = expr.brackets
    return f"{expr.func}{opening}{', '.join(flat(a) for a in expr.args)}{closing}{expr.tail}"


def _is_primary(text: str) -> bool:
    """Whether ``text`` can take a postfix (``.x``, ``[i]``) without parentheses."""
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch in " +-*/%<>=!&|@~":
            return False
    return True


def then(expr: Expr, tail: str) -> Expr:
    """``expr`` followed by a postfix such as ``.transpose(1, 2)``."""
    if not tail:
        return expr
    if isinstance(expr, Code):
        return replace(expr, tail=expr.tail + tail)
    return expr + tail if _is_primary(expr) else f"({expr}){tail}"


def substitute(expr: Expr, names: dict[str, str]) -> Expr:
    """Replace placeholders (``{0}``, ``{m}``...) in every part of ``expr``."""

    def text(s: str) -> str:
        for key, value in names.items():
            s = s.replace(key, value)
        return s

    if isinstance(expr, str):
        return text(expr)
    return replace(
        expr, func=text(expr.func), args=tuple(substitute(a, names) for a in expr.args), tail=text(expr.tail)
    )


def substitute_input(expr: Expr, replacement: Code) -> Expr:
    """Replace the input ``{0}`` by ``replacement`` where it starts a part of ``expr`` (keeping
    what follows it, ``.transpose(1, 2)``...), and as text elsewhere."""
    if isinstance(expr, str):
        rest = expr[3:]
        if expr.startswith("{0}") and "{0}" not in rest and (not rest or rest[0] in ".[") and _is_primary(rest):
            return then(replacement, rest)
        return expr.replace("{0}", flat(replacement))
    if expr.func.startswith("{0}") and "{0}" not in expr.func[3:] and _is_primary(expr.func[3:]):
        args = tuple(substitute_input(a, replacement) for a in expr.args)
        return replace(
            expr, func=flat(replacement) + expr.func[3:], args=args, tail=expr.tail.replace("{0}", flat(replacement))
        )
    args = tuple(substitute_input(a, replacement) for a in expr.args)
    text = flat(replacement)
    return replace(expr, func=expr.func.replace("{0}", text), args=args, tail=expr.tail.replace("{0}", text))


BODY = "        "  # statements in __init__ and forward are indented twice
TARGET_ROOM = 16  # room kept for the ``name = `` that the emitter writes before a forward expression


def _parse_call(text: str) -> Code | None:
    """``text`` as a Code tree when it is a call (the pieces keep their spelling), else None."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call) or not (node.args or node.keywords):
        return None
    pieces = [ast.get_source_segment(text, part) for part in [node.func, *node.args, *node.keywords]]
    if any(piece is None for piece in pieces):
        return None
    func, *args = pieces
    assert func is not None
    if text != f"{func}({', '.join(args)})":  # type: ignore[arg-type]
        return None
    return Code(func, tuple(args))  # type: ignore[arg-type]


def _layout(expr: Expr, indent: str, head: str, tail: str) -> list[str]:
    """``head + expr + tail`` as ruff formats it: on one line when it fits, else the call's
    arguments one per line with a trailing comma (a layout ruff keeps as it is).

    Rules keep at most one method call after a call in a chain (``f(x).transpose(1, 2)``, not
    ``f(x).a().b()``): ruff lays longer chains out "fluently", one call per line, and this
    function does not. That is why TimeDistributed uses torch.flatten/torch.unflatten.
    """
    text = indent + head + flat(expr) + tail
    if len(text) <= py.LINE_LENGTH:
        return [text]
    if isinstance(expr, str):
        parsed = _parse_call(expr)
        return [text] if parsed is None else _layout(parsed, indent, head, tail)
    if not expr.args:
        return [text]
    opening, closing = expr.brackets
    lines = [f"{indent}{head}{expr.func}{opening}"]
    for arg in expr.args:
        lines += _layout(arg, indent + py.INDENT, "", ",")
    lines.append(f"{indent}{closing}{expr.tail}{tail}")
    return lines


def _escape(text: str) -> str:
    """The emitter calls str.format on what a rule returns: keep literal braces."""
    return text.replace("{", "{{").replace("}", "}}")


@dataclass
class Piece:
    """What a rule computes, before layout: see :class:`archdsl.targets.torch.Emitted`."""

    init: py.Expr | None
    forward: Expr
    init_after: list[Expr] = field(default_factory=list)  # statements; "# ..." text is a comment line
    comment: str | None = None
    outputs: int = 1


def _finish(ctx: LayerCtx, piece: Piece) -> Emitted:
    names = {"{m}": ctx.attr, **{f"{{{i}}}": name for i, name in enumerate(ctx.args_in)}}
    forward = _layout(substitute(piece.forward, names), BODY, " " * TARGET_ROOM, "")
    forward[0] = forward[0][len(BODY) + TARGET_ROOM :]
    after: list[str] = []
    for statement in piece.init_after:
        if isinstance(statement, str) and statement.startswith("#"):
            after.append(statement)
            continue
        lines = _layout(substitute(statement, {"{m}": ctx.attr}), BODY, "", "")
        after += [line[len(BODY) :] for line in lines]
    return Emitted(
        piece.init,
        _escape("\n".join(forward)),
        [_escape(line) for line in after],
        piece.comment,
        piece.outputs,
    )


PIECES: dict[str, Callable[[LayerCtx], Piece]] = {}


def rule(*names: str) -> Callable[[Callable[[LayerCtx], Piece]], Callable[[LayerCtx], Piece]]:
    """Register a rule for the layers ``names``; it returns a :class:`Piece`."""

    def register(fn: Callable[[LayerCtx], Piece]) -> Callable[[LayerCtx], Piece]:
        def emit(ctx: LayerCtx) -> Emitted:
            return _finish(ctx, fn(ctx))

        emit.__name__ = emit.__qualname__ = fn.__name__
        emit.__doc__ = fn.__doc__
        for name in names:
            PIECES[name] = fn
            LAYERS[name] = emit
        return fn

    return register


# --- shared pieces ----------------------------------------------------------------------

# Keras activation -> (torch function, extra arguments); "{dim}" is the channels dim.
ACTIVATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "relu": ("torch.relu", ()),
    "relu6": ("F.relu6", ()),
    "sigmoid": ("torch.sigmoid", ()),
    "hard_sigmoid": ("F.hardsigmoid", ()),  # Keras 3: relu6(x + 3) / 6, as PyTorch
    "tanh": ("torch.tanh", ()),
    "softmax": ("torch.softmax", ("dim={dim}",)),
    "log_softmax": ("torch.log_softmax", ("dim={dim}",)),
    "softplus": ("F.softplus", ()),
    "softsign": ("F.softsign", ()),
    "elu": ("F.elu", ()),
    "selu": ("F.selu", ()),
    "gelu": ("F.gelu", ()),  # Keras's default approximate=False is PyTorch's default too
    "swish": ("F.silu", ()),
    "silu": ("F.silu", ()),
    "mish": ("F.mish", ()),
    "leaky_relu": ("F.leaky_relu", ("0.2",)),  # the activation's slope is 0.2 (the layer's 0.3)
    "exponential": ("torch.exp", ()),
}


def activate(ctx: LayerCtx, expr: Expr, activation: str | None, tt: TensorType | None = None) -> Expr:
    """Apply a Keras activation (softmax over the last Keras axis of ``tt``, by default the
    output) to a torch expression."""
    if not activation or activation == "linear":
        return expr
    func, extra = ACTIVATIONS[activation]
    dim = ctx.dim(-1, tt or ctx.output)
    return call(func, expr, *(e.format(dim=dim) for e in extra))


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


# nn.init's Glorot and He initialisers refuse vectors; Keras uses fan_in = fan_out = size.
VECTOR_INITIALIZERS = {
    "glorot_uniform": "nn.init.uniform_({w}, -math.sqrt(6.0 / sum(fans({w}))), math.sqrt(6.0 / sum(fans({w}))))",
    "he_uniform": "nn.init.uniform_({w}, -math.sqrt(6.0 / fans({w})[0]), math.sqrt(6.0 / fans({w})[0]))",
}


def _init_code(name: str, weight: str, vector: bool = False, fans: tuple[int, int] | None = None) -> Code:
    """The initialiser ``name`` applied to ``weight`` as a code tree (for the layout).

    ``fans`` replaces the (fan_in, fan_out) that fans() would compute from the torch weight,
    for kernels whose Keras shape gives other fans (depthwise kernels).
    """
    table = VECTOR_INITIALIZERS if (vector or fans) and name in VECTOR_INITIALIZERS else INITIALIZERS
    text = table[name].format(w=weight)
    if fans is not None:
        text = text.replace(f"sum(fans({weight}))", f"({fans[0]} + {fans[1]})")
        text = text.replace(f"fans({weight})[0]", str(fans[0]))
    func, _, rest = text.partition("(")
    args = _split_args(rest[:-1])
    return call(func, *args)


def _split_args(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def initializers(
    ctx: LayerCtx,
    weight: str = "weight",
    bias: str = "bias",
    kernel_key: str = "kernel_initializer",
    with_bias: bool = True,
    kernel_fans: tuple[int, int] | None = None,
) -> list[Expr]:
    """__init__ lines for initialisers the spec chose (defaults come from init_like_keras).

    With ``kernel_fans`` the kernel's line is always written, with those fans.
    """
    lines: list[Expr] = []
    kernel = ctx.layer.args.get(kernel_key)
    if kernel_fans is not None or (kernel and kernel != "glorot_uniform"):
        lines.append(_init_code(kernel or "glorot_uniform", "{m}." + weight, fans=kernel_fans))
        if "math." in flat(lines[-1]):
            ctx.helper("math")
    bias_init = ctx.layer.args.get("bias_initializer")
    if with_bias and bias_init and bias_init != "zeros" and ctx.layer.args.get("use_bias", True):
        lines.append(_init_code(bias_init, "{m}." + bias, vector=True))
        if "math." in flat(lines[-1]):
            ctx.helper("math")
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


def permute_text(perm: list[int]) -> str:
    """``.permute(...)`` (or ``.transpose(i, j)`` for a swap) reordering torch dims; "" for none."""
    if perm == sorted(perm):
        return ""
    moved = [i for i, p in enumerate(perm) if p != i]
    if len(moved) == 2:
        return f".transpose({moved[0]}, {moved[1]})"
    return f".permute({', '.join(map(str, perm))})"


def to_channels_last(tt: TensorType, time_distributed: bool = False) -> str:
    """The postfix that turns ``tt``'s torch layout into Keras's axis order."""
    order = torch_order(tt, time_distributed)
    return permute_text([0] + [1 + order.index(k) for k in range(tt.rank)])


def from_channels_last(tt: TensorType, time_distributed: bool = False) -> str:
    """The postfix that turns Keras's axis order into ``tt``'s torch layout."""
    return permute_text([0] + [1 + k for k in torch_order(tt, time_distributed)])


def _keras_index(axis: int, rank: int) -> int:
    """A Keras axis (batch = 0, negative from the end) as an index into the batch-free shape."""
    return axis - 1 if axis > 0 else rank + axis


# --- core -------------------------------------------------------------------------------


@rule("Dense")
def dense(ctx: LayerCtx) -> Piece:
    a = ctx.layer.args
    features = ctx.input.shape[-1]
    args: list[str] = [str(features), str(a["units"])]
    if not a["use_bias"]:
        args.append("bias=False")
    init = py.Call("nn.Linear", tuple(args))
    last = to_channels_last(ctx.input, ctx.time_distributed)
    # Dense acts on the last Keras axis: the channels, dim 1 of a channels-first tensor.
    forward = call("{m}", "{0}" + last, tail=from_channels_last(ctx.output, ctx.time_distributed))
    comment = "Dense acts on the channels" if last else None
    return Piece(init, activate(ctx, forward, a["activation"]), initializers(ctx), comment)


@rule("Dropout")
def dropout(ctx: LayerCtx) -> Piece:
    return Piece(py.Call("nn.Dropout", (py.literal(ctx.layer.args["rate"]),)), call("{m}", "{0}"))


@rule("Activation")
def activation_layer(ctx: LayerCtx) -> Piece:
    return Piece(None, activate(ctx, "{0}", ctx.layer.args["activation"]))


@rule("ReLU")
def relu(ctx: LayerCtx) -> Piece:
    a = ctx.layer.args
    max_value, slope, threshold = a.get("max_value"), a.get("negative_slope") or 0.0, a.get("threshold") or 0.0
    if max_value is None and not slope and not threshold:
        return Piece(py.Call("nn.ReLU", ()), call("{m}", "{0}"))
    expr: Expr
    if threshold:
        # Keras keeps x only where x > threshold (0 at the threshold itself).
        below = f"{slope!r} * ({{0}} - {threshold!r})" if slope else "0.0"
        positive = call("torch.clamp", "{0}", f"max={max_value!r}") if max_value is not None else "{0}"
        return Piece(None, call("torch.where", f"{{0}} > {threshold!r}", positive, below))
    expr = call("F.leaky_relu", "{0}", repr(slope)) if slope else call("torch.relu", "{0}")
    if max_value is not None:
        expr = call("torch.clamp", expr, f"max={max_value!r}")
    return Piece(None, expr)


@rule("LeakyReLU")
def leaky_relu(ctx: LayerCtx) -> Piece:
    return Piece(py.Call("nn.LeakyReLU", (py.literal(ctx.layer.args["negative_slope"]),)), call("{m}", "{0}"))


@rule("ELU")
def elu(ctx: LayerCtx) -> Piece:
    return Piece(py.Call("nn.ELU", (py.literal(ctx.layer.args.get("alpha", 1.0)),)), call("{m}", "{0}"))


@rule("Softmax")
def softmax(ctx: LayerCtx) -> Piece:
    return Piece(py.Call("nn.Softmax", (f"dim={ctx.dim(ctx.layer.args['axis'])}",)), call("{m}", "{0}"))


# --- reshaping --------------------------------------------------------------------------


@rule("Flatten")
def flatten(ctx: LayerCtx) -> Piece:
    last = to_channels_last(ctx.input, ctx.time_distributed)
    comment = "flatten in channels-last order, as Keras does" if last else None
    return Piece(None, call("torch.flatten", "{0}" + last, "1"), comment=comment)


@rule("Reshape")
def reshape(ctx: LayerCtx) -> Piece:
    last = to_channels_last(ctx.input, ctx.time_distributed)
    first = from_channels_last(ctx.output, ctx.time_distributed)
    target = [str(d) for d in ctx.layer.args["target_shape"]]
    comment = None
    if last or first:
        comment = "reshape in channels-last order, as Keras does"
    shape = "(" + ", ".join(["{0}.shape[0]", *target]) + ")"
    return Piece(None, call("torch.reshape", "{0}" + last, shape, tail=first), comment=comment)


@rule("Permute")
def permute(ctx: LayerCtx) -> Piece:
    dims = ctx.layer.args["dims"]
    order_in = torch_order(ctx.input, ctx.time_distributed)
    order_out = torch_order(ctx.output, ctx.time_distributed)
    # Output Keras axis q is input Keras axis dims[q] - 1; find both in the torch layouts.
    perm = [0] + [1 + order_in.index(dims[q] - 1) for q in order_out]
    return Piece(None, "{0}" + permute_text(perm))


@rule("RepeatVector")
def repeat_vector(ctx: LayerCtx) -> Piece:
    return Piece(None, f"{{0}}.unsqueeze(1).repeat(1, {ctx.layer.args['n']}, 1)")


def _spatial_slices(ctx: LayerCtx, amounts: tuple[tuple[int, int], ...]) -> str:
    parts = [(f"{a}" if a else "") + ":" + (f"{-b}" if b else "") for a, b in amounts]
    lead = ":" if ctx.input.rank == 2 else ":, :"
    return f"[{lead}, {', '.join(parts)}]"


@rule("ZeroPadding1D")
def zero_padding1d(ctx: LayerCtx) -> Piece:
    ((before, after),) = ctx.layer.args["padding"]
    return Piece(None, call("F.pad", "{0}", py.literal((0, 0, before, after))))


@rule("ZeroPadding2D")
def zero_padding2d(ctx: LayerCtx) -> Piece:
    (top, bottom), (left, right) = ctx.layer.args["padding"]
    return Piece(py.Call("nn.ZeroPad2d", (py.literal((left, right, top, bottom)),)), call("{m}", "{0}"))


@rule("ZeroPadding3D")
def zero_padding3d(ctx: LayerCtx) -> Piece:
    (d0, d1), (h0, h1), (w0, w1) = ctx.layer.args["padding"]
    return Piece(py.Call("nn.ZeroPad3d", (py.literal((w0, w1, h0, h1, d0, d1)),)), call("{m}", "{0}"))


@rule("Cropping1D", "Cropping2D", "Cropping3D")
def cropping(ctx: LayerCtx) -> Piece:
    return Piece(None, "{0}" + _spatial_slices(ctx, ctx.layer.args["cropping"]))


@rule("UpSampling1D")
def upsampling1d(ctx: LayerCtx) -> Piece:
    return Piece(None, call("torch.repeat_interleave", "{0}", str(ctx.layer.args["size"]), "dim=1"))


@rule("UpSampling2D", "UpSampling3D")
def upsampling(ctx: LayerCtx) -> Piece:
    size = ctx.layer.args["size"]
    mode = ctx.layer.args.get("interpolation", "nearest")
    # Keras's bilinear resize uses half-pixel centres: align_corners=False, PyTorch's default.
    args = [f"scale_factor={pairs(size)}", f"mode={py.string(mode)}"]
    return Piece(py.Call("nn.Upsample", tuple(args)), call("{m}", "{0}"))


# --- convolution and pooling ------------------------------------------------------------


def _sequence_in(rank: int) -> str:
    """Conv1d and friends want (N, C, T); sequences are (N, T, C)."""
    return "{0}.transpose(1, 2)" if rank == 1 else "{0}"


def _sequence_out(rank: int) -> str:
    return ".transpose(1, 2)" if rank == 1 else ""


def _padded(
    ctx: LayerCtx,
    x: Expr,
    args: list[str],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[Expr, str | None]:
    """The convolution's input with Keras's padding applied (or padding= added to args)."""
    padding = ctx.layer.args["padding"]
    if padding == "same":
        if all(s == 1 for s in strides):
            totals = [(k - 1) * d for k, d in zip(kernel, dilation, strict=True)]
            if all(t % 2 == 0 for t in totals):
                args.append('padding="same"')
                return x, None
            # PyTorch's "same" would also put the odd pixel after, but copies the input to do so
            # (and warns): pad explicitly.
            pads = tuple(p for t in reversed(totals) for p in (t // 2, t - t // 2))
            return call("F.pad", x, py.literal(pads)), "TF-style same padding: the odd pixel goes after"
        pads = same_pads(ctx, kernel, strides, dilation)
        if pads is None:
            raise Unsupported(
                f'{ctx.layer.op} with padding="same" and strides {strides} on an input of unknown size '
                f"{ctx.input}: the padding depends on the size"
            )
        if any(pads):
            return call("F.pad", x, py.literal(pads)), "TF-style same padding: the odd pixel goes after"
    elif padding == "causal":
        return call("F.pad", x, f"({(kernel[0] - 1) * dilation[0]}, 0)"), "causal padding: pad the past only"
    return x, None


def _window_args(a: dict, args: list[str], dilation: tuple[int, ...]) -> None:
    if any(s != 1 for s in a["strides"]):
        args.append(f"stride={pairs(a['strides'])}")
    if any(d != 1 for d in dilation):
        args.append(f"dilation={pairs(dilation)}")


def _conv(ctx: LayerCtx, rank: int) -> Piece:
    a = ctx.layer.args
    kernel, strides, dilation = a["kernel_size"], a["strides"], a["dilation_rate"]
    channels = ctx.input.shape[-1]
    args: list[str] = [str(channels), str(a["filters"]), pairs(kernel)]
    if any(s != 1 for s in strides):
        args.append(f"stride={pairs(strides)}")
    x, comment = _padded(ctx, _sequence_in(rank), args, kernel, strides, dilation)
    if any(d != 1 for d in dilation):
        args.append(f"dilation={pairs(dilation)}")
    if a.get("groups", 1) != 1:
        args.append(f"groups={a['groups']}")
    if not a["use_bias"]:
        args.append("bias=False")
    init = py.Call(f"nn.Conv{rank}d", tuple(args))
    forward = call("{m}", x, tail=_sequence_out(rank))
    return Piece(init, activate(ctx, forward, a["activation"]), initializers(ctx), comment)


@rule("Conv1D")
def conv1d(ctx: LayerCtx) -> Piece:
    return _conv(ctx, 1)


@rule("Conv2D")
def conv2d(ctx: LayerCtx) -> Piece:
    return _conv(ctx, 2)


@rule("Conv3D")
def conv3d(ctx: LayerCtx) -> Piece:
    return _conv(ctx, 3)


def _conv_transpose(ctx: LayerCtx, rank: int) -> Piece:
    """Run without padding and crop like TensorFlow: it keeps the window that starts at
    (full - out) // 2, which PyTorch's padding/output_padding cannot express in general
    (the odd pixel is cropped at the end)."""
    a = ctx.layer.args
    kernel, strides, dilation = a["kernel_size"], a["strides"], a["dilation_rate"]
    channels = ctx.input.shape[-1]
    args: list[str] = [str(channels), str(a["filters"]), pairs(kernel)]
    _window_args(a, args, dilation)
    sizes_in, sizes_out = ctx.input.shape[:-1], ctx.output.shape[:-1]
    known = all(isinstance(n, int) for n in sizes_in + sizes_out)
    if not known:
        # Without sizes only the uncropped case can be written: valid, no output_padding, k >= s.
        if (
            a["padding"] != "valid"
            or a["output_padding"] is not None
            or any(k < s for k, s in zip(kernel, strides, strict=True))
        ):
            raise Unsupported(
                f"{ctx.layer.op} on an input of unknown size {ctx.input}: the crop that reproduces "
                "Keras's output depends on the size"
            )
        full = out = extra = crops = None
    else:
        full = [(n - 1) * s + (k - 1) * d + 1 for n, s, k, d in zip(sizes_in, strides, kernel, dilation, strict=True)]
        out = list(sizes_out)
        extra = [max(o - f, 0) for o, f in zip(out, full, strict=True)]
        if any(e >= max(s, d) for e, s, d in zip(extra, strides, dilation, strict=True)):
            raise Unsupported(
                f"{ctx.layer.op}: an output of {tuple(out)} from {tuple(sizes_in)} needs output_padding "
                f"{tuple(extra)}, which PyTorch only allows below the stride or the dilation"
            )
        if any(extra):
            args.append(f"output_padding={pairs(tuple(extra))}")
        full = [f + e for f, e in zip(full, extra, strict=True)]
        crops = [(f - o) // 2 for f, o in zip(full, out, strict=True)]
    if not a["use_bias"]:
        args.append("bias=False")
    tail = ""
    comment = None
    if full is not None and full != out:
        assert crops is not None and out is not None
        windows = ", ".join(f"{c}:{c + o}" for c, o in zip(crops, out, strict=True))
        tail = f"[:, :, {windows}]"
        comment = "crop the full transposed convolution where TensorFlow does"
    init = py.Call(f"nn.ConvTranspose{rank}d", tuple(args))
    forward = call("{m}", _sequence_in(rank), tail=tail + _sequence_out(rank))
    return Piece(init, activate(ctx, forward, a["activation"]), initializers(ctx), comment)


@rule("Conv1DTranspose")
def conv1d_transpose(ctx: LayerCtx) -> Piece:
    return _conv_transpose(ctx, 1)


@rule("Conv2DTranspose")
def conv2d_transpose(ctx: LayerCtx) -> Piece:
    return _conv_transpose(ctx, 2)


@rule("Conv3DTranspose")
def conv3d_transpose(ctx: LayerCtx) -> Piece:
    return _conv_transpose(ctx, 3)


def _depthwise_module(ctx: LayerCtx, rank: int, x: Expr, bias: bool) -> tuple[py.Call, Expr, str | None]:
    """nn.ConvNd with one group per input channel (Keras's depthwise step): output channel
    c * depth_multiplier + j comes from input channel c, as in TensorFlow."""
    a = ctx.layer.args
    kernel, strides, dilation = a["kernel_size"], a["strides"], a["dilation_rate"]
    channels = ctx.input.shape[-1]
    args: list[str] = [str(channels), str(channels * a["depth_multiplier"]), pairs(kernel)]
    if any(s != 1 for s in strides):
        args.append(f"stride={pairs(strides)}")
    x, comment = _padded(ctx, x, args, kernel, strides, dilation)
    if any(d != 1 for d in dilation):
        args.append(f"dilation={pairs(dilation)}")
    args.append(f"groups={channels}")
    if not bias:
        args.append("bias=False")
    return py.Call(f"nn.Conv{rank}d", tuple(args)), x, comment


def _depthwise(ctx: LayerCtx, rank: int) -> Piece:
    a = ctx.layer.args
    init, x, comment = _depthwise_module(ctx, rank, _sequence_in(rank), a["use_bias"])
    forward = call("{m}", x, tail=_sequence_out(rank))
    after = initializers(ctx, kernel_key="depthwise_initializer", kernel_fans=_depthwise_fans(ctx))
    return Piece(init, activate(ctx, forward, a["activation"]), after, comment)


def _depthwise_fans(ctx: LayerCtx) -> tuple[int, int]:
    """Keras's fans of a depthwise kernel (k..., channels, multiplier): channels * k and
    multiplier * k, not those of PyTorch's (channels * multiplier, 1, k...) weight."""
    window = math.prod(ctx.layer.args["kernel_size"])
    return ctx.input.shape[-1] * window, ctx.layer.args["depth_multiplier"] * window


@rule("DepthwiseConv1D")
def depthwise_conv1d(ctx: LayerCtx) -> Piece:
    return _depthwise(ctx, 1)


@rule("DepthwiseConv2D")
def depthwise_conv2d(ctx: LayerCtx) -> Piece:
    return _depthwise(ctx, 2)


def _separable(ctx: LayerCtx, rank: int) -> Piece:
    a = ctx.layer.args
    depthwise, x, comment = _depthwise_module(ctx, rank, _sequence_in(rank), bias=False)
    middle = ctx.input.shape[-1] * a["depth_multiplier"]
    pointwise_args = [str(middle), str(a["filters"]), "1"] + ([] if a["use_bias"] else ["bias=False"])
    pointwise = py.Call(f"nn.Conv{rank}d", tuple(pointwise_args))
    ctx.helper("SeparableConv")
    init = py.Call("SeparableConv", (depthwise, pointwise))
    forward = call("{m}", x, tail=_sequence_out(rank))
    after = initializers(
        ctx, "depthwise.weight", kernel_key="depthwise_initializer", with_bias=False, kernel_fans=_depthwise_fans(ctx)
    )
    after += initializers(ctx, "pointwise.weight", "pointwise.bias", kernel_key="pointwise_initializer")
    return Piece(init, activate(ctx, forward, a["activation"]), after, comment)


@rule("SeparableConv1D")
def separable_conv1d(ctx: LayerCtx) -> Piece:
    return _separable(ctx, 1)


@rule("SeparableConv2D")
def separable_conv2d(ctx: LayerCtx) -> Piece:
    return _separable(ctx, 2)


def _pool(ctx: LayerCtx, rank: int, kind: str) -> Piece:
    a = ctx.layer.args
    size = a["pool_size"]
    strides = a["strides"] or size
    args = [pairs(size)]
    if tuple(strides) != tuple(size):
        args.append(f"stride={pairs(strides)}")
    x: Expr = _sequence_in(rank)
    back = _sequence_out(rank)
    comment = None
    if a["padding"] == "same":
        pads = same_pads(ctx, size, strides, (1,) * rank)
        if pads is None:
            raise Unsupported(
                f'{ctx.layer.op} with padding="same" on an input of unknown size {ctx.input}: '
                "the padding depends on the size"
            )
        if any(pads):
            if kind == "Max":
                x = call("F.pad", x, py.literal(pads), 'value=float("-inf")')
                comment = "TF-style same padding; padded positions never win the max"
            else:
                ctx.helper("avg_pool_same")
                return Piece(
                    None,
                    call("avg_pool_same", x, pairs(size), pairs(strides), py.literal(pads), tail=back),
                    comment="TF-style same padding; padded positions are left out of each average",
                )
    module = f"nn.{kind}Pool{rank}d"
    return Piece(py.Call(module, tuple(args)), call("{m}", x, tail=back), comment=comment)


@rule("MaxPooling1D")
def max_pooling1d(ctx: LayerCtx) -> Piece:
    return _pool(ctx, 1, "Max")


@rule("MaxPooling2D")
def max_pooling2d(ctx: LayerCtx) -> Piece:
    return _pool(ctx, 2, "Max")


@rule("MaxPooling3D")
def max_pooling3d(ctx: LayerCtx) -> Piece:
    return _pool(ctx, 3, "Max")


@rule("AveragePooling1D")
def average_pooling1d(ctx: LayerCtx) -> Piece:
    return _pool(ctx, 1, "Avg")


@rule("AveragePooling2D")
def average_pooling2d(ctx: LayerCtx) -> Piece:
    return _pool(ctx, 2, "Avg")


@rule("AveragePooling3D")
def average_pooling3d(ctx: LayerCtx) -> Piece:
    return _pool(ctx, 3, "Avg")


def _global_pool(ctx: LayerCtx, kind: str) -> Piece:
    rank = ctx.input.rank
    order = torch_order(ctx.input, ctx.time_distributed)
    dims = tuple(1 + i for i, k in enumerate(order) if k != rank - 1)  # every axis but the channels
    keep = ctx.layer.args.get("keepdims", False)
    dim_text = str(dims[0]) if len(dims) == 1 else py.literal(dims)
    fn = "torch.mean" if kind == "Average" else "torch.amax"
    args = [f"dim={dim_text}"] + (["keepdim=True"] if keep else [])
    return Piece(None, call(fn, "{0}", *args))


@rule("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D")
def global_average_pooling(ctx: LayerCtx) -> Piece:
    return _global_pool(ctx, "Average")


@rule("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D")
def global_max_pooling(ctx: LayerCtx) -> Piece:
    return _global_pool(ctx, "Max")


# --- normalization ----------------------------------------------------------------------


@rule("BatchNormalization")
def batch_normalization(ctx: LayerCtx) -> Piece:
    a = ctx.layer.args
    rank = ctx.input.rank
    if rank > 4:
        raise Unsupported(f"BatchNormalization on rank {rank} inputs {ctx.input}: PyTorch has BatchNorm1d/2d/3d")
    index = _keras_index(a["axis"], rank)
    channels = ctx.input.shape[index]
    kind = {1: "1d", 2: "1d", 3: "2d", 4: "3d"}[rank]
    # Keras's epsilon is 1e-3 and its momentum the weight of the old value (PyTorch: of the new).
    args = [str(channels), f"eps={a['epsilon']!r}", f"momentum={round(1 - a['momentum'], 10)!r}"]
    after: list[Expr] = []
    if not a["center"] and not a["scale"]:
        args.append("affine=False")
    elif not a["center"]:
        after += ["# center=False: no beta", call("{m}.bias.requires_grad_", "False")]
    elif not a["scale"]:
        after += ["# scale=False: no gamma", call("{m}.weight.requires_grad_", "False")]
    init = py.Call(f"nn.BatchNorm{kind}", tuple(args))
    dim = 1 + torch_order(ctx.input, ctx.time_distributed).index(index)
    if dim == 1:
        return Piece(init, call("{m}", "{0}"), after)
    # PyTorch's BatchNorm normalises dim 1: move the normalised axis there and back.
    forward = call("{m}", f"{{0}}.movedim({dim}, 1)", tail=f".movedim(1, {dim})")
    return Piece(init, forward, after)


@rule("LayerNormalization")
def layer_normalization(ctx: LayerCtx) -> Piece:
    a = ctx.layer.args
    rank = ctx.input.rank
    axes = a["axis"] if isinstance(a["axis"], tuple) else (a["axis"],)
    normalised = sorted(_keras_index(axis, rank) for axis in axes)
    sizes = tuple(ctx.input.shape[i] for i in normalised)
    args = [str(sizes[0]) if len(sizes) == 1 else py.literal(sizes), f"eps={a['epsilon']!r}"]
    after: list[Expr] = []
    if not a["center"] and not a["scale"]:
        args.append("elementwise_affine=False")
    elif not a["center"]:
        args.append("bias=False")
    elif not a["scale"]:
        after += ["# scale=False: no gamma", call("{m}.weight.requires_grad_", "False")]
    init = py.Call("nn.LayerNorm", tuple(args))
    # nn.LayerNorm normalises the last dims: put the normalised Keras axes there, in Keras's
    # order (gamma and beta are shaped like them), and the torch layout back afterwards.
    order = torch_order(ctx.input, ctx.time_distributed)
    wanted = [k for k in range(rank) if k not in normalised] + normalised
    there = permute_text([0] + [1 + order.index(k) for k in wanted])
    back = permute_text([0] + [1 + wanted.index(k) for k in order])
    comment = "normalise in Keras's axis order" if there else None
    return Piece(init, call("{m}", "{0}" + there, tail=back), after, comment)


# --- embedding and recurrent --------------------------------------------------------------


@rule("Embedding")
def embedding(ctx: LayerCtx) -> Piece:
    a = ctx.layer.args
    if a.get("mask_zero"):
        raise Unsupported(
            "Embedding(mask_zero=True): Keras masks the padded steps in the layers that follow "
            "(recurrent layers, attention, pooling); the PyTorch target has no masks"
        )
    init = py.Call("nn.Embedding", (str(a["input_dim"]), str(a["output_dim"])))
    after: list[Expr] = []
    initializer = a.get("embeddings_initializer", "uniform")
    if initializer == "uniform":
        after.append(call("nn.init.uniform_", "{m}.weight", "-0.05", "0.05"))
    elif initializer in INITIALIZERS:
        after.append(_init_code(initializer, "{m}.weight"))
        if "math." in INITIALIZERS[initializer]:
            ctx.helper("math")
    return Piece(init, call("{m}", "{0}", tail=from_channels_last(ctx.output, ctx.time_distributed)), after)


RNN_MODULES = {"SimpleRNN": "nn.RNN", "LSTM": "nn.LSTM", "GRU": "nn.GRU"}


def _rnn_module(ctx: LayerCtx, op: str, inner_args: dict, features: int, bidirectional: bool) -> py.Call:
    args = [str(features), str(inner_args["units"]), "batch_first=True"]
    activation = inner_args.get("activation")
    if op == "SimpleRNN" and activation == "relu":
        args.append('nonlinearity="relu"')
    elif activation != "tanh":
        raise Unsupported(
            f"{op} with activation={activation!r}: PyTorch's fused {op} only has tanh"
            + (" and relu" if op == "SimpleRNN" else "")
        )
    if op in ("LSTM", "GRU") and inner_args.get("recurrent_activation", "sigmoid") != "sigmoid":
        raise Unsupported(
            f"{op} with recurrent_activation={inner_args['recurrent_activation']!r}: "
            f"PyTorch's fused {op} gates use the sigmoid"
        )
    if op == "GRU" and not inner_args.get("reset_after", True):
        raise Unsupported(
            "GRU with reset_after=False has no PyTorch equivalent: nn.GRU applies the reset gate "
            "after the recurrent matrix product (Keras's reset_after=True)"
        )
    if not inner_args.get("use_bias", True):
        args.append("bias=False")
    if bidirectional:
        args.append("bidirectional=True")
    return py.Call(RNN_MODULES[op], tuple(args))


@rule("SimpleRNN", "LSTM", "GRU")
def recurrent(ctx: LayerCtx) -> Piece:
    a = ctx.layer.args
    init = _rnn_module(ctx, ctx.layer.op, a, ctx.input.shape[-1], False)
    after = _rnn_init(ctx.layer.op, a, bidirectional=False)
    x, comment = _rnn_input(a)
    sequences = a.get("return_sequences", False)
    if not a.get("return_state", False):
        return Piece(init, call("{m}", x, tail="[0]" + ("" if sequences else "[:, -1]")), after, comment)
    ctx.helper("rnn_outputs")
    forward = call("rnn_outputs", call("{m}", x), f"return_sequences={sequences}")
    return Piece(init, forward, after, comment, len(ctx.outputs))


@rule("Bidirectional")
def bidirectional(ctx: LayerCtx) -> Piece:
    inner = ctx.layer.inner
    assert inner is not None
    a = dict(inner.args)
    init = _rnn_module(ctx, inner.op, a, ctx.input.shape[-1], True)
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
    forward = call("bidirectional_outputs", call("{m}", x), *options)
    return Piece(init, forward, after, comment, len(ctx.outputs))


def _rnn_input(a: dict) -> tuple[Expr, str | None]:
    x: Expr = call("torch.flip", "{0}", "[1]") if a.get("go_backwards") else "{0}"
    if not a.get("dropout"):
        return x, None
    dropped = call("F.dropout", x, repr(a["dropout"]), "self.training")
    return dropped, "Keras applies the layer's dropout to its inputs"


def _rnn_init(op: str, a: dict, bidirectional: bool) -> list[Expr]:
    """Keras's LSTM forget-gate bias of 1 (unit_forget_bias); other defaults come from
    init_like_keras."""
    lines: list[Expr] = []
    if op == "LSTM" and a.get("unit_forget_bias", True) and a.get("use_bias", True):
        units = a["units"]
        lines.append("# the forget gate starts open (Keras's unit_forget_bias)")
        for suffix in ["l0"] + (["l0_reverse"] if bidirectional else []):
            lines.append(call("nn.init.ones_", f"{{m}}.bias_ih_{suffix}.data[{units}:{2 * units}]"))
    return lines


@rule("TimeDistributed")
def time_distributed(ctx: LayerCtx) -> Piece:
    """Fold time into the batch, apply the wrapped layer's own rule, unfold.

    The wrapped layer sees one step: (N * T, step in its torch layout). A TimeDistributed
    input of rank >= 3 is channels-first in PyTorch, (N, C, T, ...), so the time axis is
    brought next to the batch first, and the result is put back into the output's layout.
    """
    inner = ctx.layer.inner
    assert inner is not None
    inner_in = [TensorType(t.shape[1:], t.dtype) for t in ctx.inputs]
    inner_out = [TensorType(t.shape[1:], t.dtype) for t in ctx.outputs]
    inner_ctx = LayerCtx(inner, inner_in, inner_out, ctx.args_in, ctx.attr, ctx.emitter, False)
    piece_fn = PIECES.get(inner.op)
    if piece_fn is None:
        raise Unsupported(f"the torch target has no rule for {inner.op}")
    piece = piece_fn(inner_ctx)
    # Keras axes (batch-free) in the order torch holds them, outside and inside the wrapper.
    outer_in = torch_order(ctx.input, ctx.time_distributed)
    wanted_in = [0] + [1 + k for k in torch_order(inner_in[0])]
    to_time = permute_text([0] + [1 + outer_in.index(k) for k in wanted_in])
    fold = call("torch.flatten", "{0}" + to_time, "0", "1") if to_time else call("{0}.flatten", "0", "1")
    forward = substitute_input(piece.forward, fold)
    unfolded = [0] + [1 + k for k in torch_order(inner_out[0])]
    outer_out = torch_order(ctx.output, ctx.time_distributed)
    back = permute_text([0] + [1 + unfolded.index(k) for k in outer_out])
    # Function forms (torch.flatten, torch.unflatten) keep the chains of method calls short,
    # a layout ruff leaves as it is.
    forward = call("torch.unflatten", forward, "0", "({0}.shape[0], -1)", tail=back)
    return Piece(piece.init, forward, piece.init_after, "TimeDistributed: fold time into the batch, apply, unfold")


# --- merges --------------------------------------------------------------------------------


def _elementwise(op: str) -> Callable[[LayerCtx], Piece]:
    def emit(ctx: LayerCtx) -> Piece:
        n = len(ctx.inputs)
        names = [f"{{{i}}}" for i in range(n)]
        if op in ("+", "*"):
            return Piece(None, f" {op} ".join(names))
        if op == "-":
            return Piece(None, f"{names[0]} - {names[1]}")
        if op == "mean":
            return Piece(None, f"({' + '.join(names)}) / {n}")
        fn = "torch.maximum" if op == "max" else "torch.minimum"
        expr: Expr = names[0]
        for other in names[1:]:
            expr = call(fn, expr, other)
        return Piece(None, expr)

    return emit


for _name, _op in [("Add", "+"), ("Subtract", "-"), ("Multiply", "*"), ("Average", "mean")]:
    rule(_name)(_elementwise(_op))
rule("Maximum")(_elementwise("max"))
rule("Minimum")(_elementwise("min"))


@rule("Concatenate")
def concatenate(ctx: LayerCtx) -> Piece:
    dim = ctx.dim(ctx.layer.args["axis"])
    names = Code("", tuple(f"{{{i}}}" for i in range(len(ctx.inputs))), brackets="[]")
    return Piece(None, call("torch.cat", names, f"dim={dim}"))


@rule("Dot")
def dot(ctx: LayerCtx) -> Piece:
    """Keras's batch_dot as an einsum: each torch dim is labelled by its Keras axis, so the
    layouts need no permutes; the summed axes share the label z."""
    a = ctx.layer.args
    first, second = ctx.inputs
    axes = a["axes"]
    i, j = _keras_index(axes[0], first.rank), _keras_index(axes[1], second.rank)
    letters = iter("abcdefghijklmopqrstuvwxy")  # no n (the batch) and no z (the summed axis)
    labels_a = {k: ("z" if k == i else next(letters)) for k in range(first.rank)}
    labels_b = {k: ("z" if k == j else next(letters)) for k in range(second.rank)}
    kept = [labels_a[k] for k in range(first.rank) if k != i] + [labels_b[k] for k in range(second.rank) if k != j]
    spec_a = "n" + "".join(labels_a[k] for k in torch_order(first, ctx.time_distributed))
    spec_b = "n" + "".join(labels_b[k] for k in torch_order(second, ctx.time_distributed))
    tail = ""
    if kept:
        spec_out = "n" + "".join(kept[k] for k in torch_order(ctx.output, ctx.time_distributed))
    else:
        spec_out, tail = "n", ".unsqueeze(1)"  # (n,) . (n,) gives (1,)
    x: Expr = "{0}"
    y: Expr = "{1}"
    if a["normalize"]:
        # Keras divides by max(norm, 1e-7); so does F.normalize with eps=1e-7.
        x = call("F.normalize", x, f"dim={ctx.dim(axes[0], first)}", "eps=1e-07")
        y = call("F.normalize", y, f"dim={ctx.dim(axes[1], second)}", "eps=1e-07")
    return Piece(None, call("torch.einsum", py.string(f"{spec_a},{spec_b}->{spec_out}"), x, y, tail=tail))


# --- attention -----------------------------------------------------------------------------


@rule("MultiHeadAttention")
def multi_head_attention(ctx: LayerCtx) -> Piece:
    a = ctx.layer.args
    query, value = ctx.inputs[0], ctx.inputs[1]
    key = ctx.inputs[2] if len(ctx.inputs) == 3 else value
    output_shape = tuple(a["output_shape"] or (query.shape[-1],))
    ctx.helper("MultiHeadAttention")
    args = [
        f"features={py.literal((query.shape[-1], value.shape[-1], key.shape[-1]))}",
        f"num_heads={a['num_heads']}",
        f"key_dim={a['key_dim']}",
        f"value_dim={a['value_dim'] or a['key_dim']}",
        f"output_shape={py.literal(output_shape)}",
    ]
    if a["dropout"]:
        args.append(f"dropout={a['dropout']!r}")
    if not a["use_bias"]:
        args.append("bias=False")
    inputs = [f"{{{i}}}" + to_channels_last(t, ctx.time_distributed) for i, t in enumerate(ctx.inputs)]
    forward = call("{m}", *inputs, tail=from_channels_last(ctx.output, ctx.time_distributed))
    after = initializers(ctx, "query.weight", "query.bias") + initializers(ctx, "key.weight", "key.bias")
    after += initializers(ctx, "value.weight", "value.bias") + initializers(ctx, "output.weight", "output.bias")
    comment = "attention over every axis but the features, as Keras" if query.rank > 2 else None
    return Piece(py.Call("MultiHeadAttention", tuple(args)), forward, after, comment)


@rule("Attention")
def attention(ctx: LayerCtx) -> Piece:
    a = ctx.layer.args
    names = [f"{{{i}}}" for i in range(len(ctx.inputs))]
    query, value = names[0], names[1]
    key = names[2] if len(names) == 3 else value
    if a["score_mode"] == "dot" and not a["use_scale"] and not a["dropout"]:
        # softmax(query @ key^T) @ value, unscaled
        return Piece(None, call("F.scaled_dot_product_attention", query, key, value, "scale=1.0"))
    ctx.helper("Attention")
    args = []
    if a["use_scale"]:
        args.append("use_scale=True")
    if a["score_mode"] != "dot":
        args.append(f"score_mode={py.string(a['score_mode'])}")
    if a["dropout"]:
        args.append(f"dropout={a['dropout']!r}")
    return Piece(py.Call("Attention", tuple(args)), call("{m}", *names))


# --- VAE -----------------------------------------------------------------------------------


@rule("Sampling")
def sampling(ctx: LayerCtx) -> Piece:
    ctx.helper("Sampling")
    return Piece(py.Call("Sampling", (f"kl_weight={ctx.layer.args['kl_weight']!r}",)), call("{m}", "{0}", "{1}"))
