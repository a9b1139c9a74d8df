"""The doctor during training: two callbacks.

:class:`DiversityProbe` runs G on a small fixed z batch every ``every`` steps and adds
``diag/diversity`` and ``diag/duplicates`` to that step's stats (so it must come before the
loggers in the callback list). :class:`Doctor` keeps the window of logged rows, runs the
detectors once per ``every`` steps, and reports each finding once, when it first appears:
printed, appended to ``findings.jsonl`` in the run directory, and written to TensorBoard as
text when a :class:`~ganforge.callbacks.TensorBoardLogger` is among the trainer's callbacks.
Neither changes training: G runs through :func:`~ganforge.sampling.generate`, which leaves
its BatchNorm buffers and the global RNG as they were, and the probe's z has its own seed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable

import torch

from .. import diagnostics
from ..callbacks import Callback, TensorBoardLogger, _due, _IntervalMean, main_only
from ..data.preflight import probe_labels, probe_z
from ..data.range_check import DataRangeError, check_data_range, generator_output_range
from ..errors import NonFiniteLossError
from ..files import append_line, parse_jsonl, read_jsonl, write_atomic
from ..sampling import balanced_labels, generate, num_classes_of
from ..streams import side_generator
from .classes import RECORD_KEY, ClassStats, class_findings
from .detectors import STOPPED_AT, Context, data_range_finding, divergence_finding
from .findings import Finding
from .watch import Watch

PROBE_SAMPLES = 256   # pairwise distances of 256 samples: ~33k pairs, a stable mean, ~ms


class DiversityProbe(Callback):
    """``diag/diversity`` (G's mean pairwise distance over the real data's, 1.0 = as varied)
    and ``diag/duplicates`` (share of near-copies) every ``every`` steps.

    ``real``: the real samples (a fixed random subset of ``n`` is the reference);
    ``features``: the feature map both are compared in (default: the flattened samples).
    """

    def __init__(self, real: torch.Tensor, every: int = 250, n: int = PROBE_SAMPLES,
                 features: Callable[[torch.Tensor], torch.Tensor] = diagnostics.flat_features,
                 sample_net: Callable | None = None):
        self.real, self.every, self.n, self.features = real, every, n, features
        self.sample_net = sample_net or (lambda trainer: trainer.G)
        self.z: torch.Tensor | None = None
        self.real_features: torch.Tensor | None = None

    def on_fit_start(self, trainer, end_step):
        if self.z is not None:
            return
        gen = side_generator(trainer.seed or 0, "probe")   # fixed z and real subset
        n = min(self.n, self.real.shape[0])
        self.z = torch.randn((n, *trainer.players.z_shape), generator=gen)
        pick = torch.randperm(self.real.shape[0], generator=gen)[:n]
        self.real_features = self.features(self.real[pick].float())

    def on_step_end(self, trainer, stats):
        # Rank 0 only (G is the same on every process; its values reach the logs from there).
        if self.z is not None and self.z.shape[0] >= 2 and _due(trainer.step_count, self.every) \
                and main_only(trainer):
            stats.update(self.measure(trainer))

    def measure(self, trainer) -> dict[str, float]:
        K = num_classes_of(trainer)
        labels = None if K is None else balanced_labels(self.z.shape[0], K, trainer.device)
        samples = generate(self.sample_net(trainer), self.z.to(trainer.device),
                           autocast=trainer.players.autocast, labels=labels,
                           mode=trainer.sample_mode)
        fake = self.features(samples.cpu())
        real = self.real_features
        return {"diag/diversity": float(diagnostics.diversity(fake, real)),
                "diag/duplicates": float(diagnostics.duplicates_rate(fake, real))}


class Doctor(Callback):
    """Findings during training, each reported once (see module docstring).

    Rows: with ``metrics`` (the run's ``metrics.jsonl``, written by a JSONLLogger placed
    *before* the Doctor), the doctor reads the rows as the file grows, every ``every`` steps
    and at the end, so it sees exactly what ``ganforge doctor`` will replay, evaluation rows
    (``metric/...``) included. Without it, it averages the stats itself over ``every`` steps.

    ``run_dir``: where ``findings.jsonl`` goes (None: print only). On resume (``fit`` starts
    at a step > 0) the logged rows up to that step are replayed silently and later findings
    are dropped from ``findings.jsonl``, so what was reported before is not reported again.
    """

    def __init__(self, run_dir: str | os.PathLike | None = None, every: int = 50,
                 detectors=None, stream=None, echo: bool = True,
                 metrics: str | os.PathLike | None = None):
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.every, self.detectors, self.stream, self.echo = every, detectors, stream, echo
        self.metrics = Path(metrics) if metrics is not None else None
        self.offset = 0                      # bytes of ``metrics`` already read
        self.acc = _IntervalMean()
        self.watch: Watch | None = None
        self.range_checked = False

    @property
    def findings(self) -> list[Finding]:
        return self.watch.episodes if self.watch is not None else []

    def on_fit_start(self, trainer, end_step):
        self.acc = _IntervalMean()
        if not main_only(trainer):   # the doctor reads what rank 0 logs, and only it reports
            return
        if self.watch is None:
            self.watch = Watch(self.detectors, Context.from_trainer(trainer))
            if trainer.step_count > 0:
                self._resume(trainer.step_count)
        if not self.range_checked:
            self.range_checked = True
            self._check_range(trainer)

    def on_step_end(self, trainer, stats):
        if not main_only(trainer):
            return
        if self.metrics is None:
            self.acc.add(stats)
        if _due(trainer.step_count, self.every):
            self._check(trainer)

    def on_fit_end(self, trainer, error):
        if not main_only(trainer):
            return
        self._check(trainer)   # the last partial interval, as in metrics.jsonl
        if isinstance(error, NonFiniteLossError):
            step = error.step if error.step is not None else trainer.step_count
            finding = divergence_finding(step, f"{error.name} became {error.value}",
                                         self.watch.context,
                                         {"value": error.value, STOPPED_AT: step})
            if self.watch.add(finding):
                self.report(trainer, finding)

    def _check(self, trainer) -> None:
        if self.metrics is not None:
            rows = self._new_rows()
        else:
            rows = [{"step": trainer.step_count, **self.acc.flush()}] if self.acc.count else []
        for row in rows:
            for finding in self.watch.update(row):
                self.report(trainer, finding)
            if isinstance(row.get(RECORD_KEY), dict):   # a conditional run's per-class record
                for finding in class_findings(ClassStats.from_dict(row[RECORD_KEY]),
                                              self.watch.context):
                    if self.watch.add(finding):
                        self.report(trainer, finding)

    def _new_rows(self) -> list[dict]:
        """Complete lines appended to ``metrics`` since the last read (a line still being
        written is left for the next read)."""
        if not self.metrics.is_file():
            return []
        with open(self.metrics, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        rows, _ = parse_jsonl(data[:end].decode(errors="replace"))
        return rows

    def report(self, trainer, finding: Finding) -> None:
        """Print, append to findings.jsonl, and write to TensorBoard."""
        if self.echo:
            from tqdm import tqdm  # writes above a progress bar instead of through it

            tqdm.write(f"ganforge doctor: {finding.render()}", file=self.stream or sys.stderr)
        if self.run_dir is not None:
            append_line(self.run_dir / "findings.jsonl", json.dumps(finding.to_dict()))
        tb = next((cb for cb in trainer.callbacks if isinstance(cb, TensorBoardLogger)), None)
        if tb is not None and tb.writer is not None:
            tb.writer.add_text(f"doctor/{finding.kind}", finding.render_markdown(),
                               trainer.step_count)

    def _check_range(self, trainer) -> None:
        """The start-up range check, when the Trainer skipped it (data_scale="off"): the
        run goes on as asked, but the mismatch becomes a finding (docs/problems.md, problem 5)."""
        if trainer.feed.scale != "off" or trainer.feed.batches is None:
            return
        g_range = generator_output_range(trainer.G, probe_z(trainer.players),
                                         probe_labels(trainer.players))
        try:
            check_data_range(trainer.feed.batches.samples, g_range, "check")
        except DataRangeError as err:
            finding = data_range_finding(f"{err} (the run continues: data.scale=off)",
                                         trainer.step_count)
            if self.watch.add(finding):
                self.report(trainer, finding)

    def _resume(self, step: int) -> None:
        """Rebuild the window from the rows logged up to ``step``; drop later findings."""
        if self.metrics is not None and self.metrics.is_file():
            rows, _ = read_jsonl(self.metrics)
            for row in rows:
                if row.get("step", 0) <= step:
                    self.watch.update(row)
            self.offset = self.metrics.stat().st_size
        if self.run_dir is None:
            return
        path = self.run_dir / "findings.jsonl"
        rows, _ = read_jsonl(path)
        kept = [r for r in rows if r.get("first_step", 0) <= step]
        if path.exists():
            write_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))
        detector_kinds = {d.kind for d in self.watch.detectors}
        for row in kept:  # e.g. the data-range finding: not one a detector re-derives
            if row.get("kind") not in detector_kinds:
                self.watch.add(Finding.from_dict(row))


def probe_interval(log_every: int, target: int = 250) -> int:
    """About ``target`` steps, rounded up to a multiple of ``log_every`` so that each logged
    row holds exactly one probe (no mean of an old and a new value)."""
    if log_every <= 0:
        return target
    return log_every * max(1, -(-target // log_every))
