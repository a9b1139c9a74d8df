"""Every metric value with where it came from, and the rule for comparing two of them.

A FID of 12 with ganforge's classifier and a FID of 12 with Inception are different numbers;
so are FIDs from 2,000 and from 10,000 samples (FID is biased by the sample count). Each
:class:`MetricValue` carries the feature network's name and weight hash, the sample counts, the
reference data (data set and split), whether G or G_ema made the samples, the seed and the
checkpoint step; :func:`check_comparable` refuses to put side by side values that differ in
feature network, sample counts or reference data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import UserError

# Provenance fields that must agree before two values of one metric can be compared.
MUST_MATCH = ("feature_net_sha256", "n_fake", "n_real", "reference")


@dataclass(frozen=True)
class Provenance:
    feature_net: str            # e.g. "ganforge-fmnist-classifier", a TorchScript file name
    feature_net_sha256: str     # sha256 of its weights (see features.weights_sha256)
    n_fake: int                 # generated samples the value was computed on
    n_real: int                 # real reference samples (0 when none were used)
    reference: str              # "<data set>/<split>", e.g. "fashion-mnist/train"
    generator: str              # "G" or "G_ema"
    seed: int                   # seed of the latents (and of KID's subsets)
    step: int | None = None     # training step of the checkpoint


@dataclass(frozen=True)
class MetricValue:
    metric: str                 # "fid", "kid", "precision", ...
    value: float
    provenance: Provenance
    # The value of each class 0, 1, ... for the per-class metrics of a class-conditional
    # generator (conditional_accuracy, intra_fid); None for the others.
    per_class: tuple[float, ...] | None = None

    def to_dict(self) -> dict:
        extra = {} if self.per_class is None else {"per_class": list(self.per_class)}
        return {"metric": self.metric, "value": self.value,
                **dataclasses.asdict(self.provenance), **extra}

    @classmethod
    def from_dict(cls, d: dict) -> "MetricValue":
        names = [f.name for f in dataclasses.fields(Provenance)]
        missing = [n for n in ("metric", "value", *names[:-1]) if n not in d]
        if missing:
            raise UserError(f"a stored metric value lacks {', '.join(missing)}: the eval.json "
                            "was not written by this ganforge; re-run `ganforge eval --replace`")
        per_class = d.get("per_class")
        return cls(d["metric"], d["value"], Provenance(**{n: d.get(n) for n in names}),
                   None if per_class is None else tuple(float(v) for v in per_class))


def differences(a: Provenance, b: Provenance) -> list[str]:
    """``field: a vs b`` for each MUST_MATCH field that differs."""
    return [f"{k}: {getattr(a, k)!r} vs {getattr(b, k)!r}" for k in MUST_MATCH
            if getattr(a, k) != getattr(b, k)]


def check_comparable(a: MetricValue, b: MetricValue) -> None:
    """Raise UserError unless a and b are one metric computed the same way."""
    if a.metric != b.metric:
        raise UserError(f"cannot compare {a.metric!r} with {b.metric!r}")
    diffs = differences(a.provenance, b.provenance)
    if diffs:
        raise UserError(
            f"refusing to compare {a.metric} values computed differently ({'; '.join(diffs)}): "
            "recompute both with the same --feature-net, --n and reference data")


def check_all_comparable(values: list[MetricValue]) -> None:
    """Every value of each metric in ``values`` comparable with the first one of that metric."""
    first: dict[str, MetricValue] = {}
    for v in values:
        if v.metric in first:
            check_comparable(first[v.metric], v)
        else:
            first[v.metric] = v
