"""The syntax tree: what the parser builds, with exact positions and the comments.

Nodes are frozen records (:mod:`archdsl.records`); positions (``loc`` and the other
``*_loc`` fields) are excluded from equality so tests can compare trees without positions.
Comments are kept on the :class:`Module` so that later tools (a formatter, a language
server) can put them back.
"""

from __future__ import annotations

from typing import ClassVar

from archdsl.diagnostics import Location
from archdsl.records import Record

_NOWHERE = Location("<none>", 0, 0)


class Node(Record):
    """Base of all syntax nodes."""

    _keyword_only: ClassVar[frozenset[str]] = frozenset({"loc"})
    _uncompared: ClassVar[frozenset[str]] = frozenset({"loc", "name_loc", "target_locs", "comments"})

    loc: Location = _NOWHERE


# --- expressions -------------------------------------------------------------------------


class Expr(Node):
    """Base of expressions."""


class Name(Expr):
    id: str


class Literal(Expr):
    """An int, float, string, boolean or None literal."""

    value: object


class TupleExpr(Expr):
    items: tuple[Expr, ...]


class ListExpr(Expr):
    items: tuple[Expr, ...]


class BinOp(Expr):
    """Arithmetic (``+ - * / // % **``), comparison, or ``and``/``or``."""

    op: str
    left: Expr
    right: Expr


class UnaryOp(Expr):
    """``-x``, ``+x`` or ``not x``."""

    op: str
    operand: Expr


class Argument(Node):
    """One argument of a call; ``name`` is None for a positional one."""

    value: Expr
    name: str | None = None
    name_loc: Location | None = None


class Call(Expr):
    """``func(args)``: a layer, block, model, regularizer or builtin function."""

    func: Expr
    args: tuple[Argument, ...]


class Attribute(Expr):
    value: Expr
    attr: str


class Index(Expr):
    value: Expr
    index: Expr


class Chain(Expr):
    """``head -> step -> step``: apply each step to the value so far."""

    head: Expr
    steps: tuple[Expr, ...]


# --- statements --------------------------------------------------------------------------


class Stmt(Node):
    """Base of statements."""


class InputStmt(Stmt):
    """``input x: (28, 28, 1)`` or ``input tokens: int32 (100,)``; shape optional in blocks."""

    name: str
    shape: Expr | None
    dtype: str | None = None
    name_loc: Location | None = None


class OutputStmt(Stmt):
    """``output a, b`` in a model, or ``return a, b`` in a block (``keyword`` tells which)."""

    values: tuple[Expr, ...]
    keyword: str = "output"


class Assign(Stmt):
    """``name = expr`` or ``a, b = expr`` (unpacking several outputs)."""

    targets: tuple[str, ...]
    value: Expr
    target_locs: tuple[Location, ...] = ()


class For(Stmt):
    """``for i in range(3) { ... }``: the body is repeated with ``i`` bound."""

    var: str
    iterable: Expr
    body: tuple[Stmt, ...]


class If(Stmt):
    """``if cond { ... } elif cond { ... } else { ... }``."""

    branches: tuple[tuple[Expr, tuple[Stmt, ...]], ...]
    orelse: tuple[Stmt, ...] | None = None


# --- definitions -------------------------------------------------------------------------


class Param(Node):
    name: str
    default: Expr | None = None


class Definition(Node):
    """A ``model`` or a ``block``: a named, parameterised body."""

    kind: str  # "model" or "block"
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    doc: str | None = None
    name_loc: Location | None = None


class Import(Node):
    """``import "other.arch"`` or ``import "other.arch" as other``."""

    path: str
    alias: str | None = None


class Comment(Node):
    text: str


class Module(Node):
    """One source file."""

    file: str
    items: tuple[Import | Definition, ...]
    comments: tuple[Comment, ...] = ()

    @property
    def definitions(self) -> tuple[Definition, ...]:
        return tuple(i for i in self.items if isinstance(i, Definition))

    @property
    def imports(self) -> tuple[Import, ...]:
        return tuple(i for i in self.items if isinstance(i, Import))
