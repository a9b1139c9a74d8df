"""``ganforge eval RUN_DIR``: metrics of a trained run, written to ``RUN_DIR/eval.json``.

Loads the run's config and newest checkpoint, draws ``n`` samples from G_ema (when the trainer
has one) or G with latents from ``seed``, computes the metrics against the real data, and
appends the result to ``eval.json``::

    {"evaluations": [{"step": 3000, "values": [
        {"metric": "fid", "value": 3.1, "feature_net": "ganforge-fmnist-classifier",
         "feature_net_sha256": "...", "n_fake": 10000, "n_real": 10000,
         "reference": "fashion-mnist/train", "generator": "G", "seed": 0, "step": 3000}, ...]}]}

A new evaluation whose values could not be compared with those already in the file
(different feature network, sample counts or reference) is refused unless ``replace=True``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import build_config, to_dict
from .distributed import World, gather_to_main, on_main
from .errors import UserError
from .files import ReadError, make_dirs, write_atomic
from .metrics.provenance import MetricValue, check_all_comparable, check_comparable
from .metrics.refstats import reference_stats
from .metrics.suite import Context, compute, resolve_eval, sample_outputs
from .sampling import generate

SPLITS = ("train", "test")


@dataclass
class Evaluation:
    run_dir: Path
    step: int
    values: list[MetricValue]


def latent_z(seed: int, n: int, z_shape: tuple[int, ...]) -> torch.Tensor:
    """The latents of an evaluation: a function of ``seed`` only (own generator)."""
    return torch.randn((n, *z_shape), generator=torch.Generator().manual_seed(seed))


def pick_generator(trainer, ema: bool | None):
    """(module, "G" | "G_ema"): ``trainer.G_sample`` (G_ema when the run has one) unless
    ``ema`` is False; ``ema=True`` on a run without EMA is a UserError."""
    if ema and trainer.G_ema is None:
        raise UserError("--ema was asked for, but this run has no G_ema (EMA was off when it "
                        "trained): drop --ema")
    if ema is False or trainer.G_ema is None:
        return trainer.G, "G"
    return trainer.G_sample, "G_ema"


def reference_data(run, split: str):
    """Real samples to compare with: the run's training data, or Fashion-MNIST's test split
    (``Samples``: indexing reads float32 rows, only those taken)."""
    if split not in SPLITS:
        raise UserError(f"--reference must be train or test, got {split!r}")
    if split == "train":
        return run.batches.samples  # as G was trained on it (rescaled if data.scale=auto)
    if run.cfg.data.name != "fashion-mnist":
        raise UserError(f"--reference test exists only for fashion-mnist, not "
                        f"{run.cfg.data.name!r}: use --reference train")
    from .data.fashion_mnist import load_fashion_mnist

    return load_fashion_mnist(run.cfg.data.root, "test").samples


def evaluate(run_dir: str | os.PathLike, metrics: str = "auto", n: int = 10000, seed: int = 0,
             feature_net="default", ema: bool | None = None, reference: str = "train",
             cache_root: Path | None = None, log=lambda msg: None,
             world: World = World(), device: str | None = None) -> Evaluation | None:
    """Compute ``metrics`` for the newest checkpoint of ``run_dir`` (does not write files).

    With several processes (``world``, under torchrun) each generates its share of the
    latents and computes their features; rank 0 gathers them in rank order (the one-process
    order), computes the metrics and returns them; the other processes return None."""
    from .checkpoint import load_checkpoint
    from .run import build_run, restore
    from .rundir import latest_for_reading

    run_dir = Path(run_dir)
    if n < 2:
        raise UserError(f"--n must be at least 2, got {n}")
    kept: dict = {}   # rank 0's loaded state, so it does not read the checkpoint twice

    def look():
        found = latest_for_reading(run_dir)
        kept["state"] = found.state
        return to_dict(found.cfg), found.checkpoint, found.notes

    cfg_dict, checkpoint, notes = on_main(world, look)
    for note in notes:
        log(f"note: {note}")
    run = build_run(build_config(cfg_dict), device=device)
    restore(run, kept.get("state") or load_checkpoint(checkpoint), checkpoint)
    path = checkpoint
    step = run.trainer.step_count
    G, which = pick_generator(run.trainer, ema)
    dataset = run.cfg.data.name
    kind, sample_shape = run.dataset.kind, run.dataset.sample_shape
    names, net = resolve_eval(metrics, dataset, kind, sample_shape, feature_net)
    if "modes" in names and n < 2500:
        log(f"note: the modes metric uses 2,500 samples (PacGAN); only {n} requested")
    log(f"evaluating {path} ({which}) on {n:,} samples: {', '.join(names)}")
    z = latent_z(seed, n, run.trainer.players.z_shape).tensor_split(world.size)[world.rank]
    fake = generate(G, z.to(run.trainer.device), autocast=run.trainer.players.autocast).cpu()
    parts = gather_to_main(sample_outputs(names, fake, net), world)
    if parts is None:
        return None
    outputs = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    real = reference_data(run, reference)

    def real_stats():
        stats = reference_stats(real, net, dataset, reference, min(n, len(real)), cache_root)
        log(f"reference features {'read from' if stats.cached else 'cached in'} {stats.path}")
        return stats

    ctx = Context(dataset, reference, which, seed, step)
    return Evaluation(run_dir, step, compute(names, None, net, real_stats, ctx,
                                             outputs=outputs))


def write_eval_json(ev: Evaluation, replace: bool = False,
                    path: str | os.PathLike | None = None) -> Path:
    """Append ``ev`` to ``path`` (default ``run_dir/eval.json``; an evaluation of the same step
    and generator is overwritten); refuse values not comparable with those already there
    unless ``replace``. The file is replaced atomically; a failed write is a
    :class:`~ganforge.files.WriteError` and leaves the old file as it was, so the caller can
    still show ``ev`` and offer another ``path``."""
    path = Path(path) if path is not None else ev.run_dir / "eval.json"
    entries = []
    if path.is_file() and not replace:
        try:
            entries = json.loads(path.read_text())["evaluations"]
        except OSError as err:
            raise ReadError(path, err) from err
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
            raise UserError(f"{path} is not an eval.json ganforge can read: pass --replace to "
                            "start it afresh") from None
        old = [MetricValue.from_dict(v) for e in entries for v in e["values"]]
        by_metric = {v.metric: v for v in old}
        for v in ev.values:
            if v.metric in by_metric:
                try:
                    check_comparable(by_metric[v.metric], v)
                except UserError as err:
                    raise UserError(f"{path} already holds values computed differently: {err}; "
                                    "or pass --replace to start eval.json afresh") from None
    generator = ev.values[0].provenance.generator if ev.values else "G"
    entries = [e for e in entries if (e.get("step"), e.get("generator")) != (ev.step, generator)]
    entries.append({"step": ev.step, "generator": generator,
                    "values": [v.to_dict() for v in ev.values]})
    make_dirs(path.parent)
    return write_atomic(path, json.dumps({"evaluations": entries}, indent=1) + "\n")


def _fmt(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"


def format_table(evaluations: list[Evaluation]) -> str:
    """One row per metric, one column per run; refuses incomparable values side by side."""
    check_all_comparable([v for ev in evaluations for v in ev.values])
    metrics = list(dict.fromkeys(v.metric for ev in evaluations for v in ev.values))
    heads = [f"{ev.run_dir.name}@{ev.step}" for ev in evaluations]
    rows = [["metric", *heads, "n_fake", "n_real", "feature net"]]
    for m in metrics:
        vals = [next((v for v in ev.values if v.metric == m), None) for ev in evaluations]
        prov = next(v for v in vals if v is not None).provenance
        rows.append([m, *[_fmt(v.value) if v else "-" for v in vals], str(prov.n_fake),
                     str(prov.n_real), prov.feature_net])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    first = evaluations[0].values[0].provenance if evaluations[0].values else None
    if first is not None:
        lines.append(f"samples from {first.generator}, seed {first.seed}; reference "
                     f"{first.reference}")
    return "\n".join(lines)
