"""Reference generators and discriminators (forward only) and the builder that picks them.

The network protocol (every reference network follows it; the training code relies on it):

Generator ``G``: attributes ``z_dim`` (int), ``num_classes`` (int >= 2, or None when
unconditional) and ``conditioning`` (str, one of CONDITIONINGS). ``G(z, y=None)``: z
(N, z_dim) float, y (N,) int64 class indices -> samples (N, *sample_shape).

Discriminator ``D``: attributes ``num_classes`` and ``conditioning`` as for G.
``D(x, y=None)`` -> logits (N,), raw scores (no sigmoid); except conditioning="acgan", where
it returns the pair ``(logits (N,), class_logits (N, num_classes))``. ``D.features(x, y=None)``
-> per-sample features (N, F), the layer feature matching uses; without conditioning and for
"concat", "projection": ``D(x, y) == head(features(x, y)).flatten() [+ projection(h, y)]``.

Labels: a conditional G, a concat or projection D, and a concat D's ``features`` raise
UserError when y is missing; every unconditional network raises UserError when given a y.
An acgan D ignores y (it may be None) and so do the features of acgan and projection Ds
(they do not depend on the label). y must be int64 of shape (N,).

Conditioning (``nets/conditional.py`` has the layers and the papers):
- "none": the default; the networks are exactly the unconditional ones (same parameters,
  same initialisation, same random draws at construction).
- "concat" (Mirza & Osindero 2014): G sees [z, e(y)]; D sees x with e(y) as extra input
  channels (images) or extra input values (flat samples); e a learned label embedding.
- "acgan" (Odena et al. 2017): G as with concat; D sees only x and has an auxiliary
  Linear(F, num_classes) classifier on its features.
- "projection" (Miyato & Koyama 2018): D's logit is linear(h) + <v_y, h>; G's BatchNorms are
  class-conditional. model=dcgan and model=resnet only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ganforge._lazy import lazy_exports
from ganforge.errors import UserError, nearest

from ganforge.nets.names import CONDITIONINGS, INITS, NET_NAMES, check_conditioning

_EXPORTS = {
    "SUPPORTED_SIZES": ".dcgan", "DCGANGenerator": ".dcgan", "DCGANDiscriminator": ".dcgan",
    "dcgan_init_": ".init", "MinibatchDiscrimination": ".layers", "MinibatchStdDev": ".layers",
    "MLPGenerator": ".mlp", "MLPDiscriminator": ".mlp",
    "ResNetGenerator": ".resnet", "ResNetDiscriminator": ".resnet",
    "ConditionalBatchNorm2d": ".conditional", "ClassProjection": ".conditional",
    "label_embedding": ".conditional", "label_embed_dim": ".conditional",
    "with_label_maps": ".conditional", "check_labels": ".conditional",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)   # torch is imported with the first network
__all__ = ["NET_NAMES", "CONDITIONINGS", "build_nets", "check_conditioning", *_EXPORTS]

if TYPE_CHECKING:
    from torch import nn


def build_nets(name: str, sample_shape: tuple[int, ...], z_dim: int, width: int,
               d_batchnorm: bool = False, d_dropout: float = 0.0,
               g_output: str | None = None, d_minibatch_stddev: bool = False,
               d_minibatch_disc: int = 0, g_batchnorm: bool = True,
               num_classes: int | None = None, conditioning: str = "none",
               init: str = "paper") -> tuple[nn.Module, nn.Module]:
    """Build (G, D) for samples of shape ``sample_shape`` (one sample, no batch dimension).

    name="mlp": any sample shape; ``width`` is the hidden size. G outputs (N, *sample_shape);
    its last activation is ``g_output``, by default "tanh" for image shapes (C, H, W) and
    "linear" otherwise. D flattens its input. D has dropout but no batchnorm.
    name="dcgan": ``sample_shape`` must be (C, S, S) with S in SUPPORTED_SIZES; ``width`` is
    the channel count of the layer nearest the image. G always ends in tanh.
    name="resnet": the SN-GAN residual G and D (Miyato et al. 2018), sizes 28, 32, 64;
    ``width`` as in ``nets/resnet.py``. G ends in tanh; D has no batchnorm and no dropout.
    Spectral norm is not inside the networks: the caller applies it to D.
    ``g_batchnorm=False``: no BatchNorm in G (a sample then does not depend on its batch).
    ``init``: "paper" (each network's own: DCGAN's N(0, 0.02) for mlp and dcgan, SN-GAN's
    Xavier for resnet) or "torch" (PyTorch's default of each layer, applied to G and then D
    after they are built; ``nets/init.py``).
    ``d_minibatch_stddev`` / ``d_minibatch_disc`` (kernels, 0 = off) add the batch-level
    layers of ``nets/layers.py`` to D's head (all three networks).
    ``conditioning`` (CONDITIONINGS) with ``num_classes`` >= 2 makes both networks
    class-conditional (the protocol above); "projection" needs model=dcgan or resnet and a G
    with batchnorm. With conditioning="none" ``num_classes`` is ignored.
    """
    sample_shape = tuple(sample_shape)
    if name not in NET_NAMES:
        raise UserError(f"model={name!r} is not a network; use one of {', '.join(NET_NAMES)}")
    if init not in INITS:
        raise UserError(f"init={init!r} is not an initialisation; use one of {', '.join(INITS)}")
    G, D = _build(name, sample_shape, z_dim, width, d_batchnorm, d_dropout, g_output,
                  d_minibatch_stddev, d_minibatch_disc, g_batchnorm, num_classes, conditioning)
    if init == "torch":
        from ganforge.nets.init import torch_init_
        torch_init_(G)
        torch_init_(D)
    return G, D


def _build(name, sample_shape, z_dim, width, d_batchnorm, d_dropout, g_output,
           d_minibatch_stddev, d_minibatch_disc, g_batchnorm, num_classes, conditioning):
    """``build_nets`` with the networks' own initialisation."""
    from ganforge.nets.dcgan import SUPPORTED_SIZES, DCGANDiscriminator, DCGANGenerator
    from ganforge.nets.mlp import OUTPUTS, MLPDiscriminator, MLPGenerator

    if g_output is not None and g_output not in OUTPUTS:
        raise UserError(f"g_output={g_output!r} is not a generator output; use one of "
                        f"{', '.join(OUTPUTS)}")
    supported = CONDITIONINGS if name != "mlp" else ("none", "concat", "acgan")
    num_classes = check_conditioning(conditioning, num_classes, name, supported)
    if conditioning == "projection" and not g_batchnorm:
        raise UserError("conditioning='projection' conditions G's BatchNorm on the class, so it "
                        "needs BatchNorm in G (model.g_batchnorm=true); or use conditioning=concat "
                        "or acgan")
    cond = {"num_classes": num_classes, "conditioning": conditioning}
    is_image = len(sample_shape) == 3

    if name == "mlp":
        if d_batchnorm:
            raise UserError("d_batchnorm=True needs model=dcgan; the mlp discriminator has no "
                            "batchnorm (use d_dropout instead, or model=dcgan)")
        output = g_output or ("tanh" if is_image else "linear")
        G = MLPGenerator(z_dim, sample_shape, hidden=width, output=output,
                         batchnorm=g_batchnorm, **cond)
        D = MLPDiscriminator(math.prod(sample_shape), hidden=width, dropout=d_dropout,
                             minibatch_stddev=d_minibatch_stddev,
                             minibatch_disc=d_minibatch_disc, **cond)
        return G, D

    if not is_image:
        raise UserError(f"model={name} needs image data (C, H, W); got samples of shape "
                        f"{sample_shape}: use model=mlp")
    channels, height, width_px = sample_shape
    if name == "resnet":
        from ganforge.nets.resnet import SUPPORTED_SIZES
    if height != width_px or height not in SUPPORTED_SIZES:
        raise UserError(
            f"model={name} supports square images of size {', '.join(map(str, SUPPORTED_SIZES))}; "
            f"got {height}x{width_px}: resize the images or use model=mlp"
        )
    if g_output == "linear":
        raise UserError(f"g_output='linear' is not available with model={name} (its generator "
                        "always ends in tanh): scale the data to [-1, 1] and drop g_output")
    if name == "resnet":
        from ganforge.nets.resnet import ResNetDiscriminator, ResNetGenerator

        if d_batchnorm:
            raise UserError("d_batchnorm=True needs model=dcgan; SN-GAN's residual "
                            "discriminator (model=resnet) has no batchnorm: spectral norm "
                            "normalizes it")
        if d_dropout > 0:
            raise UserError("d_dropout needs model=dcgan or model=mlp; SN-GAN's residual "
                            "discriminator (model=resnet) has no dropout")
        G = ResNetGenerator(z_dim, channels=channels, image_size=height, width=width,
                            batchnorm=g_batchnorm, **cond)
        D = ResNetDiscriminator(channels=channels, image_size=height, width=width,
                                minibatch_stddev=d_minibatch_stddev,
                                minibatch_disc=d_minibatch_disc, **cond)
        return G, D
    G = DCGANGenerator(z_dim, channels=channels, image_size=height, width=width,
                       batchnorm=g_batchnorm, **cond)
    D = DCGANDiscriminator(channels=channels, image_size=height, width=width,
                           batchnorm=d_batchnorm, dropout=d_dropout,
                           minibatch_stddev=d_minibatch_stddev, minibatch_disc=d_minibatch_disc,
                           **cond)
    return G, D
