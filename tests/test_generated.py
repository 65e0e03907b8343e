"""Execution tests of the generated code: every spec, both targets.

Each generated module is imported, every model is built and run on random input, and the
result is compared with the checked IR:

* Keras: the functional graph is matched to the IR node by node (from the outputs back,
  through shared layers, sub-models and TimeDistributed blocks), so every layer's output
  shape, class and weight count is compared, and the model's trainable and non-trainable
  totals;
* PyTorch: a forward hook on every module named by the IR's qualified layer names
  (``node.layer.qualified_name``, as ``named_modules()`` spells it) checks that each layer
  is there and is called as often as the IR applies it, with outputs of the IR's size; the
  parameter and buffer totals equal the IR's PyTorch figures;
* both: every assignment in a build function or ``forward`` is traced, and the value it
  binds must have the shape its comment states (the comments are the IR's shapes).

``python generated.py`` runs each file's own self-test, in subprocesses (for specs/ only).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from archdsl import __version__  # noqa: E402
from archdsl.api import check_file, check_source  # noqa: E402
from archdsl.codegen import generate  # noqa: E402
from archdsl.ir import Model, TensorType  # noqa: E402
from archdsl.targets.common import concrete_model, random_input_bound  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.arch"))
FIXTURES = sorted((ROOT / "tests" / "codegen_specs").glob("*.arch"))
ALL = SPECS + FIXTURES
BATCH = 2


def spec_id(path: Path) -> str:
    return str(path.relative_to(ROOT)).replace("tests/codegen_specs/", "fixture:").replace("specs/", "")


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def compiled(path: Path, target: str):
    """(program, generated text) for a spec, with paths as the user would write them."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = check_file(relative(path))
        assert result.ok, f"{path} has errors"
        return result.program, generate(result.program, target, None, relative(path))
    finally:
        os.chdir(cwd)


def load(text: str, name: str, directory: Path) -> types.ModuleType:
    """Import generated source as a module (from a real file, so tracebacks show lines)."""
    path = directory / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    module = types.ModuleType(name)
    module.__file__ = str(path)
    code = compile(text, str(path), "exec")
    exec(code, module.__dict__)  # the module's __main__ block does not run: __name__ != "__main__"
    return module


# --- shape comments, checked by tracing the generated functions -------------------------------

COMMENT = re.compile(r"#\s*(\((?:N|batch)\b.*)$")


def parse_shapes(text: str) -> list[list[tuple]]:
    """``(N, 8), (N, 4) / (N, 16), (N, 4)`` -> alternatives, each a list of shapes (batch as -1)."""
    alternatives = []
    for part in text.split(" / "):
        if part.strip() == "...":
            return []  # more uses than the comment lists: unchecked
        shapes = []
        for inner in re.findall(r"\(([^()]*)\)", part):
            dims = [d.strip() for d in inner.split(",") if d.strip()]
            if not all(d in ("N", "batch", "None") or d.isdigit() for d in dims):
                return []  # not a shape comment (a helper's own note)
            shapes.append(tuple(-1 if d in ("N", "batch") else (None if d == "None" else int(d)) for d in dims))
        alternatives.append(shapes)
    return alternatives


def commented_assignments(text: str) -> dict[int, tuple[list[str], list[list[tuple]]]]:
    """First line of each commented assignment -> (its targets, the shapes its comment states)."""
    lines = text.splitlines()
    found = {}
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.FunctionDef):
            continue
        for stmt in ast.walk(node):
            if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
                continue
            target = stmt.targets[0]
            names = [getattr(e, "id", None) for e in target.elts] if isinstance(target, ast.Tuple) else []
            if isinstance(target, ast.Name):
                names = [target.id]
            if not names or not all(isinstance(n, str) for n in names):
                continue
            comment = None
            trailing = COMMENT.search(lines[stmt.end_lineno - 1])
            above = COMMENT.fullmatch(lines[stmt.lineno - 2].strip()) if stmt.lineno >= 2 else None
            if trailing:
                comment = trailing.group(1)
            elif above:
                comment = above.group(1)
            if comment:
                found[stmt.lineno] = (names, parse_shapes(comment))
    return found


