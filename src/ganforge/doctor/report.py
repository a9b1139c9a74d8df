"""``ganforge doctor RUN_DIR``: the findings of a finished, running or killed run.

Reads ``metrics.jsonl`` (a torn last line from a killed process is skipped and mentioned),
replays the rows through the same detectors and window as the live :class:`Doctor`, adds the
findings only the live run could see (``findings.jsonl``: the start-up data-range check, a
stop on a non-finite loss), judges a class-conditional run's last per-class record (the
``"classes"`` of an evaluation row: ``doctor/classes.py``), and renders it all as plain text.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import UserError
from ..files import read_jsonl
from .classes import RECORD_KEY, ClassStats, class_findings
from .detectors import STOPPED_AT, Context, applicable
from .findings import Finding
from .watch import Watch

NAMES = {"d_overpowering": "discriminator overpowering", "d_collapse": "discriminator "
         "collapse", "mode_collapse": "mode collapse", "divergence": "divergence",
         "stagnation": "stagnation"}


def _read_config(run_dir: Path) -> dict:
    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def _name(value) -> str:
    return value.get("name", "?") if isinstance(value, dict) else str(value)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def diagnose(run_dir: str | Path) -> tuple[list[Finding], dict]:
    """The findings of a run (ordered by step) and what the report says around them."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not ((run_dir / "config.yaml").is_file()
                                    or (run_dir / "metrics.jsonl").is_file()):
        raise UserError(f"{run_dir} is not a ganforge run directory (no config.yaml or "
                        "metrics.jsonl); pass the directory `ganforge train` wrote")
    cfg = _read_config(run_dir)
    rows, notes = read_jsonl(run_dir / "metrics.jsonl")
    watch = Watch(context=Context.from_config(cfg))
    for row in rows:
        watch.update(row)
    logged, more = read_jsonl(run_dir / "findings.jsonl")
    notes += more
    findings = list(watch.episodes) + _class_findings(rows, watch.context, notes)
    replayed = {d.kind for d in watch.detectors}   # the replay's verdict on these kinds wins
    for row in logged:
        try:
            f = Finding.from_dict(row)
        except TypeError:
            continue
        if f.kind in replayed and STOPPED_AT not in f.numbers:
            continue
        if not any(e.kind == f.kind and e.first_step <= f.first_step <= e.last_step
                   for e in findings):
            findings.append(f)
    findings.sort(key=lambda f: (f.first_step, f.kind))
    skipped = [NAMES.get(d.kind, d.kind) for d in watch.detectors if not applicable(d, rows)]
    return findings, {"cfg": cfg, "rows": rows, "notes": notes, "skipped": skipped}


def _class_findings(rows: list[dict], ctx: Context, notes: list[str]) -> list[Finding]:
    """The per-class findings of the last row that holds a per-class record (a conditional
    run's training evaluation writes one: ``metrics/callback.py``); none without one."""
    row = next((r for r in reversed(rows) if isinstance(r.get(RECORD_KEY), dict)), None)
    if row is None:
        return []
    try:
        return class_findings(ClassStats.from_dict(row[RECORD_KEY]), ctx)
    except (TypeError, ValueError, IndexError, ZeroDivisionError) as err:
        notes.append(f"the per-class record at step {row.get('step')} could not be read "
                     f"({type(err).__name__}: {err}); no per-class checks")
        return []


def render_report(run_dir: str | Path) -> str:
    """The report as text, as ``ganforge doctor`` prints it."""
    findings, info = diagnose(run_dir)
    cfg, rows = info["cfg"], info["rows"]
    out = [f"ganforge doctor: {run_dir}"]
    if cfg:
        out.append(f"run: data {_name(cfg.get('data'))}, model {_name(cfg.get('model'))}, "
                   f"loss {cfg.get('loss', '?')}, lr_G {_fmt(cfg.get('lr_G'))}, "
                   f"lr_D {_fmt(cfg.get('lr_D'))}")
    if rows:
        step, total = max(r.get("step", 0) for r in rows), cfg.get("steps")
        state = "finished" if step == total else "stopped or still running"
        of = f" of {total}" if total is not None else ""
        out.append(f"logged: {len(rows)} rows, up to step {step}{of} ({state})")
        # The last training row (evaluation rows hold only metric/... values).
        last = next((r for r in reversed(rows) if "loss/D" in r), rows[-1])
        shown = [f"{k} {_fmt(last[k])}" for k in ("loss/D", "loss/G", "logits/real", "logits/fake",
                                                 "diag/d_real_acc", "diag/d_fake_acc",
                                                 "diag/diversity") if k in last]
        out.append(f"last row (step {last.get('step')}): {', '.join(shown)}")
    else:
        out.append("logged: no rows in metrics.jsonl yet")
    out += [f"note: {n}" for n in info["notes"]]
    data = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    if data.get("scale") == "off" and not any(f.kind == "data_range" for f in findings):
        out.append("note: the start-up data-range check was off (data.scale=off)")
    out.append("")
    if findings:
        out.append(f"{len(findings)} finding{'s' if len(findings) > 1 else ''}:")
        for f in findings:
            out += ["", f.render()]
    else:
        out.append("No problems found.")
    if info["skipped"] and rows:
        out += ["", "not checked (their signals are not in metrics.jsonl): "
                + ", ".join(info["skipped"])]
    return "\n".join(out)
