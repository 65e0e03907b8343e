"""The graph IR: what every tool after the front end reads.

A :class:`Program` holds elaborated :class:`Model` graphs. A model is a list of
:class:`Node` applications in topological order; each node applies a :class:`Layer`
instance (a layer may be applied several times when it is shared) to input
:class:`Tensor` values and produces output tensors with inferred types.

Every class is a frozen record (:mod:`archdsl.records`: dataclass behaviour without
dataclasses' import cost). Locations, syntax-tree back-references and name hints are
excluded from equality, so tests can compare graphs without positions.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from archdsl.diagnostics import Location
from archdsl.records import Record

_EMPTY: Mapping[str, Any] = MappingProxyType({})

Dim = int | str | None
"""One dimension: a size, a named unknown size (``"T"``), or unknown (None)."""

INT_DTYPES = frozenset({"int32", "int64", "int16", "int8", "uint8", "bool"})
FLOAT_DTYPES = frozenset({"float32", "float16", "float64", "bfloat16"})


def format_dim(dim: Dim) -> str:
    return "None" if dim is None else str(dim)


def format_shape(shape: tuple[Dim, ...]) -> str:
    """Shapes print like Python tuples: ``(28, 28, 1)``, ``(784,)``, ``(T, 64)``."""
    inner = ", ".join(format_dim(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


class IRRecord(Record):
    """Base of the IR's records: frozen, and compared without positions or back-references."""

    _uncompared: ClassVar[frozenset[str]] = frozenset(
        {"location", "arg_locs", "site", "trace", "var", "source", "sources", "namespaces"}
    )


class TensorType(IRRecord):
    """A tensor's type without its batch dimension: shape and dtype."""

    shape: tuple[Dim, ...]
    dtype: str = "float32"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_integer(self) -> bool:
        return self.dtype in INT_DTYPES

    def __str__(self) -> str:
        text = format_shape(self.shape)
        return text if self.dtype == "float32" else f"{text} {self.dtype}"


class ParamCount(IRRecord):
    """Parameter counts as Keras reports them, and PyTorch's figures where they differ.

    Keras's non-trainable weights include BatchNormalization's moving statistics, which
    PyTorch keeps as buffers; recurrent layers have a second bias vector in PyTorch.
    """

    trainable: int = 0
    non_trainable: int = 0
    torch_trainable: int | None = None
    torch_buffers: int | None = None

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def torch_parameters(self) -> int:
        """Elements of ``module.parameters()`` in the PyTorch model."""
        if self.torch_trainable is not None:
            return self.torch_trainable
        return self.trainable + self.non_trainable - self.buffers

    @property
    def buffers(self) -> int:
        """Elements of ``module.buffers()`` in the PyTorch model."""
        return self.torch_buffers if self.torch_buffers is not None else 0

    def __add__(self, other: ParamCount) -> ParamCount:
        return ParamCount(
            self.trainable + other.trainable,
            self.non_trainable + other.non_trainable,
            self.torch_parameters + other.torch_parameters,
            self.buffers + other.buffers,
        )

    def frozen(self) -> ParamCount:
        """The same weights with ``trainable=False``: every Keras weight becomes non-trainable."""
        return ParamCount(0, self.total, self.torch_parameters, self.buffers)


