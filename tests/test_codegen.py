"""``archdsl compile``: the command, the templates, the text of the generated code.

What the generated code *does* is tested in test_generated.py; here: how the command writes
files, golden files, determinism, lint, safe rendering of spec strings and names, and the
shape of the Keras and PyTorch sources (what a reader of them is promised).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archdsl import __version__
from archdsl.api import check_file, check_source
from archdsl.codegen import environment, generate
from archdsl.targets import pyrender as py
from tests.regen_golden import GOLDEN, TARGETS, generated_text, golden_path

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.arch"))
FIXTURES = sorted((ROOT / "tests" / "codegen_specs").glob("*.arch"))
TEMPLATES = ROOT / "templates"


def archdsl(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "archdsl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def source(path: Path, target: str) -> str:
    """The generated text for a spec, compiled from the repository root as a user would."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        relative = path.relative_to(ROOT)
        result = check_file(relative)
        assert result.ok and result.program is not None
        return generate(result.program, target, None, str(relative))
    finally:
        os.chdir(cwd)


def compile_text(text: str, target: str, file: str = "spec.arch") -> str:
    result = check_source(textwrap.dedent(text).lstrip("\n"), file)
    assert result.ok, [d.message for d in result.reporter.sorted()]
    return generate(result.program, target)


BAD_SPEC = "model M {\n  input x: (4,)\n  output x -> Conv2D(3, 3)\n}\n"


# --- the command --------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_compile_writes_to_stdout_without_output(target: str) -> None:
    result = archdsl("compile", "specs/mlp.arch", "--target", target)
    assert result.returncode == 0, result.stderr
    assert result.stdout == source(ROOT / "specs" / "mlp.arch", target)


def test_compile_output_replaces_the_file_as_a_whole(tmp_path: Path) -> None:
    output = tmp_path / "model.py"
    output.write_text("old contents\n")
    survivor = tmp_path / "link.py"
    os.link(output, survivor)  # a hard link keeps the old file alive if it is replaced, not rewritten
    result = archdsl("compile", "specs/cnn.arch", "--target", "keras", "-o", str(output))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert output.read_text() == source(ROOT / "specs" / "cnn.arch", "keras")
    assert survivor.read_text() == "old contents\n"  # renamed over, never truncated in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.py", "model.py"]  # no temporary left


def test_compile_writes_nothing_when_the_spec_has_errors(tmp_path: Path) -> None:
    spec = tmp_path / "bad.arch"
    spec.write_text(BAD_SPEC)
    output = tmp_path / "model.py"
    output.write_text("previous output\n")
    before = output.stat().st_mtime_ns
    for target in TARGETS:
        result = archdsl("compile", str(spec), "--target", target, "-o", str(output))
        assert result.returncode == 1
        assert "error: Conv2D expects input of rank 3" in result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
    assert output.read_text() == "previous output\n" and output.stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.arch", "model.py"]
    fresh = tmp_path / "fresh.py"
    assert archdsl("compile", str(spec), "--target", "torch", "-o", str(fresh)).returncode == 1
    assert not fresh.exists()
    assert archdsl("compile", str(spec), "--target", "keras").stdout == ""


def test_compile_one_model(tmp_path: Path) -> None:
    result = archdsl("compile", "specs/gan.arch", "--target", "keras", "--model", "Discriminator")
    assert result.returncode == 0, result.stderr
    assert "def build_discriminator(" in result.stdout and "def build_gan(" not in result.stdout
    assert "def build_generator(" not in result.stdout
    torch_result = archdsl("compile", "specs/gan.arch", "--target", "torch", "--model", "GAN")
    assert torch_result.returncode == 0, torch_result.stderr
    classes = re.findall(r"^class (\w+)\(nn\.Module\):", torch_result.stdout, re.M)
    assert classes == ["Generator", "Discriminator", "GAN"]
    assert "gan = GAN().eval()" in torch_result.stdout and "generator = Generator()" not in torch_result.stdout


# --- templates ------------------------------------------------------------------------------


def test_template_environment_is_strict() -> None:
    import jinja2

    env = environment()
    assert env.undefined is jinja2.StrictUndefined
    assert env.trim_blocks and env.lstrip_blocks
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()


