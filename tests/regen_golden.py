"""Regenerate the golden files: ``python tests/regen_golden.py``.

Diagnostics: tests/diagnostics/NAME.arch -> NAME.txt (the exact ``archdsl check`` text).
Generated code: specs/NAME.arch -> tests/golden/TARGET/NAME.py (the exact ``archdsl compile``
output, for each target). Review the diff before committing: a golden file is a promise
about what users see.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archdsl.api import check_file  # noqa: E402
from archdsl.diagnostics import render_text  # noqa: E402

DIAGNOSTICS = ROOT / "tests" / "diagnostics"
SPECS = ROOT / "specs"
GOLDEN = ROOT / "tests" / "golden"
TARGETS = ("keras", "torch")


def _checked(spec: Path):
    """Check ``spec`` with its path relative to the repository, as a user in it would."""
    relative = spec.relative_to(ROOT)
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return relative, check_file(relative)
    finally:
        os.chdir(cwd)


def diagnostic_text(spec: Path) -> str:
    """What ``archdsl check`` prints for ``spec``, paths relative to the repository."""
    _, result = _checked(spec)
    return render_text(result.reporter.sorted(), result.reporter.sources)


def golden_path(spec: Path, target: str) -> Path:
    return GOLDEN / target / f"{spec.stem}.py"


def generated_text(spec: Path, target: str) -> str:
    """What ``archdsl compile SPEC --target TARGET`` prints, run from the repository."""
    from archdsl.codegen import generate

    relative, result = _checked(spec)
    if not result.ok or result.program is None:
        raise SystemExit(f"{relative} has errors:\n{render_text(result.reporter.sorted(), result.reporter.sources)}")
    return generate(result.program, target, None, str(relative))


def main() -> None:
    for spec in sorted(DIAGNOSTICS.glob("*.arch")):
        spec.with_suffix(".txt").write_text(diagnostic_text(spec), encoding="utf-8")
        print("wrote", spec.with_suffix(".txt").relative_to(ROOT))
    specs = sorted(SPECS.glob("*.arch"))
    for target in TARGETS:
        directory = GOLDEN / target
        directory.mkdir(parents=True, exist_ok=True)
        wanted = {golden_path(spec, target) for spec in specs}
        for stale in sorted(directory.glob("*.py")):
            if stale not in wanted:
                stale.unlink()
                print("removed", stale.relative_to(ROOT))
        for spec in specs:
            path = golden_path(spec, target)
            path.write_text(generated_text(spec, target), encoding="utf-8", newline="\n")
            print("wrote", path.relative_to(ROOT))


if __name__ == "__main__":
    main()
