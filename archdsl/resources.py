"""Where the grammar and templates live: inside the package when installed from a wheel,
at the repository's top level when running from a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """``grammar`` or ``templates``: the packaged copy if present, else the checkout's."""
    packaged = _PACKAGE / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / name
