"""The metric registry: every name ``--metrics`` and ``eval.metrics`` accept, and what it is.

Torch-free, so a config with an unknown metric is refused before anything is built.
``metrics/suite.py`` computes them.
"""

from __future__ import annotations

from ..errors import UserError, nearest
from .mixture import MIXTURES

METRICS = {
    "fid": "Frechet distance of feature Gaussians (Heusel et al. 2017)",
    "kid": "kernel inception distance, unbiased MMD^2 (Binkowski et al. 2018)",
    "pr": "precision and recall, k-NN manifolds (Kynkaanniemi et al. 2019)",
    "dc": "density and coverage (Naeem et al. 2020)",
    "is": "Inception-Score-style, from the feature network's classifier (Salimans et al. 2016)",
    "classes": "class histogram KL to uniform and classes covered",
    "modes": "2-D mixtures: modes covered, high-quality share, reverse KL (PacGAN)",
    "conditional_accuracy": "class-conditional G: share of samples the classifier assigns to "
                            "the class they were generated for",
    "intra_fid": "class-conditional G: mean over classes of the FID within each class "
                 "(Miyato & Koyama 2018)",
}
FEATURE_METRICS = ("fid", "kid", "pr", "dc")
LOGIT_METRICS = ("is", "classes")
# Need the class each sample was generated for (and, for intra_fid, the real data's labels).
CONDITIONAL_METRICS = ("conditional_accuracy", "intra_fid")


def parse_metrics(spec: str, dataset: str | None) -> list[str] | None:
    """``"auto"`` -> None (the caller picks by data and feature network); a comma-separated
    list -> the checked names, each once. ``dataset=None``: names only (the data is not
    known yet)."""
    if spec.strip() == "auto":
        return None
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise UserError("the metric list is empty: give e.g. fid,kid,pr,dc or auto")
    for name in names:
        if name not in METRICS:
            raise UserError(f"unknown metric {name!r}{nearest(name, METRICS)}; choose from "
                            f"{', '.join(METRICS)} or auto")
        if name == "modes" and dataset is not None and dataset not in MIXTURES:
            raise UserError(f"the modes metric is for the 2-D mixtures ({', '.join(MIXTURES)}), "
                            f"not {dataset!r}: use fid,kid,pr,dc")
    return list(dict.fromkeys(names))
