"""Inception-Score-style score from a classifier's class probabilities (Salimans et al. 2016).

    IS = exp( E_x KL(p(y|x) || p(y)) ),  p(y) = mean of p(y|x) over the split

computed on ``splits`` equal consecutive splits of the samples; mean and (population) std over
splits, as in the original code. Between 1 (every sample gets the same class distribution) and
the number of classes (confident, evenly spread predictions). With ganforge's Fashion-MNIST
classifier instead of Inception, values are comparable only with other values from the same
classifier (see provenance).
"""

from __future__ import annotations

from .._lazy import torch

from ..errors import UserError
from ._matrix import as_matrix


def as_probabilities(probs) -> torch.Tensor:
    """(N, C) rows that are probability vectors, float64; a clear error for logits."""
    p = as_matrix(probs, "probs")
    if (p < 0).any() or not torch.allclose(p.sum(1), torch.ones(p.shape[0], dtype=p.dtype),
                                           atol=1e-4):
        raise UserError("probs must be class probabilities (rows >= 0 summing to 1): apply "
                        "softmax to the classifier's logits first")
    return p


def inception_score(probs, splits: int = 10) -> dict[str, float]:
    """probs (N, C), N >= splits -> {"is": mean over splits, "is_std": std over splits}."""
    p = as_probabilities(probs)
    if splits < 1 or p.shape[0] < splits:
        raise UserError(f"inception_score needs 1 <= splits <= number of samples, got splits="
                        f"{splits} for {p.shape[0]} samples")
    scores = []
    for part in p.tensor_split(splits):
        marginal = part.mean(0, keepdim=True)
        # x log(x / m) with 0 log 0 = 0 (xlogy), so one-hot rows are fine.
        kl = (torch.special.xlogy(part, part) - part * marginal.clamp_min(1e-300).log()).sum(1)
        scores.append(kl.mean().exp())
    s = torch.stack(scores)
    return {"is": float(s.mean()), "is_std": float(s.std(unbiased=False))}
