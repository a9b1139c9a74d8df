"""Does the doctor name real failures, stay quiet on healthy runs, and does balance=auto help?

Every run goes through the command line (``ganforge train``, then ``ganforge doctor`` and, for
the balance comparison, ``ganforge eval``), so this is what a user sees. Failures reproduced:

1. problem 5 (docs/problems.md): Fashion-MNIST saved in [0, 1] (a .npy that lost its scaling), the tanh DCGAN,
   and the start-up range check switched off (``data.scale=off``). Expected: ``data_range``.
2. D's learning rate 10x G's, so G is weak (the default Fashion-MNIST DCGAN, lr_G 2e-5,
   lr_D 2e-4, bf16). Expected: ``d_overpowering``.
3. a collapse-prone setting on ring8 (G's learning rate 100x D's), with evaluation during
   training (``eval.every=250``, the modes metric). Expected: ``mode_collapse``.
4. a diverging learning rate (Adam at 0.5 on ring8). Expected: ``divergence`` with its step.

Healthy runs (``--healthy``): every preset at its own settings (``wgan``, ``wgan-gp`` and
``sngan`` with their 5 critic steps) on grid25, several seeds, scored by modes covered, plus
``wgan-gp`` with the authors' toy penalty ``reg.gp=0.1`` (at 10 it collapses on the mixtures,
docs/stabilization.md), and the default Fashion-MNIST run. A finding on a run that covers the
grid is a false alarm (target: none).

Balance: case 2 with ``balance=off``, ``auto``, ``ada`` and ``smoothing`` at the same number of
iterations, and two settings that cost what ``auto`` costs once it has raised G's steps:
``balance=off`` with 3x the iterations, and a fixed ``g_steps=5``. Several seeds, FID on the
classifier's features by ``ganforge eval`` (2,000 samples), and the wall time of each run.

    python bench/doctor.py                        # everything (about an hour on 2 cores)
    python bench/doctor.py --parts failures       # just the four failures
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SLICE = ROOT / "src/ganforge/data/fashion_mnist_slice"
QUIET = ["log_every=25", "sample_every=0", "checkpoint_every=100000", "tensorboard=false"]
MLP = ["model=mlp", "model.width=128", "model.z_dim=2", "batch_size=256"]
HEALTHY = ("preset=dcgan,preset=wgan,preset=wgan-gp,preset=wgan-gp reg.gp=0.1,"
           "preset=sngan,preset=r1,preset=ttur,fashion-mnist")
CASE2 = ["precision=bf16", "lr_G=2e-5", "lr_D=2e-4", "steps=1000"]


def seed_004_data(out: Path) -> Path:
    """The committed Fashion-MNIST slice, saved in [0, 1] as a user's .npy would be."""
    sys.path.insert(0, str(ROOT / "src"))
    from ganforge.data import load_dataset

    x = (load_dataset("fashion-mnist", root=str(SLICE)).x + 1) / 2
    path = out / "fashion_0_1.npy"
    np.save(path, x.numpy())
    return path


def failures(out: Path) -> dict[str, tuple[list[str], str]]:
    return {
        "1 data in [0, 1], range check off": (
            [f"data={seed_004_data(out)}", "data.scale=off", "model.width=32", "steps=500"],
            "data_range"),
        "2 lr_D = 10 x lr_G, weak G": (CASE2, "d_overpowering"),
        "3 lr_G = 100 x lr_D on ring8": (
            ["data=ring8", *MLP, "lr_G=1e-3", "lr_D=1e-5", "steps=3000", "eval.every=250",
             "eval.n=2500"], "mode_collapse"),
        "4 Adam lr 0.5": (["data=ring8", *MLP, "lr_G=0.5", "lr_D=0.5", "steps=500"],
                          "divergence"),
    }


