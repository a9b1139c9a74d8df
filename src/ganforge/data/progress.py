"""Progress of a long data job (decoding a folder, preparing a dataset): a tqdm bar on a
terminal, otherwise a plain line every tenth of the way through ``log`` (none without it),
so a log file gets a few readable lines instead of carriage returns."""

from __future__ import annotations

import sys
import time
from typing import Callable


class Progress:
    def __init__(self, total: int, desc: str, log: Callable[[str], None] | None = None,
                 leave: bool = True, stream=None):
        self.total, self.desc, self.log, self.done = total, desc, log, 0
        self.start = time.perf_counter()
        self._next_line = 0.1
        stream = stream or sys.stderr
        self.bar = None
        if total > 0 and getattr(stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="img", leave=leave, file=stream,
                            dynamic_ncols=True, mininterval=0.5)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.log is not None and self.total and self.done >= self._next_line * self.total:
            while self._next_line * self.total <= self.done:
                self._next_line += 0.1
            elapsed = time.perf_counter() - self.start
            self.log(f"{self.desc}: {self.done:,}/{self.total:,} "
                     f"({100 * self.done // self.total}%), {elapsed:.1f} s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
