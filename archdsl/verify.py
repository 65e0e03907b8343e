"""``archdsl verify``: prove that the Keras and PyTorch code compute the same function.

Both targets are compiled into a temporary directory and built. Every Keras weight is set
to a random value (zero biases and unit variances would hide mapping bugs), the weights
are copied into the PyTorch model with :mod:`archdsl.transfer`, and the same random
inputs go through both models in inference mode. Each output is compared.

Layers are matched structurally, not by name: starting from the Keras model's outputs,
each tensor's history names the Keras layer that made it, and the IR says which layer
that is; sub-models are matched recursively against their own IR.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archdsl.ir import Model, Program
from archdsl.targets.common import concrete_model, random_input_bound

INSTALL_HINT = 'pip install "archdsl[keras,torch]" -c constraints.txt   (tensorflow-cpu 2.21 and torch)'


class MissingFramework(Exception):
    """Keras or PyTorch is not installed."""


class VerifyError(Exception):
    """The two models could not be put side by side (a layer could not be matched)."""


@dataclass
class OutputReport:
    """How one output of one model compares across the targets."""

    model: str
    index: int
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    passed: bool


def require_frameworks() -> tuple[Any, Any, Any]:
    """Import numpy, keras and torch, or raise MissingFramework naming what is missing."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    missing = []
    for name in ("numpy", "keras", "torch"):
        if importlib.util.find_spec(name) is None:
            missing.append(name)
    if missing:
        raise MissingFramework(", ".join(missing))
    import keras
    import numpy
    import torch

    return numpy, keras, torch


def load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


# --- matching Keras layers to the IR --------------------------------------------------------


def match_keras_layers(model: Model, keras_model: Any) -> dict[str, Any]:
    """Map each IR layer's qualified name to the Keras layer that implements it.

    Sub-model layers map to the Keras sub-model; their inner layers are matched too, under
    the sub-model layer's name (``encoder/dense``).
    """
    mapping: dict[str, Any] = {}
    outputs = keras_model.outputs
    if len(outputs) != len(model.outputs):
        raise VerifyError(f"{model.name}: Keras has {len(outputs)} outputs, the IR {len(model.outputs)}")
    pending = list(zip(model.outputs, outputs, strict=True))
    seen: set[int] = set()
    while pending:
        tensor_id, keras_tensor = pending.pop()
        tensor = model.tensors[tensor_id]
        if tensor.producer is None or tensor_id in seen:
            continue
        seen.add(tensor_id)
        node = model.nodes[tensor.producer]
        history = getattr(keras_tensor, "_keras_history", None)
        if history is None:
            raise VerifyError(f"{model.name}: a Keras tensor has no history for layer {node.layer.qualified_name}")
        operation, node_index, _ = history
        mapping.setdefault(node.layer.qualified_name, operation)
        if node.layer.submodel is not None:
            inner = match_keras_layers(node.layer.submodel, operation)
            for name, layer in inner.items():
                mapping.setdefault(f"{node.layer.qualified_name}/{name}", layer)
        keras_node = operation._inbound_nodes[node_index]
        inputs = list(keras_node.input_tensors)
        if len(inputs) != len(node.inputs):
            raise VerifyError(
                f"{model.name}: {node.layer.qualified_name} has {len(node.inputs)} inputs, Keras {len(inputs)}"
            )
        pending.extend(zip(node.inputs, inputs, strict=True))
    return mapping


def torch_modules(torch_model: Any) -> dict[str, Any]:
    return dict(torch_model.named_modules())


# --- running -----------------------------------------------------------------------------------


def randomize_keras_weights(keras_model: Any, np: Any, seed: int = 0) -> None:
    """Give every weight a random value; variances stay positive."""
    rng = np.random.default_rng(seed)
    for weight in keras_model.weights:
        shape = tuple(weight.shape)
        name = weight.path if hasattr(weight, "path") else weight.name
        if "variance" in name:
            value = rng.uniform(0.5, 1.5, size=shape)
        elif "gamma" in name:
            value = rng.uniform(0.5, 1.5, size=shape)
        else:
            value = rng.normal(0.0, 0.2, size=shape)
        weight.assign(value.astype(str(weight.dtype)))


def transfer_model(model: Model, keras_model: Any, torch_model: Any) -> None:
    """Copy every Keras weight of ``keras_model`` into ``torch_model``."""
    from archdsl import transfer

    matched = match_keras_layers(model, keras_model)
    modules = torch_modules(torch_model)
    _copy(model, matched, modules, "", "", transfer)


