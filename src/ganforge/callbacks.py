"""Callbacks: all of a run's I/O. The Trainer calls them; they never change training state.

Each callback has three hooks: ``on_fit_start(trainer, end_step)``, ``on_step_end(trainer,
stats)`` and ``on_fit_end(trainer, error)`` (``error`` is the exception that stopped ``fit``,
or None). Stats keys are lower-case and slash-separated (``loss/D``, ``time/step_ms``).

Files are written through :mod:`ganforge.files`, so a full or read-only disk stops the run
with a one-line :class:`~ganforge.files.WriteError` naming the file, and the checkpoint
before it stays intact.

With several processes every process runs every callback at the same steps, and only rank 0
writes (``trainer.world.is_main``): the logged values are the means over all processes,
gathered once per log interval; a checkpoint gathers every process's RNG state and checks
that all of them still hold the same weights.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Callable

import torch

from .checkpoint import list_checkpoints, save_checkpoint
from .distributed import World, check_in_step, gather_to_main
from .errors import NonFiniteLossError
from .files import WriteError, append_line, make_dirs, read_jsonl, write_atomic
from .images import sample_image, save_image
from .sampling import class_grid, generate, num_classes_of


class Callback:
    def on_fit_start(self, trainer, end_step: int) -> None: ...
    def on_step_end(self, trainer, stats: dict[str, float]) -> None: ...
    def on_fit_end(self, trainer, error: BaseException | None) -> None: ...


class _IntervalMean:
    """Means of the stats over the steps since the last flush (GAN losses are noisy).

    Each key is averaged over the steps that reported it: a stat measured only every few
    steps (the diversity probe, a lazy regularizer) is not diluted by the steps without it.
    Stats that are tensors (``Trainer.fit`` leaves them on the device) are summed there and
    brought to the host once per flush, all of them in one transfer.
    """

    def __init__(self):
        self.sums: dict = {}
        self.counts: dict[str, int] = {}
        self.count = 0

    def add(self, stats: dict) -> None:
        for k, v in stats.items():
            self.sums[k] = self.sums.get(k, 0.0) + (v.detach() if torch.is_tensor(v) else v)
            self.counts[k] = self.counts.get(k, 0) + 1
        self.count += 1

    def _host_sums(self) -> dict[str, float]:
        on_device = [k for k, v in self.sums.items() if torch.is_tensor(v)]
        values = (torch.stack([self.sums[k].double() for k in on_device]).tolist()
                  if on_device else [])
        return {**self.sums, **dict(zip(on_device, values))}

    def flush(self) -> dict[str, float]:
        sums, counts = self._host_sums(), self.counts
        self.sums, self.counts, self.count = {}, {}, 0
        return {k: v / counts[k] for k, v in sums.items()}

    def flush_over(self, world: World) -> dict[str, float] | None:
        """:meth:`flush`, averaged over every process's steps (one gather per flush): the
        means on rank 0, None elsewhere."""
        if not world.distributed:
            return self.flush()
        parts = gather_to_main((self._host_sums(), self.counts), world)
        self.sums, self.counts, self.count = {}, {}, 0
        if parts is None:
            return None
        for sums, counts in parts:
            for k, v in sums.items():
                self.sums[k] = self.sums.get(k, 0.0) + v
                self.counts[k] = self.counts.get(k, 0) + counts[k]
        return self.flush()


def _due(step: int, every: int) -> bool:
    return every > 0 and step % every == 0


def world_of(trainer) -> World:
    """The trainer's place among processes (a single process for trainer-like objects
    without one)."""
    return getattr(trainer, "world", None) or World()


def main_only(trainer) -> bool:
    """Whether this process writes: rank 0 (or the only process)."""
    return world_of(trainer).is_main


class _IntervalLogger(Callback):
    """Writes the means of the stats every ``every`` steps and at the end of ``fit``."""

    def __init__(self, every: int):
        self.every, self.acc = every, _IntervalMean()

    def on_fit_start(self, trainer, end_step):
        self.acc = _IntervalMean()

    def on_step_end(self, trainer, stats):
        self.acc.add(stats)
        if _due(trainer.step_count, self.every):
            self._write(trainer)

    def on_fit_end(self, trainer, error):
        # Not after a non-finite value (the steps since the last row ran after it, so their
        # means are not the run's), nor after an error with several processes (the others may
        # not be here to gather with). Rows after the last checkpoint go on resume anyway.
        if self.acc.count and not isinstance(error, NonFiniteLossError) \
                and not (error is not None and world_of(trainer).distributed):
            self._write(trainer)

    def _write(self, trainer) -> None:
        means = self.acc.flush_over(world_of(trainer))
        if means is not None:
            self.write(trainer, means)

    def write(self, trainer, means: dict[str, float]) -> None:
        raise NotImplementedError


class JSONLLogger(_IntervalLogger):
    """``metrics.jsonl``: one object per logged step, the means since the previous line.

    On resume, lines past the checkpoint's step (written by the interrupted run after its last
    checkpoint) are dropped first, so the file reads like one uninterrupted run; a torn last
    line (the process was killed while writing it) is dropped with them.
    """

    def __init__(self, path: str | os.PathLike, every: int = 50):
        super().__init__(every)
        self.path = Path(path)

    def on_fit_start(self, trainer, end_step):
        super().on_fit_start(trainer, end_step)
        if self.path.exists() and main_only(trainer):
            rows, _ = read_jsonl(self.path)
            kept = [row for row in rows if row.get("step", 0) <= trainer.step_count]
            write_atomic(self.path, "".join(json.dumps(row) + "\n" for row in kept))

    def write(self, trainer, means):
        row = {"step": trainer.step_count, "images_seen": trainer.images_seen, **means}
        append_line(self.path, json.dumps(row))


class TensorBoardLogger(_IntervalLogger):
    """TensorBoard scalars (interval means) and sample grids (see :class:`SampleGrid`).

    On resume, events past the checkpoint's step are purged, as in ``metrics.jsonl``.
    """

    def __init__(self, log_dir: str | os.PathLike, every: int = 50):
        super().__init__(every)
        self.log_dir, self.writer = str(log_dir), None

    def on_fit_start(self, trainer, end_step):
        super().on_fit_start(trainer, end_step)
        if self.writer is None and main_only(trainer):
            from torch.utils.tensorboard import SummaryWriter  # slow import: only when used

            make_dirs(self.log_dir)  # a clean WriteError here, not one deep in tensorboard
            # TensorBoard hides events at steps >= purge_step: keep the checkpoint's own step,
            # as metrics.jsonl does, and drop what the interrupted run logged after it.
            self.writer = SummaryWriter(self.log_dir, purge_step=(trainer.step_count + 1
                                                                  if trainer.step_count else None))

    def on_fit_end(self, trainer, error):
        super().on_fit_end(trainer, error)
        if self.writer is None:
            return
        try:
            self.writer.flush()
        except OSError as err:
            raise WriteError(self.log_dir, err) from err

    def write(self, trainer, means):
        for k, v in means.items():
            self.writer.add_scalar(k, v, trainer.step_count)

    def add_image(self, tag: str, image, step: int) -> None:
        dataformats = "HWC" if image.ndim == 3 else "HW"
        self.writer.add_image(tag, image, step, dataformats=dataformats)


class SampleGrid(Callback):
    """``samples/step_XXXXXXX.png`` from a fixed z every ``every`` steps and at the end.

    The fixed z comes from its own seeded generator, so grids of a resumed run line up with
    those of the uninterrupted run; G is run through :func:`generate`, which leaves its
    buffers and the global RNG untouched. A class-conditional run gets a class grid: one row
    per class, the same z in each column.
    """

    def __init__(self, directory: str | os.PathLike, z: torch.Tensor, every: int = 500,
                 reference: torch.Tensor | None = None, tensorboard: TensorBoardLogger | None = None,
                 sample_net: Callable | None = None):
        self.dir, self.z, self.every = Path(directory), z, every
        self.reference, self.tb = reference, tensorboard
        self.sample_net = sample_net or (lambda trainer: trainer.G_sample)
        self.last_step = -1

    def on_fit_start(self, trainer, end_step):
        if not main_only(trainer):
            return
        make_dirs(self.dir)
        if trainer.step_count == 0:
            self._write(trainer)  # what G makes before training: the baseline to compare to

    def on_step_end(self, trainer, stats):
        if _due(trainer.step_count, self.every):
            self._write(trainer)

    def on_fit_end(self, trainer, error):
        if error is None and self.last_step != trainer.step_count:
            self._write(trainer)

    def _write(self, trainer):
        if not main_only(trainer):
            return
        G = self.sample_net(trainer)
        z, labels, nrow = self.z.to(trainer.device), None, None
        if num_classes_of(trainer) is not None:   # a class grid: one row per class
            z, labels, nrow = class_grid(z, num_classes_of(trainer))
        samples = generate(G, z, autocast=trainer.players.autocast, labels=labels,
                           mode=trainer.sample_mode)
        image = sample_image(samples.cpu(), self.reference, nrow)
        self.last_step = trainer.step_count
        if image is None:
            return
        save_image(image, self.dir / f"step_{trainer.step_count:07d}.png")
        if self.tb is not None:
            self.tb.add_image("samples", image, trainer.step_count)


class Checkpointer(Callback):
    """Complete checkpoints every ``every`` steps and at the end of ``fit``, atomically.

    After a failure (e.g. a non-finite loss) nothing is written: the last checkpoint stays the
    last good state. A write that fails (full or read-only disk) raises a
    :class:`~ganforge.files.WriteError` that names the checkpoint still intact. With several
    processes, every process takes part (their RNG states are gathered, their weights checked
    equal) and rank 0 writes.
    """

    def __init__(self, directory: str | os.PathLike, every: int = 1000, keep: int = 3,
                 extra: Callable[[], dict] | None = None):
        self.dir, self.every, self.keep = Path(directory), every, keep
        self.extra = extra or (lambda: {})
        self.last_step = -1

    def on_step_end(self, trainer, stats):
        if _due(trainer.step_count, self.every):
            self.save(trainer)

    def on_fit_end(self, trainer, error):
        if error is None and self.last_step != trainer.step_count:
            self.save(trainer)

    def save(self, trainer) -> Path | None:
        world = world_of(trainer)
        if hasattr(trainer, "check_finite"):
            trainer.check_finite()   # a NaN the guard holds stops the run here, not in a file
        check_in_step({"G": trainer.G, "D": trainer.D}, world)
        for name, net in (("G", trainer.G), ("D", trainer.D)):
            bad = [k for k, v in net.state_dict().items()
                   if v.is_floating_point() and not torch.isfinite(v).all()]
            if bad:  # a finite loss can still take a step to inf: never save such a state
                last = self.latest()
                raise NonFiniteLossError(f"{name}'s {bad[0]}", float("nan"), trainer.step_count,
                                         kind="parameter", last=last)
        state = {**trainer.state_dict(), **self.extra()}   # on every process: it gathers
        path = (save_checkpoint(self.dir, trainer.step_count, state, self.keep)
                if world.is_main else None)
        self.last_step = trainer.step_count
        return path

    def latest(self) -> Path | None:
        found = list_checkpoints(self.dir)
        return found[-1] if found else None


def _fmt(v: float) -> str:
    return f"{v:.3g}" if math.isfinite(v) else str(v)


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where stderr is not a terminal, but a widget
    bar shows)."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


class Progress(Callback):
    """A progress bar with step, losses, steps/s and ETA (tqdm) on a terminal or in a Jupyter
    notebook (tqdm's widget), its losses refreshed every ``every`` steps; a plain line every
    ``every`` steps when the output is neither (CI logs, a file)."""

    KEYS = ("loss/D", "loss/G", "logits/real", "logits/fake")

    def __init__(self, every: int = 50, stream=None, force_plain: bool = False):
        self.every, self.stream = every, stream or sys.stderr
        self.notebook = stream is None and not force_plain and _in_notebook()
        self.plain = force_plain or not (self.notebook
                                         or getattr(self.stream, "isatty", lambda: False)())
        self.bar, self.acc = None, _IntervalMean()

    def on_fit_start(self, trainer, end_step):
        self.end = end_step
        if not self.plain and main_only(trainer):
            if self.notebook:
                from tqdm.auto import tqdm
            else:
                from tqdm import tqdm

            self.bar = tqdm(total=end_step, initial=trainer.step_count, unit="step",
                            file=None if self.notebook else self.stream, dynamic_ncols=True)

    def on_step_end(self, trainer, stats):
        if not main_only(trainer):
            return
        self.acc.add({k: stats[k] for k in (*self.KEYS, "time/step_ms") if k in stats})
        if self.bar is not None:
            self.bar.update(1)
            if _due(trainer.step_count, self.every):   # values read from the device then only
                self._postfix()
        elif _due(trainer.step_count, self.every):
            self._line(trainer)

    def _line(self, trainer) -> None:
        means = self.acc.flush()
        ms = means.get("time/step_ms", float("nan"))
        eta = (self.end - trainer.step_count) * ms / 1000.0
        parts = " ".join(f"{k}={_fmt(means[k])}" for k in self.KEYS if k in means)
        print(f"step {trainer.step_count}/{self.end} {parts} "
              f"{1000.0 / ms:.1f} steps/s ETA {eta:.0f}s", file=self.stream, flush=True)

    def _postfix(self) -> None:
        means = self.acc.flush()
        self.bar.set_postfix({k.replace("loss/", ""): _fmt(means[k]) for k in self.KEYS
                              if k in means}, refresh=False)

    def on_fit_end(self, trainer, error):
        if self.bar is not None:
            if error is None and self.acc.sums:
                self._postfix()   # the losses of the last steps, on the bar that stays
            self.bar.close()
        elif (error is None and self.plain and main_only(trainer) and self.every > 0
              and not _due(trainer.step_count, self.every) and self.acc.sums):
            self._line(trainer)   # the last steps of a run shorter than an interval
