"""Checkpoints are complete, atomic, pruned, survive SIGKILL mid-write, a full or read-only
disk, and damaged or malicious files (each skip reported with its reason)."""

import builtins
import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import ganforge.checkpoint as checkpoint
from ganforge.callbacks import Checkpointer
from ganforge.checkpoint import (clean_temps, describe_checkpoints, list_checkpoints,
                                 load_checkpoint, load_latest, save_checkpoint, signature,
                                 signature_differences)
from ganforge.errors import UserError
from ganforge.files import ReadError, WriteError
from disks import disk_fills_after, names, remount_read_only, tmpfs

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_save_is_named_by_step_keeps_the_newest_and_leaves_no_temp_file(tmp_path):
    for step in (10, 20, 30, 40):
        save_checkpoint(tmp_path, step, {"step": step, "w": torch.full((3,), float(step))}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000030.pt", "step_0000040.pt"]
    assert sorted(os.listdir(tmp_path)) == ["step_0000030.pt", "step_0000040.pt"]
    latest = load_latest(tmp_path)
    assert latest.path.name == "step_0000040.pt" and latest.state["step"] == 40
    assert torch.equal(latest.state["w"], torch.full((3,), 40.0)) and latest.skipped == []


def test_a_damaged_newest_file_falls_back_to_the_one_before_and_says_why(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, {"step": step, "w": torch.zeros(100)}, keep=5)
    (tmp_path / "step_0000004.pt").write_bytes(b"not a checkpoint")
    third = tmp_path / "step_0000003.pt"
    third.write_bytes(third.read_bytes()[:300])   # truncated, as by a full disk outside ganforge
    with pytest.raises(UserError, match="step_0000004.pt cannot be read: truncated or corrupt"):
        load_checkpoint(tmp_path / "step_0000004.pt")
    latest = load_latest(tmp_path)
    assert latest.path == tmp_path / "step_0000002.pt" and latest.state["step"] == 2
    assert [p.name for p, _ in latest.skipped] == ["step_0000004.pt", "step_0000003.pt"]
    assert latest.skipped[0][1] == ("truncated or corrupt (UnpicklingError: Unsupported operand "
                                    "110); renamed to step_0000004.pt.unreadable")
    assert latest.skipped[1][1] == ("truncated or corrupt (RuntimeError: PytorchStreamReader "
                                    "failed reading zip archive: failed finding central "
                                    "directory); renamed to step_0000003.pt.unreadable")
    assert latest.notes()[1].startswith(f"skipped {third}: truncated or corrupt")
    assert names(tmp_path) == ["step_0000001.pt", "step_0000002.pt", "step_0000003.pt.unreadable",
                               "step_0000004.pt.unreadable"]
    assert describe_checkpoints(tmp_path) == (
        "2 checkpoints, the newest step_0000002.pt; 2 unreadable, set aside: "
        "step_0000003.pt.unreadable, step_0000004.pt.unreadable")
    assert describe_checkpoints(tmp_path / "none") == "no checkpoint yet"


class Payload:
    """Unpickling this runs code: it creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').close()",)


def test_a_malicious_checkpoint_is_refused_set_aside_and_never_run(tmp_path):
    ckpt, marker = tmp_path / "ckpt", tmp_path / "pwned"
    for step in (1, 2):
        save_checkpoint(ckpt, step, {"step": step}, keep=2)
    torch.save({"step": 3, "x": Payload(marker)}, ckpt / "step_0000003.pt")
    # The payload is live: an unsafe load would run it.
    torch.save({"x": Payload(tmp_path / "proof")}, tmp_path / "proof.pt")
    torch.load(tmp_path / "proof.pt", weights_only=False)
    assert (tmp_path / "proof").exists()

    latest = load_latest(ckpt)
    assert latest.state == {"step": 2}
    assert latest.skipped == [(ckpt / "step_0000003.pt", (
        "refused: it contains Python objects that could run code when loaded (weights_only; "
        "it needs exec); renamed to step_0000003.pt.unreadable"))]
    assert not marker.exists()
    # Set aside, it holds none of the keep=2 slots: two good checkpoints remain.
    save_checkpoint(ckpt, 4, {"step": 4}, keep=2)
    assert [p.name for p in list_checkpoints(ckpt)] == ["step_0000002.pt", "step_0000004.pt"]
    assert (ckpt / "step_0000003.pt.unreadable").exists() and not marker.exists()


def test_a_file_that_cannot_be_read_at_all_stops_the_search_and_stays(tmp_path, monkeypatch):
    for step in (1, 2):
        save_checkpoint(tmp_path, step, {"step": step}, keep=5)
    newest = tmp_path / "step_0000002.pt"

    def denied(path, *args, **kwargs):  # root ignores chmod: inject what a user would see
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(checkpoint, "open", denied, raising=False)
    with pytest.raises(ReadError, match=f"cannot read {newest}: permission denied; give "
                                        "yourself read permission"):
        load_latest(tmp_path)
    assert names(tmp_path) == ["step_0000001.pt", "step_0000002.pt"]


def test_no_checkpoint_is_an_empty_record():
    latest = load_latest("/nonexistent/checkpoints")
    assert (latest.path, latest.state, latest.skipped) == (None, None, [])


def run_dir_with_checkpoints(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("steps: 10\n")
    return run


def test_a_full_disk_mid_write_names_the_file_the_intact_one_and_how_to_go_on(tmp_path,
                                                                             monkeypatch):
    run = run_dir_with_checkpoints(tmp_path)
    ckpt = run / "checkpoints"
    first = save_checkpoint(ckpt, 10, {"step": 10}, keep=1)
    big = {"step": 20, "w": torch.randn(2_000_000)}  # 8 MB: several chunks
    with disk_fills_after(monkeypatch, 5_000_000), pytest.raises(WriteError) as info:
        save_checkpoint(ckpt, 20, big, keep=1)
    assert str(info.value) == (
        f"cannot write {ckpt / 'step_0000020.pt'}: no space left on the device (No space left "
        "on device); free some space or choose a directory on another disk. The previous "
        f"checkpoint {first} is intact: continue with `ganforge train --resume {run}` once the "
        "disk has room")
    assert names(ckpt) == ["step_0000010.pt"]
    assert load_latest(ckpt).state == {"step": 10}


def test_a_real_full_disk_keeps_the_previous_checkpoint(tmp_path):
    with tmpfs(tmp_path / "disk", "size=256k") as disk:
        save_checkpoint(disk, 1, {"step": 1, "w": torch.arange(10.0)}, keep=1)
        with pytest.raises(WriteError) as info:
            save_checkpoint(disk, 2, {"step": 2, "w": torch.randn(100_000)}, keep=1)
        assert str(info.value).startswith(f"cannot write {disk / 'step_0000002.pt'}: no space "
                                          "left on the device")
        assert f"The previous checkpoint {disk / 'step_0000001.pt'} is intact" in str(info.value)
        assert names(disk) == ["step_0000001.pt"]
        latest = load_latest(disk)
        assert latest.path.name == "step_0000001.pt" and latest.skipped == []
        assert torch.equal(latest.state["w"], torch.arange(10.0))


def test_a_real_full_disk_first_frees_what_the_rotation_would_delete(tmp_path):
    with tmpfs(tmp_path / "disk", "size=256k") as disk:
        state = lambda step: {"step": step, "w": torch.randn(22_000)}  # ~90 KB each
        for step in (1, 2):
            save_checkpoint(disk, step, state(step), keep=2)
        save_checkpoint(disk, 3, state(3), keep=2)   # fits only once step 1 is gone
        assert names(disk) == ["step_0000002.pt", "step_0000003.pt"]
        assert load_latest(disk).state["step"] == 3


def test_a_disk_gone_read_only_keeps_the_previous_checkpoint(tmp_path):
    with tmpfs(tmp_path / "disk", "size=256k") as disk:
        save_checkpoint(disk, 1, {"step": 1}, keep=3)
        remount_read_only(disk)
        with pytest.raises(WriteError, match=f"cannot write {disk / 'step_0000002.pt'}: the file "
                                             "system is read-only .*step_0000001.pt is intact"):
            save_checkpoint(disk, 2, {"step": 2}, keep=3)
        assert names(disk) == ["step_0000001.pt"] and load_latest(disk).state == {"step": 1}


def test_the_first_checkpoint_failing_says_there_is_none_before(tmp_path, monkeypatch):
    with disk_fills_after(monkeypatch, 100), pytest.raises(
            WriteError, match="No earlier checkpoint of this run exists"):
        save_checkpoint(tmp_path, 5, {"step": 5, "w": torch.zeros(1000)})
    assert names(tmp_path) == []


def test_checkpointer_save_failure_names_the_last_good_checkpoint(tmp_path, monkeypatch):
    G, D = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    trainer = type("T", (), {"G": G, "D": D, "step_count": 10,
                             "state_dict": lambda self: {"G": G.state_dict()}})()
    saver = Checkpointer(tmp_path, every=10, keep=2)
    saver.save(trainer)
    trainer.step_count = 20
    with disk_fills_after(monkeypatch, 10), pytest.raises(
            WriteError, match=f"The previous checkpoint {tmp_path / 'step_0000010.pt'} is intact"):
        saver.save(trainer)
    assert saver.last_step == 10 and names(tmp_path) == ["step_0000010.pt"]


def test_clean_temps_removes_a_dead_processs_partial_checkpoint(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    partial = tmp_path / f".step_0000020.pt.tmp-{dead.pid}"
    partial.write_bytes(b"half a checkpoint")
    assert clean_temps(tmp_path) == [
        f"removed {partial}, a partial checkpoint left by a stopped process"]
    assert names(tmp_path) == []


def test_signature_differences_name_the_tensor_and_both_shapes():
    G1, D1 = torch.nn.Linear(4, 8), torch.nn.Linear(8, 1)
    G2 = torch.nn.Linear(4, 16)
    diffs = signature_differences(signature(G1, D1), signature(G2, D1))
    assert diffs == ["G.bias has shape (8,) in the checkpoint, (16,) now",
                     "G.weight has shape (8, 4) in the checkpoint, (16, 4) now"]
    assert signature_differences(signature(G1, D1), signature(G1, D1)) == []


CHILD = textwrap.dedent("""
    import os, signal, sys, torch
    sys.path.insert(0, {src!r})
    from ganforge.checkpoint import save_checkpoint
    d = sys.argv[1]
    save_checkpoint(d, 1, {{"step": 1, "w": torch.arange(5.0)}})
    if sys.argv[2] == "before-rename":
        os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
    print("first saved", flush=True)
    big = torch.randn(64_000_000)   # ~256 MB: the write takes long enough to be killed mid-way
    save_checkpoint(d, 2, {{"step": 2, "w": big}})
    print("second saved", flush=True)
""")


@pytest.mark.parametrize("when", ["mid-write", "before-rename"])
def test_sigkill_during_a_checkpoint_write_leaves_the_last_good_one(tmp_path, when):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(src=SRC))
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen([sys.executable, str(script), str(ckpt), when],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "first saved"
    if when == "mid-write":
        deadline = time.time() + 60
        while time.time() < deadline:   # kill once the temporary file is partly written
            tmps = list(ckpt.glob(".step_0000002.pt.tmp-*"))
            if tmps and tmps[0].stat().st_size > 1_000_000:
                break
            time.sleep(0.005)
        else:
            pytest.fail("the child never started writing the second checkpoint")
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert [p.name for p in list_checkpoints(ckpt)] == ["step_0000001.pt"]
    latest = load_latest(ckpt)
    assert latest.state["step"] == 1 and torch.equal(latest.state["w"], torch.arange(5.0))
    # The next save cleans up the orphaned temporary file.
    save_checkpoint(ckpt, 3, {"step": 3})
    assert sorted(os.listdir(ckpt)) == ["step_0000001.pt", "step_0000003.pt"]
