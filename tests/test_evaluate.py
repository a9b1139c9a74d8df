"""`ganforge eval` end to end on tiny runs, and metrics during training (eval.every)."""

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from ganforge.cli import main
from ganforge.errors import UserError
from ganforge.evaluate import pick_generator
from ganforge.metrics.classifier import WEIGHTS

RING = ["data=ring8", "model=mlp", "model.width=16", "model.z_dim=4", "batch_size=32",
        "log_every=5", "sample_every=0", "checkpoint_every=10", "tensorboard=false"]
FMNIST = ["data=fashion-mnist", "data.limit=200", "model.width=8", "model.z_dim=8",
          "batch_size=16", "steps=2", "sample_every=0", "checkpoint_every=2",
          "tensorboard=false"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))


def train(run_dir, *args):
    assert main(["train", "--no-progress", f"run_dir={run_dir}", *args]) == 0


def eval_json(run_dir):
    return json.loads((Path(run_dir) / "eval.json").read_text())["evaluations"]


class Head(nn.Module):
    """A TorchScript-able feature network for 28x28 images: 6 features, 3 logits."""

    def __init__(self):
        super().__init__()
        self.body, self.out = nn.Linear(784, 6), nn.Linear(6, 3)

    @torch.jit.export
    def features(self, x):
        return torch.tanh(self.body(x.flatten(1)))

    def forward(self, x):
        return self.out(self.features(x))


def test_eval_ring8_modes_and_two_runs_side_by_side(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    train(a, *RING, "steps=20")
    train(b, *RING, "steps=10", "seed=1")
    capsys.readouterr()
    assert main(["eval", str(a), str(b), "--n", "2500"]) == 0
    table = capsys.readouterr().out
    assert "a@20" in table and "b@10" in table and "reverse_kl" in table
    [entry] = eval_json(a)
    values = {v["metric"]: v for v in entry["values"]}
    assert set(values) == {"modes", "high_quality", "reverse_kl"}
    v = values["modes"]
    assert 0 <= v["value"] <= 8 and v["n_fake"] == 2500 and v["n_real"] == 0
    assert (v["reference"], v["generator"], v["seed"], v["step"]) == ("ring8/train", "G", 0, 20)
    # Evaluating again at the same step replaces the entry instead of duplicating it.
    assert main(["eval", str(a), "--n", "2500"]) == 0
    assert len(eval_json(a)) == 1


def test_eval_images_with_a_torchscript_feature_net(tmp_path, capsys):
    run = tmp_path / "img"
    train(run, *FMNIST)
    net = tmp_path / "head.pt"
    torch.jit.save(torch.jit.script(Head()), str(net))
    args = ["eval", str(run), "--metrics", "fid,kid,pr,dc,is,classes", "--feature-net", str(net)]
    assert main([*args, "--n", "100"]) == 0
    [entry] = eval_json(run)
    values = {v["metric"]: v for v in entry["values"]}
    assert set(values) == {"fid", "kid", "kid_std", "precision", "recall", "density",
                           "coverage", "is", "is_std", "class_kl", "classes_covered"}
    assert all(math.isfinite(v["value"]) for v in values.values())
    fid = values["fid"]
    assert fid["feature_net"] == "head.pt" and len(fid["feature_net_sha256"]) == 64
    assert (fid["n_fake"], fid["n_real"], fid["reference"]) == (100, 100, "fashion-mnist/train")
    assert 1.0 <= values["is"]["value"] <= 3.0
    # Another sample count would sit beside the stored values: refused, with the fix.
    capsys.readouterr()
    assert main([*args, "--n", "50"]) == 2
    err = capsys.readouterr().err
    assert "n_fake: 100 vs 50" in err and "--replace" in err
    assert main([*args, "--n", "50", "--replace"]) == 0
    assert eval_json(run)[0]["values"][0]["n_fake"] == 50


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="classifier weights not trained yet")
def test_eval_images_with_the_default_classifier(tmp_path, capsys):
    run = tmp_path / "img"
    train(run, *FMNIST)
    assert main(["eval", str(run), "--n", "200"]) == 0  # auto: fid, kid, pr, dc, is, classes
    names = {v["metric"] for v in eval_json(run)[0]["values"]}
    assert {"fid", "kid", "precision", "density", "is", "classes_covered"} <= names
    out = capsys.readouterr()
    assert "ganforge-fmnist-classifier" in out.out and "cached in" in out.err
    # Second time the reference features come from the cache.
    assert main(["eval", str(run), "--n", "200"]) == 0
    assert "read from" in capsys.readouterr().err