ALLOWED_TAGS = {"for", "endfor", "import", "macro", "endmacro"}


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.j2")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_hold_no_logic_beyond_loops_and_macro_calls(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    for tag in re.findall(r"{%-?\s*(\w+)", text):
        assert tag in ALLOWED_TAGS, f"{template.name}: {{% {tag} %}}"
    for expression in re.findall(r"{{-?(.*?)-?}}", text, flags=re.S):
        # a name, a loop variable, a join, or a macro call: no arithmetic, tests or literals
        assert re.fullmatch(r"\s*[\w.]+(\[\w+\])?(\(\))?(\s*\|\s*join\(\"\\n\"\))?\s*", expression), expression


# --- safe literals ------------------------------------------------------------------------

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.tuples(inner, inner) | st.lists(inner, max_size=3) | st.tuples(inner),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_literal_is_a_python_literal_of_the_same_value(value) -> None:
    text = py.literal(value)
    assert text.isascii() and "\n" not in text
    assert ast.literal_eval(text) == value


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_docstring_cannot_close_early(text: str) -> None:
    lines = py.docstring(text, "    ")
    code = "def f():\n" + "\n".join(lines) + "\n    return 1\n"
    tree = ast.parse(code)
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef) and len(function.body) == 2
    assert isinstance(function.body[0], ast.Expr) and isinstance(function.body[0].value, ast.Constant)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), max_size=12))
def test_namer_gives_distinct_safe_identifiers(names: list[str]) -> None:
    import keyword

    namer = py.Namer()
    namer.reserve({"keras", "layers"})
    out = [namer.name(n) for n in names]
    assert len(set(out)) == len(set(names))
    for a in out:
        assert a.isidentifier() and not keyword.iskeyword(a) and a not in py.RESERVED and a not in {"keras", "layers"}
    assert [namer.name(n) for n in names] == out  # stable


# --- golden files and determinism ------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_golden_file_is_current(spec: Path, target: str) -> None:
    path = golden_path(spec, target)
    assert path.exists(), f"no golden file {path.relative_to(ROOT)}: run python tests/regen_golden.py"
    assert generated_text(spec, target) == path.read_text(encoding="utf-8"), (
        f"{path.relative_to(ROOT)} is out of date: run python tests/regen_golden.py and review the diff"
    )


def test_no_stale_golden_files() -> None:
    stems = {p.stem for p in SPECS}
    for target in TARGETS:
        assert {p.stem for p in (GOLDEN / target).glob("*.py")} <= stems


