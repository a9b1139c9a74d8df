"""Rebalancing during training (``balance=...``): the controllers, and the :class:`Balancer`
that applies one of them to a running training.

Each controller turns a signal into a new setting, one ``update`` call per adjustment
interval, and returns a :class:`Decision`: the new value, stats to log (``balance/...``), and
the reason in words. The caller applies the value (the augmentation probability, the label
smoothing, the number of G steps) and logs the stats; the controller touches nothing else.
``state_dict``/``load_state_dict`` carry the state through checkpoints.

- :class:`AdaController`: ADA (Karras et al. 2020, StyleGAN2-ADA) drives the augmentation
  probability p so that r_t = E[sign(D(real))] tracks a target (0.6):
  p += sign(r_t - target) * images / adjust_images, clamped to [0, p_max]; with the paper's
  adjust_images = 500k, p can go from 0 to 1 in 500k real images.
- :class:`SmoothingController`: one-sided label smoothing raised while D is more accurate
  than a target (the advice collected in problem 5 of docs/problems.md: "raise the smoothing
  as D's loss falls"), lowered when it is not, within [0, max_smoothing].
- :class:`RatioController`: more G steps per D step while D overpowers G, fewer when it does
  not, in whole steps, bounded, with patience so that it does not flip every interval.

The :class:`Balancer` averages the signals the step already logs (``diag/r_t``, D's
accuracies) over ``interval`` iterations, asks its controller for a new setting, and applies
it through three named setters and nothing else: ``Objective.set_augment_p`` (``ada``),
``Objective.set_real_label`` (``smoothing``) and ``Alternating.set_ratio`` (``ratio``).
``auto`` is ``ratio`` under ``schedule=alternating`` (on the doctor's benchmark of a D that
overpowers G, more G steps cut the FID in half where ADA made it worse: docs/doctor.md);
under one-step, ``ada`` on images, else ``smoothing``. Each decision is logged as
``balance/...`` stats, and the Balancer's state is checkpointed with the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..distributed import World, sum_over_ranks
from ..errors import UserError

MODES = ("off", "auto", "ada", "smoothing", "ratio")
ADA_POLICY = ("translation", "cutout")   # ADA's default when the run had no augmentation


@dataclass
class Decision:
    """What a controller decided: the new setting, the stats to log, and why."""

    value: float | int | tuple[int, int]
    stats: dict[str, float] = field(default_factory=dict)
    reason: str = ""


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _check(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


class AdaController:
    """Augmentation probability p driven by r_t toward ``target``.

    Call ``update(r_t, images)`` every few steps (ADA: every 4) with r_t averaged over those
    steps and ``images`` the real images D saw in them (batch_size * steps). ``p_max`` stays
    below 1: at p = 1 every real image is augmented and the augmentations leak into G.
    """

    def __init__(self, target: float = 0.6, adjust_images: int = 500_000, p: float = 0.0,
                 p_max: float = 0.99):
        _check("target", target, 0.0, 1.0)
        _check("p_max", p_max, 0.0, 0.999_999)
        _check("p", p, 0.0, p_max)
        if adjust_images <= 0:
            raise ValueError(f"adjust_images must be > 0, got {adjust_images}")
        self.target, self.adjust_images, self.p_max = target, adjust_images, p_max
        self.p = p

    def update(self, r_t: float, images: int) -> Decision:
        step = _sign(r_t - self.target) * images / self.adjust_images
        self.p = min(max(self.p + step, 0.0), self.p_max)
        direction = "raised" if step > 0 else "lowered" if step < 0 else "kept"
        return Decision(self.p, {"balance/augment_p": self.p, "balance/r_t": r_t},
                        f"r_t={r_t:.3f} vs target {self.target}: augmentation p {direction} "
                        f"to {self.p:.4f}")

    def state_dict(self) -> dict:
        return {"p": self.p}

    def load_state_dict(self, state: dict) -> None:
        self.p = float(state["p"])


class SmoothingController:
    """One-sided label smoothing (real targets 1 - s) driven by D's accuracy.

    ``update(d_acc, images)``: ``d_acc`` is D's mean accuracy on real and fake over the
    interval. Above ``target_acc`` D is too sure and s rises; below, s falls back; the speed
    lets s cross its whole range [0, max_smoothing] in ``adjust_images`` real images. A D at a
    healthy 0.6-0.8 accuracy keeps s at 0.
    """

    def __init__(self, target_acc: float = 0.8, max_smoothing: float = 0.3,
                 adjust_images: int = 100_000, smoothing: float = 0.0):
        _check("target_acc", target_acc, 0.5, 1.0)
        _check("max_smoothing", max_smoothing, 0.0, 0.5)  # beyond 0.5 "real" means fake
        _check("smoothing", smoothing, 0.0, max_smoothing)
        if adjust_images <= 0:
            raise ValueError(f"adjust_images must be > 0, got {adjust_images}")
        self.target_acc, self.max_smoothing = target_acc, max_smoothing
        self.adjust_images, self.smoothing = adjust_images, smoothing

    def update(self, d_acc: float, images: int) -> Decision:
        step = _sign(d_acc - self.target_acc) * self.max_smoothing * images / self.adjust_images
        self.smoothing = min(max(self.smoothing + step, 0.0), self.max_smoothing)
        return Decision(self.smoothing, {"balance/label_smoothing": self.smoothing,
                                         "balance/d_acc": d_acc},
                        f"D accuracy {d_acc:.3f} vs target {self.target_acc}: label smoothing "
                        f"{self.smoothing:.3f}")

    def state_dict(self) -> dict:
        return {"smoothing": self.smoothing}

    def load_state_dict(self, state: dict) -> None:
        self.smoothing = float(state["smoothing"])


class RatioController:
    """(d_steps, g_steps) per iteration, adapted to D's accuracy.

    A level > 0 means 1 D step and 1 + level G steps; < 0 means 1 - level D steps and 1 G
    step. The level rises by one after ``patience`` updates in a row with D's accuracy above
    ``high``, falls by one after ``patience`` updates below ``low``, and stays between
    -(max_d_steps - 1) and max_g_steps - 1. By default only G steps are added (problem 5: a D
    that wins); ``max_d_steps > 1`` lets a losing D get more steps too.
    """

    def __init__(self, high: float = 0.85, low: float = 0.6, max_g_steps: int = 5,
                 max_d_steps: int = 1, patience: int = 3):
        _check("low", low, 0.0, 1.0)
        _check("high", high, low, 1.0)
        if max_g_steps < 1 or max_d_steps < 1 or patience < 1:
            raise ValueError("max_g_steps, max_d_steps and patience must be >= 1")
        self.high, self.low, self.patience = high, low, patience
        self.max_g_steps, self.max_d_steps = max_g_steps, max_d_steps
        self.level = 0
        self.streak = 0   # updates in a row on one side: > 0 above high, < 0 below low

    @property
    def steps(self) -> tuple[int, int]:
        """(d_steps, g_steps) at the current level."""
        return (1 - self.level, 1) if self.level < 0 else (1, 1 + self.level)

    def update(self, d_acc: float) -> Decision:
        side = 1 if d_acc > self.high else -1 if d_acc < self.low else 0
        self.streak = self.streak + side if side and _sign(self.streak) in (0, side) else side
        before = self.level
        if abs(self.streak) >= self.patience:
            self.level = min(max(self.level + side, 1 - self.max_d_steps), self.max_g_steps - 1)
            self.streak = 0
        d_steps, g_steps = self.steps
        change = "kept" if self.level == before else "changed"
        return Decision((d_steps, g_steps), {"balance/d_steps": d_steps,
                                             "balance/g_steps": g_steps, "balance/d_acc": d_acc},
                        f"D accuracy {d_acc:.3f} (band {self.low}-{self.high}): {change} "
                        f"d_steps={d_steps}, g_steps={g_steps}")

    def state_dict(self) -> dict:
        return {"level": self.level, "streak": self.streak}

    def load_state_dict(self, state: dict) -> None:
        self.level, self.streak = int(state["level"]), int(state["streak"])


def resolve_mode(mode: str, images: bool | None, loss, schedule_name: str) -> str:
    """The concrete controller for ``mode`` (``auto`` picks one), or a UserError.
    ``images=None``: the data is not known yet (the config check); ada is not refused."""
    if mode not in MODES:
        raise UserError(f"balance must be one of: {', '.join(MODES)}; got {mode!r}")
    smoothable = getattr(loss, "d_real_smoothed", None) is not None
    if mode == "auto":
        if schedule_name == "alternating":
            mode = "ratio"
        elif images or images is None or not smoothable:
            mode = "ada"
        else:
            mode = "smoothing"
    if mode == "ada" and images is False:
        raise UserError("balance=ada adapts image augmentation: this data is not images; use "
                        "balance=smoothing or balance=ratio")
    if mode == "smoothing" and not smoothable:
        raise UserError(f"balance=smoothing needs a cross-entropy or least-squares loss, not "
                        f"{loss.name}; use balance=ratio")
    if mode == "ratio" and schedule_name != "alternating":
        raise UserError("balance=ratio changes d_steps/g_steps, which only schedule=alternating "
                        "has")
    return mode


class Balancer:
    """One controller acting every ``interval`` iterations on the parts it tunes: the
    ``objective`` (augmentation p, real label) or the ``schedule`` (the G:D ratio)."""

    def __init__(self, mode: str, objective, schedule, loss, images: bool, interval: int = 4,
                 world: World = World()):
        self.mode = resolve_mode(mode, images, loss, schedule.name)
        self.objective, self.schedule, self.interval = objective, schedule, interval
        self.world = world   # several processes: decide on the signals of all of them
        if self.mode == "ada":
            p = objective.augment.p if objective.augment is not None else 0.0
            objective.set_augment_p(p, ADA_POLICY)
            self.controller = AdaController(p=p)
        elif self.mode == "smoothing":
            self.controller = SmoothingController(smoothing=1.0 - objective.state.real_label)
        else:
            self.controller = RatioController()
        self._reset()

    def _reset(self) -> None:
        self.sums = {"r_t": 0.0, "d_acc": 0.0}
        self.count, self.images = 0, 0

    def update(self, stats: dict[str, float], images: int) -> dict[str, float]:
        """Accumulate this iteration's signals; every ``interval`` iterations decide and apply.
        Returns the ``balance/...`` stats of a decision (empty in between)."""
        self.sums["r_t"] += stats.get("diag/r_t", 0.0)
        self.sums["d_acc"] += 0.5 * (stats.get("diag/d_real_acc", 0.5)
                                     + stats.get("diag/d_fake_acc", 0.5))
        self.count += 1
        self.images += images
        if self.count < self.interval:
            return {}
        # The same decision on every process: from the sums over all of them.
        r_t, d_acc, count = sum_over_ranks(   # a host sync, once per interval
            [float(self.sums["r_t"]), float(self.sums["d_acc"]), self.count], self.world)
        r_t, d_acc = r_t / count, d_acc / count
        if self.mode == "ada":
            decision = self.controller.update(r_t, self.images)
            self.objective.set_augment_p(decision.value)
        elif self.mode == "smoothing":
            decision = self.controller.update(d_acc, self.images)
            self.objective.set_real_label(1.0 - decision.value)
        else:
            decision = self.controller.update(d_acc)
            self.schedule.set_ratio(*decision.value)
        self._reset()
        return {k: float(v) for k, v in decision.stats.items()}

    def describe(self) -> str:
        return {"ada": "balance=ada: augmentation p driven by r_t toward 0.6 every "
                       f"{self.interval} iterations (ADA)",
                "smoothing": "balance=smoothing: one-sided label smoothing raised while D's "
                             f"accuracy is above 0.8, every {self.interval} iterations",
                "ratio": "balance=ratio: more G steps per D step while D's accuracy stays "
                         f"above 0.85, every {self.interval} iterations"}[self.mode]

    def state_dict(self) -> dict:
        return {"mode": self.mode, "controller": self.controller.state_dict(),
                "sums": dict(self.sums), "count": self.count, "images": self.images}

    def load_state_dict(self, state: dict) -> None:
        if state["mode"] != self.mode:
            raise UserError(f"the checkpoint was trained with balance={state['mode']}, this run "
                            f"has balance={self.mode}")
        self.controller.load_state_dict(state["controller"])
        self.sums, self.count, self.images = dict(state["sums"]), state["count"], state["images"]
        # The settings the controller had made are part of the restored state.
        if self.mode == "ratio":
            self.schedule.set_ratio(*self.controller.steps)


def balance(trainer, mode: str, images: bool, interval: int = 4) -> Balancer | None:
    """Turn on rebalancing for ``trainer`` (``mode``: see :data:`MODES`; ``images``: whether
    the data are images, which ADA needs). Sets and returns ``trainer.balancer``."""
    trainer.balancer = None if mode == "off" else Balancer(
        mode, trainer.objective, trainer.schedule, trainer.loss, images, interval,
        trainer.world)
    return trainer.balancer
