"""A dataset saved with numpy: one .npy array, or one array picked from a .npz archive.

Layouts: (N, D) vectors ("points" when D == 2); (N, H, W) grayscale images; (N, C, H, W) or
(N, H, W, C) images with C in {1, 3, 4}. uint8 arrays are pixels and are scaled to [-1, 1].
Float arrays are kept exactly as saved: whether they fit the generator's output range is the
range check's decision (data/range_check.py), which reports a mismatch instead of guessing.

A .npz may hold the class labels too, as ``y`` or ``labels`` (int (N,), 0..K-1, every class
present): K = max label + 1 over the whole array, and the classes are named "0", "1", ...
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganforge.data.dataset import Dataset
from ganforge.data.labels import check_labels
from ganforge.data.samples import PixelSamples, TensorSamples, images_from_uint8
from ganforge.errors import UserError

NPZ_KEYS = ("x", "images", "arr_0")  # tried in this order
LABEL_KEYS = ("y", "labels")         # class indices of a .npz; both: they must be equal
CHANNEL_COUNTS = (1, 3, 4)


def _read(path: Path) -> tuple[np.ndarray, str, np.ndarray | None, str | None]:
    """The array in ``path``, a description of where it came from, and the labels of a .npz
    (its ``y`` or ``labels`` array; None without) with theirs."""
    if not path.is_file():
        raise UserError(f"array file {path} does not exist; check the path")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise UserError(
            f"cannot read {path} as a numpy {path.suffix} file ({err}); save it with np.save / "
            "np.savez from a numeric array (object arrays are not loaded)"
        ) from err
    if isinstance(loaded, np.ndarray):
        return loaded, str(path), None, None
    with loaded as archive:
        keys = list(archive.keys())
        key = next((k for k in NPZ_KEYS if k in keys), None)
        others = [k for k in keys if k not in LABEL_KEYS]
        if key is None and len(others) == 1:
            key = others[0]
        if key is None:
            raise UserError(
                f"{path} holds arrays {keys}; ganforge reads the key 'x', 'images' or 'arr_0' "
                "(or the only array besides the labels 'y' / 'labels'): re-save with "
                "np.savez(path, x=your_array)"
            )
        labels, label_key = None, None
        for k in LABEL_KEYS:
            if k not in keys:
                continue
            try:
                found = archive[k]
            except ValueError as err:   # an object array: not loaded (allow_pickle=False)
                raise UserError(f"cannot read {path} key {k!r} ({err}): save the labels as "
                                "an integer array") from err
            if labels is None:
                labels, label_key = found, k
            elif found.shape != labels.shape or not np.array_equal(found, labels):
                raise UserError(
                    f"{path} holds labels under both 'y' and 'labels', and they differ: keep "
                    "one of them (np.savez(path, x=..., y=...))")
        where = f"{path} (key {label_key!r})" if labels is not None else None
        return archive[key], f"{path} (key {key!r})", labels, where


def _to_nchw(a: np.ndarray, where: str) -> tuple[np.ndarray, str]:
    """(N, D) stays as it is; images become (N, C, H, W). Returns the array and its kind."""
    if a.ndim == 2:
        return a, "points" if a.shape[1] == 2 else "vector"
    if a.ndim == 3:
        return a[:, None], "image"
    if a.shape[3] in CHANNEL_COUNTS and a.shape[1] not in CHANNEL_COUNTS:
        return a.transpose(0, 3, 1, 2), "image"  # channels-last (N, H, W, C)
    if a.shape[1] in CHANNEL_COUNTS:
        return a, "image"
    raise UserError(
        f"array in {where} has shape {a.shape}: a 4-D array must be (N, C, H, W) or "
        f"(N, H, W, C) with C in {CHANNEL_COUNTS}; reshape it"
    )


def load_array(path: str | Path, limit: int | None = None) -> Dataset:
    """A .npy / .npz file: (N, D), or (N, C, H, W) for images; a .npz's ``y`` or ``labels``
    array gives labels int64 (N,) and classes "0".."K-1" (module docstring).

    uint8 -> read scaled to [-1, 1] (images stay uint8 in memory until a batch is read); any
    other numeric dtype -> float32 with values unchanged.
    limit: keep the first ``limit`` samples.
    """
    path = Path(path)
    a, where, y, y_where = _read(path)
    if a.ndim not in (2, 3, 4):
        raise UserError(
            f"array in {where} has shape {a.shape} ({a.ndim}-D); expected (N, D) vectors, "
            "(N, H, W), (N, C, H, W) or (N, H, W, C) images"
        )
    if a.size == 0:
        raise UserError(f"array in {where} is empty (shape {a.shape}); save the data itself")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or np.iscomplexobj(a):
        raise UserError(f"array in {where} has dtype {a.dtype}; save real numbers or uint8 pixels")
    labels, classes = None, None
    if y is not None:   # checked whole, so K does not depend on the limit
        labels = check_labels(y, a.shape[0], source=y_where)
        classes = [str(i) for i in range(int(labels.max()) + 1)]
        labels = labels[:limit].clone()
    a = a[:limit]
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise UserError(
            f"array in {where} contains {bad:,} NaN or inf values; remove or replace them"
        )
    a, kind = _to_nchw(a, where)
    if a.dtype == np.uint8 and kind == "image":   # pixels stay 8-bit until a batch is read
        samples, scaled = PixelSamples.from_numpy(a), ", uint8 scaled to [-1, 1]"
    else:
        if a.dtype == np.uint8:
            x, scaled = images_from_uint8(a), ", uint8 scaled to [-1, 1]"
        else:
            x, scaled = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)), ""
        if not torch.isfinite(x).all():  # e.g. float64 values beyond float32's range
            raise UserError(f"array in {where} has values too large for float32; rescale it")
        samples = TensorSamples(x)
    in_classes = f", labels {y_where} in {len(classes)} classes" if classes else ""
    return Dataset(
        samples=samples,
        labels=labels,
        name="array",
        kind=kind,
        source=f"array {samples.shape} {a.dtype}{scaled} from {where}{in_classes}",
        classes=classes,
    )
