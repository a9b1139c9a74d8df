"""The Trainer: orchestration only.

Per iteration: the schedule's phases (``steps/``, which alone call backward and step the
optimizers) -> the EMA of G -> LR schedulers -> a rebalancing controller, if any -> callbacks
(which alone do I/O). The Trainer owns the counters and the run's random streams, and puts all
of it into a checkpoint and takes it back.

Built inside an initialized ``torch.distributed`` process group, it trains data-parallel with
no other change (``distributed.py``, docs/distributed.md): every process runs the same loop on
its rows of each global batch, the gradients are averaged, and only rank 0 writes.

    trainer = ganforge.Trainer(G, D, opt_G=opt_G, opt_D=opt_D, loss="hinge")
    stats = trainer.step(real)            # one iteration, returns floats
    trainer.fit(data, steps=1000)         # data: a tensor of samples, Batches, or a DataLoader
"""

from __future__ import annotations

import importlib
import time
from typing import Iterable, Sequence

import torch
from torch import nn

from .callbacks import Progress
from .conditioning import make_conditioning
from .data.stream import DataFeed, RealBatches
from .distributed import all_gather, broadcast_state, current_world
from .ema import EMA
from .errors import NonFiniteLossError, UserError, nearest
from .guard import Snapshot
from .losses import Loss, get_loss
from .objective import Objective
from .plan import TrainingPlan, training_plan
from .players import (Players, check_network, check_optimizer, infer_z_shape, param_dtype,
                      resolve_device)
from .precision import PRECISIONS, for_samples, make_scaler
from .precision import resolve as resolve_precision
from .sampling import check_sample_mode
from .steps import SCHEDULES, Iteration, run_phases
from .streams import rank_seed


def make_schedule(schedule):
    """A schedule object: ``"alternating"``/``"onestep"`` with their defaults, or the object
    itself (``Alternating(d_steps=5)``, ``OneStep(impl="stopgrad")``)."""
    if not isinstance(schedule, str):
        if not callable(getattr(schedule, "phases", None)):
            raise UserError(f"schedule must be a name ({', '.join(SCHEDULES)}) or a schedule "
                            f"object such as ganforge.Alternating(d_steps=5), got {schedule!r}")
        return schedule
    if schedule not in SCHEDULES:
        raise UserError(f"unknown schedule {schedule!r}{nearest(schedule, SCHEDULES)}; "
                        f"choose one of: {', '.join(SCHEDULES)}")
    return SCHEDULES[schedule]()


def default_optimizer(module: nn.Module) -> torch.optim.Optimizer:
    """Adam(2e-4, betas=(0.5, 0.999)): the DCGAN setting (Radford et al. 2016)."""
    return torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999))


