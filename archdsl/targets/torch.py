"""The PyTorch target: one ``nn.Module`` per model and per block, from the checked IR.

The classes are specialised to the spec's parameter values: every ``in_features`` and
``in_channels`` is a number the compiler computed, and every loop is unrolled. Tensors are
channels-first (images ``(N, C, H, W)``); sequences stay ``(N, T, F)`` as ``nn.LSTM(batch_first=True)``
expects. Keras semantics are reproduced exactly where the frameworks differ: TF-style
``same`` padding, BatchNorm's epsilon and momentum, Flatten's order, Keras's initialisers.

Per-layer knowledge lives in :data:`LAYERS` (archdsl.targets.torch_layers): a function per
layer kind that returns the constructor and the forward expression. This module plans the
classes, names the modules and variables, and lays out each class.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Any

from archdsl import tree as syntax
from archdsl.ir import BlockCall, Layer, Model, Node, Program, TensorType
from archdsl.targets import pyrender as py
from archdsl.targets.common import (
    CodegenError,
    ModuleView,
    block_definition,
    concrete_model,
    definitions_to_emit,
    random_input_bound,
    shape_assertions,
    statement_targets,
)

NAME = "torch"
# Module-level names of the generated file (imports and helper functions); spec names that
# clash with them are renamed.
GENERATED_NAMES = {"torch", "nn", "F", "math", "fans", "init_like_keras"}
MAIN_NAMES = {"outputs", "expected"}  # variables of the self-test at module level

# Attributes and methods of nn.Module (torch 2.x): a layer named like one of them cannot be an
# attribute of the same name (``self.forward = nn.Linear(...)`` would shadow nothing and
# break everything), so it is renamed. Also the methods the generated classes define.
MODULE_ATTRIBUTES = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
    double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children named_modules
    named_parameters parameters register_backward_hook register_buffer register_forward_hook
    register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
    register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
    register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
    set_extra_state set_submodule share_memory state_dict to to_empty train type xpu zero_grad
    training regularization_loss""".split()
)

# Layer kinds whose weights init_like_keras does not touch and that need no call: their
# modules are left out of the "start from Keras's initialisers" loop to keep it short.
NO_KERAS_INIT = ("nn.BatchNorm", "nn.LayerNorm", "nn.Dropout", "nn.ReLU", "nn.LeakyReLU", "nn.ELU")
NO_KERAS_INIT += ("nn.Softmax", "nn.Embedding", "nn.ZeroPad", "nn.Upsample", "nn.MaxPool", "nn.AvgPool")
NO_KERAS_INIT += ("Sampling(",)

BATCH_NORMS = "(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)"

# Weight-penalty arguments -> the PyTorch parameters they apply to, by kind of module.
PENALTIES = {
    "kernel_regularizer": {"rnn": ("weight_ih_l0",), "default": ("weight",)},
    "recurrent_regularizer": {"rnn": ("weight_hh_l0",)},
    "depthwise_regularizer": {"depthwise": ("weight",), "separable": ("depthwise.weight",)},
    "pointwise_regularizer": {"separable": ("pointwise.weight",)},
    "bias_regularizer": {"rnn": ("bias_ih_l0",), "default": ("bias",), "depthwise": ("bias",), "separable": ("bias",)},
    "embeddings_regularizer": {"default": ("weight",)},
    "beta_regularizer": {"default": ("bias",)},
    "gamma_regularizer": {"default": ("weight",)},
}


def penalty_kind(op: str) -> str:
    if op in ("SimpleRNN", "LSTM", "GRU"):
        return "rnn"
    if op.startswith("DepthwiseConv"):
        return "depthwise"
    if op.startswith("SeparableConv"):
        return "separable"
    return "default"


class Unsupported(CodegenError):
    """A spec construct this target cannot express faithfully."""


# --- layouts ----------------------------------------------------------------------------


def time_axes(tt: TensorType, time_distributed: bool) -> int:
    """Leading axes that stay in place (the time axis of TimeDistributed data)."""
    return 1 if time_distributed and tt.rank >= 3 else 0


