"""Time and peak memory of fid, kid, precision/recall and density/coverage at 10k and 50k.

    python bench/metrics_scale.py                       # 10,000 and 50,000 samples, 64-d
    python bench/metrics_scale.py --sizes 50000 --dim 128

Each (metric, size) runs in its own subprocess with 2 threads, so the peak resident memory
(ru_maxrss) is that computation's alone; "peak MB" is the whole process (Python, torch and
both feature sets included), "+MB" the part above the process right before the metric ran.
"CPU s" is user + system time of the metric (less sensitive than wall time to other load on
the machine; the load average is printed before and after).
Features are random Gaussians (real and fake with different means): the cost does not depend
on the values.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

METRICS = ("fid", "kid", "pr", "dc")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KB


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child(metric: str, n: int, dim: int) -> None:
    import torch

    from ganforge.metrics import density_coverage, fid, kid, precision_recall

    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(0)
    real = torch.randn(n, dim, generator=g)
    fake = torch.randn(n, dim, generator=g) + 0.1
    fn = {"fid": lambda: fid(real, fake), "kid": lambda: kid(real, fake),
          "pr": lambda: precision_recall(real, fake), "dc": lambda: density_coverage(real, fake)}
    base, cpu0 = _rss_mb(), _cpu_s()
    t0 = time.perf_counter()
    value = fn[metric]()
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "cpu_s": _cpu_s() - cpu0, "peak_mb": _rss_mb(),
                      "base_mb": base, "value": value}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--metrics", default=",".join(METRICS))
    ap.add_argument("--child", nargs=3, metavar=("METRIC", "N", "DIM"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    print(f"command: python bench/metrics_scale.py --sizes {args.sizes} --dim {args.dim} "
          f"--metrics {args.metrics}")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| metric | samples (real = fake) | dim | wall s | CPU s | peak MB | +MB |")
    print("|---|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        for metric in args.metrics.split(","):
            out = subprocess.run([sys.executable, __file__, "--child", metric, str(n),
                                  str(args.dim)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {metric} | {n:,} | {args.dim} | {r['seconds']:.1f} | {r['cpu_s']:.1f} | "
                  f"{r['peak_mb']:.0f} | {r['peak_mb'] - r['base_mb']:.0f} |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
