"""Shared helpers for the test suite."""

from __future__ import annotations

import os
import textwrap

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from archdsl import lalr, syntax  # noqa: E402
from archdsl import tree as t  # noqa: E402
from archdsl.api import Result, check_source  # noqa: E402
from archdsl.diagnostics import ArchError, render_text  # noqa: E402


def check(source: str, file: str = "test.arch") -> Result:
    """Check dedented source text."""
    return check_source(textwrap.dedent(source).lstrip("\n"), file)


def messages(result: Result) -> list[str]:
    return [f"{d.severity.value}: {d.message}" for d in result.reporter.sorted()]


def rendered(result: Result) -> str:
    return render_text(result.reporter.sorted(), result.reporter.sources)


@pytest.fixture
def checker():
    return check


def dump(node: object) -> object:
    """A tree with every field, positions and comments included (equality ignores them)."""
    if isinstance(node, t.Node):
        return (type(node).__name__, *((name, dump(getattr(node, name))) for name in node._fields))
    if isinstance(node, tuple | list):
        return tuple(dump(item) for item in node)
    return node


def outcome(parse_function, text: str) -> object:
    try:
        return dump(parse_function(text, "x.arch"))
    except ArchError as exc:
        return [(str(d.location), d.message, d.hint) for d in exc.diagnostics]


def assert_parsers_agree(text: str) -> None:
    """The tables accept exactly what Lark accepts and build the same tree from it."""
    from lark.exceptions import UnexpectedInput

    assert outcome(syntax.parse, text) == outcome(syntax.parse_with_lark, text)
    try:
        tokens, _ = syntax.tables().tokens(text, "COMMENT")
        syntax.tables().parse(tokens, syntax._Builder("x.arch").build)
        accepted = True
    except lalr.Rejected:
        accepted = False
    except ArchError:
        accepted = True  # parsed, but the builder refused it (a bad escape); so does Lark's
    try:
        syntax.parser().parse(text)
        lark_accepted = True
    except UnexpectedInput:
        lark_accepted = False
    assert accepted == lark_accepted, text
