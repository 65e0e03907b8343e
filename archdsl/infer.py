"""Shape inference for one layer application, with diagnostics.

The elaborator calls :func:`infer_layer` for every node as it builds the graph. Binding
and shape errors from the layer catalogue become diagnostics located at the argument to
blame, or at the call. Results are memoised: a loop that applies the same layer to the
same shapes thousands of times pays for inference once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archdsl.diagnostics import Diagnostic, Location, Severity
from archdsl.ir import CallValue, TensorType
from archdsl.layers.apply import Applied, BindError, apply_call
from archdsl.layers.base import ShapeError


class InferError(Exception):
    """A layer cannot be applied; carries the diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


_MEMO: dict[Any, Applied] = {}
_MEMO_LIMIT = 4096


def _arg_location(call: CallValue, arg: str | None) -> Location | None:
    """Where the argument named ``arg`` was written, when it was written."""
    if arg is None or not call.arg_locs:
        return None
    from archdsl.layers import CATALOGUE

    for i, (key, _) in enumerate(call.kwargs):
        if key == arg:
            return call.arg_locs[len(call.args) + i][0]
    spec = CATALOGUE.get(call.name)
    if spec is not None:
        positional = [p.name for p in spec.params if not p.keyword_only]
        if arg in positional and positional.index(arg) < len(call.args):
            return call.arg_locs[positional.index(arg)][0]
    return None


def infer_layer(call: CallValue, inputs: Sequence[TensorType]) -> Applied:
    """Bind ``call`` against the catalogue and infer its outputs for ``inputs``."""
    key: Any = (call, tuple(inputs))
    try:
        hit = _MEMO.get(key)
    except TypeError:  # an argument value that cannot be hashed (a list): not memoised
        key = hit = None
    if hit is not None:
        return hit
    try:
        applied = apply_call(call, inputs)
    except BindError as exc:
        raise InferError(
            Diagnostic(Severity.ERROR, exc.message, exc.location or call.location, "argument", exc.hint)
        ) from None
    except ShapeError as exc:
        where = _arg_location(call, exc.arg) or call.location
        raise InferError(Diagnostic(Severity.ERROR, exc.message, where, "shape", exc.hint)) from None
    if key is not None:
        if len(_MEMO) >= _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[key] = applied
    return applied
