"""Watch: the sliding window over logged rows, "report each finding once", re-arming after
REARM_CHECKS quiet rows, episodes' first and last steps, findings added from outside.

Scripted detectors fire on the steps they are told to, so each rule is tested on its own; one
test feeds a real trace through the default detectors."""

import doctor_traces as traces
from ganforge.doctor.detectors import Context, default_detectors
from ganforge.doctor.findings import Finding
from ganforge.doctor.watch import HISTORY_ROWS, REARM_CHECKS, Watch


class Scripted:
    """Fires when the newest row's step is in ``bad``; its finding spans the ``span`` rows up
    to that one (first_step = step of the first row of the span in the window)."""

    def __init__(self, kind, bad, span=1):
        self.kind, self.bad, self.span = kind, set(bad), span
        self.seen = []          # (steps of the rows it was given, context)

    def check(self, rows, context):
        self.seen.append(([r["step"] for r in rows], context))
        step = rows[-1]["step"]
        if step not in self.bad:
            return None
        first = rows[-min(self.span, len(rows))]["step"]
        return Finding(self.kind, f"{self.kind} title", first, step, f"{self.kind} at {step}")


def feed(watch, steps):
    """{step: [kinds reported new at that row]} for the rows with those steps."""
    return {s: [f.kind for f in watch.update({"step": s})] for s in steps}


def test_detectors_see_the_window_of_the_last_history_rows_and_the_context():
    det = Scripted("a", [])
    ctx = Context(loss="hinge")
    watch = Watch([det], ctx, history=3)
    feed(watch, range(1, 6))
    assert [steps for steps, _ in det.seen] == [[1], [1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]
    assert all(c is ctx for _, c in det.seen)


def test_default_window_and_default_detectors_and_context():
    det = Scripted("a", [])
    watch = Watch([det])
    feed(watch, range(1, HISTORY_ROWS + 6))
    assert HISTORY_ROWS == 200 and REARM_CHECKS == 10
    assert det.seen[-1][0] == list(range(6, HISTORY_ROWS + 6))
    assert det.seen[-1][1] == Context()
    assert [d.kind for d in Watch().detectors] == [d.kind for d in default_detectors()]


def test_a_persisting_finding_is_reported_once_and_its_episode_extended():
    watch = Watch([Scripted("a", range(3, 8), span=2)])
    new = feed(watch, range(1, 10))
    assert new == {1: [], 2: [], 3: ["a"], 4: [], 5: [], 6: [], 7: [], 8: [], 9: []}
    (episode,) = watch.episodes
    assert (episode.first_step, episode.last_step) == (2, 7)   # first kept, last moved on
    assert watch.active == {"a": episode}


def test_last_step_never_moves_back():
    class Shrinking(Scripted):
        def check(self, rows, context):
            found = super().check(rows, context)
            if found is not None and rows[-1]["step"] == 3:
                found.last_step = 1              # a detector reporting an older range
            return found

    watch = Watch([Shrinking("a", [2, 3])])
    feed(watch, range(1, 4))
    assert watch.episodes[0].last_step == 2


def test_rearms_after_rearm_quiet_rows_and_reports_again():
    watch = Watch([Scripted("a", [1, 5])], rearm=3)
    new = feed(watch, range(1, 6))     # quiet at 2, 3, 4: three checks, resolved
    assert new == {1: ["a"], 2: [], 3: [], 4: [], 5: ["a"]}
    assert [(f.first_step, f.last_step) for f in watch.episodes] == [(1, 1), (5, 5)]


def test_one_quiet_row_short_of_rearm_is_the_same_episode():
    watch = Watch([Scripted("a", [1, 4])], rearm=3)
    new = feed(watch, range(1, 5))     # quiet at 2, 3 only
    assert new == {1: ["a"], 2: [], 3: [], 4: []}
    assert [(f.first_step, f.last_step) for f in watch.episodes] == [(1, 4)]


def test_the_quiet_count_restarts_when_the_finding_returns():
    # quiet 2, 3; back at 4; quiet 5, 6; back at 7: never three quiet checks in a row
    watch = Watch([Scripted("a", [1, 4, 7])], rearm=3)
    new = feed(watch, range(1, 8))
    assert [s for s, kinds in new.items() if kinds] == [1]
    assert [(f.first_step, f.last_step) for f in watch.episodes] == [(1, 7)]


def test_default_rearm_is_rearm_checks_rows():
    quiet = REARM_CHECKS
    watch = Watch([Scripted("a", [1, 1 + quiet, 1 + quiet + quiet])])
    new = feed(watch, range(1, 2 + 2 * quiet))
    # 1 + quiet: only quiet - 1 rows in between; 1 + 2 * quiet: quiet - 1 rows again
    assert [s for s, kinds in new.items() if kinds] == [1]
    watch = Watch([Scripted("a", [1, 2 + quiet])])
    new = feed(watch, range(1, 3 + quiet))
    assert [s for s, kinds in new.items() if kinds] == [1, 2 + quiet]


def test_kinds_are_independent_and_reported_in_detector_order():
    watch = Watch([Scripted("b", [2, 3]), Scripted("a", [1, 2, 3])], rearm=1)
    new = feed(watch, range(1, 6))
    assert new == {1: ["a"], 2: ["b"], 3: [], 4: [], 5: []}
    assert [f.kind for f in watch.episodes] == ["a", "b"]
    assert watch.active == {}            # both quiet for one check: resolved (rearm=1)


def test_add_records_an_outside_finding_once_per_episode():
    watch = Watch([Scripted("divergence", [3, 4])], rearm=2)
    stop = Finding("divergence", "stopped", 2, 2, "a non-finite loss")
    assert watch.add(stop) is True
    assert watch.add(Finding("divergence", "again", 2, 2, "x")) is False
    assert watch.episodes == [stop]
    new = feed(watch, [3, 4])            # the detector sees it too: the same episode
    assert new == {3: [], 4: []}
    assert watch.episodes == [stop] and stop.last_step == 4
    feed(watch, [5, 6, 7])               # quiet twice: resolved; then an outside one is new
    assert watch.add(Finding("divergence", "later", 7, 7, "y")) is True
    assert [f.title for f in watch.episodes] == ["stopped", "later"]


def test_added_finding_rearms_like_a_detected_one():
    watch = Watch([Scripted("data_range", [])], rearm=2)
    assert watch.add(Finding("data_range", "t", 0, 0, "s"))
    feed(watch, [1])
    assert "data_range" in watch.active
    feed(watch, [2])
    assert "data_range" not in watch.active


def test_same_rows_same_findings_for_the_live_run_and_the_report():
    rows = traces.d_overpowering()
    end = rows[-1]["step"]
    for i, row in enumerate(traces.divergence_explodes()[-2:], 1):   # then D's gradient blows up
        rows.append({**row, "step": end + i * traces.EVERY})
    ctx = Context(loss="nonsaturating", lr_G=2e-4, lr_D=2e-4)
    runs = []
    for _ in range(2):
        watch = Watch(None, ctx)
        reported = [f.to_dict() for row in rows for f in watch.update(dict(row))]
        runs.append((reported, [f.to_dict() for f in watch.episodes]))
    assert runs[0] == runs[1]
    assert [f["kind"] for f in runs[0][1]] == ["d_overpowering", "divergence"]
    # D overpowers from the first bad row (31) to the last (50) of the trace; the divergence is
    # dated to the first of the two exploded rows
    assert [(f["first_step"], f["last_step"]) for f in runs[0][1]] == [
        (31 * traces.EVERY, end), (end + traces.EVERY, end + traces.EVERY)]
