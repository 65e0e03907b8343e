"""The PyTorch target: one ``nn.Module`` per model and per block, from the checked IR.

The classes are specialised to the spec's parameter values: every ``in_features`` and
``in_channels`` is a number the compiler computed, and every loop is unrolled. Tensors are
channels-first (images ``(N, C, H, W)``); sequences stay ``(N, T, F)`` as ``nn.LSTM(batch_first=True)``
expects. Keras semantics are reproduced exactly where the frameworks differ: TF-style
``same`` padding, BatchNorm's epsilon and momentum, Flatten's order, Keras's initialisers.

Per-layer knowledge lives in :data:`LAYERS` (archdsl.targets.torch_layers): a function per
layer kind that returns the constructor and the forward expression.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archdsl.ir import BlockCall, Layer, Model, Node, Program, TensorType
from archdsl.targets import pyrender as py
from archdsl.targets.common import ModuleView, concrete_model, definitions_to_emit, random_input_bound

NAME = "torch"
GENERATED_NAMES = {"torch", "nn", "F", "math", "fans", "init_like_keras"}


class Unsupported(Exception):
    """A spec construct this target cannot express faithfully."""


# --- layouts ----------------------------------------------------------------------------


def time_axes(tt: TensorType, time_distributed: bool) -> int:
    """Leading axes that stay in place (the time axis of TimeDistributed data)."""
    return 1 if time_distributed and tt.rank >= 3 else 0


def torch_order(tt: TensorType, time_distributed: bool = False) -> list[int]:
    """Keras axes (0-based, batch excluded) in the order PyTorch stores them.

    Rank 1 and rank 2 (sequences) keep their order; rank 3 and up move the channels (the
    last axis) in front of the spatial axes: (H, W, C) -> (C, H, W).
    """
    if tt.rank <= 2:
        return list(range(tt.rank))
    lead = time_axes(tt, time_distributed)
    return list(range(lead)) + [tt.rank - 1] + list(range(lead, tt.rank - 1))


def torch_shape(tt: TensorType, time_distributed: bool = False) -> tuple:
    return tuple(tt.shape[i] for i in torch_order(tt, time_distributed))


def torch_dim(tt: TensorType, keras_axis: int, time_distributed: bool = False) -> int:
    """The PyTorch dim (batch = 0) of a Keras axis (batch = 0, negative from the end)."""
    index = keras_axis - 1 if keras_axis > 0 else tt.rank + keras_axis
    return torch_order(tt, time_distributed).index(index) + 1


def shape_text(tt: TensorType, time_distributed: bool = False) -> str:
    dims = ["N"] + ["None" if not isinstance(d, int) else str(d) for d in torch_shape(tt, time_distributed)]
    return "(" + ", ".join(dims) + ")"


# --- what a layer's rule sees --------------------------------------------------------------


@dataclass
class LayerCtx:
    """One node as the per-layer rules see it."""

    layer: Layer
    inputs: list[TensorType]
    outputs: list[TensorType]
    args_in: list[str]  # the Python expressions holding the inputs
    attr: str  # "self.conv2d"
    emitter: TorchEmitter
    time_distributed: bool = False

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.layer.args)

    @property
    def input(self) -> TensorType:
        return self.inputs[0]

    @property
    def output(self) -> TensorType:
        return self.outputs[0]

    @property
    def x(self) -> str:
        return self.args_in[0]

    def helper(self, name: str) -> None:
        self.emitter.helpers.add(name)

    def dim(self, keras_axis: int, tt: TensorType | None = None) -> int:
        return torch_dim(tt or self.input, keras_axis, self.time_distributed)


@dataclass
class Emitted:
    """What a layer rule produces: the module to build (or None) and the forward code."""

    init: py.Expr | None
    forward: str  # an expression of the inputs, with {m} standing for the module
    init_after: list[str] = field(default_factory=list)  # extra __init__ lines ({m} = module)
    comment: str | None = None  # why the code differs from the obvious (shown above the line)
    outputs: int = 1


# --- the emitter --------------------------------------------------------------------------


@dataclass
class ClassPlan:
    """One generated class: a model, or a block specialised to its arguments and shapes."""

    name: str
    kind: str  # "model" or "block"
    model: Model  # the IR the class is emitted from
    block: BlockCall | None  # for blocks: the representative instance
    doc: str


class TorchEmitter:
    def __init__(self, program: Program, only: str | None = None):
        from archdsl.targets import torch_layers

        self.layers = torch_layers.LAYERS
        self.program = program
        self.only = only
        self.helpers: set[str] = set()
        self.classes: list[ClassPlan] = []
        self.class_names = py.Namer()
        self.class_names.reserve(GENERATED_NAMES)
        self.model_classes: dict[int, str] = {}  # id(Model IR) -> class name
        self.block_classes: dict[Any, str] = {}  # specialisation key -> class name
        self.warnings: list[str] = []
        self.docs = {(d.loc.file, d.name): d.doc for d, _ in definitions_to_emit(program, only)}

    # --- planning ---------------------------------------------------------------------

    def _model_class(self, model: Model) -> str:
        if id(model) in self.model_classes:
            return self.model_classes[id(model)]
        for node in model.nodes:  # sub-models first, so classes are defined before use
            if node.layer.submodel is not None:
                self._model_class(node.layer.submodel)
        for block in model.blocks:
            self._block_class(model, block)
        name = self.class_names.name(
            py.camel_case(model.name) if "_" in model.name else model.name[:1].upper() + model.name[1:]
        )
        if name != model.name and model.name[:1].isupper() and model.name in self.class_names.mapping:
            pass
        self.model_classes[id(model)] = name
        doc = self.docs.get((model.location.file if model.location else "", model.name)) or f"The {model.name} model."
        self.classes.append(ClassPlan(name, "model", model, None, doc))
        return name

    def _block_key(self, model: Model, block: BlockCall) -> Any:
        types = tuple(model.tensors[t].type for t in block.inputs)
        args = tuple(sorted((k, repr(v)) for k, v in block.arguments.items()))
        return (block.block, args, types, block.time_distributed)

    def _block_class(self, model: Model, block: BlockCall) -> str:
        key = self._block_key(model, block)
        if key in self.block_classes:
            return self.block_classes[key]
        for child in model.blocks:
            if child.parent == block.id:
                self._block_class(model, child)
        name = self.class_names.fresh(py.camel_case(block.block))
        self.block_classes[key] = name
        args = ", ".join(f"{k}={py.literal(v) if _literal_ok(v) else v}" for k, v in block.arguments.items())
        doc = f"Block {block.block}({args})."
        self.classes.append(ClassPlan(name, "block", model, block, doc))
        return name

    # --- module -------------------------------------------------------------------------

    def emit(self, source_path: str, version: str) -> ModuleView:
        models = [m for n, m in self.program.models.items() if self.only is None or n == self.only]
        roots = [m for m in models if self.only is not None or not self._used_as_submodel(m, models) or True]
        for model in roots:
            self._model_class(model)
        sections = [self._class(plan) for plan in self.classes]
        header = [
            f"PyTorch models generated by archdsl {version} from {source_path}.",
            "",
            "Tensors are channels-first: images are (N, C, H, W). Sequences are (N, T, F), as",
            "nn.LSTM(batch_first=True) expects. Sizes are computed by the compiler for the spec's",
            "parameters; weights start from Keras's initialisers. Regenerate with:",
            f"    archdsl compile {source_path} --target torch",
        ]
        helper_order = [h for h in self.layers_helper_order() if h in self.helpers]
        main = self._main(roots)
        imports = ["import math", ""] if "math" in self._helper_imports() else []
        helper_order = [h for h in helper_order if h != "math"]
        imports.append("import torch")
        if any("F." in line for section in sections for line in section) or self._helper_imports() & {"F"}:
            imports.append("import torch.nn.functional as F")
        imports.append("from torch import nn")
        return ModuleView(header, imports, helper_order, sections, main)

    def layers_helper_order(self) -> list[str]:
        from archdsl.targets import torch_layers

        return torch_layers.HELPER_ORDER

    def _helper_imports(self) -> set[str]:
        from archdsl.targets import torch_layers

        needed: set[str] = set()
        for h in self.helpers:
            needed |= torch_layers.HELPER_IMPORTS.get(h, set())
        return needed

    def _used_as_submodel(self, model: Model, models: list[Model]) -> bool:
        return any(node.layer.submodel is model for m in models for node in m.nodes)

    # --- one class ----------------------------------------------------------------------

    def _class(self, plan: ClassPlan) -> list[str]:
        model = plan.model
        if plan.kind == "model":
            nodes = [n for n in model.nodes if n.block is None]
            blocks = [b for b in model.blocks if b.parent is None]
            input_ids = list(model.inputs)
            output_ids = list(model.outputs)
            input_names = [model.tensors[t].name or f"input_{i + 1}" for i, t in enumerate(input_ids)]
            td = False
        else:
            assert plan.block is not None
            nodes = [n for n in model.nodes if n.block == plan.block.id]
            blocks = [b for b in model.blocks if b.parent == plan.block.id]
            input_ids = list(plan.block.inputs)
            output_ids = list(plan.block.outputs)
            input_names = self._block_input_names(plan.block)
            td = plan.block.time_distributed
        namer = py.Namer(set(GENERATED_NAMES) | {"self"})
        tensors = model.tensors
        lines = [f"class {plan.name}(nn.Module):"]
        doc = [plan.doc, ""]
        ins = ", ".join(
            f"{name} {shape_text(tensors[t].type, td)}" for name, t in zip(input_names, input_ids, strict=True)
        )
        outs = ", ".join(shape_text(tensors[t].type, td) for t in output_ids)
        doc.append(f"Input: {ins}.")
        doc.append(f"Output: {outs}.")
        lines += py.docstring("\n".join(doc), "    ")
        lines.append("")
        init: list[str] = ["    def __init__(self):", "        super().__init__()"]
        forward_params = [namer.name(n) for n in input_names]
        forward: list[str] = py.signature("    ", "def", "forward", ["self"] + forward_params)
        var: dict[int, str] = dict(zip(input_ids, forward_params, strict=True))
        last_use = self._last_uses(model, nodes, blocks, output_ids)
        holders: dict[str, int] = {v: t for t, v in var.items()}
        built: set[str] = set()
        regularized: list[tuple[str, Any]] = []
        frozen: list[str] = []
        # Interleave the nodes and child block calls in graph order.
        items: list[tuple[int, Any]] = [(n.id, n) for n in nodes]
        for b in blocks:
            first = min(n.id for n in model.nodes if self._within(model, n, b.id))
            items.append((first, b))
        items.sort(key=lambda pair: pair[0])
        for position, item in items:
            if isinstance(item, BlockCall):
                attr = item.name
                cls = self._block_class(model, item)
                if attr not in built:
                    built.add(attr)
                    init.append(f"        self.{attr} = {cls}()")
                args = [var[t] for t in item.inputs]
                out_ids = list(item.outputs)
                comment = ", ".join(shape_text(tensors[t].type, td) for t in out_ids)
                targets = self._targets(out_ids, position, holders, last_use, namer, model, item.var)
                for t, name in zip(out_ids, targets, strict=True):
                    var[t] = name
                forward += py.statement(
                    "        ", ", ".join(targets) + " = ", f"self.{attr}({', '.join(args)})", "", comment
                )
                continue
            node: Node = item
            layer = node.layer
            attr_name = layer.name
            in_types = [tensors[t].type for t in node.inputs]
            out_types = [tensors[t].type for t in node.outputs]
            if layer.submodel is not None:
                cls = self._model_class(layer.submodel)
                emitted = Emitted(
                    py.Call(cls, ()),
                    "{m}(" + ", ".join(f"{{{i}}}" for i in range(len(node.inputs))) + ")",
                    outputs=len(out_types),
                )
            else:
                rule = self.layers.get(layer.op)
                if rule is None:
                    raise Unsupported(f"the torch target has no rule for {layer.op}")
                ctx = LayerCtx(layer, in_types, out_types, [var[t] for t in node.inputs], f"self.{attr_name}", self, td)
                emitted = rule(ctx)
            module = f"self.{attr_name}"
            if emitted.init is not None and attr_name not in built:
                built.add(attr_name)
                init += py.statement("        ", f"{module} = ", emitted.init)
                init += [f"        {line.format(m=module)}" for line in emitted.init_after]
                if not layer.trainable:
                    frozen.append(module)
                for key in ("kernel_regularizer", "bias_regularizer"):
                    if layer.args.get(key) is not None:
                        regularized.append((module, key, layer.args[key]))
            expression = emitted.forward.format(*[var[t] for t in node.inputs], m=module)
            out_ids = list(node.outputs)
            targets = self._targets(out_ids, position, holders, last_use, namer, model)
            for t, name in zip(out_ids, targets, strict=True):
                var[t] = name
            comment = ", ".join(shape_text(tensors[t].type, td) for t in out_ids)
            if emitted.comment:
                forward.append(f"        # {emitted.comment}")
            forward += py.statement("        ", ", ".join(targets) + " = ", expression, "", comment)
        if frozen:
            init.append("        # Frozen layers (trainable=False in the spec).")
            init += [f"        {m}.requires_grad_(False)" for m in frozen]
        if plan.kind == "model" or regularized:
            init.append("        self.apply(init_like_keras)" if plan.kind == "model" else "")
            self.helpers.add("init_like_keras")
        init = [line for line in init if line]
        results = [var[t] for t in output_ids]
        forward.append(f"        return {', '.join(results)}")
        lines += init + [""] + forward
        if regularized:
            lines += ["", *self._regularization(regularized)]
        return lines

    def _regularization(self, regularized: list) -> list[str]:
        lines = [
            "    def regularization_loss(self):",
            '        """The spec\'s weight penalties; add this to the training loss."""',
        ]
        terms = []
        for module, key, reg in regularized:
            weight = f"{module}.weight" if key == "kernel_regularizer" else f"{module}.bias"
            if reg.l1:
                terms.append(f"{reg.l1!r} * {weight}.abs().sum()")
            if reg.l2:
                terms.append(f"{reg.l2!r} * {weight}.pow(2).sum()")
        lines += py.statement("        ", "return ", " + ".join(terms) if terms else "0.0")
        return lines

    def _within(self, model: Model, node: Node, block_id: int) -> bool:
        current = node.block
        while current is not None:
            if current == block_id:
                return True
            current = model.blocks[current].parent
        return False

    def _block_input_names(self, block: BlockCall) -> list[str]:
        from archdsl import tree as t

        ns = None
        for candidate in self.program.namespaces.values():
            if block.block in candidate.definitions:
                ns = candidate
                break
        if ns is None:
            return [f"x{i + 1}" for i in range(len(block.inputs))]
        definition = ns.definitions[block.block]
        return [s.name for s in definition.body if isinstance(s, t.InputStmt)]

    def _last_uses(
        self, model: Model, nodes: list[Node], blocks: list[BlockCall], outputs: list[int]
    ) -> dict[int, int]:
        last: dict[int, int] = {}
        for n in nodes:
            for t in n.inputs:
                last[t] = max(last.get(t, -1), n.id)
        for b in blocks:
            first = min(n.id for n in model.nodes if self._within(model, n, b.id))
            for t in b.inputs:
                last[t] = max(last.get(t, -1), first)
        for t in outputs:
            last[t] = 1 << 30
        return last

    def _targets(
        self,
        out_ids: list[int],
        position: int,
        holders: dict[str, int],
        last_use: dict[int, int],
        namer: py.Namer,
        model: Model,
        hint: str | None = None,
    ) -> list[str]:
        """Variable names for new tensors: the spec's name for them where it has one, never
        overwriting a variable whose tensor is still needed."""
        names = []
        for t in out_ids:
            name_hint = hint or model.tensors[t].name or self._hint(model, t)
            base = namer.name(name_hint) if name_hint not in namer.mapping else namer.mapping[name_hint]
            candidate = base
            n = 1
            while (
                candidate in holders
                and last_use.get(holders[candidate], -1) > position
                and holders[candidate] != t
                or candidate in names
            ):
                n += 1
                candidate = f"{base}_{n}"
            namer.taken.add(candidate)
            holders[candidate] = t
            names.append(candidate)
        return names

    def _hint(self, model: Model, tensor_id: int) -> str:
        tensor = model.tensors[tensor_id]
        if tensor.producer is None:
            return "x"
        node = model.nodes[tensor.producer]
        return node.var or "x"

    # --- self-test ----------------------------------------------------------------------

    def _main(self, models: list[Model]) -> list[str]:
        lines = [
            "# Self-test: build each model, count its parameters, run random data through it",
            "# and check the output shapes that archdsl predicted.",
            "torch.manual_seed(0)",
        ]
        for model in models:
            concrete = concrete_model(self.program, model)
            if concrete is None:
                continue
            cls = self.model_classes[id(model)]
            var = py.snake_case(model.name)
            var = (
                var
                if var not in GENERATED_NAMES | {"outputs", "expected"} and var not in py.RESERVED
                else f"{var}_model"
            )
            lines += ["", f"{var} = {cls}().eval()"]
            lines.append(f'print({var}, "parameters:", sum(p.numel() for p in {var}.parameters()))')
            feeds = []
            for tid in concrete.inputs:
                tt = concrete.tensors[tid].type
                shape = py.literal((2,) + tuple(torch_shape(tt)))
                if tt.is_integer:
                    bound = random_input_bound(concrete, tid) or 2
                    feeds.append(f"torch.randint(0, {bound}, {shape})")
                else:
                    feeds.append(f"torch.rand({shape})")
            lines.append("with torch.no_grad():")
            lines += py.statement("    ", "outputs = ", f"{var}({', '.join(feeds)})")
            expected = [(2,) + tuple(torch_shape(concrete.tensors[o].type)) for o in concrete.outputs]
            if len(expected) == 1:
                lines.append(f"assert tuple(outputs.shape) == {py.literal(expected[0])}, outputs.shape")
            else:
                lines.append(f"expected = {py.literal(expected)}")
                lines.append("assert [tuple(o.shape) for o in outputs] == list(expected)")
        return ["    " + line if line else "" for line in lines]


def _literal_ok(value: Any) -> bool:
    try:
        py.literal(value)
        return True
    except (TypeError, ValueError):
        return False


def compile_warnings(program: Program, only: str | None) -> list[str]:
    """Choices the torch target makes that change behaviour, said once each."""
    messages: list[str] = []
    seen: set[str] = set()

    def visit(model: Model) -> None:
        for node in model.nodes:
            layer = node.layer.inner or node.layer
            while layer.inner is not None:
                layer = layer.inner
            if layer.args.get("recurrent_dropout"):
                text = (
                    f"{layer.op} '{node.layer.qualified_name}' in {model.name}: recurrent_dropout="
                    f"{layer.args['recurrent_dropout']} has no equivalent in PyTorch's fused {layer.op}; "
                    "it is left out (inference is unaffected; training regularises less)"
                )
                if text not in seen:
                    seen.add(text)
                    messages.append(text)
            if node.layer.submodel is not None:
                visit(node.layer.submodel)

    for name, model in program.models.items():
        if only is None or name == only:
            visit(model)
    return messages
