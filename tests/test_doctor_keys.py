"""Every stat key a detector reads is written by some configuration: no detector waits for a
signal that nothing produces (``diag/nonfinite`` once was such a key)."""

import json
import re
from pathlib import Path

import pytest

from ganforge.cli import main

DETECTORS = Path(__file__).resolve().parents[1] / "src/ganforge/doctor/detectors.py"
KEY = re.compile(r'"((?:loss|logits|diag|metric|reg|balance|lr|time|ema)/[A-Za-z_]+)"')
SLICE = str(Path(__file__).resolve().parents[1] / "src/ganforge/data/fashion_mnist_slice")
RUNS = {
    "points": ["data=ring8", "model=mlp", "model.width=8", "model.z_dim=2", "batch_size=32",
               "steps=8", "eval.every=4", "eval.n=100"],
    "images": [f"data.root={SLICE}", "data.limit=256", "model.width=8", "batch_size=16",
               "steps=4", "eval.every=4", "eval.n=64", "balance=ratio"],
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    keys = set()
    for name, args in RUNS.items():
        run = tmp_path_factory.mktemp(name) / "run"
        assert main(["train", "--no-progress", *args, "log_every=2", "sample_every=0",
                     "tensorboard=false", f"run_dir={run}"]) == 0
        # The diversity probe measures every 250 steps (rounded to log_every): too rare for a
        # few steps, so its keys come from one direct measurement below.
        for line in (run / "metrics.jsonl").read_text().splitlines():
            keys |= set(json.loads(line))
    return keys


PROBE_KEYS = {"diag/diversity", "diag/duplicates"}   # test_the_diversity_probe_writes_its_keys


def test_every_key_a_detector_reads_is_written(written):
    read = set(KEY.findall(DETECTORS.read_text()))
    assert read, "the pattern found no keys: it no longer matches the detectors' code"
    missing = sorted(read - written - PROBE_KEYS)
    assert missing == [], f"detectors read keys nothing writes: {missing}"


def test_the_diversity_probe_writes_its_keys():
    import torch

    from conftest import mlp_pair
    from ganforge import Trainer
    from ganforge.doctor.callback import DiversityProbe

    G, D = mlp_pair()
    probe = DiversityProbe(torch.randn(64, 2), every=1, n=16)
    seen = []
    tracker = type("T", (), {"on_fit_start": lambda *a: None, "on_fit_end": lambda *a: None,
                             "on_step_end": lambda self, t, s: seen.append(dict(s))})()
    Trainer(G, D, seed=0, callbacks=[probe, tracker]).fit(torch.randn(64, 2), steps=1,
                                                          batch_size=16)
    assert PROBE_KEYS <= set(seen[0])
