"""Where the grammar and templates live: inside the package when installed from a wheel,
at the repository's top level when running from a source checkout."""

from __future__ import annotations

import os

_PACKAGE = os.path.dirname(os.path.realpath(__file__))


def resource_dir(name: str) -> str:
    """``grammar`` or ``templates``: the packaged copy if present, else the checkout's."""
    packaged = os.path.join(_PACKAGE, name)
    if os.path.isdir(packaged):
        return packaged
    return os.path.join(os.path.dirname(_PACKAGE), name)
