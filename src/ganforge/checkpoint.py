"""Complete checkpoints, written atomically, read back with every skip explained.

A checkpoint is one ``torch.save`` file ``checkpoints/step_XXXXXXX.pt`` holding everything a
run needs to continue exactly: G, D, both optimizers, both LR schedulers, counters, the RNG
states (global torch, the latent generator, the data order), the resolved config and a
signature of both networks' parameter shapes.

Writing: the state is serialized in memory, then written with :func:`ganforge.files.write_atomic`
(a hidden temporary file, fsync, rename), so a SIGKILL at any moment leaves either the old set
of checkpoints or the old set plus a complete new one, never a truncated ``step_*.pt``; a full
or read-only disk is a :class:`~ganforge.files.WriteError` that names the checkpoint still
intact and how to continue. Only then are the oldest files beyond ``keep`` removed.

Reading: :func:`load_latest` walks back from the newest file and reports each one it skipped,
with the reason. A file that cannot be loaded (damaged, or refused by ``weights_only=True``) is
renamed to ``step_XXXXXXX.pt.unreadable``: kept for the user, but no longer a checkpoint, so it
never takes one of the ``keep`` slots of the rotation.
"""

from __future__ import annotations

import errno
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .errors import UserError
from .files import ReadError, WriteError, make_dirs, remove_stale_temps, write_atomic

_NAME = re.compile(r"^step_(\d{7,})\.pt$")
UNREADABLE = ".unreadable"
TEMPS = ".step_*.pt.tmp-*"


def checkpoint_path(directory: Path, step: int) -> Path:
    return Path(directory) / f"step_{step:07d}.pt"


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Complete checkpoints (``step_XXXXXXX.pt``) in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), directory / name) for name in os.listdir(directory)
             if (m := _NAME.match(name))]
    return [path for _, path in sorted(found)]


def list_unreadable(directory: str | os.PathLike) -> list[Path]:
    """Files :func:`load_latest` set aside as ``step_XXXXXXX.pt.unreadable``, by name."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(directory / name for name in os.listdir(directory)
                  if name.endswith(UNREADABLE) and _NAME.match(name[:-len(UNREADABLE)]))


def clean_temps(directory: str | os.PathLike) -> list[str]:
    """Remove partial checkpoints left by processes that died mid-write; one note per file
    removed or left alone (another live process is writing it). Call at the start of a run."""
    done = remove_stale_temps(directory, TEMPS)
    notes = [f"removed {p}, a partial checkpoint left by a stopped process" for p in done.removed]
    notes += [f"{p} is being written by another process (pid {pid}): is a second run using "
              f"{Path(directory).parent}?" for p, pid in done.in_use]
    return notes


def describe_checkpoints(directory: str | os.PathLike) -> str:
    """What ``directory`` holds, for messages: "no checkpoint yet", "2 checkpoints, the newest
    step_0000020.pt", plus any set aside as unreadable."""
    found, bad = list_checkpoints(directory), list_unreadable(directory)
    if found:
        text = (f"{len(found)} checkpoint{'s' if len(found) > 1 else ''}, the newest "
                f"{found[-1].name}")
    else:
        text = "no readable checkpoint" if bad else "no checkpoint yet"
    if bad:
        text += f"; {len(bad)} unreadable, set aside: {', '.join(p.name for p in bad)}"
    return text


def _resume_hint(directory: Path) -> str:
    run_dir = directory.parent
    if directory.name == "checkpoints" and (run_dir / "config.yaml").is_file():
        return f"continue with `ganforge train --resume {run_dir}` once the disk has room"
    return "continue from it once the disk has room"


