"""Frechet distance of feature Gaussians (FID; Heusel et al. 2017).

    FID = ||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a^1/2 S_b S_a^1/2)^1/2)

The trace term is Tr((S_a S_b)^1/2) written with symmetric matrices only: S_a^1/2 comes from
an eigendecomposition of S_a (eigenvalues clamped at 0), and S_a^1/2 S_b S_a^1/2 is symmetric
positive semi-definite, so the trace of its square root is the sum of the square roots of its
(clamped) eigenvalues. Everything is float64. Unlike scipy.linalg.sqrtm on S_a S_b (not
symmetric, complex round-off), this stays real and finite when the covariances are singular,
e.g. with fewer samples than feature dimensions.
"""

from __future__ import annotations

from .._lazy import torch

from ._matrix import as_matrix, same_width


def gaussian_stats(feats) -> tuple[torch.Tensor, torch.Tensor]:
    """feats (N, D), N >= 2 -> mean (D,) and unbiased covariance (D, D), float64."""
    x = as_matrix(feats, "feats", min_rows=2)
    mu = x.mean(0)
    centered = x - mu
    return mu, centered.T @ centered / (x.shape[0] - 1)


def _sqrt_psd(s: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric PSD matrix; negative round-off eigenvalues -> 0."""
    w, v = torch.linalg.eigh((s + s.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mu_a: torch.Tensor, sigma_a: torch.Tensor, mu_b: torch.Tensor,
                     sigma_b: torch.Tensor) -> float:
    """Frechet distance between N(mu_a, sigma_a) and N(mu_b, sigma_b); means (D,), covs (D, D)."""
    mu_a, mu_b = mu_a.double(), mu_b.double()
    sigma_a, sigma_b = sigma_a.double(), sigma_b.double()
    root_a = _sqrt_psd(sigma_a)
    middle = root_a @ sigma_b @ root_a
    eig = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0)
    value = ((mu_a - mu_b).square().sum() + sigma_a.trace() + sigma_b.trace()
             - 2 * eig.sqrt().sum())
    return max(float(value), 0.0)  # a true distance is >= 0; round-off can dip to -1e-12


def fid(feats_a, feats_b) -> float:
    """FID between two feature sets (N_a, D) and (N_b, D), tensors or arrays; >= 0."""
    a = as_matrix(feats_a, "feats_a", min_rows=2)
    b = as_matrix(feats_b, "feats_b", min_rows=2)
    same_width(a, b, ("feats_a", "feats_b"))
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
