"""The Keras 3 target: the spec's structure, translated statement by statement.

Models become ``build_<name>(...)`` functions whose keyword arguments are the spec's
parameters, blocks become Python functions, and every layer line carries the output shape
the checker inferred. Parameters stay symbolic, so ``build_res_net(classes=10)`` works.
A model that is one straight chain of layers becomes a ``keras.Sequential``.

A model bound to a name inside another model (``encoder = Encoder()``) is one object: the
build function takes it as an optional argument (``build_autoencoder(encoder=...)``), so
the models of an autoencoder or a GAN can share their weights with models built before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archdsl import tree as t
from archdsl.ir import Model, Program, TensorType
from archdsl.layers import CATALOGUE
from archdsl.targets import pyrender as py
from archdsl.targets.common import (
    ModuleView,
    blocks_used_repeatedly,
    collect_site_outputs,
    concrete_model,
    definitions_to_emit,
    random_input_bound,
    shape_assertions,
    shape_comment,
    site_key,
    site_layer_names,
)

NAME = "keras"

# Layers that are not in keras.layers: the template provides their class (a macro of the
# same name in templates/keras/layers.j2).
CUSTOM_LAYERS = {"Sampling"}
# Wrappers ignore ``trainable=False`` given to their constructor: set the attribute instead.
ATTRIBUTE_TRAINABLE = {"TimeDistributed", "Bidirectional"}
# Layers whose call takes several tensors as separate arguments, not one list.
SEPARATE_INPUTS = {"MultiHeadAttention"}
REGULARIZERS = {"l1": "keras.regularizers.L1", "l2": "keras.regularizers.L2", "l1_l2": "keras.regularizers.L1L2"}
# Module-level names of the generated file; spec names that clash are renamed.
GENERATED_NAMES = {"keras", "layers", "ops", "np", "rng", "inputs", "outputs", "expected", "Sampling"}
# How many leading arguments of a layer may stay positional: where the spec's order and
# Keras's agree (Keras puts data_format, noise_shape... where the spec has other
# arguments). Beyond these, and beyond the first two anywhere, arguments are written by
# keyword, which also reads better: Conv2D(32, 3, strides=2).
POSITIONAL = {"Dropout": 1, "UpSampling2D": 1, "Flatten": 0}
POSITIONAL.update({f"Global{kind}Pooling{d}D": 0 for kind in ("Average", "Max") for d in (1, 2, 3)})
MAX_POSITIONAL = 2
# Arguments Keras needs as tuples where the spec also accepts one integer.
TUPLE_ARGS = {("Reshape", "target_shape"), ("Permute", "dims")}

PRECEDENCE = {"or": 1, "and": 2, "not": 3, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4}
PRECEDENCE.update({"+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6, "unary": 7, "**": 8})

Value = str | list[str]
"""A tensor value in the generated code: a variable, or a list of them (several tensors)."""


def shape_text(tt: TensorType) -> str:
    dims = ["batch"] + ["None" if not isinstance(d, int) else str(d) for d in tt.shape]
    return "(" + ", ".join(dims) + ")"


def render(value: Value) -> str:
    return value if isinstance(value, str) else "[" + ", ".join(value) + "]"


@dataclass
class Scope:
    """The names of one generated function."""

    namer: py.Namer
    kinds: dict[str, str] = field(default_factory=dict)  # spec name -> "tensor", "value", "instance"
    lines: list[str] = field(default_factory=list)
    indent: str = "    "
    injected: set[str] = field(default_factory=set)  # instance statements turned into arguments
    inputs: dict[str, str] = field(default_factory=dict)  # model input -> the variable holding its keras.Input

    def var(self, spec_name: str) -> str:
        """The variable that holds what a spec name means."""
        return self.namer.name(spec_name)


class KerasEmitter:
    def __init__(self, program: Program, only: str | None = None):
        self.program = program
        self.only = only
        self.models = dict(program.models)
        self.sites = collect_site_outputs(list(self.models.values()), strip_time=True)
        self.site_names = site_layer_names(list(self.models.values()))
        self.definitions = definitions_to_emit(program, only)
        self.global_namer = py.Namer()
        self.global_namer.reserve(GENERATED_NAMES)
        self.function_names: dict[int, str] = {}  # id(definition) -> function name
        self.used_custom: set[str] = set()
        self.submodels: set[int] = set()  # ids of model definitions used as layers
        self.repeated_blocks = blocks_used_repeatedly(program)
        for definition, alias in self.definitions:
            base = py.snake_case(definition.name)
            if alias:
                base = f"{alias}_{base}"
            base = f"build_{base}" if definition.kind == "model" else base
            self.function_names[id(definition)] = self.global_namer.name(base)
        self.ns: Any = None
        self.definition: t.Definition | None = None

    # --- module ----------------------------------------------------------------------

    def emit(self, source_path: str, version: str) -> ModuleView:
        for definition, _ in self.definitions:
            self.ns = self._namespace(definition)
            for call in _calls(definition.body):
                target = self._resolve(call)
                if target is not None and target.kind == "model":
                    self.submodels.add(id(target))
        sections = [self._function(definition) for definition, _ in self.definitions]
        header = [
            f"Keras 3 models generated by archdsl {version} from {source_path}.",
            "",
            "Shapes in comments include the batch axis and are for the spec's default",
            "parameters. Regenerate with:",
            f"    archdsl compile {source_path} --target keras",
        ]
        imports = ["import keras", "import numpy as np"]
        imports.append("from keras import layers, ops" if self.used_custom else "from keras import layers")
        return ModuleView(header, imports, sorted(self.used_custom), sections, self._main())

    def _namespace(self, definition: t.Definition) -> Any:
        return self.program.namespaces[definition.loc.file]

    # --- functions -------------------------------------------------------------------

    def _function(self, definition: t.Definition) -> list[str]:
        fname = self.function_names[id(definition)]
        scope = Scope(py.Namer(set(self.global_namer.taken) - {"outputs", "expected", "rng", "inputs"}))
        self.ns, self.definition = self._namespace(definition), definition
        params: list[str] = []
        late_defaults: list[tuple[str, str]] = []
        if definition.kind == "block":
            for s in definition.body:
                if isinstance(s, t.InputStmt):
                    params.append(scope.namer.name(s.name))
                    scope.kinds[s.name] = "tensor"
        for p in definition.params:
            pname = scope.namer.name(p.name)
            scope.kinds[p.name] = "value"
            if p.default is None:
                params.append(pname)
            elif _mentions_names(p.default):
                params.append(f"{pname}=None")
                late_defaults.append((pname, self.expr(p.default, scope)))
            else:
                default = p.default
                if isinstance(default, t.ListExpr):  # a mutable default would be shared between calls
                    default = t.TupleExpr(default.items)
                params.append(f"{pname}={self.expr(default, scope)}")
        shared: list[str] = []
        frozen_shared: list[str] = []
        if definition.kind == "model":
            for s in definition.body:
                if isinstance(s, t.Assign) and len(s.targets) == 1 and isinstance(s.value, t.Call):
                    if self._callee_kind(s.value) == "model" and s.targets[0] not in scope.injected:
                        scope.injected.add(s.targets[0])
                        shared.append(scope.namer.name(s.targets[0]))
                        params.append(f"{shared[-1]}=None")
                        if _is_false(_arg(s.value, "trainable")):
                            frozen_shared.append(shared[-1])
        is_submodel = id(definition) in self.submodels
        if definition.kind == "model" and is_submodel:
            scope.namer.reserve(["name"])
            params.append(f"name={py.string(py.snake_case(definition.name))}")
        lines = py.signature("", "def", fname, params)
        doc = definition.doc or (
            f"Build the {definition.name} model." if definition.kind == "model" else f"The {definition.name} block."
        )
        if shared:
            names = ", ".join(f"{n}=" for n in shared)
            doc += (
                f"\n\nPass models built before as {names} to use those very models here: their"
                "\nlayers, and so their weights, are shared (as a GAN shares its discriminator)."
            )
        for name in frozen_shared:
            doc += (
                f"\n\n{name} is frozen here (trainable = False). Keras 3 reads trainable when training"
                f"\nstarts: set {name}.trainable = True before training it on its own, and False"
                "\nagain before training this model."
            )
        lines += py.docstring(doc, "    ")
        for pname, default in late_defaults:
            lines += [f"    if {pname} is None:", f"        {pname} = {default}"]
        scope.lines = lines
        model = self.models.get(definition.name) if self._namespace(definition) is self._main_ns() else None
        if definition.kind == "model" and model is not None and self._is_sequential(definition, model):
            self._sequential(definition, scope, is_submodel)
        else:
            self._body(definition.body, scope, definition)
        return scope.lines

    def _main_ns(self) -> Any:
        return self.program.namespaces[self.program.file]

    def _is_sequential(self, definition: t.Definition, model: Model) -> bool:
        stmts = list(definition.body)
        if len(model.inputs) != 1 or len(model.outputs) != 1 or model.blocks:
            return False
        if not isinstance(stmts[0], t.InputStmt) or not isinstance(stmts[-1], t.OutputStmt):
            return False
        current = stmts[0].name
        for s in stmts[1:]:
            if not isinstance(s, (t.Assign, t.OutputStmt)):
                return False
            value = s.value if isinstance(s, t.Assign) else (s.values[0] if len(s.values) == 1 else None)
            if value is None or (isinstance(s, t.Assign) and len(s.targets) != 1):
                return False
            if not isinstance(value, t.Chain) or not isinstance(value.head, t.Name) or value.head.id != current:
                return False
            for step in value.steps:
                if not (isinstance(step, t.Call) and isinstance(step.func, t.Name) and step.func.id in CATALOGUE):
                    return False
                if self._callee_kind(step) != "layer":
                    return False
                if step.func.id in ATTRIBUTE_TRAINABLE and any(a.name == "trainable" for a in step.args):
                    return False
            if isinstance(s, t.Assign):
                current = s.targets[0]
        return all(len(n.outputs) == 1 and len(n.inputs) == 1 for n in model.nodes)

    def _sequential(self, definition: t.Definition, scope: Scope, is_submodel: bool) -> None:
        input_stmt = definition.body[0]
        assert isinstance(input_stmt, t.InputStmt)
        items: list[tuple[py.Expr, str | None]] = [(self._input_call(input_stmt, scope), None)]
        for s in definition.body[1:]:
            chain = s.value if isinstance(s, t.Assign) else s.values[0]  # type: ignore[union-attr]
            for step in chain.steps:
                items.append((self.layer_call(step, scope), self._comment(step)))
        name = "name" if is_submodel else py.string(py.snake_case(definition.name))
        lines = ["    return keras.Sequential(", "        ["]
        for expr, comment in items:
            lines += py.statement("            ", "", expr, ",", comment)
        lines += ["        ],", f"        name={name},", "    )"]
        scope.lines += lines

    # --- statements ------------------------------------------------------------------

    def _body(self, body: tuple[t.Stmt, ...], scope: Scope, definition: t.Definition) -> None:
        for stmt in body:
            if isinstance(stmt, t.InputStmt):
                if definition.kind == "model":
                    var = scope.namer.name(stmt.name)
                    scope.kinds[stmt.name] = "tensor"
                    if stmt.name in _assigned(definition.body):
                        # The spec rebinds the name later: the model needs the input itself.
                        held = scope.namer.fresh(f"{var}_input")
                        scope.inputs[stmt.name] = held
                        scope.lines += py.statement(scope.indent, f"{held} = ", self._input_call(stmt, scope))
                        scope.lines.append(f"{scope.indent}{var} = {held}")
                    else:
                        scope.inputs[stmt.name] = var
                        scope.lines += py.statement(scope.indent, f"{var} = ", self._input_call(stmt, scope))
            elif isinstance(stmt, t.Assign):
                self._assign(stmt, scope)
            elif isinstance(stmt, t.OutputStmt):
                self._output(stmt, scope, definition)
            elif isinstance(stmt, t.For):
                var = scope.namer.name(stmt.var)
                scope.kinds[stmt.var] = "value"
                scope.lines.append(f"{scope.indent}for {var} in {self.expr(stmt.iterable, scope)}:")
                self._nested(stmt.body, scope, definition)
            elif isinstance(stmt, t.If):
                for i, (cond, branch) in enumerate(stmt.branches):
                    keyword = "if" if i == 0 else "elif"
                    scope.lines.append(f"{scope.indent}{keyword} {self.expr(cond, scope)}:")
                    self._nested(branch, scope, definition)
                if stmt.orelse is not None:
                    scope.lines.append(f"{scope.indent}else:")
                    self._nested(stmt.orelse, scope, definition)

    def _nested(self, body: tuple[t.Stmt, ...], scope: Scope, definition: t.Definition) -> None:
        saved = scope.indent
        scope.indent += "    "
        before = len(scope.lines)
        self._body(body, scope, definition)
        if len(scope.lines) == before:
            scope.lines.append(f"{scope.indent}pass")
        scope.indent = saved

    def _input_call(self, stmt: t.InputStmt, scope: Scope) -> py.Call:
        assert stmt.shape is not None
        items = stmt.shape.items if isinstance(stmt.shape, (t.TupleExpr, t.ListExpr)) else (stmt.shape,)
        dims = []
        for item in items:
            if isinstance(item, t.Name) and item.id not in scope.kinds:
                dims.append("None")  # a named unknown dimension
            else:
                dims.append(self.expr(item, scope))
        shape = "(" + dims[0] + ",)" if len(dims) == 1 else "(" + ", ".join(dims) + ")"
        args: list[py.Expr] = [f"shape={shape}"]
        if stmt.dtype and stmt.dtype != "float32":
            args.append(f"dtype={py.string(stmt.dtype)}")
        args.append(f"name={py.string(stmt.name)}")
        return py.Call("keras.Input", tuple(args))

    def _assign(self, stmt: t.Assign, scope: Scope) -> None:
        value = stmt.value
        if isinstance(value, t.Call) and self._callee_kind(value) in ("layer", "model"):
            var = scope.namer.name(stmt.targets[0])
            scope.kinds[stmt.targets[0]] = "instance"
            self._instance(var, stmt.targets[0], value, scope)
            return
        names = [scope.namer.name(n) for n in stmt.targets]
        if self._is_tensor(value, scope):
            steps = value.steps if isinstance(value, t.Chain) else ()
            # Work in the target itself unless a later step still reads the old value.
            clash = any(_mentions(step, set(stmt.targets)) for step in steps)
            work = scope.namer.fresh(names[0] + "_tmp") if clash or len(names) > 1 else names[0]
            result = self.tensor(value, scope, work, final=names)
            if render(result) != ", ".join(names) and result != names:
                scope.lines.append(f"{scope.indent}{', '.join(names)} = {render(result)}")
            for n in stmt.targets:
                scope.kinds[n] = "tensor"
            return
        for n in stmt.targets:
            scope.kinds[n] = "value"
        scope.lines.append(f"{scope.indent}{', '.join(names)} = {self.expr(value, scope)}")

    def _instance(self, var: str, spec_name: str, call: t.Call, scope: Scope) -> None:
        """``shared = Dense(4)`` or ``encoder = Encoder()``: one object, shared weights."""
        kind = self._callee_kind(call)
        frozen = _is_false(_arg(call, "trainable"))
        name_given = _arg(call, "name") is not None
        named = not self._anonymous()
        if kind == "model":
            expr = self._model_factory(call, scope, None if name_given else spec_name)
            if spec_name in scope.injected and scope.indent == "    ":
                scope.lines.append(f"{scope.indent}if {var} is None:")
                scope.lines += py.statement(scope.indent + "    ", f"{var} = ", expr)
            else:
                scope.lines += py.statement(scope.indent, f"{var} = ", expr)
            if frozen:
                scope.lines.append(f"{scope.indent}{var}.trainable = False")
            return
        expr = self.layer_call(call, scope, name=None if name_given or not named else spec_name)
        scope.lines += py.statement(scope.indent, f"{var} = ", expr)
        if frozen and _layer_name(call) in ATTRIBUTE_TRAINABLE:
            scope.lines.append(f"{scope.indent}{var}.trainable = False")

    def _anonymous(self) -> bool:
        """Whether layer names must be left to Keras: in a block used several times in one
        model, the spec's names would repeat, which Keras refuses."""
        return self.definition is not None and id(self.definition) in self.repeated_blocks

    def _output(self, stmt: t.OutputStmt, scope: Scope, definition: t.Definition) -> None:
        results: list[str] = []
        many = len(stmt.values) > 1
        for i, value in enumerate(stmt.values):
            work = scope.namer.fresh("outputs" if not many else f"output_{i + 1}")
            results.append(render(self.tensor(value, scope, work)))
        if stmt.keyword == "return":
            scope.lines.append(f"{scope.indent}return {', '.join(results)}")
            return
        inputs = [scope.inputs[s.name] for s in definition.body if isinstance(s, t.InputStmt)]
        in_text = inputs[0] if len(inputs) == 1 else "[" + ", ".join(inputs) + "]"
        out_text = results[0] if len(results) == 1 else "[" + ", ".join(results) + "]"
        name = "name" if id(definition) in self.submodels else py.string(py.snake_case(definition.name))
        scope.lines += py.statement(
            scope.indent, "return ", py.Call("keras.Model", (in_text, out_text, f"name={name}"))
        )

    # --- tensors ---------------------------------------------------------------------

    def _is_tensor(self, e: t.Expr, scope: Scope) -> bool:
        if isinstance(e, t.Chain):
            return True
        if isinstance(e, t.Name):
            return scope.kinds.get(e.id) == "tensor"
        if isinstance(e, (t.TupleExpr, t.ListExpr)):
            return bool(e.items) and all(self._is_tensor(i, scope) for i in e.items)
        return False

    def tensor(self, e: t.Expr, scope: Scope, work: str, final: list[str] | None = None) -> Value:
        """Emit the statements computing a tensor expression; return what holds it.

        ``work`` is the variable intermediate results go to; ``final`` the names the whole
        expression is bound to (its last step writes them directly).
        """
        if isinstance(e, t.Name):
            return scope.var(e.id)
        if isinstance(e, (t.TupleExpr, t.ListExpr)):
            parts: list[str] = []
            for i, item in enumerate(e.items):
                part = self.tensor(item, scope, scope.namer.fresh(f"{work}_{i + 1}"))
                parts += [part] if isinstance(part, str) else part
            return parts
        assert isinstance(e, t.Chain)
        current = self.tensor(e.head, scope, work)
        for index, step in enumerate(e.steps):
            last = index == len(e.steps) - 1
            current = self._apply(step, current, scope, work, final if last else None)
        return current

    def _outputs_of(self, step: t.Expr) -> int | None:
        """How many tensors a chain step produces, as the checker found (None if unknown)."""
        uses = self.sites.get(site_key(step))
        if uses:
            return len(uses[0])
        if isinstance(step, (t.TupleExpr, t.ListExpr)):
            counts = [self._outputs_of(item) for item in step.items]
            return None if None in counts else sum(counts)  # type: ignore[arg-type]
        return None

    def _apply(self, step: t.Expr, current: Value, scope: Scope, work: str, final: list[str] | None) -> Value:
        comment = self._comment(step)
        if isinstance(step, (t.TupleExpr, t.ListExpr)):  # fan out: each item gets the input
            counts = [self._outputs_of(item) for item in step.items]
            split = final is not None and None not in counts and sum(counts) == len(final)  # type: ignore[arg-type]
            outs: list[str] = []
            start = 0
            for i, part in enumerate(step.items):
                names = None
                if split:
                    assert final is not None
                    names = final[start : start + counts[i]]  # type: ignore[operator]
                    start += counts[i]  # type: ignore[operator]
                result = self._apply(part, current, scope, scope.namer.fresh(f"{work}_{i + 1}"), names)
                outs += [result] if isinstance(result, str) else result
            return outs
        target = work
        result: Value = work
        if final is not None and (len(final) == 1 or self._outputs_of(step) == len(final)):
            target = ", ".join(final)
            result = final if len(final) > 1 else final[0]
        if isinstance(step, t.Name):
            scope.lines += py.statement(
                scope.indent, f"{target} = ", f"{scope.var(step.id)}({render(current)})", "", comment
            )
            return result
        assert isinstance(step, t.Call)
        kind = self._callee_kind(step)
        if kind == "block":
            fname = self.function_names[id(self._resolve(step))]
            args = ([current] if isinstance(current, str) else list(current)) + self._arguments(step, scope)
            scope.lines += py.statement(scope.indent, f"{target} = ", py.Call(fname, tuple(args)), "", comment)
            return result
        if kind == "model":
            factory = self._model_factory(step, scope, None)
            if _is_false(_arg(step, "trainable")):
                given = _arg(step, "name")
                base = given.value if isinstance(given, t.Literal) and isinstance(given.value, str) else None
                holder = scope.namer.fresh(base or py.snake_case(_layer_name(step)))
                scope.lines += py.statement(scope.indent, f"{holder} = ", factory)
                scope.lines.append(f"{scope.indent}{holder}.trainable = False")
                scope.lines += py.statement(scope.indent, f"{target} = ", f"{holder}({render(current)})", "", comment)
            else:
                scope.lines += py.statement(scope.indent, f"{target} = ", _applied(factory, current), "", comment)
            return result
        if _layer_name(step) == "TimeDistributed" and self._wraps_block(step):
            return self._time_distributed_block(step, current, scope, target, result, comment)
        layer = self.layer_call(step, scope)
        trainable = _arg(step, "trainable")
        if _layer_name(step) in ATTRIBUTE_TRAINABLE and trainable is not None:
            holder = scope.namer.fresh(py.snake_case(_layer_name(step)))
            scope.lines += py.statement(scope.indent, f"{holder} = ", layer)
            scope.lines.append(f"{scope.indent}{holder}.trainable = {self.expr(trainable, scope)}")
            scope.lines += py.statement(scope.indent, f"{target} = ", f"{holder}({render(current)})", "", comment)
            return result
        scope.lines += py.statement(scope.indent, f"{target} = ", _applied(layer, current, step), "", comment)
        return result

    def _wraps_block(self, step: t.Call) -> bool:
        inner = step.args[0].value if step.args else None
        return isinstance(inner, t.Call) and self._callee_kind(inner) == "block"

    def _time_distributed_block(
        self, step: t.Call, current: Value, scope: Scope, target: str, result: Value, comment: str | None
    ) -> Value:
        """A block inside TimeDistributed: wrap it as a small model applied to every step."""
        inner = step.args[0].value
        assert isinstance(inner, t.Call) and isinstance(current, str)
        fname = self.function_names[id(self._resolve(inner))]
        frame_in = scope.namer.fresh(f"{fname}_input")
        frame_model = scope.namer.fresh(f"{fname}_model")
        scope.lines.append(f"{scope.indent}# TimeDistributed needs a layer: wrap the block in a model for one step.")
        scope.lines += py.statement(
            scope.indent, f"{frame_in} = ", py.Call("keras.Input", (f"shape={current}.shape[2:]",))
        )
        args = [frame_in] + self._arguments(inner, scope)
        model = py.Call("keras.Model", (frame_in, py.Call(fname, tuple(args))))
        scope.lines += py.statement(scope.indent, f"{frame_model} = ", model)
        wrapper = py.Call("layers.TimeDistributed", (frame_model,))
        scope.lines += py.statement(scope.indent, f"{target} = ", _applied(wrapper, current), "", comment)
        return result

    def _comment(self, step: t.Expr) -> str:
        """The output shape(s) of a step for the spec's default parameters."""
        return shape_comment(self.sites.get(site_key(step)), shape_text) or "not built with the default parameters"

    # --- calls -------------------------------------------------------------------------

    def _resolve(self, call: t.Call) -> t.Definition | None:
        """The model or block definition a call names, seen from the current file."""
        if isinstance(call.func, t.Attribute) and isinstance(call.func.value, t.Name):
            ns = self.ns.aliases.get(call.func.value.id)
            return ns.definitions.get(call.func.attr) if ns else None
        if isinstance(call.func, t.Name):
            return self.ns.definitions.get(call.func.id)
        return None

    def _callee_kind(self, call: t.Call) -> str:
        definition = self._resolve(call)
        if definition is not None:
            return definition.kind
        if isinstance(call.func, t.Name) and call.func.id in CATALOGUE:
            return "layer"
        return "function"

    def _arguments(self, call: t.Call, scope: Scope, skip: tuple[str, ...] = ()) -> list[str]:
        out = []
        for a in call.args:
            if a.name in skip:
                continue
            value = py.flat(self.value(a.value, scope))
            out.append(value if a.name is None else f"{a.name}={value}")
        return out

    def _model_factory(self, call: t.Call, scope: Scope, instance_name: str | None) -> py.Call:
        """``build_encoder(784, 32, name="enc")``: a new sub-model, named as the checker named it.

        Keras wants the layers of a model to have distinct names; a call that makes several
        sub-models in one model (in a loop, or in a block used twice) passes ``name=None``,
        which lets Keras choose distinct names.
        """
        definition = self._resolve(call)
        fname = self.function_names[id(definition)]
        args = self._arguments(call, scope, skip=("trainable", "name"))
        default = py.snake_case(definition.name)
        name_arg = _arg(call, "name")
        uses = self.site_names.get(site_key(call), [])
        models = [model for model, _ in uses]
        repeated = self._anonymous() or len(models) != len(set(models))
        if repeated:
            args.append("name=None")
        elif name_arg is not None:
            args.append(f"name={self.expr(name_arg, scope)}")
        elif instance_name is not None and instance_name != default:
            args.append(f"name={py.string(instance_name)}")
        elif instance_name is None and {name for _, name in uses} - {default}:
            names = sorted({name for _, name in uses})
            args.append(f"name={py.string(names[0])}" if len(names) == 1 else "name=None")
        return py.Call(fname, tuple(args))

    def layer_call(self, call: t.Call, scope: Scope, name: str | None = None) -> py.Call:
        """``layers.Conv2D(32, 3, padding="same")`` from a spec call, arguments symbolic."""
        layer = _layer_name(call)
        func = layer if layer in CUSTOM_LAYERS else f"layers.{layer}"
        if layer in CUSTOM_LAYERS:
            self.used_custom.add(layer)
        spec = CATALOGUE.get(layer)
        params = [p.name for p in spec.params] if spec is not None else []
        positional = min(POSITIONAL.get(layer, MAX_POSITIONAL), MAX_POSITIONAL)
        args: list[py.Expr] = []
        for index, a in enumerate(call.args):
            keyword = a.name
            if keyword is None and index >= positional and index < len(params):
                keyword = params[index]
            if keyword == "trainable" and layer in ATTRIBUTE_TRAINABLE:
                continue
            if keyword == "name" and self._anonymous():
                continue
            value = self.value(a.value, scope)
            if (layer, keyword or (params[index] if index < len(params) else "")) in TUPLE_ARGS:
                value = _as_tuple(a.value, value)
            args.append(value if keyword is None else f"{keyword}={py.flat(value)}")
        if name is not None:
            args.append(f"name={py.string(name)}")
        return py.Call(func, tuple(args))

    def value(self, e: t.Expr, scope: Scope) -> py.Expr:
        """An argument value: a nested layer (wrappers), a regularizer, or an expression."""
        if isinstance(e, t.Call) and isinstance(e.func, t.Name) and self._callee_kind(e) != "block":
            if e.func.id in CATALOGUE and self._callee_kind(e) == "layer":
                return self.layer_call(e, scope)
            if e.func.id in REGULARIZERS and e.func.id not in self.ns.definitions:
                return py.Call(REGULARIZERS[e.func.id], tuple(self._arguments(e, scope)))
        return self.expr(e, scope)

    # --- value expressions -------------------------------------------------------------

    def expr(self, e: t.Expr, scope: Scope, parent: int = 0) -> str:
        if isinstance(e, t.Literal):
            return py.literal(e.value)
        if isinstance(e, t.Name):
            return scope.var(e.id)
        if isinstance(e, t.TupleExpr):
            items = [self.expr(i, scope) for i in e.items]
            return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
        if isinstance(e, t.ListExpr):
            return "[" + ", ".join(self.expr(i, scope) for i in e.items) + "]"
        if isinstance(e, t.UnaryOp):
            if e.op == "not":
                text = f"not {self.expr(e.operand, scope, PRECEDENCE['not'])}"
                mine = PRECEDENCE["not"]
            else:
                text = f"{e.op}{self.expr(e.operand, scope, PRECEDENCE['unary'])}"
                mine = PRECEDENCE["unary"]
            return f"({text})" if mine < parent else text
        if isinstance(e, t.BinOp):
            mine = PRECEDENCE[e.op]
            right_bias = 1 if e.op != "**" else 0
            left_bias = 1 if e.op == "**" else 0
            left = self.expr(e.left, scope, mine + left_bias)
            right = self.expr(e.right, scope, mine + right_bias)
            text = f"{left} {e.op} {right}"
            return f"({text})" if mine < parent else text
        if isinstance(e, t.Attribute):
            base = self.expr(e.value, scope, 9)
            if e.attr == "shape":
                return f"tuple({base}.shape[1:])"
            if e.attr == "rank":
                return f"(len({base}.shape) - 1)"
            return f"{base}.{e.attr}"
        if isinstance(e, t.Index):
            if (
                isinstance(e.value, t.Attribute)
                and e.value.attr == "shape"
                and isinstance(e.index, t.UnaryOp)
                and e.index.op == "-"
            ):
                return f"{self.expr(e.value.value, scope, 9)}.shape[{self.expr(e.index, scope)}]"
            return f"{self.expr(e.value, scope, 9)}[{self.expr(e.index, scope)}]"
        if isinstance(e, t.Call):
            name = e.func.id if isinstance(e.func, t.Name) else None
            if name in CATALOGUE or name in REGULARIZERS:
                return py.flat(self.value(e, scope))
            func = name if name is not None else self.expr(e.func, scope)
            return f"{func}({', '.join(self._arguments(e, scope))})"
        raise TypeError(f"cannot render {type(e).__name__}")  # pragma: no cover

    # --- self-test -------------------------------------------------------------------

    def _main(self) -> list[str]:
        lines = [
            "    # Self-test: build each model, print its summary, run random data through it and",
            "    # check the output shapes that archdsl predicted.",
            "    rng = np.random.default_rng(0)",
        ]
        namer = py.Namer(set(self.global_namer.taken))
        built: dict[int, str] = {}  # id(model IR) -> the variable holding it
        for definition, alias in self.definitions:
            if definition.kind != "model" or alias is not None or definition.name not in self.models:
                continue
            if self._namespace(definition) is not self._main_ns():
                continue
            model = self.models[definition.name]
            concrete = concrete_model(self.program, model)
            if concrete is None:
                continue
            fname = self.function_names[id(definition)]
            var = namer.name(py.snake_case(definition.name))
            shared = self._shared_arguments(definition, model, built)
            if shared:
                lines += ["", "    # Built from the models above, so it shares their weights."]
                lines += py.statement("    ", f"{var} = ", py.Call(fname, tuple(shared)))
            else:
                lines += ["", f"    {var} = {fname}()"]
            built[id(model)] = var
            lines.append(f"    {var}.summary()")
            arrays: list[py.Expr] = []
            for tid in concrete.inputs:
                tt = concrete.tensors[tid].type
                shape = py.literal((2,) + tuple(tt.shape))
                if tt.is_integer:
                    bound = random_input_bound(concrete, tid) or 2
                    arrays.append(py.Call("rng.integers", ("0", str(bound), f"size={shape}")))
                else:
                    arrays.append(py.Call("rng.random", (shape, f"dtype={py.string('float32')}")))
            if len(arrays) == 1:
                lines += py.statement("    ", "outputs = ", py.Call(var, (arrays[0],)))
            else:
                lines += py.statement("    ", "inputs = ", py.Brackets("[", tuple(arrays), "]"))
                lines.append(f"    outputs = {var}(inputs)")
            expected = [(2,) + tuple(concrete.tensors[o].type.shape) for o in concrete.outputs]
            lines += shape_assertions(expected)
        return lines

    def _shared_arguments(self, definition: t.Definition, model: Model, built: dict[int, str]) -> list[str]:
        """``generator=generator``: models built earlier in the self-test that this model
        takes as arguments (the same models, with the same parameter values)."""
        self.ns = self._namespace(definition)
        scope_names = py.Namer(set(self.global_namer.taken) - {"outputs", "expected", "rng", "inputs"})
        for p in definition.params:
            scope_names.name(p.name)
        out: list[str] = []
        seen: set[str] = set()
        for s in definition.body:
            if not (isinstance(s, t.Assign) and len(s.targets) == 1 and isinstance(s.value, t.Call)):
                continue
            if self._callee_kind(s.value) != "model" or s.targets[0] in seen:
                continue
            seen.add(s.targets[0])
            param = scope_names.name(s.targets[0])
            node = next((n for n in model.nodes if n.layer.name == _instance_layer_name(s)), None)
            if node is None or node.layer.submodel is None or id(node.layer.submodel) not in built:
                continue
            out.append(f"{param}={built[id(node.layer.submodel)]}")
        return out


