"""Embedding: a lookup table from integer token ids to learned vectors.

The input holds integer ids in [0, input_dim); each id becomes a vector of output_dim
numbers, so an input of shape ``(T,)`` gives ``(T, output_dim)``.
"""

from __future__ import annotations

from archdsl.ir import ParamCount, TensorType
from archdsl.layers.base import (
    INITIALIZERS,
    Bool,
    Choice,
    Ctx,
    InputSpec,
    Int,
    LayerSpec,
    Param,
    RegularizerType,
    register,
)


def _embedding_shape(ctx: Ctx) -> TensorType:
    return TensorType(ctx.input.shape + (ctx["output_dim"],))


def _embedding_count(ctx: Ctx) -> ParamCount:
    return ParamCount(ctx["input_dim"] * ctx["output_dim"])


EMBEDDING = register(
    LayerSpec(
        name="Embedding",
        family="embedding",
        doc="Maps integer token ids in [0, input_dim) to learned vectors of size output_dim: "
        "(...) -> (..., output_dim). Weights: input_dim * output_dim.",
        params=(
            Param("input_dim", Int(), doc="vocabulary size: ids range over 0 .. input_dim - 1"),
            Param("output_dim", Int(), doc="size of each embedding vector"),
            Param(
                "embeddings_initializer",
                Choice("uniform", *INITIALIZERS),
                "uniform",
                "how the table is initialised (Keras's default is uniform in [-0.05, 0.05])",
            ),
            Param(
                "embeddings_regularizer",
                RegularizerType(),
                None,
                "a penalty on the table added to the loss",
                keyword_only=True,
            ),
            Param("mask_zero", Bool(), False, "treat id 0 as padding and mask it for later layers", keyword_only=True),
        ),
        infer=_embedding_shape,
        count=_embedding_count,
        input_spec=InputSpec(dtype="int"),
    )
)