def save_checkpoint(directory: str | os.PathLike, step: int, state: dict, keep: int = 3) -> Path:
    """Write ``state`` atomically as ``step_{step}.pt``; keep the newest ``keep`` files.

    Raises :class:`WriteError` naming the file, the reason, and the checkpoint still intact.
    When the disk is full, the files the rotation would delete after this save anyway are
    deleted first and the write is tried once more (never the newest good checkpoint).
    """
    directory = Path(directory)
    final = checkpoint_path(directory, step)
    make_dirs(directory)
    remove_stale_temps(directory, TEMPS)  # a dead process's partial file: space we need now
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getbuffer()
    try:
        try:
            write_atomic(final, data)
        except WriteError as err:
            if err.errno not in (errno.ENOSPC, errno.EDQUOT) or not _make_room(directory, keep):
                raise
            write_atomic(final, data)
    except WriteError as err:
        previous = [p for p in list_checkpoints(directory) if p != final]
        err.with_note(f"The previous checkpoint {previous[-1]} is intact: "
                      f"{_resume_hint(directory)}" if previous
                      else "No earlier checkpoint of this run exists")
        raise
    for old in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        if old != final:
            _remove(old)
    return final


def _make_room(directory: Path, keep: int) -> bool:
    """Delete the checkpoints this save's rotation would delete anyway, keeping at least the
    newest one (the new file is not written yet). True when something was deleted."""
    if keep <= 0:
        return False
    doomed = list_checkpoints(directory)[:-max(keep - 1, 1)]
    for path in doomed:
        _remove(path)
    return bool(doomed)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # an old checkpoint left behind costs space, not correctness


class Unreadable(Exception):
    """A checkpoint whose bytes cannot be loaded; ``str(err)`` is the reason in plain words."""


def _load(path: Path) -> dict:
    """``torch.load`` with ``weights_only=True``; :class:`Unreadable` for a bad file,
    :class:`ReadError` when the file cannot be read at all (permissions, disk)."""
    try:
        f = open(path, "rb")
    except OSError as err:
        raise ReadError(path, err) from err
    with f:
        if os.fstat(f.fileno()).st_size == 0:
            raise Unreadable("truncated or corrupt (the file is empty)")
        try:
            state = torch.load(f, map_location="cpu", weights_only=True)
        except OSError as err:
            raise ReadError(path, err) from err
        except Exception as err:
            raise Unreadable(_why_unreadable(err)) from None
    if not isinstance(state, dict):
        raise Unreadable(f"not a ganforge checkpoint (it holds a {type(state).__name__})")
    return state


def _why_unreadable(err: Exception) -> str:
    text = str(err)
    refused = (re.search(r"GLOBAL (\S+) was not an allowed global", text)
               or re.search(r"unsupported GLOBAL (\S+)", text))
    if refused or "Unsupported global" in text:
        what = f"; it needs {refused.group(1)}" if refused else ""
        return ("refused: it contains Python objects that could run code when loaded "
                f"(weights_only{what})")
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    first = first.split(". ")[0]
    detail = f"{type(err).__name__}: {first}" if first else type(err).__name__
    return f"truncated or corrupt ({detail[:160]})"


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint (tensors and plain Python only: ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}")
    try:
        return _load(path)
    except Unreadable as err:
        raise UserError(f"checkpoint {path} cannot be read: {err}; delete it to resume from "
                        "the one before") from None


@dataclass
class Latest:
    """What :func:`load_latest` found: the newest readable checkpoint (``path`` and ``state``
    are None when there is none) and every newer file it skipped, with the reason."""

    path: Path | None
    state: dict | None
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def notes(self) -> list[str]:
        return [f"skipped {path}: {reason}" for path, reason in self.skipped]


def load_latest(directory: str | os.PathLike) -> Latest:
    """The newest checkpoint of ``directory`` that loads, and the newer ones that did not.

    An unloadable file is renamed to ``NAME.unreadable`` (when the directory allows it) and
    recorded in ``skipped``. A file that cannot be read at all (no permission, a disk error)
    stops the search with a :class:`ReadError`: falling back past it would silently drop the
    newest work.
    """
    skipped: list[tuple[Path, str]] = []
    for path in reversed(list_checkpoints(directory)):
        if not path.is_file():
            continue  # removed meanwhile (another process's rotation)
        try:
            return Latest(path, _load(path), skipped)
        except Unreadable as err:
            reason = str(err)
        aside = path.with_name(path.name + UNREADABLE)
        try:
            os.replace(path, aside)
            reason += f"; renamed to {aside.name}"
        except OSError:
            pass  # e.g. a read-only copy of a run: report it, leave it
        skipped.append((path, reason))
    return Latest(None, None, skipped)


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