class ShapeTracer:
    """Checks, as the generated functions run, that each commented assignment binds values
    of the commented shapes."""

    def __init__(self, text: str, filename: str, actual_shape):
        self.statements = commented_assignments(text)
        self.ranges = sorted(
            (stmt.lineno, stmt.end_lineno)
            for stmt in ast.walk(ast.parse(text))
            if isinstance(stmt, ast.stmt) and not isinstance(stmt, (ast.FunctionDef, ast.ClassDef, ast.If, ast.For))
        )
        self.filename = filename
        self.actual_shape = actual_shape
        self.checked: set[int] = set()
        self.errors: list[str] = []

    def statement_at(self, line: int) -> int | None:
        for start, end in self.ranges:
            if start <= line <= end and start in self.statements:
                return start
        return None

    def check(self, start: int, frame) -> None:
        names, alternatives = self.statements[start]
        if not alternatives:
            self.checked.add(start)
            return
        values = [frame.f_locals.get(n) for n in names]
        actual = [self.actual_shape(v) for v in values]
        flat: list = []
        for a in actual:
            flat += a if isinstance(a, list) else [a]
        for shapes in alternatives:
            if len(shapes) == len(flat) and all(_fits(s, a) for s, a in zip(shapes, flat, strict=True)):
                self.checked.add(start)
                return
        self.errors.append(f"line {start}: {', '.join(names)} has shapes {flat}, the comment says {alternatives}")

    def __call__(self, frame, event, arg):
        if frame.f_code.co_filename != self.filename:
            return None
        pending: list[int | None] = [None]

        def local(frame, event, arg):
            if event in ("line", "return"):
                start = self.statement_at(frame.f_lineno) if event == "line" else None
                if pending[0] is not None and start != pending[0]:
                    self.check(pending[0], frame)
                    pending[0] = None
                if start is not None:
                    pending[0] = start
            return local

        return local

    def run(self, fn, *args, **kwargs):
        sys.settrace(self)
        try:
            return fn(*args, **kwargs)
        finally:
            sys.settrace(None)


def _fits(expected: tuple, actual) -> bool:
    if actual is None or len(expected) != len(actual):
        return False
    return all(e is None or e == -1 or e == a for e, a in zip(expected, actual, strict=True))


# --- inputs ------------------------------------------------------------------------------------


def random_inputs(program, model: Model, layout, make):
    """Random arrays for a model's inputs at a concrete size (named dimensions set), and the
    concrete model whose output shapes they should produce."""
    concrete = concrete_model(program, model)
    assert concrete is not None, f"no concrete size works for {model.name}"
    arrays = []
    for tid in concrete.inputs:
        tt = concrete.tensors[tid].type
        shape = (BATCH,) + tuple(layout(tt))
        bound = random_input_bound(concrete, tid) or 2 if tt.is_integer else None
        arrays.append(make(shape, tt.is_integer, bound))
    return concrete, arrays


# --- Keras ---------------------------------------------------------------------------------------

keras_cases = [pytest.param(p, id=spec_id(p)) for p in ALL]


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def keras_shape(value):
    if isinstance(value, (list, tuple)):
        return [keras_shape(v) for v in value]
    shape = getattr(value, "shape", None)
    return None if shape is None else tuple(-1 if i == 0 else d for i, d in enumerate(shape))


def keras_function(program, name: str):
    from archdsl.targets.keras import KerasEmitter

    emitter = KerasEmitter(program)
    definition = program.namespaces[program.file].definitions[name]
    return emitter.function_names[id(definition)]


