"""Sample pictures as uint8 arrays, and atomic image writes. Pure numpy + Pillow (no matplotlib).

``sample_image`` picks the picture for a batch of samples: a grid for images (N, C, H, W),
a scatter plot for 2-D points (N, 2), nothing for other shapes. ``sample_grid`` is that picture
for a Trainer in a notebook, as a PIL image (Jupyter shows it).

``pick_generator`` and ``latent_z`` (which generator and which latents an evaluation or a
picture uses) live here rather than in ``evaluate.py``, which uses them too: ``evaluate.py``
imports the run machinery, which imports this module, so the reverse import would be a cycle.
"""

import errno
import io
import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ganforge.errors import UserError
from ganforge.files import WriteError, check_writable, make_dirs, write_atomic
from ganforge.sampling import class_grid, generate, num_classes_of

# Padding is white: MNIST-like data is mostly black (-1), so black padding would merge cells.
_PAD_VALUE = 255
_WHITE, _AXIS = (255, 255, 255), (200, 200, 200)
_REFERENCE_DOT, _SAMPLE_DOT = (190, 190, 190), (214, 39, 40)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """Values in [-1, 1] -> uint8 in [0, 255]: -1 -> 0, 1 -> 255, out-of-range values clamped."""
    x = x.detach().to("cpu", torch.float32).clamp(-1.0, 1.0)
    return ((x + 1.0) * 127.5).round().to(torch.uint8).numpy()


