"""One-step (synchronous) training: both gradients at the same parameters, then both steps.

One iteration takes D's gradient of the D loss and G's gradient of the G loss at the same
(theta_G, theta_D), then steps opt_D and opt_G. Each network keeps its own optimizer, learning
rate and scheduler. This is a *simultaneous* update, a different algorithm from alternating
updates (where G's step goes through the already-updated D): on the Dirac-GAN it spirals
outward where alternating gradient steps stay bounded (Mescheder et al. 2018).

Two implementations give the same gradients:

``stopgrad`` — the single loss of Su Jianlin's post (docs/problems.md, problem 2), literally,
kept as the readable reference::

    L = L_D(D(x), D(sg(G(z)))) + L_G(D(G(z))) - L_G(D(sg(G(z))))

One backward. D's gradient of the last two terms cancels, G's gradient comes from the middle
term only. It needs D(G(z)) *twice*; with dropout or random augmentation in D the two
evaluations draw different randomness, the cancellation fails, and D's gradient is wrong.

``fused`` (default) — the least work: one G forward, one D forward on real and one on fake.
D's weight gradients come from the D loss (``backward(inputs=D's parameters)``); G's from the G
loss through D with gradients requested for G's parameters only, so D's weight gradients are
never computed for it. For zero-sum losses (saturating, Wasserstein) dL_G/dfake =
-dL_D/dfake, so ONE backward of the D loss serves both: a hook negates the gradient where it
leaves D and enters G. Every D evaluation is used once, so dropout and augmentation are exact.

BatchNorm in D normalizes the real and the fake batch separately (two forward calls), as the
alternating reference does; one call on cat([real, fake]) would change the gradients.

The learning-rate ratio: the post puts a factor lambda on the G part of the loss and calls it
the D:G learning-rate ratio. That holds for plain SGD only. Adam and RMSprop divide by a
running gradient scale, so a constant factor on a loss leaves their step size unchanged;
ganforge gives each network its own optimizer and lr instead (lr_G, lr_D).
"""

from __future__ import annotations

from .._lazy import torch
from ..conditioning import discriminate, run_generator
from ..diagnostics import logit_stats
from ..objective import add_term
from ..errors import UserError
from ..players import Players
from .phase import Isolation, Iteration, Part, Phase, Stats, checked
from .update import apply_update, backward

IMPLS = ("fused", "stopgrad")


def single_backward(players: Players) -> bool:
    """Whether ``fused`` needs one backward: a zero-sum loss and no extra term in G's loss
    (then dL_G/dfake = -dL_D/dfake exactly); an AC-GAN class loss is such a term. Read by the
    step and by the plan."""
    return (players.loss.zero_sum and players.objective.plain_g
            and (players.cond is None or players.cond.method != "acgan"))


def _total(players: Players, loss: torch.Tensor, extra: torch.Tensor | None,
           key: str) -> torch.Tensor:
    return loss if extra is None else loss + checked(players, extra, key)


def _finish(players: Players, loss_D, loss_G, reg: dict, real_logits, fake_logits) -> Stats:
    """Both gradients exist: record them, then step both optimizers (order is irrelevant:
    every gradient was taken before either step)."""
    return {"loss/D": loss_D.detach(), "loss/G": loss_G.detach(), **reg,
            **logit_stats(real_logits, fake_logits),
            **apply_update(players, players.discriminator),
            **apply_update(players, players.generator)}


def _d_extra(players, real, fake, real_y, fake_y, real_cls, fake_cls):
    """D's penalties (fake detached inside: nothing to G) and, in an AC-GAN run, its class
    loss."""
    extra, reg = players.objective.d_terms(players.D, real, fake, real_y, fake_y)
    if players.cond is not None:
        cls, stats = players.cond.d_class_loss(real_cls, real_y, fake_cls, fake_y)
        extra, reg = add_term(extra, cls), {**reg, **stats}
    return extra, reg


def _g_extra(players, real, fake, real_y, fake_y, fake_cls):
    """G's extra terms and, in an AC-GAN run, its class loss."""
    extra, reg = players.objective.g_terms(players.G, players.D, real, fake, real_y, fake_y)
    if players.cond is not None:
        cls, stats = players.cond.g_class_loss(fake_cls, fake_y)
        extra, reg = add_term(extra, cls), {**reg, **stats}
    return extra, reg