class KerasMatch:
    """Matches an IR model with a built Keras model, node by node from the outputs back."""

    def __init__(self, keras_module, frozen: bool = False):
        self.keras = keras_module
        self.frozen = frozen  # inside a sub-model with trainable=False: every weight is frozen
        self.errors: list[str] = []
        self.matched: dict[tuple[int, int], tuple[int, int]] = {}  # (id(ir), node) -> (id(op), node index)
        self.layers: dict[tuple[int, str], object] = {}  # (id(ir), qualified name) -> Keras layer
        self.owners: dict[int, tuple[int, str]] = {}  # id(Keras layer) -> (id(ir), qualified name)
        self.blocks: set[tuple[int, int]] = set()
        self.submodels: set[int] = set()  # ids of Keras sub-models already compared

    def model(self, ir: Model, keras_model, strip: bool = False, boundary: frozenset = frozenset()) -> None:
        outputs = keras_model.outputs
        if len(outputs) != len(ir.outputs):
            self.errors.append(f"{ir.name}: {len(outputs)} Keras outputs, IR has {len(ir.outputs)}")
            return
        for tid, kt in zip(ir.outputs, outputs, strict=True):
            self.tensor(ir, tid, kt, strip, boundary)

    def shape_ok(self, ir: Model, tid: int, kt, strip: bool) -> None:
        tt = ir.tensors[tid].type
        expected = tt.shape[1:] if strip else tt.shape
        actual = tuple(kt.shape[1:])
        if len(expected) != len(actual) or any(
            (e if isinstance(e, int) else None) != a for e, a in zip(expected, actual, strict=True)
        ):
            self.errors.append(f"{ir.name}: tensor {tid} is {actual} in Keras, the IR says {expected}")

    def tensor(self, ir: Model, tid: int, kt, strip: bool, boundary: frozenset) -> None:
        self.shape_ok(ir, tid, kt, strip)
        tensor = ir.tensors[tid]
        op, node_index, tensor_index = kt._keras_history
        if tensor.producer is None or tid in boundary:
            if type(op).__name__ != "InputLayer":
                self.errors.append(f"{ir.name}: input tensor {tid} comes from {op.name} in Keras")
            return
        node = ir.nodes[tensor.producer]
        block = None if strip else ir.time_distributed_block(node.block)
        if block is not None:
            key = (id(ir), block.id)
            if key in self.blocks:
                return
            self.blocks.add(key)
            if type(op).__name__ != "TimeDistributed" or not isinstance(op.layer, self.keras.Model):
                self.errors.append(f"{ir.name}: block {block.name} is {type(op).__name__} in Keras")
                return
            self.model_of_frames(ir, block, op.layer)
            inputs = op._inbound_nodes[node_index].input_tensors
            for t2, k2 in zip(block.inputs, inputs, strict=True):
                self.tensor(ir, t2, k2, False, boundary)
            return
        if tensor_index != tensor.index:
            self.errors.append(f"{ir.name}: {node.layer.name} output {tensor.index} is Keras output {tensor_index}")
        key = (id(ir), node.id)
        if key in self.matched:
            if self.matched[key] != (id(op), node_index):
                self.errors.append(f"{ir.name}: node {node.id} ({node.layer.name}) matches two Keras nodes")
            return
        self.matched[key] = (id(op), node_index)
        self.layer(ir, node, op, strip)
        inputs = op._inbound_nodes[node_index].input_tensors
        if len(inputs) != len(node.inputs):
            self.errors.append(
                f"{ir.name}: {node.layer.name} has {len(inputs)} inputs in Keras, {len(node.inputs)} in IR"
            )
            return
        for t2, k2 in zip(node.inputs, inputs, strict=True):
            self.tensor(ir, t2, k2, strip, boundary)

    def model_of_frames(self, ir: Model, block, frame_model) -> None:
        """A TimeDistributed block: Keras runs a model of one frame; the IR's layers are each
        TimeDistributed. Compare the frame model with the block's nodes, time axis left out."""
        for tid, kt in zip(block.outputs, frame_model.outputs, strict=True):
            self.tensor(ir, tid, kt, True, frozenset(block.inputs))

    def layer(self, ir: Model, node, op, strip: bool) -> None:
        layer = node.layer
        expected = layer.op
        if strip and layer.op == "TimeDistributed" and layer.inner is not None:
            expected = layer.inner.op
        actual = type(op).__name__
        if layer.submodel is not None:
            if actual not in ("Functional", "Sequential"):
                self.errors.append(f"{ir.name}: sub-model {layer.name} is {actual} in Keras")
            elif id(op) not in self.submodels:
                self.submodels.add(id(op))
                inner = KerasMatch(self.keras, self.frozen or not layer.trainable)
                inner.model(layer.submodel, op)
                missing = inner.unmatched(layer.submodel)
                self.errors += inner.errors + ([f"{layer.name}: IR layers not in Keras: {missing}"] if missing else [])
        elif actual != expected:
            self.errors.append(f"{ir.name}: {layer.qualified_name} is {actual} in Keras, {expected} in the IR")
        key = (id(ir), layer.qualified_name)
        known = self.layers.setdefault(key, op)
        if known is not op:
            self.errors.append(f"{ir.name}: {layer.qualified_name} is applied as two Keras layers, not shared")
        owner = self.owners.setdefault(id(op), key)
        if owner != key and layer.submodel is None:
            self.errors.append(f"{ir.name}: Keras layer {op.name} stands for {owner[1]} and {layer.qualified_name}")
        if layer.submodel is None and not strip:
            trainable = sum(int(w.numpy().size) for w in op.trainable_weights)
            non_trainable = sum(int(w.numpy().size) for w in op.non_trainable_weights)
            wanted = (layer.params.trainable, layer.params.non_trainable)
            if self.frozen:
                wanted = (0, layer.params.total)
            if (trainable, non_trainable) != wanted:
                self.errors.append(
                    f"{ir.name}: {layer.qualified_name} has {trainable}+{non_trainable} weights in Keras, "
                    f"the IR says {wanted[0]}+{wanted[1]}"
                )

    def unmatched(self, ir: Model) -> list[str]:
        missing = []
        for node in ir.nodes:
            if (id(ir), node.id) in self.matched:
                continue
            block = ir.time_distributed_block(node.block)
            if block is not None and (id(ir), block.id) in self.blocks:
                continue
            missing.append(node.layer.qualified_name)
        return missing


