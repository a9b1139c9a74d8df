"""Where a mixture run's samples miss, and what BatchNorm's batch statistics have to do with it.

Trains a configuration of bench/mixtures.py (same network, data, seeds and latents) and, at
``--points`` equal fractions of the run, samples G and G_ema in both ``sample_mode``s: "train"
(each chunk of 256 normalized with its own batch statistics, the DCGAN way) and "eval"
(BatchNorm's running averages). For each it prints the PacGAN numbers (modes, % high quality,
reverse KL) and where the other samples are: "near" (3-6 std from the nearest mode: a mode
wider than the data's) and "far" (more than 6 std: the bridges between modes), and "in 1 std"
(the data has 39%). Training is the same whichever mode samples it.

    python bench/sample_modes.py --configs sharp-linear,sharp-v2 --seeds 2 --first-seed 2
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from _common import add_parallel_args, run_all, threads_per_run
from mixtures import BASE, CONFIGS

from ganforge.config import build_config
from ganforge.metrics import mixture_modes
from ganforge.metrics.mixture import MIXTURES
from ganforge.run import build_run
from ganforge.sampling import generate


def where(x: torch.Tensor, dataset: str) -> dict[str, float]:
    """The shares of samples within 1 std, 3-6 std and beyond 6 std of their nearest mode."""
    make_modes, std = MIXTURES[dataset]
    d = torch.cdist(x.double(), make_modes().double()).min(dim=1)[0] / std
    share = lambda mask: float(mask.double().mean())   # noqa: E731
    return {"in1": share(d < 1), "near": share((d >= 3) & (d <= 6)), "far": share(d > 6)}


def probe(dataset: str, name: str, seed: int, steps: int, points: int,
          threads: int) -> list[str]:
    torch.set_num_threads(threads)
    cfg = build_config(None, [f"data={dataset}", f"seed={seed}", f"steps={steps}", *BASE,
                              *CONFIGS[name]])
    run = build_run(cfg)
    trainer = run.trainer
    z = torch.randn((2500, *trainer.players.z_shape),
                    generator=torch.Generator().manual_seed(10_000 + seed))
    lines, cpu, done = [], 0.0, 0
    for k in range(1, points + 1):
        until = cfg.steps * k // points
        start = time.process_time()
        trainer.fit(run.batches, until - done, progress=False)
        cpu, done = cpu + time.process_time() - start, until
        for net_name, net in (("G", trainer.G), ("G_ema", trainer.G_ema)):
            for mode in ("train", "eval"):
                if net is None:
                    continue
                x = generate(net, z, mode=mode)
                m, w = mixture_modes(x, dataset), where(x, dataset)
                lines.append(f"| {dataset} | {name} | {seed} | {done:,} | {cpu / 60:.1f} | "
                             f"{net_name} | {mode} | {m['modes']} | {100 * m['high_quality']:.1f} "
                             f"| {m['reverse_kl']:.3f} | {100 * w['near']:.1f} | "
                             f"{100 * w['far']:.1f} | {100 * w['in1']:.1f} |")
    print("\n".join(lines), flush=True)
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="grid25")
    ap.add_argument("--configs", default="sharp-v2")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=2000, help="unless the configuration sets it")
    ap.add_argument("--points", type=int, default=3, help="measurements per run")
    add_parallel_args(ap)
    args = ap.parse_args(argv)
    for name in args.configs.split(","):
        if name not in CONFIGS:
            sys.exit(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")
    threads = threads_per_run(args)
    jobs = [(dataset, name, seed, args.steps, args.points, threads)
            for dataset in args.datasets.split(",") for name in args.configs.split(",")
            for seed in range(args.first_seed, args.first_seed + args.seeds)]
    header = ("| data | configuration | seed | iterations | CPU min | net | sample_mode | modes | "
              "% high quality | reverse KL | % near (3-6 std) | % far (> 6 std) | % in 1 std |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(header, flush=True)
    results = run_all(probe, jobs, args.jobs)
    print("\nall runs, in order:\n" + header)
    print("\n".join(line for lines in results for line in lines))
    print(f"\ncommand: python bench/sample_modes.py {' '.join(argv or sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
