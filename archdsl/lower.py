"""Syntax tree to graph IR: names resolved; blocks, loops, conditions and imports expanded.

The elaborator walks each model's body like an interpreter. Parameter expressions are
evaluated; applying a layer to tensors (``x -> Conv2D(32, 3)``) binds its arguments and
runs its shape rule at once (archdsl.infer), so a block may look at its input's shape.
Errors are collected: a statement that fails poisons the names it would have bound, and
elaboration goes on with the next statement, so one run reports every error.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from archdsl import tree as t
from archdsl.diagnostics import ArchError, Location, Note, Reporter, did_you_mean, error
from archdsl.infer import InferError, infer_layer
from archdsl.ir import (
    BlockCall,
    CallValue,
    Frame,
    Layer,
    Model,
    ModelParam,
    Node,
    Program,
    Tensor,
    TensorType,
    format_shape,
)
from archdsl.layers import CATALOGUE
from archdsl.layers.base import ACTIVATIONS, INITIALIZERS, REGULARIZER_SIGNATURES
from archdsl.records import Record
from archdsl.values import format_value, type_name

MAX_LOOP_ITERATIONS = 100_000  # one for statement
MAX_TOTAL_ITERATIONS = 1_000_000  # all loops of one model together
MAX_NODES = 250_000  # layers applied in one model, sub-models included
MAX_CALL_DEPTH = 64  # nested block and model instantiations
MAX_DIMENSION = 2**31 - 1
MAX_INT = 2**62
MAX_SEQUENCE = 10_000  # tuple length
REGULARIZERS = tuple(REGULARIZER_SIGNATURES)


class _Poison:
    """The value of a name whose definition failed: using it reports nothing more."""

    def __repr__(self) -> str:
        return "<error>"


POISON = _Poison()


class _Abort(Exception):
    """Stop the current statement silently: its error was already reported."""


class TensorValue(Record):
    """A tensor of the graph under construction, as a value in expressions."""

    id: int


class Instance:
    """A layer or model bound to a name: every application shares its weights."""

    __slots__ = ("name", "call", "location", "layer")

    def __init__(self, name: str, call: CallValue, location: Location | None) -> None:
        self.name = name
        self.call = call
        self.location = location
        self.layer: Layer | None = None  # set by the first application


class DefinitionRef(Record):
    """A bare reference to a layer, block or model (``-> Flatten`` without parentheses)."""

    name: str
    kind: str


class Binding:
    """What a name in a body stands for, and whether it was read."""

    __slots__ = ("value", "location", "kind", "used")

    def __init__(self, value: Any, location: Location | None, kind: str, used: bool = False) -> None:
        self.value = value
        self.location = location
        self.kind = kind  # "param", "input", "tensor", "value", "loop", "instance"
        self.used = used


class Scope:
    """The names of one model or block body."""

    __slots__ = ("owner", "bindings")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.bindings: dict[str, Binding] = {}


class Namespace:
    """Definitions visible in one file: its own and those it imports."""

    __slots__ = ("file", "definitions", "aliases")

    def __init__(self, file: str) -> None:
        self.file = file
        self.definitions: dict[str, t.Definition] = {}
        self.aliases: dict[str, Namespace] = {}


@cache
def snake_case(name: str) -> str:
    """Keras's automatic layer names: ``Conv2D`` -> ``conv2d``, ``BatchNormalization`` -> ``batch_normalization``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class _Graph:
    """The model under construction."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tensors: list[Tensor] = []
        self.nodes: list[Node] = []
        self.inputs: list[int] = []
        self.outputs: list[int] | None = None
        # Layer and block-instance names are unique per scope: the model, or one block instance.
        self.scopes: list[dict[str, Location | None]] = [{}]
        self.counts: list[dict[str, int]] = [{}]
        self.path: list[str] = []
        self.blocks: list[BlockCall] = []
        self.block_stack: list[int] = []
        self.iterations = 0

    @property
    def layer_names(self) -> dict[str, Location | None]:
        return self.scopes[-1]

    def unique_name(self, base: str) -> str:
        counts, taken = self.counts[-1], self.scopes[-1]
        n = counts.get(base, 0)
        while True:
            candidate = base if n == 0 else f"{base}_{n}"
            n += 1
            if candidate not in taken:
                counts[base] = n
                return candidate

    def add_tensor(
        self, ttype: TensorType, producer: int | None, index: int, location: Location | None, name: str | None = None
    ) -> int:
        tid = len(self.tensors)
        self.tensors.append(Tensor(tid, ttype, name, producer, index, location))
        return tid


class Elaborator:
    """Elaborates every model of a program; one instance per ``check`` or ``compile`` run."""

    def __init__(self, reporter: Reporter, read_file: Callable[[str], str]):
        self.reporter = reporter
        self.read_file = read_file
        self.namespaces: dict[str, Namespace] = {}
        self.modules: dict[str, t.Module] = {}
        self.model_cache: dict[tuple, Model | None] = {}
        self.active: list[tuple[str, str]] = []  # (kind, name) of definitions being expanded
        self.trace: tuple[Frame, ...] = ()  # immutable, so every node can share it
        self.graph: _Graph | None = None
        self.namespace: Namespace | None = None
        self.td_depth = 0  # > 0 while expanding a block inside TimeDistributed
        self.step: t.Expr | None = None  # the chain step being applied (recorded on nodes)
        self.target: str | None = None  # the name the statement being run binds (recorded on nodes)
        self.unknown_dim_size: int | None = None  # set by self-test generators: None/named dims -> this size
        self.node_budget = [0]
        # Per definition (by identity), for blocks expanded many times: parameter names
        # (checked for duplicates once) and input statements.
        self._param_names: dict[int, list[str]] = {}
        self._block_inputs: dict[int, list[t.InputStmt]] = {}

    # --- files and imports -------------------------------------------------------------

    def load(self, module: t.Module, importing: tuple[str, ...] = ()) -> Namespace:
        """Register a parsed module's definitions and load its imports."""
        ns = Namespace(module.file)
        self.namespaces[module.file] = ns
        self.modules[module.file] = module
        for item in module.items:
            if isinstance(item, t.Import):
                self._load_import(item, ns, importing + (module.file,))
        for item in module.definitions:
            self._define(ns, item)
        return ns

    def _define(self, ns: Namespace, item: t.Definition) -> None:
        previous = ns.definitions.get(item.name)
        if item.name in CATALOGUE:
            self.reporter.error(
                f"{item.kind} '{item.name}' has the name of a built-in layer",
                item.name_loc,
                code="duplicate",
                hint="choose another name",
            )
            return
        if previous is not None:
            where = "imported" if previous.loc.file != item.loc.file else "defined"
            self.reporter.error(
                f"duplicate definition of '{item.name}'",
                item.name_loc,
                code="duplicate",
                notes=[Note(f"'{item.name}' was first {where} here", previous.name_loc)],
            )
            return
        ns.definitions[item.name] = item

    def _load_import(self, item: t.Import, ns: Namespace, importing: tuple[str, ...]) -> None:
        base = os.path.dirname(ns.file)
        key = os.path.normpath(os.path.join(base, item.path))
        if key in importing:
            self.reporter.error(f"import cycle: '{item.path}' imports this file back", item.loc, code="import")
            return
        if key in self.namespaces:
            imported = self.namespaces[key]
        else:
            from archdsl.syntax import parse

            try:
                text = self.read_file(key)
            except OSError as exc:
                reason = exc.strerror or "cannot be read"
                self.reporter.error(
                    f"cannot import '{item.path}': {reason}",
                    item.loc,
                    code="import",
                    hint=f"the path is relative to {base or '.'}",
                )
                return
            except UnicodeDecodeError as exc:
                self.reporter.error(
                    f"cannot import '{item.path}': not UTF-8 text (byte {exc.start})", item.loc, code="import"
                )
                return
            self.reporter.sources[key] = text
            try:
                module = parse(text, key)
            except ArchError as exc:
                for diagnostic in exc.diagnostics:
                    self.reporter.add(diagnostic)
                return
            imported = self.load(module, importing)
        if item.alias:
            ns.aliases[item.alias] = imported
        else:
            for definition in imported.definitions.values():
                if definition.loc.file == imported.file:
                    self._define(ns, definition)

    # --- programs ------------------------------------------------------------------------

    def elaborate_file(self, module: t.Module, sources: dict[str, str]) -> Program:
        """Elaborate every model of ``module`` with its default parameter values."""
        ns = self.load(module)
        models: dict[str, Model] = {}
        for definition in module.definitions:
            if definition.kind != "model" or ns.definitions.get(definition.name) is not definition:
                continue
            missing = [p for p in definition.params if p.default is None]
            if missing:
                self.reporter.error(
                    f"model '{definition.name}' parameter '{missing[0].name}' has no default value",
                    missing[0].loc,
                    code="param",
                    hint=f"checking a model needs a value for every parameter: write {missing[0].name}=...",
                )
                continue
            try:
                model = self.instantiate(ns, definition, [], None)
            except ArchError as exc:
                self._report(exc)
                continue
            except _Abort:
                continue
            if model is not None:
                models[definition.name] = model
        for definition in module.definitions:
            if definition.kind == "block" and ns.definitions.get(definition.name) is definition:
                self._check_block_signature(definition)
        return Program(module.file, models, module, dict(sources), dict(self.namespaces))

    def _check_block_signature(self, definition: t.Definition) -> None:
        inputs = [s for s in definition.body if isinstance(s, t.InputStmt)]
        if not inputs:
            self.reporter.error(
                f"block '{definition.name}' has no input",
                definition.name_loc,
                code="block",
                hint="declare the tensors it receives: input x",
            )
        if not any(isinstance(s, t.OutputStmt) for s in _walk(definition.body)):
            self.reporter.error(
                f"block '{definition.name}' returns nothing",
                definition.name_loc,
                code="block",
                hint="end it with: return x",
            )

    # --- models --------------------------------------------------------------------------

    def instantiate(
        self,
        ns: Namespace,
        definition: t.Definition,
        args: list[tuple[str | None, Any, Location | None]],
        call_loc: Location | None,
    ) -> Model | None:
        """Elaborate a model for given arguments (cached); None when it has errors."""
        values, scope = self._bind_params(definition, args, call_loc, ns)
        key = (definition.loc.file, definition.name, tuple(sorted((k, _hashable(v)) for k, v in values.items())))
        if key in self.model_cache:
            return self.model_cache[key]
        if ("model", definition.name) in self.active:
            raise error(
                f"model '{definition.name}' uses itself",
                call_loc,
                code="recursion",
                notes=[Note(f"'{definition.name}' is defined here", definition.name_loc)],
            )
        if len(self.active) >= MAX_CALL_DEPTH:
            raise error(f"blocks and models nested more than {MAX_CALL_DEPTH} deep", call_loc, code="limit")
        saved = (self.graph, self.namespace)
        self.active.append(("model", definition.name))
        errors_before = self.reporter.error_count
        try:
            self.graph = _Graph(definition.name)
            self.namespace = ns
            self._run_body(definition.body, scope)
            self._report_unused(scope)
            graph = self.graph
            written = {type(s) for s in _walk(definition.body)}
            if t.InputStmt not in written:
                self.reporter.error(
                    f"model '{definition.name}' has no input",
                    definition.name_loc,
                    code="model",
                    hint="declare one: input x: (784,)",
                )
            if t.OutputStmt not in written:
                self.reporter.error(
                    f"model '{definition.name}' has no output",
                    definition.name_loc,
                    code="model",
                    hint="end the model with: output x",
                )
            if self.reporter.error_count > errors_before or not graph.inputs or graph.outputs is None:
                model = None
            else:
                assert None not in graph.blocks, "a block call without its record, yet no error"
                model = Model(
                    definition.name,
                    tuple(ModelParam(p.name, values[p.name], p.default is not None, p.loc) for p in definition.params),
                    values,
                    tuple(graph.inputs),
                    tuple(graph.outputs),
                    tuple(graph.nodes),
                    tuple(graph.tensors),
                    definition.loc,
                    definition.doc,
                    tuple(graph.blocks),
                )
        finally:
            self.active.pop()
            self.graph, self.namespace = saved
        self.model_cache[key] = model
        return model

    def _bind_params(
        self,
        definition: t.Definition,
        args: list[tuple[str | None, Any, Location | None]],
        call_loc: Location | None,
        ns: Namespace,
    ) -> tuple[dict[str, Any], Scope]:
        """Match call arguments to a model's or block's parameters and evaluate defaults;
        returns the values and a scope with the parameters bound."""
        names = self._param_names.get(id(definition))
        if names is None:
            names = []
            for p in definition.params:
                if p.name in names:
                    raise error(
                        f"duplicate parameter '{p.name}' in {definition.kind} '{definition.name}'",
                        p.loc,
                        code="duplicate",
                    )
                names.append(p.name)
            self._param_names[id(definition)] = names
        values: dict[str, Any] = {}
        positional_done = False
        for index, (name, value, loc) in enumerate(args):
            if name is None:
                if positional_done:
                    raise error("positional argument after a keyword argument", loc, code="call")
                if index >= len(names):
                    raise error(
                        f"{definition.kind} '{definition.name}' takes {len(names)} parameter{'s' if len(names) != 1 else ''}, got {index + 1} arguments",
                        loc,
                        code="arity",
                        hint=f"its parameters: {', '.join(names) or 'none'}",
                    )
                name = names[index]
            else:
                positional_done = True
                if name not in names:
                    guess = did_you_mean(name, names)
                    raise error(
                        f"{definition.kind} '{definition.name}' has no parameter '{name}'",
                        loc,
                        code="call",
                        hint=f"did you mean '{guess}'?" if guess else f"its parameters: {', '.join(names) or 'none'}",
                    )
                if name in values:
                    raise error(f"parameter '{name}' given twice", loc, code="call")
            if isinstance(value, (TensorValue, Instance)):
                raise error(
                    f"{definition.kind} parameters take values, not tensors or layers; got {self._describe(value)} for '{name}'",
                    loc,
                    code="type",
                    hint="tensors flow in with '->': x -> block(...)",
                )
            values[name] = value
        scope = Scope(definition.name)
        for p in definition.params:
            if p.name in values:
                scope.bindings[p.name] = Binding(values[p.name], p.loc, "param", used=True)
                continue
            if p.default is None:
                raise error(
                    f"{definition.kind} '{definition.name}' is missing argument '{p.name}'",
                    call_loc,
                    code="call",
                    hint=f"write {definition.name}(..., {p.name}=...)",
                )
            saved = self.namespace
            self.namespace = ns
            try:
                values[p.name] = self.eval(p.default, scope)
            finally:
                self.namespace = saved
            scope.bindings[p.name] = Binding(values[p.name], p.loc, "param", used=True)
        return {p.name: values[p.name] for p in definition.params}, scope

    # --- statements ----------------------------------------------------------------------

    def _run_body(
        self,
        body: tuple[t.Stmt, ...],
        scope: Scope,
        block_inputs: list[int] | None = None,
        returns: list[Any] | None = None,
    ) -> None:
        for stmt in body:
            try:
                self._run(stmt, scope, block_inputs, returns)
            except ArchError as exc:
                self._report(exc)
                self._poison(stmt, scope)
            except _Abort:
                self._poison(stmt, scope)

    def _report(self, exc: ArchError) -> None:
        notes = [Note(_frame_text(frame), frame.location) for frame in reversed(self.trace)]
        self.reporter.add(exc.diagnostic.with_notes(notes) if notes else exc.diagnostic)

    def _poison(self, stmt: t.Stmt, scope: Scope) -> None:
        """After a statement fails: what it binds stands for nothing (no cascade of errors
        about it), and what it reads counts as used (no 'never used' warnings for names that
        the failed statement was using)."""
        for name in _names_read(stmt):
            binding = scope.bindings.get(name)
            if binding is not None:
                binding.used = True
        if isinstance(stmt, t.Assign):
            for name, loc in zip(stmt.targets, stmt.target_locs, strict=False):
                scope.bindings[name] = Binding(POISON, loc, "tensor", used=True)
        elif isinstance(stmt, t.InputStmt) and stmt.name not in scope.bindings:
            scope.bindings[stmt.name] = Binding(POISON, stmt.name_loc, "input", used=True)
        elif isinstance(stmt, (t.For, t.If)):
            for inner in _walk((stmt,)):
                if isinstance(inner, t.Assign):
                    for name in inner.targets:
                        if name in scope.bindings:
                            scope.bindings[name].value = POISON
                            scope.bindings[name].used = True
        elif isinstance(stmt, t.OutputStmt) and self.graph is not None and self.graph.outputs is None:
            self.graph.outputs = []

    def _run(self, stmt: t.Stmt, scope: Scope, block_inputs: list[int] | None, returns: list[Any] | None) -> None:
        saved = self.target
        if isinstance(stmt, t.Assign):
            self.target = stmt.targets[0]
        elif isinstance(stmt, t.OutputStmt):
            self.target = "outputs" if stmt.keyword == "output" else "out"
        try:
            self._run_statement(stmt, scope, block_inputs, returns)
        finally:
            self.target = saved

    def _run_statement(
        self, stmt: t.Stmt, scope: Scope, block_inputs: list[int] | None, returns: list[Any] | None
    ) -> None:
        graph = self.graph
        assert graph is not None
        if isinstance(stmt, t.InputStmt):
            self._run_input(stmt, scope, block_inputs)
        elif isinstance(stmt, t.Assign):
            value = self.eval(stmt.value, scope)
            if len(stmt.targets) == 1:
                values = [value]
            else:
                if value is POISON:
                    raise _Abort()
                if not isinstance(value, tuple) or len(value) != len(stmt.targets):
                    count = len(value) if isinstance(value, tuple) else 1
                    raise error(
                        f"cannot unpack {count} value{'s' if count != 1 else ''} into {len(stmt.targets)} names",
                        stmt.value.loc,
                        code="unpack",
                        hint="a recurrent layer returns its states too only with return_state=True"
                        if count < len(stmt.targets)
                        else None,
                    )
                values = list(value)
            for name, loc, val in zip(stmt.targets, stmt.target_locs, values, strict=False):
                self._bind(scope, name, val, loc, stmt.value)
        elif isinstance(stmt, t.OutputStmt):
            self._run_output(stmt, scope, returns)
        elif isinstance(stmt, t.For):
            iterable = self.eval(stmt.iterable, scope)
            if iterable is POISON:
                raise _Abort()
            if not isinstance(iterable, (range, tuple)):
                raise error(
                    f"a for loop needs range(...) or a list, got {type_name(iterable)}", stmt.iterable.loc, code="type"
                )
            if len(iterable) > MAX_LOOP_ITERATIONS:
                raise error(
                    f"loop of {len(iterable)} iterations; the limit is {MAX_LOOP_ITERATIONS}",
                    stmt.iterable.loc,
                    code="limit",
                    hint="is the repeat count a typo?",
                )
            graph.iterations += len(iterable)
            if graph.iterations > MAX_TOTAL_ITERATIONS:
                raise error(
                    f"loops in this model run more than {MAX_TOTAL_ITERATIONS} iterations in all",
                    stmt.iterable.loc,
                    code="limit",
                )
            self._check_name(stmt.var, stmt.loc, scope)
            for value in iterable:
                scope.bindings[stmt.var] = Binding(value, stmt.loc, "loop", used=True)
                self.trace += (Frame("loop", stmt.var, stmt.loc, value),)
                try:
                    self._run_body(stmt.body, scope, block_inputs, returns)
                finally:
                    self.trace = self.trace[:-1]
        elif isinstance(stmt, t.If):
            for cond, body in stmt.branches:
                value = self.eval(cond, scope)
                if value is POISON:
                    raise _Abort()
                if not isinstance(value, bool):
                    raise error(
                        f"a condition must be True or False, got {type_name(value)}",
                        cond.loc,
                        code="type",
                        hint="compare it: n > 0",
                    )
                if value:
                    self._run_body(body, scope, block_inputs, returns)
                    return
            if stmt.orelse is not None:
                self._run_body(stmt.orelse, scope, block_inputs, returns)
        else:  # pragma: no cover - the grammar has no other statements
            raise error("unsupported statement", stmt.loc)

    def _check_name(self, name: str, loc: Location | None, scope: Scope) -> None:
        if name in CATALOGUE or (self.namespace and name in self.namespace.definitions):
            what = (
                "a built-in layer"
                if name in CATALOGUE
                else f"a {self.namespace.definitions[name].kind} defined at {self.namespace.definitions[name].name_loc}"
            )  # type: ignore[union-attr]
            raise error(f"'{name}' is already {what}", loc, code="duplicate", hint="choose another name")

    def _bind(self, scope: Scope, name: str, value: Any, loc: Location | None, expr: t.Expr) -> None:
        self._check_name(name, loc, scope)
        prev = scope.bindings.get(name)
        if (
            prev is not None
            and not prev.used
            and prev.kind == "tensor"
            and isinstance(prev.value, TensorValue)
            and not name.startswith("_")
        ):
            self.reporter.warning(
                f"the value of '{name}' is overwritten before it is used",
                prev.location,
                code="unused",
                hint=f"rename it, or to ignore a value name it '_{name}'",
            )
        if isinstance(value, CallValue):
            kind = self._callee_kind(value)
            if kind == "block":
                raise error(
                    "a block call cannot be stored in a name",
                    expr.loc,
                    code="type",
                    hint=f"apply it to a tensor instead: y = x -> {value.name}(...)",
                )
            if kind in ("layer", "model"):
                value = Instance(name, value, loc)
                scope.bindings[name] = Binding(value, loc, "instance", used=True)
                return
        kind = "tensor" if isinstance(value, TensorValue) else "value"
        if isinstance(value, tuple) and any(isinstance(v, TensorValue) for v in value):
            kind = "tensor"
        scope.bindings[name] = Binding(value, loc, kind)

    def _run_input(self, stmt: t.InputStmt, scope: Scope, block_inputs: list[int] | None) -> None:
        graph = self.graph
        assert graph is not None
        self._check_name(stmt.name, stmt.name_loc, scope)
        prev = scope.bindings.get(stmt.name)
        if prev is not None:
            what = {"input": "an input", "param": "a parameter"}.get(prev.kind, "a name")
            raise error(
                f"'{stmt.name}' is already {what}",
                stmt.name_loc,
                code="duplicate",
                notes=[Note(f"'{stmt.name}' is defined here", prev.location)],
                hint="each input needs its own name",
            )
        declared = self._eval_shape(stmt.shape, scope) if stmt.shape is not None else None
        dtype = stmt.dtype or "float32"
        if block_inputs is None:
            if declared is None:
                raise error(
                    f"model input '{stmt.name}' needs a shape",
                    stmt.name_loc,
                    code="input",
                    hint=f"write: input {stmt.name}: (28, 28, 1)  (the batch dimension is left out)",
                )
            tid = graph.add_tensor(TensorType(declared, dtype), None, 0, stmt.loc, stmt.name)
            graph.inputs.append(tid)
            scope.bindings[stmt.name] = Binding(TensorValue(tid), stmt.name_loc, "input")
            return
        position = sum(1 for b in scope.bindings.values() if b.kind == "input")
        if position >= len(block_inputs):
            # Arity is reported once by the caller; here just bind something harmless.
            scope.bindings[stmt.name] = Binding(POISON, stmt.name_loc, "input", used=True)
            return
        tid = block_inputs[position]
        actual = graph.tensors[tid].type
        if declared is not None:
            actual_shape = actual.shape[1:] if self.td_depth else actual.shape
            if not _shapes_compatible(declared, actual_shape):
                raise error(
                    f"block input '{stmt.name}' is declared {format_shape(declared)} but receives {format_shape(actual_shape)}",
                    stmt.loc,
                    code="shape",
                )
        if stmt.dtype is not None and stmt.dtype != actual.dtype:
            raise error(
                f"block input '{stmt.name}' is declared {stmt.dtype} but receives {actual.dtype}",
                stmt.loc,
                code="shape",
            )
        scope.bindings[stmt.name] = Binding(TensorValue(tid), stmt.name_loc, "input")

    def _eval_shape(self, expr: t.Expr, scope: Scope) -> tuple:
        items = expr.items if isinstance(expr, t.TupleExpr) else (expr,)
        dims: list[Any] = []
        for item in items:
            if isinstance(item, t.Name) and self._lookup_local(item.id, scope) is None and not self._is_global(item.id):
                if item.id[:1].islower() and (
                    guess := did_you_mean(item.id, [n for n, b in scope.bindings.items() if b.kind == "param"])
                ):
                    self.reporter.warning(
                        f"'{item.id}' is not a parameter, so it names an unknown dimension",
                        item.loc,
                        code="shape",
                        hint=f"did you mean the parameter '{guess}'?",
                    )
                dims.append(item.id if self.unknown_dim_size is None else self.unknown_dim_size)
                continue
            value = self.eval(item, scope)
            if value is POISON:
                raise _Abort()
            if value is None:
                dims.append(self.unknown_dim_size)
            elif isinstance(value, bool) or not isinstance(value, int):
                raise error(
                    f"a dimension must be a positive integer, None or a name, got {type_name(value)} ({format_value(value)})",
                    item.loc,
                    code="shape",
                )
            elif value <= 0:
                raise error(f"a dimension must be positive, got {value}", item.loc, code="shape")
            elif value > MAX_DIMENSION:
                raise error(f"dimension {value} is too large; the limit is {MAX_DIMENSION}", item.loc, code="limit")
            else:
                dims.append(value)
        if not dims:
            raise error(
                "a shape needs at least one dimension",
                expr.loc,
                code="shape",
                hint="shapes leave out the batch dimension: (784,)",
            )
        return tuple(dims)

    def _run_output(self, stmt: t.OutputStmt, scope: Scope, returns: list[Any] | None) -> None:
        graph = self.graph
        assert graph is not None
        in_block = returns is not None
        if stmt.keyword == "output" and in_block:
            raise error(
                "'output' is for models; a block ends with 'return'", stmt.loc, code="syntax", hint="write: return x"
            )
        if stmt.keyword == "return" and not in_block:
            raise error(
                "'return' is for blocks; a model declares its outputs with 'output'",
                stmt.loc,
                code="syntax",
                hint="write: output x",
            )
        values: list[Any] = []
        for expr in stmt.values:
            value = self.eval(expr, scope)
            if value is POISON:
                raise _Abort()
            for v in value if isinstance(value, tuple) else (value,):
                if not isinstance(v, TensorValue):
                    raise error(f"{stmt.keyword} needs tensors, got {self._describe(v)}", expr.loc, code="type")
                values.append(v)
        if in_block:
            assert returns is not None
            if returns:
                raise error("a block returns once", stmt.loc, code="block")
            returns.extend(values)
            returns.append(stmt.loc)
            return
        if graph.outputs is not None:
            raise error(
                "a model declares its outputs once", stmt.loc, code="model", hint="list them together: output a, b"
            )
        graph.outputs = [v.id for v in values]

    def _report_unused(self, scope: Scope) -> None:
        for name, binding in scope.bindings.items():
            if binding.used or name.startswith("_"):
                continue
            if binding.kind == "input":
                self.reporter.warning(f"input '{name}' is never used", binding.location, code="unused")
            elif binding.kind == "tensor":
                self.reporter.warning(
                    f"tensor '{name}' is never used",
                    binding.location,
                    code="unused",
                    hint=f"use it, remove it, or name it '_{name}'",
                )

    # --- expressions ---------------------------------------------------------------------

    def _lookup_local(self, name: str, scope: Scope) -> Binding | None:
        return scope.bindings.get(name)

    def _is_global(self, name: str) -> bool:
        return (
            name in CATALOGUE
            or name in BUILTINS
            or name in REGULARIZERS
            or bool(self.namespace and (name in self.namespace.definitions or name in self.namespace.aliases))
        )

    def eval(self, expr: t.Expr, scope: Scope) -> Any:
        return _EVALUATORS[type(expr)](self, expr, scope)

    def _eval_Literal(self, expr: t.Literal, scope: Scope) -> Any:
        return expr.value

    def _eval_Name(self, expr: t.Name, scope: Scope) -> Any:
        binding = scope.bindings.get(expr.id)
        if binding is not None:
            binding.used = True
            return binding.value
        if expr.id in CATALOGUE:
            return DefinitionRef(expr.id, "layer")
        if self.namespace and expr.id in self.namespace.definitions:
            return DefinitionRef(expr.id, self.namespace.definitions[expr.id].kind)
        if expr.id in BUILTINS or expr.id in REGULARIZERS:
            return DefinitionRef(expr.id, "function")
        if self.namespace and expr.id in self.namespace.aliases:
            return self.namespace.aliases[expr.id]
        raise self._undefined(expr.id, expr.loc, scope)

    def _undefined(self, name: str, loc: Location | None, scope: Scope) -> ArchError:
        if name in ACTIVATIONS or name in INITIALIZERS:
            return error(
                f"undefined name '{name}'",
                loc,
                code="undefined",
                hint=f'names of activations and initializers are strings: "{name}"',
            )
        # One pool, so the closest name wins: 'Flaten' is 'Flatten', not the builtin 'len'.
        pool = [*scope.bindings, *BUILTINS, *REGULARIZERS, *CATALOGUE]
        if self.namespace:
            pool += list(self.namespace.definitions)
        guess = did_you_mean(name, pool)
        hint = f"did you mean '{guess}'?" if guess else None
        what = "layer or name" if name[:1].isupper() else "name"
        return error(f"undefined {what} '{name}'", loc, code="undefined", hint=hint)

    def _eval_TupleExpr(self, expr: t.TupleExpr, scope: Scope) -> Any:
        values = tuple(self.eval(item, scope) for item in expr.items)
        return POISON if any(v is POISON for v in values) else values

    _eval_ListExpr = _eval_TupleExpr

    def _eval_UnaryOp(self, expr: t.UnaryOp, scope: Scope) -> Any:
        value = self.eval(expr.operand, scope)
        if value is POISON:
            return POISON
        if expr.op == "not":
            if not isinstance(value, bool):
                raise error(f"'not' needs True or False, got {type_name(value)}", expr.operand.loc, code="type")
            return not value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise error(f"unary '{expr.op}' needs a number, got {self._describe(value)}", expr.operand.loc, code="type")
        return -value if expr.op == "-" else value

    def _eval_BinOp(self, expr: t.BinOp, scope: Scope) -> Any:
        op = expr.op
        left = self.eval(expr.left, scope)
        if op in ("and", "or"):
            if left is POISON:
                return POISON
            if not isinstance(left, bool):
                raise error(f"'{op}' needs True or False, got {type_name(left)}", expr.left.loc, code="type")
            if (op == "and" and not left) or (op == "or" and left):
                return left
            right = self.eval(expr.right, scope)
            if right is not POISON and not isinstance(right, bool):
                raise error(f"'{op}' needs True or False, got {type_name(right)}", expr.right.loc, code="type")
            return right
        right = self.eval(expr.right, scope)
        if left is POISON or right is POISON:
            return POISON
        if op in ("==", "!="):
            equal = _hashable(left) == _hashable(right)
            return equal if op == "==" else not equal
        if op in ("<", "<=", ">", ">="):
            if not (_is_number(left) and _is_number(right)) and not (isinstance(left, str) and isinstance(right, str)):
                raise error(
                    f"cannot compare {self._describe(left)} with {self._describe(right)}", expr.loc, code="type"
                )
            return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
        return self._arith(op, left, right, expr)

    def _arith(self, op: str, left: Any, right: Any, expr: t.BinOp) -> Any:
        if isinstance(left, TensorValue) or isinstance(right, TensorValue):
            layer = {"+": "Add", "-": "Subtract", "*": "Multiply"}.get(op)
            raise error(
                f"'{op}' does not apply to tensors",
                expr.loc,
                code="type",
                hint=f"use a merge layer: (a, b) -> {layer}()" if layer else "use a layer",
            )
        if op == "+" and isinstance(left, tuple) and isinstance(right, tuple):
            result = left + right
        elif op == "+" and isinstance(left, str) and isinstance(right, str):
            result = left + right
        elif (
            op == "*"
            and isinstance(left, tuple)
            and _is_int(right)
            or op == "*"
            and _is_int(left)
            and isinstance(right, tuple)
        ):
            seq, n = (left, right) if isinstance(left, tuple) else (right, left)
            if len(seq) * max(n, 0) > MAX_SEQUENCE:
                raise error(
                    f"tuple of {len(seq) * n} items is too long; the limit is {MAX_SEQUENCE}", expr.loc, code="limit"
                )
            result = seq * n
        elif _is_number(left) and _is_number(right):
            if op in ("/", "//", "%") and right == 0:
                raise error("division by zero", expr.right.loc, code="value")
            if op == "**":
                if (
                    _is_int(left)
                    and _is_int(right)
                    and right > 0
                    and abs(left) > 1
                    and right * math.log2(abs(left)) > 62
                ):
                    raise error(f"{left} ** {right} is too large", expr.loc, code="limit")
                if _is_int(right) and right < 0 and left == 0:
                    raise error("division by zero", expr.loc, code="value")
                try:
                    result = left**right
                except OverflowError:
                    raise error(f"{left} ** {right} is too large", expr.loc, code="limit") from None
                if isinstance(result, complex):
                    raise error(f"{left} ** {right} is not a real number", expr.loc, code="value")
            else:
                result = {
                    "+": lambda: left + right,
                    "-": lambda: left - right,
                    "*": lambda: left * right,
                    "/": lambda: left / right,
                    "//": lambda: left // right,
                    "%": lambda: left % right,
                }[op]()
        else:
            raise error(
                f"cannot apply '{op}' to {self._describe(left)} and {self._describe(right)}", expr.loc, code="type"
            )
        if _is_int(result) and abs(result) > MAX_INT:
            raise error("integer too large", expr.loc, code="limit")
        if isinstance(result, float) and not math.isfinite(result):
            raise error("number too large", expr.loc, code="limit")
        return result

    def _eval_Attribute(self, expr: t.Attribute, scope: Scope) -> Any:
        value = self.eval(expr.value, scope)
        if value is POISON:
            return POISON
        graph = self.graph
        if isinstance(value, TensorValue) and graph is not None:
            tensor = graph.tensors[value.id]
            if expr.attr == "shape":
                return tensor.type.shape[1:] if self.td_depth else tensor.type.shape
            if expr.attr == "dtype":
                return tensor.type.dtype
            if expr.attr == "rank":
                return tensor.type.rank - (1 if self.td_depth else 0)
            raise error(
                f"a tensor has no attribute '{expr.attr}'",
                expr.loc,
                code="attribute",
                hint="tensors have shape, rank and dtype",
            )
        if isinstance(value, Namespace):
            if expr.attr in value.definitions:
                definition = value.definitions[expr.attr]
                return DefinitionRef(f"{expr.attr}", definition.kind)
            guess = did_you_mean(expr.attr, value.definitions)
            raise error(
                f"'{expr.attr}' is not defined in {value.file}",
                expr.loc,
                code="undefined",
                hint=f"did you mean '{guess}'?" if guess else None,
            )
        raise error(f"{self._describe(value)} has no attribute '{expr.attr}'", expr.loc, code="attribute")

    def _eval_Index(self, expr: t.Index, scope: Scope) -> Any:
        value = self.eval(expr.value, scope)
        index = self.eval(expr.index, scope)
        if value is POISON or index is POISON:
            return POISON
        if not isinstance(value, (tuple, range)):
            raise error(f"cannot index {self._describe(value)}", expr.loc, code="type")
        if not _is_int(index):
            raise error(f"an index must be an integer, got {type_name(index)}", expr.index.loc, code="type")
        if not -len(value) <= index < len(value):
            raise error(f"index {index} is out of range for {len(value)} items", expr.index.loc, code="value")
        return value[index]

    def _eval_Call(self, expr: t.Call, scope: Scope) -> Any:
        func = expr.func
        if isinstance(func, t.Name):
            fname = func.id
            local = scope.bindings.get(fname)
            if local is not None:
                local.used = True
                raise error(
                    f"'{fname}' is {self._describe(local.value)}, not a layer, block or model", func.loc, code="type"
                )
            target_ns = self.namespace
        elif (
            isinstance(func, t.Attribute)
            and isinstance(func.value, t.Name)
            and self.namespace
            and func.value.id in self.namespace.aliases
        ):
            target_ns = self.namespace.aliases[func.value.id]
            fname = func.attr
            if fname not in target_ns.definitions:
                guess = did_you_mean(fname, target_ns.definitions)
                raise error(
                    f"'{fname}' is not defined in {target_ns.file}",
                    func.loc,
                    code="undefined",
                    hint=f"did you mean '{guess}'?" if guess else None,
                )
        else:
            raise error("only layers, blocks, models and functions can be called", expr.loc, code="type")
        args: list[Any] = []
        kwargs: list[tuple[str, Any]] = []
        locs: list[tuple[Location | None, Location | None]] = []
        kw_locs: list[tuple[Location | None, Location | None]] = []
        poisoned = False
        for arg in expr.args:
            value = self.eval(arg.value, scope)
            poisoned = poisoned or value is POISON
            if _is_int(value) and abs(value) > MAX_DIMENSION and fname not in BUILTINS:
                raise error(f"value {value} is too large; the limit is {MAX_DIMENSION}", arg.value.loc, code="limit")
            if arg.name is None:
                if kwargs:
                    raise error("positional argument after a keyword argument", arg.loc, code="call")
                args.append(value)
                locs.append((arg.value.loc, None))
            else:
                kwargs.append((arg.name, value))
                kw_locs.append((arg.value.loc, arg.name_loc))
        if poisoned:
            return POISON
        if (
            fname in BUILTINS
            and target_ns is self.namespace
            and fname not in (target_ns.definitions if target_ns else {})
        ):
            return BUILTINS[fname](self, expr, args, kwargs)
        if fname not in CATALOGUE and fname not in REGULARIZERS and not (target_ns and fname in target_ns.definitions):
            raise self._undefined(fname, func.loc, scope)
        namespace_key = target_ns.file if target_ns is not self.namespace and target_ns else None
        call = CallValue(fname, tuple(args), tuple(kwargs), expr.loc, tuple(locs + kw_locs), site=(expr, namespace_key))
        return call

    def _eval_Chain(self, expr: t.Chain, scope: Scope) -> Any:
        value = self.eval(expr.head, scope)
        for step in expr.steps:
            callee = self.eval(step, scope)
            if value is POISON or callee is POISON:
                value = POISON
                continue
            saved, self.step = self.step, step
            try:
                value = self.apply(callee, value, step.loc, expr.head.loc if step is expr.steps[0] else None)
            finally:
                self.step = saved
        return value

    def _describe(self, value: Any) -> str:
        if isinstance(value, TensorValue):
            graph = self.graph
            return f"a tensor of shape {format_shape(graph.tensors[value.id].type.shape)}" if graph else "a tensor"
        if isinstance(value, Instance):
            return f"the layer '{value.name}'"
        if isinstance(value, DefinitionRef):
            return f"the {value.kind} '{value.name}'"
        if isinstance(value, Namespace):
            return f"the imported file {value.file}"
        return type_name(value)

    # --- applying layers, blocks and models -----------------------------------------------

    def _callee_kind(self, call: CallValue) -> str:
        """What a call names: "layer", "regularizer", "block", "model" or "unknown". A call
        through an import alias (``lib.conv_bn(16)``) names a definition of that file."""
        if not (isinstance(call.site, tuple) and call.site[1] is not None):
            if call.name in CATALOGUE:
                return "layer"
            if call.name in REGULARIZERS:
                return "regularizer"
        namespace = self._namespace_for(call.name, call.site)
        definition = namespace.definitions.get(call.name) if namespace else None
        return definition.kind if definition else "unknown"

    def _namespace_for(self, name: str, site: Any = None) -> Namespace | None:
        if isinstance(site, tuple) and site[1] is not None:
            return self.namespaces.get(site[1])
        if self.namespace and name in self.namespace.definitions:
            return self.namespace
        return None

    def apply(self, callee: Any, value: Any, loc: Location | None, head_loc: Location | None = None) -> Any:
        """``value -> callee``: the heart of the language."""
        graph = self.graph
        assert graph is not None
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if not isinstance(item, TensorValue):
                raise error(
                    f"'->' passes tensors into a layer, but the left side is {self._describe(item)}",
                    head_loc or loc,
                    code="type",
                    hint="the chain must start from an input or a tensor computed earlier",
                )
        inputs = [item.id for item in items]
        if isinstance(callee, tuple):
            outputs: list[Any] = []
            step = self.step
            for i, part in enumerate(callee):
                if isinstance(step, (t.TupleExpr, t.ListExpr)):
                    self.step = step.items[i]
                result = self.apply(part, value, self.step.loc if self.step is not None else loc, head_loc)
                outputs.extend(result if isinstance(result, tuple) else (result,))
            self.step = step
            return tuple(outputs)
        if isinstance(callee, Instance):
            return self._apply_instance(callee, inputs, loc)
        if isinstance(callee, DefinitionRef):
            raise error(
                f"{callee.kind} '{callee.name}' must be called",
                loc,
                code="call",
                hint=f"add parentheses: {callee.name}()",
            )
        if not isinstance(callee, CallValue):
            raise error(
                f"'->' needs a layer, block or model on its right, got {self._describe(callee)}", loc, code="type"
            )
        kind = self._callee_kind(callee)
        if kind == "layer":
            inner = (
                callee.args[0] if callee.name == "TimeDistributed" and callee.args else dict(callee.kwargs).get("layer")
            )
            if (
                callee.name == "TimeDistributed"
                and isinstance(inner, CallValue)
                and self._callee_kind(inner) == "block"
            ):
                return self.apply_time_distributed_block(callee, inner, inputs, loc)
            return self._apply_layer(callee, inputs, loc)
        if kind == "block":
            return self._expand_block(callee, inputs, loc)
        if kind == "model":
            return self._apply_model(callee, inputs, loc, None)
        raise error(
            f"'{callee.name}' is a regularizer, not a layer",
            loc,
            code="type",
            hint=f"pass it to a layer: Dense(64, kernel_regularizer={callee})",
        )

    def _count_node(self, loc: Location | None) -> None:
        self.node_budget[0] += 1
        if self.node_budget[0] > MAX_NODES:
            raise error(
                f"the graph has more than {MAX_NODES} layers", loc, code="limit", hint="is a repeat count too large?"
            )

    def _layer_name(self, call: CallValue, args: dict[str, Any], default_base: str, loc: Location | None) -> str:
        graph = self.graph
        assert graph is not None
        name = args.get("name")
        if name is not None:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise error(
                    f"layer name {format_value(name)} is not a valid identifier",
                    call.location,
                    code="name",
                    hint="use letters, digits and underscores, starting with a letter",
                )
            if name in graph.layer_names:
                raise error(
                    f"duplicate layer name '{name}'",
                    call.location,
                    code="duplicate",
                    notes=[Note(f"'{name}' is first used here", graph.layer_names[name])]
                    if graph.layer_names[name]
                    else [],
                )
            graph.layer_names[name] = call.location
            return name
        unique = graph.unique_name(default_base)
        graph.layer_names[unique] = call.location
        return unique

    def _apply_layer(
        self, call: CallValue, inputs: list[int], loc: Location | None, instance_name: str | None = None
    ) -> Any:
        graph = self.graph
        assert graph is not None
        self._count_node(loc)
        types = [graph.tensors[i].type for i in inputs]
        if self.td_depth and len(inputs) == 1 and call.name != "TimeDistributed":
            call = CallValue("TimeDistributed", (call,), (), call.location, ((call.location, None),), site=call.site)
        applied = self._infer(call, types, loc)
        name = self._layer_name(call, applied.args, instance_name or snake_case(call.name), call.location)
        layer = Layer(
            name,
            call.name,
            applied.args,
            applied.explicit,
            applied.params,
            call.location,
            None,
            _inner_layer(applied),
            call.site,
            tuple(graph.path),
        )
        return self._add_node(layer, inputs, applied.outputs, loc)

    def _infer(self, call: CallValue, types: list[TensorType], loc: Location | None) -> Any:
        if self.td_depth and len(types) > 1:
            call = _shift_axis(call)
        try:
            applied = infer_layer(call, types)
        except InferError as exc:
            raise ArchError(exc.diagnostic) from None
        for message, hint in applied.warnings:
            self.reporter.warning(
                message,
                call.location,
                code="shape",
                hint=hint,
                notes=[Note(_frame_text(f), f.location) for f in reversed(self.trace)],
            )
        return applied

    def _add_node(self, layer: Layer, inputs: list[int], outputs: tuple[TensorType, ...], loc: Location | None) -> Any:
        graph = self.graph
        assert graph is not None
        node_id = len(graph.nodes)
        out_ids = tuple(graph.add_tensor(ttype, node_id, i, loc) for i, ttype in enumerate(outputs))
        block = graph.block_stack[-1] if graph.block_stack else None
        graph.nodes.append(Node(node_id, layer, tuple(inputs), out_ids, loc, self.trace, block, self.step, self.target))
        if len(out_ids) == 1:
            return TensorValue(out_ids[0])
        return tuple(TensorValue(i) for i in out_ids)

    def _apply_instance(self, instance: Instance, inputs: list[int], loc: Location | None) -> Any:
        graph = self.graph
        assert graph is not None
        kind = self._callee_kind(instance.call)
        if instance.layer is None:
            if kind == "model":
                result = self._apply_model(instance.call, inputs, loc, instance.name)
            else:
                result = self._apply_layer(instance.call, inputs, loc, instance.name)
            instance.layer = graph.nodes[-1].layer
            return result
        self._count_node(loc)
        types = [graph.tensors[i].type for i in inputs]
        layer = instance.layer
        if kind == "model":
            assert layer.submodel is not None
            outputs = self._check_model_inputs(layer.submodel, inputs, loc, layer.name)
        else:
            applied = self._infer(instance.call, types, loc)
            if applied.params.total != layer.params.total:
                raise error(
                    f"shared layer '{instance.name}' is applied to inputs of another size: its weights were built for different features",
                    loc,
                    code="shape",
                    notes=[Note(f"'{instance.name}' is defined here", instance.location)],
                )
            outputs = applied.outputs
        return self._add_node(layer, inputs, outputs, loc)

    def _model_call_args(self, call: CallValue) -> tuple[list[tuple[str | None, Any, Location | None]], dict[str, Any]]:
        options: dict[str, Any] = {}
        args: list[tuple[str | None, Any, Location | None]] = []
        locs = list(call.arg_locs) or [(call.location, None)] * (len(call.args) + len(call.kwargs))
        for i, value in enumerate(call.args):
            args.append((None, value, locs[i][0]))
        for j, (key, value) in enumerate(call.kwargs):
            where = locs[len(call.args) + j]
            if key in ("trainable", "name"):
                if key == "trainable" and not isinstance(value, bool):
                    raise error(f"'trainable' must be True or False, got {type_name(value)}", where[0], code="type")
                if key == "name" and not isinstance(value, str):
                    raise error(f"'name' must be a string, got {type_name(value)}", where[0], code="type")
                options[key] = value
            else:
                args.append((key, value, where[1] or where[0]))
        return args, options

    def _apply_model(self, call: CallValue, inputs: list[int], loc: Location | None, instance_name: str | None) -> Any:
        graph = self.graph
        assert graph is not None
        ns = self._namespace_for(call.name, call.site)
        assert ns is not None
        definition = ns.definitions[call.name]
        args, options = self._model_call_args(call)
        self.trace += (Frame("model", call.name, call.location),)
        try:
            errors_before = self.reporter.error_count
            saved_trace = self.trace
            self.trace = ()
            try:
                model = self.instantiate(ns, definition, args, call.location)
            finally:
                self.trace = saved_trace
            if model is None:
                if self.reporter.error_count == errors_before:
                    raise error(f"model '{call.name}' has errors", call.location, code="model")
                raise _Abort()
        finally:
            self.trace = self.trace[:-1]
        self._count_node(loc)
        name = self._layer_name(call, options, instance_name or snake_case(call.name), call.location)
        outputs = self._check_model_inputs(model, inputs, loc, name)
        params = model.param_count
        trainable = options.get("trainable", True)
        if not trainable:
            params = params.frozen()
        layer_args = {"trainable": trainable, "name": options.get("name")}
        layer_args.update(model.arguments)
        layer = Layer(
            name,
            "Model",
            layer_args,
            frozenset(options) | frozenset(k for k, _, _ in args if k),
            params,
            call.location,
            model,
            None,
            call.site,
            tuple(graph.path),
        )
        return self._add_node(layer, inputs, outputs, loc)

    def _check_model_inputs(
        self, model: Model, inputs: list[int], loc: Location | None, layer_name: str
    ) -> tuple[TensorType, ...]:
        graph = self.graph
        assert graph is not None
        if len(inputs) != len(model.inputs):
            raise error(
                f"model '{model.name}' takes {len(model.inputs)} input{'s' if len(model.inputs) != 1 else ''}, got {len(inputs)}",
                loc,
                code="arity",
            )
        for tid, expected in zip(inputs, model.input_types, strict=False):
            tensor = graph.tensors[tid]
            actual = tensor.type
            if _shapes_compatible(expected.shape, actual.shape) and (expected.is_integer == actual.is_integer):
                continue
            producer = graph.nodes[tensor.producer].layer if tensor.producer is not None else None
            if producer is not None and producer.submodel is not None:
                raise error(
                    f"interface mismatch: '{producer.name}' ({producer.submodel.name}) outputs {actual}, but '{layer_name}' ({model.name}) expects {expected}",
                    loc,
                    code="interface",
                    hint=f"the output shape of {producer.submodel.name} must equal the input shape of {model.name}",
                    notes=[Note(f"{model.name}'s input is declared here", model.tensors[model.inputs[0]].location)],
                )
            raise error(
                f"model '{model.name}' expects input of shape {expected}, got {actual}",
                loc,
                code="shape",
                notes=[Note(f"{model.name}'s input is declared here", model.tensors[model.inputs[0]].location)],
            )
        return model.output_types

    def _expand_block(self, call: CallValue, inputs: list[int], loc: Location | None) -> Any:
        ns = self._namespace_for(call.name, call.site)
        assert ns is not None
        definition = ns.definitions[call.name]
        if ("block", call.name) in self.active:
            raise error(
                f"block '{call.name}' calls itself",
                call.location,
                code="recursion",
                hint="blocks cannot be recursive; use a for loop to repeat layers",
                notes=[Note(f"'{call.name}' is defined here", definition.name_loc)],
            )
        if len(self.active) >= MAX_CALL_DEPTH:
            raise error(f"blocks and models nested more than {MAX_CALL_DEPTH} deep", call.location, code="limit")
        declared_inputs = self._block_inputs.get(id(definition))
        if declared_inputs is None:
            declared_inputs = [s for s in definition.body if isinstance(s, t.InputStmt)]
            self._block_inputs[id(definition)] = declared_inputs
        if len(declared_inputs) != len(inputs):
            raise error(
                f"block '{call.name}' takes {len(declared_inputs)} input{'s' if len(declared_inputs) != 1 else ''}, got {len(inputs)}",
                loc,
                code="arity",
                hint="pass several tensors as a tuple: (a, b) -> " + call.name + "(...)"
                if len(declared_inputs) > 1
                else None,
                notes=[Note(f"'{call.name}' is defined here", definition.name_loc)],
            )
        args = [(None, v, (call.arg_locs[i][0] if call.arg_locs else call.location)) for i, v in enumerate(call.args)]
        n = len(call.args)
        args += [
            (k, v, (call.arg_locs[n + j][1] if call.arg_locs else call.location))
            for j, (k, v) in enumerate(call.kwargs)
        ]
        values, scope = self._bind_params(definition, args, call.location, ns)
        returns: list[Any] = []
        graph = self.graph
        assert graph is not None
        instance = graph.unique_name(snake_case(call.name))
        graph.layer_names[instance] = call.location
        block_id = len(graph.blocks)
        parent = graph.block_stack[-1] if graph.block_stack else None
        saved_ns = self.namespace
        self.namespace = ns
        self.active.append(("block", call.name))
        self.trace += (Frame("block", call.name, call.location, instance),)
        graph.scopes.append({})
        graph.counts.append({})
        path = tuple(graph.path)
        graph.path.append(instance)
        graph.block_stack.append(block_id)
        graph.blocks.append(None)  # the record is made once the block has run; errors discard the model
        time_distributed, site, target = self.td_depth > 0, self.step, self.target  # as at the call
        errors_before = self.reporter.error_count
        try:
            self._run_body(definition.body, scope, inputs, returns)
            self._report_unused(scope)
        finally:
            graph.block_stack.pop()
            graph.path.pop()
            graph.scopes.pop()
            graph.counts.pop()
            self.trace = self.trace[:-1]
            self.active.pop()
            self.namespace = saved_ns
        if self.reporter.error_count > errors_before:
            raise _Abort()
        if not returns:
            raise error(
                f"block '{call.name}' returns nothing", call.location, code="block", hint="end the block with: return x"
            )
        values_out = returns[:-1]
        graph.blocks[block_id] = BlockCall(
            block_id, call.name, instance, path, values, tuple(inputs), tuple(v.id for v in values_out), parent,
            time_distributed, call.location, site, target,
        )  # fmt: skip
        return values_out[0] if len(values_out) == 1 else tuple(values_out)

    def apply_time_distributed_block(
        self, call: CallValue, inner: CallValue, inputs: list[int], loc: Location | None
    ) -> Any:
        """TimeDistributed around a block: every layer inside is wrapped."""
        self.td_depth += 1
        try:
            return self._expand_block(inner, inputs, loc)
        finally:
            self.td_depth -= 1


