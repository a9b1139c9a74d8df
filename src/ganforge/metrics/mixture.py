"""Mode coverage on the 2-D Gaussian mixtures, PacGAN protocol (Lin et al. 2018, after
VEEGAN, Srivastava et al. 2017).

Each generated point is assigned to its nearest mode; it is *high quality* if it lies within
``n_std`` standard deviations of that mode (distance / std < 3). A mode is *covered* if at
least one high-quality point is assigned to it. ``reverse_kl`` is KL(p || uniform) of the
histogram p of the high-quality points' modes (the PacGAN table's "reverse KL"; our own
definition stated here because PacGAN's code is not explicit about it), with 0 log 0 = 0.
"""

from __future__ import annotations

import math

from .._lazy import torch

from ..data.mixtures import grid25_modes, ring8_modes
from ..errors import UserError

MIXTURES = {"ring8": (ring8_modes, 0.01), "grid25": (grid25_modes, 0.05)}


def mixture_modes(points, dataset: str = "grid25", n_std: float = 3.0) -> dict[str, float]:
    """points: (N, 2). Returns modes covered, fraction of high-quality points, reverse KL."""
    if dataset not in MIXTURES:
        raise UserError(f"unknown mixture {dataset!r}: use one of {', '.join(MIXTURES)}")
    make_modes, std = MIXTURES[dataset]
    modes = make_modes().double()
    x = torch.as_tensor(points).double().reshape(-1, 2)
    dist, nearest = torch.cdist(x, modes).min(dim=1)
    good = dist / std < n_std
    counts = torch.bincount(nearest[good], minlength=len(modes)).double()
    total = counts.sum()
    if total > 0:
        p = counts / total
        nz = p > 0
        reverse_kl = float((p[nz] * (p[nz] * len(modes)).log()).sum())
    else:
        reverse_kl = math.inf
    return {"modes": int((counts > 0).sum()), "high_quality": float(good.double().mean()),
            "reverse_kl": reverse_kl}
