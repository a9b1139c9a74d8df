"""An infinite, exactly resumable stream of shuffled batches over stored samples.

The order is a pure function of (seed, epoch, pos): epoch ``e`` uses the permutation drawn
from ``torch.Generator().manual_seed(seed * 1_000_003 + e)``, and ``pos`` is how far into it
we are. With ``xflip``, the same generator then draws one coin per position of the epoch: the
sample at that position is mirrored left-right when it comes up. A checkpoint stores those
three numbers, so a resumed run sees the same batches, and the same flips, as an
uninterrupted one. The global RNG is never used, so data order and model randomness do not
disturb each other.

The samples stay as they are stored (``data/samples.py``): a batch gathers the stored rows
(8-bit pixels stay 8-bit), and they become float32 only after they are on the training
device (:meth:`Batches.device_batch`, used by ``Trainer.step``; ``data/transfer.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..errors import UserError
from .labels import check_labels
from .samples import Samples, as_samples

EPOCH_STRIDE = 1_000_003  # a prime, so (seed, epoch) pairs do not collide for epochs < stride


class Draw(NamedTuple):
    """One batch of the stream: which rows (this process's), which of them are mirrored, and
    the stream's position before and after it."""

    idx: "torch.Tensor"            # (B,) int64 rows of the samples
    flip: "torch.Tensor | None"    # (B,) bool, or None without xflip
    start: tuple[int, int, int]    # (seed, epoch, pos) the batch was drawn at
    end: tuple[int, int]           # (epoch, pos) after it


class Batches:
    """Iterate forever over shuffled batches of ``x`` (N, *sample_shape): a tensor, or
    :class:`~ganforge.data.samples.Samples` (a dataset's ``samples``).

    drop_last=True: every batch is (batch_size, *sample_shape); the N % batch_size samples
    left at the end of an epoch are skipped (they are different ones each epoch).
    drop_last=False: the last batch of an epoch may be smaller.
    xflip: mirror each image left-right with probability 1/2, drawn per epoch position
    (StyleGAN2-ADA's ``--mirror``); images (N, C, H, W) only.
    labels: class indices (N,) (checked: ``data/labels.py``; kept as int64 on the CPU). A
    batch's labels are those of its rows, so they follow the order, the shard and a resume
    with nothing of their own to store: :meth:`device_batch` with ``labels=True``.
    """

    def __init__(
        self,
        x,
        batch_size: int,
        seed: int,
        labels: torch.Tensor | None = None,
        drop_last: bool = True,
        xflip: bool = False,
    ):
        samples = as_samples(x)
        n = len(samples)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UserError(f"batch_size must be a positive integer, got {batch_size!r}")
        if batch_size > n:
            raise UserError(
                f"batch_size={batch_size} is larger than the dataset, which has {n:,} samples; "
                f"use batch_size <= {n:,} or more data"
            )
        if labels is not None:   # any subset of the classes will do here (data/labels.py)
            labels = check_labels(labels, n, source="Batches(labels=...)",
                                  every_class=False)
        if xflip and len(samples.sample_shape) != 3:
            raise UserError(f"data.xflip mirrors images (C, H, W); these samples have shape "
                            f"{samples.sample_shape}: turn xflip off")
        self.samples: Samples = samples
        self.labels = labels
        self.batch_size, self.seed, self.drop_last = batch_size, int(seed), drop_last
        self.xflip = bool(xflip)
        self.rank, self.size = 0, 1   # several processes: this one's rows of each batch
        self.epoch, self.pos = 0, 0
        self._perm: torch.Tensor | None = None   # cache of one epoch's permutation
        self._flips: torch.Tensor | None = None  # and of its coins, with xflip
        self._perm_key: tuple[int, int] | None = None   # (seed, epoch) of the cache
        self.transfer = None   # data/transfer.py's ToDevice, made on the first device_batch

    @property
    def x(self) -> torch.Tensor:
        """The whole set as one float32 tensor (the stored tensor itself for float data; new
        memory for pixels: reading ``samples[idx]`` takes only the rows needed)."""
        return self.samples.floats()

    @property
    def per_epoch(self) -> int:
        """Samples delivered per epoch: N rounded down to whole batches when drop_last."""
        n = len(self.samples)
        return n - n % self.batch_size if self.drop_last else n

    @property
    def images_seen(self) -> int:
        """Samples delivered so far (all epochs), including those before a resume."""
        return self.epoch * self.per_epoch + self.pos

    def _permutation(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self._perm_key != (self.seed, epoch):
            g = torch.Generator().manual_seed(self.seed * EPOCH_STRIDE + epoch)
            n = len(self.samples)
            self._perm = torch.randperm(n, generator=g)
            # Drawn after the permutation: the order is the same with and without xflip.
            self._flips = torch.rand(n, generator=g) < 0.5 if self.xflip else None
            self._perm_key = (self.seed, epoch)
        return self._perm, self._flips

    def peek(self) -> Draw:
        """The next batch's draw, without moving the stream."""
        # The epoch rolls over lazily, so a state saved right after an epoch's last batch
        # (pos == per_epoch) and one saved right before the next batch behave the same.
        epoch, pos = self.epoch, self.pos
        if pos >= self.per_epoch:
            epoch, pos = epoch + 1, 0
        perm, flips = self._permutation(epoch)
        stop = min(pos + self.batch_size, self.per_epoch)
        idx = self._local(perm[pos:stop])
        flip = self._local(flips[pos:stop]) if flips is not None else None
        return Draw(idx, flip, (self.seed, self.epoch, self.pos), (epoch, stop))

    def advance(self, draw: Draw) -> None:
        """Move the stream past ``draw`` (a :meth:`peek` at the current position)."""
        if draw.start != (self.seed, self.epoch, self.pos):
            raise RuntimeError("advance() past a draw made at another position")
        self.epoch, self.pos = draw.end

    def next_draw(self) -> Draw:
        draw = self.peek()
        self.advance(draw)
        return draw

    def shard(self, rank: int, size: int) -> "Batches":
        """Serve process ``rank`` of ``size`` its rows of each global batch: every process
        follows the same order (the same seed) and the same flips, and the union of their
        rows is the batch a single process gets, and its labels are those rows' labels.
        ``batch_size`` stays the global batch."""
        if size > 1 and (self.batch_size % size or not self.drop_last):
            raise UserError(f"batch_size={self.batch_size} is the global batch and must divide "
                            f"evenly among the {size} processes: use a multiple of {size}")
        self.rank, self.size = rank, size
        return self

    def _local(self, rows: torch.Tensor) -> torch.Tensor:
        if self.size == 1:
            return rows
        n = rows.shape[0] // self.size
        return rows[self.rank * n:(self.rank + 1) * n]

    def device_batch(self, device, memory_format=None, labels: bool = False):
        """The next batch as float32 on ``device`` (what ``Trainer.step`` is given): the
        stored rows are copied there (pinned and non_blocking on CUDA, where the next batch
        is gathered while this step runs), then converted and flipped there.

        labels=True: ``(x, y)``, y int64 (B,) on ``device``, the labels of x's rows (a
        UserError, before the stream moves, when these batches have none)."""
        from .transfer import ToDevice

        device = torch.device(device)
        if self.transfer is None or self.transfer.device != device:
            self.transfer = ToDevice(device)
        return self.transfer.next(self, memory_format, labels=labels)

    def __iter__(self) -> "Batches":
        return self

    def __next__(self) -> torch.Tensor:
        """The next batch as float32 on the CPU, (batch_size, *sample_shape); with several
        processes, this one's (batch_size / size) rows of it."""
        from .transfer import finish

        draw = self.next_draw()
        return finish(self.samples, self.samples.rows(draw.idx), draw.flip)

    def next_with_labels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch and its labels, (batch_size, *sample_shape) and (batch_size,)."""
        from .transfer import finish

        if self.labels is None:
            raise UserError("this dataset has no labels; use next(batches) instead")
        draw = self.next_draw()
        x = finish(self.samples, self.samples.rows(draw.idx), draw.flip)
        return x, self.labels[draw.idx]

    def state_dict(self) -> dict:
        """{"epoch", "pos", "seed"}: everything needed to continue the same sequence."""
        return {"epoch": self.epoch, "pos": self.pos, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state``; its seed replaces ours, since the order depends on it."""
        missing = {"epoch", "pos", "seed"} - set(state)
        if missing:
            raise UserError(
                f"batch iterator state lacks {sorted(missing)}; the checkpoint is damaged"
            )
        epoch, pos = int(state["epoch"]), int(state["pos"])
        if epoch < 0 or not 0 <= pos <= self.per_epoch:
            raise UserError(
                f"batch iterator state (epoch {epoch}, pos {pos}) does not fit this dataset "
                f"({self.per_epoch:,} samples per epoch): resume with the same data and "
                "batch_size"
            )
        self.epoch, self.pos, self.seed = epoch, pos, int(state["seed"])