# Expression kind -> its Elaborator._eval_<Kind> method: one dict lookup per evaluation.
_EVALUATORS: dict[type, Callable[[Elaborator, Any, Scope], Any]] = {
    kind: getattr(Elaborator, "_eval_" + kind.__name__)
    for kind in (t.Literal, t.Name, t.TupleExpr, t.ListExpr, t.UnaryOp, t.BinOp, t.Attribute, t.Index, t.Call, t.Chain)
}


def _inner_layer(applied: Any) -> Layer | None:
    inner = applied.inner
    if inner is None:
        return None
    return Layer(
        snake_case(inner.spec.name),
        inner.spec.name,
        inner.args,
        inner.explicit,
        inner.params,
        None,
        None,
        _inner_layer(inner),
    )


def _shift_axis(call: CallValue) -> CallValue:
    """Inside a TimeDistributed block, a non-negative axis counts from after the time axis."""
    kwargs = tuple((k, v + 1 if k in ("axis", "axes") and _is_int(v) and v >= 0 else v) for k, v in call.kwargs)
    if call.name == "Concatenate" and call.args and _is_int(call.args[0]) and call.args[0] >= 0:
        args = (call.args[0] + 1,) + call.args[1:]
    else:
        args = call.args
    return CallValue(call.name, args, kwargs, call.location, call.arg_locs, call.site)


