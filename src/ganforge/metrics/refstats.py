"""Reference statistics of the real data: computed once, cached on disk.

Features of the first ``count`` real samples (plus their mean and covariance for FID) are
stored under ``$GANFORGE_CACHE`` (default ``~/.cache/ganforge``) in ``refstats/``, keyed by
data set, split, the feature network's weight hash, the count, and a hash of the samples
themselves, so a changed data file or a retrained network never reads a stale entry. Files
are written atomically and read with ``weights_only=True``; an unreadable entry is recomputed.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from .features import FeatureNet
from .fid import gaussian_stats


def cache_root() -> Path:
    """``$GANFORGE_CACHE``, else ``~/.cache/ganforge``."""
    return Path(os.environ.get("GANFORGE_CACHE") or Path.home() / ".cache" / "ganforge")


@dataclass
class RefStats:
    features: torch.Tensor      # (count, D) float32
    mu: torch.Tensor            # (D,) float64
    sigma: torch.Tensor         # (D, D) float64
    path: Path
    cached: bool                # True: read from disk, False: computed now


def data_hash(x: torch.Tensor) -> str:
    return hashlib.sha256(x.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def cache_path(dataset: str, split: str, net: FeatureNet, count: int, x: torch.Tensor,
               root: Path | None = None) -> Path:
    key = hashlib.sha256(f"{dataset}|{split}|{net.sha256}|{count}|{data_hash(x)}".encode())
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(dataset).name or dataset)
    return (root or cache_root()) / "refstats" / f"{slug}-{split}-{count}-{key.hexdigest()[:20]}.pt"


def reference_stats(x: torch.Tensor, net: FeatureNet, dataset: str, split: str,
                    count: int | None = None, root: Path | None = None) -> RefStats:
    """Features and Gaussian statistics of x[:count] (N, *sample_shape) under ``net``."""
    x = x[:count] if count else x
    count = x.shape[0]
    path = cache_path(dataset, split, net, count, x, root)
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            return RefStats(state["features"], state["mu"], state["sigma"], path, True)
        except Exception:  # noqa: BLE001 - any unreadable cache entry is just recomputed
            pass  # (torch.load raises many types on truncated or foreign files)
    feats = net.features(x)
    mu, sigma = gaussian_stats(feats) if count >= 2 else (None, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save({"features": feats, "mu": mu, "sigma": sigma,
                "meta": {"dataset": dataset, "split": split, "count": count,
                         "feature_net": net.name, "feature_net_sha256": net.sha256}}, tmp)
    os.replace(tmp, path)
    return RefStats(feats, mu, sigma, path, False)
