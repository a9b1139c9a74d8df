"""A run directory for any Trainer, including one built in Python with your own G and D.

``trainer.fit(data, steps=N, callbacks=[RunDir("runs/mine")])`` (or ``Trainer(...,
callbacks=[RunDir(...)])``) writes what ``ganforge train`` writes, through the same callbacks
(:func:`run_dir_callbacks`, which the CLI uses too): ``metrics.jsonl``, ``tb/``, ``samples/``
grids from a fixed z, complete atomic ``checkpoints/``, ``findings.jsonl`` from the doctor
(printed once when they appear), and ``config.yaml``. For a Python run ``config.yaml`` is a
record of what was set (the networks' classes and sizes, the optimizers with their
hyperparameters, the loss, the schedule, the plan, the data), under ``python:``, with the keys
the doctor reads (``loss``, ``lr_G``, ``lr_D``, ``precision``, ``data.scale``) beside it as in a
CLI config. ``ganforge doctor RUN_DIR`` reads it as it reads a CLI run; ``ganforge sample``,
``eval`` and ``train --resume`` say that the networks live in the user's code and point to the
Python equivalents (``rundir.py``).

Continuing: a fresh trainer (step 0) given a directory with checkpoints continues from the
newest readable one, after checking it is from the same networks; a trainer already at that
step (a second ``fit`` in the same session) simply goes on. So a script killed part way and
run again continues the run; with ``fit(data, until=N)`` it also ends where the uninterrupted
run ends, bit for bit.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

from . import __version__
from ._lazy import torch
from .callbacks import Callback, Checkpointer, JSONLLogger, SampleGrid, TensorBoardLogger
from .checkpoint import clean_temps, load_latest, signature, signature_differences
from .doctor.callback import DiversityProbe, Doctor, probe_interval
from .errors import UserError
from .files import make_dirs, write_atomic
from .streams import side_generator

PYTHON_KEY = "python"   # config.yaml's section that marks a run trained from Python
POINTS_REFERENCE = 2500  # a scatter plot's real points: the PacGAN evaluation count


def grid_z(seed: int, z_shape: tuple[int, ...], n: int) -> "torch.Tensor":
    """The latents of the sample grids: a function of the seed only (``streams.py``)."""
    return torch.randn((n, *z_shape), generator=side_generator(seed, "grid"))


def run_dir_callbacks(trainer, run_dir: Path, *, samples, kind: str | None, seed: int,
                      log_every: int, sample_every: int, checkpoint_every: int, keep: int,
                      n_samples: int, tensorboard: bool, extra: Callable[[], dict],
                      make_eval: Callable | None = None) -> list:
    """The callbacks that write a run directory, in their order: the diversity probe first
    (its values go into the step's stats before the loggers see them), the loggers, the
    grids, the evaluation (``make_eval(tb)``, if any) before the checkpoint, the doctor after
    every writer of metrics.jsonl, whose rows it reads. ``samples``: the real samples (None
    for a stream without them: no probe and no reference points)."""
    tb = TensorBoardLogger(run_dir / "tb", log_every) if tensorboard else None
    reference = samples[:POINTS_REFERENCE] if samples is not None and kind == "points" else None
    n_points = max(n_samples, POINTS_REFERENCE) if reference is not None else n_samples
    callbacks = [
        JSONLLogger(run_dir / "metrics.jsonl", log_every),
        *([tb] if tb else []),
        SampleGrid(run_dir / "samples", grid_z(seed, trainer.players.z_shape, n_points),
                   sample_every, reference=reference, tensorboard=tb),
        *([make_eval(tb)] if make_eval is not None else []),
        Checkpointer(run_dir / "checkpoints", checkpoint_every, keep, extra=extra),
        Doctor(run_dir, log_every, metrics=run_dir / "metrics.jsonl"),
    ]
    if samples is not None:
        callbacks.insert(0, DiversityProbe(samples, probe_interval(log_every)))
    return callbacks


def _count(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"RunDir {name} must be a whole number >= {low}, got {value!r}")
    return value


class RunDir(Callback):
    """Write a run directory at ``path`` while ``fit`` trains (see the module docstring).

    The intervals are the CLI's keys and defaults: ``log_every`` (metrics.jsonl, TensorBoard,
    the doctor), ``sample_every`` (grids of ``n_samples``), ``checkpoint_every`` and
    ``keep_checkpoints``; 0 turns an interval off (a checkpoint and a grid are still written
    at the end of every ``fit``). ``findings``: what the doctor has found so far.
    """

    def __init__(self, path: str | os.PathLike, *, log_every: int = 50, sample_every: int = 500,
                 checkpoint_every: int = 1000, keep_checkpoints: int = 3, n_samples: int = 64,
                 tensorboard: bool = True, log: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.log_every = _count("log_every", log_every, 0)
        self.sample_every = _count("sample_every", sample_every, 0)
        self.checkpoint_every = _count("checkpoint_every", checkpoint_every, 0)
        self.keep = _count("keep_checkpoints", keep_checkpoints, 1)
        self.n_samples = _count("n_samples", n_samples, 1)
        self.tensorboard = bool(tensorboard)
        self.say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.inner: list = []
        self.at_step: int | None = None   # the step this directory's run is at

    @property
    def every(self) -> int:
        """The shortest interval at which a callback reads the stats (``fit``'s sync)."""
        return self.log_every

    @property
    def findings(self) -> list:
        return [f for cb in self.inner for f in getattr(cb, "findings", [])]

    # --- before the first step: continue what the directory holds, or start it ----------
    def before_fit(self, trainer, batches) -> None:
        if self.at_step is not None and trainer.step_count == self.at_step:
            self.batches = batches   # a second fit with this trainer: go on
            return
        self._refuse_a_cli_run()
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"run_dir {self.path} is a file: give a directory")
        make_dirs(self.path)
        for note in clean_temps(self.path / "checkpoints"):
            self.say(f"note: {note}")
        latest = load_latest(self.path / "checkpoints") if (self.path / "checkpoints").is_dir() \
            else None
        for note in (latest.notes() if latest is not None else []):
            self.say(f"note: {note}")
        if latest is not None and latest.state is not None:
            self._continue(trainer, latest)
        elif trainer.step_count == 0 and (self.path / "metrics.jsonl").exists():
            self.say(f"note: {self.path} holds no readable checkpoint; starting its run again "
                     "from step 0")
        samples = getattr(batches, "samples", None)
        self.inner = run_dir_callbacks(
            trainer, self.path, samples=samples, kind=_kind(samples), seed=trainer.seed or 0,
            log_every=self.log_every, sample_every=self.sample_every,
            checkpoint_every=self.checkpoint_every, keep=self.keep, n_samples=self.n_samples,
            tensorboard=self.tensorboard,
            extra=lambda: {PYTHON_KEY: True, "version": __version__,
                           "signature": signature(trainer.G, trainer.D)})
        self.batches = batches

    def _refuse_a_cli_run(self) -> None:
        from .rundir import python_record

        config = self.path / "config.yaml"
        if config.is_file() and python_record(self.path) is None:
            raise UserError(f"{self.path} holds a run of `ganforge train`: continue it with "
                            f"`ganforge train --resume {self.path}`, or give RunDir a new "
                            "directory")

    def _continue(self, trainer, latest) -> None:
        step = latest.state["counters"]["step"]
        if trainer.step_count == step:
            return
        if trainer.step_count != 0:
            raise UserError(
                f"{self.path} holds a run at step {step:,} ({latest.path.name}) and this trainer "
                f"is at step {trainer.step_count:,}: give a new directory, or a fresh Trainer to "
                "continue that run")
        diffs = signature_differences(latest.state.get("signature", {}),
                                      signature(trainer.G, trainer.D))
        if diffs:
            raise UserError(f"{latest.path} is from different networks ({'; '.join(diffs)}): "
                            "give a new directory for these networks")
        trainer.load_state_dict(latest.state)
        self.say(f"continuing {self.path} from {latest.path.name} at step {step:,}")

    # --- the run -------------------------------------------------------------------------
    def on_fit_start(self, trainer, end_step):
        from .distributed import on_main

        record = python_config(trainer, self, self.batches, end_step)
        on_main(trainer.world, lambda: write_atomic(self.path / "config.yaml",
                                                    _yaml(record)))
        for cb in self.inner:
            cb.on_fit_start(trainer, end_step)

    def on_step_end(self, trainer, stats):
        for cb in self.inner:
            cb.on_step_end(trainer, stats)
        self.at_step = trainer.step_count

    def on_fit_end(self, trainer, error):
        first: BaseException | None = None
        for cb in self.inner:
            try:
                cb.on_fit_end(trainer, error)
            except Exception as err:   # close every writer; report the first failure
                first = first or err
        self.at_step = trainer.step_count
        if first is not None and error is None:
            raise first


