"""SN-GAN residual G and D (Miyato et al. 2018, Appendix B; Miyato & Koyama 2018) for 28x28,
32x32 and 64x64 images.

G: Linear(z -> side*side*ch) -> up blocks (BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3, plus a
shortcut upsample + conv1x1) -> BN-ReLU-conv3x3 -> tanh. Upsampling is nearest-neighbour, as
in the paper's code (Mimicry uses bilinear).
D: an optimized first block (conv3x3-ReLU-conv3x3-avgpool, shortcut avgpool-conv1x1), down
blocks (ReLU-conv3x3-ReLU-conv3x3-avgpool, shortcut avgpool-conv1x1), blocks without
downsampling (identity shortcut when the channels agree), ReLU, global SUM pooling ->
features h (N, F), ``head`` = Linear(F, 1) -> logit.

Channels, from ``width`` (w):
- 28 and 32: every block of G and of D has w channels. G starts at 7x7 (28) or 4x4 (32) and
  has 2 or 3 up blocks; D is the paper's CIFAR-10 D: optimized down, down, block, block.
  The paper's CIFAR-10 nets are ``ResNetGenerator(z_dim=128, channels=3, image_size=32,
  width=256)`` (4.28 M parameters) and ``ResNetDiscriminator(channels=3, image_size=32,
  width=128)`` (1.05 M). On a CPU use w=32 (28 px: G 0.24 M, D 0.07 M parameters) or w=64
  (G 0.56 M, D 0.26 M, about 3x the time per step of w=32 and 8x that of DCGAN-28).
- 64: channels double toward the low resolution, as in SN-GAN's 64 px nets (Mimicry's
  SNGAN-64 at w=64): G 4x4 x 16w -> 8w -> 4w -> 2w -> w (4 up blocks); D w (optimized down,
  to 32) -> 2w -> 4w -> 8w (down, to 4x4) -> 16w (no downsampling, the STL-10 D's last
  block). At w=64: G 12.2 M, D 19.5 M parameters; w=16 (1.2 M each) suits a CPU.

Shortcuts apply the 1x1 conv at the low resolution (G: conv then upsample; D: avgpool then
conv): nearest upsampling, average pooling and a 1x1 conv are all linear per pixel, so the
order does not change the result, only the cost (4x fewer multiply-adds).

Initialisation, as in the SN-GAN code and Mimicry: Xavier-uniform with gain sqrt(2) for the
3x3 convs inside residual branches, gain 1 for shortcuts, G's first Linear, its last conv,
D's head and classifier; biases 0; BatchNorm gain 1, bias 0 (conditional ones too). A conv
followed by BatchNorm has no bias (the mean subtraction cancels it).

Spectral norm is not applied here: the caller applies
``ganforge.regularizers.apply_spectral_norm(D)`` (every conv and linear layer, including the
projection's class vectors, see ``ClassProjection``; the concat label embedding is an
nn.Embedding and stays unnormalized: it is an input, not a map of x).

Conditioning (``nets/__init__.py`` has the protocol): "concat" and "acgan" feed [z, e(y)] to
G's Linear; "projection" makes the BatchNorms inside G's blocks conditional (the last one,
before the output conv, stays plain, as in the paper's code). D: concat adds e(y) as input
channels, acgan a Linear(F, num_classes) classifier, projection <v_y, h>.

Forward only: losses, penalties and update rules live elsewhere.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import UserError
from ganforge.nets.names import check_conditioning
from ganforge.nets.conditional import (
    discriminator_forward, image_input,
    ClassProjection, ConditionalBatchNorm2d, check_labels, label_embed_dim, label_embedding,
)
from ganforge.nets.layers import (
    batch_head, check_minibatch_disc, check_sizes, pick_layout,
)

# image_size -> (G's first side, G's channel multipliers: the Linear's output then each up
# block's; D's blocks as (channel multiplier, downsample), the first one the optimized block).
_LAYOUT = {
    28: (7, (1, 1, 1), ((1, True), (1, True), (1, False), (1, False))),
    32: (4, (1, 1, 1, 1), ((1, True), (1, True), (1, False), (1, False))),
    64: (4, (16, 8, 4, 2, 1), ((1, True), (2, True), (4, True), (8, True), (16, False))),
}
SUPPORTED_SIZES = tuple(_LAYOUT)
_RELU_GAIN = math.sqrt(2.0)


def _xavier(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    nn.init.xavier_uniform_(layer.weight, gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def _conv(c_in: int, c_out: int, k: int, gain: float, bias: bool = True) -> nn.Conv2d:
    return _xavier(nn.Conv2d(c_in, c_out, k, 1, k // 2, bias=bias), gain)


def _norm(layer: nn.Module, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    return layer(h, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)


def _up(h: torch.Tensor) -> torch.Tensor:
    return F.interpolate(h, scale_factor=2, mode="nearest")


class GBlock(nn.Module):
    """(N, c_in, S, S), y -> (N, c_out, 2S, 2S): BN-ReLU-up-conv-BN-ReLU-conv + up(conv1x1).

    BN is ConditionalBatchNorm2d when ``num_classes`` is given, Identity when not
    ``batchnorm``.
    """

    def __init__(self, c_in: int, c_out: int, num_classes: int | None = None,
                 batchnorm: bool = True):
        super().__init__()
        def norm(c: int) -> nn.Module:
            if num_classes is not None:
                return ConditionalBatchNorm2d(c, num_classes)
            return nn.BatchNorm2d(c) if batchnorm else nn.Identity()

        self.b1, self.c1 = norm(c_in), _conv(c_in, c_out, 3, _RELU_GAIN, bias=not batchnorm)
        self.b2, self.c2 = norm(c_out), _conv(c_out, c_out, 3, _RELU_GAIN)
        self.shortcut = _conv(c_in, c_out, 1, 1.0)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.c1(_up(F.relu(_norm(self.b1, x, y))))
        h = self.c2(F.relu(_norm(self.b2, h, y)))
        return h + _up(self.shortcut(x))


class DBlock(nn.Module):
    """(N, c_in, S, S) -> (N, c_out, S/2 or S, ...): [ReLU]-conv-ReLU-conv-[avgpool] + shortcut.

    ``optimized=True`` is the first block (no ReLU on the image; always downsamples). The
    shortcut is avgpool-conv1x1 when the shape changes, else the identity.
    """

    def __init__(self, c_in: int, c_out: int, downsample: bool, optimized: bool = False):
        super().__init__()
        self.downsample, self.optimized = downsample or optimized, optimized
        self.c1 = _conv(c_in, c_out, 3, _RELU_GAIN)
        self.c2 = _conv(c_out, c_out, 3, _RELU_GAIN)
        learnable = optimized or downsample or c_in != c_out
        self.shortcut = _conv(c_in, c_out, 1, 1.0) if learnable else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(F.relu(self.c1(x if self.optimized else F.relu(x))))
        if self.downsample:
            h, x = F.avg_pool2d(h, 2), F.avg_pool2d(x, 2)
        return h + self.shortcut(x)


class ResNetGenerator(nn.Module):
    """z (N, z_dim), y (N,) when conditional -> images (N, channels, S, S) in [-1, 1].

    ``width`` sets the channels (module docstring). ``batchnorm=False`` replaces every
    BatchNorm by the identity (not with conditioning="projection", which conditions them).
    In train mode a batch of 1 works (BatchNorm2d over maps of 7x7 or more positions).
    """

    def __init__(self, z_dim: int = 128, channels: int = 1, image_size: int = 28,
                 width: int = 64, batchnorm: bool = True, num_classes: int | None = None,
                 conditioning: str = "none"):
        super().__init__()
        check_sizes(z_dim=z_dim, channels=channels, width=width)
        side, mults = pick_layout(_LAYOUT, image_size, "ResNet")[:2]
        self.num_classes = check_conditioning(conditioning, num_classes, "resnet")
        self.conditioning = conditioning
        if conditioning == "projection" and not batchnorm:
            raise UserError("conditioning='projection' conditions G's BatchNorm on the class, so "
                            "it needs batchnorm=True; or use conditioning=concat or acgan")
        self.z_dim, self.channels, self.image_size, self.side = z_dim, channels, image_size, side
        embed = conditioning in ("concat", "acgan")
        z_in = z_dim + (label_embed_dim(self.num_classes) if embed else 0)
        chs = [width * m for m in mults]
        self.linear = _xavier(nn.Linear(z_in, side * side * chs[0]))
        cbn = self.num_classes if conditioning == "projection" else None
        self.blocks = nn.ModuleList(GBlock(a, b, cbn, batchnorm) for a, b in zip(chs, chs[1:]))
        self.out_norm = nn.BatchNorm2d(chs[-1]) if batchnorm else nn.Identity()
        self.out_conv = _conv(chs[-1], channels, 3, 1.0)
        if embed:
            self.embed = label_embedding(self.num_classes)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z (N, z_dim), y (N,) int64 when conditional -> (N, channels, S, S)."""
        y = check_labels(self, y, z.shape[0])
        if y is not None and self.conditioning != "projection":
            z = torch.cat([z, self.embed(y).to(z.dtype)], dim=1)
        h = self.linear(z).view(z.shape[0], -1, self.side, self.side)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out_conv(F.relu(self.out_norm(h))))


