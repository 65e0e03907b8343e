"""The command line as a user runs it: subprocesses, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def archdsl(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "archdsl", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_version() -> None:
    from archdsl import __version__

    result = archdsl("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"archdsl {__version__}"


def test_check_specs_directory_is_clean() -> None:
    result = archdsl("check", "specs/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors, 0 warnings" in result.stdout
    assert result.stdout.count(": ok (") == len(list(SPECS.rglob("*.arch")))


def test_check_reports_errors_with_exit_1(tmp_path: Path) -> None:
    spec = tmp_path / "bad.arch"
    spec.write_text("model M {\n  input x: (4,)\n  output x -> Conv2D(3, 3)\n}\n")
    result = archdsl("check", str(spec))
    assert result.returncode == 1
    assert f"{spec}:3:15: error: Conv2D expects input of rank 3" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    spec = tmp_path / "warn.arch"
    spec.write_text("model M {\n  input x: (4,)\n  h = x -> Dense(2)\n  output x\n}\n")
    assert archdsl("check", str(spec)).returncode == 0
    strict = archdsl("check", "--strict", str(spec))
    assert strict.returncode == 1 and "error: tensor 'h' is never used" in strict.stdout


def test_json_and_github_formats(tmp_path: Path) -> None:
    spec = tmp_path / "bad.arch"
    spec.write_text("model M {\n  input x: (4,)\n  output x -> Dense(units=0)\n}\n")
    data = json.loads(archdsl("check", "--format", "json", str(spec)).stdout)
    assert data[0]["severity"] == "error" and data[0]["location"]["line"] == 3
    github = archdsl("check", "--format", "github", str(spec))
    assert github.returncode == 1
    assert github.stdout.startswith(f"::error file={spec},line=3,col=")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe\x00garbage", "not valid UTF-8"),
        (b"model M {\n  input x: (4,)\n  output x -> \xe9\n}\n", "not valid UTF-8"),
        (b"\x00\x01\x02", "NUL byte"),
        (b"", "0 errors"),
        (b"}}}}", "unexpected '}'"),
        (b"model M { input x: (" + b"(" * 5000 + b")", "nested"),
    ],
)
def test_hostile_files_never_show_a_traceback(tmp_path: Path, content: bytes, expected: str) -> None:
    spec = tmp_path / "weird.arch"
    spec.write_bytes(content)
    result = archdsl("check", str(spec))
    assert "Traceback" not in result.stdout + result.stderr
    assert expected in result.stdout
    assert result.returncode in (0, 1)


def test_io_errors_exit_2(tmp_path: Path) -> None:
    missing = archdsl("check", str(tmp_path / "nope.arch"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    empty_dir = archdsl("check", str(tmp_path))
    assert empty_dir.returncode == 2 and "no .arch files" in empty_dir.stderr
    usage = archdsl("check", "--format", "xml", "specs")
    assert usage.returncode == 2
    mixed = archdsl("check", str(tmp_path / "nope.arch"), "specs/mlp.arch")
    assert mixed.returncode == 2
    assert mixed.stdout.splitlines()[-1] == "checked 1 file: 0 errors, 0 warnings; 1 could not be read"


def test_the_fast_exit_flushes_everything(tmp_path: Path) -> None:
    """run() ends the process with os._exit after flushing: long output must arrive whole,
    and a reader that stops early (| head) gets no traceback and no 'Exception ignored'."""
    spec = tmp_path / "long.arch"
    spec.write_text(
        "model M {\n  input x: (4,)\n  h = x\n  for i in range(3000) { h = h -> Dense(4) }\n  output h\n}\n"
    )
    whole = archdsl("summary", str(spec))
    assert whole.returncode == 0 and whole.stderr == ""
    assert whole.stdout.count("Dense") == 3000 and whole.stdout.rstrip().splitlines()[-2].startswith("Non-trainable")
    many = tmp_path / "many"
    many.mkdir()
    for i in range(300):
        (many / f"m{i:03}.arch").write_text(f"model M{i} {{ input x: (4,) output x -> Dense(2) }}\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout must be buffered here
    checked = subprocess.run(
        [sys.executable, "-m", "archdsl", "check", str(many)], cwd=ROOT, capture_output=True, text=True, env=env
    )
    lines = checked.stdout.splitlines()
    assert checked.returncode == 0 and len(lines) == 301 and lines[-1] == "checked 300 files: 0 errors, 0 warnings"
    reader = subprocess.Popen(
        [sys.executable, "-m", "archdsl", "summary", str(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert reader.stdout is not None and reader.stdout.readline().startswith(b"Model:")
    reader.stdout.close()  # like `| head -1`
    _, stderr = reader.communicate(timeout=120)
    assert b"Traceback" not in stderr and b"Exception ignored" not in stderr
    assert reader.returncode in (0, 1)


def test_summary_table_matches_the_ir() -> None:
    result = archdsl("summary", "specs/mlp.arch")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == 'Model: "MLP"  (shapes exclude the batch dimension)'
    assert any(line.split()[:4] == ["dense", "(Dense)", "(128,)", "100,480"] for line in lines)
    assert "Total params: 109,386 (427.29 KB)" in lines
    assert "Trainable params: 109,386 (427.29 KB)" in lines
    assert "Non-trainable params: 0 (0 B)" in lines


def test_summary_reports_pytorch_differences_and_unknown_model() -> None:
    result = archdsl("summary", "specs/resnet.arch", "--model", "ResNet")
    assert "Non-trainable params: 896" in result.stdout
    assert "PyTorch: 296,936 parameters, 903 buffer elements" in result.stdout
    wrong = archdsl("summary", "specs/resnet.arch", "--model", "Resnet")
    assert wrong.returncode == 2 and "did you mean 'ResNet'?" in wrong.stderr


def test_check_and_summary_never_import_frameworks_or_jinja() -> None:
    """Nor Lark, on valid specs: archdsl parses with its own tables and asks Lark only to
    explain a syntax error."""
    heavy_roots = ("tensorflow", "keras", "torch", "jinja2", "numpy", "lark")
    code = (
        "import sys\n"
        "from archdsl.cli import main\n"  # the commands themselves: run() would end the process
        "for argv in (['check', '-q', 'specs/'], ['summary', 'specs/resnet.arch']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy_roots!r})\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    # The real entry point too, which ends with os._exit: -X importtime lists every import.
    for argv in (["check", "-q", "specs/"], ["summary", "specs/resnet.arch"]):
        traced, imported = imported_packages(*argv)
        assert traced.returncode == 0 and "archdsl" in imported
        assert imported.isdisjoint(heavy_roots)


def imported_packages(*argv: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run the real entry point under -X importtime: the process, and the top-level
    packages it imported."""
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "archdsl", *argv], cwd=ROOT, capture_output=True, text=True
    )
    return traced, {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in traced.stderr.splitlines()}


def test_a_syntax_error_is_explained_by_lark(tmp_path: Path) -> None:
    bad = tmp_path / "bad.arch"
    bad.write_text("model M {\n  input x: (4,)\n  output x -> Dense(3\n}\n")
    traced, imported = imported_packages("check", str(bad))
    assert traced.returncode == 1 and "lark" in imported
    assert "bad.arch:4:1: error: unexpected '}'" in traced.stdout, traced.stdout


def test_summary_names_layers_inside_blocks_by_instance() -> None:
    result = archdsl("summary", "specs/resnet.arch")
    rows = [line.split() for line in result.stdout.splitlines()]
    names = [r[0] for r in rows if len(r) > 1 and r[1].startswith("(")]
    assert "residual_block.conv2d" in names and "residual_block_2.add" in names
    assert len(names) == len(set(names))
    add = next(r for r in rows if r and r[0] == "residual_block_1.add")
    assert add[-2:] == ["residual_block_1.batch_normalization_1,", "residual_block.re_lu_1"]
