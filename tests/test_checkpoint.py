"""Checkpoints are complete, atomic, pruned, and survive SIGKILL mid-write."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from ganforge.checkpoint import (list_checkpoints, load_checkpoint, load_latest, save_checkpoint,
                                 signature, signature_differences)
from ganforge.errors import UserError

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_save_is_named_by_step_keeps_the_newest_and_leaves_no_temp_file(tmp_path):
    for step in (10, 20, 30, 40):
        save_checkpoint(tmp_path, step, {"step": step, "w": torch.full((3,), float(step))}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000030.pt", "step_0000040.pt"]
    assert sorted(os.listdir(tmp_path)) == ["step_0000030.pt", "step_0000040.pt"]
    path, state = load_latest(tmp_path)
    assert path.name == "step_0000040.pt" and state["step"] == 40
    assert torch.equal(state["w"], torch.full((3,), 40.0))


def test_a_damaged_newest_file_falls_back_to_the_one_before(tmp_path):
    save_checkpoint(tmp_path, 1, {"step": 1}, keep=5)
    (tmp_path / "step_0000002.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot be read"):
        load_checkpoint(tmp_path / "step_0000002.pt")
    path, state = load_latest(tmp_path)
    assert state == {"step": 1}


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
    path, state = load_latest(ckpt)
    assert state["step"] == 1 and torch.equal(state["w"], torch.arange(5.0))
    # The next save cleans up the orphaned temporary file.
    save_checkpoint(ckpt, 3, {"step": 3})
    assert sorted(os.listdir(ckpt)) == ["step_0000001.pt", "step_0000003.pt"]
