"""How a dataset's samples are stored, and how a stored row becomes the float32 sample that G
is compared with.

One interface (:class:`Samples`), two stores:

- :class:`TensorSamples`: a tensor used as it is (2-D points, float arrays, a user's tensor);
- :class:`PixelSamples`: 8-bit images (N, C, H, W) uint8, in memory (4x smaller than float32)
  or in a prepared file (``data/prepared.py``) whose rows are read when a batch needs them:
  nothing is read before, nothing is kept after, so resident memory does not grow with the
  dataset (:class:`PixelFile` says why the rows are read with ``pread`` and not mapped).

Pixels become floats per batch, after the raw batch is on the training device, through a
256-entry table: the table holds exactly the float32 values ``x / 127.5 - 1`` (then the
``data.scale=auto`` rescale, if any) that converting the whole set at load gave, so a batch
is bitwise what it was then, on any device (a CUDA division by a scalar rounds differently).

Reading: ``samples[idx]`` (an int, a slice, an index tensor or list) gives float32 rows, so
code that read rows of the old whole-set tensor (the diversity probe, reference statistics)
reads the same values and only the rows it takes. ``rows(idx)`` gives the stored rows and
``to_float(raw)`` converts them: the batch path.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Callable

import numpy as np

from .._lazy import torch
from ..errors import UserError

CHUNK_ELEMENTS = 1 << 22   # whole-set conversions go this many values at a time


def images_from_uint8(pixels: np.ndarray) -> "torch.Tensor":
    """uint8 (N, C, H, W) -> float32 (N, C, H, W) in [-1, 1]; 0 -> -1 and 255 -> 1 exactly."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).to(torch.float32) / 127.5 - 1.0


def pixel_table() -> "torch.Tensor":
    """float32 (256,): what each 8-bit value becomes, by the whole-set expression itself."""
    return images_from_uint8(np.arange(256, dtype=np.uint8))


class Samples:
    """N samples of one shape. Subclasses store them; every reader goes through here."""

    kind = "samples"

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def sample_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        """(N, *sample_shape), as the whole-set tensor had."""
        return (len(self), *self.sample_shape)

    def rows(self, idx: "torch.Tensor", pin: bool = False) -> "torch.Tensor":
        """The stored rows ``idx`` (int64 (B,)), on the CPU, in the stored dtype; ``pin``:
        in page-locked memory (for a non_blocking copy to CUDA)."""
        raise NotImplementedError

    def to_float(self, raw: "torch.Tensor") -> "torch.Tensor":
        """Stored rows (from :meth:`rows`, on any device) -> the samples, on that device."""
        raise NotImplementedError

    def value_range(self, limit: int | None = None) -> tuple[float, float]:
        """(min, max) of the samples' values (after :meth:`to_float`), over the first
        ``limit`` samples (None: all)."""
        raise NotImplementedError

    def rescaled(self, fn: Callable[["torch.Tensor"], "torch.Tensor"]) -> "Samples":
        """The same samples with the elementwise ``fn`` applied to every value (data.scale=auto)."""
        raise NotImplementedError

    def floats(self) -> "torch.Tensor":
        """The whole set as one tensor (new memory for pixels: use it for small data only)."""
        return self[:]

    def __getitem__(self, index) -> "torch.Tensor":
        """float32 rows: ``samples[i]``, ``samples[a:b]``, ``samples[index_tensor]``."""
        if isinstance(index, numbers.Integral) or (isinstance(index, torch.Tensor)
                                                   and index.dim() == 0):
            index = int(index)
            return self[index:index + 1 if index != -1 else None][0]
        if isinstance(index, slice):
            idx = torch.arange(len(self))[index]
        else:
            idx = torch.as_tensor(index, dtype=torch.int64).reshape(-1)
        return self.to_float(self.rows(idx))


class TensorSamples(Samples):
    """A tensor's rows, used as they are (a float array, points, a user's tensor)."""

    kind = "tensor"

    def __init__(self, x: "torch.Tensor"):
        self.x = x

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def nbytes(self) -> int:
        return self.x.numel() * self.x.element_size()

    def rows(self, idx, pin=False):
        idx = idx.to(self.x.device)
        if not pin or self.x.device.type != "cpu":
            return self.x[idx]
        out = torch.empty((idx.shape[0], *self.sample_shape), dtype=self.x.dtype,
                          pin_memory=True)
        return torch.index_select(self.x, 0, idx, out=out)

    def to_float(self, raw):
        return raw

    def __getitem__(self, index):
        return self.x[index]   # exactly the old whole-set tensor's indexing

    def floats(self):
        return self.x

    def value_range(self, limit=None):
        head = self.x[:limit]
        return float(head.min()), float(head.max())

    def rescaled(self, fn):
        return TensorSamples(fn(self.x))


