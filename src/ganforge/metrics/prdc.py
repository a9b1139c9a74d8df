"""Precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Both estimate each distribution's support by k-NN balls in feature space: around every sample,
a ball reaching its k-th nearest neighbour in the same set.

- precision: fraction of fake samples inside some real ball (k = 3); recall: fraction of real
  samples inside some fake ball. A point is inside a ball when its distance is <= the radius,
  as in Kynkaanniemi et al.'s definition.
- density: (1 / (k M)) sum over fakes of the number of real balls containing it (k = 5); about
  1 when the two sets come from one distribution, can exceed 1. coverage: fraction of real
  samples whose ball contains at least one fake. "Contains" is distance < radius, as in Naeem
  et al.'s reference code; then a set compared with itself has density exactly 1 (each ball
  holds its centre and its k-1 nearest neighbours) and coverage 1.

k-NN distances are computed in blocks (``metrics/knn.py``): 50,000 vs 50,000 fits in 2 GB.
"""

from __future__ import annotations

import torch

from ..errors import UserError
from ._matrix import as_matrix, same_width
from .knn import kth_neighbour_radii, reduce_blocks


def _inputs(real_feats, fake_feats, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UserError(f"k must be a positive whole number, got {k!r}")
    real = as_matrix(real_feats, "real_feats", min_rows=k + 1)
    fake = as_matrix(fake_feats, "fake_feats", min_rows=k + 1)
    same_width(real, fake, ("real_feats", "fake_feats"))
    return real, fake


def precision_recall(real_feats, fake_feats, k: int = 3,
                     chunk: int | None = None) -> dict[str, float]:
    """real (N, D), fake (M, D), N, M > k -> {"precision", "recall"} in [0, 1].

    ``chunk``: rows per distance block (None: about 128 MB blocks).
    """
    real, fake = _inputs(real_feats, fake_feats, k)
    real_radii = kth_neighbour_radii(real, k, chunk)
    fake_radii = kth_neighbour_radii(fake, k, chunk)
    fake_in_real = torch.zeros(fake.shape[0], dtype=torch.bool)
    real_in_fake = torch.zeros(real.shape[0], dtype=torch.bool)

    def visit(rows, dist):  # dist: (rows of fake, N real)
        fake_in_real[rows] = (dist <= real_radii[None, :]).any(dim=1)
        real_in_fake.logical_or_((dist <= fake_radii[rows, None]).any(dim=0))

    reduce_blocks(fake, real, visit, chunk)
    return {"precision": float(fake_in_real.double().mean()),
            "recall": float(real_in_fake.double().mean())}


def density_coverage(real_feats, fake_feats, k: int = 5,
                     chunk: int | None = None) -> dict[str, float]:
    """real (N, D), fake (M, D), N, M > k -> {"density" (>= 0), "coverage" in [0, 1]}."""
    real, fake = _inputs(real_feats, fake_feats, k)
    radii = kth_neighbour_radii(real, k, chunk)
    balls_hit = torch.zeros((), dtype=torch.float64)
    covered = torch.zeros(real.shape[0], dtype=torch.bool)

    def visit(rows, dist):  # dist: (rows of fake, N real)
        inside = dist < radii[None, :]
        balls_hit.add_(inside.sum())
        covered.logical_or_(inside.any(dim=0))

    reduce_blocks(fake, real, visit, chunk)
    return {"density": float(balls_hit) / (k * fake.shape[0]),
            "coverage": float(covered.double().mean())}
