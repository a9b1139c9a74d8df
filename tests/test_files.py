"""The files layer: atomic writes, appends and directories that fail with one clean message
naming the path and the fix, leave nothing half-written, and reads that survive a torn line.

Disk-full and read-only cases run twice: on a real tmpfs (mounting needs root; skipped with the
reason where it is not allowed) and by fault injection (everywhere).
"""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from disks import disk_fills_after, fill, names, tmpfs
from ganforge.callbacks import JSONLLogger
from ganforge.files import (WriteError, append_line, check_writable, make_dirs, read_jsonl,
                            remove_stale_temps, write_atomic)

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_files_imports_without_torch():
    code = "import sys, ganforge.files; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": SRC}, check=True)
    assert out.stdout.strip() == "False"


def test_write_atomic_replaces_the_file_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "a.json"
    assert write_atomic(path, "old\n") == path
    write_atomic(path, b"new" * 1000, chunk_bytes=7)
    assert path.read_bytes() == b"new" * 1000
    assert names(tmp_path) == ["a.json"]


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "no space left on the device (No space left on device); free some space"),
    (errno.EROFS, "the file system is read-only (Read-only file system); choose a directory "
                  "on a writable disk"),
    (errno.EACCES, "permission denied; choose a directory you can write to"),
    (errno.EDQUOT, "your disk quota is used up"),
    (errno.EFBIG, "the file is larger than this file system allows"),
    (errno.ETXTBSY, "Text file busy; check the path and the disk"),
])
def test_write_error_messages_name_the_path_the_reason_and_the_fix(tmp_path, code, words):
    err = WriteError(tmp_path / "x.pt", OSError(code, os.strerror(code)))
    assert str(err).startswith(f"cannot write {tmp_path / 'x.pt'}: {words}")
    assert err.path == tmp_path / "x.pt" and err.errno == code


def test_a_note_goes_after_the_fix(tmp_path):
    err = WriteError(tmp_path / "x.pt", OSError(errno.ENOSPC, "No space left on device"))
    assert str(err.with_note("The previous checkpoint y.pt is intact")) == (
        f"cannot write {tmp_path / 'x.pt'}: no space left on the device (No space left on "
        "device); free some space or choose a directory on another disk. The previous "
        "checkpoint y.pt is intact")


def test_write_atomic_on_a_real_full_disk_keeps_the_old_file_and_no_temp(tmp_path):
    with tmpfs(tmp_path / "disk", "size=256k") as disk:
        path = disk / "eval.json"
        write_atomic(path, "old\n")
        with pytest.raises(WriteError) as info:
            write_atomic(path, os.urandom(1 << 20))
        assert str(info.value).startswith(f"cannot write {path}: no space left on the device")
        assert path.read_text() == "old\n" and names(disk) == ["eval.json"]


def test_write_atomic_when_the_disk_fills_mid_write(tmp_path, monkeypatch):
    path = tmp_path / "grid.png"
    write_atomic(path, b"old")
    with disk_fills_after(monkeypatch, 5000), pytest.raises(WriteError, match="no space left"):
        write_atomic(path, b"x" * 20000, chunk_bytes=4096)
    assert path.read_bytes() == b"old" and names(tmp_path) == ["grid.png"]


def test_append_line_on_a_real_full_disk_never_leaves_a_torn_line(tmp_path):
    with tmpfs(tmp_path / "disk", "size=256k") as disk:
        path = disk / "metrics.jsonl"
        line = json.dumps({"step": 0, "pad": "x" * 990})  # 1,012 bytes: not page-aligned
        with pytest.raises(WriteError, match=f"cannot write {path}: no space left"):
            for _ in range(1000):
                append_line(path, line)
        text = path.read_text()
        assert text.endswith("\n") and len(text) % (len(line) + 1) == 0
        rows, notes = read_jsonl(path)
        assert len(rows) == len(text) // (len(line) + 1) > 200 and notes == []


def test_append_line_cut_back_when_the_disk_fills_mid_line(tmp_path, monkeypatch):
    path = tmp_path / "findings.jsonl"
    append_line(path, '{"step": 1}')
    with disk_fills_after(monkeypatch, 4), pytest.raises(WriteError, match="no space left"):
        append_line(path, '{"step": 2}')
    assert path.read_text() == '{"step": 1}\n'
    append_line(path, '{"step": 3}\n')
    assert path.read_text() == '{"step": 1}\n{"step": 3}\n'


def test_check_writable_catches_a_full_disk(tmp_path):
    with tmpfs(tmp_path / "disk", "size=64k") as disk:
        check_writable(disk / "run")
        fill(disk / "filler")
        with pytest.raises(WriteError, match=f"cannot write {disk / 'run'}: no space left"):
            check_writable(disk / "run")
        assert names(disk / "run") == []


def test_check_writable_without_create_leaves_nothing_behind(tmp_path):
    assert check_writable(tmp_path / "runs" / "a", create=False) == tmp_path / "runs" / "a"
    assert names(tmp_path) == []
    (tmp_path / "f").write_text("x")
    for target in (tmp_path / "f", tmp_path / "f" / "run"):
        with pytest.raises(WriteError, match="is a file, not a directory"):
            check_writable(target, create=False)
    with tmpfs(tmp_path / "disk", "ro", "size=64k") as disk:
        with pytest.raises(WriteError, match=f"cannot write {disk / 'run'}: the file system is "
                                             "read-only"):
            check_writable(disk / "run", create=False)