def torch_order(tt: TensorType, time_distributed: bool = False) -> list[int]:
    """Keras axes (0-based, batch excluded) in the order PyTorch stores them.

    Rank 1 and rank 2 (sequences) keep their order; rank 3 and up move the channels (the
    last axis) in front of the spatial axes: (H, W, C) -> (C, H, W). Inside a block that is
    TimeDistributed, frames keep the time axis first: (T, H, W, C) -> (T, C, H, W).
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


def module_attr(name: str) -> str:
    """The attribute holding the module of a layer (or block instance) called ``name``.

    Names that Python or nn.Module reserve get a trailing underscore (``forward`` ->
    ``forward_``); the mapping is one-to-one (``forward_`` -> ``forward__``).
    """
    base = name.rstrip("_") or name
    if keyword.iskeyword(base) or keyword.issoftkeyword(base) or base in MODULE_ATTRIBUTES:
        return name + "_"
    if name.startswith("__"):
        return "m" + name  # self.__x would be name-mangled
    return name


def module_name(qualified_name: str) -> str:
    """The ``named_modules()`` name of a layer from its IR qualified name (``block_1.conv2d``)."""
    return ".".join(module_attr(part) for part in qualified_name.split("."))


def in_time_distributed_block(model: Model, node: Node) -> bool:
    """Whether the node runs inside a TimeDistributed block, whose frames are (N, T, C, ...)."""
    return node.block is not None and model.blocks[node.block].time_distributed


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
    shared: list[tuple[str, str]] = field(default_factory=list)  # (attribute, class) of injectable sub-models
    penalised: bool = False  # whether it has a regularization_loss() method


class TorchEmitter:
    def __init__(self, program: Program, only: str | None = None):
        from archdsl.targets import torch_layers

        self.layers = torch_layers.LAYERS
        self.helper_names = list(torch_layers.HELPER_ORDER)
        self.program = program
        self.only = only
        self.helpers: set[str] = set()
        self.classes: list[ClassPlan] = []
        self.class_names = py.Namer()
        self.class_names.reserve(GENERATED_NAMES | set(self.helper_names))
        self.model_classes: dict[int, ClassPlan] = {}  # id(Model IR) -> its class
        self.block_classes: dict[Any, ClassPlan] = {}  # specialisation key -> its class
        self.targets = statement_targets(program)
        self.docs = {(d.loc.file, d.name): d.doc for d, _ in definitions_to_emit(program, only) if d.kind == "model"}

    # --- planning ---------------------------------------------------------------------

    def _model_class(self, model: Model) -> ClassPlan:
        if id(model) in self.model_classes:
            return self.model_classes[id(model)]
        for node in model.nodes:  # sub-models first, so classes are defined before use
            if node.layer.submodel is not None:
                self._model_class(node.layer.submodel)
        for block in model.blocks:
            if block.parent is None and self._first_node(model, block) is not None:
                self._block_class(model, block)
        base = py.camel_case(model.name) if "_" in model.name else model.name[:1].upper() + model.name[1:]
        name = self.class_names.fresh(base, separator="")
        doc = self.docs.get((model.location.file if model.location else "", model.name)) or f"The {model.name} model."
        plan = ClassPlan(name, "model", model, None, doc)
        self.model_classes[id(model)] = plan
        self.classes.append(plan)
        return plan

    def _block_key(self, model: Model, block: BlockCall) -> Any:
        """What a block's class depends on: the definition, its arguments, its input types, and
        which inputs are the same tensor (the class's forward is written from one instance)."""
        types = tuple(model.tensors[t].type for t in block.inputs)
        args = tuple(sorted((k, repr(v)) for k, v in block.arguments.items()))
        same = tuple(block.inputs.index(t) for t in block.inputs)
        definition = block_definition(self.program, block)
        return (id(definition) if definition is not None else block.block, args, types, same, block.time_distributed)

    def _block_class(self, model: Model, block: BlockCall) -> ClassPlan:
        key = self._block_key(model, block)
        if key in self.block_classes:
            return self.block_classes[key]
        for child in model.blocks:
            if child.parent == block.id and self._first_node(model, child) is not None:
                self._block_class(model, child)
        for node in model.nodes:
            if node.block is not None and node.layer.submodel is not None and self._within(model, node, block.id):
                self._model_class(node.layer.submodel)
        name = self.class_names.fresh(py.camel_case(block.block), separator="")
        args = ", ".join(f"{k}={py.literal(v) if _literal_ok(v) else v}" for k, v in block.arguments.items())
        doc = f"Block {block.block}({args})."
        plan = ClassPlan(name, "block", model, block, doc)
        self.block_classes[key] = plan
        self.classes.append(plan)
        return plan

    # --- module -------------------------------------------------------------------------

    def emit(self, source_path: str, version: str) -> ModuleView:
        roots = [m for n, m in self.program.models.items() if self.only is None or n == self.only]
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
        main = self._main(roots)
        needed = self._helper_imports()
        helper_order = [h for h in self.helper_names if h in self.helpers]
        imports = ["import math", ""] if "math" in needed else []
        imports.append("import torch")
        uses_f = any("F." in line for section in sections for line in section)
        if uses_f or "F" in needed:
            imports.append("import torch.nn.functional as F")
        imports.append("from torch import nn")
        return ModuleView(header, imports, helper_order, sections, main)

    def _helper_imports(self) -> set[str]:
        from archdsl.targets import torch_layers

        needed: set[str] = set()
        for h in self.helpers:
            needed |= torch_layers.HELPER_IMPORTS.get(h, set())
        return needed

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
        namer = py.Namer(GENERATED_NAMES | set(self.helper_names) | {"self"} | {p.name for p in self.classes})
        tensors = model.tensors
        forward_params = [namer.name(n) for n in input_names]
        var: dict[int, str] = dict(zip(input_ids, forward_params, strict=True))
        last_use = self._last_uses(model, nodes, blocks, output_ids)
        holders: dict[str, int] = {v: t for t, v in var.items()}
        target_counters: dict[int, int] = {}

        init: list[str] = []
        keras_init: list[str] = []  # modules to start from Keras's initialisers
        custom_init: list[str] = []  # the spec's own initialisers, after those
        forward: list[str] = []
        built: set[str] = set()
        penalties: list[str] = []
        children_with_penalties: list[str] = []
        frozen: list[str] = []
        frozen_batch_norms: dict[str, bool] = {}  # module -> whether it is a sub-model (search inside)
        init_params: list[str] = []

        items: list[tuple[int, Any]] = [(n.id, n) for n in nodes]
        for b in blocks:
            first = self._first_node(model, b)
            if first is not None:  # a block without layers returns its inputs: nothing to run
                items.append((first, b))
        items.sort(key=lambda pair: pair[0])
        for position, item in items:
            if isinstance(item, BlockCall):
                attr = module_attr(item.name)
                child = self._block_class(model, item)
                if attr not in built:
                    built.add(attr)
                    init.append(f"        self.{attr} = {child.name}()")
                    if child.penalised:
                        children_with_penalties.append(f"self.{attr}")
                args = [var[t] for t in item.inputs]
                out_ids = list(item.outputs)
                into_frames = item.time_distributed and not td
                if into_frames and any(tensors[t].type.rank >= 3 for t in item.inputs + item.outputs):
                    forward.append("        # the block runs on every frame: it takes (N, T, C, ...), time first")
                    args = [
                        f"{a}.movedim(2, 1)" if tensors[t].type.rank >= 3 else a
                        for a, t in zip(args, item.inputs, strict=True)
                    ]
                targets = self._targets(
                    out_ids, position, holders, last_use, namer, model, item.site, target_counters, item.var
                )
                comment = ", ".join(shape_text(tensors[t].type, td) for t in out_ids)
                call = f"self.{attr}({', '.join(args)})"
                back = [into_frames and tensors[t].type.rank >= 3 for t in out_ids]
                if len(out_ids) == 1 and back[0]:
                    call += ".movedim(1, 2)"
                forward += py.statement("        ", ", ".join(targets) + " = ", call, "", comment)
                if len(out_ids) > 1:
                    for name, moved in zip(targets, back, strict=True):
                        if moved:
                            forward.append(f"        {name} = {name}.movedim(1, 2)")
                for t, name in zip(out_ids, targets, strict=True):
                    var[t] = name
                continue
            node: Node = item
            layer = node.layer
            attr = module_attr(layer.name)
            module = f"self.{attr}"
            in_types = [tensors[t].type for t in node.inputs]
            out_types = [tensors[t].type for t in node.outputs]
            if layer.submodel is not None:
                child = self._model_class(layer.submodel)
                call_args = ", ".join(f"{{{i}}}" for i in range(len(node.inputs)))
                emitted = Emitted(py.Call(child.name, ()), "{m}(" + call_args + ")", outputs=len(out_types))
                if attr not in built and isinstance(node.site, syntax.Name):
                    # A model bound to a name (``encoder = Encoder()``) may be passed in, to share it.
                    param = namer.name(attr)
                    init_params.append(f"{param}=None")
                    plan.shared.append((param, child.name))
                    emitted = Emitted(
                        f"{param} if {param} is not None else {child.name}()", emitted.forward, outputs=emitted.outputs
                    )
                if attr not in built and child.penalised and layer.trainable:
                    children_with_penalties.append(module)  # Keras penalises trainable weights only
                if not layer.trainable and _has_batch_norm(layer.submodel):
                    frozen_batch_norms[module] = True
            else:
                rule = self.layers.get(layer.op)
                if rule is None:
                    missing = Unsupported(f"the torch target has no rule for {layer.op}")
                    missing.location = layer.location
                    raise missing
                ctx = LayerCtx(layer, in_types, out_types, [var[t] for t in node.inputs], module, self, td)
                try:
                    emitted = rule(ctx)
                except Unsupported as exc:
                    exc.location = exc.location or layer.location  # point at the layer in the spec
                    raise
                if not layer.trainable and _innermost(layer).op == "BatchNormalization":
                    frozen_batch_norms[module] = False
            if emitted.init is not None and attr not in built:
                built.add(attr)
                init += _assignment("        ", module, emitted.init)
                if layer.submodel is None:
                    constructor = py.flat(emitted.init)
                    if not constructor.startswith(NO_KERAS_INIT):
                        keras_init.append(module)
                    custom_init += [f"        {line.format(m=module)}" for line in emitted.init_after]
                    if layer.trainable:  # Keras penalises trainable weights only
                        penalties += self._penalties(module, layer)
                if not layer.trainable:
                    frozen.append(module)
            expression = emitted.forward.format(*[var[t] for t in node.inputs], m=module)
            out_ids = list(node.outputs)
            if (
                emitted.init is None
                and len(out_ids) == 1
                and len(node.inputs) == 1
                and expression == var[node.inputs[0]]
            ):
                # An identity (Activation("linear")): no statement, the tensor keeps its name.
                shape = shape_text(tensors[out_ids[0]].type, td)
                forward.append(f"        # {layer.name}: {layer.op} is the identity here; {expression} stays {shape}")
                var[out_ids[0]] = expression
                if last_use.get(out_ids[0], -1) >= last_use.get(holders.get(expression, -1), -1):
                    holders[expression] = out_ids[0]  # the name must live as long as either tensor
                continue
            targets = self._targets(out_ids, position, holders, last_use, namer, model, node.site, target_counters)
            for t, name in zip(out_ids, targets, strict=True):
                var[t] = name
            comment = ", ".join(shape_text(tensors[t].type, td) for t in out_ids)
            if emitted.comment:
                forward.append(f"        # {emitted.comment}")
            forward += self._forward_statement(", ".join(targets) + " = ", expression, comment)

        lines = [f"class {plan.name}(nn.Module):"]
        doc = [plan.doc, ""]
        ins = ", ".join(
            f"{name} {shape_text(tensors[t].type, td)}" for name, t in zip(input_names, input_ids, strict=True)
        )
        doc.append(f"Input: {ins}.")
        doc.append(f"Output: {', '.join(shape_text(tensors[t].type, td) for t in output_ids)}.")
        if plan.shared:
            names = ", ".join(f"{p}=" for p, _ in plan.shared)
            doc += [
                "",
                f"Pass models built before as {names} to use those very modules here: their",
                "weights are shared (as a GAN shares its discriminator).",
            ]
            for param, _ in plan.shared:
                if f"self.{module_attr(param)}" in frozen:
                    doc += [
                        "",
                        f"{param} is frozen here (requires_grad_(False)): call",
                        f"{param}.requires_grad_(True) before training it on its own.",
                    ]
        lines += py.docstring("\n".join(doc), "    ")
        lines.append("")
        lines += py.signature("    ", "def", "__init__", ["self"] + init_params)
        lines.append("        super().__init__()")
        lines += init
        if keras_init:
            self.helpers.add("init_like_keras")
            lines.append("        # Start from Keras's initialisers (PyTorch's defaults differ).")
            if len(keras_init) == 1:
                lines.append(f"        {keras_init[0]}.apply(init_like_keras)")
            else:
                head = f"        for module in ({', '.join(keras_init)}):"
                if len(head) <= py.LINE_LENGTH:
                    lines.append(head)
                else:
                    lines.append("        for module in (")
                    lines += [f"            {m}," for m in keras_init]
                    lines.append("        ):")
                lines.append("            module.apply(init_like_keras)")
        lines += custom_init
        if frozen:
            lines.append("        # Frozen (trainable=False in the spec).")
            lines += [f"        {m}.requires_grad_(False)" for m in frozen]
        lines.append("")
        lines += py.signature("    ", "def", "forward", ["self"] + forward_params)
        lines += forward
        results = [var[t] for t in output_ids]
        lines.append(f"        return {', '.join(results)}")
        if frozen_batch_norms:
            lines += [
                "",
                "    def train(self, mode=True):",
                '        """Keras runs a frozen BatchNormalization in inference mode: keep it in eval mode."""',
                "        super().train(mode)",
            ]
            for m, whole in frozen_batch_norms.items():
                if not whole:
                    lines.append(f"        {m}.eval()")
                else:
                    lines.append(f"        for module in {m}.modules():")
                    lines.append(f"            if isinstance(module, {BATCH_NORMS}):")
                    lines.append("                module.eval()")
            lines.append("        return self")
        terms = penalties + [f"{child}.regularization_loss()" for child in children_with_penalties]
        if terms:
            plan.penalised = True
            lines += [
                "",
                "    def regularization_loss(self):",
                '        """The spec\'s weight penalties (kernel_regularizer=...): add this to the loss."""',
            ]
            lines += _sum_statement("        ", terms)
        return lines

    def _forward_statement(self, prefix: str, expression: str, comment: str) -> list[str]:
        """``targets = expression  # shapes``, laid out as ruff would."""
        indent = "        "
        if "\n" not in expression:
            too_long = len(indent + prefix + expression) > py.LINE_LENGTH
            return py.statement(indent, prefix, py.layout_tree(expression) if too_long else expression, "", comment)
        # Already laid out by the layer's rule (one argument per line), for a short target.
        first, *rest = expression.split("\n")
        head = [f"{indent}{prefix}{first}"]
        if len(head[0]) > py.LINE_LENGTH:
            head = py.parenthesized_targets(indent, prefix, first) or head
        return [f"{indent}# {comment}", *head, *rest]

    def _penalties(self, module: str, layer: Layer) -> list[str]:
        """Terms of regularization_loss() for one layer's weight penalties."""
        terms: list[str] = []
        inner = layer
        while inner.inner is not None and inner.op in ("TimeDistributed", "Bidirectional"):
            inner = inner.inner
        kind = penalty_kind(inner.op)
        for key, table in PENALTIES.items():
            reg = inner.args.get(key)
            if reg is None:
                continue
            names = table.get(kind)
            if names is None:
                raise Unsupported(f"{key} on {inner.op} has no PyTorch weight to apply to")
            if kind == "rnn" and layer.op == "Bidirectional":
                names = names + tuple(f"{n}_reverse" for n in names)
            for name in names:
                weight = f"{module}.{name}"
                if reg.l1:
                    terms.append(f"{reg.l1!r} * {weight}.abs().sum()")
                if reg.l2:
                    terms.append(f"{reg.l2!r} * {weight}.square().sum()")
        return terms

    def _first_node(self, model: Model, block: BlockCall) -> int | None:
        """The id of the first node inside a block instance (where its call goes in forward)."""
        return min((n.id for n in model.nodes if self._within(model, n, block.id)), default=None)

    def _within(self, model: Model, node: Node, block_id: int) -> bool:
        current = node.block
        while current is not None:
            if current == block_id:
                return True
            current = model.blocks[current].parent
        return False

    def _block_input_names(self, block: BlockCall) -> list[str]:
        definition = block_definition(self.program, block)
        if definition is not None:
            names = [s.name for s in definition.body if isinstance(s, syntax.InputStmt)]
            if len(names) == len(block.inputs):
                return names
        return [f"x{i + 1}" for i in range(len(block.inputs))]

    def _last_uses(
        self, model: Model, nodes: list[Node], blocks: list[BlockCall], outputs: list[int]
    ) -> dict[int, int]:
        last: dict[int, int] = {}
        for n in nodes:
            for t_ in n.inputs:
                last[t_] = max(last.get(t_, -1), n.id)
        for b in blocks:
            first = self._first_node(model, b)
            for t_ in b.inputs if first is not None else ():
                last[t_] = max(last.get(t_, -1), first)
        for t_ in outputs:
            last[t_] = 1 << 30
        return last

    def _targets(
        self,
        out_ids: list[int],
        position: int,
        holders: dict[str, int],
        last_use: dict[int, int],
        namer: py.Namer,
        model: Model,
        site: Any,
        counters: dict[int, int],
        hint: str | None = None,
    ) -> list[str]:
        """Variable names for new tensors: the names the spec binds them to where it has them,
        never overwriting a variable whose tensor is still needed."""
        wanted = [hint or model.tensors[t_].name or self._hint(model, t_) for t_ in out_ids]
        entry = self.targets.get(id(site)) if site is not None else None
        if entry is not None:  # ``a, b, c = ...``: the statement's names, taken in turn
            statement, spec_names = entry
            start = counters.get(statement, 0)
            counters[statement] = start + len(out_ids)
            wanted = [spec_names[(start + i) % len(spec_names)] for i in range(len(out_ids))]
        names: list[str] = []
        for t_, spec_name in zip(out_ids, wanted, strict=True):
            base = namer.name(spec_name)
            candidate, n = base, 1
            while candidate in names or (
                candidate in holders and holders[candidate] != t_ and last_use.get(holders[candidate], -1) > position
            ):
                n += 1
                candidate = f"{base}_{n}"
            namer.taken.add(candidate)
            holders[candidate] = t_
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
            "    # Self-test: build each model, count its parameters, run random data through it",
            "    # and check the output shapes that archdsl predicted.",
            "    torch.manual_seed(0)",
        ]
        namer = py.Namer(GENERATED_NAMES | MAIN_NAMES | set(self.helper_names) | {p.name for p in self.classes})
        built: dict[int, str] = {}  # id(model IR) -> the variable holding it
        for model in models:
            concrete = concrete_model(self.program, model)
            if concrete is None:
                continue
            plan = self.model_classes[id(model)]
            var = namer.name(py.snake_case(model.name))
            shared = []
            for node in model.nodes:
                sub = node.layer.submodel
                if sub is not None and isinstance(node.site, syntax.Name) and id(sub) in built:
                    param = next((p for p, cls in plan.shared if cls == self.model_classes[id(sub)].name), None)
                    if param is not None and f"{param}={built[id(sub)]}" not in shared:
                        shared.append(f"{param}={built[id(sub)]}")
            if shared:
                lines += ["", "    # Built from the models above: it shares their weights."]
                lines += py.statement("    ", f"{var} = ", f"{plan.name}({', '.join(shared)}).eval()")
            else:
                lines += ["", f"    {var} = {plan.name}().eval()"]
            built[id(model)] = var
            count = f"sum(p.numel() for p in {var}.parameters())"
            lines += py.statement("    ", "", py.Call("print", (var, '"parameters:"', count)))
            feeds = []
            for tid in concrete.inputs:
                tt = concrete.tensors[tid].type
                shape = py.literal((2,) + tuple(torch_shape(tt)))
                if tt.is_integer:
                    bound = random_input_bound(concrete, tid) or 2
                    feeds.append(f"torch.randint(0, {bound}, {shape})")
                else:
                    feeds.append(f"torch.rand({shape})")
            lines.append("    with torch.no_grad():")
            lines += py.statement("        ", "outputs = ", py.Call(var, tuple(feeds)))
            expected = [(2,) + tuple(torch_shape(concrete.tensors[o].type)) for o in concrete.outputs]
            lines += shape_assertions(expected)
        return lines


