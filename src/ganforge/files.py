"""Every file a run writes goes through here, and so do the reads that must survive a crash.

Writes: :func:`write_atomic` (a whole file: checkpoints, images, eval.json, rewrites of a log),
:class:`AtomicFile` (the same for a file written in pieces: a prepared dataset's pixels),
:func:`append_line` (one line of metrics.jsonl or findings.jsonl), :func:`make_dirs`, and
:func:`check_writable` (run at start-up, so a read-only or full disk stops a run in its first
second rather than after an hour of training). Any ``OSError`` becomes a :class:`WriteError`,
a :class:`~ganforge.errors.UserError` whose one-line message names the path, says in plain
words what went wrong and how to fix it. A failed write never leaves a partial file behind: not
a half-written temporary file filling the disk, not a torn line in a log, not a truncated file
under the final name.

Reads: :func:`read_jsonl` skips the torn last line a killed process leaves, with a note.

Temporary files are named ``.NAME.tmp-PID``: hidden, next to their final name (a rename
within one directory is atomic), and owned by a process id, so :func:`remove_stale_temps` can
tell the leftovers of a dead process from a concurrent writer's file. No torch here: this
module imports without it.
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path
from typing import NamedTuple

from .errors import UserError

CHUNK_BYTES = 4 << 20  # written in pieces: a kill or a full disk can land mid-write

# errno -> (what went wrong, in plain words; how to fix it).
_PLAIN = {
    errno.ENOSPC: ("no space left on the device",
                   "free some space or choose a directory on another disk"),
    errno.EDQUOT: ("your disk quota is used up", "free some space or choose another disk"),
    errno.EFBIG: ("the file is larger than this file system allows",
                  "choose a directory on another file system"),
    errno.EROFS: ("the file system is read-only", "choose a directory on a writable disk"),
    errno.EACCES: ("permission denied",
                   "choose a directory you can write to, or change its permissions"),
    errno.EPERM: ("the operation is not permitted",
                  "choose a directory you can write to, or change its permissions"),
    errno.EISDIR: ("the path is a directory", "give a file name, not a directory"),
    errno.ENOENT: ("a directory on the path does not exist (was it removed?)",
                   "create it, or choose another path"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path"),
    errno.EIO: ("the disk reported an input/output error",
                "check the disk (dmesg), or write to another one"),
}
_READ_FIXES = {
    errno.EACCES: "give yourself read permission (chmod u+r) or run as the file's owner",
    errno.EPERM: "give yourself read permission (chmod u+r) or run as the file's owner",
    errno.ENOENT: "check the path",
}


def _file_ancestor(path: Path) -> Path | None:
    """The first part of ``path`` that exists and is not a directory (the cause of ENOTDIR)."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return path if path.exists() and not path.is_dir() else None


def _explain(path: Path, err: OSError, reading: bool) -> tuple[str, str]:
    code = err.errno
    if code == errno.ENOTDIR:
        part = _file_ancestor(path)
        what = f"{part} is a file, not a directory" if part else "a part of the path is a file"
        return what, "remove or rename that file, or choose another path"
    if code == errno.EEXIST and path.exists() and not path.is_dir():
        return "it is a file, not a directory", "remove or rename the file, or choose another path"
    reason, fix = _PLAIN.get(code, (None, "check the path and the disk"))
    if reading:
        fix = _READ_FIXES.get(code, "check the path and the disk")
    return reason or _strerror(err), fix


def _strerror(err: OSError) -> str:
    if err.strerror:
        return err.strerror
    return os.strerror(err.errno) if err.errno else str(err) or type(err).__name__


