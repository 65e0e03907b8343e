"""Binding arguments to a layer record and applying its rules, in one place for all layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archdsl.diagnostics import Location, did_you_mean
from archdsl.ir import CallValue, ParamCount, TensorType
from archdsl.layers.base import CATALOGUE, ArgError, Ctx, LayerSpec, ShapeError, shape_text, warn_trivial_softmax
from archdsl.records import Record
from archdsl.values import format_value, type_name


class BindError(Exception):
    """An argument list does not fit a layer's parameters."""

    def __init__(self, message: str, location: Location | None, hint: str | None = None):
        super().__init__(message)
        self.message, self.location, self.hint = message, location, hint


class Arg(Record):
    """One written argument: ``name`` is None for a positional one."""

    value: Any
    location: Location | None = None
    name: str | None = None
    name_location: Location | None = None


def bind(
    spec: LayerSpec, args: Sequence[Arg], call_location: Location | None = None
) -> tuple[dict[str, Any], frozenset[str], dict[str, Location | None]]:
    """Match written arguments to parameters, validate and normalise them.

    Returns (all values with defaults, names written, location of each written value).
    Raises BindError for the first problem found.
    """
    positional_params = [p for p in spec.params if not p.keyword_only]
    values: dict[str, Any] = {}
    where: dict[str, Location | None] = {}
    seen_keyword = False
    index = 0
    for arg in args:
        if arg.name is None:
            if seen_keyword:
                raise BindError("positional argument after a keyword argument", arg.location)
            if index >= len(positional_params):
                shown = ", ".join(p.name for p in positional_params) or "none"
                raise BindError(
                    f"{spec.name} takes at most {len(positional_params)} positional argument{'s' if len(positional_params) != 1 else ''}, got {index + 1}",
                    arg.location,
                    hint=f"positional parameters of {spec.name}: {shown}; pass the others by name",
                )
            param = positional_params[index]
            index += 1
        else:
            seen_keyword = True
            param = spec.param(arg.name)
            if param is None:
                guess = did_you_mean(arg.name, [p.name for p in spec.params])
                raise BindError(
                    f"{spec.name} has no parameter '{arg.name}'",
                    arg.name_location or arg.location,
                    hint=f"did you mean '{guess}'?"
                    if guess
                    else "parameters: " + ", ".join(p.name for p in spec.params),
                )
            if param.name in values:
                raise BindError(
                    f"parameter '{param.name}' of {spec.name} given twice", arg.name_location or arg.location
                )
        try:
            values[param.name] = param.type.convert(arg.value)
        except ArgError as exc:
            raise BindError(
                f"{spec.name}: '{param.name}' must be {exc.expected}, got {type_name(arg.value)} ({format_value(arg.value)})"
                if arg.value is not None
                else f"{spec.name}: '{param.name}' must be {exc.expected}, got None",
                arg.location,
                hint=exc.hint,
            ) from None
        where[param.name] = arg.location
    missing = [p.name for p in spec.params if p.required and p.name not in values]
    if missing:
        example = spec.name + "(" + ", ".join(f"{m}=..." for m in missing) + ")"
        raise BindError(
            f"{spec.name} is missing required argument{'s' if len(missing) > 1 else ''} "
            + ", ".join(f"'{m}'" for m in missing),
            call_location,
            hint=f"write {example}",
        )
    explicit = frozenset(values)
    for p in spec.params:
        if p.name not in values:
            values[p.name] = p.default
    return values, explicit, where


