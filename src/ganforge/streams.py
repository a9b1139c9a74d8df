"""Every random stream of a run, named in one place.

Training streams (they decide the run; a checkpoint holds each one's state):

- ``global``: torch's global RNG, seeded with ``seed``: network initialization, dropout;
- ``z``: the latents of every step, ``Trainer.players.z_generator``, seeded with ``seed``;
- ``data``: the batch order, epoch ``e`` from ``seed * 1_000_003 + e`` (``data/batches.py``);
- ``objective``: alpha of GP/DRAGAN, augmentation, instance noise (``Objective.state``),
  seeded with ``seed``;
- ``labels``: the fake labels of a class-conditional run (``Conditioning``), seeded with
  ``side_seed(seed, "labels")`` so that its draws are not z's.

With several processes (``distributed.py``), the ``z``, ``data`` and ``objective`` streams
are drawn for the global batch on every process, which keeps its own rows (:class:`Sharded`):
the processes stay in step and a sample gets the draw it gets in a one-process run. The global
RNG is per process (:func:`rank_seed`): dropout masks differ between processes, as they
differ between the samples of one batch.

Side streams (they never touch training, so a run with sample grids, evaluation and the
doctor trains bit for bit like one without): each is its own generator seeded from a hash of
``(seed, name)``, so no two of them, and none of them and a training stream, share draws:

- ``grid``: the fixed z of the sample grids (and ``ganforge sample``);
- ``eval``: the latents of evaluation during training;
- ``probe``: the doctor's diversity probe (its z and its real subset);
- ``preflight``: the start-up checks' few latents (always seed 0: the same for every run).

``ganforge eval --seed S`` draws its latents from ``torch.Generator().manual_seed(S)``, so a
user can reproduce them by hand.
"""

from __future__ import annotations

import hashlib

from ._lazy import torch

SIDE_STREAMS = ("grid", "eval", "probe", "preflight", "rank", "labels")


def side_seed(seed: int, name: str) -> int:
    """A 63-bit seed for side stream ``name`` of run ``seed``."""
    if name not in SIDE_STREAMS:
        raise ValueError(f"unknown stream {name!r}: one of {', '.join(SIDE_STREAMS)}")
    digest = hashlib.sha256(f"ganforge/{name}/{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def rank_seed(seed: int, rank: int) -> int:
    """The global RNG's seed on process ``rank`` (dropout, network-internal randomness): the
    run's seed on rank 0, so a one-process run is rank 0's; a stream of its own on the others,
    so their dropout masks are not copies of rank 0's."""
    return seed if rank == 0 else side_seed(seed * 1_000_003 + rank, "rank")


def side_generator(seed: int, name: str) -> "torch.Generator":
    """A CPU generator for side stream ``name`` of run ``seed``."""
    return torch.Generator().manual_seed(side_seed(seed, name))


class Sharded:
    """A training stream as every process draws it: per-sample numbers for the whole global
    batch (this rank's rows times ``size``), of which this rank keeps its own rows. Every rank
    draws the same numbers, so the stream stays in step on all of them, and a sample gets the
    draw it gets in the one-process run. With ``size`` 1 it draws exactly as the plain
    generator does."""

    def __init__(self, generator: "torch.Generator", rank: int = 0, size: int = 1):
        self.generator, self.rank, self.size = generator, rank, size

    @property
    def device(self):
        return self.generator.device

    def _rows(self, shape: tuple[int, ...], draw) -> "torch.Tensor":
        if self.size == 1:
            return draw(tuple(shape))
        n = shape[0]
        return draw((n * self.size, *shape[1:]))[self.rank * n:(self.rank + 1) * n]

    def rand(self, shape):
        return self._rows(shape, lambda s: torch.rand(s, generator=self.generator,
                                                      device=self.device))

    def randn(self, shape):
        return self._rows(shape, lambda s: torch.randn(s, generator=self.generator,
                                                       device=self.device))

    def randint(self, low: int, high: int, shape):
        return self._rows(shape, lambda s: torch.randint(low, high, s, generator=self.generator,
                                                         device=self.device))


def rand(shape, generator, device=None) -> "torch.Tensor":
    """U[0, 1) draws of ``shape`` (the first dimension: samples) from a generator, a
    :class:`Sharded` stream, or the global RNG (None)."""
    if isinstance(generator, Sharded):
        return generator.rand(shape)
    return torch.rand(shape, generator=generator, device=device)


def randn(shape, generator, device=None) -> "torch.Tensor":
    if isinstance(generator, Sharded):
        return generator.randn(shape)
    return torch.randn(shape, generator=generator, device=device)


def randint(low: int, high: int, shape, generator, device=None) -> "torch.Tensor":
    if isinstance(generator, Sharded):
        return generator.randint(low, high, shape)
    return torch.randint(low, high, shape, generator=generator, device=device)
