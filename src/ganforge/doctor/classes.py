"""Per-class findings for a class-conditional generator: a class whose samples collapse, and
a class the classifier does not recognize.

The input is a :class:`ClassStats` record of plain per-class numbers, so the checks are pure
and whoever holds the numbers can call them (``ganforge eval``, ``ganforge doctor``, a
user's notebook). :func:`measure_classes` computes the record from what an evaluation
already has: the feature network's features and logits of the generated samples with the
classes they were generated for, and the real samples' features with their labels;
:func:`class_stats_of` is that call on an evaluation's outputs, the one both ``ganforge
eval`` and the training evaluation (``metrics/callback.py``) make. The training evaluation
writes the record into its ``metrics.jsonl`` row under :data:`RECORD_KEY`, and ``ganforge
doctor`` judges the last one written.

Thresholds, with what they were measured against (ganforge's Fashion-MNIST classifier; its
features for the spreads; 200 generated and real samples per class, what ``eval.n=2000``
gives; docs/metrics.md has the tables):

- a class **collapses** when its generated samples are less than :data:`CLASS_SPREAD_LOW`
  times as spread out as its real samples (mean pairwise feature distance), or when more
  than :data:`CLASS_DUPLICATES_HIGH` of them have a near-copy in the class: another sample
  of the class nearer than :data:`NEAR_COPY_FRACTION` times the real class's median
  nearest-neighbour distance (``diagnostics.duplicates_rate``);
- a class is **not recognized** when the classifier assigns fewer than
  :data:`CLASS_ACC_LOW` of its samples to it while the other classes average at least
  :data:`CLASS_ACC_GAP` more; when the mean over all classes is itself below
  :data:`CLASS_ACC_LOW`, the finding is that the generator ignores its labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Callable

import torch

from ..diagnostics import duplicates_rate, mean_pairwise_distance
from ..errors import UserError
from ..metrics.conditional import by_class, confusion, per_class_accuracy
from ..metrics._matrix import as_matrix
from ..sampling import check_labels
from .detectors import Context, collapse_remedies
from .findings import Finding, Remedy

# Real test images against real training images of the same class measure 0.97-1.05;
# blurred or noisy real images (stand-ins for a mediocre but varied G) 0.50-1.39; a class of
# one real image with slight jitter 0.04-0.07. A quarter is far from both ends.
CLASS_SPREAD_LOW = 0.25
# Near-copies: the nearest other generated sample of the class closer than this fraction of
# the real class's median nearest-neighbour distance, for more than this share of the class
# (i.e. the median nearest-neighbour distance is under a quarter of the real one's). Real,
# blurred and noisy images: at most 9% (median ratio 0.41 or more); a class made of 1 to 100
# real images with slight jitter: 79% or more (median ratio 0.17 or less). The run-level probe
# (0.1 and 25%) looks across classes; within one class these separate the two cleanly.
# A generator with M distinct outputs per class shows about 1 - exp(-m / M) near-copies
# among m samples: with 200 per class, fewer than ~290 distinct outputs are flagged.
NEAR_COPY_FRACTION = 0.25
CLASS_DUPLICATES_HIGH = 0.5
# The classifier's accuracy on real test images of one class ranges from 0.77 (Shirt) to
# 0.99 (Bag): a class below one half is not merely a hard class.
CLASS_ACC_LOW = 0.5
# ... and it must stand out: at 200 samples per class an accuracy's standard error is at
# most 0.035, so a gap of 0.25 to the other classes' mean is no sampling accident.
CLASS_ACC_GAP = 0.25
MIN_CLASS_SAMPLES = 20      # fewer samples per class: too noisy to judge, no finding
MAX_CLASS_SAMPLES = 500     # measure_classes uses at most this many per class and side
RECORD_KEY = "classes"      # the metrics.jsonl key of a training evaluation's ClassStats


@dataclass
class ClassStats:
    """Per-class statistics of a class-conditional generator at one step: the input of
    :func:`class_findings`. Every list is indexed by class 0..K-1; a field left None was not
    measured and its check is skipped. Plain numbers, so it round-trips through JSON
    (:meth:`to_dict`, :meth:`from_dict`).

    - ``accuracy[c]``: share of the samples generated for class c that the classifier
      assigns to c (``metrics.per_class_accuracy``; ``conditional_accuracy``'s per_class).
    - ``confusion[c][k]``: share of class c's samples assigned to class k (rows sum to 1;
      only used to say which class c's samples are taken for).
    - ``fake_spread[c]`` / ``real_spread[c]``: mean pairwise feature distance among the
      generated / real samples of class c, over equally many samples.
    - ``duplicates[c]``: share of class c's generated samples with a near-copy among them
      (``diagnostics.duplicates_rate`` at :data:`NEAR_COPY_FRACTION` of class c's real
      samples' median nearest-neighbour distance).
    - ``samples_per_class[c]``: generated samples behind class c's values.
    - ``names[c]``: the class's name for the messages (e.g. ``metrics.classifier.CLASSES``).
    """

    step: int = 0
    accuracy: list[float] | None = None
    confusion: list[list[float]] | None = None
    fake_spread: list[float] | None = None
    real_spread: list[float] | None = None
    duplicates: list[float] | None = None
    samples_per_class: list[int] | None = None
    names: list[str] | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> "ClassStats":
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in known})


def measure_classes(fake_feats, fake_labels, real_feats, real_labels, logits=None,
                    step: int = 0, names: list[str] | None = None,
                    num_classes: int | None = None,
                    max_per_class: int = MAX_CLASS_SAMPLES) -> ClassStats:
    """The :class:`ClassStats` of generated samples against real ones.

    fake_feats (N_f, D) with the classes they were generated for, fake_labels (N_f,);
    real_feats (N_r, D) with real_labels (N_r,); logits (N_f, K) of the generated samples
    (None: no accuracy). Spreads and duplicates use the first m samples of each class on
    each side, m = min(its generated count, its real count, ``max_per_class``), so both
    sides are measured on equally many (the mean distance to the nearest neighbour
    shrinks as samples are added). ``num_classes`` defaults to the largest label + 1.
    """
    f, r = as_matrix(fake_feats, "fake_feats"), as_matrix(real_feats, "real_feats")
    yf = check_labels(fake_labels, f.shape[0], name="fake_labels").cpu()
    yr = check_labels(real_labels, r.shape[0], name="real_labels").cpu()
    k = num_classes or max(int(yf.max()), int(yr.max())) + 1
    fake_parts, real_parts = by_class(f, yf, k, "fake_feats"), by_class(r, yr, k, "real_feats")
    fake_spread, real_spread, dup, counts = [], [], [], []
    for c, (a, b) in enumerate(zip(fake_parts, real_parts)):
        m = min(a.shape[0], b.shape[0], max_per_class)
        if m < 2:
            raise UserError(f"class {c} has {a.shape[0]} generated and {b.shape[0]} real "
                            "samples; per-class statistics need at least 2 of each")
        a, b = a[:m], b[:m]
        fake_spread.append(float(mean_pairwise_distance(a)))
        real_spread.append(float(mean_pairwise_distance(b)))
        dup.append(float(duplicates_rate(a, b, NEAR_COPY_FRACTION)))
        counts.append(int(fake_parts[c].shape[0]))
    stats = ClassStats(step, fake_spread=fake_spread, real_spread=real_spread, duplicates=dup,
                       samples_per_class=counts, names=names)
    if logits is not None:
        stats.accuracy = per_class_accuracy(logits, yf, k)
        stats.confusion = confusion(logits, yf, k).tolist()
    return stats


def class_stats_of(outputs: dict, ref_features: torch.Tensor | None, real_labels, step: int,
                   num_classes: int, log: Callable[[str], None] | None = None
                   ) -> ClassStats | None:
    """The :class:`ClassStats` of one evaluation of a class-conditional generator.

    ``outputs``: the evaluation's (gathered) ``metrics.suite.sample_outputs``: ``features``
    (N, D) with ``labels`` (N,), the classes they were generated for, and ``logits`` (N, K)
    when the feature network has a classifier head (without: no accuracy).
    ``ref_features`` (M, D): the real reference features, those of the first M real samples,
    whose labels are the first M of ``real_labels``. None when any of these is missing, or
    when a class has fewer than 2 samples on a side (``log`` then gets a note saying so):
    there is nothing to judge."""
    if ref_features is None or real_labels is None or "features" not in outputs \
            or "labels" not in outputs:
        return None
    count = ref_features.shape[0]
    try:
        return measure_classes(outputs["features"], outputs["labels"], ref_features,
                               torch.as_tensor(real_labels)[:count], outputs.get("logits"),
                               step=step, num_classes=num_classes)
    except UserError as err:   # too few samples of a class to judge: judge nothing
        if log is not None:
            log(f"note: no per-class checks ({err})")
        return None


def _name(stats: ClassStats, c: int) -> str:
    if stats.names is not None and c < len(stats.names):
        return f"class {c} ({stats.names[c]})"
    return f"class {c}"


def _judged(stats: ClassStats, c: int) -> bool:
    n = stats.samples_per_class
    return n is None or c >= len(n) or n[c] >= MIN_CLASS_SAMPLES


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def collapsed_classes(stats: ClassStats) -> list[int]:
    """The classes whose generated samples collapse (see the module doc)."""
    out = []
    k = len(stats.duplicates or stats.fake_spread or [])
    for c in range(k):
        if not _judged(stats, c):
            continue
        narrow = (stats.fake_spread is not None and stats.real_spread is not None
                  and stats.real_spread[c] > 0
                  and stats.fake_spread[c] < CLASS_SPREAD_LOW * stats.real_spread[c])
        copies = stats.duplicates is not None and stats.duplicates[c] > CLASS_DUPLICATES_HIGH
        if narrow or copies:
            out.append(c)
    return out


def unrecognized_classes(stats: ClassStats) -> list[int]:
    """The classes the classifier does not recognize while it recognizes the others."""
    acc = stats.accuracy
    if not acc or len(acc) < 2 or sum(acc) / len(acc) < CLASS_ACC_LOW:
        return []
    out = []
    for c, a in enumerate(acc):
        others = (sum(acc) - a) / (len(acc) - 1)
        if _judged(stats, c) and a < CLASS_ACC_LOW and others - a >= CLASS_ACC_GAP:
            out.append(c)
    return out


def class_findings(stats: ClassStats, ctx: Context | None = None) -> list[Finding]:
    """The per-class findings of ``stats``, collapse first: at most one finding of each kind
    (``class_collapse``, ``class_unrecognized`` or ``labels_ignored``), each naming all its
    classes. ``ctx`` (the run's learning rates) sharpens the suggested settings."""
    ctx = ctx or Context()
    out = []
    collapsed = collapsed_classes(stats)
    if collapsed:
        out.append(_collapse_finding(stats, collapsed, ctx))
    acc = stats.accuracy
    if acc and len(acc) >= 2 and sum(acc) / len(acc) < CLASS_ACC_LOW \
            and all(_judged(stats, c) for c in range(len(acc))):
        out.append(_ignored_finding(stats))
    else:
        missed = unrecognized_classes(stats)
        if missed:
            out.append(_unrecognized_finding(stats, missed))
    return out


def _collapse_finding(stats: ClassStats, classes: list[int], ctx: Context) -> Finding:
    seen, numbers = [], {}
    for c in classes:
        bits = []
        if stats.fake_spread is not None and stats.real_spread is not None \
                and stats.real_spread[c] > 0:
            ratio = stats.fake_spread[c] / stats.real_spread[c]
            bits.append(f"its samples are {ratio:.2f}x as spread out as the real ones (mean "
                        f"feature distance {stats.fake_spread[c]:.3g} vs "
                        f"{stats.real_spread[c]:.3g})")
            numbers[f"spread_ratio/{c}"] = ratio
        if stats.duplicates is not None:
            bits.append(f"{stats.duplicates[c]:.0%} have a near-copy in the class")
            numbers[f"duplicates/{c}"] = stats.duplicates[c]
        seen.append(f"{_name(stats, c)}: " + ", ".join(bits))
    what, these = ("one class", "this class") if len(classes) == 1 else \
        (f"{len(classes)} classes", "these classes")
    causes = [
        f"G ignores z for {these}: the class input decides the output, so every z gives "
        "(nearly) the same image",
        "D does not punish repetition within a class: its batches mix the classes, so a "
        "class of near-copies is hard for it to see",
        "G's learning rate is too high relative to D's",
    ]
    remedies = collapse_remedies(ctx)
    return Finding("class_collapse", f"Class collapse: the generator makes near-copies "
                   f"within {what}", stats.step, stats.step, "; ".join(seen), causes,
                   remedies, "warning", numbers)


def _taken_for(stats: ClassStats, c: int) -> str:
    """'; 71% are classified as class k' from the confusion row of class c, or ''."""
    if stats.confusion is None or c >= len(stats.confusion):
        return ""
    row = [(share, k) for k, share in enumerate(stats.confusion[c]) if k != c]
    if not row:
        return ""
    share, k = max(row)
    return f"; {share:.0%} are classified as {_name(stats, k)}" if share > 0 else ""


def _unrecognized_finding(stats: ClassStats, classes: list[int]) -> Finding:
    acc = stats.accuracy
    seen, numbers = [], {}
    for c in classes:
        others = (sum(acc) - acc[c]) / (len(acc) - 1)
        seen.append(f"{_name(stats, c)}: only {acc[c]:.0%} of the samples generated for it "
                    f"are classified as it (the other classes: {others:.0%} on average)"
                    f"{_taken_for(stats, c)}")
        numbers[f"accuracy/{c}"] = acc[c]
    numbers["accuracy/mean"] = sum(acc) / len(acc)
    what, these = ("one class", "this class") if len(classes) == 1 else \
        (f"{len(classes)} classes", "these classes")
    causes = [
        f"G has not learned {these} yet: hard classes, or ones close to another class, come "
        "out as that other class",
        "D's class conditioning is weak, so samples of the wrong class still pass as real",
        f"the real images of {these} are mislabelled or mixed (check the data set's labels)",
    ]
    remedies = [Remedy("d_steps=2", "a stronger D learns to tell the classes apart sooner")]
    if stats.step > 0:
        remedies.insert(0, Remedy(f"steps={2 * stats.step}", "train longer: ganforge train "
                                  "--resume RUN_DIR with more steps"))
    return Finding("class_unrecognized", f"The classifier does not recognize the generated "
                   f"samples of {what}", stats.step, stats.step, "; ".join(seen), causes,
                   remedies, "warning", numbers)


def _ignored_finding(stats: ClassStats) -> Finding:
    acc = stats.accuracy
    mean = sum(acc) / len(acc)
    seen = (f"the classifier assigns {mean:.0%} of the generated samples to the class they "
            f"were generated for (chance: {1 / len(acc):.0%}; per class "
            + ", ".join(f"{a:.0%}" for a in acc) + ")")
    causes = [
        "it is early in training: G learns the classes after it learns to make images "
        "(judge after a few thousand steps)",
        "G ignores its class input, or D ignores its own, so nothing pushes G to follow "
        "the labels",
        "the classifier does not know these classes (a feature network trained on other data)",
    ]
    remedies = [Remedy("d_steps=2", "a stronger D enforces the classes sooner")]
    if stats.step > 0:
        remedies.insert(0, Remedy(f"steps={2 * stats.step}", "train longer: ganforge train "
                                  "--resume RUN_DIR with more steps"))
    return Finding("labels_ignored", "The generator does not follow its class labels",
                   stats.step, stats.step, seen, causes, remedies, "warning",
                   {"accuracy/mean": mean, **{f"accuracy/{c}": a for c, a in enumerate(acc)}})


__all__ = ["CLASS_ACC_GAP", "CLASS_ACC_LOW", "CLASS_DUPLICATES_HIGH", "CLASS_SPREAD_LOW",
           "NEAR_COPY_FRACTION", "RECORD_KEY", "ClassStats", "class_findings", "class_stats_of",
           "collapsed_classes", "measure_classes", "unrecognized_classes"]
