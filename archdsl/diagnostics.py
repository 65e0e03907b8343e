"""Source locations, diagnostics and their renderers (text, json, github).

Every error the user can cause becomes a :class:`Diagnostic` with a :class:`Location`.
Stages collect diagnostics in a :class:`Reporter` and keep going where they can, so a
single run reports every error in a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum

from archdsl.records import Record


class Location(Record):
    """A span of source text: 1-based line and column, end exclusive."""

    file: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


class Note(Record):
    """A secondary message attached to a diagnostic, optionally with its own location."""

    message: str
    location: Location | None = None


class Diagnostic(Record):
    """One message for the user: what went wrong, where, and how to fix it."""

    severity: Severity
    message: str
    location: Location | None
    code: str = ""
    hint: str | None = None
    notes: tuple[Note, ...] = ()

    def with_notes(self, notes: Iterable[Note]) -> Diagnostic:
        return Diagnostic(self.severity, self.message, self.location, self.code, self.hint, self.notes + tuple(notes))


class ArchError(Exception):
    """Raised to abort one construct; carries the diagnostic to report, and any more found
    on the way (a file's later syntax errors)."""

    def __init__(self, diagnostic: Diagnostic, *more: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic
        self.diagnostics = (diagnostic, *more)


def error(
    message: str, location: Location | None, *, code: str = "", hint: str | None = None, notes: Iterable[Note] = ()
) -> ArchError:
    """Build an :class:`ArchError` for ``raise``."""
    return ArchError(Diagnostic(Severity.ERROR, message, location, code, hint, tuple(notes)))


MAX_DIAGNOSTICS = 1000  # past this, a file is too broken for more messages to help


class Reporter:
    """Collects diagnostics; sources are kept so renderers can quote lines."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.sources: dict[str, str] = {}
        self._seen: set[tuple] = set()
        # Every error reported, shown or not: a stage compares it before and after a
        # construct to know whether that construct failed (a repeat is not shown again).
        self.error_count = 0

    def add(self, diagnostic: Diagnostic) -> None:
        """Record a diagnostic once per place: a loop or a block used many times reports
        each problem at its first occurrence, with that occurrence's notes."""
        if diagnostic.severity is Severity.ERROR:
            self.error_count += 1
        key = (diagnostic.severity, diagnostic.message, diagnostic.location, diagnostic.code)
        if key in self._seen or len(self.diagnostics) >= MAX_DIAGNOSTICS:
            return
        self._seen.add(key)
        self.diagnostics.append(diagnostic)

    def error(self, message: str, location: Location | None, **details) -> None:
        """Add an error; ``details`` are Diagnostic's code, hint and notes."""
        self._report(Severity.ERROR, message, location, **details)

    def warning(self, message: str, location: Location | None, **details) -> None:
        """Add a warning; ``details`` are Diagnostic's code, hint and notes."""
        self._report(Severity.WARNING, message, location, **details)

    def _report(
        self,
        severity: Severity,
        message: str,
        location: Location | None,
        *,
        code: str = "",
        hint: str | None = None,
        notes: Iterable[Note] = (),
    ) -> None:
        self.add(Diagnostic(severity, message, location, code, hint, tuple(notes)))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)

    def sorted(self) -> list[Diagnostic]:
        def key(d: Diagnostic) -> tuple:
            loc = d.location
            return (loc.file, loc.line, loc.column) if loc else ("", 0, 0)

        return sorted(self.diagnostics, key=key)


# --- renderers -------------------------------------------------------------------------


def _quote(location: Location, sources: dict[str, str]) -> list[str]:
    """The source line of ``location`` and a caret/underline beneath it."""
    text = sources.get(location.file)
    if text is None:
        return []
    lines = text.splitlines()
    if not 1 <= location.line <= len(lines):
        return []
    line = lines[location.line - 1].expandtabs(1)
    start = max(location.column, 1)
    if location.end_line == location.line and location.end_column and location.end_column > start:
        width = location.end_column - start
    else:
        width = 1
    width = max(1, min(width, len(line) - start + 1)) if len(line) >= start else 1
    gutter = f"{location.line:>4} | "
    marker = " " * (start - 1) + "^" + "~" * (width - 1)
    return [gutter + line, " " * (len(gutter) - 2) + "| " + marker]


def render_text(diagnostics: Iterable[Diagnostic], sources: dict[str, str]) -> str:
    """Compiler-style text: ``file:line:col: error: message``, source line, caret, notes."""
    blocks: list[str] = []
    for d in diagnostics:
        where = f"{d.location}: " if d.location else ""
        out = [f"{where}{d.severity.value}: {d.message}"]
        if d.location:
            out.extend(_quote(d.location, sources))
        for note in d.notes:
            nwhere = f"{note.location}: " if note.location else ""
            out.append(f"{nwhere}note: {note.message}")
            if note.location:
                out.extend(_quote(note.location, sources))
        if d.hint:
            out.append(f"  hint: {d.hint}")
        blocks.append("\n".join(out))
    return "\n".join(blocks) + ("\n" if blocks else "")


def _location_json(location: Location | None) -> dict | None:
    if location is None:
        return None
    return {
        "file": location.file,
        "line": location.line,
        "column": location.column,
        "end_line": location.end_line,
        "end_column": location.end_column,
    }


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    """A JSON array of diagnostics, one object each, for tools."""
    items = [
        {
            "severity": d.severity.value,
            "code": d.code,
            "message": d.message,
            "location": _location_json(d.location),
            "hint": d.hint,
            "notes": [{"message": n.message, "location": _location_json(n.location)} for n in d.notes],
        }
        for d in diagnostics
    ]
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


def _github_escape(text: str, *, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diagnostics: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands (``::error file=...,line=...::message``)."""
    out = []
    for d in diagnostics:
        kind = "error" if d.severity is Severity.ERROR else "warning" if d.severity is Severity.WARNING else "notice"
        props = []
        if d.location:
            props.append(f"file={_github_escape(d.location.file, property_value=True)}")
            props.append(f"line={d.location.line}")
            props.append(f"col={d.location.column}")
            if d.location.end_line == d.location.line and d.location.end_column:
                props.append(f"endColumn={d.location.end_column}")
        message = d.message
        if d.hint:
            message += f"\nhint: {d.hint}"
        for note in d.notes:
            message += f"\nnote: {note.message}" + (f" ({note.location})" if note.location else "")
        prop_text = " " + ",".join(props) if props else ""
        out.append(f"::{kind}{prop_text}::{_github_escape(message)}")
    return "\n".join(out) + ("\n" if out else "")


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to ``word``, or None; used for hints."""
    import difflib

    pool = sorted(set(candidates))
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return lowered[word.lower()]
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not matches:
        matches = [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)]
    return matches[0] if matches else None
