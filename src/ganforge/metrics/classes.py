"""Class statistics of generated samples, read by a classifier (labelled data sets).

The histogram of the classifier's predicted classes (argmax), its KL divergence to the uniform
distribution (0 when every class is generated equally often, log C when only one is), and the
number of classes covered: a class counts as covered when it receives at least
``min_share`` of its uniform share of the samples (default 10%, i.e. 1% of the samples for 10
classes), so a handful of misclassified samples does not make a missing class look present.
"""

from __future__ import annotations

import math

import torch

from ..errors import UserError
from ._matrix import as_matrix


def class_stats(probs, min_share: float = 0.1) -> dict:
    """probs or logits (N, C) -> {"class_kl": float, "classes_covered": int,
    "class_histogram": list of C fractions}. Only the argmax of each row is used."""
    scores = as_matrix(probs, "probs")
    if not 0 <= min_share <= 1:
        raise UserError(f"min_share must be in [0, 1], got {min_share}")
    n, c = scores.shape
    counts = torch.bincount(scores.argmax(1), minlength=c).double()
    hist = counts / n
    nz = hist > 0
    kl = float((hist[nz] * (hist[nz] * c).log()).sum())
    covered = int((hist >= min_share / c).sum()) if min_share > 0 else int(nz.sum())
    return {"class_kl": max(kl, 0.0), "classes_covered": covered,
            "class_histogram": [float(h) for h in hist], "class_kl_max": math.log(c)}
