"""Read and write IDX files (the MNIST / Fashion-MNIST container), gzip-compressed or plain.

Layout (big-endian): two zero bytes, a dtype code, the number of dimensions, one uint32 per
dimension, then the values in C order.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from ganforge.errors import UserError

# IDX dtype code -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _open(path: Path, mode: str):
    return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)


def idx_magic(dtype_code: int, ndim: int) -> int:
    """The 32-bit magic number, e.g. 0x00000803 for uint8 images (N, H, W)."""
    return (dtype_code << 8) | ndim


def read_idx(
    path: str | Path, expected_magic: int | None = None, limit: int | None = None
) -> np.ndarray:
    """Read an IDX file into a native-endian array of shape (N, *dims).

    expected_magic: e.g. 0x00000803; a different magic number raises UserError.
    limit: read only the first ``limit`` items (cheap: the rest is never decompressed).
    """
    path = Path(path)
    try:
        with _open(path, "rb") as f:
            header = f.read(4)
            if len(header) < 4 or header[0] != 0 or header[1] != 0 or header[2] not in IDX_DTYPES:
                raise UserError(
                    f"{path} is not an IDX file (header bytes {header.hex() or 'empty'}); "
                    "expected a Fashion-MNIST/MNIST *-idx?-ubyte[.gz] file"
                )
            magic = struct.unpack(">I", header)[0]
            if expected_magic is not None and magic != expected_magic:
                raise UserError(
                    f"{path} has IDX magic number 0x{magic:08X}, expected 0x{expected_magic:08X}: "
                    "the images and labels files may be swapped or the file is of another kind"
                )
            ndim = header[3]
            dims = list(struct.unpack(f">{ndim}I", f.read(4 * ndim)))
            if limit is not None and ndim > 0:
                dims[0] = min(dims[0], limit)
            dtype = IDX_DTYPES[header[2]]
            count = int(np.prod(dims))
            data = f.read(count * dtype.itemsize)
    except (OSError, EOFError, struct.error) as err:
        raise UserError(
            f"cannot read IDX file {path}: {err}; re-install or re-download it"
        ) from err
    if len(data) != count * dtype.itemsize:
        raise UserError(
            f"{path} is truncated: header promises shape {tuple(dims)} but the file ends early; "
            "re-install or re-download it"
        )
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as IDX (gzip when the name ends in .gz, with mtime 0 so bytes repeat)."""
    path = Path(path)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise UserError(
            f"IDX cannot store dtype {array.dtype}; "
            "convert to one of uint8, int8, int16, int32, float32, float64"
        )
    header = struct.pack(">I", idx_magic(codes[native], array.ndim))
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[native]]).tobytes()
    if path.suffix == ".gz":
        with open(path, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
                f.write(payload)
    else:
        path.write_bytes(payload)
