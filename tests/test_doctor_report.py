"""``ganforge doctor RUN_DIR``: the report names what it saw and the settings it recommends;
it works on a real run, a diverged run, and a run killed half way (a torn last line)."""

import json
import math

import yaml

import doctor_traces as traces
from ganforge.cli import main
from ganforge.doctor.detectors import (STOPPED_AT, Context, data_range_finding,
                                       divergence_finding)
from ganforge.doctor.report import diagnose, render_report
from ganforge.doctor.watch import Watch

RING = ["data=ring8", "model=mlp", "model.width=16", "model.z_dim=4", "batch_size=32",
        "log_every=5", "sample_every=0", "checkpoint_every=10", "tensorboard=false"]


def write_run(path, rows, findings=(), **cfg):
    path.mkdir()
    config = {"data": {"name": "fashion-mnist", "scale": "check"}, "model": {"name": "dcgan"},
              "loss": "nonsaturating", "lr_G": 2e-4, "lr_D": 2e-4, "steps": 10_000, **cfg}
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if findings:
        (path / "findings.jsonl").write_text(
            "".join(json.dumps(f.to_dict()) + "\n" for f in findings))
    return path


def test_the_report_names_what_it_saw_and_the_settings_to_try(tmp_path):
    run = write_run(tmp_path / "run", traces.d_overpowering(),
                    [data_range_finding("data is in [0, 1] but the generator's tanh output is "
                                        "in [-1, 1]: rescale with x * 2 - 1")],
                    data={"name": "x.npy", "scale": "off"})
    text = render_report(run)
    assert "2 findings" in text
    assert text.count("The discriminator overpowers the generator") == 1
    assert "The data's value range does not match" in text and "data is in [0, 1]" in text
    for setting in ("lr_D=1e-4", "preset=r1", "balance=ada", "label_smoothing=0.1",
                    "balance=auto", "data.scale=auto", "check that your data is in [-1, 1]"):
        assert setting in text, setting
    # The data-range finding (step 0) comes first; the range is the first suspect after it.
    assert text.index("value range does not match") < text.index("overpowers")
    overpowering = text[text.index("overpowers"):]
    assert "1. the data's value range differs" in overpowering
    assert "up to step 2500 of 10000 (stopped or still running)" in text


def test_a_healthy_run_reports_no_problems_and_what_it_could_not_check(tmp_path):
    rows = traces.healthy(100)
    for r in rows:
        r.pop("diag/diversity")
        r.pop("diag/duplicates")
        r.pop("metric/fid", None)
        r.pop("metric/classes_covered", None)
    text = render_report(write_run(tmp_path / "run", rows))
    assert "No problems found." in text and "not checked" in text and "mode collapse" in text


def test_a_run_killed_while_writing_a_line_is_read_up_to_it(tmp_path):
    rows = traces.divergence_nan()
    run = write_run(tmp_path / "run", rows[:-1])
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps(rows[-1])[:37])              # the torn last line
    findings, info = diagnose(run)
    assert findings == [] and len(info["rows"]) == len(rows) - 1
    text = render_report(run)
    assert "the last line of metrics.jsonl is incomplete and was skipped" in text
    assert main(["doctor", str(run)]) == 0


def live_findings(rows):
    """What a live run's Doctor would have logged for ``rows``."""
    watch = Watch()
    for r in rows:
        watch.update(r)
    return watch.episodes


def test_findings_of_the_live_run_and_of_the_replay_are_merged_not_repeated(tmp_path):
    rows = traces.d_overpowering()
    run = write_run(tmp_path / "run", rows, live_findings(rows))
    findings, _ = diagnose(run)
    assert [f.kind for f in findings] == ["d_overpowering"]


def test_the_replay_decides_detector_findings_and_keeps_what_only_the_live_run_saw(tmp_path):
    # A live run logged a d_collapse that today's detectors do not see in its rows (an older
    # doctor, or a threshold since corrected) and the start-up range check, which only the
    # live run can make. The report trusts the replay for the first and keeps the second.
    # A stop on a non-finite loss after the last logged row is kept too.
    (stale,) = live_findings(traces.d_collapse())
    rows = traces.healthy(60, 0)
    stop = divergence_finding(rows[-1]["step"] + 3, "loss/D became nan", Context(),
                              {"value": math.nan, STOPPED_AT: rows[-1]["step"] + 3})
    live = [data_range_finding("data in [0, 1], the generator's tanh in [-1, 1]"),
            stale, stop]
    run = write_run(tmp_path / "run", rows, live)
    findings, _ = diagnose(run)
    assert [f.kind for f in findings] == ["data_range", "divergence"]
    assert findings[1].first_step == rows[-1]["step"] + 3


def test_doctor_cli_on_a_real_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--no-progress", f"run_dir={run}", *RING, "steps=20"]) == 0
    capsys.readouterr()
    assert main(["doctor", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"ganforge doctor: {run}" in out and "up to step 20 of 20 (finished)" in out
    assert "No problems found." in out


def test_doctor_cli_on_a_diverged_run_names_the_step(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "--no-progress", f"run_dir={run}", *RING, "steps=200",
                 "optim_D.name=sgd", "optim_G.name=sgd", "lr_D=100", "lr_G=100"])
    err = capsys.readouterr().err
    assert code == 2
    step = int(err.split("became nan at step ")[1].split(";")[0])
    assert "ganforge doctor: [error] Training diverged" in err     # said live, once
    assert err.count("Training diverged") == 1
    # Seen in the logged stats (a NaN gradient norm, exploding losses) at the last logged
    # row before the stop, or from the stop itself.
    live = int(err.split("Training diverged (step ")[1].split(")")[0])
    assert step - 5 <= live <= step
    assert main(["doctor", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"Training diverged (step {live})" in out and "lr_G=10 lr_D=10" in out


def test_doctor_cli_on_something_that_is_not_a_run(tmp_path, capsys):
    assert main(["doctor", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganforge: error:") and "not a ganforge run directory" in err
    assert err.strip().count("\n") == 0
