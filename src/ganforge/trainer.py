"""The Trainer: orchestration only.

Per iteration: next real batch(es) -> the update strategy (which alone calls backward and
steps optimizers) -> LR schedulers -> callbacks (which alone do I/O). The Trainer owns the
counters and the run's RNG streams, and can put all of it into a checkpoint and take it back.

    trainer = ganforge.Trainer(G, D, opt_G=opt_G, opt_D=opt_D, loss="hinge")
    stats = trainer.step(real)            # one iteration, returns floats
    trainer.fit(data, steps=1000)         # data: a tensor of samples, Batches, or a DataLoader
"""

from __future__ import annotations

import time
from typing import Iterable, Iterator, Sequence

import torch
from torch import nn

from .balancer import Balancer
from .data.batches import Batches
from .data.range_check import SCALES
from .errors import NonFiniteLossError, UserError, nearest
from .ema import EMA
from .losses import Loss, get_loss
from .objective import Objective
from .plan import TrainingPlan, training_plan
from .preflight import check_data
from .players import (PRECISIONS, Players, check_optimizer, infer_z_shape, param_dtype,
                      resolve_device)
from .steps import SCHEDULES, real_feeder
# Options that belong to one schedule only; giving one to the other schedule is an error.
SCHEDULE_OPTIONS = {"reuse_fake": "alternating", "onestep_impl": "onestep"}


def make_schedule(schedule, d_steps: int = 1, g_steps: int = 1, **options):
    """A strategy object from a name in ``SCHEDULES``; an object with ``step`` passes through.

    ``options`` (``reuse_fake=`` for alternating, ``onestep_impl=`` for onestep) left at None
    are not passed on."""
    options = {k: v for k, v in options.items() if v is not None}
    if not isinstance(schedule, str):
        if options:
            raise UserError(f"{', '.join(options)}: set these on the strategy object you pass "
                            "as schedule=")
        return schedule
    if schedule not in SCHEDULES:
        raise UserError(f"unknown schedule {schedule!r}{nearest(schedule, SCHEDULES)}; "
                        f"choose one of: {', '.join(SCHEDULES)}")
    for key in options:
        if SCHEDULE_OPTIONS.get(key) != schedule:
            raise UserError(f"{key} applies to schedule={SCHEDULE_OPTIONS.get(key)} only, "
                            f"not to schedule={schedule}")
    if "onestep_impl" in options:
        options["impl"] = options.pop("onestep_impl")
    return SCHEDULES[schedule](d_steps=d_steps, g_steps=g_steps, **options)


