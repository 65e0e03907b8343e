"""Shared helpers for the test suite."""

from __future__ import annotations

import os
import textwrap

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from archdsl.api import Result, check_source  # noqa: E402
from archdsl.diagnostics import render_text  # noqa: E402


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