@pytest.mark.keras
@pytest.mark.parametrize("path", keras_cases)
def test_keras_models_match_the_ir(path: Path, keras, tmp_path: Path) -> None:
    program, text = compiled(path, "keras")
    problems = keras_problems(keras, program, text, tmp_path, f"generated_{path.stem}_keras")
    assert not problems, "\n".join(problems)


def keras_problems(keras, program, text: str, directory: Path, name: str) -> list[str]:
    """Everything in which the generated Keras code differs from the IR."""
    import numpy as np

    module = load(text, name, directory)
    tracer = ShapeTracer(text, module.__file__, keras_shape)
    rng = np.random.default_rng(0)

    def make(shape, integer, bound):
        if integer:
            return rng.integers(0, bound, size=shape).astype("int32")
        return rng.random(shape, dtype="float32")

    problems: list[str] = []
    for name, ir in program.models.items():
        build = getattr(module, keras_function(program, name))
        keras_model = tracer.run(build)
        match = KerasMatch(keras)
        match.model(ir, keras_model)
        problems += match.errors
        missing = match.unmatched(ir)
        if missing:
            problems.append(f"{name}: IR layers not in the Keras graph: {missing}")
        trainable = sum(int(w.numpy().size) for w in keras_model.trainable_weights)
        non_trainable = sum(int(w.numpy().size) for w in keras_model.non_trainable_weights)
        expected = (ir.param_count.trainable, ir.param_count.non_trainable)
        if (trainable, non_trainable) != expected:
            problems.append(f"{name}: Keras has {trainable} + {non_trainable} weights, the IR says {expected}")
        concrete, arrays = random_inputs(program, ir, lambda tt: tt.shape, make)
        outputs = keras_model(arrays[0] if len(arrays) == 1 else arrays)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        shapes = [tuple(o.shape) for o in outputs]
        wanted = [(BATCH,) + tuple(t.shape) for t in concrete.output_types]
        if shapes != wanted:
            problems.append(f"{name}: forward pass gives {shapes}, the IR says {wanted}")
    problems += tracer.errors
    unchecked = sorted(set(tracer.statements) - tracer.checked)
    if unchecked and not _only_untaken_branches(text, unchecked):
        problems.append(f"commented statements never run: lines {unchecked}")
    return problems


def _only_untaken_branches(text: str, lines: list[int]) -> bool:
    """Statements inside if/elif/else branches may not run for the default parameters."""
    inside: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.If):
            for stmt in ast.walk(node):
                if isinstance(stmt, ast.stmt) and stmt is not node:
                    inside.add(stmt.lineno)
    return all(line in inside for line in lines)


# --- PyTorch -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def torch_value_shape(value):
    if isinstance(value, (list, tuple)):
        return [torch_value_shape(v) for v in value]
    shape = getattr(value, "shape", None)
    return None if shape is None else tuple(-1 if i == 0 else d for i, d in enumerate(shape))


def torch_plans(program):
    from archdsl.targets.torch import TorchEmitter

    emitter = TorchEmitter(program)
    emitter.emit(program.file, __version__)
    return emitter


