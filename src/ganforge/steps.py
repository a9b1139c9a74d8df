"""Update strategies: the ONLY code that calls backward(), zero_grad() and optimizer.step().

A strategy turns one training iteration into parameter updates. It describes itself as data
(a list of :class:`Phase` records) so that the training plan is read off the same objects the
step uses, and its ``step`` method runs the phases.

:class:`Alternating` is the algorithm of Goodfellow et al. 2014 (Algorithm 1): per iteration,
``d_steps`` discriminator updates (each on a fresh real batch and a fresh z) followed by
``g_steps`` generator updates (each on a fresh z). ``g_steps > 1`` is the reverse schedule
(seed 004 ran 10 G steps per D step).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import nn

from .errors import NonFiniteLossError, UserError
from .freeze import frozen
from .players import Players

Stats = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Phase:
    """One kind of update: which network learns, which is frozen, which optimizer steps."""

    name: str
    trains: nn.Module
    frozen: nn.Module
    opt: torch.optim.Optimizer
    repeat: int
    loss_formula: str
    note: str = ""

    def context(self) -> contextlib.AbstractContextManager:
        """The freeze in force while this phase runs (the plan enters it to read the flags)."""
        return frozen(self.frozen)


def _checked(loss: torch.Tensor, key: str) -> torch.Tensor:
    # Checked before backward/step, so a NaN never reaches the parameters.
    if not torch.isfinite(loss):
        raise NonFiniteLossError(key, float(loss.detach()))
    return loss


def d_update(p: Players, real: torch.Tensor) -> Stats:
    """One D update: D loss on ``real`` and on G(z) made without a graph; only opt_D steps."""
    z = p.sample_z(real.shape[0])
    with frozen(p.G):
        with torch.no_grad(), p.autocast():
            fake = p.G(z)
        with p.autocast():
            real_logits = p.D(real)
            fake_logits = p.D(fake)
        loss = _checked(p.loss.d_loss(real_logits, fake_logits), "loss/D")
        p.opt_D.zero_grad(set_to_none=True)
        loss.backward()
        p.opt_D.step()
    real_logits, fake_logits = real_logits.detach().float(), fake_logits.detach().float()
    return {
        "loss/D": loss.detach(),
        "d_real": real_logits.mean(),
        "d_fake": fake_logits.mean(),
        "diag/d_real_acc": (real_logits > 0).float().mean(),
        "diag/d_fake_acc": (fake_logits < 0).float().mean(),
    }


def g_update(p: Players, batch_size: int) -> Stats:
    """One G update through a frozen D (no gradient is computed for D's weights); only opt_G
    steps. D's parameters, ``.grad`` and optimizer state are untouched."""
    z = p.sample_z(batch_size)
    with frozen(p.D):
        with p.autocast():
            fake_logits = p.D(p.G(z))
        loss = _checked(p.loss.g_loss(fake_logits), "loss/G")
        p.opt_G.zero_grad(set_to_none=True)
        loss.backward()
        p.opt_G.step()
    return {"loss/G": loss.detach()}


def _mean_stats(runs: list[Stats]) -> Stats:
    """Average each stat over the repeats of a phase."""
    if len(runs) == 1:
        return runs[0]
    return {k: torch.stack([r[k] for r in runs]).mean() for k in runs[0]}


class Alternating:
    """Goodfellow's alternating schedule: ``d_steps`` D updates, then ``g_steps`` G updates."""

    name = "alternating"

    def __init__(self, d_steps: int = 1, g_steps: int = 1):
        for key, value in (("d_steps", d_steps), ("g_steps", g_steps)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"{key} must be a whole number >= 1, got {value!r}")
        self.d_steps, self.g_steps = d_steps, g_steps

    def phases(self, p: Players) -> list[Phase]:
        return [
            Phase("D", p.D, p.G, p.opt_D, self.d_steps, f"{p.loss.name} D: {p.loss.d_formula}",
                  "each D step takes a fresh real batch and a fresh z; G(z) runs under no_grad"),
            Phase("G", p.G, p.D, p.opt_G, self.g_steps, f"{p.loss.name} G: {p.loss.g_formula}",
                  "each G step takes a fresh z; gradients flow through D to G only"),
        ]

    def step(self, p: Players, next_real: Callable[[], torch.Tensor]) -> Stats:
        """One iteration; ``next_real()`` returns a fresh real batch for each D update."""
        d_runs, batch_size = [], 0
        for _ in range(self.d_steps):
            real = next_real()
            batch_size = real.shape[0]
            d_runs.append(d_update(p, real))
        # G's batch of z has the size of the real batches, as in Algorithm 1.
        g_runs = [g_update(p, batch_size) for _ in range(self.g_steps)]
        return {**_mean_stats(d_runs), **_mean_stats(g_runs)}


def real_feeder(real) -> Callable[[], torch.Tensor]:
    """Adapt what a user passes to ``Trainer.step`` into a next-batch function.

    A tensor is used once (for the single D update of a 1:k schedule); a list or tuple of
    tensors gives one batch per D update; an iterator is drawn from.
    """
    batches: Iterator[torch.Tensor] = iter([real] if isinstance(real, torch.Tensor) else real)

    def next_real() -> torch.Tensor:
        try:
            return next(batches)
        except StopIteration:
            raise UserError(
                "the schedule needs one real batch per D step (d_steps > 1): pass a list of "
                "d_steps batches or an iterator to step(), or use fit()"
            ) from None

    return next_real
