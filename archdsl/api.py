"""The entry points every front end calls: check a file, get its IR and diagnostics.

Everything runs inside one error boundary: whatever the input, the result is a
:class:`Result` with diagnostics, never an exception.
"""

from __future__ import annotations

import gc
import os
import sys

from archdsl.diagnostics import ArchError, Location, Reporter
from archdsl.ir import Program


class SourceError(Exception):
    """The file itself cannot be read (missing, a directory, no permission)."""


class Result:
    """What checking one file produced."""

    __slots__ = ("file", "program", "reporter")

    def __init__(self, file: str, program: Program | None, reporter: Reporter) -> None:
        self.file = file
        self.program = program
        self.reporter = reporter

    @property
    def ok(self) -> bool:
        return not self.reporter.has_errors


def read_source(path: str) -> str:
    """Read a spec as UTF-8 text; raises OSError or UnicodeDecodeError."""
    with open(path, "rb") as handle:
        data = handle.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8")


def _decode_location(file: str, data: bytes, position: int) -> Location:
    line = data.count(b"\n", 0, position) + 1
    column = position - (data.rfind(b"\n", 0, position) + 1) + 1
    return Location(file, line, column, line, column + 1)


def check_source(text: str, file: str = "<input>") -> Result:
    """Parse and elaborate source text."""
    from archdsl.lower import Elaborator
    from archdsl.syntax import parse

    reporter = Reporter()
    reporter.sources[file] = text
    # The syntax tree and the IR hold no reference cycles worth collecting while they are
    # built; pausing the cyclic collector makes big specs about a third faster.
    collecting = gc.isenabled()
    gc.disable()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    try:
        module = parse(text, file)
        elaborator = Elaborator(reporter, read_source)
        program = elaborator.elaborate_file(module, reporter.sources)
    except ArchError as exc:
        for diagnostic in exc.diagnostics:
            reporter.add(diagnostic)
        return Result(file, None, reporter)
    except RecursionError:
        reporter.error("the spec nests too deeply to check", Location(file, 1, 1), code="limit")
        return Result(file, None, reporter)
    finally:
        sys.setrecursionlimit(limit)
        if collecting:
            gc.enable()
    program = Program(program.file, program.models, program.source, dict(reporter.sources), program.namespaces)
    return Result(file, program, reporter)


def check_file(path: str | os.PathLike) -> Result:
    """Read and check one file. Raises SourceError when it cannot be read at all."""
    from archdsl.syntax import MAX_SOURCE_BYTES

    file = os.fspath(path)
    try:
        size = os.stat(file).st_size
        if size > MAX_SOURCE_BYTES and os.path.isfile(file):
            # Refuse before reading: a 100 MB file is not a spec, and reading it costs memory.
            reporter = Reporter()
            reporter.error(
                f"file is too large ({size:,} bytes; the limit is {MAX_SOURCE_BYTES:,})",
                Location(file, 1, 1),
                code="limit",
                hint="a spec describes an architecture; generate repetition with for loops instead",
            )
            return Result(file, None, reporter)
        with open(file, "rb") as handle:
            data = handle.read()
    except IsADirectoryError:
        raise SourceError(f"{file}: is a directory") from None
    except FileNotFoundError:
        raise SourceError(f"{file}: no such file") from None
    except PermissionError:
        raise SourceError(f"{file}: permission denied") from None
    except OSError as exc:
        raise SourceError(f"{file}: {exc.strerror or 'cannot be read'}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        reporter = Reporter()
        reporter.sources[file] = data[: exc.start].decode("utf-8", "replace")
        reporter.error(
            f"the file is not valid UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded",
            _decode_location(file, data, exc.start),
            code="encoding",
            hint="save the file as UTF-8",
        )
        return Result(file, None, reporter)
    return check_source(text, file)


def collect_specs(paths: list[str]) -> list[str]:
    """Expand directories into their ``*.arch`` files (recursively, sorted)."""
    files: list[str] = []
    for raw in paths:
        if os.path.isdir(raw):
            found = []
            for folder, _, names in os.walk(raw):
                found += [os.path.join(folder, n) for n in names if n.endswith(".arch")]
            files.extend(sorted(f for f in found if os.path.isfile(f)))
        else:
            files.append(raw)
    return files