def test_eval_user_errors(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert "not a ganforge run directory" in capsys.readouterr().err
    run = tmp_path / "r"
    train(run, *RING, "steps=10")
    for args, words in ((["--metrics", "fdi"], "did you mean 'fid'"),
                        (["--metrics", "is"], "no classifier head"),
                        (["--ema"], "no G_ema"),
                        (["--reference", "test"], "only for fashion-mnist"),
                        (["--feature-net", str(tmp_path / "none.pt"), "--metrics", "fid"],
                         "does not exist")):
        capsys.readouterr()
        assert main(["eval", str(run), "--n", "100", *args]) == 2, args
        assert words in capsys.readouterr().err, args


def test_pick_generator_prefers_G_ema():
    G, G_ema = nn.Linear(1, 1), nn.Linear(1, 1)
    with_ema = SimpleNamespace(G=G, G_ema=G_ema, G_sample=G_ema)
    without = SimpleNamespace(G=G, G_ema=None, G_sample=G)
    assert pick_generator(with_ema, None) == (G_ema, "G_ema")
    assert pick_generator(with_ema, True) == (G_ema, "G_ema")
    assert pick_generator(with_ema, False) == (G, "G")
    assert pick_generator(without, None) == (G, "G")
    assert pick_generator(without, False) == (G, "G")
    with pytest.raises(UserError, match="no G_ema"):
        pick_generator(without, True)


def test_training_with_eval_every_writes_metric_rows(tmp_path):
    run = tmp_path / "r"
    train(run, *RING[:-1], "steps=20", "eval.every=10", "eval.metrics=modes,fid,pr",
          "eval.n=500")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    metric_rows = [r for r in rows if "metric/fid" in r]
    assert [r["step"] for r in metric_rows] == [10, 20]
    for r in metric_rows:
        assert 0 <= r["metric/modes"] <= 8 and r["metric/fid"] >= 0
        assert 0 <= r["metric/precision"] <= 1
    assert [r["step"] for r in rows if "loss/D" in r] == [5, 10, 15, 20]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    assert {"metric/fid", "metric/modes", "loss/D"} <= set(acc.Tags()["scalars"])
    # Evaluation settings may change on resume: they do not change training.
    assert main(["train", "--no-progress", "--resume", str(run), "steps=30", "eval.every=15",
                 "eval.metrics=modes", "eval.n=500"]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "metric/modes" in r] == [10, 20, 30]


def test_eval_config_is_validated():
    assert main(["train", "--dry-run", *RING, "eval.every=-1"]) == 2
    assert main(["train", "--dry-run", *RING, "eval.n=0"]) == 2


def test_evaluation_during_training_does_not_change_training(tmp_path):
    from ganforge.checkpoint import load_checkpoint

    train(tmp_path / "plain", *RING, "steps=10")
    train(tmp_path / "eval", *RING, "steps=10", "eval.every=5", "eval.metrics=modes,kid",
          "eval.n=300")
    a = load_checkpoint(tmp_path / "plain/checkpoints/step_0000010.pt")
    b = load_checkpoint(tmp_path / "eval/checkpoints/step_0000010.pt")
    for net in ("G", "D"):
        assert a[net].keys() == b[net].keys()
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net
