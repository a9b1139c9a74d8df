"""Training recipes on Fashion-MNIST: the 2016 DCGAN recipe against the levers, at equal steps
and equal time.

Each configuration trains the default network (DCGAN-28, width 64, batch 64) with
``preset=dcgan`` (non-saturating loss, Adam 2e-4 betas (0.5, 0.999): ganforge's default until
issue 16) plus one lever, ``--seeds`` seeds, and is evaluated after each of ``--steps``
iterations on ``--n`` samples against the test split, on ganforge's classifier: FID, KID,
precision and recall (k=3). ``default`` is the default config as it is now. With an EMA the
G_ema row is what ``ganforge sample`` draws; the G row is beside it. ``wall s`` and ``CPU
min`` are the training time to reach that step (evaluation excluded), so a recipe's row at
1,500 steps and the 2016 recipe's at 3,000 compare at equal time; with several runs sharing
the cores, the CPU time (one thread per run) is the fair measure.

    python bench/recipes.py                                     # every configuration, 3 seeds
    python bench/recipes.py --configs dcgan,+lr8e-4 --seeds 3 --steps 1500,3000 --jobs 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from _common import add_parallel_args, fmt, run_all, save_grid, threads_per_run

from ganforge.config import build_config
from ganforge.data.fashion_mnist import load_fashion_mnist
from ganforge.evaluate import evaluate_trainer
from ganforge.run import build_run

METRICS = "fid,kid,pr"
EMA = ["ema.half_life_images=10000", "ema.rampup=0.05"]
SN = ["loss=hinge", "model.spectral_norm=true", "model.d_batchnorm=false"]
BETAS0 = ["optim_G.betas=[0,0.9]", "optim_D.betas=[0,0.9]"]   # "adam0.9": betas (0, 0.9)
DCGAN = ["preset=dcgan"]   # the 2016 recipe: every lever is measured on top of it
CONFIGS: dict[str, list[str]] = {
    "dcgan": DCGAN,            # non-saturating loss, Adam 2e-4 betas (0.5, 0.999)
    "default": [],             # ganforge's default config, whatever it is now
    "+ema": [*DCGAN, *EMA],
    "+adam0.9": [*DCGAN, *BETAS0],
    "+ttur": [*DCGAN, "lr_G=1e-4", "lr_D=4e-4"],
    "+hinge+sn": [*DCGAN, *SN],
    "+hinge+sn+adam0.9": [*DCGAN, *SN, *BETAS0],
    "+r1=1": [*DCGAN, "reg.r1=1", "model.d_batchnorm=false"],
    "+diffaugment": [*DCGAN, "augment.policy=translation,cutout"],
    "+batch128": [*DCGAN, "batch_size=128"],
    "+lr_decay": [*DCGAN, "lr_schedule_G.name=linear", "lr_schedule_D.name=linear"],
    "+lr4e-4": [*DCGAN, "lr_G=4e-4", "lr_D=4e-4"],
    "+lr8e-4": [*DCGAN, "lr_G=8e-4", "lr_D=8e-4"],
    "preset=sharp": ["preset=sharp"],
    # preset=sharp v5, pinned key by key so that the row stays v5 if the preset changes (G
    # without batchnorm, PyTorch's init, constant rates lr_G 2e-4 / lr_D 8e-4, EMA 500k images)
    "sharp-v5": ["preset=sharp", "model.g_batchnorm=false", "model.init=torch",
                 "lr_schedule_G.name=constant", "lr_schedule_D.name=constant", "lr_G=2e-4",
                 "lr_D=8e-4", "ema.half_life_images=500000", "ema.rampup=0.05"],
    # The SN-GAN ResNet (spectral norm on D by default), for ResNet against DCGAN at equal
    # time: about 2.4x the DCGAN's step time, so compare its rows by the CPU column.
    "resnet": [*DCGAN, "model=resnet", "model.width=32"],
}


def one_run(name: str, seed: int, steps: list[int], n: int, threads: int,
            precision: str, grids: str | None = None) -> list[dict]:
    torch.set_num_threads(threads)
    cfg = build_config(None, [f"seed={seed}", f"steps={max(steps)}", f"precision={precision}",
                              "checkpoint_every=0", "tensorboard=false", "sample_every=0",
                              "eval.every=0", *CONFIGS[name]])
    run = build_run(cfg)
    test = load_fashion_mnist(None, "test")
    rows, wall, cpu = [], 0.0, 0.0
    for step in steps:
        start, cpu0 = time.perf_counter(), time.process_time()
        run.trainer.fit(run.batches, step - run.trainer.step_count, progress=False)
        wall += time.perf_counter() - start
        cpu += time.process_time() - cpu0
        for ema in ([False, True] if run.trainer.G_ema is not None else [False]):
            ev = evaluate_trainer(run.trainer, test, metrics=METRICS, n=n,
                                  seed=10_000 + seed, ema=ema)
            rows.append({"step": step, "net": "G_ema" if ema else "G", "wall_s": wall,
                         "cpu_s": cpu, **ev.scores()})
    save_grid(run.trainer, grids, f"{name}-{steps[-1]}", seed)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", default="1500,3000", help="evaluation points, comma separated")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--precision", default="auto")
    add_parallel_args(ap)
    ap.add_argument("--grids", default=None,
                    help="a folder: seed 0's sample grid of each configuration, <name>.png")
    args = ap.parse_args(argv)
    names = args.configs.split(",")
    for name in names:
        if name not in CONFIGS:
            sys.exit(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")
    steps = sorted(int(s) for s in args.steps.split(","))
    threads = threads_per_run(args)
    jobs = [(name, seed, steps, args.n, threads, args.precision, args.grids)
            for name in names for seed in range(args.seeds)]
    results = run_all(one_run, jobs, args.jobs)
    print(f"Fashion-MNIST, DCGAN-28, precision {args.precision}, seeds 0..{args.seeds - 1} "
          f"(mean ± std), {args.n:,} samples vs the test split, ganforge's classifier; "
          f"{threads} thread(s) per run, {args.jobs} run(s) at a time")
    print("| configuration | net | steps | wall s | CPU min | FID | KID x1e3 | precision | "
          "recall |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        runs = [r for (n, _, *_), r in zip(jobs, results) if n == name]
        for i, first in enumerate(runs[0]):
            rows = [run[i] for run in runs]
            print(f"| {name} | {first['net']} | {first['step']} | "
                  f"{statistics.mean(r['wall_s'] for r in rows):.0f} | "
                  f"{max(r['cpu_s'] for r in rows) / 60:.1f} | "
                  f"{fmt([r['fid'] for r in rows])} | "
                  f"{fmt([r['kid'] * 1e3 for r in rows])} | "
                  f"{fmt([r['precision'] for r in rows])} | "
                  f"{fmt([r['recall'] for r in rows])} |", flush=True)
    print(f"\ncommand: python bench/recipes.py {' '.join(argv or sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
