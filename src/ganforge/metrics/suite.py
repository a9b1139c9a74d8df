"""Named metrics computed from generated samples: what ``ganforge eval`` and the training
callback share.

Names (``--metrics``): ``fid``, ``kid``, ``pr`` (precision, recall), ``dc`` (density,
coverage), ``is`` (Inception-Score-style), ``classes`` (class histogram KL, classes covered),
``modes`` (2-D mixtures: modes, high_quality, reverse_kl); for a class-conditional generator
``conditional_accuracy`` and ``intra_fid``. ``auto``: ``modes`` on ring8/grid25; fid, kid,
pr, dc on other data, plus is and classes on Fashion-MNIST with the default classifier; for a
conditional generator also intra_fid, and conditional_accuracy on Fashion-MNIST with the
default classifier.

A conditional generator's samples come with the class each was generated for
(``sample_outputs(..., labels=)``, from :func:`ganforge.sampling.balanced_labels`), and
:func:`compute` takes the real samples' labels (``real_labels=``) for intra_fid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import UserError
from ..sampling import check_labels
from .classes import class_stats
from .conditional import conditional_accuracy, intra_fid, per_class_accuracy
from .features import FeatureNet, load_feature_net
from .fid import frechet_distance, gaussian_stats
from .inception_score import inception_score
from .kid import kid
from .mixture import MIXTURES, mixture_modes
from .names import (CONDITIONAL_METRICS, FEATURE_METRICS, LOGIT_METRICS, METRICS,
                    parse_metrics)
from .prdc import density_coverage, precision_recall
from .provenance import MetricValue, Provenance
from .refstats import RefStats

MODES_SAMPLES = 2500   # PacGAN protocol


def choose_feature_net(spec, sample_shape: tuple[int, ...], kind: str) -> FeatureNet:
    """"default": ganforge's classifier for (1, 28, 28) images, the samples themselves
    ("identity") for points and vectors; otherwise as :func:`load_feature_net`."""
    if isinstance(spec, str) and spec == "default":
        if kind in ("points", "vector"):
            return load_feature_net("identity")
        if tuple(sample_shape) != (1, 28, 28):
            raise UserError(
                f"the default feature network is a classifier for 28x28 grayscale images; "
                f"these samples are {tuple(sample_shape)}: pass --feature-net PATH to a "
                "TorchScript network for them (e.g. an Inception exported with torch.jit.save)")
    net = load_feature_net(spec)
    net.check_input(tuple(sample_shape))
    return net


def resolve_metrics(spec: str, dataset: str, kind: str, net: FeatureNet | None,
                    conditional: bool = False) -> list[str]:
    """A comma-separated list (or "auto") -> checked metric names. ``conditional``: the
    generator is class-conditional (``G.num_classes`` set); the conditional metrics are
    refused for any other."""
    names = parse_metrics(spec, dataset)
    if names is not None:
        asked = [m for m in names if m in CONDITIONAL_METRICS]
        if asked and not conditional:
            raise UserError(f"{', '.join(asked)} measure a class-conditional generator (one "
                            "with num_classes, called G(z, y)); this one is unconditional: "
                            "drop them from the metrics")
        if "conditional_accuracy" in names and net is not None and not net.has_logits:
            raise UserError(f"conditional_accuracy needs a classifier, and the feature network "
                            f"{net.name!r} has no classifier head (no `features` method "
                            "beside forward): use the default classifier or drop "
                            "conditional_accuracy")
        return names
    if dataset in MIXTURES:
        return ["modes"]
    names = list(FEATURE_METRICS)
    classifier = dataset == "fashion-mnist" and net is not None and net.has_logits
    if classifier:
        names += list(LOGIT_METRICS)
    if conditional:
        names += ["conditional_accuracy", "intra_fid"] if classifier else ["intra_fid"]
    return names


def resolve_eval(spec: str, dataset: str, kind: str, sample_shape: tuple[int, ...],
                 feature_net="default", conditional: bool = False
                 ) -> tuple[list[str], FeatureNet | None]:
    """The metric names of ``spec`` for this data and the feature network they need (None
    when only ``modes`` is asked for): what ``eval.*`` and ``ganforge eval`` both resolve.
    ``conditional``: as :func:`resolve_metrics`."""
    names = resolve_metrics(spec, dataset, kind, None, conditional)
    if all(m == "modes" for m in names):
        return names, None
    net = choose_feature_net(feature_net, sample_shape, kind)
    return resolve_metrics(spec, dataset, kind, net, conditional), net


@dataclass
class Context:
    """The fixed facts of one evaluation, shared by all its values."""

    dataset: str
    split: str
    generator: str
    seed: int
    step: int | None = None


def sample_outputs(names: list[str], fake: torch.Tensor, net: FeatureNet | None,
                   labels: torch.Tensor | None = None) -> dict:
    """What the metrics ``names`` read off generated samples: the feature network's features
    and logits, the samples themselves for ``modes``, and for the conditional metrics the
    class each sample was generated for (``labels``, int64 (N,)). Each is per sample, so the
    parts of a sample set split over processes can be computed apart and concatenated."""
    out = {}
    if "modes" in names:
        out["points"] = fake
    if any(m in FEATURE_METRICS or m == "intra_fid" for m in names):
        out["features"] = net.features(fake)
    if any(m in LOGIT_METRICS or m == "conditional_accuracy" for m in names):
        out["logits"] = net.logits(fake)
    if any(m in CONDITIONAL_METRICS for m in names):
        _need_labels(names, labels)
        out["labels"] = check_labels(labels, fake.shape[0], name="labels").cpu()
    return out


def _need_labels(names: list[str], labels) -> None:
    if labels is None:
        raise UserError(f"{', '.join(m for m in names if m in CONDITIONAL_METRICS)} need the "
                        "class each generated sample was made for: pass labels= (the y of "
                        "G(z, y), e.g. ganforge.sampling.balanced_labels(n, G.num_classes))")


def compute(names: list[str], fake: torch.Tensor | None, net: FeatureNet | None,
            real_stats: Callable[[], RefStats] | None, ctx: Context,
            kid_subsets: int = 100, outputs: dict | None = None,
            labels: torch.Tensor | None = None,
            real_labels: torch.Tensor | None = None) -> list[MetricValue]:
    """Compute ``names`` on generated samples fake (N, *sample_shape), or on their
    :func:`sample_outputs` given as ``outputs``.

    ``real_stats`` is called at most once, only when a metric needs the real data.
    Conditional metrics: ``labels`` (N,) are the classes fake was generated for (with
    ``outputs``: ``outputs["labels"]``, as :func:`sample_outputs` puts them there);
    ``real_labels`` (int64) are the labels of the real samples ``real_stats`` was computed
    on, in the same order (at least as many as it used: the first ones are taken), needed by
    intra_fid only.
    """
    outputs = outputs if outputs is not None else sample_outputs(names, fake, net, labels)
    if any(m in CONDITIONAL_METRICS for m in names):
        _need_labels(names, outputs.get("labels"))
    out: list[MetricValue] = []

    def add(values: dict, n_fake: int, n_real: int, with_net: bool = True,
            per_class: list[float] | None = None):
        prov = Provenance(net.name if with_net else "none", net.sha256 if with_net else "",
                          n_fake, n_real, f"{ctx.dataset}/{ctx.split}", ctx.generator,
                          ctx.seed, ctx.step)
        out.extend(MetricValue(k, float(v), prov, None if per_class is None else
                               tuple(per_class)) for k, v in values.items())

    refs: list[RefStats] = []

    def reference() -> RefStats:
        if not refs:
            refs.append(real_stats())
        return refs[0]

    if "modes" in names:
        pts = outputs["points"][:MODES_SAMPLES].reshape(-1, 2)
        add(mixture_modes(pts, ctx.dataset), pts.shape[0], 0, with_net=False)
    need_feats = [m for m in names if m in FEATURE_METRICS]
    if need_feats:
        ref = reference()
        real, feats = ref.features, outputs["features"]
        n = (feats.shape[0], real.shape[0])
        if "fid" in names:
            add({"fid": frechet_distance(*gaussian_stats(feats), ref.mu, ref.sigma)}, *n)
        if "kid" in names:
            k = kid(real, feats, subsets=kid_subsets, seed=ctx.seed)
            add({"kid": k["kid"], "kid_std": k["kid_std"]}, *n)
        if "pr" in names:
            add(precision_recall(real, feats, k=3), *n)
        if "dc" in names:
            add(density_coverage(real, feats, k=5), *n)
    if any(m in LOGIT_METRICS for m in names):
        probs = outputs["logits"].double().softmax(1)
        if "is" in names:
            add(inception_score(probs, splits=min(10, probs.shape[0])), probs.shape[0], 0)
        if "classes" in names:
            c = class_stats(probs)
            add({"class_kl": c["class_kl"], "classes_covered": c["classes_covered"]},
                probs.shape[0], 0)
    if "conditional_accuracy" in names:
        logits, y = outputs["logits"], outputs["labels"]
        add({"conditional_accuracy": conditional_accuracy(logits, y)}, y.shape[0], 0,
            per_class=per_class_accuracy(logits, y))
    if "intra_fid" in names:
        ref, y = reference(), outputs["labels"]
        count = ref.features.shape[0]
        if real_labels is None or len(real_labels) < count:
            have = "none" if real_labels is None else f"{len(real_labels)}"
            raise UserError(f"intra_fid needs the labels of the {count} real samples it "
                            f"compares with ({have} given): pass real_labels= (the data "
                            "set's labels; a data set without classes has no intra-FID)")
        v = intra_fid(outputs["features"], y, ref.features, real_labels[:count])
        add({"intra_fid": v["intra_fid"]}, y.shape[0], count, per_class=v["per_class"])
    return out


__all__ = ["METRICS", "Context", "choose_feature_net", "compute", "resolve_eval",
           "resolve_metrics"]