# --- small syntax helpers ---------------------------------------------------------------


def _instance_layer_name(stmt: t.Assign) -> str:
    value = stmt.value
    assert isinstance(value, t.Call)
    name = _arg(value, "name")
    if isinstance(name, t.Literal) and isinstance(name.value, str):
        return name.value
    return stmt.targets[0]


def _assigned(body: tuple[t.Stmt, ...]) -> set[str]:
    """Every name a body binds with ``=`` (in loops and branches too)."""
    names: set[str] = set()
    for s in body:
        if isinstance(s, t.Assign):
            names.update(s.targets)
        elif isinstance(s, t.For):
            names.add(s.var)
            names |= _assigned(s.body)
        elif isinstance(s, t.If):
            for _, branch in s.branches:
                names |= _assigned(branch)
            if s.orelse:
                names |= _assigned(s.orelse)
    return names


def _layer_name(call: t.Call) -> str:
    if isinstance(call.func, t.Name):
        return call.func.id
    if isinstance(call.func, t.Attribute):
        return call.func.attr
    return ""


def _arg(call: t.Call, name: str) -> t.Expr | None:
    for a in call.args:
        if a.name == name:
            return a.value
    return None


def _is_false(e: t.Expr | None) -> bool:
    return isinstance(e, t.Literal) and e.value is False


