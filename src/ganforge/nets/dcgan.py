"""DCGAN reference G and D (Radford et al. 2016) for 28x28, 32x32 and 64x64 images.

G: z -> project to a small map -> ConvTranspose2d(4, stride 2, pad 1) up-blocks with
BatchNorm2d + ReLU, channels halving -> ConvTranspose2d to ``channels`` -> tanh.
D mirrors it with Conv2d(4, stride 2, pad 1) down-blocks and LeakyReLU(0.2), then one conv
over the whole remaining map. With width=64: size 28 is the "DCGAN-28" (G 100 -> 7x7x128 ->
14x14x64 -> 28x28xC); size 64 is the pytorch/examples DCGAN (512, 256, 128, 64 channels).

Class conditioning (``nets/__init__.py`` has the protocol, ``nets/conditional.py`` the layers
and papers): "concat", "acgan" and "projection". With the default "none" the networks are
exactly the unconditional ones. Forward only: losses, penalties and update rules live
elsewhere.
"""

import torch
from torch import nn

from ganforge.errors import UserError
from ganforge.nets.names import check_conditioning
from ganforge.nets.conditional import (
    discriminator_forward, image_input,
    ClassProjection, ConditionalBatchNorm2d, check_labels, label_embed_dim, label_embedding,
)
from ganforge.nets.init import dcgan_init_
from ganforge.nets.layers import (
    MinibatchDiscrimination, MinibatchStdDev, check_minibatch_disc, check_sizes, pick_layout,
)

# image_size -> (side of the smallest map, number of stride-2 blocks between it and the
# layer that touches the image). Each block doubles (G) or halves (D) the side.
_LAYOUT = {28: (7, 1), 32: (4, 2), 64: (4, 3)}
SUPPORTED_SIZES = tuple(_LAYOUT)


