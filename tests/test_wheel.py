"""The built wheel carries the grammar and templates and works from a clean venv."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_into_a_clean_venv_and_checks_a_spec(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = dist.glob("archdsl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"archdsl/grammar/archdsl.lark", "archdsl/grammar/archdsl.tables.json"} <= names
    assert any(n.startswith("archdsl/templates/") for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        env=clean_env,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    work = tmp_path / "elsewhere"
    work.mkdir()
    spec = work / "resnet.arch"
    spec.write_text((ROOT / "specs" / "resnet.arch").read_text())
    check = subprocess.run(
        [str(env_dir / "bin" / "archdsl"), "check", str(spec)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ResNet 297,832 params" in check.stdout
    # The packaged parse tables are used (Lark is not imported), and Lark explains a syntax error.
    traced = subprocess.run(
        [str(python), "-X", "importtime", "-m", "archdsl", "check", str(spec)],
        cwd=work,
        capture_output=True,
        text=True,
        env=clean_env,
    )
    assert traced.returncode == 0 and " lark" not in traced.stderr, traced.stderr[-2000:]
    broken = work / "broken.arch"
    broken.write_text("model M {\n  input x: (4,)\n  output x ->\n}\n")
    failed = subprocess.run(
        [str(env_dir / "bin" / "archdsl"), "check", str(broken)],
        cwd=work,
        capture_output=True,
        text=True,
        env=clean_env,
    )
    assert failed.returncode == 1 and "broken.arch:4:1: error: unexpected '}'" in failed.stdout, failed.stdout
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import archdsl, archdsl.resources as r; print(archdsl.__file__); print(r.resource_dir('grammar'))",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        env=clean_env,
    )
    module_file, grammar_dir = where.stdout.split()
    assert str(env_dir) in module_file and grammar_dir.startswith(str(env_dir))
