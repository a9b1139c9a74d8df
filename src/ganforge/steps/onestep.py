"""One-step (synchronous) training: both gradients at the same parameters, then both steps.

One iteration takes D's gradient of the D loss and G's gradient of the G loss at the same
(theta_G, theta_D), then steps opt_D and opt_G. Each network keeps its own optimizer, learning
rate and scheduler. This is a *simultaneous* update, a different algorithm from alternating
updates (where G's step goes through the already-updated D): on the Dirac-GAN it spirals
outward where alternating gradient steps stay bounded (Mescheder et al. 2018).

Two implementations give the same gradients:

``stopgrad`` — seed 001's single loss, literally, kept as the readable reference::

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

The learning-rate ratio: seed 001 puts a factor lambda on the G part of the loss and calls it
the D:G learning-rate ratio. That holds for plain SGD only. Adam and RMSprop divide by a
running gradient scale, so a constant factor on a loss leaves their step size unchanged;
ganforge gives each network its own optimizer and lr instead (lr_G, lr_D).
"""

from __future__ import annotations

from typing import Callable

from .._lazy import torch
from ..errors import UserError
from ..players import Players
from .phase import Phase, Stats, checked, logit_stats, step_optimizer

IMPLS = ("fused", "stopgrad")


def _params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [t for t in module.parameters() if t.requires_grad]


def _total(loss: torch.Tensor, extra: torch.Tensor | None, key: str) -> torch.Tensor:
    return loss if extra is None else loss + checked(extra, key)


def _finish(p: Players, loss_D, loss_G, reg: dict, real_logits, fake_logits) -> Stats:
    """Both gradients exist: record them, then step both optimizers (order is irrelevant:
    every gradient was taken before either step)."""
    return {"loss/D": loss_D.detach(), "loss/G": loss_G.detach(), **reg,
            **logit_stats(real_logits, fake_logits),
            **step_optimizer(p, "D"), **step_optimizer(p, "G")}


def onestep_stopgrad(p: Players, real: torch.Tensor) -> Stats:
    """Seed 001's formulation: one loss, one backward (see the module docstring)."""
    obj = p.objective
    if obj.feature_matching > 0:
        raise UserError("feature matching with schedule=onestep needs onestep_impl=fused (its "
                        "D features would need their own stop-gradient pair)")
    z = p.sample_z(real.shape[0])
    with p.autocast():
        fake = p.G(z)
        real_logits = p.D(obj.d_input(real))
        fake_sg_logits = p.D(obj.d_input(fake.detach()))
        fake_logits = p.D(obj.d_input(fake))
    loss_D = checked(p.loss.d_loss(real_logits, fake_sg_logits, real_label=obj.real_label),
                     "loss/D")
    loss_G = checked(p.loss.g_loss(fake_logits), "loss/G")
    d_extra, d_reg = obj.d_terms(p.D, real, fake)
    g_extra, g_reg = obj.g_terms(p.G, p.D, real, fake)
    # The last two terms are equal in value (their sum is 0) but not in gradient.
    total = (_total(loss_D, d_extra, "reg/D") + _total(loss_G, g_extra, "reg/G")
             - p.loss.g_loss(fake_sg_logits))
    p.opt_D.zero_grad(set_to_none=True)
    p.opt_G.zero_grad(set_to_none=True)
    total.backward()
    return _finish(p, loss_D, loss_G, {**d_reg, **g_reg}, real_logits, fake_sg_logits)


def onestep_fused(p: Players, real: torch.Tensor) -> Stats:
    """The same gradients as :func:`onestep_stopgrad` with the least work (module docstring)."""
    obj = p.objective
    z = p.sample_z(real.shape[0])
    with p.autocast():
        fake = p.G(z)
        real_logits = p.D(obj.d_input(real))
        fake_logits = p.D(obj.d_input(fake))
    loss_D = checked(p.loss.d_loss(real_logits, fake_logits, real_label=obj.real_label),
                     "loss/D")
    d_extra, reg = obj.d_terms(p.D, real, fake)   # penalties see fake detached: nothing to G
    total_D = _total(loss_D, d_extra, "reg/D")
    p.opt_D.zero_grad(set_to_none=True)
    p.opt_G.zero_grad(set_to_none=True)
    if p.loss.zero_sum and obj.plain_g:
        # Exact for the value too: L_G = -(fake term of L_D), evaluated on the same logits.
        loss_G = checked(p.loss.g_loss(fake_logits.detach()), "loss/G")
        fake.register_hook(torch.neg)   # G receives -dL_D/dfake = dL_G/dfake
        total_D.backward()
    else:
        loss_G = checked(p.loss.g_loss(fake_logits), "loss/G")
        with p.autocast():
            g_extra, g_reg = obj.g_terms(p.G, p.D, real, fake)
        reg.update(g_reg)
        total_D.backward(inputs=_params(p.D), retain_graph=True)
        _total(loss_G, g_extra, "reg/G").backward(inputs=_params(p.G))
    return _finish(p, loss_D, loss_G, reg, real_logits, fake_logits)


class OneStep:
    """Simultaneous updates: per iteration one real batch, one z, both gradients at the same
    point, then opt_D and opt_G step. ``impl`` is ``"fused"`` (default) or ``"stopgrad"``."""

    name = "onestep"

    def __init__(self, impl: str = "fused", d_steps: int = 1, g_steps: int = 1):
        if impl not in IMPLS:
            raise UserError(f"onestep_impl must be one of: {', '.join(IMPLS)}; got {impl!r}")
        if d_steps != 1 or g_steps != 1:
            raise UserError(
                f"schedule=onestep updates D and G once each per step, simultaneously, so "
                f"d_steps and g_steps must be 1 (got d_steps={d_steps}, g_steps={g_steps}); "
                "use schedule=alternating for k:1 or 1:k schedules")
        self.impl = impl
        self.update = onestep_fused if impl == "fused" else onestep_stopgrad

    def phases(self, p: Players) -> list[Phase]:
        group = f"D+G ({self.impl})"
        if self.impl == "stopgrad":
            d_block = ("G(z) enters as sg(G(z)): stop-gradient; D's gradient of "
                       "L_G(D(G(z))) - L_G(D(sg(G(z)))) cancels")
            g_block = "D's weight gradients of the two L_G terms cancel (exact only if D is "
            g_block += "deterministic: no dropout, no random augmentation)"
        else:
            d_block = "backward(inputs=D's parameters): no gradient flows into G"
            g_block = ("gradients requested for G's parameters only: D's weight gradients are "
                       "not computed for L_G")
            if p.loss.zero_sum and p.objective.plain_g:
                d_block = ("a hook negates the gradient where it leaves D, so G receives "
                           "-dL_D/dfake = dL_G/dfake (its own loss's gradient), never dL_D's")
                g_block = ("zero-sum loss: dL_G/dfake = -dL_D/dfake, one backward serves both; "
                           "D's gradient comes from L_D only")
        both = "both gradients at the same parameters, then opt_D and opt_G step"
        return [
            Phase("D", p.D, p.G, p.opt_D, 1, f"{p.loss.name} D: {p.loss.d_formula}",
                  "one real batch and one z per step; " + both, blocked=d_block,
                  simultaneous=group),
            Phase("G", p.G, p.D, p.opt_G, 1, f"{p.loss.name} G: {p.loss.g_formula}",
                  "the same G(z) and D(G(z)) as the D part; " + both, blocked=g_block,
                  simultaneous=group),
        ]

    def step(self, p: Players, next_real: Callable[[], torch.Tensor]) -> Stats:
        return self.update(p, next_real())
