"""Start-up time and peak memory of image folders of 10k, 50k and 200k images (64x64 RGB),
before and after 8-bit storage and ``ganforge prepare``; step time from a prepared file
against data in memory.

    python bench/data_scale.py                          # 10k, 50k, 200k; "before" up to 50k
    python bench/data_scale.py --sizes 10000 --steps 10 # a quick look

Data: random 64x64 RGB PNGs (the cost depends on the sizes, not on the pixels), written
once with Pillow (compress_level=0) under ``--cache`` in folders of 1,000 files, the smaller
sets hard links to the first files of the largest; prepared sets are cached there too.

Start-up rows: each command runs in a fresh process under ``/usr/bin/time`` (wall seconds and
maximum resident set size), files in the page cache (just written or read):

- before: ``ganforge train --dry-run data=FOLDER model=dcgan`` on the code of ``--before``
  (``git archive`` into a temporary directory, run with PYTHONPATH there): every image
  decoded into float32. Not run above ``--before-max`` images: 200k would need about the
  whole memory of a 23 GB machine (the estimate printed is a line through the measured sizes);
- after, folder: the same command on this code (8-bit pixels in memory);
- prepare: ``python -m ganforge.data.prepare FOLDER DST`` (what ``ganforge prepare`` runs);
- after, prepared: ``ganforge train --dry-run data=DST model=dcgan``.

Step rows: a DCGAN-64 (model=dcgan, width 64, batch 64, 2 threads) trained through
``Trainer.step(batches)`` on the largest prepared set read from its file, on the same pixels
held in memory as uint8, and (up to 50k images) as float32: median ms of ``--steps`` steps
after 3 warm-up steps, the median ms of fetching a batch alone, and the process's peak RSS.
"file, cold" first evicts the file from the page cache (posix_fadvise DONTNEED), so its
batches come from the disk.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PER_FOLDER = 1000


def _write_pngs(args) -> None:
    folder, start, stop = args
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(start)
    for i in range(start, stop):
        path = Path(folder) / f"{i // PER_FOLDER:05d}" / f"img{i:08d}.png"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path, compress_level=0)


def make_folders(cache: Path, sizes: list[int]) -> dict[int, Path]:
    """``cache/png-N`` for each N; the largest written, the others hard links into it."""
    largest = max(sizes)
    full = cache / f"png-{largest}"
    marker = full / ".complete"
    if not marker.exists():
        t0 = time.perf_counter()
        step = 2000
        jobs = [(str(full), a, min(a + step, largest)) for a in range(0, largest, step)]
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            list(pool.map(_write_pngs, jobs))
        marker.write_text("")
        print(f"generated {largest:,} PNGs in {time.perf_counter() - t0:.0f} s ({full})",
              flush=True)
    folders = {largest: full}
    for n in sizes:
        if n == largest:
            continue
        folder = cache / f"png-{n}"
        if not (folder / ".complete").exists():
            for i in range(n):
                src = full / f"{i // PER_FOLDER:05d}" / f"img{i:08d}.png"
                dst = folder / src.parent.name / src.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                if not dst.exists():
                    os.link(src, dst)
            (folder / ".complete").write_text("")
        folders[n] = folder
    return folders


def timed(cmd: list[str], env: dict | None = None) -> dict:
    """Wall seconds and peak RSS (MB) of ``cmd`` in a fresh process, by /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        run = subprocess.run(["/usr/bin/time", "-o", out.name, "-f", "%e %M", *cmd],
                             capture_output=True, text=True, env=env)
        fields = out.read().split()
    if run.returncode != 0 or len(fields) < 2:
        return {"error": (run.stderr or run.stdout).strip().splitlines()[-1:]}
    return {"seconds": float(fields[-2]), "peak_mb": int(fields[-1]) / 1024}


def export(rev: str, where: Path) -> Path:
    """The package source of commit ``rev``, for PYTHONPATH."""
    target = where / f"ganforge-{rev}"
    if not (target / "src" / "ganforge").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src"


def env_with(src: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "2"}


def dry_run(src: Path, data: Path, tmp: Path) -> dict:
    return timed([sys.executable, "-m", "ganforge", "train", "--dry-run", "--no-progress",
                  f"data={data}", "model=dcgan", f"run_dir={tmp / 'run'}"], env_with(src))


def fmt(r: dict, key: str, spec: str) -> str:
    return format(r[key], spec) if key in r else "failed: " + " ".join(r.get("error", []))