def _as_tuple(e: t.Expr, value: py.Expr) -> py.Expr:
    """``(784,)`` for ``Reshape(784)``: Keras wants a tuple where the spec allows one number."""
    if isinstance(e, t.Literal) and isinstance(e.value, int) and not isinstance(e.value, bool):
        return f"({py.flat(value)},)"
    if isinstance(e, (t.BinOp, t.UnaryOp)) and not any(isinstance(n, (t.TupleExpr, t.ListExpr)) for n in _walk_expr(e)):
        return f"({py.flat(value)},)"
    return value


def _applied(layer: py.Call, current: Value, step: t.Expr | None = None) -> py.Call:
    """``Layer(args)(x)`` as a layout node: the constructor, then the call on the input(s)."""
    if isinstance(current, list) and step is not None and _layer_name(step) in SEPARATE_INPUTS:  # type: ignore[arg-type]
        return py.Call(layer, tuple(current))
    if isinstance(current, list):
        return py.Call(layer, (py.Brackets("[", tuple(current), "]"),))
    return py.Call(layer, (current,))


def _mentions_names(e: t.Expr) -> bool:
    return any(isinstance(n, t.Name) for n in _walk_expr(e))


def _mentions(e: t.Expr, names: set[str]) -> bool:
    return any(isinstance(n, t.Name) and n.id in names for n in _walk_expr(e))


