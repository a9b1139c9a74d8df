"""Metrics of class-conditional generators: does G(z, y) make class y, and does each class
look like the real one?

- **Conditional accuracy**: the share of generated samples that a classifier assigns to the
  class they were generated for, argmax_k logits[i, k] == labels[i] (ties go to the lower
  class, as ``argmax`` does). Overall and per class. 1: every sample is recognized as its
  class; 1/K: the generator ignores its labels (as far as the classifier can tell).
- **Intra-FID** (Miyato & Koyama 2018): the mean over classes c of FID(generated samples of
  class c, real samples of class c), each FID as :func:`~ganforge.metrics.fid.fid` computes
  it. Lower is better. Each class's FID is estimated on about N/K samples per side, so it is
  biased upwards by that smaller count: compare intra-FIDs of equal N and K only.

Both are pure functions of per-sample arrays (logits or features, with int64 labels), so the
parts of a sample set computed on several processes can be concatenated first.
"""

from __future__ import annotations

from .._lazy import torch

from ..errors import UserError
from ..sampling import check_labels
from ._matrix import as_matrix, same_width
from .fid import frechet_distance, gaussian_stats


def _labels_for(labels, rows: int, name: str) -> torch.Tensor:
    return check_labels(labels, rows, name=name).cpu()


def _class_count(num_classes: int | None, *labels: torch.Tensor) -> int:
    if num_classes is not None:
        if num_classes < 1:
            raise UserError(f"num_classes must be at least 1, got {num_classes}")
        for y in labels:
            if y.numel() and int(y.max()) >= num_classes:
                raise UserError(f"a label is {int(y.max())}, but num_classes is {num_classes}: "
                                "labels must be in 0..num_classes-1")
        return num_classes
    return max(int(y.max()) + 1 if y.numel() else 0 for y in labels)


def _predictions(logits, labels) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(predicted class (N,), labels (N,), the classifier's class count)."""
    scores = as_matrix(logits, "logits")
    y = _labels_for(labels, scores.shape[0], "labels")
    k = scores.shape[1]
    if int(y.max()) >= k:
        raise UserError(f"a generated label is {int(y.max())}, but the classifier knows only "
                        f"{k} classes: conditional accuracy needs a classifier of the "
                        "generator's own classes (--feature-net)")
    return scores.argmax(1), y, k


def conditional_accuracy(logits, labels) -> float:
    """logits (N, K) (or probabilities: only the argmax is used) of generated samples and the
    int64 labels (N,) they were generated for -> the share of rows whose argmax is their
    label, in [0, 1]."""
    pred, y, _ = _predictions(logits, labels)
    return float((pred == y).double().mean())


def per_class_accuracy(logits, labels, num_classes: int | None = None) -> list[float]:
    """As :func:`conditional_accuracy`, per class: entry c is the share of the samples
    generated for class c that the classifier assigns to c. ``num_classes`` defaults to the
    largest label + 1; a class in that range without samples is a UserError."""
    pred, y, _ = _predictions(logits, labels)
    k = _class_count(num_classes, y)
    counts = torch.bincount(y, minlength=k)
    empty = [c for c in range(k) if counts[c] == 0]
    if empty:
        raise UserError(f"no generated sample has class {empty[0]}: per-class accuracy needs "
                        "samples of every class (use ganforge.sampling.balanced_labels)")
    hits = torch.bincount(y[pred == y], minlength=k)
    return [float(h) / float(n) for h, n in zip(hits, counts)]


def confusion(logits, labels, num_classes: int | None = None) -> torch.Tensor:
    """(K, K) float64: row c is the distribution of the classifier's predictions over the
    samples generated for class c (rows sum to 1; a class without samples is a row of 0).
    Its diagonal is :func:`per_class_accuracy`."""
    pred, y, k_net = _predictions(logits, labels)
    k = max(_class_count(num_classes, y), k_net)
    table = torch.zeros(k, k, dtype=torch.float64)
    table.index_put_((y, pred), torch.ones(y.shape[0], dtype=torch.float64), accumulate=True)
    return table / table.sum(1, keepdim=True).clamp_min(1)


def by_class(feats, labels, num_classes: int, name: str) -> list[torch.Tensor]:
    """The rows of feats (N, D) of each class 0..num_classes-1, float64; entry c is (N_c, D).
    Rows keep their order within a class."""
    x = as_matrix(feats, name)
    y = _labels_for(labels, x.shape[0], f"the labels of {name}")
    return [x[y == c] for c in range(num_classes)]


def intra_fid(fake_feats, fake_labels, real_feats, real_labels,
              num_classes: int | None = None) -> dict:
    """Mean over classes of the FID between the generated and the real samples of the class.

    fake_feats (N_f, D) with fake_labels (N_f,), real_feats (N_r, D) with real_labels (N_r,)
    (tensors or arrays; labels int64). ``num_classes`` defaults to the largest label on
    either side + 1. Every class needs at least 2 samples on each side (a covariance needs
    two): otherwise a UserError naming the class and its counts.

    Returns {"intra_fid": mean over classes, "per_class": [FID of class 0, 1, ...]}.
    """
    f = as_matrix(fake_feats, "fake_feats")
    r = as_matrix(real_feats, "real_feats")
    same_width(f, r, ("fake_feats", "real_feats"))
    yf = _labels_for(fake_labels, f.shape[0], "fake_labels")
    yr = _labels_for(real_labels, r.shape[0], "real_labels")
    k = _class_count(num_classes, yf, yr)
    fake_parts, real_parts = by_class(f, yf, k, "fake_feats"), by_class(r, yr, k, "real_feats")
    for c, (a, b) in enumerate(zip(fake_parts, real_parts)):
        if a.shape[0] < 2 or b.shape[0] < 2:
            raise UserError(
                f"intra_fid needs at least 2 samples of every class on both sides, but class "
                f"{c} has {a.shape[0]} generated and {b.shape[0]} real: generate at least "
                f"2 per class (n >= {2 * k} for {k} classes, split evenly by "
                "ganforge.sampling.balanced_labels) and compare with real data holding every "
                "class")
    per_class = [frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
                 for a, b in zip(fake_parts, real_parts)]
    return {"intra_fid": sum(per_class) / k, "per_class": per_class}
