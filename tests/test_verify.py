"""``archdsl verify``: every spec's Keras and PyTorch code compute the same function, and
so do random architectures (differential testing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from archdsl.api import check_file, check_source

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.arch"))
# The code generators' corner cases: imported and aliased definitions, names that clash with
# PyTorch's (a block called `double`), TimeDistributed blocks, shared sub-models.
FIXTURES = sorted((ROOT / "tests" / "codegen_specs").glob("*.arch"))
EXAMPLES = int(os.environ.get("ARCHDSL_DIFFERENTIAL_EXAMPLES", "8"))

pytestmark = [pytest.mark.keras, pytest.mark.torch]


@pytest.fixture(scope="module")
def verifier():
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    from archdsl import verify

    return verify


@pytest.mark.parametrize("spec", SPECS + FIXTURES, ids=[str(s.relative_to(ROOT)) for s in SPECS + FIXTURES])
def test_every_spec_verifies_at_rtol_1e_4(spec: Path, verifier) -> None:
    program = check_file(spec).program
    reports = verifier.verify_program(program, str(spec), None, atol=1e-5, rtol=1e-4)
    assert reports, "no output was compared"
    assert {r.model for r in reports} == set(program.models)
    for report in reports:
        assert report.passed and report.max_rel <= 1e-4, report


def test_a_time_distributed_block_is_paired_through_the_graph(verifier) -> None:
    """Layers inside TimeDistributed(block) are found inside the one-step Keras model that
    the Keras target wraps the block in, by tracing its graph, not by order or name."""
    from archdsl import transfer
    from archdsl.codegen import generate

    program = check_file(ROOT / "tests" / "codegen_specs" / "edge.arch").program
    namespace: dict = {}
    exec(compile(generate(program, "keras", "Aliased"), "generated_keras", "exec"), namespace)
    keras_model = namespace["build_aliased"]()
    model = program.models["Aliased"]
    traced = transfer.trace_layers(model, keras_model)
    inside = {"double.time_distributed": 5, "double.time_distributed_1": 5}
    for name, units in inside.items():
        assert type(traced[name]).__name__ == "Dense" and traced[name].units == units
    assert type(traced["projector"]).__name__ == "Functional"
    assert set(traced) == {layer.qualified_name for layer in model.layers}


def test_a_wrong_weight_copy_is_caught(verifier, monkeypatch) -> None:
    from archdsl import transfer

    original = transfer.copy_layer_weights

    def transposed_dense(layer, keras_layer, module):
        original(layer, keras_layer, module)
        if layer.op == "Dense" and layer.name == "dense_1":
            module.weight.data = module.weight.data.flip(0)  # rows in the wrong order

    monkeypatch.setattr(transfer, "copy_layer_weights", transposed_dense)
    program = check_file(ROOT / "specs" / "mlp.arch").program
    (report,) = verifier.verify_program(program, "specs/mlp.arch", None, atol=1e-5, rtol=1e-4)
    assert not report.passed and report.max_rel > 1e-2


def test_cli_table_and_exit_codes(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "archdsl", "verify", "specs/lenet5.arch"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["model", "output", "shape", "max", "abs", "diff", "max", "rel", "diff", "result"]
    assert lines[2].split()[:3] == ["LeNet5", "0", "(3,"] and lines[2].split()[-1] == "pass"
    assert lines[-1] == "pass: 1 output agrees within rtol=0.0001, atol=1e-05"


def test_missing_framework_exits_2_with_the_install_command(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.mkdir()
    (blocker / "torch.py").write_text("raise ImportError('torch is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)])}
    run = subprocess.run(
        [sys.executable, "-m", "archdsl", "verify", "specs/mlp.arch"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "missing: torch" in run.stderr and "pip install" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("family", ["image", "sequence", "dense", "residual"])
def test_random_architectures_verify(family: str, verifier) -> None:
    """Differential testing: random valid networks from the property tests' strategies."""
    from hypothesis import HealthCheck, given, note, settings

    from archdsl.codegen import CodegenError

    strategies = pytest.importorskip("tests.test_property_keras")
    strategy = {
        "image": strategies.image_stacks(),
        "sequence": strategies.sequence_stacks(),
        "dense": strategies.dense_stacks(),
        "residual": strategies.residual_graphs(),
    }[family]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(spec=strategy)
    def check(spec) -> None:
        source = spec.source
        note(source)
        program = check_source(source, "random.arch").program
        assert program is not None
        try:
            reports = verifier.verify_program(program, "random.arch", None, atol=1e-4, rtol=1e-4)
        except CodegenError as exc:  # a construct PyTorch cannot express exactly, refused with a reason
            note(f"torch refuses: {exc}")
            return
        assert all(r.passed for r in reports), reports

    check()
