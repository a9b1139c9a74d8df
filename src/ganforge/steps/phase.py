"""Phases: the data that both drives an iteration and prints as the training plan.

A schedule turns itself into a list of :class:`Phase` records (``Alternating.phases``,
``OneStep.phases``); :func:`run_phases` runs them, and ``plan.py`` prints the same records, so
the plan and the step cannot disagree (the shape of stylegan2-ada's phase list). A phase says
which network(s) it trains (its :class:`Part` records), how the other network is kept out of
each part's gradient (an :class:`Isolation`, a named value), how many times it repeats per
iteration, and the function that runs it once.
"""

from __future__ import annotations

import contextlib
import enum
from dataclasses import dataclass
from typing import Callable

from .._lazy import torch
from ..errors import NonFiniteLossError
from ..freeze import frozen
from ..players import Player, Players

Stats = dict[str, "torch.Tensor"]


class Isolation(enum.Enum):
    """How the other network is kept out of a part's gradient. The value is the plan's
    sentence for it ({trains}: the part's network, {other}: the one kept out)."""

    FROZEN = "requires_grad off while the phase runs: no gradient computed, opt_{other} does " \
             "not step"
    DETACHED = "G(z) enters as sg(G(z)): stop-gradient"
    INPUTS = "backward(inputs={trains}'s parameters): no gradient is computed for {other}'s " \
             "weights from this loss"
    NEGATED = "a hook negates the gradient where it leaves D, so G receives -dL_D/dfake = " \
              "dL_G/dfake (its own loss's gradient), never dL_D's"
    ZERO_SUM = "zero-sum loss: dL_G/dfake = -dL_D/dfake, one backward serves both; D's " \
               "gradient comes from L_D only"
    CANCELLED = "D's weight gradients of L_G(D(G(z))) - L_G(D(sg(G(z)))) cancel (exact only " \
                "if D is deterministic: no dropout, no random augmentation)"

    def describe(self, trains: str, other: str) -> str:
        return self.value.format(trains=trains, other=other)


@dataclass(frozen=True)
class Part:
    """One network's share of a phase: it learns from ``loss`` (a formula for the plan) while
    ``kept_out`` gets no gradient from it, by ``isolation``."""

    trains: Player
    kept_out: Player
    loss: str
    isolation: Isolation


@dataclass
class Iteration:
    """What the phases of one iteration share: the real-batch source (each call gives
    ``(x, y)``, y the labels of a conditional run, else None), what one phase hands the next
    (the last real batch and its labels, a G(z, y) kept with its graph for ``reuse_fake`` and
    its labels), and the images G was trained on (its batch size times its updates: the
    EMA's clock)."""

    next_real: Callable[[], "tuple[torch.Tensor, torch.Tensor | None]"]
    real: "torch.Tensor | None" = None
    real_y: "torch.Tensor | None" = None
    fake: "tuple[torch.Tensor, torch.Tensor | None] | None" = None
    g_images: int = 0


@dataclass(frozen=True)
class Phase:
    """``repeat`` runs of ``run(players, iteration, index)`` per iteration. One part: an
    alternating update; several: a simultaneous (one-step) update, all gradients taken at the
    same parameters before any optimizer steps."""

    name: str
    parts: tuple[Part, ...]
    repeat: int
    run: Callable[[Players, Iteration, int], Stats]
    note: str = ""

    @property
    def simultaneous(self) -> bool:
        return len(self.parts) > 1

    def context(self) -> contextlib.AbstractContextManager:
        """The freeze in force while this phase runs (the plan enters it to read the flags)."""
        frozen_nets = [part.kept_out.net for part in self.parts
                       if part.isolation is Isolation.FROZEN]
        return frozen(*frozen_nets) if frozen_nets else contextlib.nullcontext()


def run_phases(phases: list[Phase], players: Players, it: Iteration) -> Stats:
    """One iteration: every phase, ``repeat`` times, in order; each phase's stats averaged
    over its repeats."""
    stats: Stats = {}
    for phase in phases:
        stats.update(mean_stats([phase.run(players, it, i) for i in range(phase.repeat)]))
    return stats


def checked(players: Players, loss: torch.Tensor, key: str) -> torch.Tensor:
    """``loss`` if finite: checked before the optimizer step, so a NaN never reaches the
    weights. One process: at once, before backward. Several: the check rides on the next
    gradient all-reduce (``steps/update.py``), so every process stops at the same step."""
    if players.world.distributed:
        finite = torch.isfinite(loss.detach()).all()
        players.pending_checks[key] = players.pending_checks.get(key, True) & finite
        return loss
    if players.defer_checks:
        players.guard.note(key, loss)
        return loss
    if not torch.isfinite(loss):
        raise NonFiniteLossError(key, float(loss.detach()))
    return loss


def mean_stats(runs: list[Stats]) -> Stats:
    """Average each stat over the repeats of a phase that reported it (a lazy penalty is
    reported only by the repeats where it was due)."""
    if len(runs) == 1:
        return runs[0]
    keys = dict.fromkeys(k for r in runs for k in r)
    return {k: torch.stack([r[k] for r in runs if k in r]).mean() for k in keys}
