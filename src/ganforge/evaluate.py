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

:func:`evaluate_trainer` computes the same metrics for a Trainer built and trained in Python
(no run directory) against the real samples the user holds; both go through :func:`measure`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .config import build_config, to_dict
from .distributed import World, gather_to_main, on_main
from .errors import UserError
from .files import ReadError, make_dirs, write_atomic
from .images import check_trainer, latent_z, pick_generator
from .metrics.provenance import MetricValue, check_all_comparable, check_comparable
from .metrics.refstats import reference_stats
from .metrics.suite import Context, compute, resolve_eval, sample_outputs
from .sampling import balanced_labels, generate, num_classes_of

SPLITS = ("train", "test")


@dataclass
class Evaluation:
    """The metric values of one generator at one training step. ``run_dir`` is None for a
    trainer evaluated from Python (:func:`evaluate_trainer`). ``print(ev)`` shows the table."""

    run_dir: Path | None
    step: int
    values: list[MetricValue]
    findings: list = field(default_factory=list)   # a conditional run's per-class findings

    def scores(self) -> dict[str, float]:
        """Metric name -> value, e.g. ``{"fid": 3.1, "kid": 0.002, ...}``: for plots and
        comparisons in a notebook (the provenance stays in ``values``)."""
        return {v.metric: v.value for v in self.values}

    def __str__(self) -> str:
        return "\n".join([format_table([self]), *(f.render() for f in self.findings)])

    def _repr_pretty_(self, printer, cycle) -> None:
        """IPython/Jupyter shows the table, not the dataclass fields, for a bare ``ev``."""
        printer.text(str(self))


def _quiet(msg: str) -> None:
    pass


def measure(trainer, ema: bool | None, real: Callable, dataset: str, kind: str,
            sample_shape: tuple[int, ...], split: str, metrics: str = "auto", n: int = 10000,
            seed: int = 0, feature_net="default", *, label: str = "the generator",
            option: str = "--ema", cache_root: Path | None = None, log=_quiet,
            world: World = World(), findings: list | None = None
            ) -> list[MetricValue] | None:
    """The metric values of ``n`` samples of ``trainer``'s generator against real data: what
    :func:`evaluate` (a run directory) and :func:`evaluate_trainer` (Python) both compute.

    ``ema``: G_ema or G, as :func:`pick_generator` (``option`` names the flag in its error).
    ``real()``: the real samples and their labels (None without), called once on rank 0
    and only after the samples are generated (a run's test split is read only then). A
    class-conditional trainer is sampled with the classes in turn (``balanced_labels``);
    when the features and the real labels allow it, the doctor's per-class checks
    (``doctor/classes.py``: a collapsed class, a class the classifier does not recognize)
    append their findings to ``findings``. ``dataset`` (its name), ``kind`` and
    ``sample_shape`` pick the ``metrics`` ("auto" or a list) and the feature network, as
    :func:`~ganforge.metrics.suite.resolve_eval`; the provenance's reference is
    ``dataset/split``. Latents come from :func:`latent_z` (``seed``); ``label`` names what
    is evaluated in the log. Under several processes (``world``) each generates its share;
    rank 0 returns the values, the others None."""
    G, which = pick_generator(trainer, ema, option)
    K = num_classes_of(trainer)
    names, net = resolve_eval(metrics, dataset, kind, sample_shape, feature_net,
                              conditional=K is not None)
    if "modes" in names and n < 2500:
        log(f"note: the modes metric uses 2,500 samples (PacGAN); only {n} requested")
    log(f"evaluating {label} ({which}) on {n:,} samples: {', '.join(names)}")
    z = latent_z(seed, n, trainer.players.z_shape).tensor_split(world.size)[world.rank]
    y = None if K is None else balanced_labels(n, K).tensor_split(world.size)[world.rank]
    fake = generate(G, z.to(trainer.device), autocast=trainer.players.autocast,
                    labels=y, mode=trainer.sample_mode).cpu()
    _check_shapes(tuple(fake.shape[1:]), tuple(sample_shape))
    parts = gather_to_main(sample_outputs(names, fake, net, labels=y), world)
    if parts is None:
        return None
    outputs = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    samples, real_labels = real()

    def real_stats():
        stats = reference_stats(samples, net, dataset, split, min(n, len(samples)), cache_root)
        log(f"reference features {'read from' if stats.cached else 'cached in'} {stats.path}")
        return stats

    ctx = Context(dataset, split, which, seed, trainer.step_count)
    kept: list = []   # the reference statistics, read once for the metrics and the doctor

    def reference():
        if not kept:
            kept.append(real_stats())
        return kept[0]

    values = compute(names, None, net, reference, ctx, outputs=outputs,
                     real_labels=real_labels)
    if findings is not None and K is not None and "features" in outputs \
            and real_labels is not None:
        findings += _class_findings(outputs, reference(), real_labels, trainer.step_count, K,
                                    log)
    return values


