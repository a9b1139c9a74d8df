"""The one entry point that turns a data spec into a :class:`~ganforge.data.dataset.Dataset`:
a named dataset (``fashion-mnist``, ``ring8``, ``grid25``) or a path (a prepared dataset: a
directory with a meta.json from ``ganforge prepare``; an image folder or a .zip of images; a
``.npy`` or a ``.npz``)."""

from __future__ import annotations

import os

from ganforge.data.arrays import load_array
from ganforge.data.dataset import Dataset
from ganforge.data.fashion_mnist import load_fashion_mnist
from ganforge.data.folder import load_folder
from ganforge.data.mixtures import grid25, ring8
from ganforge.data.prepared import is_prepared, load_prepared
from ganforge.errors import UserError, nearest

NAMED_DATASETS = ("fashion-mnist", "ring8", "grid25")
ARRAY_SUFFIXES = (".npy", ".npz")


def load_dataset(
    spec: str, root: str | None = None, limit: int | None = None, seed: int = 0
) -> Dataset:
    """Load ``spec``: "fashion-mnist", "ring8", "grid25", or a path to a prepared dataset
    (read batch by batch, nothing decoded), an image folder or .zip (decoded), a .npy / .npz.

    root: only for fashion-mnist, the directory holding its IDX .gz files.
    limit: keep the first ``limit`` samples (None keeps all).
    seed: seeds the mixture sampling (ring8, grid25); the other sources are deterministic.
    """
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
        if is_prepared(path):
            return load_prepared(path, limit=limit)
        return load_folder(path, limit=limit)
    if os.path.isfile(path) and path.lower().endswith(".zip"):
        return load_folder(path, limit=limit)
    if os.path.isfile(path):
        raise UserError(
            f"cannot load {spec!r} as a dataset: a file must be .npy or .npz, or a .zip of "
            "images (or give a folder of .png/.jpg images, or one prepared with ganforge "
            "prepare)"
        )
    raise UserError(
        f"unknown dataset {spec!r}{nearest(spec, NAMED_DATASETS)}: use one of "
        f"{', '.join(NAMED_DATASETS)}, or a path to an existing image folder, prepared "
        "dataset, .zip, .npy or .npz file (no such path exists)"
    )
