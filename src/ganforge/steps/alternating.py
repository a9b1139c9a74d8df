"""Alternating updates: Goodfellow et al. 2014, Algorithm 1.

Per iteration, ``d_steps`` discriminator updates (each on a fresh real batch and a fresh z)
followed by ``g_steps`` generator updates (each on a fresh z, through the *updated* D).
``g_steps > 1`` is the reverse schedule (problem 5 in docs/problems.md ran 10 G steps per D
step).

``reuse_fake=True`` is the PyTorch DCGAN example's variant: the last D step's G(z) is made
with a graph and reused for the first G step, so that G step needs no second G forward. The
samples are the same in distribution; what changes is that the first G step sees the z the
D step saw. It is faster (one G forward less per iteration) and uses a little more memory.
"""

from __future__ import annotations

from .._lazy import torch
from ..errors import UserError
from ..freeze import frozen
from ..players import Players
from ..conditioning import discriminate, run_generator
from ..diagnostics import logit_stats
from ..objective import add_term
from .phase import Isolation, Iteration, Part, Phase, Stats, checked
from .update import apply_update, backward


def d_update(players: Players, real: torch.Tensor, real_y: torch.Tensor | None = None,
             keep_fake: bool = False):
    """One D update: D loss on ``real`` (labels ``real_y`` in a conditional run) and on
    G(z, y) with fresh z and fake labels, plus D's penalties (and the AC-GAN class loss);
    only opt_D steps.

    G(z) runs under no_grad with G frozen, unless ``keep_fake``: then G(z) keeps its graph
    (for the next G step to reuse), D sees it detached, and ``(stats, (fake, fake_y))`` is
    returned.
    """
    obj, G, D, cond = players.objective, players.G, players.D, players.cond
    z = players.sample_z(real.shape[0])
    fake_y = players.sample_y(real.shape[0])
    if keep_fake:
        with players.autocast():
            fake = run_generator(G, z, fake_y)
        d_fake = fake.detach()
    else:
        with frozen(G), torch.no_grad(), players.autocast():
            d_fake = run_generator(G, z, fake_y)
    with players.autocast():
        real_logits, real_cls = discriminate(D, obj.d_input(real), real_y)
        fake_logits, fake_cls = discriminate(D, obj.d_input(d_fake), fake_y)
    loss = checked(players, players.loss.d_loss(real_logits, fake_logits,
                                                real_label=obj.state.real_label), "loss/D")
    extra, reg = obj.d_terms(D, real, d_fake, real_y, fake_y)
    if cond is not None:
        cls, cls_stats = cond.d_class_loss(real_cls, real_y, fake_cls, fake_y)
        extra, reg = add_term(extra, cls), {**reg, **cls_stats}
    players.opt_D.zero_grad(set_to_none=True)
    backward(players, loss if extra is None else loss + checked(players, extra, "reg/D"))
    stats = {"loss/D": loss.detach(), **reg, **logit_stats(real_logits, fake_logits),
             **apply_update(players, players.discriminator)}
    return (stats, (fake, fake_y)) if keep_fake else stats


def g_update(players: Players, batch_size: int, fake: torch.Tensor | None = None,
             real: torch.Tensor | None = None, real_y: torch.Tensor | None = None,
             fake_y: torch.Tensor | None = None) -> Stats:
    """One G update through a frozen D (no gradient is computed for D's weights); only opt_G
    steps. D's parameters, ``.grad`` and optimizer state are untouched. ``fake`` is a G(z)
    (G(z, fake_y) in a conditional run) with its graph to reuse; by default a fresh z (and
    fake labels) are drawn. ``real`` (and its labels) is a real batch for the terms that need
    one (feature matching)."""
    obj, G, D, cond = players.objective, players.G, players.D, players.cond
    with frozen(D):
        with players.autocast():
            if fake is None:
                fake_y = players.sample_y(batch_size)
                fake = run_generator(G, players.sample_z(batch_size), fake_y)
            fake_logits, fake_cls = discriminate(D, obj.d_input(fake), fake_y)
            loss = checked(players, players.loss.g_loss(fake_logits), "loss/G")
            extra, reg = obj.g_terms(G, D, real, fake, real_y, fake_y)
            if cond is not None:
                cls, cls_stats = cond.g_class_loss(fake_cls, fake_y)
                extra, reg = add_term(extra, cls), {**reg, **cls_stats}
        players.opt_G.zero_grad(set_to_none=True)
        backward(players, loss if extra is None else loss + checked(players, extra, "reg/G"))
        stats = {"loss/G": loss.detach(), **reg, **apply_update(players, players.generator)}
    return stats


class Alternating:
    """Goodfellow's alternating schedule: ``d_steps`` D updates, then ``g_steps`` G updates."""

    name = "alternating"

    def __init__(self, d_steps: int = 1, g_steps: int = 1, reuse_fake: bool = False):
        self.reuse_fake = bool(reuse_fake)
        self.set_ratio(d_steps, g_steps)

    def set_ratio(self, d_steps: int, g_steps: int) -> None:
        """D and G updates per iteration from now on (what ``balance=ratio`` changes)."""
        for key, value in (("d_steps", d_steps), ("g_steps", g_steps)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"{key} must be a whole number >= 1, got {value!r}")
        self.d_steps, self.g_steps = d_steps, g_steps

    def _d_phase_run(self, players: Players, it: Iteration, i: int) -> Stats:
        it.real, it.real_y = it.next_real()
        if self.reuse_fake and i == self.d_steps - 1:
            stats, it.fake = d_update(players, it.real, it.real_y, keep_fake=True)
            return stats
        return d_update(players, it.real, it.real_y)

    def _g_phase_run(self, players: Players, it: Iteration, i: int) -> Stats:
        # G's batch of z has the size of the real batches, as in Algorithm 1.
        (fake, fake_y), it.fake = it.fake or (None, None), None
        it.g_images += it.real.shape[0]
        return g_update(players, it.real.shape[0], fake, it.real, it.real_y, fake_y)

    def phases(self, players: Players) -> list[Phase]:
        loss, D, G = players.loss, players.discriminator, players.generator
        g_note = ("the first G step reuses the last D step's G(z) (reuse_fake), later ones "
                  "take a fresh z" if self.reuse_fake else "each G step takes a fresh z")
        d_note = ("each D step takes a fresh real batch and a fresh z; "
                  + ("the last D step's G(z) keeps its graph for the G step, D sees it "
                     "detached" if self.reuse_fake else "G(z) runs under no_grad"))
        return [
            Phase("D", (Part(D, G, f"{loss.name} D: {loss.d_formula}", Isolation.FROZEN),),
                  self.d_steps, self._d_phase_run, d_note),
            Phase("G", (Part(G, D, f"{loss.name} G: {loss.g_formula}", Isolation.FROZEN),),
                  self.g_steps, self._g_phase_run,
                  g_note + "; gradients flow through the updated D to G only"),
        ]
