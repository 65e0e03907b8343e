"""The layer catalogue: importing this package registers every layer family."""

from archdsl.layers import (  # noqa: F401  (imported for registration)
    activations,
    attention,
    conv,
    core,
    embedding,
    generative,
    merge,
    normalization,
    pooling,
    recurrent,
    reshaping,
    wrappers,
)
from archdsl.layers.base import CATALOGUE, LayerSpec

__all__ = ["CATALOGUE", "LayerSpec"]