def check_inputs(spec: LayerSpec, inputs: Sequence[TensorType]) -> None:
    """Arity, rank and dtype requirements, with messages that show the received shapes."""
    low, high = spec.inputs
    n = len(inputs)
    if n < low or (high is not None and n > high):
        if high == 1:
            want = "one input"
        elif high is None:
            want = f"at least {low} inputs"
        elif low == high:
            want = f"{low} inputs"
        else:
            want = f"{low} to {high} inputs"
        got = ", ".join(shape_text(t) for t in inputs)
        raise ShapeError(
            f"{spec.name} takes {want}, got {n}" + (f": {got}" if got else ""),
            hint="pass several tensors as a tuple: (a, b) -> Add()"
            if low > 1
            else "apply it to one tensor: x -> " + spec.name + "(...)",
        )
    rs = spec.input_spec
    for i, t in enumerate(inputs):
        which = "" if n == 1 else f" {i + 1}"
        bad = (
            (rs.rank is not None and t.rank != rs.rank)
            or (rs.min_rank is not None and t.rank < rs.min_rank)
            or (rs.max_rank is not None and t.rank > rs.max_rank)
        )
        if bad:
            if rs.rank is not None:
                want = f"rank {rs.rank}"
            elif rs.max_rank is None:
                want = f"rank {rs.min_rank} or more"
            elif rs.min_rank == rs.max_rank:
                want = f"rank {rs.min_rank}"
            else:
                want = f"rank {rs.min_rank} to {rs.max_rank}"
            axes = f" {rs.axes}" if rs.axes else ""
            raise ShapeError(
                f"{spec.name} expects input{which} of {want}{axes}, got rank {t.rank} with shape {shape_text(t)}",
                hint="shapes exclude the batch dimension",
            )
        if rs.dtype == "int" and not t.is_integer:
            raise ShapeError(
                f"{spec.name} expects integer input (token ids), got {t.dtype} with shape {shape_text(t)}",
                hint="declare the input as integers, e.g. `input tokens: int32 (100,)`",
            )
        if rs.dtype == "float" and t.is_integer:
            raise ShapeError(
                f"{spec.name} expects float input, got {t.dtype} with shape {shape_text(t)}",
                hint="integer inputs are token ids; pass them through Embedding first",
            )


class Applied(Record):
    """The result of applying a layer record to input types."""

    spec: LayerSpec
    args: dict[str, Any]
    explicit: frozenset[str]
    outputs: tuple[TensorType, ...]
    params: ParamCount
    warnings: tuple[tuple[str, str | None], ...]
    inner: Applied | None = None


def apply(
    spec: LayerSpec,
    args: dict[str, Any],
    explicit: frozenset[str],
    inputs: Sequence[TensorType],
    infer_inner: Any = None,
) -> Applied:
    """Check inputs, run the shape rule, then the count rule. Raises ShapeError."""
    check_inputs(spec, inputs)
    ctx = Ctx(spec, args, inputs, infer_inner)
    result = spec.infer(ctx)
    ctx.outputs = result if isinstance(result, tuple) else (result,)
    for out in ctx.outputs:
        for d in out.shape:
            if isinstance(d, int) and d <= 0:
                raise ShapeError(
                    f"{spec.name} output would have shape {shape_text(out)}: a dimension of {d}",
                    hint='the input is too small for this kernel/pool size and stride; use padding="same" or a smaller window',
                )
    if args.get("activation") and ctx.outputs[0].rank:
        # Every layer's activation acts on its (first) output's last axis.
        warn_trivial_softmax(ctx, args["activation"], ctx.outputs[0].shape, -1)
    params = spec.count(ctx)
    if not args.get("trainable", True):
        params = params.frozen()
    return Applied(spec, args, explicit, ctx.outputs, params, tuple(ctx.warnings), ctx.inner)


def call_arguments(call: CallValue) -> list[Arg]:
    """The written arguments of a call, each with its own location where known."""
    locs = list(call.arg_locs) or [(call.location, call.location)] * (len(call.args) + len(call.kwargs))
    positional = [Arg(v, locs[i][0]) for i, v in enumerate(call.args)]
    n = len(call.args)
    keywords = [Arg(v, locs[n + i][0], k, locs[n + i][1]) for i, (k, v) in enumerate(call.kwargs)]
    return positional + keywords


def apply_call(call: CallValue, inputs: Sequence[TensorType]) -> Applied:
    """Bind a :class:`CallValue` against the catalogue and apply it (wrappers recurse here)."""
    spec = CATALOGUE.get(call.name)
    if spec is None:
        guess = did_you_mean(call.name, CATALOGUE)
        raise BindError(
            f"unknown layer '{call.name}'", call.location, hint=f"did you mean '{guess}'?" if guess else None
        )
    written = call_arguments(call)
    args, explicit, _ = bind(spec, written, call.location)
    return apply(spec, args, explicit, inputs, apply_call)


def layer(name: str, /, *inputs: TensorType | tuple, args: tuple = (), **kwargs: Any) -> Applied:
    """Convenience for tests and tools: ``layer("Conv2D", (28, 28, 1), args=(32, 3))``."""
    types = [t if isinstance(t, TensorType) else TensorType(tuple(t)) for t in inputs]
    return apply_call(CallValue(name, tuple(args), tuple(kwargs.items())), types)
