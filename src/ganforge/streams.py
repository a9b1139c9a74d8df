"""Every random stream of a run, named in one place.

Training streams (they decide the run; a checkpoint holds each one's state):

- ``global``: torch's global RNG, seeded with ``seed``: network initialization, dropout;
- ``z``: the latents of every step, ``Trainer.players.z_generator``, seeded with ``seed``;
- ``data``: the batch order, epoch ``e`` from ``seed * 1_000_003 + e`` (``data/batches.py``);
- ``objective``: alpha of GP/DRAGAN, augmentation, instance noise (``Objective.state``),
  seeded with ``seed``.

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

SIDE_STREAMS = ("grid", "eval", "probe", "preflight")


def side_seed(seed: int, name: str) -> int:
    """A 63-bit seed for side stream ``name`` of run ``seed``."""
    if name not in SIDE_STREAMS:
        raise ValueError(f"unknown stream {name!r}: one of {', '.join(SIDE_STREAMS)}")
    digest = hashlib.sha256(f"ganforge/{name}/{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def side_generator(seed: int, name: str) -> "torch.Generator":
    """A CPU generator for side stream ``name`` of run ``seed``."""
    return torch.Generator().manual_seed(side_seed(seed, name))
