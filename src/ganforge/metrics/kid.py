"""Kernel distance of features (KID; Binkowski et al. 2018, "Demystifying MMD GANs").

The unbiased estimator of MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3,
d the feature width, on ``subsets`` random subsets of ``subset_size`` samples from each set
(drawn without replacement within a subset, from a seeded generator); the result is the mean
and the (population) standard deviation over subsets, as in the paper's code and torchmetrics.
Unbiased: with identical distributions its expectation is 0, so small values can be negative.
"""

from __future__ import annotations

from .._lazy import torch

from ..errors import UserError
from ._matrix import as_matrix, same_width


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(m, d), (n, d) -> (m, n) kernel matrix (x.y / d + 1)^3."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 between samples x (m, d) and y (n, d), m, n >= 2.

    sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (n (n - 1))
    - 2 sum_{i, j} k(x_i, y_j) / (m n).
    """
    m, n = x.shape[0], y.shape[0]
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return float((k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
                 + (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
                 - 2 * k_xy.mean())


def kid(feats_a, feats_b, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> dict[str, float]:
    """KID between feature sets (N_a, D) and (N_b, D).

    Returns {"kid": mean over subsets, "kid_std": std over subsets, "kid_subset_size": the
    subset size used}. ``subset_size`` is lowered to min(N_a, N_b) when a set is smaller (the
    size used is returned, since it changes the estimator's variance).
    """
    a = as_matrix(feats_a, "feats_a", min_rows=2)
    b = as_matrix(feats_b, "feats_b", min_rows=2)
    same_width(a, b, ("feats_a", "feats_b"))
    if subsets < 1 or subset_size < 2:
        raise UserError(f"kid needs subsets >= 1 and subset_size >= 2, got {subsets} and "
                        f"{subset_size}")
    size = min(subset_size, a.shape[0], b.shape[0])
    gen = torch.Generator().manual_seed(seed)
    scores = torch.tensor([
        mmd2_unbiased(a[torch.randperm(a.shape[0], generator=gen)[:size]],
                      b[torch.randperm(b.shape[0], generator=gen)[:size]])
        for _ in range(subsets)], dtype=torch.float64)
    return {"kid": float(scores.mean()), "kid_std": float(scores.std(unbiased=False)),
            "kid_subset_size": size}
