"""Layers for generative models: the VAE's Sampling step.

``Sampling`` takes ``(z_mean, z_log_var)`` and draws ``z = z_mean + exp(z_log_var / 2) * eps``
with ``eps ~ N(0, 1)`` (the reparameterisation trick), so gradients flow through the mean
and the log-variance. It also adds the KL divergence to a unit Gaussian to the model's loss,
``kl_weight * -0.5 * sum(1 + z_log_var - z_mean**2 - exp(z_log_var))`` averaged over the
batch; ``kl_weight=0`` adds nothing. Keras 3 has no such layer: the Keras target defines it
(the KL term must be added with ``self.add_loss`` inside the layer, since a functional
model's ``add_loss`` is not available), the PyTorch target returns the term for the loss.
"""

from __future__ import annotations

from archdsl.ir import TensorType
from archdsl.layers.base import Ctx, Float, LayerSpec, Param, register
from archdsl.layers.merge import equal_shapes


def _sampling_shape(ctx: Ctx) -> TensorType:
    return equal_shapes(
        ctx,
        hint="z_mean and z_log_var come from two heads of the same size, e.g. Dense(latent_dim) each",
    )


SAMPLING = register(
    LayerSpec(
        name="Sampling",
        family="generative",
        doc="VAE reparameterisation: from (z_mean, z_log_var) of equal shape draws "
        "z = z_mean + exp(z_log_var / 2) * eps, eps ~ N(0, 1); output has their shape, no weights. "
        "Adds kl_weight times the KL divergence to N(0, 1) to the loss (0 adds none).",
        params=(
            Param(
                "kl_weight",
                Float(0.0),
                1.0,
                "weight of the KL-divergence term added to the loss; 0 adds none",
            ),
        ),
        infer=_sampling_shape,
        inputs=(2, 2),
    )
)
