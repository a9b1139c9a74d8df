"""Kill a training process again and again, some kills inside a checkpoint write, then finish
the run with ``--resume`` and compare it with the run that was never killed.

Used by tests/test_kill_fuzz.py (a few kills) and bench/kill_fuzz.py (many).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from ganforge.checkpoint import list_checkpoints, load_checkpoint

SLICE = str(Path(__file__).resolve().parents[1] / "src/ganforge/data/fashion_mnist_slice")
# A DCGAN checkpoint of ~11 MB written every step: about a tenth of the process's time is spent
# inside checkpoint writes, so kills land there.
ARGS = [f"data.root={SLICE}", "data.limit=256", "model.width=32", "batch_size=16",
        "checkpoint_every=1", "keep_checkpoints=2", "log_every=1", "sample_every=0",
        "tensorboard=false", "model.d_dropout=0.2"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ganforge", "train", "--no-progress", *args]


def _temps(run: Path) -> list[Path]:
    return list((run / "checkpoints").glob(".step_*.pt.tmp-*"))


def kill_once(run: Path, steps: int, in_write: bool, rng: random.Random,
              first: bool) -> str:
    """Start (or resume) the run and SIGKILL it: as soon as a checkpoint's temporary file
    appears (``in_write``), or after a random time. Returns what was hit: "write", "step" or
    "finished" (the run ended before the kill)."""
    args = ARGS + [f"steps={steps}"]
    cmd = _cli(*args, f"run_dir={run}") if first else _cli("--resume", str(run), f"steps={steps}")
    before = {p.name for p in list_checkpoints(run / "checkpoints")}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    if in_write:   # wait for the first checkpoint of this process, then for a write
        while time.time() < deadline and proc.poll() is None and (
                {p.name for p in list_checkpoints(run / "checkpoints")} == before):
            time.sleep(0.01)
        while time.time() < deadline and proc.poll() is None and not _temps(run):
            time.sleep(0.0005)
    else:
        while time.time() < deadline and proc.poll() is None and (
                {p.name for p in list_checkpoints(run / "checkpoints")} == before):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.6))
    if proc.poll() is not None:
        return "finished"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return "write" if _temps(run) else "step"


def fuzz(tmp: Path, kills: int, steps: int, seed: int = 0) -> dict:
    """``kills`` SIGKILLs (alternately inside a write and at a random time), then resume to
    ``steps``; returns counts and whether the result equals the uninterrupted run."""
    rng = random.Random(seed)
    run, straight = tmp / "killed", tmp / "straight"
    hits = {"write": 0, "step": 0, "finished": 0}
    for i in range(kills):
        hit = kill_once(run, steps, in_write=i % 2 == 0, rng=rng, first=i == 0)
        hits[hit] += 1
        for path in list_checkpoints(run / "checkpoints"):   # never a torn checkpoint
            load_checkpoint(path)
    done = subprocess.run(_cli("--resume", str(run), f"steps={steps}"), capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    subprocess.run(_cli(*ARGS, f"steps={steps}", f"run_dir={straight}"), check=True,
                   capture_output=True)
    a = load_checkpoint(list_checkpoints(straight / "checkpoints")[-1])
    b = load_checkpoint(list_checkpoints(run / "checkpoints")[-1])
    equal = a["counters"] == b["counters"] and all(
        torch.equal(a[net][k], b[net][k]) for net in ("G", "D") for k in a[net])
    return {**hits, "equal": equal, "leftover_temps": len(_temps(run))}