def test_output_is_byte_identical_across_runs_and_hash_seeds(tmp_path: Path) -> None:
    specs = [
        "specs/resnet.arch",
        "specs/gan.arch",
        "tests/codegen_specs/wrappers.arch",
        "tests/codegen_specs/clashes.arch",
    ]
    script = (
        "import sys\n"
        "from archdsl.api import check_file\n"
        "from archdsl.codegen import generate\n"
        "for spec in sys.argv[1:]:\n"
        "    program = check_file(spec).program\n"
        "    for target in ('keras', 'torch'):\n"
        "        sys.stdout.write(generate(program, target, None, spec))\n"
    )
    outputs = set()
    for seed in ("0", "1", "12345", "random"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        result = subprocess.run(
            [sys.executable, "-c", script, *specs], cwd=ROOT, env=env, capture_output=True, timeout=300
        )
        assert result.returncode == 0, result.stderr.decode()
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert outputs.pop().decode() == "".join(source(ROOT / s, t) for s in specs for t in TARGETS)


# --- lint -------------------------------------------------------------------------------------


def ruff() -> str:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if found is None:
        pytest.skip("ruff is not installed")
    return found


@pytest.fixture(scope="module")
def generated_dir(tmp_path_factory) -> Path:
    """Every spec and fixture compiled for both targets, in a directory with no ruff config."""
    directory = tmp_path_factory.mktemp("generated")
    for spec in SPECS + FIXTURES:
        prefix = "spec" if spec in SPECS else "fixture"
        for target in TARGETS:
            (directory / f"{prefix}_{spec.stem}_{target}.py").write_text(source(spec, target), encoding="utf-8")
    return directory


def test_ruff_check_passes_on_generated_code(generated_dir: Path) -> None:
    result = subprocess.run(
        [ruff(), "check", "--isolated", "--no-cache", "."], cwd=generated_dir, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_generated_code_unchanged(generated_dir: Path) -> None:
    result = subprocess.run(
        [ruff(), "format", "--isolated", "--no-cache", "--check", "--diff", "."],
        cwd=generated_dir,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_is_ascii_safe_and_parses(generated_dir: Path) -> None:
    for path in generated_dir.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        ast.parse(text)
        assert text.endswith("\n") and not text.endswith("\n\n")


# --- what the Keras source promises ------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS + FIXTURES, ids=lambda p: p.stem)
def test_keras_source_uses_keras3_only(spec: Path) -> None:
    text = source(spec, "keras")
    assert "import keras\n" in text and re.search(r"^from keras import layers\b", text, re.M)
    for forbidden in ("tf.keras", "tensorflow", "keras.backend", "import torch"):
        assert forbidden not in text


def test_header_names_the_spec_and_version() -> None:
    for target in TARGETS:
        text = source(ROOT / "specs" / "resnet.arch", target)
        first = text.splitlines()[0]
        assert "specs/resnet.arch" in first and f"archdsl {__version__}" in first


def test_straight_chains_are_sequential_starting_with_input() -> None:
    text = source(ROOT / "specs" / "mlp.arch", "keras")
    assert re.search(r"return keras\.Sequential\(\n\s+\[\n\s+keras\.Input\(shape=\(inputs,\), name=\"pixels\"\),", text)
    resnet = source(ROOT / "specs" / "resnet.arch", "keras")
    assert "keras.Sequential" not in resnet and "return keras.Model(image, outputs" in resnet
    assert "def residual_block(x, filters, kernel_size=3):" in resnet
    assert "def build_res_net(classes=1000, blocks=3, filters=64):" in resnet


def _has_shape_comment(lines: list[str], first: int, last: int, marks: tuple[str, ...]) -> bool:
    """Whether the code on lines first..last (1-based) carries one of ``marks`` at its end or above it."""
    above = lines[first - 2].strip() if first >= 2 else ""
    return any(m in lines[last - 1] for m in marks) or above.startswith(marks)


KERAS_MARKS = ("# (batch", "# not built with the default parameters")


def test_every_keras_layer_line_has_a_shape_comment() -> None:
    """Every statement that applies a layer, block or model, and every layer of a Sequential."""
    for spec in SPECS + FIXTURES:
        text = source(spec, "keras")
        lines = text.splitlines()
        functions = [n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)]
        for node in (inner for f in functions for inner in ast.walk(f)):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                func = ast.unparse(node.value.func)
                applies = isinstance(node.value.func, ast.Call) or not re.match(
                    r"(keras\.(Input|Model)|layers\.\w+|build_\w+|Sampling|\w+\.shape)$", func
                )
                if applies and not func.startswith(("tuple", "len")):
                    assert _has_shape_comment(lines, node.lineno, node.end_lineno, KERAS_MARKS), (
                        f"{spec.name}:{node.lineno}: {lines[node.lineno - 1]}"
                    )
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "keras.Sequential":
                for item in node.args[0].elts[1:]:
                    assert _has_shape_comment(lines, item.lineno, item.end_lineno, KERAS_MARKS), (
                        f"{spec.name}:{item.lineno}: {lines[item.lineno - 1]}"
                    )


def test_every_torch_forward_line_has_a_shape_comment() -> None:
    from archdsl.targets.torch_layers import HELPER_ORDER

    for spec in SPECS + FIXTURES:
        text = source(spec, "torch")
        lines = text.splitlines()
        classes = [n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name not in HELPER_ORDER]
        for node in (inner for c in classes for inner in c.body):
            if isinstance(node, ast.FunctionDef) and node.name == "forward":
                for stmt in node.body:
                    if not isinstance(stmt, ast.Assign):
                        continue
                    here = lines[stmt.end_lineno - 1]
                    above = lines[stmt.lineno - 2].strip()
                    assert "# (N" in here or above.startswith("# (N"), f"{spec.name}:{stmt.lineno}"


def test_blocks_and_models_have_docstrings() -> None:
    for spec in SPECS + FIXTURES:
        for target in TARGETS:
            tree = ast.parse(source(spec, target))
            assert ast.get_docstring(tree)
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    assert ast.get_docstring(node), f"{spec.name} {target}: {node.name}"


def test_spec_strings_reach_the_code_verbatim() -> None:
    text = source(ROOT / "tests" / "codegen_specs" / "injection.arch", "keras")
    tree = ast.parse(text)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    doc = ast.get_docstring(functions["build_inject"]).rstrip()  # a space keeps a final quote off the closing quotes
    assert doc == 'Docstring with triple quotes """ and a backslash \\, unicode: héllo ✓ 𝜃, ends with a quote"'
    pick = functions["pick"]
    defaults = [ast.literal_eval(d) for d in pick.args.defaults]
    assert defaults == ["a\"); open('MARKER', 'w'); print(\"", 3]
    condition = next(n for n in ast.walk(pick) if isinstance(n, ast.Compare))
    assert ast.literal_eval(condition.comparators[0]) == '"""\nimport os; os.system(\'touch MARKER\')\n"""'


# --- names ------------------------------------------------------------------------------------


def test_clashing_names_are_renamed_deterministically() -> None:
    keras_text = source(ROOT / "tests" / "codegen_specs" / "clashes.arch", "keras")
    assert "def range_(list_, print_, self=2):" in keras_text
    assert "def build_model(\n    lambda_=4,\n    list_=3,\n    keras_=2,\n    layers_=1," in keras_text
    torch_text = source(ROOT / "tests" / "codegen_specs" / "clashes.arch", "torch")
    assert "class Model(nn.Module):" in torch_text and "def forward(self, id_, np):" in torch_text
    assert "def forward(self, F_):" in torch_text  # F is torch.nn.functional in the module


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", ["clashes", "injection"])
def test_hostile_specs_compile_lint_and_run_without_side_effects(name: str, target: str, tmp_path: Path) -> None:
    pytest.importorskip(target)
    path = tmp_path / f"{name}_{target}.py"
    path.write_text(source(ROOT / "tests" / "codegen_specs" / f"{name}.arch", target), encoding="utf-8")
    lint = subprocess.run([ruff(), "check", "--isolated", "--no-cache", path.name], cwd=tmp_path, capture_output=True)
    assert lint.returncode == 0, lint.stdout.decode()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, path.name], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no MARKER, nothing else


def test_layer_named_like_module_attributes_gets_a_safe_attribute() -> None:
    from archdsl.targets.torch import module_attr, module_name

    assert module_attr("forward") == "forward_" and module_attr("forward_") == "forward__"
    assert module_attr("class") == "class_" and module_attr("conv2d") == "conv2d"
    assert module_name("train.eval") == "train_.eval_"
    text = compile_text(
        """
        model M {
            input x: (4,)
            output x -> Dense(3, name="forward") -> Dense(2, name="class") -> Dense(2, name="training")
        }
        """,
        "torch",
    )
    assert "self.forward_ = nn.Linear(4, 3)" in text and "self.class_ = nn.Linear(3, 2)" in text


# --- what the PyTorch source promises ----------------------------------------------------------


def test_torch_classes_state_input_shapes_and_computed_sizes() -> None:
    text = source(ROOT / "specs" / "cnn.arch", "torch")
    assert "Input: image (N, 1, 28, 28)." in text  # channels-first
    assert "nn.Linear(576, 64)" in text and "nn.Conv2d(1, 32, 3)" in text
    resnet = source(ROOT / "specs" / "resnet.arch", "torch")
    assert resnet.count("class ResidualBlock(nn.Module):") == 1  # one class, reused three times
    assert resnet.count("= ResidualBlock()") == 3


def test_torch_one_class_per_model_and_block() -> None:
    text = source(ROOT / "tests" / "codegen_specs" / "blocks.arch", "torch")
    classes = re.findall(r"^class (\w+)\(nn\.Module\):", text, re.M)
    assert classes == ["Stage", "Stage2", "Stage3", "ConvBn", "ConvBn2", "Head", "Staged"]
    assert "Block stage(filters=16, depth=2, downsample=True)." in text


def test_multiple_targets_are_named_after_the_spec() -> None:
    keras_text = source(ROOT / "tests" / "codegen_specs" / "multi_io.arch", "keras")
    assert "logits = layers.Dense(classes" in keras_text and "score = layers.Dense(1" in keras_text
    torch_text = source(ROOT / "tests" / "codegen_specs" / "multi_io.arch", "torch")
    assert "return logits, score" in torch_text
    vae = source(ROOT / "tests" / "codegen_specs" / "vae.arch", "torch")
    assert "_m, _v, z = self.encoder(image)" in vae


def test_compile_reports_what_a_target_cannot_express(tmp_path: Path) -> None:
    spec = tmp_path / "masked.arch"
    spec.write_text("model M {\n  input t: int32 (5,)\n  output t -> Embedding(10, 4, mask_zero=True) -> LSTM(3)\n}\n")
    output = tmp_path / "out.py"
    output.write_text("previous\n")
    result = archdsl("compile", str(spec), "--target", "torch", "-o", str(output))
    assert result.returncode == 1
    assert output.read_text() == "previous\n"
    assert f"{spec}:3:" in result.stderr and "mask_zero" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert archdsl("compile", str(spec), "--target", "keras").returncode == 0  # Keras has masks


def test_output_file_gets_an_ordinary_mode(tmp_path: Path) -> None:
    """The temporary file is private; the written one has a plain file's mode (or keeps the old one's)."""
    output = tmp_path / "mlp.py"
    umask = os.umask(0o022)
    try:
        assert archdsl("compile", "specs/mlp.arch", "--target", "keras", "-o", str(output)).returncode == 0
        assert output.stat().st_mode & 0o777 == 0o644
        output.chmod(0o640)
        assert archdsl("compile", "specs/mlp.arch", "--target", "torch", "-o", str(output)).returncode == 0
        assert output.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)