def _copy(
    model: Model, matched: dict[str, Any], modules: dict[str, Any], keras_prefix: str, torch_prefix: str, transfer: Any
) -> None:
    for layer in model.layers:
        key = keras_prefix + layer.qualified_name
        torch_name = torch_prefix + layer.qualified_name
        keras_layer = matched.get(key)
        if keras_layer is None:
            raise VerifyError(f"{model.name}: no Keras layer matched {layer.qualified_name}")
        if layer.submodel is not None:
            _copy(layer.submodel, matched, modules, key + "/", torch_name + ".", transfer)
            continue
        if not keras_layer.weights:
            continue
        module = modules.get(torch_name)
        if module is None:
            raise VerifyError(f"{model.name}: the PyTorch model has no module {torch_name}")
        transfer.copy_layer_weights(layer, keras_layer, module)


def to_torch_layout(array: Any, rank: int, time_distributed: bool, np: Any) -> Any:
    from archdsl.ir import TensorType
    from archdsl.targets.torch import torch_order

    order = torch_order(TensorType((0,) * rank), time_distributed)
    return np.transpose(array, [0] + [i + 1 for i in order])


def from_torch_layout(array: Any, rank: int, time_distributed: bool, np: Any) -> Any:
    from archdsl.ir import TensorType
    from archdsl.targets.torch import torch_order

    order = torch_order(TensorType((0,) * rank), time_distributed)
    inverse = [0] * len(order)
    for position, axis in enumerate(order):
        inverse[axis] = position
    return np.transpose(array, [0] + [i + 1 for i in inverse])


def verify_program(
    program: Program, source_path: str, only: str | None, atol: float, rtol: float
) -> list[OutputReport]:
    """Compile, build, transfer and compare every model (or ``only``)."""
    np, keras, torch = require_frameworks()
    from archdsl.codegen import generate
    from archdsl.targets import pyrender as py
    from archdsl.targets.torch import TorchEmitter

    reports: list[OutputReport] = []
    with tempfile.TemporaryDirectory(prefix="archdsl-verify-") as tmp:
        keras_path = Path(tmp) / "generated_keras.py"
        torch_path = Path(tmp) / "generated_torch.py"
        keras_path.write_text(generate(program, "keras", only, source_path), encoding="utf-8")
        torch_path.write_text(generate(program, "torch", only, source_path), encoding="utf-8")
        keras_module = load_module(keras_path, "archdsl_verify_keras")
        torch_module = load_module(torch_path, "archdsl_verify_torch")
        emitter = TorchEmitter(program, only)
        emitter.emit(source_path, "")
        rng = np.random.default_rng(1)
        for name, model in program.models.items():
            if only is not None and name != only:
                continue
            concrete = concrete_model(program, model)
            if concrete is None:
                continue
            keras.utils.set_random_seed(0)
            keras_model = getattr(keras_module, "build_" + py.snake_case(name))()
            torch_model = getattr(torch_module, emitter.model_classes[id(model)])().eval()
            randomize_keras_weights(keras_model, np)
            transfer_model(model, keras_model, torch_model)
            feeds = []
            for tid in concrete.inputs:
                tt = concrete.tensors[tid].type
                shape = (3,) + tuple(tt.shape)
                if tt.is_integer:
                    feeds.append(rng.integers(0, random_input_bound(concrete, tid) or 2, size=shape).astype(tt.dtype))
                else:
                    feeds.append(rng.uniform(-1.0, 1.0, size=shape).astype("float32"))
            keras_out = keras_model(feeds[0] if len(feeds) == 1 else feeds, training=False)
            keras_out = keras_out if isinstance(keras_out, (list, tuple)) else [keras_out]
            td = emitter.td_inputs(model) if hasattr(emitter, "td_inputs") else set()
            torch_feeds = [
                torch.from_numpy(np.ascontiguousarray(to_torch_layout(f, f.ndim - 1, tid in td, np)))
                for f, tid in zip(feeds, model.inputs, strict=True)
            ]
            with torch.no_grad():
                torch_out = torch_model(*torch_feeds)
            torch_out = torch_out if isinstance(torch_out, (list, tuple)) else [torch_out]
            for index, (k_out, t_out, tid) in enumerate(zip(keras_out, torch_out, model.outputs, strict=True)):
                expected = np.asarray(k_out)
                actual = from_torch_layout(t_out.numpy(), expected.ndim - 1, tid in td, np)
                diff = np.abs(expected - actual)
                scale = float(np.max(np.abs(expected))) or 1.0
                max_abs = float(np.max(diff)) if diff.size else 0.0
                max_rel = max_abs / scale
                passed = bool(np.allclose(actual, expected, rtol=rtol, atol=atol))
                reports.append(OutputReport(name, index, tuple(expected.shape), max_abs, max_rel, passed))
    return reports


def render_reports(reports: list[OutputReport]) -> str:
    rows = [["model", "output", "shape", "max abs diff", "max rel diff", "result"]]
    for r in reports:
        rows.append(
            [
                r.model,
                str(r.index),
                str(r.shape),
                f"{r.max_abs:.3g}",
                f"{r.max_rel:.3g}",
                "pass" if r.passed else "FAIL",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"