def module_outputs(ir: Model, prefix: str = "") -> dict[str, list]:
    """Module name -> for each application, (node, IR output types, inside a TimeDistributed block)."""
    from archdsl.targets.torch import in_time_distributed_block, module_name

    found: dict[str, list] = {}
    for node in ir.nodes:
        name = prefix + module_name(node.layer.qualified_name)
        found.setdefault(name, []).append(
            (node, [ir.tensors[t].type for t in node.outputs], in_time_distributed_block(ir, node))
        )
        if node.layer.submodel is not None:
            for sub, uses in module_outputs(node.layer.submodel, name + ".").items():
                found.setdefault(sub, []).extend(uses)
    return found


def module_output_ok(node, types: list[TensorType], framed: bool, output, batch: int) -> bool:
    """Whether a module's raw output fits the IR's output of its layer.

    Most modules return the layer's output in the PyTorch layout. Some rules wrap the
    module: it may work channels-last (Dense on images, MultiHeadAttention), on (N, F, T)
    (1D convolutions), return (output, states) (recurrent layers), see folded frames
    (TimeDistributed: (N * T, ...)), or be cropped afterwards (transposed convolutions).
    """
    from archdsl.targets.torch import torch_shape

    layer = node.layer
    op = layer.op
    outputs = output if isinstance(output, (list, tuple)) else [output]
    if op in ("SimpleRNN", "LSTM", "GRU", "Bidirectional"):
        inner = layer.inner or layer
        units = inner.args["units"] * (2 if op == "Bidirectional" else 1)
        sequence = outputs[0]
        return sequence.dim() == 3 and sequence.shape[0] == batch and sequence.shape[2] == units
    if layer.submodel is not None:
        if len(outputs) != len(types):
            return False
        return all(
            tuple(o.shape) == (batch,) + tuple(torch_shape(tt, framed)) for o, tt in zip(outputs, types, strict=True)
        )
    tt = types[0]
    shape = tuple(outputs[0].shape)
    if op == "TimeDistributed":
        tt = TensorType(tt.shape[1:], tt.dtype)
        n = shape[0]
        if n % batch:
            return False
        batch, shape = n, shape  # folded: (N * T, ...)
        if layer.inner is not None and layer.inner.op in ("SimpleRNN", "LSTM", "GRU", "Bidirectional"):
            return True
    wanted = tuple(d if isinstance(d, int) else None for d in torch_shape(tt, framed and op != "TimeDistributed"))
    if shape[0] != batch or len(shape) - 1 != len(wanted):
        return False
    dims = shape[1:]
    if all(w is None or w == d for w, d in zip(wanted, dims, strict=True)):
        return True
    keras_order = tuple(d if isinstance(d, int) else None for d in tt.shape)
    if all(w is None or w == d for w, d in zip(keras_order, dims, strict=True)):
        return True  # a module working channels-last
    if len(dims) == 2 and all(w is None or w == d for w, d in zip(wanted[::-1], dims, strict=True)):
        return True  # (N, F, T) inside a sequence rule
    if "Transpose" in (layer.inner or layer).op:
        return all(w is None or d >= w for w, d in zip(wanted, dims, strict=True))  # cropped afterwards
    return False


@pytest.mark.torch
@pytest.mark.parametrize("path", [pytest.param(p, id=spec_id(p)) for p in ALL])
def test_torch_models_match_the_ir(path: Path, torch, tmp_path: Path) -> None:
    program, text = compiled(path, "torch")
    problems = torch_problems(torch, program, text, tmp_path, f"generated_{path.stem}_torch")
    assert not problems, "\n".join(problems)