def default_optimizer(module: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam(lr, betas=(0.5, 0.999)): the DCGAN setting (Radford et al. 2016)."""
    return torch.optim.Adam(module.parameters(), lr=lr, betas=(0.5, 0.999))


class Trainer:
    """Trains G against D with one optimizer per network.

    Args:
        G, D: any modules; D maps a batch to logits of shape (N,) or (N, 1).
        opt_G, opt_D: their optimizers (default Adam(lr_G / lr_D, betas=(0.5, 0.999))).
            ``opt_G`` must hold exactly G's trainable parameters, ``opt_D`` exactly D's.
        loss: a name from ``ganforge.losses.LOSSES`` or a ``Loss``.
        schedule: ``"alternating"``, ``"onestep"`` or a strategy object (``ganforge.steps``);
            ``d_steps``/``g_steps`` set the number of D updates per G update and the reverse
            (alternating only). ``reuse_fake=True``: alternating's G step reuses the D step's
            G(z) (the PyTorch DCGAN example's variant). ``onestep_impl``: ``"fused"``
            (default) or ``"stopgrad"`` (seed 001's single loss, the reference).
        objective: penalties, label smoothing, feature matching, augmentation, instance
            noise, clipping (``ganforge.objective.Objective``); default: the plain loss.
        ema: an ``EMA`` of G's weights, or its half-life in images (0/None: off). Samples and
            evaluation then use ``G_ema`` (``trainer.G_sample``).
        channels_last: NHWC memory format for 4-D weights and image batches (faster with
            bf16 on CPUs with AMX).
        sched_G, sched_D: optional ``torch.optim.lr_scheduler`` objects, stepped once per
            iteration.
        z_dim: latent size (default ``G.z_dim``).
        precision: ``"fp32"`` or ``"bf16"`` (autocast; master weights stay float32).
        device: ``"auto"`` (CUDA when present, else CPU), or any torch device.
        seed: seeds the global RNG and the latent generator; same seed, same CPU run, bit for
            bit.
        batch_size: batch size used by ``fit`` when given a tensor of samples.
        data_scale: what ``fit`` does when the data's range does not match G's output range
            (checked once per data source, with G's output shape): ``"check"`` stops with the
            fix, ``"auto"`` rescales in-memory data, ``"off"`` skips the range check.
        callbacks: objects with ``on_fit_start/on_step_end/on_fit_end`` (see callbacks.py).
    """

    def __init__(self, G: nn.Module, D: nn.Module, opt_G=None, opt_D=None,
                 loss: str | Loss = "nonsaturating", schedule="alternating", *,
                 d_steps: int = 1, g_steps: int = 1, lr_G: float = 2e-4, lr_D: float = 2e-4,
                 sched_G=None, sched_D=None, z_dim=None, precision: str = "fp32",
                 device="auto", seed: int | None = None, batch_size: int = 64,
                 data_scale: str = "check", callbacks: Sequence = (),
                 onestep_impl: str | None = None, reuse_fake: bool | None = None,
                 channels_last: bool = False, objective: Objective | None = None,
                 ema: EMA | float | None = None):
        if precision not in PRECISIONS:
            raise UserError(f"precision must be one of {PRECISIONS}, got {precision!r}"
                            f"{nearest(precision, PRECISIONS)}")
        if data_scale not in SCALES:
            raise UserError(f"data_scale must be one of {SCALES}, got {data_scale!r}"
                            f"{nearest(data_scale, SCALES)}")
        self.device = resolve_device(device)
        # channels_last: NHWC for 4-D weights and batches (no-op for other shapes).
        self.memory_format = torch.channels_last if channels_last else torch.preserve_format
        G.to(self.device, memory_format=self.memory_format)
        D.to(self.device, memory_format=self.memory_format)
        opt_G = opt_G if opt_G is not None else default_optimizer(G, lr_G)
        opt_D = opt_D if opt_D is not None else default_optimizer(D, lr_D)
        check_optimizer(opt_G, G, "G", D, "D")
        check_optimizer(opt_D, D, "D", G, "G")
        z_gen = torch.Generator(device=self.device if self.device.type == "cuda" else "cpu")
        self.seed = seed
        if seed is not None:
            torch.manual_seed(seed)
            z_gen.manual_seed(seed)
        else:
            z_gen.seed()
        self.players = Players(G, D, opt_G, opt_D, get_loss(loss), infer_z_shape(G, z_dim),
                               self.device, precision, z_gen, param_dtype(G),
                               objective if objective is not None else Objective(seed=seed or 0))
        # EMA of G's weights: an EMA object, or a half-life in images.
        self.ema = EMA(G, ema) if isinstance(ema, (int, float)) and ema else (ema or None)
        if self.ema is not None:   # an EMA built before G moved follows it to the device
            self.ema.G_ema.to(self.device, memory_format=self.memory_format)
        self.balancer: Balancer | None = None   # set by balance(); acts after each step
        self.strategy = make_schedule(schedule, d_steps, g_steps, onestep_impl=onestep_impl,
                                      reuse_fake=reuse_fake)
        self.schedulers = {"G": sched_G, "D": sched_D}
        self.batch_size = batch_size
        self.callbacks = list(callbacks)
        self.step_count = 0          # iterations done
        self.images_seen = 0         # real samples shown to D
        self.data_scale = data_scale
        self.notes: list[str] = []   # what the data checks did (e.g. a rescale), for the user
        self.batches: Batches | None = None
        self._data_source = None
        self._pending_data_state: dict | None = None

    # Short names a user's own loop reaches for.
    G = property(lambda self: self.players.G)
    D = property(lambda self: self.players.D)
    opt_G = property(lambda self: self.players.opt_G)
    opt_D = property(lambda self: self.players.opt_D)
    loss = property(lambda self: self.players.loss)
    objective = property(lambda self: self.players.objective)
    G_ema = property(lambda self: self.ema.G_ema if self.ema is not None else None)

    @property
    def G_sample(self) -> nn.Module:
        """The generator for samples and evaluation: G_ema when EMA is on, else G."""
        return self.ema.G_ema if self.ema is not None else self.players.G

    def balance(self, mode: str, images: bool, interval: int = 4) -> None:
        """Turn on rebalancing (``"auto"``, ``"ada"``, ``"smoothing"``, ``"ratio"``; see
        ``ganforge.balancer``); ``images``: whether the data are images (ADA needs them)."""
        self.balancer = None if mode == "off" else Balancer(mode, self, images, interval)

    def plan(self) -> TrainingPlan:
        """The training plan read off the live objects (print ``plan().format()``)."""
        ema = () if self.ema is None else (
            f"G_ema: EMA of G's weights, half-life {self.ema.half_life_images:g} images"
            + (f", ramp-up {self.ema.rampup:g}" if self.ema.rampup else "")
            + "; used for samples and evaluation",)
        if self.balancer is not None:
            ema += (self.balancer.describe(),)
        return training_plan(self.strategy, self.players, self.schedulers, ema)

    def step(self, real: torch.Tensor | Sequence[torch.Tensor] | Iterable) -> dict[str, float]:
        """One iteration of the schedule. ``real`` is one batch, or (for ``d_steps > 1``) a
        list of batches or an iterator. Returns the iteration's stats as floats."""
        feed = real_feeder(real)
        seen = 0

        def next_real() -> torch.Tensor:
            nonlocal seen
            batch = feed()
            batch = batch.to(self.device, non_blocking=True,
                             memory_format=(self.memory_format if batch.dim() == 4 else
                                            torch.preserve_format))
            seen += batch.shape[0]
            return batch

        start = time.perf_counter()
        try:
            stats = self.strategy.step(self.players, next_real)
        except NonFiniteLossError as err:
            raise err.at_step(self.step_count + 1)
        if self.ema is not None:
            # Images G was trained on this iteration: its batch size times its steps.
            per_g_step = seen // getattr(self.strategy, "d_steps", 1)
            stats["ema/beta"] = torch.tensor(self.ema.update(
                self.players.G, per_g_step * getattr(self.strategy, "g_steps", 1),
                self.images_seen), dtype=torch.float64)
        for sched in self.schedulers.values():
            if sched is not None:
                sched.step()
        self.step_count += 1
        self.images_seen += seen
        out = {k: float(v) for k, v in stats.items()}  # one sync point per iteration
        out["time/step_ms"] = (time.perf_counter() - start) * 1000.0
        out["lr/G"] = self.players.opt_G.param_groups[0]["lr"]
        out["lr/D"] = self.players.opt_D.param_groups[0]["lr"]
        if self.balancer is not None:
            out.update(self.balancer.update(self, out, seen))
        return out

    def prepare_data(self, data) -> Iterable:
        """The batch stream for ``data``, checked once (shapes, value range) before use.

        The same tensor or Batches passed again continues its stream (calling ``fit`` twice
        does not restart the epoch order)."""
        if data is self._data_source and self.batches is not None:
            return self.batches
        if isinstance(data, Batches):
            data.x, _ = check_data(self.players, data.x, self.data_scale, self.notes)
            batches = data
        elif isinstance(data, torch.Tensor):
            x, _ = check_data(self.players, data, self.data_scale, self.notes)
            batches = Batches(x, self.batch_size, seed=self.seed or 0)
        else:
            if self.data_scale == "auto":
                raise UserError("data_scale='auto' needs the data in memory (a tensor or "
                                "Batches); rescale inside your DataLoader instead")
            check_data(self.players, _first_batch(data), self.data_scale, self.notes)
            # A user's iterable has no position to checkpoint, and an earlier stream is stale.
            self.batches, self._data_source = None, data
            return _cycle(data)
        if self._pending_data_state is not None:
            batches.load_state_dict(self._pending_data_state)
            self._pending_data_state = None
        self.batches, self._data_source = batches, data
        return batches

    def fit(self, data, steps: int) -> dict[str, float]:
        """Run ``steps`` more iterations on ``data`` (a tensor of samples, a ``Batches``, or
        any iterable of batches, cycled). Returns the last iteration's stats."""
        batches = iter(self.prepare_data(data))
        end = self.step_count + steps
        for cb in self.callbacks:
            cb.on_fit_start(self, end)
        stats: dict[str, float] = {}
        error: BaseException | None = None
        try:
            while self.step_count < end:
                stats = self.step(batches)
                for cb in self.callbacks:
                    cb.on_step_end(self, stats)
        except BaseException as err:
            error = err
            raise
        finally:
            for cb in self.callbacks:
                try:
                    cb.on_fit_end(self, error)
                except Exception:
                    if error is None:
                        raise
                    # Closing down after an error: that error is the one to report (a write
                    # that fails because the disk is full must not hide the disk-full stop).
        return stats

    # --- checkpoint state -----------------------------------------------------------------
    def state_dict(self) -> dict:
        p = self.players
        return {
            "G": p.G.state_dict(), "D": p.D.state_dict(),
            "opt_G": p.opt_G.state_dict(), "opt_D": p.opt_D.state_dict(),
            "sched_G": _state_or_none(self.schedulers["G"]),
            "sched_D": _state_or_none(self.schedulers["D"]),
            "counters": {"step": self.step_count, "images_seen": self.images_seen},
            "rng": {"torch": torch.get_rng_state(), "z": p.z_generator.get_state(),
                    "cuda": (torch.cuda.get_rng_state_all() if torch.cuda.is_available()
                             else [])},
            "data": self.batches.state_dict() if self.batches is not None else None,
            "objective": p.objective.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "balance": self.balancer.state_dict() if self.balancer is not None else None,
        }

    def load_state_dict(self, state: dict) -> None:
        p = self.players
        p.G.load_state_dict(state["G"])
        p.D.load_state_dict(state["D"])
        p.opt_G.load_state_dict(state["opt_G"])
        p.opt_D.load_state_dict(state["opt_D"])
        for key in ("G", "D"):
            sched, saved = self.schedulers[key], state.get(f"sched_{key}")
            if (sched is None) != (saved is None):
                raise UserError(f"the checkpoint {'has' if saved is not None else 'has no'} an "
                                f"LR scheduler for {key}, the current run "
                                f"{'has none' if sched is None else 'has one'}")
            if sched is not None:
                sched.load_state_dict(saved)
        if (self.ema is None) != (state.get("ema") is None):
            raise UserError(f"the checkpoint {'has' if state.get('ema') else 'has no'} an EMA "
                            f"of G, the current run {'has none' if self.ema is None else 'has one'}")
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        if state.get("objective") is not None:
            p.objective.load_state_dict(state["objective"], {"G": p.G, "D": p.D})
        if (self.balancer is None) != (state.get("balance") is None):
            raise UserError(f"the checkpoint was trained with balance="
                            f"{(state.get('balance') or {}).get('mode', 'off')}, this run has "
                            f"balance={'off' if self.balancer is None else self.balancer.mode}")
        if self.balancer is not None:
            self.balancer.load_state_dict(state["balance"], self)
        self.step_count = int(state["counters"]["step"])
        self.images_seen = int(state["counters"]["images_seen"])
        torch.set_rng_state(state["rng"]["torch"])
        p.z_generator.set_state(state["rng"]["z"])
        if state["rng"].get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        if state.get("data") is not None:
            if self.batches is not None:
                self.batches.load_state_dict(state["data"])
            else:
                self._pending_data_state = state["data"]


def _state_or_none(obj):
    return None if obj is None else obj.state_dict()


def _samples(batch) -> torch.Tensor:
    """x from an (x, label, ...) tuple, as a DataLoader over a TensorDataset yields."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def _first_batch(iterable: Iterable) -> torch.Tensor:
    for batch in iterable:
        return _samples(batch)
    raise UserError("the data passed to fit() yielded no batches")


def _cycle(iterable: Iterable) -> Iterator[torch.Tensor]:
    """Endless batches from a re-iterable (a DataLoader starts a new epoch when exhausted)."""
    while True:
        empty = True
        for batch in iterable:
            empty = False
            yield _samples(batch)
        if empty:
            raise UserError("the data passed to fit() yielded no batches")
