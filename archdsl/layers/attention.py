"""Attention layers: MultiHeadAttention and the weightless dot-product Attention.

Both take their inputs as a tuple ``(query, value)`` or ``(query, value, key)``; the key
defaults to the value. The output has the query's shape, with the last axis replaced (by
``output_shape`` for MultiHeadAttention, by the value's features for Attention).
"""

from __future__ import annotations

from archdsl.ir import Dim, ParamCount, TensorType
from archdsl.layers.base import (
    KERNEL_OPTIONS,
    RATE,
    Bool,
    Choice,
    Ctx,
    InputSpec,
    Int,
    IntSequence,
    LayerSpec,
    Optional,
    Param,
    product,
    register,
    shape_text,
)
from archdsl.layers.merge import dims_match, shapes_text


def _keras_dim(dim: Dim) -> int | None:
    """A size as Keras sees it when the model is built: named sizes are None."""
    return dim if isinstance(dim, int) else None


def _roles(ctx: Ctx) -> tuple[TensorType, TensorType, TensorType]:
    query, value = ctx.inputs[0], ctx.inputs[1]
    key = ctx.inputs[2] if len(ctx.inputs) == 3 else value
    return query, value, key


def _check_ranks(ctx: Ctx) -> None:
    ranks = {t.rank for t in ctx.inputs}
    if len(ranks) != 1:
        ctx.fail(
            f"{ctx.spec.name} needs query, value and key of the same rank, got {shapes_text(ctx.inputs)}",
            hint="inputs are (query, value) or (query, value, key), each (time, features)",
        )


def _check_features(ctx: Ctx) -> None:
    names = ("query", "value", "key")
    for name, t in zip(names[: len(ctx.inputs)], ctx.inputs, strict=True):
        if not isinstance(t.shape[-1], int):
            ctx.fail(
                f"{ctx.spec.name} needs a known number of features (the last axis) in the {name}, got {shape_text(t)}",
                hint="give the input a fixed size on its last axis",
            )


# --- MultiHeadAttention ---------------------------------------------------------------------


def _mha_shape(ctx: Ctx) -> TensorType:
    _check_ranks(ctx)
    _check_features(ctx)
    query, value, key = _roles(ctx)
    # Keras compares these when the model is built, with every named size as None.
    if tuple(map(_keras_dim, value.shape[:-1])) != tuple(map(_keras_dim, key.shape[:-1])):
        ctx.fail(
            f"MultiHeadAttention needs value and key to agree on every axis but the last, "
            f"got value {shape_text(value)} and key {shape_text(key)}",
            hint="the key holds one vector per value position",
        )
    last = ctx["output_shape"] or (query.shape[-1],)
    return TensorType(query.shape[:-1] + tuple(last), query.dtype)


def _mha_count(ctx: Ctx) -> ParamCount:
    query, value, key = _roles(ctx)
    heads, key_dim = ctx["num_heads"], ctx["key_dim"]
    value_dim = ctx["value_dim"] or key_dim
    out = product(ctx["output_shape"] or (query.shape[-1],))
    assert out is not None
    bias = ctx["use_bias"]
    total = query.shape[-1] * heads * key_dim + (heads * key_dim if bias else 0)
    total += key.shape[-1] * heads * key_dim + (heads * key_dim if bias else 0)
    total += value.shape[-1] * heads * value_dim + (heads * value_dim if bias else 0)
    total += heads * value_dim * out + (out if bias else 0)
    return ParamCount(total)


MULTI_HEAD_ATTENTION = register(
    LayerSpec(
        name="MultiHeadAttention",
        family="attention",
        doc="Multi-head scaled dot-product attention (Transformer). Inputs (query, value) or "
        "(query, value, key), each (time, features); output: the query's shape with the last axis "
        "set to output_shape (default: the query's features). Weights: query, key and value "
        "projections to num_heads x key_dim (value_dim for values) and an output projection.",
        params=(
            Param("num_heads", Int(), doc="number of attention heads"),
            Param("key_dim", Int(), doc="size of each head's query and key projection"),
            Param("value_dim", Optional(Int()), None, "size of each head's value projection (default key_dim)"),
            Param("dropout", RATE, 0.0, "dropout rate on the attention weights"),
            Param("use_bias", Bool(), True, "whether the projections have biases"),
            Param(
                "output_shape",
                Optional(IntSequence(1, "a positive integer or a tuple of them")),
                None,
                "the output's last axis (or axes); default the query's features",
            ),
        )
        + tuple(p for p in KERNEL_OPTIONS if p.name != "use_bias"),
        infer=_mha_shape,
        count=_mha_count,
        inputs=(2, 3),
        input_spec=InputSpec(min_rank=2, axes="(time, features)"),
    )
)


# --- Attention --------------------------------------------------------------------------------


def _attention_shape(ctx: Ctx) -> TensorType:
    query, value, key = _roles(ctx)
    if not dims_match(query.shape[-1], key.shape[-1]):
        ctx.fail(
            f"Attention needs query and key with the same features (last axis), "
            f"got query {shape_text(query)} and key {shape_text(key)}",
            hint="project one of them with Dense first, or use MultiHeadAttention, which projects both",
        )
    if not dims_match(value.shape[0], key.shape[0]):
        ctx.fail(
            f"Attention needs value and key of the same length (first axis), "
            f"got value {shape_text(value)} and key {shape_text(key)}",
            hint="the key holds one vector per value position",
        )
    return TensorType(query.shape[:-1] + value.shape[-1:], query.dtype)


def _attention_count(ctx: Ctx) -> ParamCount:
    return ParamCount(int(ctx["use_scale"]) + int(ctx["score_mode"] == "concat"))


ATTENTION = register(
    LayerSpec(
        name="Attention",
        family="attention",
        doc="Dot-product (Luong-style) attention without projections. Inputs (query, value) or "
        "(query, value, key): query (Tq, d), value (Tv, dv), key (Tv, d); output (Tq, dv). "
        'Weights: one scalar with use_scale=True, one more with score_mode="concat".',
        params=(
            Param("use_scale", Bool(), False, "learn a scalar that scales the scores"),
            Param(
                "score_mode",
                Choice("dot", "concat"),
                "dot",
                'how scores are computed: "dot" or "concat" (tanh of the sum)',
            ),
            Param("dropout", RATE, 0.0, "dropout rate on the attention weights"),
        ),
        infer=_attention_shape,
        count=_attention_count,
        inputs=(2, 3),
        input_spec=InputSpec(rank=2, axes="(time, features)"),
    )
)
