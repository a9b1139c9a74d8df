"""One network's update after its backward, in the order every step uses:

    backward -> average over processes -> guard (finite) -> clip -> step -> constrain -> record

(fp16: the loss is scaled before backward, and the gradients unscaled before the guard; a
step whose gradients overflowed is skipped by the scaler, not an error: ``precision.py``.)

With several processes the gradients are averaged first (one flattened all-reduce, which
also carries the finiteness of the losses: ``distributed.py``), so every process sees the same
gradient and takes the same decision. Gradient-norm clipping comes before the optimizer step,
WGAN weight clipping right after it, then the historical average and the update count that
lazy regularization reads. Every update in ``alternating.py`` and ``onestep.py`` goes through
:func:`apply_update`, so this file is the whole story of what happens between ``backward()``
and the next batch.
"""

from __future__ import annotations

from .._lazy import torch
from ..diagnostics import grad_norm, update_ratio
from ..distributed import average_gradients
from ..errors import NonFiniteLossError
from ..players import Player, Players
from .phase import Stats


def _synchronize(players: Players, params: list) -> None:
    """Average the gradients over the processes; raise on every process at once when any
    process's loss was not finite (no process steps its optimizer)."""
    checks = players.pending_checks
    keys = sorted(checks)
    flags = (torch.stack([(~checks[k]).to(params[0].dtype) for k in keys])
             .to(params[0].device) if keys and params else None)
    players.pending_checks = {}
    with players.comm:
        flags = average_gradients(params, players.world, flags)
    if flags is None:
        return
    if players.defer_checks:   # settled at the trainer's next check, on every process alike
        for key, flag in zip(keys, flags):
            players.guard.note(key, torch.where(flag > 0, float("nan"), 0.0))
    elif bool((flags > 0).any()):
        key = keys[int((flags > 0).nonzero()[0])]
        raise NonFiniteLossError(f"{key} (on {int(flags.max())} of {players.world.size} "
                                 "processes)", float("nan"))


def backward(players: Players, loss: torch.Tensor, **kwargs) -> None:
    """``loss.backward(**kwargs)``; scaled first under fp16 (``players.scaler``)."""
    scaler = players.scaler
    (scaler.scale(loss) if scaler is not None else loss).backward(**kwargs)


def apply_update(players: Players, player: Player) -> Stats:
    """Step ``player``'s optimizer on the gradients its backward left. Returns its stats:
    the gradient norm (checked finite, so an inf gradient never reaches the weights) and,
    every ``players.diag_every`` updates, the update-to-weight ratio
    ||theta_new - theta_old|| / ||theta_old|| (it needs a copy of the weights)."""
    objective, name = players.objective, player.name
    params = [t for t in player.net.parameters() if t.grad is not None]
    if players.world.distributed:
        _synchronize(players, params)
    scaler = players.scaler
    if scaler is not None:
        scaler.unscale_(player.opt)   # true gradients (inf where fp16 overflowed)
    norm = grad_norm(params)
    if scaler is not None:
        pass   # an overflow is the scaler's to handle: it skips the step, lowers the scale
    elif players.defer_checks:
        players.guard.note(f"the gradient norm of {name}", norm)
    elif not torch.isfinite(norm):
        raise NonFiniteLossError(f"the gradient norm of {name}", float(norm), kind="gradient")
    stats = {f"diag/grad_norm_{name}": norm}
    measure = players.diag_every > 0 and objective.state.updates[name] % players.diag_every == 0
    before = [t.detach().clone() for t in params] if measure else []
    objective.clip_gradients(name, params)
    if scaler is not None:
        scaler.step(player.opt)
    else:
        player.opt.step()
    objective.constrain(name, player.net)
    objective.record_update(name, player.net)
    if measure and params:
        stats[f"diag/update_ratio_{name}"] = update_ratio(before, params)
    return stats
