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

from archdsl.ir import Program
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
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # plain kernels: steadier float32 sums
    modules = {}
    missing = []
    for name in ("numpy", "keras", "torch"):
        try:
            modules[name] = importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingFramework(", ".join(missing))
    return modules["numpy"], modules["keras"], modules["torch"]


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


# --- running -----------------------------------------------------------------------------------


def randomize_keras_weights(keras_model: Any, np: Any, seed: int = 0) -> None:
    """Give biases and normalisation statistics random values.

    Keras starts biases at zero and moving variances at one, which would hide a wrong bias
    or statistics mapping; its random kernels keep their own (well-scaled) values, so deep
    recurrences stay numerically tame.
    """
    rng = np.random.default_rng(seed)
    for weight in keras_model.weights:
        shape = tuple(weight.shape)
        name = weight.path if hasattr(weight, "path") else weight.name
        leaf = name.rsplit("/", 1)[-1]
        if leaf in ("moving_variance",):
            value = rng.uniform(0.5, 1.5, size=shape)
        elif leaf in ("gamma",):
            value = rng.uniform(0.5, 1.5, size=shape)
        elif leaf in ("bias", "beta", "moving_mean") or len(shape) == 1:
            value = rng.normal(0.0, 0.1, size=shape)
        else:
            continue
        weight.assign(value.astype(str(weight.dtype)))


def to_torch_layout(array: Any, rank: int, np: Any) -> Any:
    """A Keras-layout batch (channels last) in the generated PyTorch model's layout."""
    from archdsl.ir import TensorType
    from archdsl.targets.torch import torch_order

    order = torch_order(TensorType((0,) * rank))
    return np.transpose(array, [0] + [i + 1 for i in order])


def from_torch_layout(array: Any, rank: int, np: Any) -> Any:
    """A PyTorch output back in Keras's layout."""
    from archdsl.ir import TensorType
    from archdsl.targets.torch import torch_order

    order = torch_order(TensorType((0,) * rank))
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
    from archdsl.transfer import TransferError, keras_to_torch

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
            torch_model = getattr(torch_module, emitter.model_classes[id(model)].name)().eval()
            randomize_keras_weights(keras_model, np)
            try:
                keras_to_torch(model, keras_model, torch_model)
            except TransferError as exc:
                raise VerifyError(str(exc)) from None
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
            torch_feeds = [torch.from_numpy(np.ascontiguousarray(to_torch_layout(f, f.ndim - 1, np))) for f in feeds]
            with torch.no_grad():
                torch_out = torch_model(*torch_feeds)
            torch_out = torch_out if isinstance(torch_out, (list, tuple)) else [torch_out]
            for index, (k_out, t_out) in enumerate(zip(keras_out, torch_out, strict=True)):
                expected = np.asarray(k_out)
                actual = from_torch_layout(t_out.numpy(), expected.ndim - 1, np)
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
