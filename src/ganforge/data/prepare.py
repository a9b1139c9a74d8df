"""``ganforge prepare SRC DST [--resolution N] [--skip-bad]``: decode an image folder or a .zip
once into a prepared dataset (``data/prepared.py``) that ``data=DST`` opens at once.

Two passes over the files, each with a progress bar (plain lines when not on a terminal):
the headers (sizes and colour modes: grayscale stays 1-channel only when every image is), then
the pixels, decoded by a few threads (Pillow decodes without the GIL) and streamed to
``images.u8`` in pieces, so memory use stays one piece whatever the number of images. With
``--resolution N`` every image is center-cropped to a square and resized to N x N with Lanczos
(NVlabs' ``dataset_tool --transform=center-crop``); without it, all images must have one size.
When every image is in a sub-folder and there are at least two, the sub-folders are classes
(sorted names -> 0, 1, ..., as torchvision's ImageFolder): ``labels.i64``.

Files that cannot be read are collected, and listed together at the end: by default the
preparation is refused (nothing is written); ``--skip-bad`` leaves them out and records them
in ``meta.json``. Every file is written atomically (``files.py``), meta.json last, so an
interrupted preparation leaves no directory that looks prepared. No torch here, and numpy and
Pillow are imported when a preparation runs: the command line builds its parser
(:func:`add_arguments`) without them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .. import __version__
from ..errors import UserError
from ..files import CHUNK_BYTES, AtomicFile, check_writable, remove_stale_temps, write_atomic
from .prepared import FORMAT, IMAGES, LABELS, LAYOUT, META, VERSION
from .progress import Progress

if TYPE_CHECKING:
    from .image_files import ImageFiles

MAX_RESOLUTION = 8192
LISTED = 50   # bad files named in the refusal; all of them go to meta.json with --skip-bad
RESIZE = "center crop to a square, then Lanczos resize (dataset_tool center-crop)"


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments of ``ganforge prepare`` (run them with :func:`prepare_from_args`)."""
    parser.add_argument("src", help="a folder of .png/.jpg images (searched recursively) or "
                                    "a .zip of one")
    parser.add_argument("dst", help="the directory to write (new, or empty); train on it "
                                    "with data=DST")
    parser.add_argument("--resolution", type=int, default=None, metavar="N",
                        help="center-crop every image to a square and resize it to N x N "
                             "(Lanczos); default: keep the size, which all images must share")
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave out files that cannot be read (listed in meta.json) "
                             "instead of refusing")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="decoding threads (default: the CPU count, at most 8)")
    return parser


def prepare_from_args(args: argparse.Namespace, log: Callable[[str], None] = print) -> Path:
    return prepare(args.src, args.dst, resolution=args.resolution, skip_bad=args.skip_bad,
                   workers=args.workers, log=log)


def _check_dst(src: Path, dst: Path) -> None:
    if dst.resolve() == src.resolve():
        raise UserError(f"DST {dst} is SRC itself: write the prepared dataset somewhere else")
    if dst.exists() and not dst.is_dir():
        raise UserError(f"DST {dst} is a file: give a new or empty directory")
    if (dst / META).exists():
        raise UserError(f"{dst} already holds a prepared dataset: delete it first, or give "
                        "another DST")
    # What an interrupted preparation leaves (no meta.json) may be overwritten.
    ours = {IMAGES, LABELS}
    others = [p.name for p in dst.iterdir() if p.name not in ours
              and ".tmp-" not in p.name] if dst.is_dir() else []
    if others:
        raise UserError(f"DST {dst} is not empty (it holds {', '.join(sorted(others)[:3])}"
                        f"{', ...' if len(others) > 3 else ''}): give a new or empty directory")


def _why(err: Exception) -> str:
    from PIL import UnidentifiedImageError

    if isinstance(err, UnidentifiedImageError):
        return "not an image Pillow can read (damaged, or another format)"
    return f"{type(err).__name__}: {err}"


def _files(n: int) -> str:
    return f"{n:,} file{'s' if n != 1 else ''}"


