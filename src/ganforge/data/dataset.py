"""The dataset record that every loader returns (``sources.py`` picks the loader).

A :class:`Dataset` holds its samples as stored (``data/samples.py``): 8-bit images stay uint8,
in memory or read batch by batch from a prepared file, and are scaled to [-1, 1] per batch; float
arrays and points are float tensors kept as they are, because only the range check
(``data/range_check.py``) knows the generator's output range and can tell whether they fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganforge._lazy import torch
from ganforge.errors import UserError

from .labels import class_counts
from .samples import Samples, images_from_uint8

__all__ = ["Dataset", "images_from_uint8"]


@dataclass
class Dataset:
    """A whole dataset.

    samples: the stored samples; read float32 rows with ``samples[idx]``. Images are
       (N, C, H, W), scaled to [-1, 1] when they came from 8-bit pixels (float arrays are kept
       unscaled); points/vectors are (N, D) and never rescaled.
    labels: int64 (N,) class indices, or None (checked by the loader: ``data/labels.py``).
    name: "fashion-mnist", "ring8", "grid25", "folder", "array" or "prepared".
    kind: "image", "points" (D == 2, plottable) or "vector".
    source: one human-readable line saying what was loaded and from where.
    modes, mode_std: for the Gaussian mixtures, the (M, 2) mode means and the per-axis std.
    classes: the class names, label i is ``classes[i]``; set exactly when ``labels`` is. They
       come from the whole source, so ``data.limit`` may leave some classes without samples
       (``labels.require_every_class`` says so when conditioning needs them all).
    """

    samples: Samples
    labels: torch.Tensor | None
    name: str
    kind: str
    source: str
    modes: torch.Tensor | None = None
    mode_std: float | None = None
    classes: list[str] | None = None

    def __post_init__(self):
        if (self.labels is None) != (self.classes is None):
            raise ValueError("a Dataset has labels and their class names together, or neither")

    @property
    def num_classes(self) -> int | None:
        """K = len(classes), or None without labels."""
        return None if self.classes is None else len(self.classes)

    def class_counts(self) -> torch.Tensor:
        """int64 (K,): the number of samples of each class (a UserError without labels)."""
        if self.labels is None:
            raise UserError(f"{self.name} has no class labels, so no class counts")
        return class_counts(self.labels, len(self.classes))

    @property
    def x(self) -> torch.Tensor:
        """The whole set as float32 (N, *sample_shape): the stored tensor for float data, a
        new tensor for pixels (4 bytes a value: for small data; training reads ``samples``)."""
        return self.samples.floats()

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample: (C, H, W) for images, (D,) otherwise."""
        return self.samples.sample_shape

    def __len__(self) -> int:
        return len(self.samples)