def _class_findings(outputs: dict, ref, real_labels, step: int, K: int, log) -> list:
    """The doctor's per-class checks of a conditional generator's evaluation."""
    from .doctor.classes import class_findings, class_stats_of

    stats = class_stats_of(outputs, ref.features, real_labels, step, K, log)
    return [] if stats is None else class_findings(stats)


def _check_shapes(fake: tuple[int, ...], real: tuple[int, ...]) -> None:
    """Generated and real samples must have one shape to be compared: a UserError if not."""
    if fake != real:
        raise UserError(f"the generator makes samples of shape {fake} but the real data's "
                        f"samples are {real}: compare it with real data of its own shape")


def reference_data(run, split: str):
    """(real samples, their labels or None) to compare with: the run's training data, or
    Fashion-MNIST's test split (``Samples``: indexing reads float32 rows, only those
    taken)."""
    if split not in SPLITS:
        raise UserError(f"--reference must be train or test, got {split!r}")
    if split == "train":
        # as G was trained on it (rescaled if data.scale=auto)
        return run.batches.samples, run.dataset.labels
    if run.cfg.data.name != "fashion-mnist":
        raise UserError(f"--reference test exists only for fashion-mnist, not "
                        f"{run.cfg.data.name!r}: use --reference train")
    from .data.fashion_mnist import load_fashion_mnist

    test = load_fashion_mnist(run.cfg.data.root, "test")
    return test.samples, test.labels


def evaluate(run_dir: str | os.PathLike, metrics: str = "auto", n: int = 10000, seed: int = 0,
             feature_net="default", ema: bool | None = None, reference: str = "train",
             cache_root: Path | None = None, log=lambda msg: None,
             world: World = World(), device: str | None = None,
             trust_model_code: bool | str = "eval") -> Evaluation | None:
    """Compute ``metrics`` for the newest checkpoint of ``run_dir`` (does not write files).
    A run whose networks come from a builder is rebuilt only with ``trust_model_code=True``.

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
    run = build_run(build_config(cfg_dict), device=device, trust_model_code=trust_model_code)
    restore(run, kept.get("state") or load_checkpoint(checkpoint), checkpoint)
    findings: list = []
    values = measure(run.trainer, ema, lambda: reference_data(run, reference),
                     run.cfg.data.name, run.dataset.kind, run.dataset.sample_shape, reference,
                     metrics, n, seed, feature_net, label=str(checkpoint),
                     cache_root=cache_root, log=log, world=world, findings=findings)
    return None if values is None else Evaluation(run_dir, run.trainer.step_count, values,
                                                  findings)


USER_DATA = "user data"   # the reference's name for real samples given without a name


def evaluate_trainer(trainer, data, metrics: str = "auto", n: int = 10000, seed: int = 0,
                     feature_net="default", ema: bool | None = None,
                     data_name: str | None = None) -> Evaluation:
    """The metrics :func:`evaluate` computes for a run directory, for a ``Trainer`` trained in
    Python (a notebook): ``n`` samples of its G_ema (when it has one, unless ``ema=False``) or
    G, latents from ``seed``, against the real samples ``data``. Nothing is written; the
    trainer's weights and random streams are left as they were.

    ``data``: a float tensor (N, C, H, W) or (N, D) in G's output range, a
    ``ganforge.data.Dataset`` (``load_dataset``) or ``Samples``. ``data_name`` names it
    (default: the Dataset's name, else "user data"): "fashion-mnist" adds the classifier's
    is/classes to ``metrics="auto"``, "ring8"/"grid25" pick the mode-coverage metric.
    ``feature_net``: "default" (ganforge's Fashion-MNIST classifier for 28x28 grayscale
    images, the samples themselves for points and vectors), "identity", a TorchScript path
    or an ``nn.Module``. ``print(result)`` shows the table, ``result.scores()`` the values.
    The real features are cached as :func:`evaluate`'s are (``$GANFORGE_CACHE``)."""
    check_trainer(trainer)
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise UserError(f"n must be a whole number of samples, at least 2, got {n!r}")
    real, name, kind, labels = _user_data(data, data_name)
    _check_default_net(feature_net, kind, real.sample_shape)
    findings: list = []
    values = measure(trainer, ema, lambda: (real, labels), name, kind, real.sample_shape,
                     f"{len(real)} samples", metrics, n, seed, feature_net,
                     label=f"the trainer at step {trainer.step_count}", option="ema=True",
                     findings=findings)
    return Evaluation(None, trainer.step_count, values, findings)


def _data_kind(sample_shape: tuple[int, ...]) -> str:
    """A Dataset's kind for samples of this shape: "image" (C, H, W), "points" (2,) or
    "vector" (D,); a UserError for shapes no metric takes."""
    if len(sample_shape) == 3:
        return "image"
    if len(sample_shape) == 1:
        return "points" if sample_shape[0] == 2 else "vector"
    raise UserError(f"real samples of shape {tuple(sample_shape)} cannot be evaluated: pass "
                    "images (N, C, H, W) or vectors (N, D)")


def _user_data(data, data_name: str | None):
    """(Samples, name, kind, labels or None) of what a Python user passes as real data: a
    tensor, an ``(x, y)`` pair of tensors, a ``Dataset`` or ``Samples``. Tensors become
    float32 on the CPU, the features' side."""
    from .data.dataset import Dataset
    from .data.samples import Samples, TensorSamples

    name, labels = data_name, getattr(data, "labels", None)
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(t, torch.Tensor)
                                                          for t in data):
        data, labels = data
    if isinstance(data, Dataset):
        name, samples = name or data.name, data.samples
    elif isinstance(data, Samples):
        samples = data
    elif isinstance(data, torch.Tensor):
        samples = TensorSamples(_real_tensor(data))
    else:
        raise UserError(f"data must be a tensor of real samples, a ganforge.data.Dataset or "
                        f"Samples, not {type(data).__name__}: pass e.g. torch.as_tensor(x)")
    if len(samples) < 2:
        raise UserError(f"data holds {len(samples)} real samples; the metrics need at least "
                        "2: pass more real samples")
    kind = data.kind if isinstance(data, Dataset) else _data_kind(samples.sample_shape)
    return samples, name or USER_DATA, kind, labels


