"""Complete checkpoints, written atomically, with resume guards.

A checkpoint is one ``torch.save`` file ``checkpoints/step_XXXXXXX.pt`` holding everything a
run needs to continue exactly: G, D, both optimizers, both LR schedulers, counters, the RNG
states (global torch, the latent generator, the data order), the resolved config and a
signature of both networks' parameter shapes.

Atomic write: the file is written under a temporary name in the same directory, flushed to disk
(fsync), then renamed over the final name; a rename within a directory is atomic on POSIX, so a
SIGKILL at any moment leaves either the old set of checkpoints or the old set plus a complete
new one, never a truncated ``step_*.pt``. Leftover temporary files are ignored and cleaned up.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
from torch import nn

from .errors import UserError

_NAME = re.compile(r"^step_(\d{7,})\.pt$")


def checkpoint_path(directory: Path, step: int) -> Path:
    return Path(directory) / f"step_{step:07d}.pt"


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Complete checkpoints in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), directory / name) for name in os.listdir(directory)
             if (m := _NAME.match(name))]
    return [path for _, path in sorted(found)]


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(directory: str | os.PathLike, step: int, state: dict, keep: int = 3) -> Path:
    """Write ``state`` atomically as ``step_{step}.pt``; keep the newest ``keep`` files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(directory, step)
    tmp = directory / f".{final.name}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    _fsync_dir(directory)
    for old in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    for stale in directory.glob(".step_*.pt.tmp-*"):
        if stale != tmp:
            stale.unlink(missing_ok=True)
    return final


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint (tensors and plain Python only: ``weights_only=True``)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"no checkpoint at {path}") from None
    except Exception as err:  # a damaged file: say which, never a pickle traceback
        raise UserError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err}); "
                        "delete it to resume from the one before") from None


def load_latest(directory: str | os.PathLike) -> tuple[Path, dict] | None:
    """The newest readable checkpoint, or None when there is none."""
    for path in reversed(list_checkpoints(directory)):
        try:
            return path, load_checkpoint(path)
        except UserError:
            continue  # damaged by something outside our control (disk): fall back
    return None


def signature(G: nn.Module, D: nn.Module) -> dict[str, dict[str, list[int]]]:
    """Parameter and buffer names with shapes: what must match for a resume to make sense."""
    return {name: {k: list(v.shape) for k, v in net.state_dict().items()}
            for name, net in (("G", G), ("D", D))}


def signature_differences(saved: dict, current: dict, limit: int = 4) -> list[str]:
    """Human-readable differences between two :func:`signature` results."""
    diffs = []
    for net in ("G", "D"):
        a, b = saved.get(net, {}), current.get(net, {})
        for key in sorted(set(a) | set(b)):
            if key not in b:
                diffs.append(f"{net}.{key} is in the checkpoint but not in the current {net}")
            elif key not in a:
                diffs.append(f"{net}.{key} is in the current {net} but not in the checkpoint")
            elif a[key] != b[key]:
                diffs.append(f"{net}.{key} has shape {tuple(a[key])} in the checkpoint, "
                             f"{tuple(b[key])} now")
    more = len(diffs) - limit
    return diffs[:limit] + ([f"... and {more} more"] if more > 0 else [])