def _bad_list(bad: dict[str, str]) -> str:
    lines = [f"  {name}: {why}" for name, why in list(bad.items())[:LISTED]]
    if len(bad) > LISTED:
        lines.append(f"  ... and {len(bad) - LISTED:,} more")
    return "\n".join(lines)


def _source_hash(files: "ImageFiles") -> str:
    """sha256 of the sorted (name, size) list: which files, not their bytes (those would
    cost a second read of the whole source)."""
    h = hashlib.sha256()
    for name in files.names:
        h.update(f"{name}\t{files.size(name)}\n".encode())
    return h.hexdigest()


def prepare(src: str | os.PathLike, dst: str | os.PathLike, resolution: int | None = None,
            skip_bad: bool = False, workers: int | None = None,
            log: Callable[[str], None] = print) -> Path:
    """Decode the images of ``src`` (a folder or a .zip) once into directory ``dst``; returns
    ``dst``. See the module docstring for the layout, the options and the checks."""
    import numpy as np

    from .image_files import GRAY_MODES, ImageFiles, class_labels
    start = time.perf_counter()
    src, dst = Path(src).expanduser(), Path(dst).expanduser()
    if resolution is not None and (isinstance(resolution, bool) or not isinstance(resolution, int)
                                   or not 1 <= resolution <= MAX_RESOLUTION):
        raise UserError(f"--resolution must be a whole number of pixels in 1..{MAX_RESOLUTION}, "
                        f"got {resolution!r}")
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    workers = workers or min(8, os.cpu_count() or 1)
    with ImageFiles(src) as files:
        names = files.names
        if not names:
            raise UserError(f"no images in {src}: expected .png, .jpg or .jpeg files (searched "
                            "recursively); check the path")
        _check_dst(src, dst)
        created = not dst.exists()
        check_writable(dst)
        remove_stale_temps(dst)
        log(f"preparing {len(names):,} images from {src} in {dst}")
        bad: dict[str, str] = {}
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="ganforge-prepare") as pool:
                headers = _headers(files, names, pool, bad, log)
                good = [n for n in names if n not in bad]
                if not good:
                    raise UserError(f"none of the {len(names):,} images in {src} can be "
                                    f"read:\n{_bad_list(bad)}")
                mode = "L" if all(headers[n][1] in GRAY_MODES for n in good) else "RGB"
                c = 1 if mode == "L" else 3
                h, w = _output_size(src, good, headers, resolution)
                kept, digest = _write_pixels(files, good, (c, h, w), mode, resolution, pool,
                                             dst, bad, skip_bad, log)
        except BaseException:
            if created and not any(dst.iterdir()):
                dst.rmdir()   # refused or stopped: leave no trace
            raise
        labels = class_labels(kept)
        if labels is not None:
            write_atomic(dst / LABELS, np.asarray(labels[1], dtype="<i8").tobytes())
        meta = {
            "format": FORMAT, "version": VERSION, "shape": [len(kept), c, h, w],
            "dtype": "uint8", "layout": LAYOUT, "images": IMAGES, "images_sha256": digest,
            "classes": labels[0] if labels is not None else None,
            "labels": LABELS if labels is not None else None,
            "source": str(src.resolve()), "source_files": len(names),
            "source_list_sha256": _source_hash(files),
            "resolution": resolution, "resize": RESIZE if resolution else None,
            "skipped": [{"file": n, "error": why} for n, why in bad.items()],
            "ganforge_version": __version__,
        }
        write_atomic(dst / META, json.dumps(meta, indent=1) + "\n")
    size_gb = len(kept) * c * h * w / 1e9
    classes = f", {len(labels[0])} classes" if labels is not None else ""
    log(f"prepared {len(kept):,} {'grayscale' if c == 1 else 'RGB'} {w}x{h} images "
        f"({size_gb:.2f} GB{classes}) in {dst} in {time.perf_counter() - start:.1f} s; "
        f"train on them with data={dst}")
    if bad:
        log(f"left out {_files(len(bad))} that cannot be read (listed in {dst / META}):\n"
            f"{_bad_list(bad)}")
    upscaled = sum(1 for n in kept if resolution and min(headers[n][0]) < resolution)
    if upscaled:
        log(f"note: {upscaled:,} images were smaller than {resolution}x{resolution} and were "
            "upscaled")
    return dst


