"""Fully connected reference G and D, for 2-D toy points and flat vectors (or small images).

Class conditioning (``nets/__init__.py`` has the protocol): "concat" and "acgan"; not
"projection" (it conditions G's BatchNorm2d and pools D's maps, Miyato & Koyama 2018: use
model=dcgan or model=resnet for it). Forward only: losses, penalties and update rules live
elsewhere.
"""

import math

import torch
from torch import nn

from ganforge.errors import UserError
from ganforge.nets.names import check_conditioning
from ganforge.nets.conditional import discriminator_forward, check_labels, label_embed_dim, label_embedding
from ganforge.nets.init import dcgan_init_
from ganforge.nets.layers import (
    batch_head, check_minibatch_disc, check_sizes,
)

OUTPUTS = ("linear", "tanh")
CONDITIONINGS = ("none", "concat", "acgan")


class MLPGenerator(nn.Module):
    """z (N, z_dim) -> samples (N, out_dim), or (N, *out_dim) when ``out_dim`` is a shape.

    ``depth`` hidden blocks of Linear -> (BatchNorm1d) -> ReLU, then a final Linear and, with
    ``output="tanh"``, a tanh so samples lie in [-1, 1] like scaled image data. With
    ``batchnorm=True`` a batch of 1 only works in eval mode (BatchNorm1d needs 2+ samples to
    compute training statistics).

    ``conditioning="concat"`` or ``"acgan"`` (with ``num_classes``): ``forward(z, y)`` feeds
    [z, embed(y)] to the first Linear, ``embed`` = ``label_embedding(num_classes)``.
    """

    def __init__(self, z_dim: int, out_dim: int | tuple[int, ...], hidden: int = 128,
                 depth: int = 3, batchnorm: bool = True, output: str = "linear",
                 num_classes: int | None = None, conditioning: str = "none"):
        super().__init__()
        self.num_classes = check_conditioning(conditioning, num_classes, "mlp", CONDITIONINGS)
        self.conditioning = conditioning
        self.out_shape = (out_dim,) if isinstance(out_dim, int) else tuple(out_dim)
        check_sizes(z_dim=z_dim, hidden=hidden, depth=depth)
        check_sizes(**{f"out_dim[{i}]": n for i, n in enumerate(self.out_shape)})
        if output not in OUTPUTS:
            raise UserError(f"output={output!r} is not a generator output; use one of {OUTPUTS}")
        self.z_dim = z_dim
        layers: list[nn.Module] = []
        width_in = z_dim + (label_embed_dim(self.num_classes) if self.num_classes else 0)
        for _ in range(depth):
            # A bias in front of BatchNorm is cancelled by its mean subtraction: leave it out.
            layers.append(nn.Linear(width_in, hidden, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.ReLU())
            width_in = hidden
        layers.append(nn.Linear(hidden, math.prod(self.out_shape)))
        if output == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)
        if self.num_classes is not None:   # after the init: unconditional draws stay the same
            self.embed = label_embedding(self.num_classes)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z (N, z_dim), y (N,) int64 when conditional -> (N, *out_shape)."""
        if check_labels(self, y, z.shape[0]) is not None:
            z = torch.cat([z, self.embed(y).to(z.dtype)], dim=1)
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """Samples (N, in_dim) or (N, *shape) with prod(shape) == in_dim -> logits (N,).

    ``depth`` blocks of Linear -> LeakyReLU(0.2) -> (Dropout), then ``head`` = Linear(hidden, 1).
    Logits are raw scores (no sigmoid); losses take logits. ``features`` returns the last
    hidden activations (N, hidden), and ``forward`` is computed through it, so
    ``forward(x) == head(features(x)).flatten()`` exactly.

    ``minibatch_stddev=True`` and ``minibatch_disc=B > 0`` (kernels of ``minibatch_disc_dim``)
    put a MinibatchStdDev and/or MinibatchDiscrimination layer in the head, before the final
    Linear (see ``nets/layers.py``); off by default, and then the network is exactly the plain
    one (same layers, same initialisation).

    Conditioning (with ``num_classes``): "concat" appends ``embed(y)``
    (``label_embedding(num_classes)``) to the flattened input, so ``features(x, y)`` depends
    on y; "acgan" adds ``classifier`` = Linear(hidden, num_classes) on the features and
    ``forward`` returns ``(logits (N,), class_logits (N, num_classes))``.
    """

    def __init__(self, in_dim: int, hidden: int = 128, depth: int = 3, dropout: float = 0.0,
                 minibatch_stddev: bool = False, minibatch_disc: int = 0,
                 minibatch_disc_dim: int = 5, num_classes: int | None = None,
                 conditioning: str = "none"):
        super().__init__()
        self.num_classes = check_conditioning(conditioning, num_classes, "mlp", CONDITIONINGS)
        self.conditioning = conditioning
        check_sizes(in_dim=in_dim, hidden=hidden, depth=depth)
        if not 0.0 <= dropout < 1.0:
            raise UserError(f"dropout={dropout} must be in [0, 1); 0 turns dropout off")
        check_minibatch_disc(minibatch_disc)
        self.in_dim = in_dim
        layers: list[nn.Module] = []
        concat = conditioning == "concat"
        width_in = in_dim + (label_embed_dim(self.num_classes) if concat else 0)
        for _ in range(depth):
            layers += [nn.Linear(width_in, hidden), nn.LeakyReLU(0.2)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width_in = hidden
        self.body = nn.Sequential(*layers)
        if not minibatch_stddev and not minibatch_disc:
            self.head = nn.Linear(hidden, 1)
        else:
            head, width_in = batch_head(width_in, minibatch_stddev, minibatch_disc,
                                        minibatch_disc_dim)
            self.head = nn.Sequential(*head, nn.Linear(width_in, 1))
        if conditioning == "acgan":
            self.classifier = nn.Linear(hidden, self.num_classes)
        dcgan_init_(self)
        if concat:
            self.embed = label_embedding(self.num_classes)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, in_dim) or (N, *shape), y (N,) for concat -> penultimate features (N, hidden)."""
        y = check_labels(self, y, x.shape[0], ignored=self.conditioning != "concat")
        flat = x.flatten(1) if x.dim() > 1 else x.view(-1, 1)
        if flat.shape[1] != self.in_dim:
            raise UserError(
                f"MLPDiscriminator was built for samples of {self.in_dim} values; got a batch of "
                f"shape {tuple(x.shape)}: build it with in_dim={flat.shape[1]}"
            )
        if y is not None:
            flat = torch.cat([flat, self.embed(y).to(flat.dtype)], dim=1)
        return self.body(flat)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """x, y (N,) int64 for concat -> logits (N,); acgan: (logits, class_logits (N, K))."""
        return discriminator_forward(self, x, y)
