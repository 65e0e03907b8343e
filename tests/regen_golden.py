"""Regenerate the golden files: ``python tests/regen_golden.py``.

Diagnostics: tests/diagnostics/NAME.arch -> NAME.txt (the exact ``archdsl check`` text).
Review the diff before committing: a golden file is a promise about what users see.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archdsl.api import check_file  # noqa: E402
from archdsl.diagnostics import render_text  # noqa: E402

DIAGNOSTICS = ROOT / "tests" / "diagnostics"


def diagnostic_text(spec: Path) -> str:
    """What ``archdsl check`` prints for ``spec``, paths relative to the repository."""
    relative = spec.relative_to(ROOT)
    import os

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = check_file(relative)
    finally:
        os.chdir(cwd)
    return render_text(result.reporter.sorted(), result.reporter.sources)


def main() -> None:
    for spec in sorted(DIAGNOSTICS.glob("*.arch")):
        spec.with_suffix(".txt").write_text(diagnostic_text(spec), encoding="utf-8")
        print("wrote", spec.with_suffix(".txt").relative_to(ROOT))


if __name__ == "__main__":
    main()
