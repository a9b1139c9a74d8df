"""An infinite, exactly resumable stream of shuffled batches over an in-memory tensor.

The order is a pure function of (seed, epoch, pos): epoch ``e`` uses the permutation drawn
from ``torch.Generator().manual_seed(seed * 1_000_003 + e)``, and ``pos`` is how far into it
we are. A checkpoint stores those three numbers, so a resumed run sees the same batches as an
uninterrupted one. The global RNG is never used, so data order and model randomness do not
disturb each other.
"""

from __future__ import annotations

import torch

from ganforge.errors import UserError

EPOCH_STRIDE = 1_000_003  # a prime, so (seed, epoch) pairs do not collide for epochs < stride


class Batches:
    """Iterate forever over shuffled batches of ``x`` (N, *sample_shape).

    drop_last=True: every batch is (batch_size, *sample_shape); the N % batch_size samples
    left at the end of an epoch are skipped (they are different ones each epoch).
    drop_last=False: the last batch of an epoch may be smaller.
    """

    def __init__(
        self,
        x: torch.Tensor,
        batch_size: int,
        seed: int,
        labels: torch.Tensor | None = None,
        drop_last: bool = True,
    ):
        n = x.shape[0]
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UserError(f"batch_size must be a positive integer, got {batch_size!r}")
        if batch_size > n:
            raise UserError(
                f"batch_size={batch_size} is larger than the dataset, which has {n:,} samples; "
                f"use batch_size <= {n:,} or more data"
            )
        if labels is not None and labels.shape[0] != n:
            raise UserError(f"{labels.shape[0]:,} labels for {n:,} samples; they must match")
        self.x, self.labels = x, labels
        self.batch_size, self.seed, self.drop_last = batch_size, int(seed), drop_last
        self.rank, self.size = 0, 1   # several processes: this one's rows of each batch
        self.epoch, self.pos = 0, 0
        self._perm: torch.Tensor | None = None  # cache of the current epoch's permutation
        self._perm_epoch = -1

    @property
    def per_epoch(self) -> int:
        """Samples delivered per epoch: N rounded down to whole batches when drop_last."""
        n = self.x.shape[0]
        return n - n % self.batch_size if self.drop_last else n

    @property
    def images_seen(self) -> int:
        """Samples delivered so far (all epochs), including those before a resume."""
        return self.epoch * self.per_epoch + self.pos

    def _permutation(self) -> torch.Tensor:
        if self._perm_epoch != self.epoch:
            g = torch.Generator().manual_seed(self.seed * EPOCH_STRIDE + self.epoch)
            self._perm = torch.randperm(self.x.shape[0], generator=g).to(self.x.device)
            self._perm_epoch = self.epoch
        return self._perm

    def _next_indices(self) -> torch.Tensor:
        # The epoch rolls over lazily, so a state saved right after an epoch's last batch
        # (pos == per_epoch) and one saved right before the next batch behave the same.
        if self.pos >= self.per_epoch:
            self.epoch, self.pos = self.epoch + 1, 0
        idx = self._permutation()[self.pos : min(self.pos + self.batch_size, self.per_epoch)]
        self.pos += idx.shape[0]
        return idx

    def shard(self, rank: int, size: int) -> "Batches":
        """Serve process ``rank`` of ``size`` its rows of each global batch: every process
        follows the same order (the same seed), and the union of their rows is the batch a
        single process gets. ``batch_size`` stays the global batch."""
        if size > 1 and (self.batch_size % size or not self.drop_last):
            raise UserError(f"batch_size={self.batch_size} is the global batch and must divide "
                            f"evenly among the {size} processes: use a multiple of {size}")
        self.rank, self.size = rank, size
        return self

    def _local(self, idx: torch.Tensor) -> torch.Tensor:
        if self.size == 1:
            return idx
        n = idx.shape[0] // self.size
        return idx[self.rank * n:(self.rank + 1) * n]

    def __iter__(self) -> "Batches":
        return self

    def __next__(self) -> torch.Tensor:
        """The next batch, (batch_size, *sample_shape); with several processes, this one's
        (batch_size / size) rows of it."""
        return self.x[self._local(self._next_indices())]

    def next_with_labels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch and its labels, (batch_size, *sample_shape) and (batch_size,)."""
        if self.labels is None:
            raise UserError("this dataset has no labels; use next(batches) instead")
        idx = self._local(self._next_indices())
        return self.x[idx], self.labels[idx.to(self.labels.device)]

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
        self._perm_epoch = -1
