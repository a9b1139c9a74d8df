"""The in-memory dataset record and the one entry point that turns a spec into it.

Every loader returns a :class:`Dataset` whose ``x`` is a float32 tensor held in memory. Images
from 8-bit sources are scaled to [-1, 1]; float arrays are kept as they are, because only the
range check (``data/range_check.py``) knows the generator's output range and can tell whether
they fit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from ganforge._lazy import torch

from ganforge.errors import UserError, nearest

NAMED_DATASETS = ("fashion-mnist", "ring8", "grid25")
ARRAY_SUFFIXES = (".npy", ".npz")


@dataclass
class Dataset:
    """A whole dataset in memory.

    x: float32. Images are (N, C, H, W), scaled to [-1, 1] when they came from 8-bit pixels
       (float arrays are kept unscaled); points/vectors are (N, D) and never rescaled.
    labels: int64 (N,) or None.
    name: "fashion-mnist", "ring8", "grid25", "folder" or "array".
    kind: "image", "points" (D == 2, plottable) or "vector".
    source: one human-readable line saying what was loaded and from where.
    modes, mode_std: for the Gaussian mixtures, the (M, 2) mode means and the per-axis std.
    """

    x: torch.Tensor
    labels: torch.Tensor | None
    name: str
    kind: str
    source: str
    modes: torch.Tensor | None = None
    mode_std: float | None = None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, ``x.shape[1:]``: (C, H, W) for images, (D,) otherwise."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return self.x.shape[0]


def images_from_uint8(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 (N, C, H, W) in [-1, 1]; 0 -> -1 and 255 -> 1 exactly."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).to(torch.float32) / 127.5 - 1.0


def load_dataset(
    spec: str, root: str | None = None, limit: int | None = None, seed: int = 0
) -> Dataset:
    """Load ``spec``: "fashion-mnist", "ring8", "grid25", or a path to a folder / .npy / .npz.

    root: only for fashion-mnist, the directory holding its IDX .gz files.
    limit: keep the first ``limit`` samples (None keeps all).
    seed: seeds the mixture sampling (ring8, grid25); the other sources are deterministic.
    """
    # Imported here because every loader imports Dataset from this module.
    from ganforge.data.arrays import load_array
    from ganforge.data.fashion_mnist import load_fashion_mnist
    from ganforge.data.folder import load_folder
    from ganforge.data.mixtures import grid25, ring8

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UserError(f"data limit must be a positive integer or None, got {limit!r}")
    if root is not None and spec != "fashion-mnist":
        raise UserError(
            f"data root={root!r} is only used by fashion-mnist, not by {spec!r}: remove root, "
            "or give the folder/file path as the dataset itself"
        )
    if spec == "fashion-mnist":
        return load_fashion_mnist(root=root, split="train", limit=limit)
    if spec == "ring8":
        return ring8(seed=seed, limit=limit)
    if spec == "grid25":
        return grid25(seed=seed, limit=limit)

    path = os.path.expanduser(spec)
    if path.lower().endswith(ARRAY_SUFFIXES):
        return load_array(path, limit=limit)  # a missing file gets its own message there
    if os.path.isdir(path):
        return load_folder(path, limit=limit)
    if os.path.isfile(path):
        raise UserError(
            f"cannot load {spec!r} as a dataset: a file must be .npy or .npz "
            "(or give a folder of .png/.jpg images)"
        )
    raise UserError(
        f"unknown dataset {spec!r}{nearest(spec, NAMED_DATASETS)}: use one of "
        f"{', '.join(NAMED_DATASETS)}, or a path to an existing image folder, .npy or .npz "
        "file (no such path exists)"
    )