def make_grid(x: torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile images x (N, C, H, W) with values in [-1, 1] into one uint8 picture.

    ``nrow`` images per row (default ceil(sqrt(N))); ``padding`` white pixels around every cell,
    so the picture is (rows * (H + padding) + padding, nrow * (W + padding) + padding). Returns
    (H', W') for C == 1 and (H', W', 3) for C == 3. Empty trailing cells are white.
    """
    if x.dim() != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
        raise UserError(f"make_grid needs a non-empty batch of 1- or 3-channel images "
                        f"(N, C, H, W); got shape {tuple(x.shape)}")
    if padding < 0:
        raise UserError(f"padding={padding} must be >= 0")
    n, c, h, w = x.shape
    ncol = nrow if nrow is not None else math.ceil(math.sqrt(n))
    if ncol < 1:
        raise UserError(f"nrow={nrow} must be >= 1")
    rows = math.ceil(n / ncol)
    images = _to_uint8(x).transpose(0, 2, 3, 1)  # (N, H, W, C)
    grid = np.full((rows * (h + padding) + padding, ncol * (w + padding) + padding, c),
                   _PAD_VALUE, dtype=np.uint8)
    for i in range(n):
        top = padding + (i // ncol) * (h + padding)
        left = padding + (i % ncol) * (w + padding)
        grid[top:top + h, left:left + w] = images[i]
    return grid[:, :, 0] if c == 1 else grid


def _auto_bounds(sets: list[np.ndarray]) -> tuple[float, float, float, float]:
    """Square bounds (xmin, xmax, ymin, ymax) around all finite points, with a 10 % margin.

    Square, so equal distances look equal on both axes (a ring stays a ring).
    """
    pts = np.concatenate(sets) if sets else np.zeros((0, 2))
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return (-1.0, 1.0, -1.0, 1.0)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    center = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2 * 1.1, 1e-3)
    return (center[0] - half, center[0] + half, center[1] - half, center[1] + half)


def scatter_image(points: torch.Tensor, reference: torch.Tensor | None = None, size: int = 512,
                  bounds: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Draw 2-D points (N, 2) as dots on a white (size, size, 3) uint8 canvas.

    ``reference`` points (M, 2), e.g. real data, go underneath in light grey; ``points`` on top
    in red. ``bounds`` = (xmin, xmax, ymin, ymax); by default square bounds around both sets.
    y grows upwards. Grey axis lines mark x = 0 and y = 0 when they are in view. Non-finite
    points (a diverged G) are skipped.
    """
    sets = [t.detach().to("cpu", torch.float64).numpy() for t in (reference, points)
            if t is not None]
    for arr in sets:
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise UserError(f"scatter_image needs 2-D points of shape (N, 2); got {arr.shape}")
    xmin, xmax, ymin, ymax = bounds if bounds is not None else _auto_bounds(sets)
    if not (xmax > xmin and ymax > ymin):
        raise UserError(f"bounds={bounds} must be (xmin, xmax, ymin, ymax) with xmin < xmax "
                        "and ymin < ymax")

    def to_pixels(pts: np.ndarray) -> np.ndarray:
        px = (pts[:, 0] - xmin) / (xmax - xmin) * (size - 1)
        py = (ymax - pts[:, 1]) / (ymax - ymin) * (size - 1)
        return np.stack([px, py], axis=1)

    canvas = Image.new("RGB", (size, size), _WHITE)
    draw = ImageDraw.Draw(canvas)
    axes = to_pixels(np.array([[0.0, 0.0]]))[0]
    if 0 <= axes[0] <= size - 1:
        draw.line([(axes[0], 0), (axes[0], size - 1)], fill=_AXIS)
    if 0 <= axes[1] <= size - 1:
        draw.line([(0, axes[1]), (size - 1, axes[1])], fill=_AXIS)
    radius = max(1.0, size / 256)
    colours = [_REFERENCE_DOT, _SAMPLE_DOT] if reference is not None else [_SAMPLE_DOT]
    for arr, colour in zip(sets, colours):
        pix = to_pixels(arr)
        # Keep only dots on the canvas; far-away or NaN coordinates are not drawable.
        keep = np.isfinite(pix).all(axis=1) & (pix >= -radius).all(axis=1) & (
            pix <= size - 1 + radius).all(axis=1)
        for x, y in pix[keep]:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
    return np.asarray(canvas, dtype=np.uint8).copy()


# Suffix -> (Pillow format, save options). JPEG at quality 95: the default 75 blurs the
# one-pixel detail of a sample grid; WebP lossless for the same reason.
FORMATS = {
    ".png": ("PNG", {}), ".jpg": ("JPEG", {"quality": 95}), ".jpeg": ("JPEG", {"quality": 95}),
    ".webp": ("WEBP", {"lossless": True}), ".bmp": ("BMP", {}), ".gif": ("GIF", {}),
    ".tif": ("TIFF", {}), ".tiff": ("TIFF", {}),
}
_JPEG_MODES = ("L", "RGB")


def _format_of(path: Path) -> tuple[str, dict]:
    """(Pillow format, save options) for ``path``'s suffix; a UserError listing the supported
    suffixes for any other."""
    if path.suffix.lower() not in FORMATS:
        raise UserError(f"cannot save an image as {path}: the suffix "
                        f"{path.suffix or '(none)'!r} is not a supported image format; "
                        f"use one of {', '.join(FORMATS)}")
    return FORMATS[path.suffix.lower()]


def check_image_path(path: str | os.PathLike) -> Path:
    """Check, before any work, that :func:`save_image` can write ``path``: a supported suffix,
    not a directory, and a writable parent (created if missing). Raises UserError/WriteError."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(path, OSError(errno.EISDIR, os.strerror(errno.EISDIR)))
    _format_of(path)
    check_writable(path.parent)
    return path


def save_image(image: np.ndarray, path: str | os.PathLike, format: str | None = None) -> Path:
    """Write a uint8 (H, W) or (H, W, 3) array to ``path``, atomically; returns the path.

    The format comes from the suffix (see ``FORMATS``: .png, .jpg/.jpeg, .webp, .bmp, .gif,
    .tif/.tiff) unless ``format`` names one. Missing parent directories are created. The file
    is encoded in memory and written with :func:`ganforge.files.write_atomic`, so a reader
    (TensorBoard, a browser refreshing) never sees half a file, and a full or read-only disk
    is a :class:`~ganforge.files.WriteError` naming the path.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise UserError(f"an image to save must be a uint8 array of shape (H, W) or (H, W, 3); "
                        f"got {image.dtype} {image.shape}: convert with make_grid or scatter_image")
    path = Path(path)
    if format is None:
        format, options = _format_of(path)
    else:
        options = next((o for f, o in FORMATS.values() if f == format.upper()), {})
    picture = Image.fromarray(image)
    if format.upper() == "JPEG" and picture.mode not in _JPEG_MODES:
        picture = picture.convert("RGB")
    encoded = io.BytesIO()
    try:
        picture.save(encoded, format=format, **options)
    except (KeyError, ValueError, OSError) as err:  # in memory: an encoder, not the disk
        raise UserError(f"this Pillow cannot write {format} images ({err}); save as .png") from None
    make_dirs(path.parent)
    return write_atomic(path, encoded.getbuffer())


def save_png(image: np.ndarray, path: str | os.PathLike) -> Path:
    """:func:`save_image` as PNG, whatever the suffix of ``path``."""
    return save_image(image, path, "PNG")


def sample_image(samples: torch.Tensor, reference: torch.Tensor | None = None,
                 nrow: int | None = None) -> np.ndarray | None:
    """The picture for a batch of samples, or None when there is nothing sensible to draw.

    (N, C, H, W) with C in {1, 3} -> ``make_grid`` with ``nrow`` images a row (a class
    grid: one row per class) (``reference`` unused);
    (N, 2) -> ``scatter_image`` with ``reference`` underneath; any other shape -> None.
    """
    if samples.dim() == 4 and samples.shape[1] in (1, 3) and samples.shape[0] > 0:
        return make_grid(samples, nrow)
    if samples.dim() == 2 and samples.shape[1] == 2:
        if reference is not None and (reference.dim() != 2 or reference.shape[1] != 2):
            reference = None  # real data of another shape cannot share the plot
        return scatter_image(samples, reference)
    return None


def latent_z(seed: int, n: int, z_shape: tuple[int, ...]) -> torch.Tensor:
    """The latents of an evaluation or a sample grid: a function of ``seed`` only (their own
    generator), so they do not depend on, or disturb, the training's random streams."""
    return torch.randn((n, *z_shape), generator=torch.Generator().manual_seed(seed))


def check_trainer(trainer) -> None:
    """A UserError unless ``trainer`` is a ganforge Trainer (a common slip: passing its G)."""
    if not hasattr(trainer, "players") or not hasattr(trainer, "G_sample"):
        raise UserError(f"expected a ganforge.Trainer, got {type(trainer).__name__}: pass the "
                        "trainer itself, which knows its G, G_ema, latent shape and device")


def pick_generator(trainer, ema: bool | None, option: str = "--ema"):
    """(module, "G" | "G_ema"): ``trainer.G_sample`` (G_ema when the run has one) unless
    ``ema`` is False; ``ema=True`` on a run without EMA is a UserError naming ``option``, the
    way the caller's user asked for it ("--ema" on the command line, "ema=True" in Python)."""
    if ema and trainer.G_ema is None:
        raise UserError(f"{option} was asked for, but this run has no G_ema (EMA was off when "
                        f"it trained): drop {option}")
    if ema is False or trainer.G_ema is None:
        return trainer.G, "G"
    return trainer.G_sample, "G_ema"


def sample_grid(trainer, n: int = 64, seed: int = 0, ema: bool | None = None) -> Image.Image:
    """``n`` samples of ``trainer``'s generator as a PIL image, for a notebook (Jupyter shows
    it; ``.save(path)`` writes it): a grid for images, a scatter plot for 2-D points.

    G_ema when the trainer has one, unless ``ema=False``; latents from :func:`latent_z`, so
    the same ``seed`` draws the same z at every call and the training is not disturbed (G is
    run through :func:`~ganforge.sampling.generate`, which leaves it as it was). A
    class-conditional trainer draws a class grid: one row per class, n // K samples each."""
    check_trainer(trainer)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserError(f"n must be a whole number of samples, at least 1, got {n!r}")
    G, _ = pick_generator(trainer, ema, option="ema=True")
    z = latent_z(seed, n, trainer.players.z_shape).to(trainer.device)
    labels = nrow = None
    if num_classes_of(trainer) is not None:   # one row per class
        z, labels, nrow = class_grid(z, num_classes_of(trainer))
    samples = generate(G, z, autocast=trainer.players.autocast, labels=labels,
                       mode=trainer.sample_mode).cpu()
    picture = sample_image(samples, nrow=nrow)
    if picture is None:
        raise UserError(f"samples of shape {tuple(samples.shape[1:])} cannot be drawn: only "
                        "(C, H, W) images with 1 or 3 channels and 2-D points can; draw "
                        "them yourself from ganforge.sampling.generate(G, z)")
    return Image.fromarray(picture)
