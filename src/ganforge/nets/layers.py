"""Layers that let D look at a whole batch at once, against mode collapse.

Both mix samples within a batch on purpose: D's output for one sample depends on the others,
so a collapsed batch of fakes (all alike) looks different from a varied real batch. Put them
in D's head, after the features (the reference discriminators do, so ``D.features`` stays
per-sample). Note that a per-sample gradient penalty (R1, GP) on such a D is taken through
this mixing.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.errors import UserError


def check_minibatch_disc(kernels: int) -> None:
    """The discriminators' ``minibatch_disc`` switch: a kernel count, 0 for off."""
    if not isinstance(kernels, int) or isinstance(kernels, bool) or kernels < 0:
        raise UserError(f"minibatch_disc={kernels!r} must be a whole number of kernels >= 0 "
                        "(0 turns minibatch discrimination off; Salimans et al. used 100)")


def _group(n: int, group_size: int) -> int:
    """The largest divisor of the batch size n that is <= group_size (1 for a batch of 1)."""
    return max(g for g in range(1, min(group_size, n) + 1) if n % g == 0)


class MinibatchStdDev(nn.Module):
    """ProGAN/StyleGAN minibatch standard deviation (Karras et al. 2018, section 3).

    x (N, C, H, W) -> (N, C + 1, H, W); flat x (N, F) -> (N, F + 1). The batch is split into
    groups of ``group_size`` samples taken with stride N / group_size (samples i, i + N/G,
    i + 2N/G, ... form a group, as in the reference code's reshape); for each group the std
    of every feature over the group, sqrt(var + 1e-8), is averaged over all features, and
    that one number is appended to every sample of the group as a constant map/feature. When
    N is not a multiple of ``group_size`` the group is the largest divisor of N below it.
    """

    def __init__(self, group_size: int = 4, eps: float = 1e-8):
        super().__init__()
        if not isinstance(group_size, int) or group_size < 1:
            raise UserError(f"group_size must be a whole number >= 1, got {group_size!r}")
        self.group_size, self.eps = group_size, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, rest = x.shape[0], x.shape[1:]
        g = _group(n, self.group_size)
        y = x.reshape(g, n // g, *rest)
        y = (y - y.mean(dim=0)).square().mean(dim=0)          # (N/G, ...) variance over group
        y = (y + self.eps).sqrt().flatten(1).mean(dim=1)      # (N/G,) mean std over features
        y = y.view(-1, 1, *([1] * (x.dim() - 2))).repeat(g, 1, *rest[1:])
        return torch.cat([x, y.to(x.dtype)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016, section 3.2).

    x (N, A) -> (N, A + B): M_i = x_i T reshaped to (B, C); c_b(x_i, x_j) =
    exp(-||M_i,b - M_j,b||_L1); o(x_i)_b = sum_j c_b(x_i, x_j) (j = i included, as in the
    paper's equation: it adds the constant 1); the output is [x_i, o(x_i)].
    T (A, B * C) ~ N(0, 0.05^2), the reference code's initialisation.
    """

    def __init__(self, in_features: int, n_kernels: int = 100, kernel_dim: int = 5):
        super().__init__()
        for name, value in (("in_features", in_features), ("n_kernels", n_kernels),
                            ("kernel_dim", kernel_dim)):
            if not isinstance(value, int) or value < 1:
                raise UserError(f"{name}={value!r} must be a positive integer")
        self.in_features, self.n_kernels, self.kernel_dim = in_features, n_kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, n_kernels * kernel_dim) * 0.05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = (x @ self.T).view(x.shape[0], self.n_kernels, self.kernel_dim).transpose(0, 1)
        l1 = torch.cdist(m, m, p=1)          # (B, N, N), without an (N, N, B, C) intermediate
        o = torch.exp(-l1).sum(dim=2).t()    # (N, B)
        return torch.cat([x, o], dim=1)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, n_kernels={self.n_kernels}, "
                f"kernel_dim={self.kernel_dim}")


def check_sizes(**sizes: int) -> None:
    """Every size a positive integer, or a UserError naming it."""
    for name, value in sizes.items():
        if not isinstance(value, int) or value < 1:
            raise UserError(f"{name}={value!r} must be a positive integer")


def pick_layout(layouts: dict, image_size: int, model: str):
    """``layouts[image_size]``, or a UserError naming the sizes ``model`` supports."""
    if image_size not in layouts:
        raise UserError(
            f"image_size={image_size} has no {model} layout; supported sizes are "
            f"{', '.join(map(str, layouts))}: resize the images or use model=mlp"
        )
    return layouts[image_size]


def batch_head(width: int, minibatch_stddev: bool, minibatch_disc: int,
               minibatch_disc_dim: int) -> tuple[list[nn.Module], int]:
    """The batch-level layers a flat-feature D's head starts with (std-dev, then minibatch
    discrimination; either may be off) and the width after them."""
    head: list[nn.Module] = []
    if minibatch_stddev:
        head.append(MinibatchStdDev())
        width += 1
    if minibatch_disc:
        head.append(MinibatchDiscrimination(width, minibatch_disc, minibatch_disc_dim))
        width += minibatch_disc
    return head, width