class FileError(UserError):
    """An ``OSError`` on ``path``, as one line: what failed, why in plain words, the fix.

    ``note`` is added after the fix (e.g. which checkpoint is still intact).
    """

    verb = "access"

    def __init__(self, path: str | os.PathLike, err: OSError, note: str = ""):
        self.path, self.errno = Path(path), err.errno
        self.reason, self.fix = _explain(self.path, err, reading=self.verb == "read")
        self.strerror = _strerror(err)
        self.note = note
        super().__init__(self._message())

    def with_note(self, note: str) -> "FileError":
        """The same error with ``note`` appended to its message."""
        self.note = f"{self.note}. {note}" if self.note else note
        self.args = (self._message(),)
        return self

    def _message(self) -> str:
        why = (self.reason if self.reason.lower() == self.strerror.lower()
               else f"{self.reason} ({self.strerror})")
        note = f". {self.note}" if self.note else ""
        return f"cannot {self.verb} {self.path}: {why}; {self.fix}{note}"


class WriteError(FileError):
    """Writing, creating or replacing ``path`` failed (see :class:`FileError`)."""

    verb = "write"


class ReadError(FileError):
    """Reading ``path`` failed for a reason outside the file's content (permissions, disk)."""

    verb = "read"


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def temp_path(path: str | os.PathLike) -> Path:
    """Where :func:`write_atomic` puts ``path``'s bytes before the rename: ``.NAME.tmp-PID``."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename in ``directory`` durable (best effort: not every file system allows it)."""
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


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data):]


def write_atomic(path: str | os.PathLike, data: bytes | bytearray | memoryview | str,
                 chunk_bytes: int = CHUNK_BYTES) -> Path:
    """Replace ``path`` with ``data`` (str is UTF-8 encoded) all at once, or not at all.

    The bytes go to ``.NAME.tmp-PID`` in the same directory in chunks, are flushed to disk
    (fsync), and the temporary file is renamed over ``path``; the directory is then synced so
    the rename survives a power cut. A reader sees the old file or the complete new one, never
    a mix. On any failure the temporary file is removed and, for an ``OSError``, a
    :class:`WriteError` naming ``path`` is raised; the old ``path`` is untouched.
    """
    path = Path(path)
    view = memoryview(data.encode() if isinstance(data, str) else data).cast("B")
    if path.is_dir():  # found before writing: os.replace would only fail after the whole write
        raise WriteError(path, _oserror(errno.EISDIR))
    tmp = temp_path(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            for start in range(0, len(view), chunk_bytes):
                _write_all(fd, view[start:start + chunk_bytes])
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as err:
        _discard(tmp)
        if isinstance(err, OSError):
            raise WriteError(path, err) from err
        raise
    fsync_dir(path.parent)
    return path


class AtomicFile:
    """``path`` written in pieces, all at once or not at all, like :func:`write_atomic`: the
    pieces go to ``.NAME.tmp-PID``, :meth:`commit` syncs it and renames it over ``path``.
    Leaving the ``with`` block without a commit (an error, a kill) removes the temporary file;
    an ``OSError`` is a :class:`WriteError` naming ``path``. Memory use is one piece.

        with AtomicFile(path) as out:
            for piece in pieces:
                out.write(piece)
            out.commit()
    """

    def __init__(self, path: str | os.PathLike):
        self.path, self.tmp = Path(path), temp_path(path)
        self.fd: int | None = None
        self.written = 0

    def __enter__(self) -> "AtomicFile":
        if self.path.is_dir():
            raise WriteError(self.path, _oserror(errno.EISDIR))
        try:
            self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as err:
            raise WriteError(self.path, err) from err
        return self

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        try:
            for start in range(0, len(view), CHUNK_BYTES):
                _write_all(self.fd, view[start:start + CHUNK_BYTES])
        except OSError as err:
            raise WriteError(self.path, err) from err
        self.written += len(view)

    def commit(self) -> Path:
        fd, self.fd = self.fd, None
        try:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.tmp, self.path)
        except OSError as err:
            _discard(self.tmp)
            raise WriteError(self.path, err) from err
        fsync_dir(self.path.parent)
        return self.path

    def __exit__(self, *exc) -> None:
        if self.fd is not None:   # not committed: an error on the way
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None
            _discard(self.tmp)


