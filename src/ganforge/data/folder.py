"""A folder of PNG/JPEG images (searched recursively), or a .zip of one, decoded into memory
as 8-bit pixels.

All images must have one size: resizing silently would change what the GAN learns, so a
mismatch is an error that names two files (``ganforge prepare --resolution N`` crops and
resizes them once, on purpose). Grayscale folders stay 1-channel; anything else (RGB, RGBA,
palette) becomes RGB. The folder is decoded at every start; ``ganforge prepare`` decodes it
once into a file that opens at once (``data/prepare.py``).

Classes, as torchvision's ImageFolder: when every image is inside a sub-folder and there are at
least two, the sub-folders are the classes (sorted names -> labels 0, 1, ...; an image's class
is the first folder of its path). A flat folder, or one with images beside its sub-folders, has
no labels. The classes come from all the files, so ``limit`` does not change K.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganforge.data.dataset import Dataset
from ganforge.data.image_files import (GRAY_MODES, IMAGE_SUFFIXES, UNREADABLE, UNSUPPORTED_MODES,
                                       ImageFiles, class_labels, read_header, read_pixels)
from ganforge.data.labels import check_labels
from ganforge.data.progress import Progress
from ganforge.data.samples import PixelSamples
from ganforge.errors import UserError

__all__ = ["IMAGE_SUFFIXES", "image_files", "load_folder"]
PREPARE_HINT = 10_000   # from this many images on, the source line suggests ganforge prepare


def image_files(root: Path) -> list[Path]:
    """All .png/.jpg/.jpeg files under ``root`` (any letter case), sorted by relative path."""
    return [root / name for name in ImageFiles(root).names]


def _read(files: ImageFiles, name: str, read, *args):
    try:
        with files.open(name) as f:
            return read(f, *args)
    except UNREADABLE as err:
        raise UserError(f"cannot read image {files.src / name}: {err}; delete or re-save it, "
                        "or leave it out with ganforge prepare --skip-bad") from err


def load_folder(path: str | Path, limit: int | None = None) -> Dataset:
    """Images under ``path`` (a folder or a .zip) as pixels (N, C, H, W) uint8, read as
    float32 in [-1, 1]; C = 1 (all grayscale) or 3. Labels and classes from the class
    sub-folders, if any (module docstring).

    limit: load only the first ``limit`` files in sorted order.
    """
    root = Path(path)
    with ImageFiles(root) as files:
        names = files.names[:limit]
        found = class_labels(files.names)
        classes, labels = None, None
        if found is not None:
            classes = found[0]
            labels = check_labels(found[1], len(files.names), classes,
                                  source=f"the class sub-folders of {root}")[:len(names)].clone()
        if not names:
            raise UserError(
                f"no images in folder {root}: expected .png, .jpg or .jpeg files (searched "
                "recursively); check the path"
            )
        headers = [_read(files, name, read_header) for name in names]
        first_size = headers[0][0]
        for name, (size, mode) in zip(names, headers):
            if size != first_size:
                raise UserError(
                    f"images in {root} have different sizes: {root / names[0]} is "
                    f"{first_size[0]}x{first_size[1]} but {root / name} is {size[0]}x{size[1]} "
                    "(width x height); resize them all to one size first, or prepare them "
                    "with ganforge prepare SRC DST --resolution N"
                )
            if mode in UNSUPPORTED_MODES:
                raise UserError(
                    f"image {root / name} has 16-bit or float pixels (mode {mode}); "
                    "save it as 8-bit PNG/JPEG first"
                )
        mode = "L" if all(m in GRAY_MODES for _, m in headers) else "RGB"
        width, height = first_size
        pixels = np.empty((len(names), 1 if mode == "L" else 3, height, width), dtype=np.uint8)
        with Progress(len(names), f"decoding {root}", leave=False) as progress:
            for i, name in enumerate(names):
                pixels[i] = _read(files, name, read_pixels, mode).transpose(2, 0, 1)
                progress.update()
    n = len(names)
    hint = (f"; decoded at every start: ganforge prepare {root} DST decodes once"
            if n >= PREPARE_HINT else "")
    in_classes = f" in {len(classes)} class sub-folders" if classes is not None else ""
    return Dataset(
        samples=PixelSamples.from_numpy(pixels),
        labels=labels,
        name="folder",
        kind="image",
        source=f"{n:,} {'grayscale' if mode == 'L' else 'RGB'} {width}x{height} "
        f"images from {root}{in_classes}{hint}",
        classes=classes,
    )
