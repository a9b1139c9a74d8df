"""Metrics during training: every ``every`` steps, on a modest number of samples.

Rows go to ``metrics.jsonl`` as ``{"step": ..., "metric/fid": ..., ...}`` (their own lines,
beside the loss lines) and to TensorBoard under the same tags. Samples come from G_ema when
the trainer has one, else G, always from the same latents (a function of the seed, drawn from
an own generator) so the curve is not noisier than it must be; :func:`generate` leaves G and
the global RNG untouched, so a run with evaluation trains exactly like one without. Reference
features are computed (or read from the cache) once, at the start of ``fit``.

A class-conditional run's row also holds the doctor's per-class record (``doctor/classes.py``,
``ClassStats.to_dict()``) under ``"classes"``, when the evaluation has features and the real
samples have labels: ``ganforge doctor`` judges the last one. TensorBoard gets three scalars
of it (``classes/accuracy_min``, ``classes/spread_ratio_min``, ``classes/duplicates_max``:
the worst class on each check), not the record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..callbacks import Callback, TensorBoardLogger, main_only, world_of
from ..distributed import gather_to_main
from ..doctor.classes import RECORD_KEY, ClassStats, class_stats_of
from ..files import append_line
from ..sampling import balanced_labels, generate, num_classes_of
from ..streams import side_generator
from .refstats import reference_stats
from .features import FeatureNet
from .suite import Context, compute, sample_outputs


class EvalCallback(Callback):
    """Args:
        path: the run's metrics.jsonl.
        every: steps between evaluations (> 0).
        real: (N, *sample_shape) real data; dataset: its name; real_labels: its labels
            (a conditional run: intra-FID compares each class with its own real samples).
        names, net: the metrics and their feature network, from ``suite.resolve_eval``.
        n: generated samples per evaluation (and real samples, at most len(real)).
        tensorboard: the run's TensorBoardLogger, if any.
        cache_root: reference-statistics cache (None: $GANFORGE_CACHE or ~/.cache/ganforge).
    """

    def __init__(self, path: str | os.PathLike, every: int, real: torch.Tensor, dataset: str,
                 names: list[str], net: FeatureNet | None, n: int = 2000, seed: int = 0,
                 tensorboard: TensorBoardLogger | None = None, cache_root: Path | None = None,
                 real_labels: torch.Tensor | None = None):
        self.path, self.every, self.real, self.n = Path(path), every, real, n
        self.real_labels = real_labels
        self.dataset, self.seed, self.tb, self.cache_root = dataset, seed, tensorboard, cache_root
        self.names, self.net = names, net
        self.ref = None

    def on_fit_start(self, trainer, end_step):
        if self.ref is None and self.net is not None and any(m != "modes" for m in self.names) \
                and main_only(trainer):
            self.ref = reference_stats(self.real, self.net, self.dataset, "train",
                                       min(self.n, len(self.real)), self.cache_root)

    def on_step_end(self, trainer, stats):
        if self.every > 0 and trainer.step_count % self.every == 0:
            self.evaluate(trainer)

    def evaluate(self, trainer) -> dict | None:
        """With several processes each generates its share of the latents and computes their
        features; rank 0 gathers them (in rank order: the one-process order), computes the
        metrics and writes them. Returns the row (None on the other processes)."""
        world = world_of(trainer)
        which = "G_ema" if trainer.G_ema is not None else "G"
        z = torch.randn((self.n, *trainer.players.z_shape),
                        generator=side_generator(self.seed, "eval"))
        z = z.tensor_split(world.size)[world.rank]
        K = num_classes_of(trainer)
        y = None if K is None else balanced_labels(self.n, K).tensor_split(world.size)[world.rank]
        fake = generate(trainer.G_sample, z.to(trainer.device),
                        autocast=trainer.players.autocast, labels=y,
                        mode=trainer.sample_mode).cpu()
        part = sample_outputs(self.names, fake, self.net, labels=y)
        if y is not None and "features" in part:   # the per-class record needs the classes,
            part.setdefault("labels", y)           # with or without a conditional metric
        parts = gather_to_main(part, world)
        if parts is None:
            return None
        outputs = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        ctx = Context(self.dataset, "train", which, self.seed, trainer.step_count)
        values = compute(self.names, None, self.net, lambda: self.ref, ctx, kid_subsets=20,
                         outputs=outputs, real_labels=self.real_labels)
        row = {"step": trainer.step_count, **{f"metric/{v.metric}": v.value for v in values}}
        scalars = {k: v for k, v in row.items() if k != "step"}
        stats = None if K is None or self.ref is None else class_stats_of(
            outputs, self.ref.features, self.real_labels, trainer.step_count, K)
        if stats is not None:   # None: too few samples per class to judge, say nothing
            row[RECORD_KEY] = stats.to_dict()
            scalars.update(class_scalars(stats))
        append_line(self.path, json.dumps(row))
        if self.tb is not None and self.tb.writer is not None:
            for k, v in scalars.items():
                self.tb.writer.add_scalar(k, v, trainer.step_count)
        return row


def class_scalars(stats: ClassStats) -> dict[str, float]:
    """The worst class on each per-class check, for TensorBoard: the lowest accuracy, the
    lowest ratio of generated to real spread, the highest share of near-copies."""
    out = {}
    if stats.accuracy:
        out["classes/accuracy_min"] = min(stats.accuracy)
    if stats.fake_spread and stats.real_spread:
        ratios = [f / r for f, r in zip(stats.fake_spread, stats.real_spread) if r > 0]
        if ratios:
            out["classes/spread_ratio_min"] = min(ratios)
    if stats.duplicates:
        out["classes/duplicates_max"] = max(stats.duplicates)
    return out
