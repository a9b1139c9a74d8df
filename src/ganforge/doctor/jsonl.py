"""Reading JSON-lines files that a running or killed process may have left half-written."""

from __future__ import annotations

import json
from pathlib import Path


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


def read_jsonl(path: str | Path) -> tuple[list[dict], list[str]]:
    """:func:`parse_jsonl` of a file; a missing file is no rows."""
    path = Path(path)
    if not path.is_file():
        return [], []
    return parse_jsonl(path.read_text(errors="replace"), path.name)