def startup(args, folders: dict[int, Path]) -> dict[int, Path]:
    cache, tmp = Path(args.cache), Path(tempfile.mkdtemp(prefix="data-scale-"))
    before_src = export(args.before, cache)
    after_src = Path(args.after_src)
    prepared = {}
    print("| images | what | wall s | peak RSS MB |\n|---|---|---|---|", flush=True)
    measured_before = {}
    for n, folder in sorted(folders.items()):
        if n <= args.before_max:
            r = dry_run(before_src, folder, tmp)
            measured_before[n] = r
            print(f"| {n:,} | before: dry run on the folder (float32) | {fmt(r, 'seconds', '.1f')}"
                  f" | {fmt(r, 'peak_mb', ',.0f')} |", flush=True)
        elif len(measured_before) >= 2 and all("seconds" in r for r in measured_before.values()):
            (n1, r1), (n2, r2) = sorted(measured_before.items())[-2:]
            est = {k: r1[k] + (r2[k] - r1[k]) * (n - n1) / (n2 - n1) for k in r1}
            print(f"| {n:,} | before: not run, estimated from {n1:,} and {n2:,} | "
                  f"~{est['seconds']:.0f} | ~{est['peak_mb']:,.0f} |", flush=True)
        r = dry_run(after_src, folder, tmp)
        print(f"| {n:,} | after: dry run on the folder (uint8) | {fmt(r, 'seconds', '.1f')} | "
              f"{fmt(r, 'peak_mb', ',.0f')} |", flush=True)
        dst = cache / f"prepared-{n}"
        if not (dst / "meta.json").exists():
            r = timed([sys.executable, "-m", "ganforge.data.prepare", str(folder), str(dst)],
                      env_with(after_src))
            print(f"| {n:,} | prepare (once) | {fmt(r, 'seconds', '.1f')} | "
                  f"{fmt(r, 'peak_mb', ',.0f')} |", flush=True)
        prepared[n] = dst
        r = dry_run(after_src, dst, tmp)
        print(f"| {n:,} | after: dry run on the prepared set | {fmt(r, 'seconds', '.1f')} | "
              f"{fmt(r, 'peak_mb', ',.0f')} |", flush=True)
    return prepared


def child_steps(path: str, source: str, steps: int) -> None:
    """One step-time measurement (its own process, so its peak RSS is its own)."""
    import torch

    from ganforge.data import Batches, load_dataset
    from ganforge.data.samples import PixelSamples, TensorSamples
    from ganforge.nets import build_nets
    from ganforge.trainer import Trainer

    torch.set_num_threads(2)
    stored = load_dataset(path).samples
    if source == "file, cold":
        fd = os.open(stored.file.path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    elif source == "uint8 in memory":
        stored = PixelSamples(stored.levels())
    elif source == "float32 in memory":
        stored = TensorSamples(stored[:])
    torch.manual_seed(0)
    G, D = build_nets("dcgan", stored.sample_shape, 100, 64)
    trainer = Trainer(G, D, seed=0)
    batches = Batches(stored, 64, seed=0)
    step_ms, fetch_ms = [], []
    for i in range(steps + 3):
        t0 = time.perf_counter()
        trainer.step(batches)
        if i >= 3:
            step_ms.append((time.perf_counter() - t0) * 1e3)
    fetch = Batches(stored, 64, seed=1)
    for _ in range(200):
        t0 = time.perf_counter()
        fetch.device_batch("cpu")
        fetch_ms.append((time.perf_counter() - t0) * 1e3)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"step_ms": statistics.median(step_ms),
                      "fetch_ms": statistics.median(fetch_ms), "peak_mb": peak}))


def step_times(args, prepared: dict[int, Path]) -> None:
    n, path = max(prepared.items())
    sources = ["file", "file, cold", "uint8 in memory"]
    if n <= args.before_max:
        sources.append("float32 in memory")
    print(f"\nDCGAN-64 (width 64, batch 64, 2 threads) on the {n:,}-image prepared set, "
          f"median of {args.steps} steps:\n")
    print("| data | step ms | batch fetch ms | peak RSS MB |\n|---|---|---|---|", flush=True)
    for source in sources:
        out = subprocess.run([sys.executable, __file__, "--child", str(path), source,
                              str(args.steps)], capture_output=True, text=True,
                             env=env_with(Path(args.after_src)))
        if out.returncode != 0:
            print(f"| {source} | failed: {out.stderr.strip().splitlines()[-1:]} | | |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {source} | {r['step_ms']:.0f} | {r['fetch_ms']:.2f} | {r['peak_mb']:,.0f} |",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,50000,200000")
    ap.add_argument("--cache", default="/tmp/ganforge-data-scale")
    ap.add_argument("--before", default="72bfd35", help="the commit measured as 'before'")
    ap.add_argument("--before-max", type=int, default=50000,
                    help="largest set the 'before' code is run on (it holds float32)")
    ap.add_argument("--after-src", default=str(ROOT / "src"), help="the code measured as 'after'")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_steps(args.child[0], args.child[1], int(args.child[2]))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"command: python bench/data_scale.py --sizes {args.sizes} --before {args.before} "
          f"--before-max {args.before_max} --steps {args.steps}")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    Path(args.cache).mkdir(parents=True, exist_ok=True)
    folders = make_folders(Path(args.cache), sizes)
    prepared = startup(args, folders)
    step_times(args, prepared)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