def _headers(files: "ImageFiles", names: list[str], pool: ThreadPoolExecutor,
             bad: dict[str, str], log) -> dict[str, tuple[tuple[int, int], str]]:
    from .image_files import UNREADABLE, UNSUPPORTED_MODES, read_header

    def one(name):
        try:
            with files.open(name) as f:
                return read_header(f)
        except UNREADABLE as err:
            return _why(err)

    headers = {}
    with Progress(len(names), "reading headers", log) as progress:
        step = 4096
        for at in range(0, len(names), step):
            part = names[at:at + step]
            for name, got in zip(part, pool.map(one, part)):
                if isinstance(got, str):
                    bad[name] = got
                elif got[1] in UNSUPPORTED_MODES:
                    bad[name] = f"16-bit or float pixels (mode {got[1]}): save it as 8-bit"
                else:
                    headers[name] = got
            progress.update(len(part))
    return headers


def _output_size(src: Path, good: list[str], headers: dict, resolution: int | None):
    if resolution is not None:
        return resolution, resolution
    (w, h) = headers[good[0]][0]
    for name in good:
        if headers[name][0] != (w, h):
            w2, h2 = headers[name][0]
            raise UserError(
                f"images in {src} have different sizes: {good[0]} is {w}x{h} but {name} is "
                f"{w2}x{h2} (width x height); give --resolution N to center-crop and resize "
                "them all to N x N")
    return h, w


def _write_pixels(files: "ImageFiles", good: list[str], shape: tuple[int, int, int],
                  mode: str, resolution: int | None, pool: ThreadPoolExecutor, dst: Path,
                  bad: dict[str, str], skip_bad: bool, log) -> tuple[list[str], str]:
    """Decode ``good`` into dst/images.u8 a piece at a time; returns the names written and the
    sha256 of the file. Files that fail go to ``bad``; any, without ``skip_bad``: refused."""
    import numpy as np

    from .image_files import UNREADABLE, center_crop_resize, read_pixels

    def one(name):
        try:
            with files.open(name) as f:
                pixels = read_pixels(f, mode)
        except UNREADABLE as err:
            return _why(err)
        if resolution is not None:
            pixels = center_crop_resize(pixels, resolution)
        pixels = pixels.transpose(2, 0, 1)
        if pixels.shape != shape:   # a header that does not match the image data
            return f"decodes to {pixels.shape[2]}x{pixels.shape[1]}, not {shape[2]}x{shape[1]}"
        return pixels

    rows = max(1, CHUNK_BYTES // int(np.prod(shape)))
    kept, digest = [], hashlib.sha256()
    with AtomicFile(dst / IMAGES) as out, Progress(len(good), "decoding", log) as progress:
        piece = np.empty((rows, *shape), dtype=np.uint8)
        for at in range(0, len(good), rows):
            part, k = good[at:at + rows], 0
            for name, got in zip(part, pool.map(one, part)):
                if isinstance(got, str):
                    bad[name] = got
                    continue
                piece[k] = got
                k += 1
                kept.append(name)
            out.write(piece[:k])
            digest.update(piece[:k])
            progress.update(len(part))
        if bad and not skip_bad:
            raise UserError(
                f"{len(bad):,} of {_files(len(bad) + len(kept))} in {files.src} cannot be "
                f"read:\n{_bad_list(bad)}\nre-save or remove them, or pass --skip-bad to leave "
                "them out (they are then listed in meta.json); nothing was written")
        if not kept:
            raise UserError(f"none of the images in {files.src} can be read:\n{_bad_list(bad)}")
        out.commit()
    return kept, digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    """``python -m ganforge.data.prepare SRC DST ...``: the same as ``ganforge prepare``."""
    import sys

    parser = add_arguments(argparse.ArgumentParser(
        prog="ganforge prepare", description=__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    try:
        prepare_from_args(args, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except UserError as err:
        print(f"ganforge: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