def onestep_stopgrad(players: Players, real: torch.Tensor,
                     real_y: torch.Tensor | None = None) -> Stats:
    """The single stop-gradient loss: one loss, one backward (see the module docstring)."""
    obj, G, D, loss = players.objective, players.G, players.D, players.loss
    if obj.feature_matching > 0:
        raise UserError("feature matching with schedule=onestep needs onestep_impl=fused (its "
                        "D features would need their own stop-gradient pair)")
    z = players.sample_z(real.shape[0])
    fake_y = players.sample_y(real.shape[0])
    with players.autocast():
        fake = run_generator(G, z, fake_y)
        real_logits, real_cls = discriminate(D, obj.d_input(real), real_y)
        fake_sg_logits, fake_sg_cls = discriminate(D, obj.d_input(fake.detach()), fake_y)
        fake_logits, fake_cls = discriminate(D, obj.d_input(fake), fake_y)
    loss_D = checked(players, loss.d_loss(real_logits, fake_sg_logits,
                                          real_label=obj.state.real_label), "loss/D")
    loss_G = checked(players, loss.g_loss(fake_logits), "loss/G")
    d_extra, d_reg = _d_extra(players, real, fake, real_y, fake_y, real_cls, fake_sg_cls)
    g_extra, g_reg = _g_extra(players, real, fake, real_y, fake_y, fake_cls)
    # The last terms equal the G terms in value (their difference is 0) but not in gradient.
    total = (_total(players, loss_D, d_extra, "reg/D")
             + _total(players, loss_G, g_extra, "reg/G") - loss.g_loss(fake_sg_logits))
    if players.cond is not None:
        sg_cls = players.cond.g_class_loss(fake_sg_cls, fake_y)[0]
        total = total if sg_cls is None else total - sg_cls
    players.opt_D.zero_grad(set_to_none=True)
    players.opt_G.zero_grad(set_to_none=True)
    backward(players, total)
    return _finish(players, loss_D, loss_G, {**d_reg, **g_reg}, real_logits, fake_sg_logits)


def onestep_fused(players: Players, real: torch.Tensor,
                  real_y: torch.Tensor | None = None) -> Stats:
    """The same gradients as :func:`onestep_stopgrad` with the least work (module docstring)."""
    obj, G, D, loss = players.objective, players.G, players.D, players.loss
    z = players.sample_z(real.shape[0])
    fake_y = players.sample_y(real.shape[0])
    with players.autocast():
        fake = run_generator(G, z, fake_y)
        real_logits, real_cls = discriminate(D, obj.d_input(real), real_y)
        fake_logits, fake_cls = discriminate(D, obj.d_input(fake), fake_y)
    loss_D = checked(players, loss.d_loss(real_logits, fake_logits,
                                          real_label=obj.state.real_label), "loss/D")
    d_extra, reg = _d_extra(players, real, fake, real_y, fake_y, real_cls, fake_cls)
    total_D = _total(players, loss_D, d_extra, "reg/D")
    players.opt_D.zero_grad(set_to_none=True)
    players.opt_G.zero_grad(set_to_none=True)
    if single_backward(players):
        # Exact for the value too: L_G = -(fake term of L_D), evaluated on the same logits.
        loss_G = checked(players, loss.g_loss(fake_logits.detach()), "loss/G")
        fake.register_hook(torch.neg)   # G receives -dL_D/dfake = dL_G/dfake
        backward(players, total_D)
    else:
        loss_G = checked(players, loss.g_loss(fake_logits), "loss/G")
        with players.autocast():
            g_extra, g_reg = _g_extra(players, real, fake, real_y, fake_y, fake_cls)
        reg.update(g_reg)
        backward(players, total_D, inputs=players.discriminator.trainable(), retain_graph=True)
        backward(players, _total(players, loss_G, g_extra, "reg/G"),
                 inputs=players.generator.trainable())
    return _finish(players, loss_D, loss_G, reg, real_logits, fake_logits)


class OneStep:
    """Simultaneous updates: per iteration one real batch, one z, both gradients at the same
    point, then opt_D and opt_G step. ``impl`` is ``"fused"`` (default) or ``"stopgrad"``."""

    name = "onestep"

    def __init__(self, impl: str = "fused"):
        if impl not in IMPLS:
            raise UserError(f"onestep_impl must be one of: {', '.join(IMPLS)}; got {impl!r}")
        self.impl = impl
        self.update = onestep_fused if impl == "fused" else onestep_stopgrad

    def _run(self, players: Players, it: Iteration, i: int) -> Stats:
        real, real_y = it.next_real()
        it.g_images += real.shape[0]
        return self.update(players, real, real_y)

    def phases(self, players: Players) -> list[Phase]:
        loss, D, G = players.loss, players.discriminator, players.generator
        if self.impl == "stopgrad":
            d_how, g_how = Isolation.DETACHED, Isolation.CANCELLED
        elif single_backward(players):
            d_how, g_how = Isolation.NEGATED, Isolation.ZERO_SUM
        else:
            d_how, g_how = Isolation.INPUTS, Isolation.INPUTS
        both = "both gradients at the same parameters, then opt_D and opt_G step"
        return [Phase(
            f"D+G ({self.impl})",
            (Part(D, G, f"{loss.name} D: {loss.d_formula}", d_how),
             Part(G, D, f"{loss.name} G: {loss.g_formula}", g_how)),
            1, self._run, "one real batch and one z per step, the same G(z) and D(G(z)) for "
            "both parts; " + both)]
