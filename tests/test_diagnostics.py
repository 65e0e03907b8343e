"""Golden diagnostics: the exact text a user sees for each kind of error.

Regenerate with ``python tests/regen_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from archdsl.diagnostics import Diagnostic, Location, Note, Severity, render_github, render_json, render_text
from tests.regen_golden import DIAGNOSTICS, diagnostic_text

CASES = sorted(DIAGNOSTICS.glob("*.arch"))


@pytest.mark.parametrize("spec", CASES, ids=[c.stem for c in CASES])
def test_golden_diagnostic(spec: Path) -> None:
    expected = spec.with_suffix(".txt").read_text(encoding="utf-8")
    assert diagnostic_text(spec) == expected


@pytest.mark.parametrize("spec", CASES, ids=[c.stem for c in CASES])
def test_every_diagnostic_has_position_caret_and_no_internal_names(spec: Path) -> None:
    text = diagnostic_text(spec)
    first = text.splitlines()[0]
    assert re.match(r"^tests/diagnostics/\w+\.arch:\d+:\d+: (error|warning): ", first), first
    assert "^" in text
    for internal in ("Traceback", "__ANON", "NAME", "RPAR", "Token(", "CallValue", "TensorValue", "NoneType", "<class"):
        assert internal not in text


def test_cases_cover_every_required_check() -> None:
    names = {c.stem for c in CASES}
    required = {
        "rank_mismatch", "merge_shape_mismatch", "concat_mismatch", "reshape_count", "conv_too_small",
        "embedding_float", "undefined_name", "duplicate_names", "unknown_layer", "unknown_argument",
        "missing_argument", "wrong_type", "wrong_input_count", "block_arity", "block_recursion",
        "repeat_limit", "unused_tensor", "gan_interface",
    }  # fmt: skip
    assert required <= names


def _sample() -> list[Diagnostic]:
    loc = Location("a.arch", 2, 5, 2, 9)
    return [
        Diagnostic(
            Severity.ERROR, "bad thing", loc, "shape", "fix it", (Note("called here", Location("a.arch", 1, 1)),)
        ),
        Diagnostic(Severity.WARNING, "odd, thing: 100%", Location("a.arch", 3, 1)),
    ]


def test_text_renderer_underlines_the_span() -> None:
    text = render_text(_sample(), {"a.arch": "line one\n    abcdefgh\nthird\n"})
    assert text.splitlines()[:3] == [
        "a.arch:2:5: error: bad thing",
        "   2 |     abcdefgh",
        "     |     ^~~~",
    ]
    assert "a.arch:1:1: note: called here" in text
    assert "  hint: fix it" in text


def test_json_renderer() -> None:
    items = json.loads(render_json(_sample()))
    assert items[0]["severity"] == "error"
    assert items[0]["location"] == {"file": "a.arch", "line": 2, "column": 5, "end_line": 2, "end_column": 9}
    assert items[0]["hint"] == "fix it"
    assert items[0]["notes"][0]["message"] == "called here"
    assert items[1]["severity"] == "warning"


def test_github_renderer_escapes_properties_and_data() -> None:
    lines = render_github(_sample()).splitlines()
    assert (
        lines[0]
        == "::error file=a.arch,line=2,col=5,endColumn=9::bad thing%0Ahint: fix it%0Anote: called here (a.arch:1:1)"
    )
    assert lines[1] == "::warning file=a.arch,line=3,col=1::odd, thing: 100%25"
