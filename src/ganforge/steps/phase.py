"""What every update strategy shares: the :class:`Phase` record, the NaN guard, the stats."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

from .._lazy import nn, torch

from ..errors import NonFiniteLossError, UserError
from ..freeze import frozen

Stats = dict[str, "torch.Tensor"]

FROZEN = "frozen"


@dataclass(frozen=True)
class Phase:
    """One kind of update: which network learns from which loss, how the other network is
    kept out of that loss's gradient, and which optimizer steps.

    ``blocked`` says how the other network gets no gradient: ``"frozen"`` means its
    ``requires_grad`` is off while the phase runs (the plan reads the flags inside
    :meth:`context`); any other text describes the mechanism of a one-step part (a detached
    input, or gradients requested for the training network's parameters only).
    ``simultaneous`` names the one-step group: parts of a group take their gradients at the
    same parameters, then all of their optimizers step.
    """

    name: str
    trains: nn.Module
    frozen: nn.Module
    opt: torch.optim.Optimizer
    repeat: int
    loss_formula: str
    note: str = ""
    blocked: str = FROZEN
    simultaneous: str = ""

    def context(self) -> contextlib.AbstractContextManager:
        """The freeze in force while this phase runs (the plan enters it to read the flags)."""
        return frozen(self.frozen) if self.blocked == FROZEN else contextlib.nullcontext()


def checked(loss: torch.Tensor, key: str) -> torch.Tensor:
    """``loss`` if finite; checked before backward/step, so a NaN never reaches the weights."""
    if not torch.isfinite(loss):
        raise NonFiniteLossError(key, float(loss.detach()))
    return loss


def logit_stats(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> Stats:
    """D's view of one batch: mean logits, accuracies, and the ADA sign statistic
    r_t = E[sign(D(real))] (Karras et al. 2020)."""
    real_logits, fake_logits = real_logits.detach().float(), fake_logits.detach().float()
    return {
        "d_real": real_logits.mean(),
        "d_fake": fake_logits.mean(),
        "diag/d_real_acc": (real_logits > 0).float().mean(),
        "diag/d_fake_acc": (fake_logits < 0).float().mean(),
        "diag/r_t": real_logits.sign().mean(),
    }


def grad_norm(module: nn.Module) -> torch.Tensor:
    """L2 norm of all of ``module``'s parameter gradients (0 when none were computed)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([g.detach().float().norm() for g in grads]))


def step_optimizer(p, which: str) -> Stats:
    """Step ``which`` ("D" or "G") after its backward: the gradient norm (checked finite, so
    an inf gradient never reaches the weights), the objective's clipping before the step and
    its bookkeeping after it, and every ``p.diag_every`` updates the update-to-weight ratio
    ||theta_new - theta_old|| / ||theta_old|| (a copy of the weights, so not every step)."""
    module, opt = (p.D, p.opt_D) if which == "D" else (p.G, p.opt_G)
    norm = grad_norm(module)
    if not torch.isfinite(norm):
        raise NonFiniteLossError(f"the gradient norm of {which}", float(norm), kind="gradient")
    stats = {f"diag/grad_norm_{which}": norm}
    measure = p.diag_every > 0 and p.objective.updates[which] % p.diag_every == 0
    if measure:
        params = [t for t in module.parameters() if t.grad is not None]
        before = [t.detach().clone() for t in params]
    p.objective.before_step(which, module)
    opt.step()
    p.objective.after_step(which, module)
    if measure and params:
        delta = torch.stack([(t.detach() - b).float().norm() for t, b in zip(params, before)])
        size = torch.stack([b.float().norm() for b in before])
        stats[f"diag/update_ratio_{which}"] = (torch.linalg.vector_norm(delta)
                                               / torch.linalg.vector_norm(size).clamp_min(1e-12))
    return stats


def mean_stats(runs: list[Stats]) -> Stats:
    """Average each stat over the repeats of a phase that reported it (a lazy penalty is
    reported only by the repeats where it was due)."""
    if len(runs) == 1:
        return runs[0]
    keys = dict.fromkeys(k for r in runs for k in r)
    return {k: torch.stack([r[k] for r in runs if k in r]).mean() for k in keys}


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
