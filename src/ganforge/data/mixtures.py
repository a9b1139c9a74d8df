"""The 2-D Gaussian mixtures of the PacGAN mode-collapse protocol (Lin et al., 2018).

ring8: 8 modes on the unit circle, std 0.01. grid25: a 5 x 5 grid with spacing 2, std 0.05.
100,000 points are drawn once from a generator seeded with ``seed``: a mode uniformly at
random, then isotropic Gaussian noise. Points are not rescaled: the modes and std are what
the mode-coverage metrics measure against. The labels are the mode indices, and the classes are
named "mode 0", "mode 1", ...: K is the number of modes, whatever ``limit`` keeps.
"""

from __future__ import annotations

import math

from ganforge._lazy import torch

from ganforge.data.dataset import Dataset
from ganforge.data.labels import check_labels
from ganforge.data.samples import TensorSamples

NUM_SAMPLES = 100_000


def ring8_modes() -> torch.Tensor:
    """(8, 2) float32: (cos(2 pi i / 8), sin(2 pi i / 8)) for i = 0..7."""
    angles = [2 * math.pi * i / 8 for i in range(8)]
    return torch.tensor([[math.cos(a), math.sin(a)] for a in angles], dtype=torch.float32)


def grid25_modes() -> torch.Tensor:
    """(25, 2) float32: (i, j) for i, j in {-4, -2, 0, 2, 4}, i-major order."""
    ticks = [-4.0, -2.0, 0.0, 2.0, 4.0]
    return torch.tensor([[i, j] for i in ticks for j in ticks], dtype=torch.float32)


def sample_mixture(
    modes: torch.Tensor, std: float, n: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """x (n, 2) float32 = modes[labels] + std * noise, labels int64 (n,) uniform over modes."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(modes.shape[0], (n,), generator=g)
    noise = torch.randn(n, modes.shape[1], generator=g)
    return modes[labels] + std * noise, labels


def _mixture(
    name: str, modes: torch.Tensor, std: float, seed: int, limit: int | None
) -> Dataset:
    # Always draw the full 100,000 and then cut, so `limit` keeps a prefix of the same points.
    x, labels = sample_mixture(modes, std, NUM_SAMPLES, seed)
    classes = [f"mode {i}" for i in range(modes.shape[0])]
    labels = check_labels(labels, NUM_SAMPLES, classes, source=f"{name} (its mode indices)")
    x, labels = x[:limit], labels[:limit]
    return Dataset(
        samples=TensorSamples(x),
        labels=labels,
        name=name,
        kind="points",
        source=(
            f"{name}: {x.shape[0]:,} points from {modes.shape[0]} Gaussian modes "
            f"(std {std}), seed {seed}"
        ),
        modes=modes,
        mode_std=std,
        classes=classes,
    )


def ring8(seed: int = 0, limit: int | None = None) -> Dataset:
    """8 Gaussians on the unit circle, std 0.01; x (N, 2), labels = mode index."""
    return _mixture("ring8", ring8_modes(), 0.01, seed, limit)


def grid25(seed: int = 0, limit: int | None = None) -> Dataset:
    """25 Gaussians on the grid {-4, -2, 0, 2, 4}^2, std 0.05; x (N, 2), labels = mode index."""
    return _mixture("grid25", grid25_modes(), 0.05, seed, limit)
