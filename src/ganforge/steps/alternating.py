"""Alternating updates: Goodfellow et al. 2014, Algorithm 1.

Per iteration, ``d_steps`` discriminator updates (each on a fresh real batch and a fresh z)
followed by ``g_steps`` generator updates (each on a fresh z, through the *updated* D).
``g_steps > 1`` is the reverse schedule (seed 004 ran 10 G steps per D step).

``reuse_fake=True`` is the PyTorch DCGAN example's variant: the last D step's G(z) is made
with a graph and reused for the first G step, so that G step needs no second G forward. The
samples are the same in distribution; what changes is that the first G step sees the z the
D step saw. It is faster (one G forward less per iteration) and uses a little more memory.
"""

from __future__ import annotations

from typing import Callable

from .._lazy import torch
from ..errors import UserError
from ..freeze import frozen
from ..players import Players
from .phase import Phase, Stats, checked, logit_stats, mean_stats, step_optimizer


def d_update(p: Players, real: torch.Tensor, keep_fake: bool = False
             ) -> tuple[Stats, torch.Tensor | None] | Stats:
    """One D update: D loss on ``real`` and on G(z), plus D's penalties; only opt_D steps.

    G(z) runs under no_grad with G frozen, unless ``keep_fake``: then G(z) keeps its graph
    (for the next G step to reuse), D sees it detached, and ``(stats, fake)`` is returned.
    """
    obj = p.objective
    z = p.sample_z(real.shape[0])
    if keep_fake:
        with p.autocast():
            fake = p.G(z)
        d_fake = fake.detach()
    else:
        with frozen(p.G), torch.no_grad(), p.autocast():
            d_fake = p.G(z)
    with p.autocast():
        real_logits = p.D(obj.d_input(real))
        fake_logits = p.D(obj.d_input(d_fake))
    loss = checked(p.loss.d_loss(real_logits, fake_logits, real_label=obj.real_label),
                   "loss/D")
    extra, reg = obj.d_terms(p.D, real, d_fake)
    p.opt_D.zero_grad(set_to_none=True)
    (loss if extra is None else loss + checked(extra, "reg/D")).backward()
    stats = {"loss/D": loss.detach(), **reg, **logit_stats(real_logits, fake_logits),
             **step_optimizer(p, "D")}
    return (stats, fake) if keep_fake else stats


def g_update(p: Players, batch_size: int, fake: torch.Tensor | None = None,
             real: torch.Tensor | None = None) -> Stats:
    """One G update through a frozen D (no gradient is computed for D's weights); only opt_G
    steps. D's parameters, ``.grad`` and optimizer state are untouched. ``fake`` is a G(z)
    with its graph to reuse; by default a fresh z is drawn. ``real`` is a real batch for the
    terms that need one (feature matching)."""
    obj = p.objective
    with frozen(p.D):
        with p.autocast():
            if fake is None:
                fake = p.G(p.sample_z(batch_size))
            fake_logits = p.D(obj.d_input(fake))
            loss = checked(p.loss.g_loss(fake_logits), "loss/G")
            extra, reg = obj.g_terms(p.G, p.D, real, fake)
        p.opt_G.zero_grad(set_to_none=True)
        (loss if extra is None else loss + checked(extra, "reg/G")).backward()
        stats = {"loss/G": loss.detach(), **reg, **step_optimizer(p, "G")}
    return stats


class Alternating:
    """Goodfellow's alternating schedule: ``d_steps`` D updates, then ``g_steps`` G updates."""

    name = "alternating"

    def __init__(self, d_steps: int = 1, g_steps: int = 1, reuse_fake: bool = False):
        for key, value in (("d_steps", d_steps), ("g_steps", g_steps)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"{key} must be a whole number >= 1, got {value!r}")
        self.d_steps, self.g_steps, self.reuse_fake = d_steps, g_steps, bool(reuse_fake)

    def phases(self, p: Players) -> list[Phase]:
        g_note = ("the first G step reuses the last D step's G(z) (reuse_fake), later ones "
                  "take a fresh z" if self.reuse_fake else "each G step takes a fresh z")
        d_note = ("each D step takes a fresh real batch and a fresh z; "
                  + ("the last D step's G(z) keeps its graph for the G step, D sees it "
                     "detached" if self.reuse_fake else "G(z) runs under no_grad"))
        return [
            Phase("D", p.D, p.G, p.opt_D, self.d_steps, f"{p.loss.name} D: {p.loss.d_formula}",
                  d_note),
            Phase("G", p.G, p.D, p.opt_G, self.g_steps, f"{p.loss.name} G: {p.loss.g_formula}",
                  g_note + "; gradients flow through the updated D to G only"),
        ]

    def step(self, p: Players, next_real: Callable[[], torch.Tensor]) -> Stats:
        """One iteration; ``next_real()`` returns a fresh real batch for each D update."""
        d_runs, batch_size, fake = [], 0, None
        for i in range(self.d_steps):
            real = next_real()
            batch_size = real.shape[0]
            if self.reuse_fake and i == self.d_steps - 1:
                stats, fake = d_update(p, real, keep_fake=True)
            else:
                stats = d_update(p, real)
            d_runs.append(stats)
        # G's batch of z has the size of the real batches, as in Algorithm 1.
        g_runs = []
        for _ in range(self.g_steps):
            g_runs.append(g_update(p, batch_size, fake, real))
            fake = None
        return {**mean_stats(d_runs), **mean_stats(g_runs)}