class PixelFile:
    """The rows of a raw uint8 file holding (N, *row_shape) in C order, read when they are
    needed with ``pread``: through the page cache, as a memory map reads, but into the
    batch's own buffer, so resident memory holds the batch and nothing else. (A memory map
    was tried first: on Linux 6.x a read fault maps a whole large folio of the page cache, so
    one batch of 64 random 12 KB rows put ~60 MB of the file into resident memory, and an
    epoch all of it; releasing with MADV_DONTNEED after every batch still peaked at +70 MB.)
    Safe from several threads (pread has no shared file position)."""

    def __init__(self, path: str | os.PathLike, shape: tuple[int, ...]):
        self.path, self.shape = str(path), tuple(shape)
        self.row_bytes = math.prod(shape[1:])
        self.fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))

    def _read_into(self, view: memoryview, offset: int) -> None:
        while len(view):
            try:
                got = os.preadv(self.fd, [view], offset)
            except OSError as err:
                raise UserError(f"cannot read {self.path}: {err.strerror}; check the disk, "
                                "or prepare the dataset again") from err
            if got == 0:
                raise UserError(f"{self.path} ends early (it was truncated after it was "
                                "opened): prepare the dataset again")
            view, offset = view[got:], offset + got

    def read_rows(self, idx: np.ndarray, out: np.ndarray) -> None:
        """Rows ``idx`` (B,) into ``out`` (B, *row_shape) uint8, contiguous."""
        flat = out.reshape(len(idx), self.row_bytes)
        for j, i in enumerate(idx.tolist()):
            self._read_into(memoryview(flat[j]), i * self.row_bytes)

    def read_range(self, start: int, stop: int, out: np.ndarray) -> None:
        """Rows start..stop-1 into ``out``, one read."""
        self._read_into(memoryview(out.reshape(-1)), start * self.row_bytes)

    def __del__(self):
        fd, self.fd = getattr(self, "fd", None), None
        if fd is not None:
            os.close(fd)


class PixelSamples(Samples):
    """8-bit images (N, C, H, W): a uint8 tensor in memory, or a :class:`PixelFile` (a
    prepared dataset: rows read from the file when a batch needs them).

    ``table``: float32 (256,), the value of each pixel level (default :func:`pixel_table`);
    ``where``: "memory" or the file's path.
    """

    kind = "pixels"

    def __init__(self, pixels: "torch.Tensor | PixelFile", table: "torch.Tensor | None" = None):
        if isinstance(pixels, PixelFile):
            if len(pixels.shape) != 4:
                raise ValueError(f"pixels must be (N, C, H, W), got {pixels.shape}")
            self.file, self.pixels, self.where = pixels, None, pixels.path
            self._shape = pixels.shape
        else:
            if pixels.dtype != torch.uint8 or pixels.dim() != 4:
                raise ValueError(f"pixels must be uint8 (N, C, H, W), got {pixels.dtype} "
                                 f"{tuple(pixels.shape)}")
            self.file, self.pixels, self.where = None, pixels, "memory"
            self._shape = tuple(pixels.shape)
        self.table = pixel_table() if table is None else table
        self._tables: dict = {}   # the table on each device it was used on

    @classmethod
    def from_numpy(cls, pixels: np.ndarray) -> "PixelSamples":
        """uint8 (N, C, H, W) numpy pixels (copied only when not contiguous)."""
        return cls(torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.uint8)))

    def __len__(self) -> int:
        return self._shape[0]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self._shape[1:]

    @property
    def nbytes(self) -> int:
        return math.prod(self._shape)

    def rows(self, idx, pin=False):
        idx = idx.to(torch.int64)
        out = torch.empty((idx.shape[0], *self.sample_shape), dtype=torch.uint8,
                          pin_memory=pin)
        if self.file is None:
            return torch.index_select(self.pixels, 0, idx, out=out)
        if idx.numel() and not (0 <= int(idx.min()) and int(idx.max()) < len(self)):
            raise IndexError(f"row index out of range 0..{len(self) - 1}")
        self.file.read_rows(idx.numpy(), out.numpy())
        return out

    def levels(self, start: int = 0, stop: int | None = None) -> "torch.Tensor":
        """The stored uint8 rows start..stop-1 (a view in memory; read from a file)."""
        start, stop, _ = slice(start, stop).indices(len(self))
        stop = max(start, stop)
        if self.file is None:
            return self.pixels[start:stop]
        out = np.empty((stop - start, *self.sample_shape), dtype=np.uint8)
        self.file.read_range(start, stop, out)
        return torch.from_numpy(out)

    def _table_on(self, device) -> "torch.Tensor":
        key = str(device)
        if key not in self._tables:
            self._tables[key] = self.table.to(device)
        return self._tables[key]

    def to_float(self, raw):
        table = self._table_on(raw.device)
        flat = raw.reshape(-1)
        out = torch.empty(flat.shape, dtype=torch.float32, device=raw.device)
        for start in range(0, flat.numel(), CHUNK_ELEMENTS):   # int index: 4 bytes a value
            part = flat[start:start + CHUNK_ELEMENTS]
            torch.index_select(table, 0, part.to(torch.int32),
                               out=out[start:start + part.numel()])
        return out.view(raw.shape)

    def __getitem__(self, index):
        if isinstance(index, slice) and index.step in (None, 1):   # one read, not a gather
            return self.to_float(self.levels(index.start or 0, index.stop))
        return super().__getitem__(index)

    def value_range(self, limit=None):
        # The table maps levels to values monotonically (x / 127.5 - 1, then an increasing
        # linear map and a clamp), so the extremes of the values are those of the levels.
        n = len(self) if limit is None else min(limit, len(self))
        step = max(1, CHUNK_ELEMENTS // max(1, math.prod(self.sample_shape)))
        lo, hi = 255, 0
        for start in range(0, n, step):
            part = self.levels(start, min(start + step, n))
            lo, hi = min(lo, int(part.min())), max(hi, int(part.max()))
        return float(self.table[lo]), float(self.table[hi])

    def rescaled(self, fn):
        return PixelSamples(self.file if self.file is not None else self.pixels,
                            fn(self.table.clone()))


def as_samples(x) -> Samples:
    """``x`` itself when it is :class:`Samples`, else the tensor's rows as they are."""
    if isinstance(x, Samples):
        return x
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a tensor or Samples, got {type(x).__name__}")
    return TensorSamples(x)
