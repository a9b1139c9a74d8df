"""Metrics during training: every ``every`` steps, on a modest number of samples.

Rows go to ``metrics.jsonl`` as ``{"step": ..., "metric/fid": ..., ...}`` (their own lines,
beside the loss lines) and to TensorBoard under the same tags. Samples come from G_ema when
the trainer has one, else G, always from the same latents (a function of the seed, drawn from
an own generator) so the curve is not noisier than it must be; :func:`generate` leaves G and
the global RNG untouched, so a run with evaluation trains exactly like one without. Reference
features are computed (or read from the cache) once, at the start of ``fit``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..callbacks import Callback, TensorBoardLogger
from ..errors import UserError
from ..sampling import generate
from .refstats import reference_stats
from .suite import Context, choose_feature_net, compute, resolve_metrics

SEED_OFFSET = 104729  # eval latents differ from the sample-grid latents of the same seed


class EvalCallback(Callback):
    """Args:
        path: the run's metrics.jsonl.
        every: steps between evaluations (> 0).
        real: (N, *sample_shape) real data; dataset/kind: its name and kind.
        metrics: comma-separated names or "auto" (see ``metrics/suite.py``).
        n: generated samples per evaluation (and real samples, at most len(real)).
        feature_net: "default", "identity", a TorchScript path or a module.
        tensorboard: the run's TensorBoardLogger, if any.
        cache_root: reference-statistics cache (None: $GANFORGE_CACHE or ~/.cache/ganforge).
    """

    def __init__(self, path: str | os.PathLike, every: int, real: torch.Tensor, dataset: str,
                 kind: str, metrics: str = "auto", n: int = 2000, seed: int = 0,
                 feature_net="default", tensorboard: TensorBoardLogger | None = None,
                 cache_root: Path | None = None):
        self.path, self.every, self.real, self.n = Path(path), every, real, n
        self.dataset, self.seed, self.tb, self.cache_root = dataset, seed, tensorboard, cache_root
        if n < 10:
            raise UserError(f"eval.n must be at least 10 (the k-NN metrics and the score "
                            f"splits need that many samples), got {n}")
        sample_shape = tuple(real.shape[1:])
        names = resolve_metrics(metrics, dataset, kind, None)
        self.net = (choose_feature_net(feature_net, sample_shape, kind)
                    if any(m != "modes" for m in names) else None)
        self.names = resolve_metrics(metrics, dataset, kind, self.net)
        self.ref = None

    def on_fit_start(self, trainer, end_step):
        if self.ref is None and self.net is not None and any(m != "modes" for m in self.names):
            self.ref = reference_stats(self.real, self.net, self.dataset, "train",
                                       min(self.n, len(self.real)), self.cache_root)

    def on_step_end(self, trainer, stats):
        if self.every > 0 and trainer.step_count % self.every == 0:
            self.evaluate(trainer)

    def evaluate(self, trainer) -> dict[str, float]:
        from ..evaluate import pick_generator  # G_ema when the run has one

        G, which = pick_generator(trainer, None)
        z = torch.randn((self.n, *trainer.players.z_shape),
                        generator=torch.Generator().manual_seed(self.seed + SEED_OFFSET))
        fake = generate(G, z.to(trainer.device), autocast=trainer.players.autocast).cpu()
        ctx = Context(self.dataset, "train", which, self.seed, trainer.step_count)
        values = compute(self.names, fake, self.net, lambda: self.ref, ctx, kid_subsets=20)
        row = {"step": trainer.step_count, **{f"metric/{v.metric}": v.value for v in values}}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None and self.tb.writer is not None:
            for k, v in row.items():
                if k != "step":
                    self.tb.writer.add_scalar(k, v, trainer.step_count)
        return row
