"""The sliding window and the "say it once" rule, shared by the live callback and the report.

:class:`Watch` takes logged rows one at a time, runs the detectors over its window, and
returns only the findings that are *new*: a problem that persists is reported when it first
appears and then extended silently (its ``last_step`` moves on). After ``rearm`` checks in a
row without it, a kind counts as resolved, so if it comes back later it is reported again.
Fed the same rows, the live run and ``ganforge doctor`` reach the same findings.
"""

from __future__ import annotations

from collections import deque
from typing import Sequence

from .detectors import Context, Row, default_detectors
from .findings import Finding

HISTORY_ROWS = 200   # enough for every window and for the "typical value" of exploding stats
REARM_CHECKS = 10    # quiet checks (rows) before a resolved kind may be reported again


class Watch:
    def __init__(self, detectors: Sequence | None = None, context: Context | None = None,
                 history: int = HISTORY_ROWS, rearm: int = REARM_CHECKS):
        self.detectors = list(detectors) if detectors is not None else default_detectors()
        self.context = context or Context()
        self.rows: deque[Row] = deque(maxlen=history)
        self.rearm = rearm
        self.active: dict[str, Finding] = {}   # kind -> its current episode
        self.quiet: dict[str, int] = {}        # kind -> checks in a row without it
        self.episodes: list[Finding] = []      # every finding reported, in order

    def update(self, row: Row) -> list[Finding]:
        """Add one row, run every detector; returns the findings reported for the first time."""
        self.rows.append(row)
        rows = list(self.rows)
        new = []
        for det in self.detectors:
            found = det.check(rows, self.context)
            kind = det.kind
            if found is None:
                if kind in self.active:
                    self.quiet[kind] = self.quiet.get(kind, 0) + 1
                    if self.quiet[kind] >= self.rearm:
                        del self.active[kind]
                continue
            self.quiet[kind] = 0
            episode = self.active.get(kind)
            if episode is None:
                self.active[kind] = found
                self.episodes.append(found)
                new.append(found)
            else:  # the same problem, still there: extend it, say nothing
                episode.last_step = max(episode.last_step, found.last_step)
        return new

    def add(self, finding: Finding) -> bool:
        """Record a finding from outside the detectors (start-up check, a stopped run);
        returns False if the same kind is already active (then nothing is recorded)."""
        if finding.kind in self.active:
            return False
        self.active[finding.kind] = finding
        self.quiet[finding.kind] = 0
        self.episodes.append(finding)
        return True
