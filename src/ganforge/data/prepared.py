"""A prepared dataset: images decoded once by ``ganforge prepare`` (``data/prepare.py``) into
a directory that ``data=DIR`` opens without decoding anything.

Layout of ``DIR``::

    images.u8    the pixels, raw uint8 in C order, shape (N, C, H, W): no header, so the
                 file is exactly N * C * H * W bytes and row i starts at byte i * C * H * W
    labels.i64   (only when the source's sub-folders are classes) int64 little-endian (N,)
    meta.json    written last: its presence is what makes DIR a prepared dataset

``meta.json`` holds ``format``/``version`` (this layout), ``shape``, ``dtype``, ``layout``,
``classes`` (label i is ``classes[i]``) or null, the source, its file count and the sha256 of
its sorted list of (name, size), ``images_sha256`` (of images.u8, computed while writing),
``resolution`` and ``resize``, ``skipped`` (unreadable files left out with --skip-bad), and
the ganforge version.

Opening reads meta.json and checks the file sizes: no time, no memory. The rows of a batch are
read from images.u8 when the batch is drawn (:class:`~ganforge.data.samples.PixelFile`), so
memory use does not grow with the dataset, and a dataset larger than RAM trains from the disk
through the page cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError

if TYPE_CHECKING:
    from .dataset import Dataset

FORMAT = "ganforge-prepared"
VERSION = 1
META = "meta.json"
IMAGES = "images.u8"
LABELS = "labels.i64"
LAYOUT = "NCHW"


def is_prepared(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory holding a prepared dataset (its meta.json)."""
    return (Path(path) / META).is_file()


def read_meta(root: Path) -> dict:
    """meta.json of ``root``, checked for the keys and values this reader relies on."""
    path = root / META
    try:
        meta = json.loads(path.read_text())
    except OSError as err:
        raise UserError(f"cannot read {path}: {err}; check the permissions") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is damaged ({err}): prepare the dataset again with "
                        "ganforge prepare SRC DST") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{path} is not a ganforge prepared dataset (no \"format\": "
                        f"\"{FORMAT}\"); prepare one with ganforge prepare SRC DST")
    if meta.get("version") != VERSION:
        raise UserError(f"{root} was prepared in format version {meta.get('version')!r}; this "
                        f"ganforge reads version {VERSION}: prepare it again with this version")
    shape = meta.get("shape")
    if (not isinstance(shape, list) or len(shape) != 4
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
            or shape[1] not in (1, 3)):
        raise UserError(f"{path} has shape {shape!r}; expected [N, C, H, W] with C 1 or 3: "
                        "the file is damaged, prepare the dataset again")
    if meta.get("dtype") != "uint8" or meta.get("layout") != LAYOUT:
        raise UserError(f"{path} says dtype {meta.get('dtype')!r}, layout "
                        f"{meta.get('layout')!r}; this ganforge reads uint8 {LAYOUT}: prepare "
                        "the dataset again")
    return meta


def _check_size(path: Path, expected: int, what: str) -> None:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise UserError(f"the prepared dataset lacks {path} ({err.strerror}): copy the whole "
                        "directory, or prepare it again") from err
    if size != expected:
        raise UserError(
            f"{path} has {size:,} bytes but meta.json promises {expected:,} ({what}): the "
            "file is damaged or from another preparation; prepare the dataset again")


def load_prepared(path: str | os.PathLike, limit: int | None = None) -> "Dataset":
    """The prepared dataset in directory ``path``, read from its file batch by batch: x
    (N, C, H, W) in [-1, 1] when read; labels int64 (N,) and the class names (meta.json's
    ``classes``) when the source had class sub-folders.
    limit: the first ``limit`` images (the classes stay those of all N)."""
    import numpy as np   # here: ganforge prepare's parser imports this module's names

    from .dataset import Dataset
    from .labels import check_labels
    from .samples import PixelFile, PixelSamples

    root = Path(path)
    meta = read_meta(root)
    n, c, h, w = meta["shape"]
    images = root / IMAGES
    _check_size(images, n * c * h * w, f"{n:,} images of {c}x{h}x{w} uint8")
    classes = meta.get("classes")
    labels = None
    if classes is not None:
        damaged = "the file is damaged or was edited: prepare the dataset again"
        _check_size(root / LABELS, n * 8, f"{n:,} int64 labels")
        # All N are checked (8 bytes each), so damage is found whatever the limit.
        every = check_labels(np.fromfile(root / LABELS, dtype="<i8"), n, classes,
                             source=str(root / LABELS), fix=damaged)
        labels = every[:limit].clone()
    count = n if limit is None else min(limit, n)
    try:
        pixels = PixelFile(images, (count, c, h, w))   # the first rows: a shorter view
    except OSError as err:
        raise UserError(f"cannot open {images}: {err.strerror}; check the permissions") from err
    color = "grayscale" if c == 1 else "RGB"
    first = "the first " if count < n else ""
    in_classes = f" in {len(classes)} classes" if classes is not None else ""
    return Dataset(
        samples=PixelSamples(pixels),
        labels=labels,
        name="prepared",
        kind="image",
        source=f"{first}{count:,} {color} {w}x{h} images{in_classes} prepared from "
               f"{meta.get('source')} (read from {root} batch by batch)",
        classes=classes,
    )
