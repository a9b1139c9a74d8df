"""Rebalancing controllers (``balance: auto``): pure logic, explicit state.

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
  than a target (seed 004's advice: "raise the smoothing as D's loss falls"), lowered when
  it is not, within [0, max_smoothing].
- :class:`RatioController`: more G steps per D step while D overpowers G, fewer when it does
  not, in whole steps, bounded, with patience so that it does not flip every interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    -(max_d_steps - 1) and max_g_steps - 1. By default only G steps are added (seed 004: a D
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