def _kind(samples) -> str | None:
    if samples is None:
        return None
    shape = tuple(samples.shape[1:])
    return "image" if len(shape) == 3 else "points" if shape == (2,) else "vector"


def _yaml(record: dict) -> str:
    import yaml

    return ("# A run trained from Python (ganforge.RunDir): a record of what was set. The\n"
            "# networks are in the code that trained it; continue it from that code.\n"
            + yaml.safe_dump(record, sort_keys=False))


def _describe_net(net) -> dict:
    kind = type(net)
    return {"class": f"{kind.__module__}.{kind.__qualname__}",
            "parameters": sum(p.numel() for p in net.parameters()),
            "trainable": sum(p.numel() for p in net.parameters() if p.requires_grad)}


def _describe_opt(opt) -> dict:
    group = opt.param_groups[0]
    hyper = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()
             if k != "params" and isinstance(v, (int, float, bool, str, tuple, type(None)))}
    return {"class": f"{type(opt).__module__}.{type(opt).__qualname__}", **hyper}


def python_config(trainer, run_dir: RunDir, batches, end_step: int) -> dict:
    """config.yaml of a Python run: the doctor's keys, then the record under ``python``."""
    players = trainer.players
    samples = getattr(batches, "samples", None)
    return {
        "model": f"{type(players.G).__qualname__} / {type(players.D).__qualname__} (from Python)",
        "loss": players.loss.name,
        "lr_G": players.opt_G.param_groups[0]["lr"],
        "lr_D": players.opt_D.param_groups[0]["lr"],
        "precision": players.precision,
        "seed": trainer.seed,
        "steps": end_step,
        "batch_size": getattr(batches, "batch_size", None),
        "data": {"name": "python", "scale": trainer.feed.scale,
                 "samples": list(samples.shape) if samples is not None else None},
        "log_every": run_dir.log_every, "sample_every": run_dir.sample_every,
        "checkpoint_every": run_dir.checkpoint_every,
        "keep_checkpoints": run_dir.keep, "n_samples": run_dir.n_samples,
        "tensorboard": run_dir.tensorboard,
        PYTHON_KEY: {
            "G": _describe_net(players.G), "D": _describe_net(players.D),
            "opt_G": _describe_opt(players.opt_G), "opt_D": _describe_opt(players.opt_D),
            "ema": trainer.ema is not None,
            "device": str(trainer.device),
            "data_notes": list(trainer.feed.notes),
            "plan": trainer.plan().format(),
            "ganforge_version": __version__,
        },
    }
