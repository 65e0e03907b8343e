"""The layer record: parameters, input requirements, shape rule, parameter count.

Each catalogued layer is one :class:`LayerSpec`. Argument binding and validation, rank and
dtype checks, and error messages are done here, once, for every layer; a layer module
only states its table entry and two small functions (output shape, parameter count).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from archdsl.diagnostics import did_you_mean
from archdsl.ir import CallValue, Dim, ParamCount, TensorType, format_shape
from archdsl.records import Record
from archdsl.values import format_value, type_name


class ShapeError(Exception):
    """A layer cannot be applied; ``arg`` names the argument to blame, if any."""

    def __init__(self, message: str, hint: str | None = None, arg: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.arg = arg


class ArgError(Exception):
    """A single argument value is not acceptable; the message completes 'expected ...'."""

    def __init__(self, expected: str, hint: str | None = None):
        super().__init__(expected)
        self.expected = expected
        self.hint = hint


# --- parameter types ---------------------------------------------------------------------


class ParamType:
    """Validates and normalises one argument value."""

    description = "a value"

    def convert(self, value: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def fail(self, hint: str | None = None) -> NoReturn:
        raise ArgError(self.description, hint)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Int(ParamType):
    def __init__(self, minimum: int | None = 1, maximum: int | None = None):
        self.minimum, self.maximum = minimum, maximum
        if minimum == 1 and maximum is None:
            self.description = "a positive integer"
        elif minimum == 0 and maximum is None:
            self.description = "an integer >= 0"
        elif minimum is None:
            self.description = "an integer"
        else:
            self.description = f"an integer between {minimum} and {maximum}"

    def convert(self, value: Any) -> int:
        if not _is_int(value):
            self.fail()
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            self.fail()
        return value


class Float(ParamType):
    def __init__(self, minimum: float | None = None, maximum: float | None = None, *, max_inclusive: bool = True):
        self.minimum, self.maximum, self.max_inclusive = minimum, maximum, max_inclusive
        if minimum is not None and maximum is not None:
            close = "]" if max_inclusive else ")"
            self.description = f"a number in [{minimum:g}, {maximum:g}{close}"
        elif minimum is not None:
            self.description = f"a number >= {minimum:g}"
        else:
            self.description = "a number"

    def convert(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail()
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            self.fail()
        if self.minimum is not None and value < self.minimum:
            self.fail()
        if self.maximum is not None and (value > self.maximum or (not self.max_inclusive and value == self.maximum)):
            self.fail()
        return value


RATE = Float(0.0, 1.0, max_inclusive=False)


class Bool(ParamType):
    description = "True or False"

    def convert(self, value: Any) -> bool:
        if not isinstance(value, bool):
            self.fail()
        return value


class Str(ParamType):
    description = "a string"

    def convert(self, value: Any) -> str:
        if not isinstance(value, str):
            self.fail()
        return value


class Choice(ParamType):
    def __init__(self, *choices: str):
        self.choices = choices
        self.description = "one of " + ", ".join(format_value(c) for c in choices)

    def convert(self, value: Any) -> str:
        if not isinstance(value, str):
            self.fail()
        if value not in self.choices:
            guess = did_you_mean(value, self.choices)
            self.fail(f'did you mean "{guess}"?' if guess else None)
        return value


class Optional(ParamType):
    def __init__(self, inner: ParamType):
        self.inner = inner
        self.description = f"{inner.description} or None"

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            return self.inner.convert(value)
        except ArgError as exc:
            raise ArgError(self.description, exc.hint) from None


class IntTuple(ParamType):
    """An int or a tuple of ``n`` ints (kernel sizes, strides): normalised to a tuple."""

    def __init__(self, n: int, minimum: int = 1):
        self.n, self.minimum = n, minimum
        noun = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        self.description = noun if n == 1 else f"{noun} or a tuple of {n} of them"

    def convert(self, value: Any) -> tuple[int, ...]:
        if _is_int(value):
            value = (value,) * self.n
        if (
            not isinstance(value, tuple)
            or len(value) != self.n
            or not all(_is_int(v) and v >= self.minimum for v in value)
        ):
            self.fail()
        return value


class IntSequence(ParamType):
    """A tuple of ints of any length (Reshape targets, Permute dims, axes)."""

    def __init__(self, minimum: int | None = None, description: str = "a tuple of integers"):
        self.minimum = minimum
        self.description = description

    def convert(self, value: Any) -> tuple[int, ...]:
        if _is_int(value):
            value = (value,)
        if not isinstance(value, tuple) or not value or not all(_is_int(v) for v in value):
            self.fail()
        if self.minimum is not None and any(v < self.minimum for v in value):
            self.fail()
        return value


class Padding2D(ParamType):
    """ZeroPadding2D / Cropping2D amounts: int, (sym_h, sym_w) or ((top, bottom), (left, right))."""

    description = "an integer, a tuple (height, width), or ((top, bottom), (left, right))"

    def __init__(self, rank: int = 2):
        self.rank = rank

    def convert(self, value: Any) -> tuple[tuple[int, int], ...]:
        if _is_int(value) and value >= 0:
            return ((value, value),) * self.rank
        if isinstance(value, tuple) and len(value) == self.rank:
            if all(_is_int(v) and v >= 0 for v in value):
                return tuple((v, v) for v in value)
            if all(isinstance(v, tuple) and len(v) == 2 and all(_is_int(x) and x >= 0 for x in v) for v in value):
                return tuple((v[0], v[1]) for v in value)
        self.fail()


ACTIVATIONS = (
    "linear", "relu", "relu6", "sigmoid", "hard_sigmoid", "tanh", "softmax", "log_softmax", "softplus",
    "softsign", "elu", "selu", "gelu", "swish", "silu", "mish", "leaky_relu", "exponential",
)  # fmt: skip
INITIALIZERS = (
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
    "orthogonal", "zeros", "ones", "random_uniform", "random_normal", "truncated_normal",
)  # fmt: skip


class Activation(ParamType):
    description = 'an activation name such as "relu", or None'

    def convert(self, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or value not in ACTIVATIONS:
            guess = did_you_mean(value, ACTIVATIONS) if isinstance(value, str) else None
            self.fail(f'did you mean "{guess}"?' if guess else "known activations: " + ", ".join(ACTIVATIONS))
        return value


class Initializer(ParamType):
    """An initializer name; ``vector=True`` for biases, which "orthogonal" cannot fill
    (Keras: "The tensor to initialize must be at least two-dimensional")."""

    description = 'an initializer name such as "he_normal"'

    def __init__(self, vector: bool = False):
        self.names = tuple(n for n in INITIALIZERS if not (vector and n == "orthogonal"))
        if vector:
            self.description = 'an initializer for a vector, such as "zeros"'

    def convert(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.names:
            if value == "orthogonal":
                self.fail("orthogonal needs a matrix; a bias is a vector")
            guess = did_you_mean(value, self.names) if isinstance(value, str) else None
            self.fail(f'did you mean "{guess}"?' if guess else "known initializers: " + ", ".join(self.names))
        return value


class Regularizer(Record):
    """A weight penalty ``l1 * sum(|w|) + l2 * sum(w**2)`` added to the loss."""

    l1: float = 0.0
    l2: float = 0.0

    def __str__(self) -> str:
        if self.l1 and not self.l2:
            return f"l1({self.l1!r})"
        if self.l2 and not self.l1:
            return f"l2({self.l2!r})"
        return f"l1_l2(l1={self.l1!r}, l2={self.l2!r})"


# The regularizers as Keras 3 declares them: L1(l1=0.01), L2(l2=0.01), L1L2(l1=0.0, l2=0.0),
# each parameter taken by position or by name.
REGULARIZER_SIGNATURES: dict[str, tuple[tuple[str, float], ...]] = {
    "l1": (("l1", 0.01),),
    "l2": (("l2", 0.01),),
    "l1_l2": (("l1", 0.0), ("l2", 0.0)),
}


class RegularizerType(ParamType):
    description = "a regularizer: l1(0.01), l2(0.01), l1_l2(l1=0.01, l2=0.01), or None"

    def convert(self, value: Any) -> Regularizer | None:
        if value is None:
            return None
        if not isinstance(value, CallValue) or value.name not in REGULARIZER_SIGNATURES:
            guess = did_you_mean(value.name, REGULARIZER_SIGNATURES) if isinstance(value, CallValue) else None
            self.fail(f"did you mean {guess}(...)?" if guess else None)
        signature = REGULARIZER_SIGNATURES[value.name]
        names = [name for name, _ in signature]
        usage = f"write {value.name}({', '.join(f'{name}=...' for name in names)})"
        if len(value.args) > len(signature):
            self.fail(usage)
        given = dict(zip(names, value.args, strict=False))
        for name, factor in value.kwargs:
            if name not in names or name in given:
                self.fail(usage)
            given[name] = factor
        amount = Float(0.0)
        try:
            factors = {name: amount.convert(given.get(name, default)) for name, default in signature}
        except ArgError as exc:
            if exc.expected == amount.description:
                self.fail("the factor must be a number >= 0")
            raise
        return Regularizer(factors.get("l1", 0.0), factors.get("l2", 0.0))


class LayerArg(ParamType):
    """A layer written as an argument (the layer inside TimeDistributed / Bidirectional).

    The binder leaves the :class:`CallValue` as it is; the elaborator binds it to a layer.
    """

    description = "a layer, such as Dense(10)"

    def __init__(self, families: tuple[str, ...] = ()):
        self.families = families
        if families:
            self.description = "a " + " or ".join(families) + " layer, such as LSTM(64)"

    def convert(self, value: Any) -> CallValue:
        if not isinstance(value, CallValue):
            self.fail()
        return value


class AnyValue(ParamType):
    description = "a value"

    def convert(self, value: Any) -> Any:
        return value


# --- the record ---------------------------------------------------------------------------

REQUIRED = object()


class Param(Record):
    """One parameter of a layer: name, type, default (REQUIRED if none), documentation."""

    name: str
    type: ParamType
    default: Any = REQUIRED
    doc: str = ""
    keyword_only: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


class InputSpec(Record):
    """What a layer needs of each input: rank (batch excluded) and dtype kind."""

    rank: int | None = None
    min_rank: int | None = None
    max_rank: int | None = None
    axes: str = ""  # e.g. "(height, width, channels)", printed in rank errors
    dtype: str = "float"  # "float", "int" or "any"


class Ctx:
    """What a shape or count rule sees: bound arguments and input/output types."""

    def __init__(
        self,
        spec: LayerSpec,
        args: dict[str, Any],
        inputs: Sequence[TensorType],
        infer_inner: Callable[..., Any] | None = None,
    ):
        self.spec = spec
        self.args = args
        self.inputs = tuple(inputs)
        self.outputs: tuple[TensorType, ...] = ()
        self.warnings: list[tuple[str, str | None]] = []
        self._infer_inner = infer_inner
        self.inner: Any = None  # set by wrappers: the bound inner layer

    def __getitem__(self, key: str) -> Any:
        return self.args[key]

    @property
    def input(self) -> TensorType:
        return self.inputs[0]

    @property
    def output(self) -> TensorType:
        return self.outputs[0]

    def fail(self, message: str, *, hint: str | None = None, arg: str | None = None) -> NoReturn:
        raise ShapeError(message, hint, arg)

    def warn(self, message: str, hint: str | None = None) -> None:
        self.warnings.append((message, hint))

    def infer_inner(self, call: CallValue, inputs: Sequence[TensorType]) -> Any:
        """Bind and infer a wrapped layer; returns an object with ``outputs`` and ``params``."""
        assert self._infer_inner is not None
        return self._infer_inner(call, tuple(inputs))


ShapeRule = Callable[[Ctx], "TensorType | tuple[TensorType, ...]"]
CountRule = Callable[[Ctx], ParamCount]


def no_params(ctx: Ctx) -> ParamCount:
    return ParamCount()


class LayerSpec(Record):
    """One catalogued layer kind.

    ``params`` are in positional order. ``inputs`` is (min, max) arity, max None for any.
    ``infer`` returns the output type(s); ``count`` the weights, given ``ctx.outputs``.
    """

    name: str
    family: str
    doc: str
    params: tuple[Param, ...]
    infer: ShapeRule
    count: CountRule = no_params
    inputs: tuple[int, int | None] = (1, 1)
    input_spec: InputSpec = InputSpec()
    wrapper: bool = False

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None


# Options that every layer accepts.
COMMON = (
    Param("name", Optional(Str()), None, "a name for the layer, unique in its model", keyword_only=True),
    Param("trainable", Bool(), True, "False freezes the layer's weights", keyword_only=True),
)

# Options of layers with a kernel and a bias (Dense, convolutions, ...).
KERNEL_OPTIONS = (
    Param("use_bias", Bool(), True, "whether the layer adds a bias vector", keyword_only=True),
    Param("kernel_initializer", Initializer(), "glorot_uniform", "how the kernel is initialised", keyword_only=True),
    Param("bias_initializer", Initializer(vector=True), "zeros", "how the bias is initialised", keyword_only=True),
    Param(
        "kernel_regularizer", RegularizerType(), None, "a penalty on the kernel added to the loss", keyword_only=True
    ),
    Param("bias_regularizer", RegularizerType(), None, "a penalty on the bias added to the loss", keyword_only=True),
)

ACTIVATION = Param("activation", Activation(), None, "the activation applied to the output")


CATALOGUE: dict[str, LayerSpec] = {}


def register(spec: LayerSpec) -> LayerSpec:
    """Add a layer to the catalogue; the common options are appended to its parameters."""
    if spec.name in CATALOGUE:
        raise ValueError(f"layer {spec.name} registered twice")
    names = [p.name for p in spec.params]
    extra = tuple(p for p in COMMON if p.name not in names)
    spec = LayerSpec(
        spec.name,
        spec.family,
        spec.doc,
        spec.params + extra,
        spec.infer,
        spec.count,
        spec.inputs,
        spec.input_spec,
        spec.wrapper,
    )
    CATALOGUE[spec.name] = spec
    return spec


# --- shared shape arithmetic --------------------------------------------------------------


def resolve_axis(ctx: Ctx, axis: int, arg: str = "axis") -> int:
    """The index into the input shape (batch excluded) of a Keras-style ``axis``."""
    shape = ctx.input.shape
    rank = len(shape)
    if axis == 0 or axis == -(rank + 1):
        ctx.fail(
            f"{ctx.spec.name}: {arg}={axis} is the batch axis; the input shape {shape_text(ctx.input)} excludes it",
            hint=f"axes count the batch as axis 0: {arg}=1 is the first axis of the shape and {arg}=-1 the last",
            arg=arg,
        )
    if not -(rank + 1) < axis <= rank:
        ctx.fail(
            f"{ctx.spec.name}: {arg}={axis} is out of range for input of rank {rank} with shape {shape_text(ctx.input)}",
            hint=f"valid axes are 1 to {rank} or -1 to -{rank}" if rank else "the input has no axes besides the batch",
            arg=arg,
        )
    return axis - 1 if axis > 0 else rank + axis


SOFTMAX_CONSTANT = {"softmax": "1.0", "log_softmax": "0.0"}


def warn_trivial_softmax(ctx: Ctx, activation: str | None, shape: tuple[Dim, ...], index: int, axis: int = -1) -> None:
    """Warn when a softmax runs over an axis of size 1: its result is a constant."""
    if activation not in SOFTMAX_CONSTANT or shape[index] != 1:
        return
    ctx.warn(
        f"{ctx.spec.name}: {activation} over an axis of size 1 always returns {SOFTMAX_CONSTANT[activation]}"
        f" (axis {axis} of shape {format_shape(shape)})",
        hint='for a single yes/no output use activation="sigmoid"; '
        "otherwise apply the softmax over an axis with several entries",
    )


def known(dim: Dim) -> bool:
    return isinstance(dim, int)


def conv_output_length(length: Dim, kernel: int, stride: int, padding: str, dilation: int = 1) -> Dim:
    """Keras's output size of a convolution or pooling window along one axis."""
    if not known(length):
        return None
    assert isinstance(length, int)
    if padding in ("same", "causal"):
        return (length + stride - 1) // stride
    effective = (kernel - 1) * dilation + 1
    return (length - effective) // stride + 1


def deconv_output_length(
    length: Dim, kernel: int, stride: int, padding: str, output_padding: int | None = None, dilation: int = 1
) -> Dim:
    """Keras's output size of a transposed convolution along one axis."""
    if not known(length):
        return None
    assert isinstance(length, int)
    effective = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(effective - stride, 0)
        return length * stride
    pad = effective // 2 if padding == "same" else 0
    return (length - 1) * stride + effective - 2 * pad + output_padding


def product(dims: Sequence[Dim]) -> int | None:
    """Product of the dimensions, or None when any is unknown."""
    total = 1
    for d in dims:
        if not known(d):
            return None
        total *= d  # type: ignore[operator]
    return total


def shape_text(t: TensorType) -> str:
    return format_shape(t.shape)


def describe(value: Any) -> str:
    return f"{type_name(value)} ({format_value(value)})" if value is not None else "None"