class DCGANGenerator(nn.Module):
    """z (N, z_dim) -> images (N, channels, image_size, image_size) in [-1, 1].

    All normalisation is BatchNorm2d over feature maps (never BatchNorm1d over a flat
    projection), so a batch of 1 still works in train mode: each map has many positions.
    ``batchnorm=False`` drops it (the convolutions get biases instead): samples then do not
    depend on the rest of their batch, as data-parallel equality tests need.

    Conditioning (with ``num_classes``): "concat" and "acgan" feed [z, embed(y)]
    (``label_embedding``) to the first layer; "projection" makes every BatchNorm2d a
    ConditionalBatchNorm2d (needs ``batchnorm=True``). Then ``forward(z, y)``.
    """

    def __init__(self, z_dim: int = 100, channels: int = 1, image_size: int = 28,
                 width: int = 64, batchnorm: bool = True, num_classes: int | None = None,
                 conditioning: str = "none"):
        super().__init__()
        check_sizes(z_dim=z_dim, channels=channels, width=width)
        side, blocks = pick_layout(_LAYOUT, image_size, "DCGAN")
        self.num_classes = check_conditioning(conditioning, num_classes, "dcgan")
        self.conditioning = conditioning
        if conditioning == "projection" and not batchnorm:
            raise UserError("conditioning='projection' conditions G's BatchNorm on the class, so "
                            "it needs batchnorm=True; or use conditioning=concat or acgan")
        self.z_dim, self.channels, self.image_size = z_dim, channels, image_size
        ch = width * 2 ** blocks
        embed = conditioning in ("concat", "acgan")
        z_in = z_dim + (label_embed_dim(self.num_classes) if embed else 0)
        # Convs followed by BatchNorm have no bias: the BN mean subtraction would cancel it.
        def norm(c: int) -> nn.Module:
            if conditioning == "projection":
                return ConditionalBatchNorm2d(c, self.num_classes)
            return nn.BatchNorm2d(c) if batchnorm else nn.Identity()

        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_in, ch, side, 1, 0, bias=not batchnorm),  # -> (ch, side, side)
            norm(ch),
            nn.ReLU(),
        ]
        for _ in range(blocks):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=not batchnorm),
                       norm(ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)
        if embed:   # after the init, which leaves embeddings alone; unconditional draws unchanged
            self.embed = label_embedding(self.num_classes)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z (N, z_dim), y (N,) int64 when conditional -> (N, channels, image_size, image_size)."""
        y = check_labels(self, y, z.shape[0])
        if y is None:
            return self.net(z.view(z.shape[0], self.z_dim, 1, 1))
        if self.conditioning != "projection":
            z = torch.cat([z, self.embed(y).to(z.dtype)], dim=1)
            return self.net(z.view(*z.shape, 1, 1))
        h = z.view(z.shape[0], self.z_dim, 1, 1)
        for layer in self.net:
            h = layer(h, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
        return h


class DCGANDiscriminator(nn.Module):
    """Images (N, channels, image_size, image_size) -> logits (N,), raw scores (no sigmoid).

    ``batchnorm=True`` adds BatchNorm2d after every conv but the first (the paper leaves the
    input layer unnormalised); ``dropout > 0`` adds Dropout after every activation. Both are
    the usual remedies for a discriminator that overpowers G. ``features`` returns the
    flattened map before the final conv (N, F); ``head`` unflattens it and applies that conv,
    and ``forward`` goes through both, so ``forward(x) == head(features(x)).flatten()``.

    ``minibatch_stddev=True`` appends a MinibatchStdDev map before the final conv (as in
    ProGAN/StyleGAN); ``minibatch_disc=B > 0`` flattens the map, appends B minibatch
    discrimination features (kernels of ``minibatch_disc_dim``) and replaces the final conv by
    the equivalent Linear. Both live in ``head``; off by default, and then the network is
    exactly the plain one (same layers, same initialisation).

    Conditioning (with ``num_classes``): "concat" appends ``embed(y)``
    (``label_embedding``) as constant input channels, so ``features(x, y)`` depends on y;
    "acgan" adds ``classifier`` = Linear(feature_dim, num_classes) on the features and
    ``forward`` returns ``(logits, class_logits)``; "projection" adds
    ``projection`` = ClassProjection(num_classes, feature_dim): ``forward(x, y) ==
    head(h).flatten() + <v_y, h>`` with h = ``features(x)``, the flattened last map (the
    head is a conv over the whole map, i.e. linear in h).
    """

    def __init__(self, channels: int = 1, image_size: int = 28, width: int = 64,
                 batchnorm: bool = False, dropout: float = 0.0,
                 minibatch_stddev: bool = False, minibatch_disc: int = 0,
                 minibatch_disc_dim: int = 5, num_classes: int | None = None,
                 conditioning: str = "none"):
        super().__init__()
        check_sizes(channels=channels, width=width)
        self.num_classes = check_conditioning(conditioning, num_classes, "dcgan")
        self.conditioning = conditioning
        if not 0.0 <= dropout < 1.0:
            raise UserError(f"dropout={dropout} must be in [0, 1); 0 turns dropout off")
        check_minibatch_disc(minibatch_disc)
        side, blocks = pick_layout(_LAYOUT, image_size, "DCGAN")
        self.channels, self.image_size = channels, image_size
        layers: list[nn.Module] = []
        concat = conditioning == "concat"
        ch_in, ch = channels + (label_embed_dim(self.num_classes) if concat else 0), width
        for i in range(blocks + 1):
            norm = batchnorm and i > 0
            layers.append(nn.Conv2d(ch_in, ch, 4, 2, 1, bias=not norm))
            if norm:
                layers.append(nn.BatchNorm2d(ch))
            layers.append(nn.LeakyReLU(0.2))
            if dropout > 0:
                # Element-wise Dropout, not Dropout2d: the remedy is the classic per-activation
                # noise; zeroing whole channels is a much coarser change to D.
                layers.append(nn.Dropout(dropout))
            ch_in, ch = ch, ch * 2
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.feature_dim = ch_in * side * side
        head: list[nn.Module] = [nn.Unflatten(1, (ch_in, side, side))]
        if minibatch_stddev:
            head.append(MinibatchStdDev())
            ch_in += 1
        if minibatch_disc:
            flat = ch_in * side * side
            head += [nn.Flatten(),
                     MinibatchDiscrimination(flat, minibatch_disc, minibatch_disc_dim),
                     nn.Linear(flat + minibatch_disc, 1)]
        else:
            # A conv whose kernel covers the whole map: one score per image, as in the paper.
            head.append(nn.Conv2d(ch_in, 1, side, 1, 0))
        self.head = nn.Sequential(*head)
        if conditioning == "acgan":
            self.classifier = nn.Linear(self.feature_dim, self.num_classes)
        dcgan_init_(self)
        # Created after the init so that they keep their own (the unconditional draws are
        # unchanged either way: nothing is drawn for them when unconditional).
        if concat:
            self.embed = label_embedding(self.num_classes)
        if conditioning == "projection":
            self.projection = ClassProjection(self.num_classes, self.feature_dim)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, channels, image_size, image_size), y (N,) for concat -> (N, feature_dim)."""
        x = image_input(self, x, y)
        return self.body(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """x, y (N,) int64 unless unconditional/acgan -> logits (N,);
        acgan: (logits (N,), class_logits (N, num_classes))."""
        return discriminator_forward(self, x, y)