def _real_tensor(x: torch.Tensor) -> torch.Tensor:
    """A user's tensor of real samples as float32 on the CPU; a UserError for pixels (they
    must first be scaled to G's range) and for NaN/inf."""
    if not x.is_floating_point():
        raise UserError(f"data is a {x.dtype} tensor; pass float samples in the generator's "
                        "output range (for 8-bit pixels: x.float() / 127.5 - 1)")
    x = x.detach().to("cpu", torch.float32)
    if not torch.isfinite(x).all():
        raise UserError("data contains NaN or inf values: remove or replace them")
    return x


def _check_default_net(feature_net, kind: str, sample_shape: tuple[int, ...]) -> None:
    """The default feature network knows 28x28 grayscale images only: for other images say
    which ``feature_net=`` to pass (the command line's message names ``--feature-net``)."""
    if isinstance(feature_net, str) and feature_net == "default" and kind == "image" \
            and tuple(sample_shape) != (1, 28, 28):
        raise UserError(f"no metric fits images of shape {tuple(sample_shape)} with the default "
                        "feature network, a classifier for 28x28 grayscale images: pass "
                        "feature_net= a TorchScript file or an nn.Module for these images, or "
                        "feature_net=\"identity\" to compare raw pixels")


def write_eval_json(ev: Evaluation, replace: bool = False,
                    path: str | os.PathLike | None = None) -> Path:
    """Append ``ev`` to ``path`` (default ``run_dir/eval.json``; an evaluation of the same step
    and generator is overwritten); refuse values not comparable with those already there
    unless ``replace``. The file is replaced atomically; a failed write is a
    :class:`~ganforge.files.WriteError` and leaves the old file as it was, so the caller can
    still show ``ev`` and offer another ``path``."""
    if path is None and ev.run_dir is None:
        raise UserError("this evaluation has no run directory (it was made by "
                        "evaluate_trainer): pass path= the eval.json to write")
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
    heads = [f"{ev.run_dir.name if ev.run_dir is not None else 'trainer'}@{ev.step}"
             for ev in evaluations]
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
