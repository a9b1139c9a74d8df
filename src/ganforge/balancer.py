"""Rebalancing during training (``balance=...``): the doctor's controllers, applied.

Every ``interval`` iterations the :class:`Balancer` averages the signals the step already
logged (``diag/r_t``, D's accuracies), asks its controller (``doctor/balance.py``) for a new
setting and applies it to the live training:

- ``ada``: the augmentation probability ``augment.p``, driven by r_t toward 0.6 (Karras et al.
  2020). Images only; with no ``augment.policy`` set it augments with translation and cutout.
- ``smoothing``: one-sided label smoothing, raised while D is more accurate than 0.8 (seed
  004's remedy). Cross-entropy and least-squares losses only.
- ``ratio``: G steps per D step, raised while D's accuracy stays above 0.85 (alternating only).
- ``auto``: ``ratio`` under ``schedule=alternating`` (on the doctor's benchmark of a D that
  overpowers G, more G steps cut the FID in half where ADA made it worse: docs/doctor.md);
  under one-step, ``ada`` on images, else ``smoothing``.

Each decision is logged as ``balance/...`` stats (so it is in ``metrics.jsonl`` and
TensorBoard), and the state (controller and accumulators) is checkpointed.
"""

from __future__ import annotations

from .augment import DiffAugment
from .doctor.balance import AdaController, RatioController, SmoothingController
from .errors import UserError

MODES = ("off", "auto", "ada", "smoothing", "ratio")
ADA_POLICY = ("translation", "cutout")


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
    """One controller acting on the running trainer every ``interval`` iterations."""

    def __init__(self, mode: str, trainer, images: bool, interval: int = 4):
        self.mode = resolve_mode(mode, images, trainer.loss, trainer.strategy.name)
        self.interval = interval
        obj = trainer.objective
        if self.mode == "ada":
            if obj.augment is None:
                obj.augment = DiffAugment(p=0.0, policy=ADA_POLICY)
            self.controller = AdaController(p=obj.augment.p)
        elif self.mode == "smoothing":
            self.controller = SmoothingController(smoothing=1.0 - obj.real_label)
        else:
            self.controller = RatioController()
        self._reset()

    def _reset(self) -> None:
        self.sums = {"r_t": 0.0, "d_acc": 0.0}
        self.count, self.images = 0, 0

    def update(self, trainer, stats: dict[str, float], images: int) -> dict[str, float]:
        """Accumulate this iteration's signals; every ``interval`` iterations decide and apply.
        Returns the ``balance/...`` stats of a decision (empty in between)."""
        self.sums["r_t"] += stats.get("diag/r_t", 0.0)
        self.sums["d_acc"] += 0.5 * (stats.get("diag/d_real_acc", 0.5)
                                     + stats.get("diag/d_fake_acc", 0.5))
        self.count += 1
        self.images += images
        if self.count < self.interval:
            return {}
        r_t, d_acc = self.sums["r_t"] / self.count, self.sums["d_acc"] / self.count
        if self.mode == "ada":
            decision = self.controller.update(r_t, self.images)
            trainer.objective.augment.p = decision.value
        elif self.mode == "smoothing":
            decision = self.controller.update(d_acc, self.images)
            trainer.objective.real_label = 1.0 - decision.value
        else:
            decision = self.controller.update(d_acc)
            trainer.strategy.d_steps, trainer.strategy.g_steps = decision.value
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

    def load_state_dict(self, state: dict, trainer) -> None:
        if state["mode"] != self.mode:
            raise UserError(f"the checkpoint was trained with balance={state['mode']}, this run "
                            f"has balance={self.mode}")
        self.controller.load_state_dict(state["controller"])
        self.sums, self.count, self.images = dict(state["sums"]), state["count"], state["images"]
        # The settings the controller had made are part of the restored state.
        if self.mode == "ratio":
            trainer.strategy.d_steps, trainer.strategy.g_steps = self.controller.steps
