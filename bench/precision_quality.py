"""bf16 against fp32 at equal steps: the quality check that precision=auto's bf16 rests on.

The default Fashion-MNIST run (DCGAN, non-saturating loss, Adam 2e-4 betas (0.5, 0.999),
batch 64), one run per (seed, precision), the same seeds in both precisions, interleaved in one
process; FID and KID on ganforge's classifier features (``--n`` samples of G against as many
test images, the same z for both precisions), after each of ``--steps``. bf16 is computed by
autocast on any CPU; on one without native bf16 (AVX2 only) it is emulated and slow, not
different: the same rounding of the same operands, so ``--width`` lets the check fit such a
machine (width 16 instead of the default 64).

    python bench/precision_quality.py                                  # 3 seeds, 500 and 1000 steps
    python bench/precision_quality.py --width 64 --steps 1000,3000     # the default model
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch

from ganforge.config import build_config
from ganforge.data.fashion_mnist import load_fashion_mnist
from ganforge.metrics.features import load_feature_net
from ganforge.run import build_run
from ganforge.sampling import generate

from quality import fmt, measure  # bench/quality.py


def cpu_name() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines()
                 if line.startswith("Model name")), "unknown CPU")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--steps", default="500,1000")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precisions", default="fp32,bf16")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    checkpoints = [int(s) for s in args.steps.split(",")]
    precisions = args.precisions.split(",")
    net = load_feature_net("default")
    ref = net.features(load_fashion_mnist(None, "test").x[:args.n])
    fids = {(p, s): [] for p in precisions for s in checkpoints}
    kids = {(p, s): [] for p in precisions for s in checkpoints}
    walls = {p: [] for p in precisions}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for seed in seeds:
        for precision in precisions:
            cfg = build_config(None, [f"seed={seed}", f"steps={max(checkpoints)}",
                                      f"precision={precision}", f"model.width={args.width}",
                                      "checkpoint_every=0", "tensorboard=false"])
            # (no run directory: nothing is written)
            run = build_run(cfg)
            wall = 0.0
            for step in checkpoints:
                start = time.perf_counter()
                run.trainer.fit(run.batches, step - run.trainer.step_count, progress=False)
                wall += time.perf_counter() - start
                z = torch.randn((args.n, *run.trainer.players.z_shape),
                                generator=torch.Generator().manual_seed(777 + seed))
                m = measure(net, generate(run.trainer.G_sample, z), ref)
                fids[precision, step].append(m["fid"])
                kids[precision, step].append(m["kid"])
                print(f"  seed {seed} {precision} step {step}: FID {m['fid']:.2f}", flush=True)
            walls[precision].append(wall)
    print(f"\nFashion-MNIST, default run with model.width={args.width}, seeds "
          f"{seeds[0]}..{seeds[-1]}, {args.n:,} samples vs {args.n:,} test images; {cpu_name()}, "
          f"{args.threads} threads")
    print("| steps | precision | FID (mean ± std) | FID per seed | KID x1e3 | wall s per run |")
    print("|---|---|---|---|---|---|")
    for step in checkpoints:
        for p in precisions:
            per_seed = ", ".join(f"{v:.2f}" for v in fids[p, step])
            print(f"| {step} | {p} | {fmt(fids[p, step])} | {per_seed} | {fmt(kids[p, step])} "
                  f"| {statistics.mean(walls[p]):.0f} |")
    print(f"\ncommand: python bench/precision_quality.py {' '.join(argv or sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
