"""Fully connected reference G and D, for 2-D toy points and flat vectors (or small images).

Forward only: losses, penalties and update rules live elsewhere.
"""

import math

import torch
from torch import nn

from ganforge.errors import UserError
from ganforge.nets.init import dcgan_init_
from ganforge.nets.layers import (
    MinibatchDiscrimination, MinibatchStdDev, check_minibatch_disc,
)

OUTPUTS = ("linear", "tanh")


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or value < 1:
            raise UserError(f"{name}={value!r} must be a positive integer")


class MLPGenerator(nn.Module):
    """z (N, z_dim) -> samples (N, out_dim), or (N, *out_dim) when ``out_dim`` is a shape.

    ``depth`` hidden blocks of Linear -> (BatchNorm1d) -> ReLU, then a final Linear and, with
    ``output="tanh"``, a tanh so samples lie in [-1, 1] like scaled image data. With
    ``batchnorm=True`` a batch of 1 only works in eval mode (BatchNorm1d needs 2+ samples to
    compute training statistics).
    """

    def __init__(self, z_dim: int, out_dim: int | tuple[int, ...], hidden: int = 128,
                 depth: int = 3, batchnorm: bool = True, output: str = "linear"):
        super().__init__()
        self.out_shape = (out_dim,) if isinstance(out_dim, int) else tuple(out_dim)
        _check_sizes(z_dim=z_dim, hidden=hidden, depth=depth)
        _check_sizes(**{f"out_dim[{i}]": n for i, n in enumerate(self.out_shape)})
        if output not in OUTPUTS:
            raise UserError(f"output={output!r} is not a generator output; use one of {OUTPUTS}")
        self.z_dim = z_dim
        layers: list[nn.Module] = []
        width_in = z_dim
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

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, z_dim) -> (N, *out_shape)."""
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
    """

    def __init__(self, in_dim: int, hidden: int = 128, depth: int = 3, dropout: float = 0.0,
                 minibatch_stddev: bool = False, minibatch_disc: int = 0,
                 minibatch_disc_dim: int = 5):
        super().__init__()
        _check_sizes(in_dim=in_dim, hidden=hidden, depth=depth)
        if not 0.0 <= dropout < 1.0:
            raise UserError(f"dropout={dropout} must be in [0, 1); 0 turns dropout off")
        check_minibatch_disc(minibatch_disc)
        self.in_dim = in_dim
        layers: list[nn.Module] = []
        width_in = in_dim
        for _ in range(depth):
            layers += [nn.Linear(width_in, hidden), nn.LeakyReLU(0.2)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width_in = hidden
        self.body = nn.Sequential(*layers)
        if not minibatch_stddev and not minibatch_disc:
            self.head = nn.Linear(hidden, 1)
        else:
            head: list[nn.Module] = []
            if minibatch_stddev:
                head.append(MinibatchStdDev())
                width_in += 1
            if minibatch_disc:
                head.append(MinibatchDiscrimination(width_in, minibatch_disc, minibatch_disc_dim))
                width_in += minibatch_disc
            self.head = nn.Sequential(*head, nn.Linear(width_in, 1))
        dcgan_init_(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, in_dim) or (N, *shape) -> penultimate features (N, hidden)."""
        flat = x.flatten(1) if x.dim() > 1 else x.view(-1, 1)
        if flat.shape[1] != self.in_dim:
            raise UserError(
                f"MLPDiscriminator was built for samples of {self.in_dim} values; got a batch of "
                f"shape {tuple(x.shape)}: build it with in_dim={flat.shape[1]}"
            )
        return self.body(flat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x -> logits (N,)."""
        return self.head(self.features(x)).flatten()