def _assignment(indent: str, target: str, value: py.Expr) -> list[str]:
    """``target = value``; a conditional expression too long for one line goes in parentheses."""
    text = f"{indent}{target} = {py.flat(value)}"
    if len(text) <= py.LINE_LENGTH or not isinstance(value, str) or " if " not in value:
        return py.statement(indent, f"{target} = ", value)
    return [f"{indent}{target} = (", f"{indent}{py.INDENT}{value}", f"{indent})"]


def _sum_statement(indent: str, terms: list[str]) -> list[str]:
    """``return a + b + ...``, split before each ``+`` inside parentheses when too long (as ruff does)."""
    text = f"{indent}return {' + '.join(terms)}"
    if len(text) <= py.LINE_LENGTH:
        return [text]
    inner = indent + py.INDENT
    if len(f"{inner}{' + '.join(terms)}") <= py.LINE_LENGTH:
        return [f"{indent}return (", f"{inner}{' + '.join(terms)}", f"{indent})"]
    return [f"{indent}return (", f"{inner}{terms[0]}", *(f"{inner}+ {term}" for term in terms[1:]), f"{indent})"]


def _innermost(layer: Layer) -> Layer:
    """The layer inside wrappers (TimeDistributed(BatchNormalization()) -> the BatchNormalization)."""
    while layer.inner is not None:
        layer = layer.inner
    return layer


def _has_batch_norm(model: Model) -> bool:
    for node in model.nodes:
        if _innermost(node.layer).op == "BatchNormalization":
            return True
        if node.layer.submodel is not None and _has_batch_norm(node.layer.submodel):
            return True
    return False


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
            layer = node.layer
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
