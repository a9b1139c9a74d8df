"""A batch from storage to the training device.

The stored rows (8-bit pixels: a quarter of float32's bytes) are copied to the device, and
only there become float32 (``Samples.to_float``) and mirrored (``xflip``). On CUDA the rows are
gathered into page-locked memory and copied with ``non_blocking=True``, and the next batch's
rows are gathered and pinned by a background thread while the step runs: the copy no longer
waits for the gather, and the gather (a read from a prepared file, possibly from disk) no longer
waits for the GPU. What a batch holds depends only on the stream's position: the thread only
copies bytes, so the batches and the resume are the same as without it. A batch's labels, when
asked for, are gathered from the same draw's rows, so they follow the same position.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

from .._lazy import torch
from ..errors import UserError
from .samples import Samples


def finish(samples: Samples, raw: "torch.Tensor", flip: "torch.Tensor | None",
           device=None, memory_format=None) -> "torch.Tensor":
    """Stored rows -> the batch on ``device`` (default: where ``raw`` is): copied there
    (non_blocking: a no-op wait unless ``raw`` is pinned), converted to float, mirrored where
    ``flip`` (B,) is True, in ``memory_format`` (4-D batches only)."""
    if device is not None:
        raw = raw.to(device, non_blocking=True)
    x = samples.to_float(raw)
    if flip is not None:
        flip = flip.to(x.device, non_blocking=True)
        x = torch.where(flip.view(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)
    if memory_format is not None and x.dim() == 4:
        x = x.to(memory_format=memory_format)
    return x


def gather_labels(labels: "torch.Tensor", idx: "torch.Tensor", device,
                  pin: bool = False) -> "torch.Tensor":
    """labels[idx] (int64, CPU) on ``device``: gathered into page-locked memory with ``pin``,
    so the copy to CUDA does not wait (B values: no need for the background thread)."""
    y = torch.empty(idx.shape[0], dtype=torch.int64, pin_memory=pin)
    torch.index_select(labels, 0, idx, out=y)
    return y.to(device, non_blocking=True)


class _Ahead(NamedTuple):
    samples: Samples
    start: tuple[int, int, int]
    rows: Future


class ToDevice:
    """Serves a :class:`~ganforge.data.batches.Batches`' batches on ``device``. ``prefetch``
    (default: on CUDA) gathers the next batch's rows in a background thread; the stream's
    position (its checkpoint state) is always that of the batches handed out."""

    def __init__(self, device, prefetch: bool | None = None):
        self.device = torch.device(device)
        self.pin = self.device.type == "cuda"
        self.prefetch = self.pin if prefetch is None else prefetch
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: _Ahead | None = None

    def next(self, batches, memory_format=None, labels: bool = False):
        """The next batch of ``batches`` on the device; ``labels``: (batch, its labels int64
        (B,) on the device), taken from the same draw (the same rows)."""
        if labels and batches.labels is None:   # before the stream moves
            raise UserError("these batches have no labels: build them with "
                            "Batches(..., labels=dataset.labels) from labelled data, or ask "
                            "for device_batch(device) without labels")
        draw = batches.peek()
        samples, ahead, self._ahead = batches.samples, self._ahead, None
        if ahead is not None and ahead.start == draw.start and ahead.samples is samples:
            raw = ahead.rows.result()
        else:   # the first batch, or the stream was moved (a resume) or its data replaced
            raw = samples.rows(draw.idx, pin=self.pin)
        batches.advance(draw)
        if self.prefetch:
            following = batches.peek()
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="ganforge-batches")
            self._ahead = _Ahead(samples, following.start,
                                 self._pool.submit(samples.rows, following.idx, self.pin))
        x = finish(samples, raw, draw.flip, self.device, memory_format)
        if not labels:
            return x
        return x, gather_labels(batches.labels, draw.idx, self.device, self.pin)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool, self._ahead = None, None
