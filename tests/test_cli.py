"""The CLI end to end on tiny configs: every file of the run directory, resume, errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ganforge.checkpoint import list_checkpoints, load_checkpoint
from ganforge.cli import main

SLICE = str(Path(__file__).resolve().parents[1] / "src/ganforge/data/fashion_mnist_slice")
RING = ["data=ring8", "model=mlp", "model.width=16", "model.z_dim=4", "batch_size=32",
        "log_every=5", "sample_every=10", "checkpoint_every=10", "keep_checkpoints=2"]


def train(run_dir, *extra, resume=False):
    args = ["train", "--no-progress"]
    args += ["--resume", str(run_dir)] if resume else [f"run_dir={run_dir}"]
    return main(args + list(extra))


def test_train_writes_every_file_of_the_run_directory(tmp_path, capsys):
    run = tmp_path / "run"
    assert train(run, *RING, "steps=25") == 0
    err = capsys.readouterr().err
    assert "Training plan" in err and "opt_D = Adam(lr=0.0008" in err
    assert "ring of 8" in err or "ring8" in err
    assert sorted(os.listdir(run)) == ["checkpoints", "config.yaml", "metrics.jsonl", "samples",
                                       "tb"]
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["data"]["name"] == "ring8" and cfg["steps"] == 25 and cfg["run_dir"] == str(run)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 15, 20, 25]
    for key in ("loss/D", "loss/G", "logits/real", "logits/fake", "time/step_ms", "images_seen"):
        assert all(np.isfinite(r[key]) for r in rows), key
    assert rows[-1]["images_seen"] == 25 * 32
    assert sorted(os.listdir(run / "samples")) == [
        "step_0000000.png", "step_0000010.png", "step_0000020.png", "step_0000025.png"]
    image = np.asarray(Image.open(run / "samples/step_0000025.png"))
    assert image.ndim == 3 and image.shape[2] == 3 and image.std() > 0
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == [
        "step_0000020.pt", "step_0000025.pt"]
    state = load_checkpoint(run / "checkpoints/step_0000025.pt")
    assert {"G", "D", "opt_G", "opt_D", "sched_G", "sched_D", "counters", "rng", "data",
            "config", "signature", "version"} <= state.keys()
    assert state["counters"] == {"step": 25, "images_seen": 800}
    events = list((run / "tb").iterdir())
    assert events and events[0].name.startswith("events.out.tfevents")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(run / "tb"), size_guidance={"images": 0})
    acc.Reload()
    assert {"loss/D", "loss/G", "logits/real", "logits/fake"} <= set(acc.Tags()["scalars"])
    assert "samples" in acc.Tags()["images"]


def test_fashion_mnist_images_end_to_end(tmp_path):
    run = tmp_path / "fm"
    assert train(run, f"data.root={SLICE}", "data.limit=256", "model.width=8", "batch_size=16",
                 "steps=4", "sample_every=2", "n_samples=16", "tensorboard=false") == 0
    grid = np.asarray(Image.open(run / "samples/step_0000004.png"))
    assert grid.shape[:2] == (4 * 28 + 5 * 2, 4 * 28 + 5 * 2)


def test_resume_continues_exactly_like_the_uninterrupted_run(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    assert train(full, *RING, "steps=30", "model.d_dropout=0.2") == 0
    assert train(part, *RING, "steps=15", "model.d_dropout=0.2") == 0
    assert train(part, "steps=30", resume=True) == 0
    a = load_checkpoint(full / "checkpoints/step_0000030.pt")
    b = load_checkpoint(part / "checkpoints/step_0000030.pt")
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    for opt in ("opt_G", "opt_D"):
        for i, s in a[opt]["state"].items():
            for k, v in s.items():
                assert torch.equal(v, b[opt]["state"][i][k]), (opt, i, k)
    rows = lambda p: [json.loads(x) for x in (p / "metrics.jsonl").read_text().splitlines()]
    strip = lambda r: {k: v for k, v in r.items() if not k.startswith("time/")}
    assert [strip(r) for r in rows(full)] == [strip(r) for r in rows(part)]
    # The interrupted run also drew a grid where it stopped (step 15); the rest line up.
    assert set(os.listdir(part / "samples")) - set(os.listdir(full / "samples")) == \
        {"step_0000015.png"}
    for name in os.listdir(full / "samples"):
        assert (full / "samples" / name).read_bytes() == (part / "samples" / name).read_bytes()


def test_resume_with_a_different_model_says_what_differs(tmp_path, capsys):
    run = tmp_path / "run"
    assert train(run, *RING, "steps=10") == 0
    assert train(run, "model.width=32", resume=True) == 2
    err = capsys.readouterr().err
    assert "cannot resume with a different setup: model.width: 16 in the run, 32 now" in err
    # A config.yaml edited behind ganforge's back: the checkpoint's own config tells.
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["model"]["width"] = 24
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert train(run, resume=True) == 2
    err = capsys.readouterr().err
    assert "config.yaml was changed after step_0000010.pt was written" in err
    assert "model.width: 16 in the checkpoint, 24 in config.yaml" in err


def test_a_run_directory_is_never_overwritten(tmp_path, capsys):
    run = tmp_path / "run"
    assert train(run, *RING, "steps=10") == 0
    assert train(run, *RING, "steps=10") == 2
    assert "already holds a run" in capsys.readouterr().err


def test_divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    code = train(run, *RING, "steps=200", "checkpoint_every=1", "optim_D.name=sgd",
                 "optim_G.name=sgd", "lr_D=100", "lr_G=100")
    err = capsys.readouterr().err
    assert code == 2 and "became nan at step" in err and "Traceback" not in err
    step = int(err.split("became nan at step ")[1].split(";")[0])
    last = list_checkpoints(run / "checkpoints")[-1]
    assert last.name == f"step_{step - 1:07d}.pt"
    state = load_checkpoint(last)
    assert all(torch.isfinite(v).all() for net in ("G", "D") for v in state[net].values()
               if v.is_floating_point())


def test_plan_and_dry_run(tmp_path, capsys):
    assert main(["plan", *RING, "loss=hinge", "d_steps=5", "lr_D=4e-4"]) == 0
    out = capsys.readouterr().out
    assert "phase D  x5 per iteration" in out and "opt_D = Adam(lr=0.0004" in out
    assert main(["train", "--dry-run", *RING, f"run_dir={tmp_path / 'dry'}"]) == 0
    assert "Training plan" in capsys.readouterr().out
    assert not (tmp_path / "dry").exists()


def test_sample_command(tmp_path, capsys):
    run = tmp_path / "run"
    assert train(run, *RING, "steps=5") == 0
    out = tmp_path / "grid.png"
    assert main(["sample", str(run), "-n", "100", "-o", str(out)]) == 0
    assert np.asarray(Image.open(out)).shape == (512, 512, 3)
    assert main(["sample", str(tmp_path / "nothing")]) == 2


@pytest.mark.parametrize("args,message", [
    (["train", "lr_g=1"], "unknown config key 'lr_g' (did you mean 'lr_G'?)"),
    (["train", "data=/no/such/file.npy"], "/no/such/file.npy"),
    (["train", "data=ring8", "model=dcgan"], "model=dcgan needs image data"),
    (["train", "--resume", "/no/such/run"], "/no/such/run does not exist"),
])
def test_user_mistakes_are_one_line_without_traceback(args, message):
    proc = subprocess.run([sys.executable, "-m", "ganforge.cli", *args], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


def test_a_training_process_killed_with_sigkill_resumes_exactly(tmp_path):
    import signal
    import time

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "ganforge.cli", "train", "--no-progress",
                             *RING, "steps=1000000", "checkpoint_every=7", "sample_every=0",
                             f"run_dir={killed}"], stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list_checkpoints(killed / "checkpoints")) < 2:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    last = list_checkpoints(killed / "checkpoints")[-1]
    step = load_checkpoint(last)["counters"]["step"]
    assert step >= 14 and step % 7 == 0
    assert train(killed, f"steps={step + 10}", resume=True) == 0

    straight = tmp_path / "straight"
    assert train(straight, *RING, f"steps={step + 10}", "checkpoint_every=7",
                 "sample_every=0") == 0
    a = load_checkpoint(list_checkpoints(straight / "checkpoints")[-1])
    b = load_checkpoint(list_checkpoints(killed / "checkpoints")[-1])
    assert a["counters"] == b["counters"] == {"step": step + 10, "images_seen": (step + 10) * 32}
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    rows = [json.loads(x) for x in (killed / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows]
    assert steps == sorted(set(steps)) and steps[-1] == step + 10   # no lines from after the kill


def test_seed_004_data_saved_in_0_1_is_caught_and_auto_rescaled(tmp_path, capsys):
    from ganforge.data import load_dataset
    images = (load_dataset("fashion-mnist", root=SLICE, limit=128).x + 1) / 2   # [0, 1]
    np.save(tmp_path / "faces.npy", images.numpy())
    args = [f"data={tmp_path / 'faces.npy'}", "model.width=8", "batch_size=16", "steps=2",
            "tensorboard=false"]
    assert train(tmp_path / "a", *args) == 2
    err = capsys.readouterr().err
    assert "[0, 1]" in err and "tanh" in err and "data.scale=auto" in err
    assert not (tmp_path / "a").exists()          # nothing was written for a bad start
    assert train(tmp_path / "b", *args, "data.scale=auto") == 0
    assert "rescaled" in capsys.readouterr().err


def test_image_folder_end_to_end(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    assert train(tmp_path / "run", f"data={folder}", "model.width=8", "batch_size=8", "steps=2",
                 "tensorboard=false", "n_samples=4") == 0
    grid = np.asarray(Image.open(tmp_path / "run/samples/step_0000002.png"))
    assert grid.shape == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2, 3)
