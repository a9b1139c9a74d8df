"""Class labels: the checks every loader runs on them, and what a class-conditional run needs.

A labelled :class:`~ganforge.data.dataset.Dataset` holds ``labels`` int64 (N,) and ``classes``
(the class names: label i is ``classes[i]``), always together. Which checks run where:

- :func:`check_labels`, by every loader that yields labels, on the labels of the *whole* source
  (before ``data.limit`` cuts them): whole-number class indices, 1-D, one per sample, in
  0..K-1, and every class with samples (an empty class in the whole source is a mistake in the
  data). ``Batches(labels=...)`` runs it too, with ``every_class=False``: any subset will do.
- :func:`require_every_class` / :func:`require_conditional`, by whoever *uses* the labels for
  conditioning, on the labels actually trained on: ``data.limit`` keeps the first N samples,
  which may leave classes out (a folder's first images are its first classes), and that only
  matters when G is asked for every class.
- :func:`class_counts`: the (K,) frequencies a conditional run draws fake labels from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from .._lazy import torch
from ..errors import UserError

if TYPE_CHECKING:
    from .dataset import Dataset

SHOWN = 5   # empty classes named in a message; the rest are counted
RENUMBER = ("renumber them to 0..K-1 with every class present "
            "(np.unique(labels, return_inverse=True)[1] does it)")


def _as_numpy(labels) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu()
        if labels.dtype in (torch.bfloat16, torch.float16):
            labels = labels.float()
        return labels.numpy()
    return np.asarray(labels)


def _empty(values: np.ndarray, k: int) -> tuple[int, list[int]]:
    """(how many of the classes 0..k-1 have no value, the first SHOWN of them); ``values``
    int within 0..k-1. No (k,) array: k may be huge when it is read from a stray label."""
    present = np.unique(values).tolist()
    first, expect = [], 0
    for v in present + [k]:
        while expect < v and len(first) < SHOWN:
            first.append(expect)
            expect += 1
        expect = v + 1
        if len(first) == SHOWN:
            break
    return k - len(present), first


def _names(missing: int, first: list[int], classes: Sequence[str] | None) -> str:
    """'class 2 has' / "classes 'Coat' (label 4), 'Bag' (label 8) and 3 more have"."""
    shown = ", ".join(f"{classes[i]!r} (label {i})" if classes is not None else str(i)
                      for i in first)
    more = f" and {missing - len(first):,} more" if missing > len(first) else ""
    return f"class {shown} has" if missing == 1 else f"classes {shown}{more} have"


def _fmt(value) -> str:
    value = value.item()
    return str(int(value)) if float(value).is_integer() else repr(value)


def check_labels(labels, n_samples: int, classes: Sequence[str] | None = None,
                 source: str = "the given array", every_class: bool = True,
                 fix: str | None = None) -> "torch.Tensor":
    """``labels`` (a tensor, array or sequence) checked as class indices of ``n_samples``
    samples; returns them as an int64 (N,) CPU tensor (the array's memory when it is int64).

    classes: the class names, when known: labels must then be < len(classes), and with
       ``every_class`` each of them must occur. Without names, K = max label + 1 and
       ``every_class`` refuses gaps (labels {0, 1, 3}: class 2 has no samples).
    source: what the labels are, for the messages (a file and key, a folder).
    every_class: refuse a class with no samples (loaders: on the whole source).
    fix: replaces the fix each message suggests (e.g. "prepare the dataset again").
    Each problem is one :class:`UserError`: not numbers, floats with fractions, booleans,
    not 1-D, a count that is not n_samples, negative, >= len(classes), an empty class.
    """
    def fail(problem: str, default_fix: str):
        raise UserError(f"{problem}: {fix or default_fix}")

    if classes is not None:
        if (not isinstance(classes, (list, tuple)) or not classes
                or not all(isinstance(c, str) for c in classes)):
            fail(f"the class names of {source} are {classes!r}",
                 "they must be a non-empty list of strings")
        if len(set(classes)) != len(classes):
            fail(f"the class names of {source} repeat "
                 f"{sorted({c for c in classes if classes.count(c) > 1})}",
                 "each class needs a name of its own")
        classes = list(classes)
    a = _as_numpy(labels)

    these = f"the labels in {source}"
    if a.dtype.kind in "USOV":
        kind = "strings" if a.dtype.kind in "US" else "objects"
        fail(f"{these} are {kind} ({a.dtype}), not class indices", "labels must be integers "
             "0..K-1, one per sample; turn class names into indices with "
             "np.unique(names, return_inverse=True)[1]")
    if a.dtype.kind == "b":
        fail(f"{these} are booleans, not class indices", "if they are two classes, save them "
             "as integers 0 and 1 (labels.astype(np.int64))")
    if a.dtype.kind == "c":
        fail(f"{these} are complex numbers ({a.dtype}), not class indices",
             "labels must be integers 0..K-1, one per sample")
    if a.ndim != 1:
        fail(f"{these} have shape {a.shape}, not (N,)", "labels must be 1-D, one class index "
             "per sample: flatten an (N, 1) column with reshape(-1); turn one-hot rows into "
             "indices with argmax(1)")
    if a.shape[0] != n_samples:
        fail(f"{these} are {a.shape[0]:,} for {n_samples:,} samples",
             "give exactly one label per sample, in the samples' order")
    if a.size:
        if a.dtype.kind == "f":
            bad = ~np.isfinite(a)
            if bad.any():
                i = int(np.argmax(bad))
                fail(f"{these} include {int(bad.sum()):,} NaN or inf (the first at index "
                     f"{i:,})", "every sample needs a class index 0..K-1")
            frac = a != np.floor(a)
            if frac.any():
                i = int(np.argmax(frac))
                fail(f"{these} include values that are not whole numbers ({_fmt(a[i])} at "
                     f"index {i:,}), not class indices", "labels must be integers 0..K-1 "
                     "(soft or regression targets are not classes: store them under another "
                     "key)")
        lo, hi = a.min().item(), a.max().item()   # python numbers: no wrap-around below
        if lo < 0:
            i = int(np.argmax(a < 0))
            fail(f"{these} include negative labels ({_fmt(a[i])} at index {i:,})",
                 "class indices start at 0: leave out unlabelled samples (often marked -1), "
                 "or " + RENUMBER)
        if classes is not None and hi >= len(classes):
            i = int(np.argmax(a >= len(classes)))
            fail(f"{these} include label {_fmt(a[i])} (at index {i:,}), outside "
                 f"0..{len(classes) - 1} for the {len(classes)} classes",
                 "labels must index the class names")
        if hi >= 2 ** 62:
            fail(f"{these} include label {hi!r}, too large for a class index", RENUMBER)
        a = a.astype(np.int64, copy=False)
    if every_class:
        k = len(classes) if classes is not None else (int(a.max()) + 1 if a.size else 0)
        missing, first = _empty(a, k)
        if missing:
            span = (f"are for {k:,} classes" if classes is not None
                    else f"run 0..{k - 1:,}")
            fail(f"{these} {span}, but {_names(missing, first, classes)} no samples",
                 "every class must have samples; " + RENUMBER)
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))


def require_every_class(labels: "torch.Tensor", classes: Sequence[str] | int,
                        source: str = "the data") -> None:
    """Refuse labels (int64 (N,), checked) that leave a class of ``classes`` (the names, or
    their number K) without samples: what a conditional run needs of the labels it trains on.
    ``data.limit`` is the usual cause: the first N samples may miss classes."""
    names = None if isinstance(classes, int) else list(classes)
    k = classes if isinstance(classes, int) else len(names)
    missing, first = _empty(_as_numpy(labels), k)
    if missing:
        raise UserError(
            f"of the {k:,} classes, {_names(missing, first, names)} no samples in {source} "
            f"({len(labels):,} samples): a class-conditional G would be "
            "trained for classes it never sees. data.limit keeps the first samples only (a "
            "folder's first images are its first classes): raise or remove the limit")


def require_conditional(dataset: "Dataset") -> int:
    """The number of classes K of ``dataset`` for class-conditional training, after checking
    that it has labels, at least 2 classes, and samples of every class."""
    where = dataset.source
    if dataset.labels is None:
        raise UserError(
            f"class-conditional training (data.conditional=true) needs class labels, and "
            f"{where} has none: give an image folder (or a prepared one) with one sub-folder "
            "per class, an .npz with a y (or labels) array, fashion-mnist, ring8 or grid25; or "
            "train unconditionally (data.conditional=false)")
    k = dataset.num_classes
    if k < 2:
        raise UserError(
            f"{where} has {k} class ({dataset.classes[0]!r}): class-conditional training "
            "needs at least 2; give labels with more classes, or train unconditionally "
            "(data.conditional=false)")
    require_every_class(dataset.labels, dataset.classes, where)
    return k


def class_counts(labels: "torch.Tensor", num_classes: int) -> "torch.Tensor":
    """int64 (num_classes,): how many samples each class has (labels int64 (N,), checked);
    normalised, the class frequencies fake labels are drawn from."""
    return torch.bincount(labels.reshape(-1), minlength=num_classes)
