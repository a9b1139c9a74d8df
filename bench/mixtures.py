"""The 2-D mixture benchmark (PacGAN protocol) for schedules, presets and tricks.

Protocol (Lin et al. 2018, after VEEGAN): 2,500 samples from G; a sample is high quality within
3 standard deviations of its nearest mode; a mode is covered if it has a high-quality sample;
reverse KL of the histogram of high-quality samples over the modes. Mean ± std over seeds.

Budget, the same for every configuration: an MLP G and D (width 128, z_dim 2), batch 256,
``--steps`` iterations (one iteration = d_steps D updates + g_steps G updates), non-saturating
loss and Adam lr 1e-3 betas (0.5, 0.999) for both networks unless the configuration (a preset)
sets its own.

    python bench/mixtures.py                                  # every configuration, 5 seeds
    python bench/mixtures.py --configs baseline,onestep --seeds 2 --steps 500
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from _common import add_parallel_args, run_all, save_grid, threads_per_run

from ganforge.config import build_config
from ganforge.metrics import mixture_modes
from ganforge.run import build_run
from ganforge.sampling import generate

# fp32 on every CPU, as precision=auto does for vector samples: bf16's 8-bit mantissa would cost
# a 2-D generator its precision (3 sigma is 0.03-0.15) without saving time.
BASE = ["model=mlp", "model.width=128", "model.z_dim=2", "batch_size=256", "precision=fp32",
        "checkpoint_every=0", "tensorboard=false"]
BASELINE = ["loss=nonsaturating", "lr_G=1e-3", "lr_D=1e-3"]
# The versions of preset=sharp (docs/stabilization.md), each pinned on top of today's preset
# (v5: G without batchnorm, PyTorch's init, constant rates 2e-4 / 8e-4, EMA half-life 500k)
SHARP_V5 = ["preset=sharp"]
SHARP_V4 = [*SHARP_V5, "lr_G=4e-4", "lr_D=1.6e-3"]
SHARP_V3 = [*SHARP_V4, "lr_schedule_G.name=cosine", "lr_schedule_D.name=cosine",
            "ema.half_life_images=20000"]
SHARP_V2 = [*SHARP_V3, "model.g_batchnorm=true", "model.init=paper"]
SHARP_V1 = [*SHARP_V2, "lr_schedule_G.name=linear", "lr_schedule_D.name=linear"]
CONSTANT_LR = ["lr_schedule_G.name=constant", "lr_schedule_D.name=constant"]
CONFIGS: dict[str, list[str]] = {
    "baseline": BASELINE,
    "onestep": [*BASELINE, "schedule=onestep"],
    "alt-reuse": [*BASELINE, "reuse_fake=true"],
    "preset=dcgan": ["preset=dcgan"],
    "preset=wgan": ["preset=wgan"],
    "preset=wgan-gp": ["preset=wgan-gp"],
    "preset=wgan-gp+gp=0.1": ["preset=wgan-gp", "reg.gp=0.1"],   # the authors' toy penalty
    "preset=wgan-gp+betas=0.5": ["preset=wgan-gp", "optim_G.betas=[0.5,0.9]",
                                 "optim_D.betas=[0.5,0.9]"],   # the authors' toy optimizer
    "preset=sngan": ["preset=sngan"],
    "preset=r1": ["preset=r1"],
    "preset=ttur": ["preset=ttur"],
    "+label_smoothing=0.1": [*BASELINE, "label_smoothing=0.1"],
    "+minibatch_stddev": [*BASELINE, "model.d_minibatch_stddev=true"],
    "+minibatch_disc=16": [*BASELINE, "model.d_minibatch_disc=16"],
    "+instance_noise": [*BASELINE, "noise.sigma=0.1", "noise.anneal_steps=2000"],
    "+r1=0.1": [*BASELINE, "reg.r1=0.1"],
    "+feature_matching": [*BASELINE, "feature_matching=1"],
    "+ema": [*BASELINE, "ema.half_life_images=20000"],
    # Issue 16: the recipe for precise samples (v5, preset=sharp), the versions before it, the
    # levers measured on them, and the plain baseline at the same budget (same network, same
    # iterations). A configuration's own steps= wins over --steps.
    "sharp-v5": [*SHARP_V5, "steps=60000"],
    "sharp-v3": [*SHARP_V3, "steps=60000"],
    "sharp-v3-30k": [*SHARP_V3, "steps=30000"],
    "sharp-v3+batch512-40k": [*SHARP_V3, "batch_size=512", "steps=40000"],
    "sharp-v3+d_steps=2-40k": [*SHARP_V3, "d_steps=2", "steps=40000"],
    "sharp-v3+constant-lr": [*SHARP_V3, *CONSTANT_LR, "steps=60000"],
    "sharp-v3+constant-lr+ema500k": [*SHARP_V4, "steps=60000"],   # = sharp-v4
    "sharp-v4": [*SHARP_V4, "steps=60000"],
    "sharp-v4+half-lr": [*SHARP_V4, "lr_G=2e-4", "lr_D=8e-4", "steps=60000"],   # = sharp-v5
    "baseline-60k": [*BASELINE, "steps=60000"],
    "baseline-30k": [*BASELINE, "steps=30000"],
    # v2 and the levers measured on it (docs/stabilization.md, 'Sharp samples')
    "sharp-v2": [*SHARP_V2, "steps=30000"],
    "sharp-v2-60k": [*SHARP_V2, "steps=60000"],
    "sharp-v2-90k": [*SHARP_V2, "steps=90000"],
    "sharp-v2+batch512-60k": [*SHARP_V2, "batch_size=512", "steps=60000"],
    "sharp-v2+d_steps=2-55k": [*SHARP_V2, "d_steps=2", "steps=55000"],
    "sharp-v2+nonsaturating": [*SHARP_V2, "loss=nonsaturating", "steps=30000"],
    "baseline-90k": [*BASELINE, "steps=90000"],
    # v1 (linear decay, samples in train mode), and the levers measured on its training
    # (sample_mode does not change the training, only how its G is sampled)
    "sharp-v1": [*SHARP_V1, "sample_mode=train", "steps=30000"],
    "sharp-v1-90k": [*SHARP_V1, "sample_mode=train", "steps=90000"],
    "sharp-linear": [*SHARP_V1, "steps=30000"],
    "sharp-linear+batch512": [*SHARP_V1, "batch_size=512", "steps=30000"],
    "sharp-linear+d_steps=2": [*SHARP_V1, "d_steps=2", "steps=30000"],
}
MODES = {"ring8": 8, "grid25": 25}
TARGET_HQ = {"ring8": 0.95, "grid25": 0.90}   # issue 16's targets (with all modes, KL <= 0.05)
PACGAN = {  # Lin et al. 2018, Table 1: modes, % high quality, reverse KL
    ("ring8", "GAN"): (6.3, 98.2, 0.45), ("ring8", "PacGAN4"): (7.8, 95.9, 0.07),
    ("grid25", "GAN"): (17.3, 94.8, 0.70), ("grid25", "PacGAN4"): (24.8, 93.6, 0.04),
}


def mixture_run(dataset: str, overrides: list[str], seed: int, steps: int,
                threads: int = 2, grid: str | None = None) -> dict[str, float]:
    """Train one configuration; the PacGAN numbers of 2,500 samples of G and (when the
    configuration has EMA) of G_ema, and the wall and CPU time of the training."""
    torch.set_num_threads(threads)
    cfg = build_config(None, [f"data={dataset}", f"seed={seed}", f"steps={steps}", *BASE,
                              *overrides])
    run = build_run(cfg)
    start, cpu = time.perf_counter(), time.process_time()
    run.trainer.fit(run.batches, cfg.steps, progress=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    z = torch.randn((2500, *run.trainer.players.z_shape),
                    generator=torch.Generator().manual_seed(10_000 + seed))
    save_grid(run.trainer, grid, dataset, seed, n=2500)
    mode = run.trainer.sample_mode   # the configuration's (preset=sharp: eval)
    out = {**mixture_modes(generate(run.trainer.G, z, mode=mode), dataset), "wall_s": wall,
           "cpu_s": cpu}
    if run.trainer.G_ema is not None:
        out.update({f"ema_{k}": v for k, v in
                    mixture_modes(generate(run.trainer.G_ema, z, mode=mode), dataset).items()})
    # one line per run as it ends, so a long table's finished runs survive an interruption
    print(f"# {dataset} seed {seed} {' '.join(overrides)}: "
          + " ".join(f"{k}={v:.4g}" for k, v in out.items()), flush=True)
    return out


def summary_rows(dataset: str, name: str, rows: list[dict]) -> list[str]:
    """One table row for G, and one for G_ema when the runs have it."""
    def ms(key, scale=1.0):
        vals = [float(r[key]) * scale for r in rows]
        mean = sum(vals) / len(vals)   # by hand: a reverse KL may be inf (no mode covered)
        sd = (sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 \
            if len(vals) > 1 else 0.0
        return f"{mean:.2f} ± {sd:.2f}"
    out = []
    for which, pre in (("G", ""), ("G_ema", "ema_")):
        if f"{pre}modes" not in rows[0]:
            continue
        per_seed = ",".join(str(r[f"{pre}modes"]) for r in rows)
        hits = sum(r[f"{pre}modes"] == MODES[dataset]
                   and r[f"{pre}high_quality"] >= TARGET_HQ[dataset]
                   and r[f"{pre}reverse_kl"] <= 0.05 for r in rows)
        out.append(f"| {dataset} | {name} | {which} | {ms(pre + 'modes')} [{per_seed}] | "
                   f"{ms(pre + 'high_quality', 100)} | {ms(pre + 'reverse_kl')} | "
                   f"{hits}/{len(rows)} | {statistics.mean(r['wall_s'] for r in rows):.0f} | "
                   f"{max(r['cpu_s'] for r in rows) / 60:.1f} |")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="ring8,grid25")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first..first+seeds-1")
    ap.add_argument("--steps", type=int, default=2000)
    add_parallel_args(ap)
    ap.add_argument("--grids", default=None,
                    help="a folder: seed 0's samples of each configuration, <config>/<data>.png")
    args = ap.parse_args(argv)
    names = args.configs.split(",")
    for name in names:
        if name not in CONFIGS:
            sys.exit(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")
    print(f"{args.steps} iterations (a configuration may set its own), seeds "
          f"{args.first_seed}..{args.first_seed + args.seeds - 1}, mean ± std over seeds "
          "(modes per seed in brackets); 'target' counts the seeds with every mode, >= 90% "
          "(grid25) / 95% (ring8) high quality and reverse KL <= 0.05; CPU min: the longest "
          "run's training CPU time")
    print("| data | configuration | net | modes covered | % high quality | reverse KL | "
          "target | wall s/run | CPU min/run |")
    print("|---|---|---|---|---|---|---|---|---|")
    threads = threads_per_run(args)
    for dataset in args.datasets.split(","):
        for name in names:
            grid = None if args.grids is None else f"{args.grids}/{name}"
            jobs = [(dataset, CONFIGS[name], s, args.steps, threads, grid)
                    for s in range(args.first_seed, args.first_seed + args.seeds)]
            rows = run_all(mixture_run, jobs, args.jobs)
            for line in summary_rows(dataset, name, rows):
                print(line, flush=True)
        for (ds, method), (modes, hq, kl) in PACGAN.items():
            if ds == dataset:
                print(f"| {dataset} | published: {method} (PacGAN Table 1) | | {modes} | {hq} | "
                      f"{kl} | | - | - |")
    print(f"\ncommand: python bench/mixtures.py {' '.join(argv or sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
