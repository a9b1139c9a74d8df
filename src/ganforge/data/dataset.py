"""The in-memory dataset record that every loader returns (``sources.py`` picks the loader).

Every loader returns a :class:`Dataset` whose ``x`` is a float32 tensor held in memory. Images
from 8-bit sources are scaled to [-1, 1]; float arrays are kept as they are, because only the
range check (``data/range_check.py``) knows the generator's output range and can tell whether
they fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ganforge._lazy import torch




@dataclass
class Dataset:
    """A whole dataset in memory.

    x: float32. Images are (N, C, H, W), scaled to [-1, 1] when they came from 8-bit pixels
       (float arrays are kept unscaled); points/vectors are (N, D) and never rescaled.
    labels: int64 (N,) or None.
    name: "fashion-mnist", "ring8", "grid25", "folder" or "array".
    kind: "image", "points" (D == 2, plottable) or "vector".
    source: one human-readable line saying what was loaded and from where.
    modes, mode_std: for the Gaussian mixtures, the (M, 2) mode means and the per-axis std.
    """

    x: torch.Tensor
    labels: torch.Tensor | None
    name: str
    kind: str
    source: str
    modes: torch.Tensor | None = None
    mode_std: float | None = None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, ``x.shape[1:]``: (C, H, W) for images, (D,) otherwise."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return self.x.shape[0]


def images_from_uint8(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 (N, C, H, W) in [-1, 1]; 0 -> -1 and 255 -> 1 exactly."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).to(torch.float32) / 127.5 - 1.0
