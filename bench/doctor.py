"""Does the doctor name real failures? (draft: cases 1 and 4 of the validation bench)

Each case trains a short run through the CLI, then prints what the live doctor reported
(``findings.jsonl``) and the ``ganforge doctor`` report:

1. seed 004: Fashion-MNIST saved in [0, 1] (as a .npy that lost its scaling), a tanh DCGAN
   generator, and the start-up range check switched off (``data.scale=off``). Expected: a
   data-range finding at step 0, and D overpowering G once the run has gone on a while.
4. a diverging learning rate (Adam at 0.5 for both networks on the 8-Gaussian ring).
   Expected: a divergence finding naming the step.
0. control: the same ring at the default learning rate. Expected: no findings.

    python bench/doctor.py [--steps 600] [--cases 1,4,0] [--out /tmp/ganforge-doctor-bench]
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


def seed_004_data(out: Path) -> Path:
    """The committed Fashion-MNIST slice, saved in [0, 1] as a user's .npy would be."""
    sys.path.insert(0, str(ROOT / "src"))
    from ganforge.data import load_dataset

    x = (load_dataset("fashion-mnist", root=str(SLICE)).x + 1) / 2
    path = out / "fashion_0_1.npy"
    np.save(path, x.numpy())
    return path


def cases(out: Path, steps: int) -> dict[str, list[str]]:
    small = ["log_every=25", "sample_every=0", "checkpoint_every=100000", "tensorboard=false"]
    return {
        "1": [f"data={seed_004_data(out)}", "data.scale=off", "model=dcgan", "model.width=32",
              f"steps={steps}", *small],
        "4": ["data=ring8", "model=mlp", "lr_G=0.5", "lr_D=0.5", f"steps={steps}", *small],
        "0": ["data=ring8", "model=mlp", f"steps={steps}", *small],
    }


def run_case(name: str, args: list[str], out: Path) -> dict:
    run_dir = out / f"case{name}"
    shutil.rmtree(run_dir, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ganforge.cli", "train", "--no-progress",
                           f"run_dir={run_dir}", *args], capture_output=True, text=True,
                          cwd=out)
    seconds = time.perf_counter() - start
    live = []
    if (run_dir / "findings.jsonl").exists():
        live = [json.loads(x) for x in (run_dir / "findings.jsonl").read_text().splitlines()]
    report = subprocess.run([sys.executable, "-m", "ganforge.cli", "doctor", str(run_dir)],
                            capture_output=True, text=True).stdout
    return {"case": name, "exit": proc.returncode, "seconds": seconds,
            "live": [(f["kind"], f["first_step"]) for f in live], "report": report,
            "stderr_tail": proc.stderr.strip().splitlines()[-1:] if proc.stderr else []}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--cases", default="1,4,0")
    ap.add_argument("--out", default="/tmp/ganforge-doctor-bench")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = cases(out, args.steps)
    results = [run_case(c, table[c], out) for c in args.cases.split(",")]
    for r in results:
        print(f"=== case {r['case']}: exit {r['exit']}, {r['seconds']:.0f} s, live findings "
              f"{r['live'] or 'none'}")
        if r["stderr_tail"]:
            print(f"last line of stderr: {r['stderr_tail'][0]}")
        print(r["report"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
