"""Values of the language after evaluation, and how they print."""

from __future__ import annotations

from typing import Any

from archdsl.ir import CallValue


def type_name(value: Any) -> str:
    """A user-facing name for a value's type (never a Python class name)."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, tuple):
        return "a tuple"
    if isinstance(value, CallValue):
        return f"a call to {value.name}"
    if isinstance(value, range):
        return "a range"
    return "a value"


def format_value(value: Any) -> str:
    """Spec-style text for a value, used in messages and summaries."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(format_value(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, range):
        return f"range({value.start}, {value.stop}, {value.step})"
    return str(value)
