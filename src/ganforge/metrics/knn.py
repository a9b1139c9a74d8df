"""Chunked nearest-neighbour distances, so 50,000 x 50,000 never needs a full matrix in memory.

Distances are computed block by block (``chunk`` rows at a time against all of the other set)
in float64; a block of ``chunk x N`` distances is the only large temporary. The default chunk
keeps that block near 128 MB whatever N is: for 50,000 x 50,000 the peak stays a few hundred
MB instead of the 20 GB a full float64 matrix would need.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch

BLOCK_BYTES = 128 * 2**20


def default_chunk(n_cols: int) -> int:
    """Rows per block so that a (rows, n_cols) float64 block is about BLOCK_BYTES."""
    return max(1, BLOCK_BYTES // (8 * max(n_cols, 1)))


def distance_blocks(x: torch.Tensor, y: torch.Tensor,
                    chunk: int | None = None) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield (rows, D) for consecutive row slices of x: D = Euclidean distances (rows, len(y))."""
    chunk = chunk or default_chunk(y.shape[0])
    for start in range(0, x.shape[0], chunk):
        rows = slice(start, min(start + chunk, x.shape[0]))
        # cdist without the matrix-multiply shortcut: exact zeros for identical points, and a
        # block's values do not depend on the chunk size.
        yield rows, torch.cdist(x[rows], y, compute_mode="donot_use_mm_for_euclid_dist")


def kth_neighbour_radii(x: torch.Tensor, k: int, chunk: int | None = None) -> torch.Tensor:
    """(N, D) -> (N,): each point's distance to its k-th nearest *other* point of x.

    The k+1 smallest distances of a row include the point itself (distance 0), so the
    (k+1)-th smallest is the k-th neighbour's, also when there are duplicates.
    """
    out = torch.empty(x.shape[0], dtype=x.dtype)
    for rows, dist in distance_blocks(x, x, chunk):
        out[rows] = dist.topk(k + 1, dim=1, largest=False).values[:, k]
    return out


def reduce_blocks(x: torch.Tensor, y: torch.Tensor, fn: Callable[[slice, torch.Tensor], None],
                  chunk: int | None = None) -> None:
    """Call ``fn(rows, D)`` on every block of x-vs-y distances (see :func:`distance_blocks`)."""
    for rows, dist in distance_blocks(x, y, chunk):
        fn(rows, dist)