def _frame_text(frame: Frame) -> str:
    if frame.kind == "block":
        return f"in block '{frame.name}', called from here"
    if frame.kind == "model":
        return f"in model '{frame.name}', used here"
    return f"in the loop iteration with {frame.detail}"


def _names_read(node: t.Node) -> Iterator[str]:
    """Every name that a statement or expression reads, nested bodies included."""
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, t.Name):
            yield item.id
        elif isinstance(item, t.Node):
            stack.extend(getattr(item, field) for field in item._fields)
        elif isinstance(item, tuple):
            stack.extend(item)


def _walk(stmts: tuple[t.Stmt, ...]) -> Iterator[t.Stmt]:
    for stmt in stmts:
        yield stmt
        if isinstance(stmt, t.For):
            yield from _walk(stmt.body)
        elif isinstance(stmt, t.If):
            for _, body in stmt.branches:
                yield from _walk(body)
            if stmt.orelse:
                yield from _walk(stmt.orelse)


def _shapes_compatible(a: tuple, b: tuple) -> bool:
    if len(a) != len(b):
        return False
    return all(not isinstance(x, int) or not isinstance(y, int) or x == y for x, y in zip(a, b, strict=False))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, Instance):
        return ("instance", id(value))
    return value


# --- builtin functions ------------------------------------------------------------------


