"""What both code generators share: which definitions to emit, shapes by source site,
concrete test inputs, and the view handed to the templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archdsl import tree as t
from archdsl.diagnostics import Reporter
from archdsl.ir import BlockCall, Model, Program, TensorType
from archdsl.targets import pyrender as py

UNKNOWN_DIM_SIZES = (16, 32, 64, 128)


class CodegenError(Exception):
    """The spec is valid, but a target cannot express part of it faithfully; the message says
    what and why, ``location`` where in the spec. Nothing should be written (``archdsl
    compile`` reports it as an error)."""

    location = None  # the archdsl.diagnostics.Location of the construct, once known


# tried in turn for None / named dimensions in self-tests


@dataclass
class ModuleView:
    """Everything a module template needs, pre-rendered as Python source text."""

    header: list[str]
    imports: list[str]
    helpers: list[str] = field(default_factory=list)  # names of helper macros to emit
    sections: list[list[str]] = field(default_factory=list)  # top-level functions/classes
    main: list[str] = field(default_factory=list)


def site_key(site: Any) -> int | None:
    return id(site) if site is not None else None


def all_models(models: list[Model]) -> list[Model]:
    """Every model once, each followed by the sub-models it uses (depth first)."""
    order: list[Model] = []
    seen: set[int] = set()

    def visit(model: Model) -> None:
        if id(model) in seen:
            return
        seen.add(id(model))
        order.append(model)
        for node in model.nodes:
            if node.layer.submodel is not None:
                visit(node.layer.submodel)

    for model in models:
        visit(model)
    return order


def collect_site_outputs(models: list[Model], strip_time: bool = False) -> dict[int, list[tuple[TensorType, ...]]]:
    """For each syntax node that applied layers, the output types of every application.

    Sub-models inside models are visited too, so a block used anywhere contributes. With
    ``strip_time``, layers inside a TimeDistributed block report the shape of one step (the
    block's code runs on one frame), without the time axis.
    """
    index: dict[int, list[tuple[TensorType, ...]]] = {}

    def record(key: int | None, model: Model, outputs: tuple[int, ...], framed: bool) -> None:
        if key is None:
            return
        types = tuple(model.tensors[o].type for o in outputs)
        index.setdefault(key, []).append(tuple(TensorType(tt.shape[1:], tt.dtype) for tt in types) if framed else types)

    for model in all_models(models):
        for node in model.nodes:
            framed = strip_time and node.block is not None and model.blocks[node.block].time_distributed
            record(site_key(node.site), model, node.outputs, framed)
        for block in model.blocks:
            framed = strip_time and block.parent is not None and model.blocks[block.parent].time_distributed
            record(site_key(block.site), model, block.outputs, framed)
    return index


def site_layer_names(models: list[Model]) -> dict[int, list[tuple[int, str]]]:
    """For each syntax node that applied a layer or model: (id of the model, layer name) of
    every application, sub-models included."""
    index: dict[int, list[tuple[int, str]]] = {}
    for model in all_models(models):
        for node in model.nodes:
            key = site_key(node.site)
            if key is not None:
                index.setdefault(key, []).append((id(model), node.layer.name))
    return index


def block_definition(program: Program, block: BlockCall) -> t.Definition | None:
    """The definition a block instance expands, resolved from its call site (``lib.name(...)``
    and a local ``name(...)`` may be different blocks)."""
    namespaces = program.namespaces
    ns = namespaces.get(block.location.file) if block.location is not None else None
    call = block.site
    if isinstance(call, t.Call) and _callee_name(call) == "TimeDistributed" and call.args:
        call = call.args[0].value  # TimeDistributed(block(...)): the block's own call
    if ns is not None and isinstance(call, t.Call):
        func = call.func
        if isinstance(func, t.Attribute) and isinstance(func.value, t.Name) and func.attr == block.block:
            alias = ns.aliases.get(func.value.id)
            if alias is not None and block.block in alias.definitions:
                return alias.definitions[block.block]
        if isinstance(func, t.Name) and func.id == block.block and block.block in ns.definitions:
            return ns.definitions[block.block]
    candidates = ([ns] if ns is not None else []) + list(namespaces.values())
    for candidate in candidates:
        definition = candidate.definitions.get(block.block)
        if definition is not None and definition.kind == "block":
            return definition
    return None


def _callee_name(call: t.Call) -> str | None:
    if isinstance(call.func, t.Name):
        return call.func.id
    if isinstance(call.func, t.Attribute):
        return call.func.attr
    return None


def blocks_used_repeatedly(program: Program) -> set[int]:
    """ids of block definitions expanded more than once within one model (at any depth):
    layer names given inside them would repeat in that model."""
    repeated: set[int] = set()
    seen: set[int] = set()

    def visit(model: Model) -> None:
        if id(model) in seen:
            return
        seen.add(id(model))
        counts: dict[int, int] = {}
        for block in model.blocks:
            definition = block_definition(program, block)
            if definition is not None:
                counts[id(definition)] = counts.get(id(definition), 0) + 1
        repeated.update(k for k, n in counts.items() if n > 1)
        for node in model.nodes:
            if node.layer.submodel is not None:
                visit(node.layer.submodel)

    for m in program.models.values():
        visit(m)
    return repeated


def shape_comment(types_per_use: list[tuple[TensorType, ...]] | None, render) -> str | None:
    """``(batch, 28, 28, 32)``; several distinct shapes (a block used twice) joined by ' / '."""
    if not types_per_use:
        return None
    texts: list[str] = []
    for types in types_per_use:
        text = ", ".join(render(tt) for tt in types)
        if text not in texts:
            texts.append(text)
    if len(texts) > 3:
        texts = texts[:3] + ["..."]
    return " / ".join(texts)


def definitions_to_emit(program: Program, only: str | None = None) -> list[tuple[t.Definition, str | None]]:
    """Definitions in emission order, each with the alias it is reached through (or None).

    Everything defined in the main file, plus what it uses from imported files, transitively.
    With ``only``, just that model and what it needs.
    """
    namespaces = program.namespaces
    main = namespaces[program.file]
    order: list[tuple[t.Definition, str | None]] = []
    seen: set[int] = set()

    def visit(definition: t.Definition, ns: Any, alias: str | None) -> None:
        if id(definition) in seen:
            return
        seen.add(id(definition))
        for name, sub_alias in _called_names(definition.body):
            target_ns = ns.aliases.get(sub_alias) if sub_alias else ns
            if target_ns is not None and name in target_ns.definitions:
                visit(target_ns.definitions[name], target_ns, sub_alias or (alias if target_ns is not main else None))
        order.append((definition, alias))

    roots = [d for d in program.source.definitions if main.definitions.get(d.name) is d]
    if only is not None:
        roots = [d for d in roots if d.name == only]
    for definition in roots:
        visit(definition, main, None)
    return order


def _called_names(body: tuple[t.Stmt, ...]) -> list[tuple[str, str | None]]:
    """(name, alias) of every call and bare name in a body, in source order."""
    found: list[tuple[str, str | None]] = []

    def expr(e: Any) -> None:
        if isinstance(e, t.Call):
            if isinstance(e.func, t.Name):
                found.append((e.func.id, None))
            elif isinstance(e.func, t.Attribute) and isinstance(e.func.value, t.Name):
                found.append((e.func.attr, e.func.value.id))
            for a in e.args:
                expr(a.value)
        elif isinstance(e, t.Name):
            found.append((e.id, None))
        elif isinstance(e, t.Chain):
            expr(e.head)
            for s in e.steps:
                expr(s)
        elif isinstance(e, (t.TupleExpr, t.ListExpr)):
            for i in e.items:
                expr(i)
        elif isinstance(e, t.BinOp):
            expr(e.left)
            expr(e.right)
        elif isinstance(e, t.UnaryOp):
            expr(e.operand)
        elif isinstance(e, (t.Attribute,)):
            expr(e.value)
        elif isinstance(e, t.Index):
            expr(e.value)
            expr(e.index)

    def stmts(body: tuple[t.Stmt, ...]) -> None:
        for s in body:
            if isinstance(s, t.Assign):
                expr(s.value)
            elif isinstance(s, t.OutputStmt):
                for v in s.values:
                    expr(v)
            elif isinstance(s, t.For):
                expr(s.iterable)
                stmts(s.body)
            elif isinstance(s, t.If):
                for cond, b in s.branches:
                    expr(cond)
                    stmts(b)
                if s.orelse:
                    stmts(s.orelse)
            elif isinstance(s, t.InputStmt) and s.shape is not None:
                expr(s.shape)

    stmts(body)
    return found


def statement_targets(program: Program) -> dict[int, tuple[int, tuple[str, ...]]]:
    """For the last chain step of every ``a, b = ...`` statement (and each item of a fan-out
    tuple there): ``(id of the statement, the names it binds)``.

    The IR records only the first name a statement binds (``Node.var``); a code generator
    that names several outputs uses this to give each output its own name, taking the names
    in turn as the statement's outputs appear.
    """
    found: dict[int, tuple[int, tuple[str, ...]]] = {}

    def visit(body: tuple[t.Stmt, ...]) -> None:
        for s in body:
            if isinstance(s, t.Assign) and len(s.targets) > 1 and isinstance(s.value, t.Chain) and s.value.steps:
                last = s.value.steps[-1]
                found[id(last)] = (id(s), s.targets)
                if isinstance(last, (t.TupleExpr, t.ListExpr)):
                    for item in last.items:
                        found[id(item)] = (id(s), s.targets)
            elif isinstance(s, t.For):
                visit(s.body)
            elif isinstance(s, t.If):
                for _, branch in s.branches:
                    visit(branch)
                if s.orelse:
                    visit(s.orelse)

    seen: set[int] = set()
    for ns in program.namespaces.values():
        for definition in ns.definitions.values():
            if id(definition) not in seen:
                seen.add(id(definition))
                visit(definition.body)
    return found


def concrete_model(program: Program, model: Model) -> Model | None:
    """The model re-checked with every unknown input dimension set to a concrete size, for
    the self-test's expected output shapes. None when no tried size works."""
    from archdsl.lower import Elaborator

    if all(isinstance(d, int) for tt in model.input_types for d in tt.shape):
        return model
    definition = program.namespaces[program.file].definitions[model.name]
    for size in UNKNOWN_DIM_SIZES:
        reporter = Reporter()
        elaborator = Elaborator(reporter, lambda path: "")
        elaborator.namespaces = dict(program.namespaces)
        elaborator.unknown_dim_size = size
        concrete = elaborator.instantiate(program.namespaces[program.file], definition, [], None)
        if concrete is not None and not reporter.has_errors:
            return concrete
    return None


def random_input_bound(model: Model, tensor_id: int) -> int | None:
    """For an integer input: the smallest Embedding vocabulary it feeds (ids must stay below)."""
    bounds = [
        node.layer.args["input_dim"]
        for node in model.nodes
        if tensor_id in node.inputs and node.layer.op == "Embedding"
    ]
    for node in model.nodes:
        if tensor_id in node.inputs and node.layer.submodel is not None:
            sub = node.layer.submodel
            inner = sub.inputs[node.inputs.index(tensor_id)]
            bound = random_input_bound(sub, inner)
            if bound is not None:
                bounds.append(bound)
    return min(bounds) if bounds else None


def shape_assertions(expected: list[tuple]) -> list[str]:
    """The self-test's check of the output shapes the compiler predicted (batch of 2)."""
    if len(expected) == 1:
        return [f"    assert tuple(outputs.shape) == {py.literal(expected[0])}, outputs.shape"]
    return py.statement("    ", "expected = ", py.literal(expected)) + [
        "    assert [tuple(o.shape) for o in outputs] == expected"
    ]
