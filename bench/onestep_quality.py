"""Quality side by side: alternating vs one-step (fused) training, same budget, same seeds.

2-D mixtures: ring8 and grid25 with the protocol and budget of ``bench/mixtures.py`` (PacGAN
protocol; MLP G and D, batch 256, Adam 1e-3, non-saturating loss), ``--seeds`` seeds.

Fashion-MNIST (``--fmnist-steps`` > 0): the default DCGAN run (``ganforge train``'s config),
once per schedule (seed 0), sample grids to ``docs/`` and
FID and KID on the domain classifier's features (``ganforge.metrics``) against the test split,
beside the floor of real train vs real test images at the same count.

    python bench/onestep_quality.py                       # mixtures, 5 seeds (about 6 minutes)
    python bench/onestep_quality.py --fmnist-steps 3000   # plus Fashion-MNIST
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from ganforge.config import build_config
from ganforge.run import build_run, fixed_z
from ganforge.sampling import generate

from mixtures import CONFIGS, mixture_run, summary_row  # bench/mixtures.py
from quality import measure  # bench/quality.py: FID, KID x1e3, ... on classifier features

REPO = Path(__file__).resolve().parent.parent
SCHEDULES = {"alternating": ["schedule=alternating"],
             "onestep": ["schedule=onestep", "onestep_impl=fused"]}


def mixtures(args) -> None:
    print(f"\n2-D mixtures, {args.steps} iterations, seeds 0..{args.seeds - 1} "
          "(mean ± std over seeds; modes per seed in brackets)")
    print("| data | schedule | modes covered | % high quality | reverse KL | wall s/run |")
    print("|---|---|---|---|---|---|")
    for dataset in args.datasets.split(","):
        for schedule, extra in SCHEDULES.items():
            rows = [mixture_run(dataset, [*CONFIGS["baseline"], *extra], s, args.steps)
                    for s in range(args.seeds)]
            print(summary_row(dataset, schedule, rows), flush=True)


def fashion(args) -> None:
    from ganforge.images import make_grid, save_png
    print(f"\nFashion-MNIST, default DCGAN config, {args.fmnist_steps} steps, seed 0, "
          f"precision {args.precision}")
    print(f"| schedule | FID vs test ({args.n_eval:,} samples, classifier features) | KID x1e3 "
          "| wall s | grid |")
    print("|---|---|---|---|---|")
    from ganforge.data.fashion_mnist import load_fashion_mnist
    from ganforge.metrics.features import load_feature_net
    net = load_feature_net("default")
    test = load_fashion_mnist(None, "test").x[:args.n_eval]
    train = load_fashion_mnist(None, "train").x[:args.n_eval]
    ref = net.features(test)    # once: every row is scored against the same test features
    for schedule in SCHEDULES:
        cfg = build_config(None, [f"steps={args.fmnist_steps}", f"precision={args.precision}",
                                  "checkpoint_every=0", "tensorboard=false",
                                  *SCHEDULES[schedule]])
        run = build_run(cfg)
        start = time.perf_counter()
        run.trainer.fit(run.batches, args.fmnist_steps)
        wall = time.perf_counter() - start
        grid = f"docs/onestep-fmnist-{schedule}.png"
        save_png(make_grid(generate(run.trainer.G, fixed_z(cfg, run.trainer.players.z_shape, 64)),
                           nrow=8), REPO / grid)
        fake = generate(run.trainer.G_sample, torch.randn(
            (args.n_eval, *run.trainer.players.z_shape),
            generator=torch.Generator().manual_seed(12345)))
        m = measure(net, fake, ref)
        print(f"| {schedule} | {m['fid']:.2f} | {m['kid']:.2f} | {wall:.0f} | {grid} |", flush=True)
    m = measure(net, train, ref)
    print(f"| floor: real train vs real test, same count | {m['fid']:.2f} | {m['kid']:.2f} | - | - |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="ring8,grid25")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--fmnist-steps", type=int, default=0)
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--n-eval", type=int, default=5000)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    if args.datasets:
        mixtures(args)
    if args.fmnist_steps:
        fashion(args)
    print(f"\ncommand: python bench/onestep_quality.py {' '.join(argv or sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