def _builtin_range(el: Elaborator, expr: t.Call, args: list[Any], kwargs: list[tuple[str, Any]]) -> range:
    if kwargs or not 1 <= len(args) <= 3 or not all(_is_int(a) for a in args):
        raise error(
            "range takes 1 to 3 integers: range(stop), range(start, stop) or range(start, stop, step)",
            expr.loc,
            code="call",
        )
    if len(args) == 3 and args[2] == 0:
        raise error("range step must not be zero", expr.args[2].loc, code="value")
    return range(*args)


def _builtin_len(el: Elaborator, expr: t.Call, args: list[Any], kwargs: list[tuple[str, Any]]) -> int:
    if kwargs or len(args) != 1 or not isinstance(args[0], (tuple, range, str)):
        raise error("len takes one tuple, list or string", expr.loc, code="call")
    return len(args[0])


def _numbers(name: str, expr: t.Call, args: list[Any], kwargs: list[tuple[str, Any]]) -> list[Any]:
    values = list(args[0]) if len(args) == 1 and isinstance(args[0], tuple) else args
    if kwargs or not values or not all(_is_number(v) for v in values):
        raise error(f"{name} takes numbers", expr.loc, code="call")
    return values


def _builtin_int(el: Elaborator, expr: t.Call, args: list[Any], kwargs: list[tuple[str, Any]]) -> int:
    (value,) = _numbers("int", expr, args, kwargs) if len(args) == 1 else [None]
    if value is None:
        raise error("int takes one number", expr.loc, code="call")
    return int(value)


def _builtin_float(el: Elaborator, expr: t.Call, args: list[Any], kwargs: list[tuple[str, Any]]) -> float:
    if len(args) != 1:
        raise error("float takes one number", expr.loc, code="call")
    (value,) = _numbers("float", expr, args, kwargs)
    return float(value)


BUILTINS: dict[str, Callable[..., Any]] = {
    "range": _builtin_range,
    "len": _builtin_len,
    "min": lambda el, expr, a, k: min(_numbers("min", expr, a, k)),
    "max": lambda el, expr, a, k: max(_numbers("max", expr, a, k)),
    "abs": lambda el, expr, a, k: abs(_numbers("abs", expr, a, k)[0]),
    "int": _builtin_int,
    "float": _builtin_float,
}