class ResNetDiscriminator(nn.Module):
    """Images (N, channels, S, S), y (N,) unless unconditional/acgan -> logits (N,).

    ``features(x, y)`` is ReLU then global sum pooling of the last block, (N, feature_dim);
    ``forward(x, y) == head(features(x, y)).flatten()`` (+ ``projection(h, y)`` with
    conditioning="projection"); acgan returns ``(logits, classifier(h))``, class logits
    (N, num_classes). ``minibatch_stddev`` / ``minibatch_disc`` put the batch-level layers of
    ``nets/layers.py`` in ``head`` before its Linear (features stay per-sample).
    """

    def __init__(self, channels: int = 1, image_size: int = 28, width: int = 64,
                 minibatch_stddev: bool = False, minibatch_disc: int = 0,
                 minibatch_disc_dim: int = 5, num_classes: int | None = None,
                 conditioning: str = "none"):
        super().__init__()
        check_sizes(channels=channels, width=width)
        check_minibatch_disc(minibatch_disc)
        blocks = pick_layout(_LAYOUT, image_size, "ResNet")[2]
        self.num_classes = check_conditioning(conditioning, num_classes, "resnet")
        self.conditioning = conditioning
        self.channels, self.image_size = channels, image_size
        concat = conditioning == "concat"
        c_in = channels + (label_embed_dim(self.num_classes) if concat else 0)
        layers = []
        for i, (mult, down) in enumerate(blocks):
            layers.append(DBlock(c_in, width * mult, down, optimized=i == 0))
            c_in = width * mult
        self.blocks = nn.Sequential(*layers)
        self.feature_dim = c_in
        head, c_in = batch_head(c_in, minibatch_stddev, minibatch_disc, minibatch_disc_dim)
        linear = _xavier(nn.Linear(c_in, 1))
        self.head = nn.Sequential(*head, linear) if head else linear
        if concat:
            self.embed = label_embedding(self.num_classes)
        if conditioning == "acgan":
            self.classifier = _xavier(nn.Linear(self.feature_dim, self.num_classes))
        if conditioning == "projection":
            self.projection = ClassProjection(self.num_classes, self.feature_dim)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, channels, S, S), y (N,) for concat -> (N, feature_dim)."""
        x = image_input(self, x, y)
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """x, y -> logits (N,); acgan: (logits (N,), class_logits (N, num_classes))."""
        return discriminator_forward(self, x, y)
