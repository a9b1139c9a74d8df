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
    batch per D update, an iterator is drawn from; ``labels`` go with them in the same shape
    (a tensor, or a list), or the batches are ``(x, y)`` pairs. A :class:`Batches` (what
    ``fit`` passes) serves its batches on the device itself: stored rows copied there, then
    converted and flipped there (``data/transfer.py``). Each call returns the next
    ``(x, y)`` on the training device, y the labels when ``cond`` (a
    :class:`~ganforge.conditioning.Conditioning`) is given, else None; ``seen`` counts the
    samples handed out."""

    def __init__(self, real, device, memory_format, labels=None, cond=None):
        self.stream = real if isinstance(real, Batches) else None
        self.cond = cond
        if labels is not None and cond is None:
            raise UserError("labels were given to an unconditional Trainer: build it with "
                            "num_classes=K (and class-conditional G and D) to use them")
        if isinstance(real, torch.Tensor):
            items = [real if labels is None else (real, labels)]
        elif labels is not None and not isinstance(labels, torch.Tensor):
            items = zip(real, labels)
        elif labels is not None:
            raise UserError("labels must match the batches: one label tensor for one batch "
                            "tensor, a list of label tensors for a list of batches")
        else:
            items = real
        self.batches: Iterator = iter(items)
        self.device, self.memory_format, self.seen = device, memory_format, 0

    def __call__(self) -> "tuple[torch.Tensor, torch.Tensor | None]":
        if self.stream is not None:
            if self.cond is not None:
                x, y = self.stream.device_batch(self.device, self.memory_format, labels=True)
            else:
                x, y = self.stream.device_batch(self.device, self.memory_format), None
            self.seen += x.shape[0]
            return x, y
        try:
            batch, y = labeled(next(self.batches))
        except StopIteration:
            raise UserError(
                "the schedule needs one real batch per D step (d_steps > 1): pass a list of "
                "d_steps batches or an iterator to step(), or use fit()"
            ) from None
        batch = batch.to(self.device, non_blocking=True,
                         memory_format=(self.memory_format if batch.dim() == 4 else
                                        torch.preserve_format))
        self.seen += batch.shape[0]
        if self.cond is None:
            return batch, None
        if y is None:
            raise UserError("this Trainer is class-conditional: every real batch needs its "
                            "labels (step(real, labels), or fit over (x, y) batches or a "
                            "dataset with labels)")
        return batch, self.cond.check_labels(y, batch.shape[0]).to(self.device,
                                                                    non_blocking=True)


def labeled(batch) -> "tuple[torch.Tensor, torch.Tensor | None]":
    """(x, y) from an (x, y, ...) tuple, (x, None) from a tensor or a 1-tuple."""
    if isinstance(batch, (tuple, list)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    return batch, None


def samples(batch) -> "torch.Tensor":
    """x from an (x, label, ...) tuple, as a DataLoader over a TensorDataset yields."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def first_batch(iterable: Iterable) -> "torch.Tensor":
    for batch in iterable:
        return samples(batch)
    raise UserError("the data passed to fit() yielded no batches")


def cycle(iterable: Iterable, with_labels: bool = False) -> Iterator:
    """Endless batches from a re-iterable (a DataLoader starts a new epoch when exhausted):
    x, or the ``(x, y)`` pairs as they come ``with_labels`` (a conditional run)."""
    while True:
        empty = True
        for batch in iterable:
            empty = False
            yield batch if with_labels else samples(batch)
        if empty:
            raise UserError("the data passed to fit() yielded no batches")


def _stored(data):
    """(stored samples, labels or None) of an in-memory source: a tensor, Samples, a
    Dataset, or an ``(x, y)`` pair of tensors; None for anything else."""
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], torch.Tensor) \
            and isinstance(data[1], torch.Tensor):
        return data[0], data[1]
    if isinstance(data, torch.Tensor):
        return data, None
    stored = getattr(data, "samples", data)
    if isinstance(stored, Samples):
        return stored, getattr(data, "labels", None)
    return None


_NO_LABELS = ("this Trainer is class-conditional but the data has no labels: pass a dataset "
              "with labels, an (x, y) pair of tensors, or Batches(x, ..., labels=y)")


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
        cond = players.cond
        if isinstance(data, Batches):
            if cond is not None:
                if data.labels is None:
                    raise UserError(_NO_LABELS)
                labels = cond.check_labels(data.labels, len(data.samples))
                cond.set_class_counts(torch.bincount(labels, minlength=cond.num_classes))
            data.samples, _ = check_data(players, data.samples, scale, self.notes)
            batches = data
        elif _stored(data) is not None:
            stored, labels = _stored(data)   # a Dataset's samples, Samples, a tensor, (x, y)
            if cond is not None:
                if labels is None:
                    raise UserError(_NO_LABELS)
                labels = cond.check_labels(labels, len(as_samples(stored)))
                cond.set_class_counts(torch.bincount(labels, minlength=cond.num_classes))
            samples, _ = check_data(players, as_samples(stored), scale, self.notes)
            batches = Batches(samples, batch_size, seed=seed,
                              labels=labels if cond is not None else None)
        else:
            if scale == "auto":
                raise UserError("data_scale='auto' needs the data in memory (a tensor or "
                                "Batches); rescale inside your DataLoader instead")
            check_data(players, first_batch(data), scale, self.notes)
            # A user's iterable has no position to checkpoint, and an earlier stream is stale.
            self.source, self.stream, self.batches = data, cycle(data, cond is not None), None
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
