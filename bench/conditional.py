"""Class-conditional training on Fashion-MNIST: the three conditioning methods side by side.

Each configuration trains ``--steps`` iterations per seed (``preset=dcgan`` otherwise, the
tables' recipe: DCGAN width 64, batch 64, non-saturating loss, Adam 2e-4 betas (0.5, 0.999)),
then is evaluated with ``ganforge.evaluate_trainer`` against ``--n`` Fashion-MNIST test
images on ganforge's classifier: conditional accuracy, intra-FID (per class, averaged), FID,
and the training wall time and CPU time (G_ema when ``--extra`` turns the EMA on). The
unconditional run of the same network is the FID reference. ``acgan-real`` is AC-GAN with D's
class head trained on real images only (``acgan_d_fake=false``); ``resnet`` and
``resnet-projection`` are the SN-GAN ResNet (compare it with the DCGAN at equal time: the
table has the seconds). ``--grids``
writes seed 0's class grid of each configuration.

    python bench/conditional.py                                  # 3 seeds, 5000 steps
    python bench/conditional.py --seeds 1 --steps 200 --n 1000   # a quick look
    python bench/conditional.py --configs unconditional,acgan-real \
        --extra "ema.half_life_images=10000 ema.rampup=0.05"      # the best method, with EMA
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from _common import fmt, save_grid

from ganforge.config import build_config
from ganforge.data.fashion_mnist import load_fashion_mnist
from ganforge.evaluate import evaluate_trainer
from ganforge.run import build_run

CONFIGS = {
    "unconditional": [],
    "concat": ["model.conditioning=concat"],
    "acgan": ["model.conditioning=acgan"],
    "acgan-real": ["model.conditioning=acgan", "acgan_d_fake=false"],   # class head: real only
    "projection": ["model.conditioning=projection"],
    "resnet": ["model=resnet", "model.width=32"],
    "resnet-projection": ["model=resnet", "model.width=32", "model.conditioning=projection"],
}
METRICS = "fid,conditional_accuracy,intra_fid"


def one_run(name: str, seed: int, steps: int, n: int, extra: list[str], test,
            grids: str | None = None) -> dict:
    cfg = build_config(None, [f"seed={seed}", f"steps={steps}", "checkpoint_every=0",
                              "tensorboard=false", "sample_every=0", "preset=dcgan", *CONFIGS[name],
                              *extra])
    run = build_run(cfg)
    wall, cpu = time.perf_counter(), time.process_time()
    run.trainer.fit(run.batches, steps, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    save_grid(run.trainer, grids, name, seed)
    conditional = run.trainer.players.cond is not None
    ev = evaluate_trainer(run.trainer, test, metrics=METRICS if conditional else "fid", n=n,
                          seed=10_000 + seed)
    return {**ev.scores(), "wall_s": wall, "cpu_s": cpu, "findings": len(ev.findings)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="unconditional,concat,acgan,acgan-real,projection")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--extra", default="", help="config overrides, space separated")
    ap.add_argument("--grids", default=None,
                    help="a folder: seed 0's sample grid of each configuration, <name>.png")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.configs.split(",")
    for name in names:
        if name not in CONFIGS:
            sys.exit(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")
    test = load_fashion_mnist(None, "test")
    print(f"Fashion-MNIST, {args.steps} steps, seeds 0..{args.seeds - 1} (mean ± std), "
          f"{args.n:,} samples vs the test split, ganforge's classifier")
    print("| configuration | conditional accuracy | intra-FID | FID | wall s/run | CPU s/run |")
    print("|---|---|---|---|---|---|")
    for name in names:
        rows = [one_run(name, s, args.steps, args.n, args.extra.split(), test, args.grids)
                for s in range(args.seeds)]
        print(f"| {name} | {fmt([r['conditional_accuracy'] for r in rows if 'conditional_accuracy' in r], 3)} | "
              f"{fmt([r['intra_fid'] for r in rows if 'intra_fid' in r])} | "
              f"{fmt([r['fid'] for r in rows])} | "
              f"{statistics.mean(r['wall_s'] for r in rows):.0f} | "
              f"{statistics.mean(r['cpu_s'] for r in rows):.0f} |", flush=True)
    print(f"\ncommand: python bench/conditional.py {' '.join(argv or sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
