"""Step time of ganforge's alternating step against plain-PyTorch loops, in one run.

Loops compared (same networks, same batch, same optimizers):
  ref-example   the PyTorch DCGAN example: one G forward reused for the G step, D's parameters
                NOT frozen in the G step (their gradients are computed and thrown away)
  ref-same      a plain loop with ganforge's algorithm: G(z) under no_grad for D, a fresh z and
                G forward for the G step, D frozen (requires_grad off) in the G step
  ganforge      ganforge.Trainer.step (the same algorithm as ref-same)
Rounds are interleaved (each round times every loop), median of the per-step times.

    python bench/step_speed.py                 # DCGAN-28 b64 and MLP-2D b256, fp32 and bf16
    python bench/step_speed.py --rounds 3 --steps 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import ganforge
from ganforge.nets import build_nets


def make(model: str, seed: int = 0):
    torch.manual_seed(seed)
    if model == "dcgan28":
        G, D = build_nets("dcgan", (1, 28, 28), 100, 64, d_batchnorm=True)  # the default run
        real = torch.rand(64, 1, 28, 28) * 2 - 1
    else:
        G, D = build_nets("mlp", (2,), 2, 128)
        real = torch.randn(256, 2)
    opt_G = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    return G, D, opt_G, opt_D, real


def loops(model: str, precision: str):
    cast = (lambda: torch.autocast("cpu", torch.bfloat16)) if precision == "bf16" else \
        (lambda: torch.autocast("cpu", enabled=False))

    G, D, opt_G, opt_D, real = make(model)

    def ref_example():
        z = torch.randn(real.shape[0], G.z_dim)
        with cast():
            fake = G(z)
            d_loss = F.softplus(-D(real).float()).mean() + F.softplus(D(fake.detach()).float()).mean()
        opt_D.zero_grad()
        d_loss.backward()
        opt_D.step()
        with cast():
            g_loss = F.softplus(-D(fake).float()).mean()
        opt_G.zero_grad()
        g_loss.backward()
        opt_G.step()

    G2, D2, opt_G2, opt_D2, _ = make(model)

    def ref_same():
        with torch.no_grad(), cast():
            fake = G2(torch.randn(real.shape[0], G2.z_dim))
        with cast():
            d_loss = F.softplus(-D2(real).float()).mean() + F.softplus(D2(fake).float()).mean()
        opt_D2.zero_grad()
        d_loss.backward()
        opt_D2.step()
        for p in D2.parameters():
            p.requires_grad_(False)
        with cast():
            g_loss = F.softplus(-D2(G2(torch.randn(real.shape[0], G2.z_dim))).float()).mean()
        opt_G2.zero_grad()
        g_loss.backward()
        opt_G2.step()
        for p in D2.parameters():
            p.requires_grad_(True)

    G3, D3, opt_G3, opt_D3, _ = make(model)
    trainer = ganforge.Trainer(G3, D3, opt_G3, opt_D3, loss="nonsaturating", seed=0,
                               precision=precision, device="cpu")
    return {"ref-example": ref_example, "ref-same": ref_same,
            "ganforge": lambda: trainer.step(real)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--models", default="dcgan28,mlp2d")
    ap.add_argument("--precisions", default="fp32,bf16")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| model | precision | loop | ms/step (median) | round medians | vs ref-example |")
    print("|---|---|---|---|---|---|")
    for model in args.models.split(","):
        for precision in args.precisions.split(","):
            fns = loops(model, precision)
            times = {name: [] for name in fns}
            rounds = {name: [] for name in fns}
            for name, fn in fns.items():
                for _ in range(args.warmup):
                    fn()
            for _ in range(args.rounds):
                for name, fn in fns.items():
                    these = []
                    for _ in range(args.steps):
                        t = time.perf_counter()
                        fn()
                        these.append((time.perf_counter() - t) * 1000)
                    times[name] += these
                    rounds[name].append(statistics.median(these))
            base = statistics.median(times["ref-example"])
            for name in fns:
                med = statistics.median(times[name])
                print(f"| {model} | {precision} | {name} | {med:.1f} | "
                      f"{' / '.join(f'{r:.1f}' for r in rounds[name])} | {base / med:.2f}x |")
    print(f"\ncommand: python bench/step_speed.py {' '.join(argv or sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
