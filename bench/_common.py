"""What the quality benches share: mean ± std, and running seeds side by side."""

from __future__ import annotations

import multiprocessing
import statistics


def fmt(vals: list[float], digits: int = 2) -> str:
    """mean ± std (sample std; 0 for one value); "-" for none."""
    if not vals:
        return "-"
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{statistics.mean(vals):.{digits}f} ± {sd:.{digits}f}"


def add_parallel_args(ap) -> None:
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs in parallel, one thread each (default: one run, 2 threads)")
    ap.add_argument("--threads", type=int, default=None, help="threads per run")


def threads_per_run(args) -> int:
    return args.threads or (1 if args.jobs > 1 else 2)


def run_all(fn, jobs: list[tuple], parallel: int) -> list:
    """``fn(*job)`` for every job, ``parallel`` processes at a time (spawned: each sets its
    own thread count); results in the order of ``jobs``. One job per hand-out, so no process
    idles while another has several runs queued."""
    if parallel > 1:
        with multiprocessing.get_context("spawn").Pool(parallel) as pool:
            return pool.starmap(fn, jobs, chunksize=1)
    return [fn(*job) for job in jobs]


def save_grid(trainer, folder: str | None, name: str, seed: int, n: int = 100) -> None:
    """Seed 0's sample grid (``n`` samples of G_ema or G; a class grid for a conditional
    run; a scatter plot for 2-D points) as ``folder/<name>.png``."""
    if folder is None or seed != 0:
        return
    from pathlib import Path

    from ganforge.images import sample_grid
    Path(folder).mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_=" else "_" for c in name)
    sample_grid(trainer, n=n, seed=0).save(Path(folder) / f"{safe}.png")