def healthy(settings: list[str], seeds: int) -> dict[str, list[str]]:
    """Each setting (space-separated overrides) on grid25 with the MLP, or ``fashion-mnist``:
    the default ``ganforge train`` run in bf16."""
    runs = {}
    for setting in settings:
        if setting == "fashion-mnist":
            runs["fashion-mnist default, bf16"] = ["precision=bf16"]
            continue
        for seed in range(seeds):
            runs[f"grid25 {setting} seed={seed}"] = [
                "data=grid25", *MLP, *setting.split(), f"seed={seed}", "steps=2000"]
    return runs


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganforge.cli", *args], capture_output=True,
                          text=True, cwd=cwd)


def train(name: str, overrides: list[str], out: Path) -> dict:
    run_dir = out / name.replace(" ", "_").replace("=", "-").replace(",", "")
    shutil.rmtree(run_dir, ignore_errors=True)
    start = time.perf_counter()
    proc = cli("train", "--no-progress", f"run_dir={run_dir}", *QUIET, *overrides, cwd=out)
    seconds = time.perf_counter() - start
    path = run_dir / "findings.jsonl"
    live = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return {"name": name, "dir": run_dir, "exit": proc.returncode, "seconds": seconds,
            "live": [(f["kind"], f["first_step"]) for f in live],
            "report": cli("doctor", str(run_dir), cwd=out).stdout}


def evaluate(run_dir: Path, out: Path, metric: str, n: int) -> float:
    cli("eval", str(run_dir), "--metrics", metric, "--n", str(n), "--replace", cwd=out)
    values = json.loads((run_dir / "eval.json").read_text())["evaluations"][-1]["values"]
    return next(v["value"] for v in values if v["metric"] == metric)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="failures,healthy,balance")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--healthy", default=HEALTHY,
                    help="the healthy settings on grid25, comma-separated, each one or more "
                         "space-separated overrides")
    ap.add_argument("--balance-seeds", type=int, default=3)
    ap.add_argument("--balance", default="balance=off,balance=auto,balance=ada,balance=smoothing,"
                                         "balance=off steps=3000,g_steps=5",
                    help="the settings compared on case 2, comma-separated; one setting may be "
                         "several space-separated overrides, e.g. 'balance=off steps=3000'")
    ap.add_argument("--out", default="/tmp/ganforge-doctor-bench")
    ap.add_argument("--reports", action="store_true", help="print every doctor report")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    if "failures" in parts:
        print("| failure | expected finding | live findings (kind, first step) | caught | "
              "wall s |")
        print("|---|---|---|---|---|")
        for name, (overrides, expected) in failures(out).items():
            r = train(name, overrides, out)
            caught = any(kind == expected for kind, _ in r["live"])
            print(f"| {name} | {expected} | {r['live'] or 'none'} | "
                  f"{'yes' if caught else 'NO'} | {r['seconds']:.0f} |", flush=True)
            if args.reports:
                print(r["report"])
    if "healthy" in parts:
        print("\n| healthy run | findings (false alarms) | modes covered (mixtures) | wall s |")
        print("|---|---|---|---|")
        alarms = 0
        for name, overrides in healthy(args.healthy.split(","), args.seeds).items():
            r = train(name, overrides, out)
            alarms += len(r["live"])
            modes = (f"{evaluate(r['dir'], out, 'modes', 2500):.0f}" if "data=grid25" in overrides
                     else "-")
            print(f"| {name} | {r['live'] or 'none'} | {modes} | {r['seconds']:.0f} |",
                  flush=True)
        print(f"\nfalse alarms in total: {alarms}")
    if "balance" in parts:
        print("\n| case 2 (lr_D = 10 x lr_G) | seed | FID, 2,000 samples (lower is better) | "
              "findings | wall s |")
        print("|---|---|---|---|---|")
        for label in args.balance.split(","):
            extra = [o for o in label.split() if o != "balance=off"]
            for seed in range(args.balance_seeds):
                r = train(f"case2 {label} seed={seed}", [*CASE2, f"seed={seed}", *extra], out)
                print(f"| {label} | {seed} | {evaluate(r['dir'], out, 'fid', 2000):.2f} | "
                      f"{[k for k, _ in r['live']] or 'none'} | {r['seconds']:.0f} |", flush=True)
    print(f"\ncommand: python bench/doctor.py {' '.join(argv or sys.argv[1:])}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
