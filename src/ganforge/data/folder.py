"""A folder of PNG/JPEG images (searched recursively), loaded with Pillow into memory.

All images must have one size: resizing silently would change what the GAN learns, so a
mismatch is an error that names two files. Grayscale folders stay 1-channel; anything else
(RGB, RGBA, palette) becomes RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ganforge.data.dataset import Dataset, images_from_uint8
from ganforge.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GRAY_MODES = ("L", "1")
# 16-bit and float images would be clipped by Pillow's conversion to 8 bits.
UNSUPPORTED_MODES = ("I", "I;16", "I;16B", "I;16L", "F")


def image_files(root: Path) -> list[Path]:
    """All .png/.jpg/.jpeg files under ``root`` (any letter case), sorted by relative path."""
    files = [p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _header(path: Path) -> tuple[tuple[int, int], str]:
    """(width, height), mode of one image, read from its header only."""
    try:
        with Image.open(path) as img:
            return img.size, img.mode
    except (OSError, SyntaxError, ValueError) as err:
        raise UserError(f"cannot read image {path}: {err}; delete or re-save it") from err


def _pixels(path: Path, mode: str) -> np.ndarray:
    """(H, W, C) uint8 pixels of one image converted to ``mode`` ("L" or "RGB")."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert(mode), dtype=np.uint8).reshape(img.height, img.width, -1)
    except (OSError, SyntaxError, ValueError) as err:
        raise UserError(f"cannot read image {path}: {err}; delete or re-save it") from err


def load_folder(path: str | Path, limit: int | None = None) -> Dataset:
    """Images under ``path`` as x (N, C, H, W) float32 in [-1, 1], C = 1 (all grayscale) or 3.

    limit: load only the first ``limit`` files in sorted order.
    """
    root = Path(path)
    files = image_files(root)[:limit]
    if not files:
        raise UserError(
            f"no images in folder {root}: expected .png, .jpg or .jpeg files (searched "
            "recursively); check the path"
        )
    headers = [_header(p) for p in files]
    first_size = headers[0][0]
    for file, (size, mode) in zip(files, headers):
        if size != first_size:
            raise UserError(
                f"images in {root} have different sizes: {files[0]} is {first_size[0]}x"
                f"{first_size[1]} but {file} is {size[0]}x{size[1]} (width x height); "
                "resize them all to one size first"
            )
        if mode in UNSUPPORTED_MODES:
            raise UserError(
                f"image {file} has 16-bit or float pixels (mode {mode}); "
                "save it as 8-bit PNG/JPEG first"
            )
    mode = "L" if all(m in GRAY_MODES for _, m in headers) else "RGB"
    width, height = first_size
    pixels = np.empty((len(files), height, width, 1 if mode == "L" else 3), dtype=np.uint8)
    for i, file in enumerate(files):
        pixels[i] = _pixels(file, mode)
    return Dataset(
        x=images_from_uint8(pixels.transpose(0, 3, 1, 2)),
        labels=None,
        name="folder",
        kind="image",
        source=f"{len(files):,} {'grayscale' if mode == 'L' else 'RGB'} {width}x{height} "
        f"images from {root}",
    )