def test_a_read_only_disk_is_caught_by_every_write_and_by_check_writable(tmp_path):
    with tmpfs(tmp_path / "disk", "ro", "size=64k") as disk:
        for write in (lambda: write_atomic(disk / "a.json", "{}"),
                      lambda: append_line(disk / "metrics.jsonl", "{}"),
                      lambda: make_dirs(disk / "samples"),
                      lambda: check_writable(disk),
                      lambda: check_writable(disk / "run")):
            with pytest.raises(WriteError, match="the file system is read-only"):
                write()
        assert names(disk) == []


def test_a_file_where_a_directory_is_expected(tmp_path):
    (tmp_path / "run").write_text("I am a file")
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'run'}: it is a file, not "
                                         "a directory"):
        make_dirs(tmp_path / "run")
    for write in (lambda: make_dirs(tmp_path / "run" / "samples"),
                  lambda: write_atomic(tmp_path / "run" / "eval.json", "{}"),
                  lambda: append_line(tmp_path / "run" / "metrics.jsonl", "{}"),
                  lambda: check_writable(tmp_path / "run" / "checkpoints")):
        with pytest.raises(WriteError, match=f": {tmp_path / 'run'} is a file, not a "
                                             "directory .*remove or rename that file"):
            write()
    assert (tmp_path / "run").read_text() == "I am a file"


def test_a_directory_where_a_file_is_expected(tmp_path):
    (tmp_path / "eval.json").mkdir()
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'eval.json'}: the path is "
                                         "a directory .*give a file name"):
        write_atomic(tmp_path / "eval.json", "{}")
    assert names(tmp_path) == ["eval.json"] and names(tmp_path / "eval.json") == []


def test_remove_stale_temps_keeps_a_live_writers_file(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for pid in (dead.pid, live.pid, os.getpid()):
            (tmp_path / f".step_0000010.pt.tmp-{pid}").write_bytes(b"partial")
        (tmp_path / "step_0000005.pt").write_bytes(b"complete")
        done = remove_stale_temps(tmp_path, ".step_*.pt.tmp-*")
    finally:
        live.kill()
        live.wait()
    assert sorted(p.name for p in done.removed) == sorted(
        f".step_0000010.pt.tmp-{pid}" for pid in (dead.pid, os.getpid()))
    assert done.in_use == [(tmp_path / f".step_0000010.pt.tmp-{live.pid}", live.pid)]
    assert names(tmp_path) == [f".step_0000010.pt.tmp-{live.pid}", "step_0000005.pt"]


def test_read_jsonl_skips_a_torn_last_line_with_a_note(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 5}\n{"step": 10}\n{"step": 1')
    rows, notes = read_jsonl(path)
    assert rows == [{"step": 5}, {"step": 10}]
    assert notes == ["the last line of metrics.jsonl is incomplete and was skipped (the run "
                     "was stopped while writing it)"]
    assert read_jsonl(tmp_path / "missing.jsonl") == ([], [])


def test_jsonl_logger_resume_survives_a_torn_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [{"step": s, "images_seen": 32 * s, "loss/D": 0.5} for s in (5, 10, 15)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 20, "loss/D": 0.')
    trainer = SimpleNamespace(step_count=10, images_seen=320)
    log = JSONLLogger(path, every=5)
    log.on_fit_start(trainer, 20)
    assert path.read_text() == "".join(json.dumps(r) + "\n" for r in rows[:2])
    trainer.step_count, trainer.images_seen = 15, 480
    log.on_step_end(trainer, {})  # due: one row, appended after the kept ones
    assert [json.loads(x)["step"] for x in path.read_text().splitlines()] == [5, 10, 15]
    assert names(tmp_path) == ["metrics.jsonl"]


def test_a_failed_last_log_write_does_not_hide_the_error_that_stopped_the_run(tmp_path):
    import torch

    from ganforge import Trainer
    from ganforge.callbacks import Callback

    from conftest import mlp_pair

    class DiskFills(Callback):
        def on_step_end(self, trainer, stats):
            raise WriteError(tmp_path / "step_0000001.pt", OSError(errno.ENOSPC, "full"))

    (tmp_path / "run").write_text("a file where the run directory should be")
    log = JSONLLogger(tmp_path / "run" / "metrics.jsonl", every=50)   # its last write fails too
    G, D = mlp_pair()
    trainer = Trainer(G, D, seed=0, callbacks=[DiskFills(), log])
    with pytest.raises(WriteError, match="no space left"):
        trainer.fit(torch.randn(64, 2), steps=3)
    trainer.callbacks = [log]   # without an earlier error, the failed write is the error
    with pytest.raises(WriteError, match="is a file, not a directory"):
        trainer.fit(torch.randn(64, 2), steps=1)


def test_eval_json_goes_through_the_files_layer_and_can_go_elsewhere(tmp_path):
    from ganforge.evaluate import Evaluation, write_eval_json
    from ganforge.metrics.provenance import MetricValue, Provenance

    prov = Provenance("identity", "0" * 64, 100, 100, "ring8/train", "G", 0, 10)
    ev = Evaluation(tmp_path / "run", 10, [MetricValue("fid", 1.5, prov)])
    (tmp_path / "run" / "eval.json").mkdir(parents=True)   # in the way: a directory
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'run' / 'eval.json'}: the "
                                         "path is a directory"):
        write_eval_json(ev)
    out = write_eval_json(ev, path=tmp_path / "elsewhere" / "eval.json")
    assert out == tmp_path / "elsewhere" / "eval.json"
    assert json.loads(out.read_text())["evaluations"][0]["values"][0]["value"] == 1.5
    assert names(tmp_path / "elsewhere") == ["eval.json"]