class CallValue(IRRecord):
    """A call written as a value, e.g. ``l2(0.01)`` or ``LSTM(64)`` inside a wrapper."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    location: Location | None = None
    # (value location, keyword location) for each positional then keyword argument
    arg_locs: tuple[tuple[Location | None, Location | None], ...] = ()
    site: Any = None  # the syntax node of the call

    def __str__(self) -> str:
        from archdsl.values import format_value

        parts = [format_value(a) for a in self.args] + [f"{k}={format_value(v)}" for k, v in self.kwargs]
        return f"{self.name}({', '.join(parts)})"


class Frame(IRRecord):
    """One step of the chain of call sites a node came from (block call, loop, sub-model)."""

    kind: str  # "block", "loop", "model"
    name: str
    location: Location | None = None
    value: Any = None  # the loop variable's value, or the block instance's name

    @property
    def detail(self) -> str:
        if self.kind == "loop":
            from archdsl.values import format_value

            return f"{self.name}={format_value(self.value)}"
        return "" if self.value is None else str(self.value)


class Layer(IRRecord):
    """A layer instance: a catalogue entry with bound arguments and its weights.

    ``name`` is unique within a model (Keras-style automatic names when the spec gives
    none); a layer applied at several nodes shares its weights.

    ``args`` holds every parameter with defaults filled in and values normalised
    (kernel sizes as tuples, ...); ``explicit`` names those the spec wrote.
    For a model used as a layer, ``op`` is ``"Model"`` and ``submodel`` is that model.
    """

    name: str
    op: str
    args: Mapping[str, Any]
    explicit: frozenset[str]
    params: ParamCount
    location: Location | None = None
    submodel: Model | None = None
    inner: Layer | None = None  # the wrapped layer of TimeDistributed / Bidirectional
    site: Any = None  # (syntax node of the call, file) for code generators
    path: tuple[str, ...] = ()  # names of the enclosing block instances, outermost first

    @property
    def trainable(self) -> bool:
        return bool(self.args.get("trainable", True))

    @property
    def qualified_name(self) -> str:
        """Unique in the model: ``residual_block_1.conv2d`` (PyTorch's ``named_modules`` form)."""
        return ".".join(self.path + (self.name,))


class Tensor(IRRecord):
    """A value in the graph: a model input or one output of a node."""

    id: int
    type: TensorType
    name: str | None = None  # the spec name it was bound to, if any
    producer: int | None = None  # node id; None for model inputs
    index: int = 0
    location: Location | None = None


class Node(IRRecord):
    """One application of a layer to tensors, in topological order within its model."""

    id: int
    layer: Layer
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    location: Location | None = None
    trace: tuple[Frame, ...] = ()
    block: int | None = None  # the innermost block instance (Model.blocks index) it belongs to
    site: Any = None  # the syntax node of the chain step that applied it
    var: str | None = None  # the spec name its result is bound to (a hint for code)


class BlockCall(IRRecord):
    """One expansion of a block: the code generators turn these into functions or modules."""

    id: int
    block: str  # the block's name in the spec
    name: str  # the instance name, unique among its siblings
    path: tuple[str, ...]  # enclosing instance names
    arguments: Mapping[str, Any]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    parent: int | None
    time_distributed: bool = False
    location: Location | None = None
    site: Any = None
    var: str | None = None  # the spec name its result is bound to


class ModelParam(IRRecord):
    """A model's parameter with its default value (None when it has none)."""

    name: str
    default: Any
    has_default: bool
    location: Location | None = None


class Model(IRRecord):
    """An elaborated model: its graph for one set of parameter values."""

    name: str
    params: tuple[ModelParam, ...]
    arguments: Mapping[str, Any]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    nodes: tuple[Node, ...]
    tensors: tuple[Tensor, ...]
    location: Location | None = None
    doc: str | None = None
    blocks: tuple[BlockCall, ...] = ()

    def tensor(self, tensor_id: int) -> Tensor:
        return self.tensors[tensor_id]

    def time_distributed_block(self, block_id: int | None) -> BlockCall | None:
        """The block that TimeDistributed wraps, for a node or block inside block
        ``block_id``: the outermost one marked time-distributed (blocks nested in it are
        marked too), or None."""
        found = None
        while block_id is not None:
            block = self.blocks[block_id]
            if block.time_distributed:
                found = block
            block_id = block.parent
        return found

    @property
    def input_types(self) -> tuple[TensorType, ...]:
        return tuple(self.tensors[t].type for t in self.inputs)

    @property
    def output_types(self) -> tuple[TensorType, ...]:
        return tuple(self.tensors[t].type for t in self.outputs)

    @property
    def layers(self) -> tuple[Layer, ...]:
        """Distinct layer instances in first-use order (a shared layer appears once)."""
        seen: dict[int, Layer] = {}  # a shared layer is one object at every node that applies it
        for node in self.nodes:
            seen.setdefault(id(node.layer), node.layer)
        return tuple(seen.values())

    @property
    def param_count(self) -> ParamCount:
        total = ParamCount(0, 0, 0, 0)
        for layer in self.layers:
            total = total + layer.params
        return total


class Program(IRRecord):
    """Everything compiled from one source file (and its imports)."""

    file: str
    models: Mapping[str, Model]
    source: Any = None  # the syntax tree (archdsl.tree.Module)
    sources: Mapping[str, str] = _EMPTY
    # file -> the definitions visible in it (archdsl.lower.Namespace), for code generators
    namespaces: Mapping[str, Any] = _EMPTY
