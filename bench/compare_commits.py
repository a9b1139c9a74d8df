"""Step time of the Trainer at another commit against the working tree, side by side in ONE
process: the other commit's package is exported with ``git archive`` and imported as
``ganforge_base``, both trainers get identical networks, data and optimizers, and their steps
are interleaved (each round times both), so machine load affects both alike.

    python bench/compare_commits.py --base 02763ce          # before the middle-layer rework
    python bench/compare_commits.py --base HEAD~3 --threads 1
    python bench/compare_commits.py --base 72bfd35 --fit    # through fit() (host syncs, guard)

Prints one row per model and schedule: median ms/step of each, and the speed of the working
tree relative to the base (> 1: faster now).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CASES = (("mlp2d", 50, 15), ("dcgan28", 10, 6))   # (model, steps per round, rounds)


def export(rev: str, into: Path) -> None:
    """``src/ganforge`` at ``rev`` as the package ``ganforge_base`` under ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src/ganforge"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    package = into / "ganforge_base"
    (into / "src" / "ganforge").rename(package)
    for path in package.rglob("*.py"):
        text = path.read_text()
        path.write_text(re.sub(r"\bganforge(?=[. ])(?!_)", "ganforge_base", text))


def make(pkg, model: str, schedule: str, fit: bool = False, steps: int = 1):
    torch.manual_seed(0)
    nets = importlib.import_module(pkg.__name__ + ".nets")
    if model == "dcgan28":   # the default run's networks
        G, D = nets.build_nets("dcgan", (1, 28, 28), 100, 64, d_batchnorm=True)
        real = torch.rand(64, 1, 28, 28) * 2 - 1
    else:
        G, D = nets.build_nets("mlp", (2,), 2, 128)
        real = torch.randn(256, 2)
    opt_G = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    trainer = pkg.Trainer(G, D, opt_G, opt_D, schedule=schedule, seed=0, device="cpu")
    if not fit:
        return lambda: trainer.step(real)
    data = real.repeat(16, *[1] * (real.dim() - 1))   # a set to draw shuffled batches from
    quiet = ({"progress": False} if "progress" in inspect.signature(trainer.fit).parameters
             else {})
    return lambda: trainer.fit(data, steps, batch_size=real.shape[0], **quiet)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the commit to compare with")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fit", action="store_true",
                    help="time Trainer.fit over the round's steps instead of Trainer.step")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        export(args.base, Path(tmp))
        sys.path.insert(0, tmp)
        sys.path.insert(0, str(ROOT / "src"))
        import ganforge
        import ganforge_base

        cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True,
                             text=True).stdout.split(":")[-1].strip()
        print(f"# python bench/compare_commits.py --base {args.base} --threads {args.threads}"
              + (" --fit" if args.fit else "") +
              f"   (CPU: {cpu}, torch {torch.__version__})")
        print(f"| model | schedule | {args.base} ms/step | working tree ms/step | "
              "working tree speed |")
        print("|---|---|---|---|---|")
        for model, steps, rounds in CASES:
            for schedule in ("alternating", "onestep"):
                calls = 1 if args.fit else steps   # fit runs the round's steps in one call
                loops = {"base": make(ganforge_base, model, schedule, args.fit, steps),
                         "new": make(ganforge, model, schedule, args.fit, steps)}
                for step in loops.values():
                    for _ in range(1 if args.fit else 5):
                        step()
                times = {k: [] for k in loops}
                for _ in range(rounds):
                    for key, step in loops.items():
                        start = time.perf_counter()
                        for _ in range(calls):
                            step()
                        times[key].append((time.perf_counter() - start) / steps * 1000)
                base, new = (statistics.median(times[k]) for k in ("base", "new"))
                print(f"| {model} | {schedule} | {base:.2f} | {new:.2f} | {base / new:.3f}x |",
                      flush=True)


if __name__ == "__main__":
    main()