def torch_problems(torch, program, text: str, directory: Path, name: str) -> list[str]:
    """Everything in which the generated PyTorch code differs from the IR."""
    from archdsl.targets.torch import torch_shape

    module = load(text, name, directory)
    emitter = torch_plans(program)
    tracer = ShapeTracer(text, module.__file__, torch_value_shape)
    generator = torch.Generator().manual_seed(0)

    def make(shape, integer, bound):
        if integer:
            return torch.randint(0, bound, shape, generator=generator)
        return torch.rand(shape, generator=generator)

    problems: list[str] = []
    for name, ir in program.models.items():
        cls = getattr(module, emitter.model_classes[id(ir)].name)
        torch.manual_seed(0)
        net = cls().eval()
        parameters = sum(p.numel() for p in net.parameters())
        buffers = sum(b.numel() for b in net.buffers())
        wanted_counts = (ir.param_count.torch_parameters, ir.param_count.buffers)
        if (parameters, buffers) != wanted_counts:
            problems.append(f"{name}: {parameters} parameters + {buffers} buffers, the IR says {wanted_counts}")
        modules = dict(net.named_modules())
        expected = module_outputs(ir)
        seen: dict[str, list] = {}
        handles = []
        for module_name_, uses in expected.items():
            weighted = any(n.layer.submodel is not None or n.layer.params.total for n, _, _ in uses)
            if module_name_ not in modules:
                if weighted:
                    problems.append(f"{name}: no module {module_name_}")
                continue

            def hook(mod, args, output, key=module_name_, seen=seen):
                seen.setdefault(key, []).append(output)

            handles.append(modules[module_name_].register_forward_hook(hook))
        concrete, arrays = random_inputs(program, ir, torch_shape, make)
        with torch.no_grad():
            outputs = tracer.run(net, *arrays)
        for handle in handles:
            handle.remove()
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        shapes = [tuple(o.shape) for o in outputs]
        wanted = [(BATCH,) + tuple(torch_shape(t)) for t in concrete.output_types]
        if shapes != wanted:
            problems.append(f"{name}: forward pass gives {shapes}, the IR says {wanted}")
        named_dims = concrete is not ir
        for key, calls in seen.items():
            uses = expected[key]
            if len(calls) != len(uses):
                problems.append(f"{name}: module {key} ran {len(calls)} times, the IR applies it {len(uses)} times")
                continue
            if named_dims:
                continue  # the IR's shapes have unknown sizes here; the outputs were checked above
            for (node, types_, framed), output in zip(uses, calls, strict=True):
                if not module_output_ok(node, types_, framed, output, BATCH):
                    got = [tuple(o.shape) for o in (output if isinstance(output, (list, tuple)) else [output])]
                    problems.append(f"{name}: module {key} ({node.layer.op}) gives {got}, IR types {types_}")
    problems += tracer.errors
    unchecked = sorted(set(tracer.statements) - tracer.checked)
    if unchecked:
        problems.append(f"commented statements never run: lines {unchecked}")
    return problems


# --- random networks ------------------------------------------------------------------------------

PROPERTY_EXAMPLES = int(os.environ.get("ARCHDSL_HYPOTHESIS_EXAMPLES", "25")) // 5 or 1


def _strategies():
    """The random networks of the checker's property tests (tests/test_property_keras.py)."""
    module = pytest.importorskip("tests.test_property_keras")
    return {
        "image": module.image_stacks(),
        "sequence": module.sequence_stacks(),
        "dense": module.dense_stacks(),
        "residual": module.residual_graphs(),
    }


# Constructs whose PyTorch code is known to differ from the IR (see the xfail tests below):
# random networks that contain them are still checked in Keras.
KNOWN_TORCH_ISSUES: tuple[re.Pattern, ...] = ()


