"""The batch stream ``Trainer.fit`` trains on, prepared once per data source.

:class:`DataFeed` turns what a user passes to ``fit`` into an endless stream of batches: a
tensor of samples, a ``Dataset`` (from ``load_dataset``) or its stored ``samples`` (8-bit
pixels stay 8-bit) becomes a seeded, exactly resumable :class:`~ganforge.data.batches.Batches`;
a ``Batches`` (e.g. over a dataset's stored samples: 8-bit, perhaps in a prepared file) is used as
it is; any other iterable (a ``DataLoader``) is cycled, taking ``x`` from ``(x, label, ...)``
tuples. Each new source is checked once before use (G's output shape
against the data's, D's logits, the value range: ``data/preflight.py``); the same source
passed again continues its stream, so calling ``fit`` twice does not restart the epoch order.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from .._lazy import torch
from ..errors import UserError
from .batches import Batches
from .preflight import check_data
from .range_check import SCALES
from .samples import Samples, as_samples


class RealBatches:
    """The real batches of one iteration, from what a user passes to ``Trainer.step``: a
    tensor is used once (the single D update of a 1:k schedule), a list or tuple gives one
    batch per D update, an iterator is drawn from. A :class:`Batches` (what ``fit`` passes)
    serves its batches on the device itself: stored rows copied there, then converted and
    flipped there (``data/transfer.py``). Each call returns the next batch on the training
    device; ``seen`` counts the samples handed out."""

    def __init__(self, real, device, memory_format):
        self.stream = real if isinstance(real, Batches) else None
        self.batches: Iterator = iter([real] if isinstance(real, torch.Tensor) else real)
        self.device, self.memory_format, self.seen = device, memory_format, 0

    def __call__(self) -> "torch.Tensor":
        if self.stream is not None:
            batch = self.stream.device_batch(self.device, self.memory_format)
            self.seen += batch.shape[0]
            return batch
        try:
            batch = next(self.batches)
        except StopIteration:
            raise UserError(
                "the schedule needs one real batch per D step (d_steps > 1): pass a list of "
                "d_steps batches or an iterator to step(), or use fit()"
            ) from None
        batch = batch.to(self.device, non_blocking=True,
                         memory_format=(self.memory_format if batch.dim() == 4 else
                                        torch.preserve_format))
        self.seen += batch.shape[0]
        return batch


def samples(batch) -> "torch.Tensor":
    """x from an (x, label, ...) tuple, as a DataLoader over a TensorDataset yields."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def first_batch(iterable: Iterable) -> "torch.Tensor":
    for batch in iterable:
        return samples(batch)
    raise UserError("the data passed to fit() yielded no batches")


def cycle(iterable: Iterable) -> Iterator["torch.Tensor"]:
    """Endless batches from a re-iterable (a DataLoader starts a new epoch when exhausted)."""
    while True:
        empty = True
        for batch in iterable:
            empty = False
            yield samples(batch)
        if empty:
            raise UserError("the data passed to fit() yielded no batches")


class DataFeed:
    """The current data source of a trainer, its checked stream and its checkpointable
    position. ``scale`` is what the range check did (``check``/``auto``/``off``); ``notes``
    say what the checks changed (e.g. a rescale), for the user."""

    def __init__(self):
        self.source = None
        self.stream: Iterable | None = None
        self.batches: Batches | None = None   # the resumable stream, when the data is in memory
        self.scale = "check"
        self.notes: list[str] = []
        self._pending: dict | None = None     # a position loaded before the data was given

    def prepare(self, data, players, batch_size: int, seed: int, scale: str,
                world=None) -> Iterable:
        """The checked stream for ``data``; the same tensor or Batches again continues its
        stream (a user's iterable is checked and cycled afresh: it has no position). With
        several processes (``world``), a tensor or Batches is served sharded (each process its
        rows of every global batch); a user's iterable is used as it is: it must yield each
        process its own batches (a DistributedSampler)."""
        if data is self.source and self.batches is not None:
            return self.batches
        if scale not in SCALES:
            raise UserError(f"data_scale must be one of {SCALES}, got {scale!r}")
        self.scale = scale
        if isinstance(data, Batches):
            data.samples, _ = check_data(players, data.samples, scale, self.notes)
            batches = data
        elif isinstance(data, torch.Tensor) or isinstance(getattr(data, "samples", data),
                                                           Samples):
            stored = getattr(data, "samples", data)   # a Dataset's samples, Samples, a tensor
            samples, _ = check_data(players, as_samples(stored), scale, self.notes)
            batches = Batches(samples, batch_size, seed=seed)
        else:
            if scale == "auto":
                raise UserError("data_scale='auto' needs the data in memory (a tensor or "
                                "Batches); rescale inside your DataLoader instead")
            check_data(players, first_batch(data), scale, self.notes)
            # A user's iterable has no position to checkpoint, and an earlier stream is stale.
            self.source, self.stream, self.batches = data, cycle(data), None
            return self.stream
        if world is not None:
            batches.shard(world.rank, world.size)
        if self._pending is not None:
            batches.load_state_dict(self._pending)
            self._pending = None
        self.source, self.stream, self.batches = data, batches, batches
        return batches

    def state_dict(self) -> dict | None:
        return self.batches.state_dict() if self.batches is not None else None

    def load_state_dict(self, state: dict | None) -> None:
        """Continue the checkpointed position now, or when the data is given to ``fit``."""
        if state is None:
            return
        if self.batches is not None:
            self.batches.load_state_dict(state)
        else:
            self._pending = state
