"""Real and simulated disk trouble for the tests: a small or read-only tmpfs, a disk that
fills up part way through a write."""

import errno
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tmpfs(directory: Path, *options: str):
    """A tmpfs mounted on ``directory`` (e.g. ``"size=256k"``, ``"ro"``), unmounted after."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options) or "defaults",
                               "tmpfs", str(directory)], capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no mount command: the real full/read-only disk tests need it")
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({done.stderr.strip()}): the real "
                    "full/read-only disk tests need root in a container that allows mounts")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True)


def remount_read_only(directory: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True,
                   capture_output=True)


@contextmanager
def disk_fills_after(monkeypatch, n_bytes: int):
    """``os.write`` succeeds for the first ``n_bytes`` (the last call may be partial, as on a
    real disk), then fails with ENOSPC."""
    real, written = os.write, [0]

    def write(fd, data):
        room = n_bytes - written[0]
        if room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real(fd, bytes(data[:room]))
        written[0] += n
        return n

    with monkeypatch.context() as m:
        m.setattr(os, "write", write)
        yield


def fill(path: Path) -> None:
    """Write zeros to ``path`` until its disk is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as err:
        assert err.errno == errno.ENOSPC
    finally:
        os.close(fd)


def names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))
