"""Reference generators and discriminators (forward only) and the builder that picks them.

Every generator has ``z_dim`` and maps z (N, z_dim) to a batch of samples; every discriminator
maps a batch to logits (N,) and exposes ``features(x) -> (N, F)`` with
``forward(x) == head(features(x)).flatten()``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ganforge._lazy import lazy_exports
from ganforge.errors import UserError

NET_NAMES = ("mlp", "dcgan")

_EXPORTS = {
    "SUPPORTED_SIZES": ".dcgan", "DCGANGenerator": ".dcgan", "DCGANDiscriminator": ".dcgan",
    "dcgan_init_": ".init", "MinibatchDiscrimination": ".layers", "MinibatchStdDev": ".layers",
    "MLPGenerator": ".mlp", "MLPDiscriminator": ".mlp",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)   # torch is imported with the first network
__all__ = ["NET_NAMES", "build_nets", *_EXPORTS]

if TYPE_CHECKING:
    from torch import nn


def build_nets(name: str, sample_shape: tuple[int, ...], z_dim: int, width: int,
               d_batchnorm: bool = False, d_dropout: float = 0.0,
               g_output: str | None = None, d_minibatch_stddev: bool = False,
               d_minibatch_disc: int = 0, g_batchnorm: bool = True
               ) -> tuple[nn.Module, nn.Module]:
    """Build (G, D) for samples of shape ``sample_shape`` (one sample, no batch dimension).

    name="mlp": any sample shape; ``width`` is the hidden size. G outputs (N, *sample_shape);
    its last activation is ``g_output``, by default "tanh" for image shapes (C, H, W) and
    "linear" otherwise. D flattens its input. D has dropout but no batchnorm.
    name="dcgan": ``sample_shape`` must be (C, S, S) with S in SUPPORTED_SIZES; ``width`` is
    the channel count of the layer nearest the image. G always ends in tanh.
    ``g_batchnorm=False``: no BatchNorm in G (a sample then does not depend on its batch).
    ``d_minibatch_stddev`` / ``d_minibatch_disc`` (kernels, 0 = off) add the batch-level
    layers of ``nets/layers.py`` to D's head (both networks).
    """
    from ganforge.nets.dcgan import SUPPORTED_SIZES, DCGANDiscriminator, DCGANGenerator
    from ganforge.nets.mlp import OUTPUTS, MLPDiscriminator, MLPGenerator

    sample_shape = tuple(sample_shape)
    if name not in NET_NAMES:
        raise UserError(f"model={name!r} is not a network; use one of {', '.join(NET_NAMES)}")
    if g_output is not None and g_output not in OUTPUTS:
        raise UserError(f"g_output={g_output!r} is not a generator output; use one of "
                        f"{', '.join(OUTPUTS)}")
    is_image = len(sample_shape) == 3

    if name == "mlp":
        if d_batchnorm:
            raise UserError("d_batchnorm=True needs model=dcgan; the mlp discriminator has no "
                            "batchnorm (use d_dropout instead, or model=dcgan)")
        output = g_output or ("tanh" if is_image else "linear")
        G = MLPGenerator(z_dim, sample_shape, hidden=width, output=output,
                         batchnorm=g_batchnorm)
        D = MLPDiscriminator(math.prod(sample_shape), hidden=width, dropout=d_dropout,
                             minibatch_stddev=d_minibatch_stddev,
                             minibatch_disc=d_minibatch_disc)
        return G, D

    if not is_image:
        raise UserError(f"model=dcgan needs image data (C, H, W); got samples of shape "
                        f"{sample_shape}: use model=mlp")
    channels, height, width_px = sample_shape
    if height != width_px or height not in SUPPORTED_SIZES:
        raise UserError(
            f"model=dcgan supports square images of size {', '.join(map(str, SUPPORTED_SIZES))}; "
            f"got {height}x{width_px}: resize the images or use model=mlp"
        )
    if g_output == "linear":
        raise UserError("g_output='linear' is not available with model=dcgan (its generator "
                        "always ends in tanh): scale the data to [-1, 1] and drop g_output")
    G = DCGANGenerator(z_dim, channels=channels, image_size=height, width=width,
                       batchnorm=g_batchnorm)
    D = DCGANDiscriminator(channels=channels, image_size=height, width=width,
                           batchnorm=d_batchnorm, dropout=d_dropout,
                           minibatch_stddev=d_minibatch_stddev, minibatch_disc=d_minibatch_disc)
    return G, D
