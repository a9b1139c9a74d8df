"""A dataset saved with numpy: one .npy array, or one array picked from a .npz archive.

Layouts: (N, D) vectors ("points" when D == 2); (N, H, W) grayscale images; (N, C, H, W) or
(N, H, W, C) images with C in {1, 3, 4}. uint8 arrays are pixels and are scaled to [-1, 1].
Float arrays are kept exactly as saved: whether they fit the generator's output range is the
range check's decision (data/range_check.py), which reports a mismatch instead of guessing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganforge.data.dataset import Dataset
from ganforge.data.samples import PixelSamples, TensorSamples, images_from_uint8
from ganforge.errors import UserError

NPZ_KEYS = ("x", "images", "arr_0")  # tried in this order
CHANNEL_COUNTS = (1, 3, 4)


def _read(path: Path) -> tuple[np.ndarray, str]:
    """The array in ``path`` and a description of where it came from."""
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
        return loaded, str(path)
    with loaded as archive:
        keys = list(archive.keys())
        key = next((k for k in NPZ_KEYS if k in keys), None)
        if key is None and len(keys) == 1:
            key = keys[0]
        if key is None:
            raise UserError(
                f"{path} holds arrays {keys}; ganforge reads the key 'x', 'images' or 'arr_0' "
                "(or the only array): re-save with np.savez(path, x=your_array)"
            )
        return archive[key], f"{path} (key {key!r})"


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
    """A .npy / .npz file: (N, D), or (N, C, H, W) for images.

    uint8 -> read scaled to [-1, 1] (images stay uint8 in memory until a batch is read); any
    other numeric dtype -> float32 with values unchanged.
    limit: keep the first ``limit`` samples.
    """
    path = Path(path)
    a, where = _read(path)
    if a.ndim not in (2, 3, 4):
        raise UserError(
            f"array in {where} has shape {a.shape} ({a.ndim}-D); expected (N, D) vectors, "
            "(N, H, W), (N, C, H, W) or (N, H, W, C) images"
        )
    if a.size == 0:
        raise UserError(f"array in {where} is empty (shape {a.shape}); save the data itself")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or np.iscomplexobj(a):
        raise UserError(f"array in {where} has dtype {a.dtype}; save real numbers or uint8 pixels")
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
    return Dataset(
        samples=samples,
        labels=None,
        name="array",
        kind=kind,
        source=f"array {samples.shape} {a.dtype}{scaled} from {where}",
    )
