"""Train the default feature network (``FMNISTClassifier``) on Fashion-MNIST.

One fixed recipe, chosen before looking at the test split and seeded: AdamW with a one-cycle
learning rate, batch 128, random horizontal flips, 10 epochs over the 60,000 training images
scaled to [-1, 1]. The 10,000 test images are used once, at the end, to report accuracy.
The same code runs as ``ganforge train-classifier`` and ``python scripts/train_classifier.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import UserError
from .classifier import WEIGHTS, FMNISTClassifier


@torch.no_grad()
def accuracy(net: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor,
             chunk: int = 1000) -> float:
    """Top-1 accuracy of ``net`` (eval mode) on x (N, 1, 28, 28), labels (N,)."""
    net.eval()
    correct = sum(int((net(xs).argmax(1) == ys).sum())
                  for xs, ys in zip(x.split(chunk), labels.split(chunk)))
    return correct / len(labels)


def train(x: torch.Tensor, labels: torch.Tensor, epochs: int = 10, batch_size: int = 128,
          lr: float = 3e-3, seed: int = 0, log=print) -> FMNISTClassifier:
    """Train a fresh classifier on x (N, 1, 28, 28) in [-1, 1] and int64 labels (N,)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    net = FMNISTClassifier()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    steps_per_epoch = (len(x) + batch_size - 1) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs,
                                                steps_per_epoch=steps_per_epoch)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        total, t0 = 0.0, time.perf_counter()
        for idx in order.split(batch_size):
            xb, yb = x[idx], labels[idx]
            # Left-right flips: a flipped garment is still the same class.
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            loss = F.cross_entropy(net(xb), yb, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f} "
            f"({time.perf_counter() - t0:.0f}s)")
    return net.eval()


def save_weights(net: FMNISTClassifier, path: str | os.PathLike, meta: dict) -> str:
    """Write {"state_dict", "meta"} atomically (plain tensors, loadable with
    ``weights_only=True``); returns the file's sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "meta": meta}, tmp)
    os.replace(tmp, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(args: argparse.Namespace, log=print) -> int:
    from ..data.fashion_mnist import load_fashion_mnist

    if args.epochs < 1 or args.batch_size < 1:
        raise UserError("--epochs and --batch-size must be at least 1")
    # Test files are required up front: a classifier without a test accuracy is not reported.
    train_set = load_fashion_mnist(args.root, "train", args.limit)
    test_set = load_fashion_mnist(args.root, "test")
    log(f"training on {train_set.source}; testing on {test_set.source}")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    # Denormal floats (tiny gradients late in training) can slow CPU kernels many-fold.
    torch.set_flush_denormal(True)
    t0 = time.perf_counter()
    try:
        net = train(train_set.x, train_set.labels, args.epochs, args.batch_size, args.lr,
                    args.seed, log)
    finally:  # process-wide settings: put them back for whoever called us (tests, the CLI)
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)
    minutes = (time.perf_counter() - t0) / 60
    acc = accuracy(net, test_set.x, test_set.labels)
    meta = {"test_accuracy": acc, "train_images": len(train_set), "epochs": args.epochs,
            "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
            "train_minutes": round(minutes, 2), "torch": str(torch.__version__)}
    out = args.out or WEIGHTS
    digest = save_weights(net, out, meta)
    log(f"test accuracy {acc:.4f} on {len(test_set):,} images; trained in {minutes:.1f} min")
    log(f"wrote {out} (sha256 {digest[:16]}...)")
    return 0
