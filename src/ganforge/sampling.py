"""Running G outside of training without disturbing training.

Sample grids, the start-up range check and ``ganforge sample`` all run G on some z. Doing that
in train mode updates BatchNorm running statistics and can draw from the global RNG (dropout),
which would make a run with sample grids differ from one without, and break exact resume.
:func:`untouched` snapshots the module's mode, buffers and the global RNG, and puts them back.

A class-conditional G (``G.num_classes`` an int) is called ``G(z, y)`` with int64 class
indices y (N,); :func:`generate` takes them as ``labels``. :func:`class_labels` gives the
labels of a class grid (one row per class), :func:`balanced_labels` those of an evaluation
(classes in turn, so every consecutive slice is balanced).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ._lazy import nn, no_grad, torch
from .errors import UserError

# How G normalizes while it samples: "train" with each chunk's batch statistics (what a DCGAN
# G does while it trains), "eval" with BatchNorm's running averages (deterministic per z).
SAMPLE_MODES = ("train", "eval")


def check_sample_mode(mode: str) -> str:
    if mode not in SAMPLE_MODES:
        raise UserError(f"sample_mode must be one of {', '.join(SAMPLE_MODES)}, got {mode!r}")
    return mode


@contextmanager
def untouched(module: nn.Module) -> Iterator[nn.Module]:
    """Run ``module`` freely inside the block; on exit every submodule's train/eval flag, all
    buffers (BatchNorm running stats) and the global RNG (CPU, and the CUDA devices the module
    lives on) are as they were. Parameters are not saved: do not step an optimizer in here."""
    modes = [(m, m.training) for m in module.modules()]
    buffers = [(b, b.detach().clone()) for b in module.buffers()]
    tensors = [*module.parameters(), *module.buffers()]
    cuda = sorted({t.device.index or 0 for t in tensors if t.is_cuda})
    with torch.random.fork_rng(devices=cuda):
        try:
            yield module
        finally:
            with torch.no_grad():
                for b, saved in buffers:
                    b.copy_(saved)
            for m, training in modes:
                m.training = training


@no_grad
def generate(G: nn.Module, z: torch.Tensor, mode: str = "train", chunk: int = 256,
             autocast=None, labels: torch.Tensor | None = None) -> torch.Tensor:
    """G(z), or G(z, labels) for a class-conditional G, in float32 on CPU-friendly chunks,
    leaving G exactly as it was.

    ``mode="train"`` normalizes with the statistics of each chunk of z (what a DCGAN G does
    while it trains; BatchNorm running averages lag behind early in training), ``"eval"``
    uses the running averages. ``labels``: int64 class indices (N,), one per row of z, moved
    to z's device and chunked with it; None calls ``G(z)``. Returns (N, *sample_shape) float32
    on z's device.
    """
    check_sample_mode(mode)
    parts = list(z.split(chunk))
    if labels is None:
        ys = [None] * len(parts)
    else:
        num_classes = getattr(G, "num_classes", None)
        if hasattr(G, "num_classes") and num_classes is None:
            raise UserError("labels were given, but this G is unconditional (num_classes is "
                            "None): call generate(G, z) without labels")
        y = check_labels(labels, z.shape[0], num_classes if isinstance(num_classes, int)
                         else None)
        ys = list(y.to(z.device).split(chunk))
    outs = []
    with untouched(G):
        G.train(mode == "train")
        for part, y in zip(parts, ys):
            if mode == "train" and part.shape[0] == 1 and chunk > 1:
                G.eval()  # a batch of one has no batch statistics
            args = (part,) if y is None else (part, y)
            if autocast is not None:
                with autocast():
                    outs.append(G(*args).float())
            else:
                outs.append(G(*args).float())
    return torch.cat(outs)


def check_labels(labels, n: int, num_classes: int | None = None,
                 name: str = "labels") -> torch.Tensor:
    """``labels`` (a tensor, array or list) as an int64 tensor (n,) on its device, or a
    UserError naming ``name`` and what is wrong: a shape other than (n,), a float dtype, or a
    class index outside 0..num_classes-1 (negative indices whatever num_classes)."""
    try:
        y = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError):
        raise UserError(f"{name} must be a tensor of class indices, got "
                        f"{type(labels).__name__}") from None
    if y.ndim != 1 or y.shape[0] != n:
        raise UserError(f"{name} must be one class index per sample, shape ({n},), got "
                        f"{tuple(y.shape)}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise UserError(f"{name} must be integer class indices (int64), got {y.dtype}: pass "
                        "e.g. torch.tensor([0, 3, 1])")
    y = y.long()
    if n:
        low, high = int(y.min()), int(y.max())
        if low < 0 or (num_classes is not None and high >= num_classes):
            bound = f"0..{num_classes - 1}" if num_classes is not None else "0 or more"
            raise UserError(f"{name} must be class indices in {bound}, got values from "
                            f"{low} to {high}")
    return y


def class_labels(num_classes: int, per_class: int, device=None) -> torch.Tensor:
    """[0]*per_class + [1]*per_class + ... : int64 (num_classes * per_class,), grouped by
    class. Laid out ``per_class`` images to a row, a sample grid has one row per class."""
    if num_classes < 1 or per_class < 0:
        raise UserError(f"class_labels needs num_classes >= 1 and per_class >= 0, got "
                        f"{num_classes}, {per_class}")
    return torch.arange(num_classes, device=device).repeat_interleave(per_class)


def num_classes_of(trainer) -> int | None:
    """The classes of a trainer's conditional run (``trainer.players.cond``), else None."""
    cond = getattr(getattr(trainer, "players", None), "cond", None)
    return None if cond is None else cond.num_classes


def class_grid(z: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(z, labels, per_class) of a class grid: the first max(1, n // K) latents once for
    every class, so row c is G(z_j, c) and a column shows one z across the classes."""
    per = max(1, z.shape[0] // num_classes)
    return (z[:per].repeat(num_classes, *[1] * (z.dim() - 1)),
            class_labels(num_classes, per, z.device), per)


def balanced_labels(n: int, num_classes: int, device=None) -> torch.Tensor:
    """The labels of an evaluation: int64 (n,), sample i of class i mod num_classes.

    Each class gets n // num_classes samples; the first n % num_classes classes get one more
    (n=10,000 over 10 classes: 1,000 each; n=2,005: classes 0-4 get 201, 5-9 get 200). The
    classes take turns, so any num_classes consecutive samples hold each class once: a
    consecutive split (the Inception-Score splits, one process's share of the latents)
    holds every class about equally often, not a few of them."""
    if num_classes < 1 or n < 0:
        raise UserError(f"balanced_labels needs n >= 0 and num_classes >= 1, got {n}, "
                        f"{num_classes}")
    return torch.arange(n, device=device) % num_classes
