"""The training plan: for each phase, the loss, which parameters get gradients, and which
optimizer with which learning rate updates them.

It answers "which learning rate does my generator get?" (docs/problems.md, problem 1) from the
live objects, not from the config text: the plan is printed from the same :class:`Phase`
records the step runs (``steps/phase.py``), the parameters that get gradients are read off
``requires_grad`` inside the phase's own freeze context, and the optimizer description is read
off the optimizer's ``param_groups`` and compared with the parameters it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._lazy import torch
from .players import Players
from .steps.phase import Isolation, Phase


@dataclass(frozen=True)
class PhasePlan:
    name: str
    repeat: int
    loss: str
    trains: str                 # "D: 8 tensors, 138,817 parameters"
    grads_in_frozen: int        # parameters of the frozen network that require grad (must be 0)
    frozen: str
    optimizer: str              # "opt_D = Adam(lr=0.0002, betas=(0.5, 0.999))"
    optimizer_covers: str       # "exactly D's 8 trainable tensors"
    note: str
    simultaneous: str = ""      # the one-step group this part belongs to, if any


@dataclass(frozen=True)
class TrainingPlan:
    schedule: str
    phases: tuple[PhasePlan, ...]
    lr_schedules: dict[str, str]
    precision: str
    device: str
    extras: tuple[str, ...] = ()
    precision_note: str = ""

    def format(self) -> str:
        lines = [f"Training plan ({self.schedule}; device {self.device}, precision "
                 f"{self.precision})"]
        if self.precision_note and self.precision_note != "as asked":
            lines.append(f"  precision: {self.precision_note}")
        group = None
        for ph in self.phases:
            if ph.simultaneous and ph.simultaneous != group:
                lines.append(f"  one-step phase {ph.simultaneous}  x1 per iteration: both "
                             "gradients are taken at the same parameters, then both "
                             "optimizers step (a simultaneous update)")
            group = ph.simultaneous
            lines += [
                (f"  part {ph.name}" if ph.simultaneous else
                 f"  phase {ph.name}  x{ph.repeat} per iteration"),
                f"    loss:      {ph.loss}",
                f"    gradients: {ph.trains}",
                f"    {'kept out:' if ph.simultaneous else 'frozen:  '} {ph.frozen}",
                f"    updated by {ph.optimizer}, {ph.optimizer_covers}",
            ]
            if ph.note:
                lines.append(f"    note:      {ph.note}")
        for extra in self.extras:
            lines.append(f"  + {extra}")
        lines.append("  lr schedules: " + ", ".join(f"{k}: {v}" for k, v in
                                                    self.lr_schedules.items()))
        lines.append("  No other optimizer exists: G's parameters are stepped only by opt_G, "
                     "D's only by opt_D.")
        return "\n".join(lines)


def _count(params: list[torch.Tensor]) -> str:
    return f"{len(params)} tensors, {sum(p.numel() for p in params):,} parameters"


def describe_optimizer(opt: torch.optim.Optimizer) -> str:
    """``Adam(lr=0.0002, betas=(0.5, 0.999))``: the class and the live hyper-parameters that
    decide the step size, per parameter group when the groups differ."""
    keys = ("lr", "betas", "momentum", "alpha", "weight_decay", "eps")
    groups = []
    for g in opt.param_groups:
        parts = []
        for k in keys:
            if k not in g or (k in ("momentum", "weight_decay") and not g[k]):
                continue
            v = g[k]
            if isinstance(v, tuple):
                v = tuple(float(x) for x in v)
            parts.append(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}")
        groups.append(", ".join(parts))
    unique = list(dict.fromkeys(groups))
    inner = unique[0] if len(unique) == 1 else " | ".join(f"group {i}: {s}" for i, s in
                                                           enumerate(groups))
    return f"{type(opt).__name__}({inner})"


def describe_scheduler(sched) -> str:
    if sched is None:
        return "constant"
    extra = {k: v for k, v in vars(sched).items()
             if k in ("step_size", "gamma", "T_max", "total_iters", "start_factor",
                      "end_factor", "milestones") and v is not None}
    inner = ", ".join(f"{k}={v}" for k, v in extra.items())
    return f"{type(sched).__name__}({inner})"


def _part_plan(phase: Phase, part, players: Players) -> PhasePlan:
    trains_net, other = part.trains, part.kept_out
    with phase.context():
        trains = [t for t in trains_net.net.parameters() if t.requires_grad]
        leaked = [t for t in other.net.parameters() if t.requires_grad]
    in_opt = {id(t) for g in trains_net.opt.param_groups for t in g["params"]}
    trains_ids = {id(t) for t in trains}
    name = trains_net.name
    if in_opt == trains_ids:
        covers = f"which holds exactly {name}'s {len(trains)} trainable tensors"
    else:
        problems = []
        if trains_ids - in_opt:
            problems.append(f"{len(trains_ids - in_opt)} trainable tensors of {name} are "
                            "in no optimizer and never change")
        if in_opt - trains_ids:
            problems.append(f"it holds {len(in_opt - trains_ids)} tensors that are not "
                            f"trainable parameters of {name}")
        covers = "BUT " + " and ".join(problems)
    if part.isolation is not Isolation.FROZEN:
        # One-step part: the other network is not frozen (its own part needs gradients);
        # it is kept out of this loss's gradient by the mechanism named here.
        leaked, blocked = [], f"{other.name} gets no gradient from this loss: " \
                              f"{part.isolation.describe(name, other.name)}"
    elif leaked:
        blocked = f"{other.name}: {len(leaked)} tensors STILL require grad"
    else:
        blocked = (f"{other.name} (requires_grad off for all "
                   f"{_count(list(other.net.parameters()))}; no gradient computed, "
                   f"opt_{other.name} does not step)")
    return PhasePlan(
        name=name, repeat=phase.repeat, loss=part.loss, trains=f"{name}: {_count(trains)}",
        grads_in_frozen=len(leaked), frozen=blocked,
        simultaneous=phase.name if phase.simultaneous else "",
        optimizer=f"opt_{name} = {describe_optimizer(trains_net.opt)}",
        optimizer_covers=covers, note="" if phase.simultaneous else phase.note)


def training_plan(schedule, players: Players, schedulers: dict | None = None,
                  extras: tuple[str, ...] = (), precision_note: str = "") -> TrainingPlan:
    """Read the plan off ``schedule.phases(players)`` (the records the step runs) and the
    live networks and optimizers."""
    phases = schedule.phases(players)
    parts = tuple(_part_plan(ph, part, players) for ph in phases for part in ph.parts)
    notes = tuple(f"{ph.name}: {ph.note}" for ph in phases if ph.simultaneous and ph.note)
    schedulers = schedulers or {}
    return TrainingPlan(
        schedule=schedule.name, phases=parts,
        lr_schedules={k: describe_scheduler(schedulers.get(k)) for k in ("G", "D")},
        precision=players.precision, device=str(players.device), precision_note=precision_note,
        extras=(*notes, *(players.cond.describe(players.G, players.D)
                          if players.cond is not None else ()),
                *players.objective.describe(), *extras),
    )
