"""A run directory on disk: starting one, resuming one, and the way forward from every state
it can be left in.

Layout of ``runs/<name>/``::

    config.yaml          the fully resolved config (also inside every checkpoint)
    metrics.jsonl        one JSON object per logged step (means since the previous line)
    findings.jsonl       the doctor's findings
    tb/                  TensorBoard event files: scalars and sample grids
    samples/             step_XXXXXXX.png grids from a fixed z
    checkpoints/         step_XXXXXXX.pt, complete and written atomically; the last N kept

The states a directory can be in, and what ganforge does (each is a test in
tests/test_rundir.py):

- no checkpoint yet (a run stopped before its first one, maybe leaving a partial temporary
  file): ``train`` starts it afresh, ``--resume`` starts it from step 0 with its config.yaml;
  partial temporary files of stopped processes are removed;
- checkpoints: ``train`` refuses and points to ``--resume``; ``--resume`` continues from the
  newest one that loads, saying which newer files it skipped and why (they are renamed to
  ``*.unreadable``, kept for the user but no longer counted as checkpoints); none loads:
  step 0, as above;
- config.yaml missing: ``--resume`` restores it from the newest checkpoint;
- config.yaml edited since the checkpoint (a key other than :data:`RESUMABLE_KEYS`): refused,
  naming the key, both values and the way out, never trained with one and recorded with the
  other;
- not a directory, not writable: one message naming the path and the fix, before any work;
- trained from Python (``ganforge.RunDir``: its config.yaml records the run under
  ``python:``): ``doctor`` reads it; ``sample``, ``eval``, ``--resume`` and a new ``train``
  into it say that its networks are in the user's code and give the Python equivalents.

Everything up to the checkpoint read runs without torch, so a config mistake is reported at
once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .config import Config, build_config, load_config, to_dict
from .errors import UserError
from .files import check_writable

# Keys that may change when a run is resumed; anything else would make it a different run.
RESUMABLE_KEYS = {"steps", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints",
                  "tensorboard", "device", "run_dir", "eval", "sample_mode"}


def default_run_dir(cfg: Config, root: Path = Path("runs")) -> Path:
    """runs/<data>-<model>-<loss>, with -2, -3, ... when taken."""
    from .builder import is_builder, short_name

    data = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(cfg.data.name).stem or cfg.data.name)
    model = short_name(cfg.model.name) if is_builder(cfg.model.name) else cfg.model.name
    base = root / f"{data}-{model}-{cfg.loss}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


PYTHON_RUN = (
    "was trained from Python with networks that live in its author's code (config.yaml records "
    "them under `python:`); the command line cannot rebuild them. From Python: "
    "trainer.fit(data, steps=N) with the same RunDir continues it, trainer.sample_grid(n=64) "
    "draws samples, ganforge.evaluate_trainer(trainer, data) computes the metrics; "
    "`ganforge doctor {run_dir}` works as for any run")


def python_record(run_dir: Path) -> dict | None:
    """config.yaml of a run trained from Python (a dict with a ``python`` section), or None."""
    import yaml

    try:
        saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return saved if isinstance(saved, dict) and isinstance(saved.get("python"), dict) else None


def refuse_python_run(run_dir: Path) -> None:
    if python_record(run_dir) is not None:
        raise UserError(f"{run_dir} {PYTHON_RUN.format(run_dir=run_dir)}")


def _checkpoints(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def start_new(run_dir: Path, dry_run: bool = False) -> list[str]:
    """Check that ``run_dir`` can hold a new run; returns notes for the user.

    A directory with checkpoints is refused (they would be mixed with the new run's); one
    without (a run that stopped before its first checkpoint) is started afresh. A dry run
    writes nothing."""
    from .checkpoint import clean_temps, describe_checkpoints, list_checkpoints

    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"run_dir {run_dir} is a file, not a directory: choose another run_dir")
    if python_record(run_dir) is not None:
        raise UserError(f"run_dir {run_dir} holds a run trained from Python: choose another "
                        "run_dir (continue that one from Python, with its RunDir)")
    if list_checkpoints(_checkpoints(run_dir)):
        raise UserError(f"run_dir {run_dir} already holds a run "
                        f"({describe_checkpoints(_checkpoints(run_dir))}): continue it with "
                        f"`ganforge train --resume {run_dir}`, or choose another run_dir")
    check_writable(run_dir, create=False)   # created once the data and networks are checked
    if dry_run:
        return []
    notes = clean_temps(_checkpoints(run_dir))
    if (run_dir / "config.yaml").is_file():
        notes.append(f"{run_dir} holds a run that stopped before its first checkpoint: "
                     "starting afresh in it")
    return notes


def config_differences(saved: dict, current: dict, labels=("in the run", "now"),
                       prefix: str = "") -> list[str]:
    """``key: <saved> in the run, <current> now`` for every leaf that differs."""
    out = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, labels, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} {labels[0]}, {b!r} {labels[1]}")
    return out


def _fixed(differences: list[str]) -> list[str]:
    return [d for d in differences if d.split(":")[0].split(".")[0] not in RESUMABLE_KEYS]


@dataclass
class Resume:
    """What ``--resume`` found: the config to build the run from, the checkpoint state to load
    (None: start from step 0), and notes for the user."""

    cfg: Config
    state: dict | None
    checkpoint: Path | None
    notes: list[str] = field(default_factory=list)


def resume(run_dir: Path, config_file: str | None, overrides: list[str]) -> Resume:
    """The run in ``run_dir`` ready to continue; only :data:`RESUMABLE_KEYS` may change."""
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} {'is not a directory' if run_dir.exists() else 'does not exist'}"
                        ": pass --resume the directory a `ganforge train` wrote")
    saved_path = run_dir / "config.yaml"
    refuse_python_run(run_dir)
    # Every config mistake is reported here, before torch is imported to read a checkpoint.
    saved = load_config(saved_path) if saved_path.is_file() else None
    cfg = _requested(config_file, saved, overrides)
    if cfg is not None and saved is not None:
        _check_unchanged(saved, cfg, "cannot resume with a different setup: ", ". Only "
                         + ", ".join(sorted(RESUMABLE_KEYS)) + " may change on resume; start a "
                         "new run for the rest")
    check_writable(run_dir)

    from .checkpoint import clean_temps, load_latest

    notes = clean_temps(_checkpoints(run_dir))
    latest = load_latest(_checkpoints(run_dir))
    notes += latest.notes()
    if latest.state is None:
        if cfg is None:
            raise UserError(f"{run_dir} is not a ganforge run directory: it has no config.yaml "
                            "and no readable checkpoint")
        notes.append(f"{run_dir} has no readable checkpoint: starting it from step 0 with its "
                     "config.yaml")
    elif isinstance(latest.state.get("config"), dict):
        try:
            in_checkpoint = build_config(latest.state["config"])
        except UserError as err:
            raise UserError(f"the config inside {latest.path} does not fit this version of "
                            f"ganforge ({err})") from None
        if saved is None:
            notes.append(f"{saved_path} was missing: restored from {latest.path.name}")
            saved = in_checkpoint
            cfg = _requested(config_file, saved, overrides)
        _check_unchanged(
            in_checkpoint, saved, f"{saved_path} was changed after {latest.path.name} was "
            "written: ", ". The checkpoint's settings are the run's: undo the edit to continue "
            f"it, or start a new run with the new settings (only "
            f"{', '.join(sorted(RESUMABLE_KEYS))} may change on resume, as key=value after "
            "--resume)", ("in the checkpoint", "in config.yaml"))
    elif cfg is None:
        raise UserError(f"{run_dir} has no config.yaml and {latest.path.name} holds no config: "
                        "put the run's config.yaml back to resume it")
    cfg.run_dir = str(run_dir)
    return Resume(cfg, latest.state, latest.path, notes)


def _requested(config_file: str | None, saved: Config | None,
               overrides: list[str]) -> Config | None:
    """The config asked for: ``--config`` (or the run's own) with the overrides on top."""
    if config_file:
        return load_config(config_file, overrides)
    return None if saved is None else build_config(to_dict(saved), overrides)


def _check_unchanged(before: Config, after: Config, head: str, tail: str,
                     labels=("in the run", "now")) -> None:
    changed = _fixed(config_differences(to_dict(before), to_dict(after), labels))
    if changed:
        raise UserError(head + "; ".join(changed[:4]) + tail)


def latest_for_reading(run_dir: Path) -> Resume:
    """The config and newest readable checkpoint of a run, for ``sample`` and ``eval``."""
    if not (run_dir / "config.yaml").is_file() and not (run_dir / "checkpoints").is_dir():
        raise UserError(f"{run_dir} is not a ganforge run directory (no config.yaml): pass the "
                        "directory a `ganforge train` wrote")
    refuse_python_run(run_dir)
    from .checkpoint import describe_checkpoints, load_latest

    latest = load_latest(_checkpoints(run_dir))
    if latest.state is None:
        raise UserError(f"{run_dir} has {describe_checkpoints(_checkpoints(run_dir))}"
                        + (" (" + "; ".join(latest.notes()) + ")" if latest.skipped else "")
                        + f": train it further with `ganforge train --resume {run_dir}`")
    saved = run_dir / "config.yaml"
    if saved.is_file():
        cfg = load_config(saved)
    elif isinstance(latest.state.get("config"), dict):
        cfg = build_config(latest.state["config"])
    else:
        raise UserError(f"{run_dir} has no config.yaml and {latest.path.name} holds no config")
    return Resume(cfg, latest.state, latest.path, latest.notes())