def _discard(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def append_line(path: str | os.PathLike, text: str) -> None:
    """Append ``text`` and a newline to ``path`` (created if missing).

    When the write fails part-way (a full disk), the file is cut back to its old length, so it
    never ends in a torn line that the next append would glue onto.
    """
    path = Path(path)
    data = memoryview((text.rstrip("\n") + "\n").encode())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as err:
        raise WriteError(path, err) from err
    try:
        size = os.fstat(fd).st_size
        try:
            _write_all(fd, data)
        except OSError as err:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            raise WriteError(path, err) from err
    finally:
        os.close(fd)


def make_dirs(path: str | os.PathLike) -> Path:
    """``mkdir -p path``; an ``OSError`` (e.g. ``path`` is a file) is a :class:`WriteError`."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WriteError(path, err) from err
    return path


def check_writable(directory: str | os.PathLike, create: bool = True) -> Path:
    """Create ``directory`` if needed and write, then remove, a one-byte probe file in it.

    Raises :class:`WriteError` (naming ``directory``) when it cannot be written: read-only,
    no permission, a completely full disk, a file in the way. With ``create=False`` nothing
    is left behind: the probe goes to the nearest existing ancestor (where the directory
    would be created), for a check before the work that may still be refused.
    """
    directory = Path(directory)
    if create:
        make_dirs(directory)
        where = directory
    else:
        where = next((p for p in (directory, *directory.parents) if p.exists()), Path("."))
        if not where.is_dir():
            raise WriteError(directory, _oserror(errno.ENOTDIR if where != directory
                                                 else errno.EEXIST))
    probe = where / f".ganforge-probe.tmp-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            _write_all(fd, memoryview(b"\n"))
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as err:
        _discard(probe)
        raise WriteError(directory, err) from err
    return directory


class TempCleanup(NamedTuple):
    removed: list[Path]               # left by processes that no longer run
    in_use: list[tuple[Path, int]]    # (file, pid): a live process may still be writing it


_TEMP_PID = re.compile(r"\.tmp-(\d+)$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True   # it exists, under another user
    except OSError:
        return False
    return True


def remove_stale_temps(directory: str | os.PathLike, pattern: str = ".*.tmp-*") -> TempCleanup:
    """Remove the temporary files (``pattern``, ``.NAME.tmp-PID``) of processes that died.

    A file whose PID is this process's is stale too: this process writes one file at a time
    and is not writing now (a container's restarted job often gets the same PID back). A file
    whose PID is another live process is left alone and returned in ``in_use``: that process
    may be writing into the same directory. (A PID from another PID namespace looks dead.)
    """
    directory = Path(directory)
    removed, in_use = [], []
    if not directory.is_dir():
        return TempCleanup(removed, in_use)
    for path in sorted(directory.glob(pattern)):
        m = _TEMP_PID.search(path.name)
        if m is None or not path.is_file():
            continue
        pid = int(m.group(1))
        if pid != os.getpid() and _alive(pid):
            in_use.append((path, pid))
            continue
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass   # its writer finished or cleaned up meanwhile
        except OSError:
            pass   # not ours to remove (permissions): the writes that follow will say so
    return TempCleanup(removed, in_use)


def parse_jsonl(text: str, name: str = "the file") -> tuple[list[dict], list[str]]:
    """(the JSON objects in ``text``, one note per line that could not be read).

    A process killed mid-write leaves a partial last line; it is skipped, never fatal."""
    rows, notes = [], []
    lines = text.splitlines()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            where = "the last line" if i == len(lines) else f"line {i}"
            notes.append(f"{where} of {name} is incomplete and was skipped (the run was "
                         "stopped while writing it)")
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows, notes


def read_jsonl(path: str | os.PathLike) -> tuple[list[dict], list[str]]:
    """:func:`parse_jsonl` of a file; a missing file is no rows; an unreadable one is a
    :class:`ReadError`."""
    path = Path(path)
    if not path.is_file():
        return [], []
    try:
        text = path.read_text(errors="replace")
    except OSError as err:
        raise ReadError(path, err) from err
    return parse_jsonl(text, path.name)
