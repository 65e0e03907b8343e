"""``archdsl compile``: checked IR to Keras 3 or PyTorch source, through Jinja templates.

This is the only module that imports jinja2; ``archdsl check`` never loads it.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path

import jinja2

from archdsl import __version__
from archdsl.ir import Program
from archdsl.resources import resource_dir
from archdsl.targets import pyrender as py
from archdsl.targets.common import CodegenError

__all__ = ["TARGETS", "CodegenError", "environment", "generate", "write_atomic"]

TARGETS = ("keras", "torch")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def generate(program: Program, target: str, model: str | None = None, source_path: str | None = None) -> str:
    """The generated module's text for one target (``keras`` or ``torch``)."""
    if target == "keras":
        from archdsl.targets.keras import KerasEmitter as Emitter
    elif target == "torch":
        from archdsl.targets.torch import TorchEmitter as Emitter
    else:
        raise ValueError(f"unknown target {target!r}")
    path = source_path or program.file
    view = Emitter(program, model).emit(path, __version__)  # may raise CodegenError
    template = environment().get_template(f"{target}/module.py.j2")
    text = template.render(
        docstring="\n".join(py.docstring("\n".join(view.header), "")),
        imports=view.imports,
        helpers=view.helpers,
        sections=view.sections,
        main=view.main,
    )
    return text


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` as a whole: write a temporary file beside it, then rename."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        # mkstemp makes the file private (0600); give it the mode a plain write would have:
        # the replaced file's, or 0666 less the umask.
        try:
            mode = os.stat(path).st_mode & 0o777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
