"""Kill-fuzz: SIGKILL a training run many times (half the kills inside a checkpoint write),
resume it each time, and compare the finished run with one never killed, bit for bit.

    python bench/kill_fuzz.py                  # 3 rounds of 10 kills
    python bench/kill_fuzz.py --rounds 1 --kills 4

Prints one row per round and the totals (kills inside a write, between writes, runs that
finished before the kill, equal to the uninterrupted run). tests/test_kill_fuzz.py runs one
short round.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from killfuzz import fuzz  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True,
                         text=True).stdout.split(":")[-1].strip()
    print(f"# python bench/kill_fuzz.py --rounds {args.rounds} --kills {args.kills} "
          f"--steps {args.steps}   (CPU: {cpu})")
    print("| round | kills in a write | kills between writes | finished first | "
          "equal to uninterrupted | temp files left |")
    print("|---|---|---|---|---|---|")
    total = {"write": 0, "step": 0, "finished": 0, "equal": 0}
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            res = fuzz(Path(tmp), args.kills, args.steps, seed=r)
        print(f"| {r} | {res['write']} | {res['step']} | {res['finished']} | {res['equal']} | "
              f"{res['leftover_temps']} |", flush=True)
        for key in ("write", "step", "finished"):
            total[key] += res[key]
        total["equal"] += int(res["equal"])
    print(f"| total | {total['write']} | {total['step']} | {total['finished']} | "
          f"{total['equal']}/{args.rounds} | |")


if __name__ == "__main__":
    main()
