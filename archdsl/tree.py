"""The syntax tree: what the parser builds, with exact positions and the comments.

Nodes are frozen dataclasses; ``loc`` is excluded from equality so tests can compare
trees without positions. Comments are kept on the :class:`Module` so that later tools (a
formatter, a language server) can put them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archdsl.diagnostics import Location

_NOWHERE = Location("<none>", 0, 0)


@dataclass(frozen=True)
class Node:
    """Base of all syntax nodes."""

    loc: Location = field(default=_NOWHERE, compare=False, repr=False, kw_only=True)


# --- expressions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Expr(Node):
    """Base of expressions."""


@dataclass(frozen=True)
class Name(Expr):
    id: str


@dataclass(frozen=True)
class Literal(Expr):
    """An int, float, string, boolean or None literal."""

    value: object


@dataclass(frozen=True)
class TupleExpr(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class ListExpr(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class BinOp(Expr):
    """Arithmetic (``+ - * / // % **``), comparison, or ``and``/``or``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class UnaryOp(Expr):
    """``-x``, ``+x`` or ``not x``."""

    op: str
    operand: Expr


@dataclass(frozen=True)
class Argument(Node):
    """One argument of a call; ``name`` is None for a positional one."""

    value: Expr
    name: str | None = None
    name_loc: Location | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Call(Expr):
    """``func(args)``: a layer, block, model, regularizer or builtin function."""

    func: Expr
    args: tuple[Argument, ...]


@dataclass(frozen=True)
class Attribute(Expr):
    value: Expr
    attr: str


@dataclass(frozen=True)
class Index(Expr):
    value: Expr
    index: Expr


@dataclass(frozen=True)
class Chain(Expr):
    """``head -> step -> step``: apply each step to the value so far."""

    head: Expr
    steps: tuple[Expr, ...]


# --- statements --------------------------------------------------------------------------


@dataclass(frozen=True)
class Stmt(Node):
    """Base of statements."""


@dataclass(frozen=True)
class InputStmt(Stmt):
    """``input x: (28, 28, 1)`` or ``input tokens: int32 (100,)``; shape optional in blocks."""

    name: str
    shape: Expr | None
    dtype: str | None = None
    name_loc: Location | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class OutputStmt(Stmt):
    """``output a, b`` in a model, or ``return a, b`` in a block (``keyword`` tells which)."""

    values: tuple[Expr, ...]
    keyword: str = "output"


@dataclass(frozen=True)
class Assign(Stmt):
    """``name = expr`` or ``a, b = expr`` (unpacking several outputs)."""

    targets: tuple[str, ...]
    value: Expr
    target_locs: tuple[Location, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class For(Stmt):
    """``for i in range(3) { ... }``: the body is repeated with ``i`` bound."""

    var: str
    iterable: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class If(Stmt):
    """``if cond { ... } elif cond { ... } else { ... }``."""

    branches: tuple[tuple[Expr, tuple[Stmt, ...]], ...]
    orelse: tuple[Stmt, ...] | None = None


# --- definitions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Param(Node):
    name: str
    default: Expr | None = None


@dataclass(frozen=True)
class Definition(Node):
    """A ``model`` or a ``block``: a named, parameterised body."""

    kind: str  # "model" or "block"
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    doc: str | None = None
    name_loc: Location | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Import(Node):
    """``import "other.arch"`` or ``import "other.arch" as other``."""

    path: str
    alias: str | None = None


@dataclass(frozen=True)
class Comment(Node):
    text: str


@dataclass(frozen=True)
class Module(Node):
    """One source file."""

    file: str
    items: tuple[Import | Definition, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)

    @property
    def definitions(self) -> tuple[Definition, ...]:
        return tuple(i for i in self.items if isinstance(i, Definition))

    @property
    def imports(self) -> tuple[Import, ...]:
        return tuple(i for i in self.items if isinstance(i, Import))
