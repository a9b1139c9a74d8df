"""Step time and peak memory of ganforge's schedules against a plain-PyTorch loop, in one run.

Loops compared (same networks, same batch, same optimizers, same loss):
  reference        the PyTorch DCGAN example's loop: one G forward reused for the G step, D's
                   parameters NOT frozen in the G step (their gradients are computed, unused)
  alternating      ganforge, Goodfellow's Algorithm 1: G(z) under no_grad for D, a fresh z
                   and G forward for the G step, D frozen in the G step
  alt-reuse        ganforge alternating with reuse_fake=True: the reference's algorithm, with
                   D frozen in the G step
  onestep-stopgrad ganforge one-step, the single stop-gradient loss (docs/problems.md, problem 2)
  onestep-fused    ganforge one-step, fused (the default one-step implementation)
Timing: all loops of a configuration in one process, rounds interleaved (each round times every
loop), median of the per-step times after warm-up. Peak memory: one more step of each loop,
the peak growth of the C heap (where CPU tensors live) sampled after every aten op, i.e. what
the step needs on top of weights and optimizer state.

    python bench/step_speed.py                        # the full table (about 8 minutes)
    python bench/step_speed.py --models mlp2d --rounds 1 --no-memory
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import ganforge
from ganforge.nets import build_nets

LOOPS = ("reference", "alternating", "alt-reuse", "onestep-stopgrad", "onestep-fused")
PRECISIONS = {"fp32": ("fp32", False), "bf16": ("bf16", False), "bf16-cl": ("bf16", True)}
# Plain-PyTorch versions of the losses for the reference loop: (D real, D fake, G) per sample.
REF_LOSSES = {
    "nonsaturating": (lambda r: F.softplus(-r), F.softplus, lambda f: F.softplus(-f)),
    "hinge": (lambda r: F.relu(1 - r), lambda f: F.relu(1 + f), lambda f: -f),
    "wasserstein": (lambda r: -r, lambda f: f, lambda f: -f),
}


def make(model: str, channels_last: bool, seed: int = 0):
    torch.manual_seed(seed)
    if model == "dcgan28":
        G, D = build_nets("dcgan", (1, 28, 28), 100, 64, d_batchnorm=True)  # the default run
        real = torch.rand(64, 1, 28, 28) * 2 - 1
    else:
        G, D = build_nets("mlp", (2,), 2, 128)
        real = torch.randn(256, 2)
    if channels_last and real.dim() == 4:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        real = real.contiguous(memory_format=torch.channels_last)
    opt_G = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    return G, D, opt_G, opt_D, real


def reference_loop(model, precision, channels_last, loss):
    G, D, opt_G, opt_D, real = make(model, channels_last)
    d_real, d_fake, g = REF_LOSSES[loss]
    cast = (lambda: torch.autocast("cpu", torch.bfloat16)) if precision == "bf16" else \
        (lambda: torch.autocast("cpu", enabled=False))

    def step():
        z = torch.randn(real.shape[0], G.z_dim)
        with cast():
            fake = G(z)
            real_logits, fake_logits = D(real), D(fake.detach())
        d_loss = d_real(real_logits.float()).mean() + d_fake(fake_logits.float()).mean()
        opt_D.zero_grad()
        d_loss.backward()
        opt_D.step()
        with cast():
            fake_logits = D(fake)
        g_loss = g(fake_logits.float()).mean()
        opt_G.zero_grad()
        g_loss.backward()
        opt_G.step()
    return step


def ganforge_loop(name, model, precision, channels_last, loss):
    G, D, opt_G, opt_D, real = make(model, channels_last)
    schedule = (ganforge.OneStep(impl=name.split("-")[1]) if name.startswith("onestep") else
                ganforge.Alternating(reuse_fake=name == "alt-reuse"))
    trainer = ganforge.Trainer(G, D, opt_G, opt_D, loss=loss, schedule=schedule, seed=0,
                               precision=precision, device="cpu", channels_last=channels_last)
    return lambda: trainer.step(real)


def build(name, model, prec_key, loss):
    precision, channels_last = PRECISIONS[prec_key]
    if name == "reference":
        return reference_loop(model, precision, channels_last, loss)
    return ganforge_loop(name, model, precision, channels_last, loss)


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _heap_in_use() -> int:
    """Bytes of the C heap in use (glibc mallinfo2: small blocks + mmapped large blocks);
    CPU tensors live there."""
    info = _LIBC.mallinfo2()
    return info.uordblks + info.hblkhd


_LIBC = ctypes.CDLL("libc.so.6")
_LIBC.mallinfo2.restype = _Mallinfo2


class _PeakHeap(TorchDispatchMode):
    """The peak of heap growth over one step, sampled after every aten op (forward, backward
    and optimizer): the memory a step needs on top of the weights and optimizer state."""

    def __enter__(self):
        self.base, self.peak = _heap_in_use(), 0
        return super().__enter__()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.peak = max(self.peak, _heap_in_use() - self.base)
        return out


def peak_memory_mb(fn) -> float:
    """Peak extra memory of one step (after warm-up), in MB."""
    for _ in range(3):
        fn()
    with _PeakHeap() as mode:
        fn()
    return mode.peak / 2**20


def time_loops(fns, rounds, steps, warmup):
    times = {name: [] for name in fns}
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(steps):
                t = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t) * 1000)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--models", default="dcgan28,mlp2d")
    ap.add_argument("--precisions", default="fp32,bf16,bf16-cl")
    ap.add_argument("--losses", default="nonsaturating,wasserstein")
    ap.add_argument("--no-memory", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of "
          f"{args.rounds}x{args.steps} steps after {args.warmup} warm-up steps per loop")
    print("| model | precision | loss | loop | ms/step | vs reference | vs alternating | "
          "peak step MB |")
    print("|---|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        for prec_key in args.precisions.split(","):
            if prec_key == "bf16-cl" and model != "dcgan28":
                continue
            for loss in args.losses.split(","):
                fns = {name: build(name, model, prec_key, loss) for name in LOOPS}
                med = time_loops(fns, args.rounds, args.steps, args.warmup)
                for name in LOOPS:
                    mem = "-" if args.no_memory else f"{peak_memory_mb(fns[name]):.1f}"
                    print(f"| {model} | {prec_key} | {loss} | {name} | {med[name]:.2f} | "
                          f"{med['reference'] / med[name]:.2f}x | "
                          f"{med['alternating'] / med[name]:.2f}x | {mem} |", flush=True)
    print(f"\ncommand: python bench/step_speed.py {' '.join(argv or sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