class Trainer:
    """Trains G against D with one optimizer per network.

    Args:
        G, D: any modules; D maps a batch to logits of shape (N,) or (N, 1).
        opt_G, opt_D: their optimizers (default Adam(2e-4, betas=(0.5, 0.999)), the DCGAN
            paper's, for networks ganforge knows nothing about; the CLI's default config
            trains its own DCGAN at 8e-4, measured faster). ``opt_G`` must hold exactly G's
            trainable parameters, ``opt_D`` exactly D's.
        loss: a name from ``ganforge.losses.LOSSES`` or a ``Loss``.
        schedule: ``"alternating"`` (Goodfellow's Algorithm 1, one D and one G update per
            iteration), ``"onestep"`` (simultaneous updates), or a schedule object:
            ``ganforge.Alternating(d_steps=5, g_steps=1, reuse_fake=False)``,
            ``ganforge.OneStep(impl="fused" | "stopgrad")``.
        objective: penalties, label smoothing, feature matching, augmentation, instance
            noise, clipping (``ganforge.objective.Objective``); default: the plain loss.
        ema: an ``EMA`` of G's weights, or its half-life in images (0/None: off). Samples and
            evaluation then use ``G_ema`` (``trainer.G_sample``).
        sched_G, sched_D: optional ``torch.optim.lr_scheduler`` objects, stepped once per
            iteration.
        z_dim: latent size (default ``G.z_dim``).
        precision: ``"fp32"``, ``"bf16"``, ``"fp16"`` (autocast, master weights in float32;
            fp16 with a gradient scaler) or ``"auto"`` (bf16 where the hardware computes it
            natively, else fp32; the default): ``precision.py``; the plan says what was
            chosen and why.
        channels_last: NHWC memory format for 4-D weights and image batches (faster with
            bf16 on CPUs with AMX).
        compile: run G and D through ``torch.compile`` (in place, ``nn.Module.compile``: the
            checkpoints stay those of the plain modules). Slower on the CPUs measured here
            (25-40% on DCGAN-28); meant for GPUs.
        device: ``"auto"`` (CUDA when present, else CPU), or any torch device.
        seed: seeds the global RNG and the latent generator; same seed, same CPU run, bit for
            bit (every stream: ``ganforge/streams.py``).
        callbacks: objects with ``on_fit_start/on_step_end/on_fit_end`` (see callbacks.py).
        num_classes: class-conditional training with K classes (default ``G.num_classes``
            when G has it): G is called ``G(z, y)`` and D ``D(x, y)``; real batches come with
            their labels (``step(real, labels)``, ``fit`` over a dataset with labels or
            ``(x, y)``) and fake labels from the run's own seeded stream (docs/conditional.md).
        conditioning: how the networks use y, for the plan and the loss: "concat",
            "projection", "acgan" (D returns (logits, class_logits); both players add the
            class cross-entropy, weight ``acgan_weight``; ``acgan_d_fake=False``: D's class
            head learns from real images only) or "custom"; default: D's
            ``conditioning`` attribute (ganforge's nets have it), else "custom".
        fake_labels: "data" (the fake labels follow the data's class frequencies, read when
            ``fit`` is given labeled data) or "uniform".
        sample_mode: how G (or G_ema) normalizes when it draws samples for grids, metrics,
            the doctor and ``ganforge sample``: "train" (each chunk's batch statistics, the
            DCGAN way; the default) or "eval" (BatchNorm's running averages: deterministic per
            z, and without the jitter a batch's statistics add; docs/stabilization.md).

    ``trainer.balancer``: a rebalancing controller (``ganforge.doctor.balance``), or None.
    """

    def __init__(self, G: nn.Module, D: nn.Module, opt_G=None, opt_D=None, *,
                 loss: str | Loss = "nonsaturating", schedule="alternating",
                 objective: Objective | None = None, ema: EMA | float | None = None,
                 sched_G=None, sched_D=None, z_dim=None, precision: str = "auto",
                 channels_last: bool = False, compile: bool = False, device="auto",
                 seed: int | None = None, callbacks: Sequence = (),
                 num_classes: int | None = None, conditioning: str | None = None,
                 acgan_weight: float = 1.0, fake_labels: str = "data",
                 acgan_d_fake: bool = True, sample_mode: str = "train"):
        if precision not in PRECISIONS:
            raise UserError(f"precision must be one of {PRECISIONS}, got {precision!r}"
                            f"{nearest(precision, PRECISIONS)}")
        check_network(G, "G")
        check_network(D, "D")
        self.sample_mode = check_sample_mode(sample_mode)
        self.device = resolve_device(device)
        self.precision_asked = precision
        precision, self.precision_reason = resolve_precision(precision, self.device)
        # channels_last: NHWC for 4-D weights and batches (no-op for other shapes).
        self.memory_format = torch.channels_last if channels_last else torch.preserve_format
        G.to(self.device, memory_format=self.memory_format)
        D.to(self.device, memory_format=self.memory_format)
        self.compiled = bool(compile)
        if self.compiled:   # in place: the modules and their state_dict keys stay the same
            # One-step's backward(retain_graph=True) and the penalties' double backward need
            # the compiled backward to keep its buffers (a process-wide setting of torch).
            importlib.import_module("torch._functorch.config").donated_buffer = False
            G.compile()
            D.compile()
        opt_G = opt_G if opt_G is not None else default_optimizer(G)
        opt_D = opt_D if opt_D is not None else default_optimizer(D)
        check_optimizer(opt_G, G, "G", D, "D")
        check_optimizer(opt_D, D, "D", G, "G")
        self.world = current_world()
        z_gen = torch.Generator(device=self.device if self.device.type == "cuda" else "cpu")
        self.seed = seed
        if seed is not None:
            torch.manual_seed(rank_seed(seed, self.world.rank))
            z_gen.manual_seed(seed)
        else:
            z_gen.seed()
        objective = objective if objective is not None else Objective(seed=seed or 0)
        objective.set_world(self.world.rank, self.world.size)
        self.players = Players(G, D, opt_G, opt_D, get_loss(loss), infer_z_shape(G, z_dim),
                               self.device, precision, z_gen, param_dtype(G), objective,
                               world=self.world,
                               scaler=make_scaler(precision, self.device),
                               cond=make_conditioning(G, D, num_classes, conditioning,
                                                      acgan_weight, fake_labels, seed or 0,
                                                      acgan_d_fake))
        if self.players.cond is not None:
            self.players.cond.set_world(self.world.rank, self.world.size)
        # EMA of G's weights: an EMA object, or a half-life in images.
        self.ema = EMA(G, ema) if isinstance(ema, (int, float)) and ema else (ema or None)
        if self.ema is not None:   # an EMA built before G moved follows it to the device
            self.ema.G_ema.to(self.device, memory_format=self.memory_format)
        for module in (G, D, self.G_ema):   # every process starts from rank 0's networks
            if module is not None:
                broadcast_state(module, self.world)
        self.schedule = make_schedule(schedule)
        self.balancer = None
        self.schedulers = {"G": sched_G, "D": sched_D}
        self.callbacks = list(callbacks)
        self._snapshot = None   # during fit: the networks at the last passed finite check
        self.feed = DataFeed()
        self.step_count = 0          # iterations done
        self.stepped = False
        self.images_seen = 0         # real samples shown to D

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

    def plan(self) -> TrainingPlan:
        """The training plan read off the live objects (print ``plan().format()``)."""
        extras = () if self.ema is None else (
            f"G_ema: EMA of G's weights, half-life {self.ema.half_life_images:g} images"
            + (f", ramp-up {self.ema.rampup:g}" if self.ema.rampup else "")
            + "; used for samples and evaluation",)
        if self.sample_mode == "eval":
            extras += ("samples and evaluation: G in eval mode (BatchNorm running averages)",)
        if self.balancer is not None:
            extras += (self.balancer.describe(),)
        if self.compiled:
            extras += ("G and D run through torch.compile",)
        return training_plan(self.schedule, self.players, self.schedulers, extras,
                             self.precision_reason)

    def step(self, real: torch.Tensor | Sequence[torch.Tensor] | Iterable,
             labels: torch.Tensor | Sequence[torch.Tensor] | None = None) -> dict[str, float]:
        """One iteration of the schedule. ``real`` is one batch, or (for ``d_steps > 1``) a
        list of batches or an iterator; a conditional run gives the ``labels`` alongside (a
        tensor, or a list), or ``(x, y)`` pairs. Returns the iteration's stats as floats: a
        host sync, and a non-finite loss stops the step before its optimizer step."""
        self.players.defer_checks = False
        return _floats(self._step(real, labels))

    def check_finite(self) -> None:
        """Raise the first non-finite loss or gradient ``fit`` met since the last check (one
        host sync), after putting G, D and G_ema back as they were at the last passed check;
        the callbacks call it before they write a checkpoint (``guard.py``)."""
        try:
            self.players.guard.raise_if_bad(now=self.step_count)
        except NonFiniteLossError:
            if self._snapshot is not None:
                self._snapshot.restore()
            raise
        if self._snapshot is not None:
            self._snapshot.take()

    def _step(self, real, labels=None) -> dict:
        """One iteration, its stats left on the device (tensors) where they are computed."""
        real_batches = RealBatches(real, self.device, self.memory_format, labels,
                                   self.players.cond)
        start = time.perf_counter()
        it = Iteration(real_batches)
        self.players.guard.step = self.step_count + 1
        try:
            stats = run_phases(self.schedule.phases(self.players), self.players, it)
        except NonFiniteLossError as err:
            raise err.at_step(self.step_count + 1)
        if self.players.scaler is not None:   # fp16: once per iteration, after every step
            self.players.scaler.update()
            stats["amp/scale"] = self.players.scaler.get_scale()
        size = self.world.size   # counts below are of the global batch
        if self.ema is not None:
            stats["ema/beta"] = self.ema.update(self.players.G, it.g_images * size,
                                                self.images_seen)
        for sched in self.schedulers.values():
            if sched is not None:
                sched.step()
        self.step_count += 1
        self.stepped = True          # this trainer has trained: its precision is fixed
        self.images_seen += real_batches.seen * size
        out = dict(stats)
        out["time/step_ms"] = (time.perf_counter() - start) * 1000.0   # host time
        if self.world.distributed:
            out["time/comm_ms"] = self.players.comm.take()
        out["lr/G"] = self.players.opt_G.param_groups[0]["lr"]
        out["lr/D"] = self.players.opt_D.param_groups[0]["lr"]
        if self.balancer is not None:
            out.update(self.balancer.update(out, real_batches.seen * size))
        return out

    def _networks(self) -> list:
        """What a failed deferred check puts back: G, D and G's average."""
        return [self.players.G, self.players.D] + ([self.ema.G_ema] if self.ema else [])

    def prepare(self, data, *, batch_size: int = 64, data_scale: str = "check") -> Iterable:
        """The checked batch stream ``fit`` trains on (see ``data/stream.py``); call it to run
        the data checks before training starts."""
        batches = self.feed.prepare(data, self.players, batch_size, self.seed or 0,
                                    data_scale, self.world)
        samples = getattr(self.feed.batches, "samples", None)
        precision, reason = for_samples(self.precision_asked, self.players.precision,
                                        getattr(samples, "sample_shape", None))
        if reason is not None and not self.stepped:   # never in the middle of a run
            self.players.precision, self.precision_reason = precision, reason
        return batches

    def fit(self, data, steps: int | None = None, *, until: int | None = None,
            batch_size: int = 64, data_scale: str = "check", sync_every: int | None = None,
            progress: bool | int = True) -> dict:
        """Run ``steps`` more iterations (or up to step ``until``: what a script that may be
        stopped and run again wants) on ``data``: a tensor of samples (shuffled into
        batches of ``batch_size``, seeded, resumable), a ``ganforge.data.Batches``, or any
        iterable of batches such as a DataLoader (cycled). A new data source is checked once
        (shapes, and the value range: ``data_scale`` "check" stops with the fix, "auto"
        rescales in-memory data, "off" skips it); the same source again continues its
        stream. Returns the last iteration's stats, as floats.

        ``progress``: a progress bar (step, losses, steps/s, ETA) on a terminal or in a
        notebook, a plain line every ``sync_every`` steps otherwise; an int sets that
        interval; False: none. A callback with ``before_fit(trainer, batches)`` (such as
        :class:`~ganforge.run_directory.RunDir`) runs before the steps are counted, so it
        can continue a run from its checkpoint.

        No host sync per step: the stats stay on the device (the callbacks bring them over
        at their log intervals), and the non-finite guard is checked every ``sync_every``
        steps (default: the shortest interval of the callbacks, so before any of them logs;
        50 without callbacks), at the end, and before every checkpoint: a NaN stops the run
        at the next check with the step it appeared at, and never reaches a logged row or a
        checkpoint."""
        if (steps is None) == (until is None):
            raise UserError("give fit either steps= (iterations to run now) or until= (the "
                            "step to train up to), not both and not neither")
        count = steps if steps is not None else until
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise UserError(f"{'steps' if steps is not None else 'until'} must be a whole "
                            f"number >= 0, got {count!r}")
        batches = self.prepare(data, batch_size=batch_size, data_scale=data_scale)
        for cb in self.callbacks:
            if hasattr(cb, "before_fit"):
                cb.before_fit(self, batches)
        if sync_every is None:
            sync_every = min((cb.every for cb in self.callbacks
                              if isinstance(getattr(cb, "every", None), int) and cb.every > 0),
                             default=50)
        callbacks = list(self.callbacks)
        if progress is not False and not any(isinstance(cb, Progress) for cb in callbacks):
            callbacks.append(Progress(sync_every if progress is True else int(progress)))
        batches = iter(batches)
        end = self.step_count + steps if steps is not None else max(until, self.step_count)
        for cb in callbacks:
            cb.on_fit_start(self, end)
        stats: dict = {}
        error: BaseException | None = None
        self.players.defer_checks = True
        self._snapshot = Snapshot(self._networks())   # what a failed check puts back
        try:
            while self.step_count < end:
                stats = self._step(batches)
                if self.step_count % max(sync_every, 1) == 0 or self.step_count == end:
                    self.check_finite()
                for cb in callbacks:
                    cb.on_step_end(self, stats)
        except BaseException as err:
            error = err
            raise
        finally:
            self._snapshot = None
            for cb in callbacks:
                try:
                    cb.on_fit_end(self, error)
                except Exception:
                    if error is None:
                        raise
                    # Closing down after an error: that error is the one to report (a write
                    # that fails because the disk is full must not hide the disk-full stop).
        return _floats(stats)

    def sample_grid(self, n: int = 64, seed: int = 0, ema: bool | None = None):
        """``n`` samples as a PIL image (a grid of images, or a scatter plot of 2-D points),
        from G_ema when there is one (``ema=False``: G), latents from ``seed``."""
        from .images import sample_grid

        return sample_grid(self, n=n, seed=seed, ema=ema)

    def findings(self) -> list:
        """What the doctor has found so far in this trainer's runs (the findings of its
        callbacks: a ``RunDir``'s doctor, or a ``Doctor`` of your own), oldest first."""
        return [f for cb in self.callbacks for f in getattr(cb, "findings", [])]

    # --- checkpoint state -----------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue exactly. In a process group, call it on every
        process: it gathers each one's global RNG state (their dropout differs)."""
        players = self.players
        rng_ranks = all_gather(torch.get_rng_state(), self.world)
        return {
            "G": players.G.state_dict(), "D": players.D.state_dict(),
            "opt_G": players.opt_G.state_dict(), "opt_D": players.opt_D.state_dict(),
            "sched_G": _state_or_none(self.schedulers["G"]),
            "sched_D": _state_or_none(self.schedulers["D"]),
            "counters": {"step": self.step_count, "images_seen": self.images_seen},
            "rng": {"torch": rng_ranks[0], "torch_ranks": rng_ranks,
                    "z": players.z_generator.get_state(),
                    "cuda": (torch.cuda.get_rng_state_all() if torch.cuda.is_available()
                             else [])},
            "data": self.feed.state_dict(),
            "objective": players.objective.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "balance": self.balancer.state_dict() if self.balancer is not None else None,
            "labels": players.cond.state_dict() if players.cond is not None else None,
        }

    def load_state_dict(self, state: dict) -> None:
        players = self.players
        players.G.load_state_dict(state["G"])
        players.D.load_state_dict(state["D"])
        players.opt_G.load_state_dict(state["opt_G"])
        players.opt_D.load_state_dict(state["opt_D"])
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
            players.objective.load_state_dict(state["objective"],
                                              {"G": players.G, "D": players.D})
        if (self.balancer is None) != (state.get("balance") is None):
            raise UserError(f"the checkpoint was trained with balance="
                            f"{(state.get('balance') or {}).get('mode', 'off')}, this run has "
                            f"balance={'off' if self.balancer is None else self.balancer.mode}")
        if self.balancer is not None:
            self.balancer.load_state_dict(state["balance"])
        if (players.cond is None) != (state.get("labels") is None):
            raise UserError(f"the checkpoint was trained {'un' if players.cond else ''}"
                            f"conditionally and this run is {'un' if not players.cond else ''}"
                            "conditional: resume with the same model and data settings")
        if players.cond is not None:
            players.cond.load_state_dict(state["labels"])
        self.step_count = int(state["counters"]["step"])
        self.images_seen = int(state["counters"]["images_seen"])
        torch.set_rng_state(self._rng_state(state["rng"]))
        players.z_generator.set_state(state["rng"]["z"])
        if state["rng"].get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.feed.load_state_dict(state.get("data"))


    def _rng_state(self, rng: dict):
        """This process's global RNG state: its own when the checkpoint was written by as many
        processes; a fresh stream of its own otherwise (resuming on another number of
        processes continues everything exactly but dropout)."""
        ranks = rng.get("torch_ranks") or [rng["torch"]]
        if len(ranks) == self.world.size:
            return ranks[self.world.rank]
        if self.world.rank == 0:
            return ranks[0]
        gen = torch.Generator().manual_seed(rank_seed(self.seed or 0, self.world.rank)
                                            + self.step_count)
        return gen.get_state()


def _state_or_none(obj):
    return None if obj is None else obj.state_dict()


def _floats(stats: dict) -> dict:
    """The stats with their tensors as Python floats, brought over in one transfer."""
    values = [v.detach() for v in stats.values() if isinstance(v, torch.Tensor)]
    floats = iter(torch.stack([v.to(values[0].device, torch.float64) for v in values]).tolist()
                  if values else [])
    return {k: next(floats) if isinstance(v, torch.Tensor) else v for k, v in stats.items()}
