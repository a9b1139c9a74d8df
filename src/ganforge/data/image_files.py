"""The image files of a source: a folder (searched recursively) or a .zip (read in place).

Names are relative POSIX paths in sorted order, so a folder and a zip of it list the same
names. Images are read with Pillow: grayscale ("L", "1") or converted to RGB; 16-bit and float
images are refused (Pillow's conversion to 8 bits would clip them). No torch here.
"""

from __future__ import annotations

import io
import os
import threading
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from ..errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GRAY_MODES = ("L", "1")
# 16-bit and float images would be clipped by Pillow's conversion to 8 bits.
UNSUPPORTED_MODES = ("I", "I;16", "I;16B", "I;16L", "F")
UNREADABLE = (OSError, SyntaxError, ValueError, zipfile.BadZipFile, Image.DecompressionBombError)


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


class ImageFiles:
    """The images of ``src`` (a folder or a .zip): ``names`` (sorted relative paths),
    ``size(name)`` in bytes, ``open(name)`` a binary file. Safe to read from several threads."""

    def __init__(self, src: str | os.PathLike):
        self.src = Path(src)
        self._zip: zipfile.ZipFile | None = None
        self._lock = threading.Lock()
        if self.src.is_dir():
            files = [p for p in self.src.rglob("*") if is_image_name(p.name) and p.is_file()]
            self._sizes = {p.relative_to(self.src).as_posix(): p.stat().st_size for p in files}
        elif self.src.is_file():
            try:
                self._zip = zipfile.ZipFile(self.src)
            except (zipfile.BadZipFile, OSError) as err:
                raise UserError(f"{self.src} is neither a folder nor a readable .zip ({err}); "
                                "give a folder of images or a zip of one") from err
            self._sizes = {i.filename: i.file_size for i in self._zip.infolist()
                           if not i.is_dir() and is_image_name(i.filename)
                           and not i.filename.startswith("__MACOSX/")}
        else:
            raise UserError(f"{self.src} does not exist: give a folder of images or a .zip")
        self.names = sorted(self._sizes)

    def size(self, name: str) -> int:
        return self._sizes[name]

    def open(self, name: str) -> BinaryIO:
        if self._zip is None:
            return open(self.src / name, "rb")
        with self._lock:   # one shared file handle underneath
            return io.BytesIO(self._zip.read(name))

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> "ImageFiles":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_header(f: BinaryIO) -> tuple[tuple[int, int], str]:
    """(width, height), mode of an image file, from its header only."""
    with Image.open(f) as img:
        return img.size, img.mode


def read_pixels(f: BinaryIO, mode: str) -> np.ndarray:
    """(H, W, C) uint8 pixels of an image converted to ``mode`` ("L" or "RGB")."""
    with Image.open(f) as img:
        img.load()
        return np.asarray(img.convert(mode), dtype=np.uint8).reshape(img.height, img.width, -1)


def center_crop_resize(pixels: np.ndarray, resolution: int) -> np.ndarray:
    """(H, W, C) -> (resolution, resolution, C): the centered square of side min(H, W), then
    resized with Lanczos; unchanged when already that size. NVlabs' dataset_tool
    ``--transform=center-crop``: the same square as resizing the short side to
    ``resolution`` and cropping the middle."""
    h, w = pixels.shape[:2]
    if (h, w) == (resolution, resolution):
        return pixels
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = pixels[top:top + side, left:left + side]
    img = Image.fromarray(square[..., 0] if square.shape[2] == 1 else square)
    out = np.asarray(img.resize((resolution, resolution), Image.LANCZOS), dtype=np.uint8)
    return out.reshape(resolution, resolution, -1)


def class_labels(names: list[str]) -> tuple[list[str], list[int]] | None:
    """(classes, label of each name) when every image is inside a sub-folder and there are at
    least two: class = the first folder of the path, indices in sorted order of the folder
    names (torchvision's ImageFolder). None otherwise."""
    tops = [n.split("/", 1)[0] if "/" in n else None for n in names]
    if not tops or None in tops:
        return None
    classes = sorted(set(tops))
    if len(classes) < 2:
        return None
    index = {c: i for i, c in enumerate(classes)}
    return classes, [index[t] for t in tops]