@pytest.mark.keras
@pytest.mark.torch
@pytest.mark.parametrize("family", ["image", "sequence", "dense", "residual"])
def test_random_networks_compile_to_code_that_matches_the_ir(family: str, keras, torch, tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, note, settings

    from archdsl.codegen import CodegenError

    @settings(max_examples=PROPERTY_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(spec=_strategies()[family])
    def check(spec) -> None:
        source = spec.source
        note(source)
        result = check_source(source, "random.arch")
        assert result.ok, [d.message for d in result.reporter.sorted()]
        keras.utils.clear_session()
        problems = keras_problems(keras, result.program, generate(result.program, "keras"), tmp_path, "random_keras")
        try:
            text = generate(result.program, "torch")
        except CodegenError as exc:  # a construct the torch target refuses, with a reason
            note(f"torch: {exc}")
        else:
            if not any(issue.search(source) for issue in KNOWN_TORCH_ISSUES):
                problems += torch_problems(torch, result.program, text, tmp_path, "random_torch")
        assert not problems, "\n".join(problems)

    check()


@pytest.mark.torch
def test_torch_layer_normalization_without_scale_keeps_a_frozen_gamma(torch, tmp_path: Path) -> None:
    """nn.LayerNorm has gamma and beta together: the IR's PyTorch count includes the frozen one."""
    result = check_source("model M {\n  input x: (4, 3)\n  output x -> LayerNormalization(scale=False)\n}\n")
    assert result.program.models["M"].param_count.trainable == 3
    assert result.program.models["M"].param_count.torch_parameters == 6
    problems = torch_problems(torch, result.program, generate(result.program, "torch"), tmp_path, "layer_norm")
    assert not problems, "\n".join(problems)


# --- the self-tests: python generated.py ---------------------------------------------------------

SELF_TESTS = [(p, target) for p in SPECS for target in ("keras", "torch")]


@pytest.fixture(scope="session")
def self_test_results(tmp_path_factory) -> dict[tuple[str, str], subprocess.CompletedProcess]:
    """Run every generated file's ``__main__`` in its own process, several at a time."""
    directory = tmp_path_factory.mktemp("self_tests")
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
    jobs = []
    for path, target in SELF_TESTS:
        try:
            _, text = compiled(path, target)
        except Exception as exc:  # reported by the test for this case
            jobs.append(((path.stem, target), exc))
            continue
        file = directory / f"{path.stem}_{target}.py"
        file.write_text(text, encoding="utf-8")
        jobs.append(((path.stem, target), file))

    def run(job):
        key, file = job
        if isinstance(file, Exception):
            return key, file
        return key, subprocess.run(
            [sys.executable, str(file)],
            cwd=directory,
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )

    workers = max(2, min(8, os.cpu_count() or 2))
    with ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(run, jobs))


@pytest.mark.parametrize(("path", "target"), [pytest.param(p, t, id=f"{p.stem}-{t}") for p, t in SELF_TESTS])
def test_generated_file_runs_its_self_test(path: Path, target: str, self_test_results) -> None:
    pytest.importorskip(target)
    result = self_test_results[(path.stem, target)]
    if isinstance(result, Exception):
        raise result
    assert result.returncode == 0, result.stderr[-4000:]
    assert "parameters" in result.stdout or "Total params" in result.stdout


# --- what particular models promise --------------------------------------------------------------


def generated_module(spec: str, target: str, tmp_path: Path) -> types.ModuleType:
    path = ROOT / spec
    _, text = compiled(path, target)
    return load(text, f"generated_{path.stem}_{target}", tmp_path)


@pytest.mark.keras
def test_keras_build_arguments_change_the_model(keras, tmp_path: Path) -> None:
    mlp = generated_module("specs/mlp.arch", "keras", tmp_path)
    assert isinstance(mlp.build_mlp(), keras.Sequential)
    assert tuple(mlp.build_mlp().outputs[0].shape) == (None, 10)
    assert tuple(mlp.build_mlp(classes=5).outputs[0].shape) == (None, 5)
    assert mlp.build_mlp(hidden=32).count_params() != mlp.build_mlp().count_params()
    resnet = generated_module("specs/resnet.arch", "keras", tmp_path)
    small = resnet.build_res_net(classes=5, blocks=1, filters=8)
    assert tuple(small.outputs[0].shape) == (None, 5)
    assert len(small.layers) < len(resnet.build_res_net().layers)


@pytest.mark.keras
def test_keras_submodels_are_shared_objects(keras, tmp_path: Path) -> None:
    module = generated_module("tests/codegen_specs/autoencoder.arch", "keras", tmp_path)
    encoder, decoder = module.build_encoder(), module.build_decoder()
    autoencoder = module.build_autoencoder(encoder=encoder, decoder=decoder)
    assert autoencoder.get_layer("encoder") is encoder and autoencoder.get_layer("decoder") is decoder
    ids = {id(w) for w in autoencoder.weights}
    assert {id(w) for w in encoder.weights + decoder.weights} <= ids
    alone = module.build_autoencoder()  # builds its own, still one object per sub-model
    inner = alone.get_layer("encoder")
    assert all(any(w is v for v in alone.weights) for w in inner.weights)


@pytest.mark.keras
def test_keras_gan_freezes_the_discriminator_it_shares(keras, tmp_path: Path) -> None:
    module = generated_module("specs/gan.arch", "keras", tmp_path)
    program, _ = compiled(ROOT / "specs" / "gan.arch", "keras")
    generator, discriminator = module.build_generator(), module.build_discriminator()
    assert discriminator.trainable and discriminator.trainable_weights
    gan = module.build_gan(generator=generator, discriminator=discriminator)
    assert gan.get_layer("discriminator") is discriminator and gan.get_layer("generator") is generator
    assert not discriminator.trainable
    assert {id(w) for w in gan.trainable_weights} == {id(w) for w in generator.trainable_weights}
    trainable = sum(int(w.numpy().size) for w in gan.trainable_weights)
    assert trainable == program.models["GAN"].param_count.trainable


@pytest.mark.keras
def test_keras_vae_sampling_adds_the_kl_loss(keras, tmp_path: Path) -> None:
    import numpy as np

    module = generated_module("tests/codegen_specs/vae.arch", "keras", tmp_path)
    encoder = module.build_vae_encoder()
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype="float32")
    z_mean, _, z = encoder(images, training=True)
    assert len(encoder.losses) == 1 and float(encoder.losses[0]) >= 0.0
    assert not np.allclose(np.asarray(z), np.asarray(z_mean))  # sampled while training
    z_mean, _, z = encoder(images, training=False)
    assert np.allclose(np.asarray(z), np.asarray(z_mean))  # deterministic for inference
    sampling = next(layer for layer in encoder.layers if type(layer).__name__ == "Sampling")
    assert sampling.get_config()["kl_weight"] == 0.5


