"""Data-parallel training on this machine: 1 process (2 threads) against 2 processes (torchrun,
gloo, 1 thread each) at the same global batch, for DCGAN-28 (batch 64) and the 2-D MLP (batch
256); with the bytes each network all-reduces per iteration and the time spent in those
all-reduces.

    python bench/distributed.py                 # both models, alternating and one-step
    python bench/distributed.py --steps 20 --models mlp2d

Prints a table and the command. Two cores are not a scaling testbed: what the table shows is
the cost of the synchronization, and the arithmetic of docs/distributed.md turns the bytes into
a GPU user's estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"dcgan28": 64, "mlp2d": 256}


def worker(out: Path, models: list[str], steps: int, warmup: int) -> None:
    import torch

    import ganforge
    from ganforge.distributed import init_process_group, shutdown
    from ganforge.nets import build_nets

    world, _ = init_process_group("cpu")
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    rows = []
    for model in models:
        for schedule in ("alternating", "onestep"):
            torch.manual_seed(0)
            if model == "dcgan28":
                G, D = build_nets("dcgan", (1, 28, 28), 100, 64, d_batchnorm=True)
                data = torch.rand(4096, 1, 28, 28) * 2 - 1
            else:
                G, D = build_nets("mlp", (2,), 2, 128)
                data = torch.randn(8192, 2)
            trainer = ganforge.Trainer(G, D, schedule=schedule, seed=0, device="cpu")
            stream = iter(trainer.prepare(data, batch_size=MODELS[model], data_scale="off"))
            for _ in range(warmup):
                trainer.step(stream)
            times, comm = [], []
            for _ in range(steps):
                start = time.perf_counter()
                stats = trainer.step(stream)
                times.append((time.perf_counter() - start) * 1000)
                comm.append(stats.get("time/comm_ms", 0.0))
            grad_bytes = {name: sum(p.numel() * p.element_size() for p in net.parameters()
                                    if p.requires_grad) for name, net in (("G", G), ("D", D))}
            rows.append({"model": model, "schedule": schedule,
                         "ms": statistics.median(times), "comm_ms": statistics.median(comm),
                         "bytes": grad_bytes})
    if world.is_main:
        out.write_text(json.dumps(rows))
    shutdown()


def run(nproc: int, models: list[str], steps: int, warmup: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        args = [str(Path(__file__).resolve()), "--worker", str(out), "--models", ",".join(models),
                "--steps", str(steps), "--warmup", str(warmup)]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
               "BENCH_THREADS": "1" if nproc > 1 else "2"}
        cmd = ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={nproc}", *args] if nproc > 1 else [sys.executable, *args])
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="dcgan28,mlp2d")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    models = args.models.split(",")
    if args.worker:
        worker(args.worker, models, args.steps, args.warmup)
        return
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True,
                         text=True).stdout.split(":")[-1].strip()
    one, two = run(1, models, args.steps, args.warmup), run(2, models, args.steps, args.warmup)
    print(f"# python bench/distributed.py --models {args.models} --steps {args.steps}   "
          f"(CPU: {cpu}, {os.cpu_count()} cores; median ms/step after {args.warmup} warm-up "
          "steps)")
    print("| model | schedule | global batch | 1 process, 2 threads | 2 processes, 1 thread "
          "each | of which all-reduce | speed 2 vs 1 | bytes all-reduced per iteration (G / D) |")
    print("|---|---|---|---|---|---|---|---|")
    for a, b in zip(one, two):
        iters = {"alternating": 1, "onestep": 1}[a["schedule"]]
        print(f"| {a['model']} | {a['schedule']} | {MODELS[a['model']]} | {a['ms']:.1f} | "
              f"{b['ms']:.1f} | {b['comm_ms']:.1f} | {a['ms'] / b['ms']:.2f}x | "
              f"{b['bytes']['G'] * iters / 1e6:.2f} MB / {b['bytes']['D'] * iters / 1e6:.2f} MB |")


if __name__ == "__main__":
    main()