def _walk_expr(e: Any):
    yield e
    if isinstance(e, t.Call):
        yield from _walk_expr(e.func)
        for a in e.args:
            yield from _walk_expr(a.value)
    elif isinstance(e, (t.TupleExpr, t.ListExpr)):
        for i in e.items:
            yield from _walk_expr(i)
    elif isinstance(e, t.BinOp):
        yield from _walk_expr(e.left)
        yield from _walk_expr(e.right)
    elif isinstance(e, t.UnaryOp):
        yield from _walk_expr(e.operand)
    elif isinstance(e, t.Attribute):
        yield from _walk_expr(e.value)
    elif isinstance(e, t.Index):
        yield from _walk_expr(e.value)
        yield from _walk_expr(e.index)
    elif isinstance(e, t.Chain):
        yield from _walk_expr(e.head)
        for s in e.steps:
            yield from _walk_expr(s)


def _calls(body: tuple[t.Stmt, ...]) -> list[t.Call]:
    """Every call in a body (including nested in chains, conditions and loops)."""
    found: list[t.Call] = []

    def stmts(b: tuple[t.Stmt, ...]) -> None:
        for s in b:
            exprs: list[Any] = []
            if isinstance(s, t.Assign):
                exprs = [s.value]
            elif isinstance(s, t.OutputStmt):
                exprs = list(s.values)
            elif isinstance(s, t.For):
                exprs = [s.iterable]
                stmts(s.body)
            elif isinstance(s, t.If):
                for cond, branch in s.branches:
                    exprs.append(cond)
                    stmts(branch)
                if s.orelse:
                    stmts(s.orelse)
            for e in exprs:
                found.extend(n for n in _walk_expr(e) if isinstance(n, t.Call))

    stmts(body)
    return found