@pytest.mark.torch
def test_torch_gan_shares_and_freezes_the_discriminator(torch, tmp_path: Path) -> None:
    module = generated_module("specs/gan.arch", "torch", tmp_path)
    generator, discriminator = module.Generator(), module.Discriminator()
    gan = module.GAN(generator=generator, discriminator=discriminator)
    assert gan.generator is generator and gan.discriminator is discriminator
    assert not any(p.requires_grad for p in discriminator.parameters())
    assert all(p.requires_grad for p in generator.parameters())
    assert module.GAN().discriminator is not discriminator


@pytest.mark.torch
def test_torch_initialisers_survive_the_keras_defaults(torch, tmp_path: Path) -> None:
    module = generated_module("tests/codegen_specs/misc.arch", "torch", tmp_path)
    net = module.Misc()
    lstm = net.recurrent_head.lstm
    assert torch.all(lstm.bias_ih_l0[8:16] == 1.0)  # Keras's unit_forget_bias, set after init_like_keras
    assert torch.all(lstm.bias_ih_l0[:8] == 0.0) and torch.all(lstm.bias_hh_l0 == 0.0)
    assert torch.all(net.forward_.bias == 0.0)  # Keras's zero biases


@pytest.mark.torch
def test_torch_frozen_batch_norm_stays_in_inference_mode(torch, tmp_path: Path) -> None:
    module = generated_module("tests/codegen_specs/misc.arch", "torch", tmp_path)
    net = module.Misc().train()
    assert not net.batch_normalization.training  # BatchNormalization(trainable=False)
    assert not net.frozen_tower.batch_normalization.training  # inside a frozen sub-model
    assert net.tower.batch_normalization.training and net.training
    assert not any(p.requires_grad for p in net.frozen_tower.parameters())


@pytest.mark.torch
def test_torch_regularization_loss_covers_trainable_penalties(torch, tmp_path: Path) -> None:
    module = generated_module("tests/codegen_specs/misc.arch", "torch", tmp_path)
    net = module.Misc()
    expected = 0.01 * net.tower.dense.weight.square().sum() + 0.001 * net.recurrent_head.dense.bias.abs().sum()
    assert torch.allclose(net.regularization_loss(), expected)  # the frozen tower is not penalised


@pytest.mark.torch
def test_torch_vae_sampling_keeps_the_kl_loss(torch, tmp_path: Path) -> None:
    module = generated_module("tests/codegen_specs/vae.arch", "torch", tmp_path)
    encoder = module.VAEEncoder().train()
    z_mean, _, z = encoder(torch.rand(4, 1, 28, 28))
    assert encoder.sampling.kl_loss.item() >= 0.0 and not torch.allclose(z, z_mean)
    encoder.eval()
    z_mean, _, z = encoder(torch.rand(4, 1, 28, 28))
    assert torch.equal(z, z_mean)


def test_self_tests_only_build_and_run_the_models(self_test_results) -> None:
    """Running every generated file leaves nothing behind: no file written, nothing fetched."""
    directory = None
    for result in self_test_results.values():
        if isinstance(result, subprocess.CompletedProcess):
            directory = Path(result.args[1]).parent
            break
    assert directory is not None
    expected = sorted(f"{path.stem}_{target}.py" for path, target in SELF_TESTS)
    assert sorted(p.name for p in directory.iterdir()) == expected
