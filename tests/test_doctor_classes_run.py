"""The per-class checks in training runs: a conditional run's evaluation row holds the
``ClassStats`` record (the same numbers ``measure_classes`` gives for those samples), TensorBoard
gets only scalars of it, ``ganforge doctor`` judges the last record with the run's learning
rates, and a run without a record is unchanged; ``ganforge eval``'s per-class findings are
those of ``measure_classes`` as before."""

import json
from types import SimpleNamespace

import pytest
import torch
from conftest import Head, mlp_pair
from torch import nn

from ganforge import Trainer
from ganforge.cli import main
from ganforge.doctor.classes import (RECORD_KEY, ClassStats, class_findings, class_stats_of,
                                     measure_classes)
from ganforge.doctor.report import diagnose, render_report
from ganforge.evaluate import evaluate_trainer
from ganforge.images import latent_z
from ganforge.metrics.callback import EvalCallback, class_scalars
from ganforge.metrics.features import from_module
from ganforge.sampling import balanced_labels
from ganforge.streams import side_generator

K, N_EVAL, N_REAL = 3, 150, 300      # 50 generated and 50 real samples per class
CLASS_KINDS = {"class_collapse", "class_unrecognized", "labels_ignored"}
NAMES = ["fid", "conditional_accuracy", "intra_fid"]


class StuckG(nn.Module):
    """G(z, y) = e_y + scale * z: varied samples near e_y, except for class 0, whose every
    sample is e_0 whatever z is (a collapsed class that training cannot repair)."""

    def __init__(self):
        super().__init__()
        self.num_classes, self.z_dim = K, 3
        self.scale = nn.Parameter(torch.tensor(0.3))

    def forward(self, z, y):
        out = torch.eye(K, device=z.device)[y] + self.scale * z
        return torch.where((y == 0)[:, None], torch.eye(K, device=z.device)[0], out)


class CondD(nn.Module):
    """x (N, 3) and y -> logits (N,), the label concatenated to the input."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(K, 2)
        self.net = nn.Sequential(nn.Linear(K + 2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x, y):
        return self.net(torch.cat([x, self.embed(y)], 1)).flatten()


def real_data(seed=1, n=N_REAL):
    """3-D samples near e_y with labels taking turns; Head's argmax is mostly y."""
    y = balanced_labels(n, K)
    g = torch.Generator().manual_seed(seed)
    return torch.eye(K)[y] + 0.3 * torch.randn(n, K, generator=g), y


class Scalars:
    def __init__(self):
        self.added = []

    def add_scalar(self, tag, value, step):
        self.added.append((tag, value, step))


def stuck_trainer():
    torch.manual_seed(0)
    return Trainer(StuckG(), CondD(), seed=0, device="cpu", num_classes=K,
                   conditioning="concat")


def train_with_eval(tmp_path, trainer, names=NAMES, n=N_EVAL, tb=None):
    real, y = real_data()
    cb = EvalCallback(tmp_path / "metrics.jsonl", 2, real, "points3", names,
                      from_module(Head(), "head"), n=n, seed=0, tensorboard=tb,
                      cache_root=tmp_path / "cache", real_labels=y)
    trainer.callbacks = [cb]
    trainer.fit((real, y), steps=2, batch_size=30, data_scale="off", progress=False)
    return [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]


def test_a_conditional_runs_evaluation_row_holds_the_record_of_its_samples(tmp_path):
    tb = SimpleNamespace(writer=Scalars())
    trainer = stuck_trainer()
    [row] = train_with_eval(tmp_path, trainer, tb=tb)
    assert row["step"] == 2 and set(row) == {"step", "metric/fid", "metric/conditional_accuracy",
                                             "metric/intra_fid", RECORD_KEY}
    # The same numbers, measured by hand on the callback's samples and the real reference.
    z = torch.randn((N_EVAL, 3), generator=side_generator(0, "eval"))
    y = balanced_labels(N_EVAL, K)
    with torch.no_grad():
        fake = trainer.G(z, y)
    real, yr = real_data()
    expected = measure_classes(fake, y, real[:N_EVAL], yr[:N_EVAL], 50.0 * fake, step=2,
                               num_classes=K)
    record = ClassStats.from_dict(row[RECORD_KEY])
    assert record.samples_per_class == [50] * K and record.step == 2
    assert record.duplicates[0] == 1.0 and record.fake_spread[0] == 0.0
    torch.testing.assert_close(torch.tensor(record.fake_spread),
                               torch.tensor(expected.fake_spread), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(torch.tensor(record.real_spread),
                               torch.tensor(expected.real_spread), rtol=1e-6, atol=1e-7)
    assert (record.duplicates, record.accuracy, record.confusion) == \
        (expected.duplicates, expected.accuracy, expected.confusion)
    # TensorBoard: the metrics and three scalars of the record, never the record itself.
    tags = {tag: value for tag, value, step in tb.writer.added if step == 2}
    assert set(tags) == {"metric/fid", "metric/conditional_accuracy", "metric/intra_fid",
                         "classes/accuracy_min", "classes/spread_ratio_min",
                         "classes/duplicates_max"}
    assert all(isinstance(v, float) for v in tags.values())
    assert (tags["classes/spread_ratio_min"], tags["classes/duplicates_max"]) == (0.0, 1.0)
    assert tags["classes/accuracy_min"] == min(record.accuracy)


def test_ganforge_doctor_reports_the_collapsed_class_with_the_runs_learning_rates(tmp_path):
    train_with_eval(tmp_path, stuck_trainer())
    (tmp_path / "config.yaml").write_text("lr_G: 0.002\nlr_D: 0.002\nloss: nonsaturating\n")
    findings, _ = diagnose(tmp_path)
    [f] = [f for f in findings if f.kind in CLASS_KINDS]
    assert f.kind == "class_collapse" and (f.first_step, f.last_step) == (2, 2)
    assert f.seen.startswith("class 0: its samples are 0.00x as spread out as the real ones")
    assert "class 1" not in f.seen and "class 2" not in f.seen
    assert f.numbers["duplicates/0"] == 1.0 and f.numbers["spread_ratio/0"] == 0.0
    assert "lr_G=1e-3" in [r.setting for r in f.remedies]     # half the run's lr_G
    assert "Class collapse: the generator makes near-copies within one class" in \
        render_report(tmp_path)


def test_the_callback_measures_the_classes_without_a_conditional_metric(tmp_path):
    [row] = train_with_eval(tmp_path, stuck_trainer(), names=["fid"])
    assert set(row) == {"step", "metric/fid", RECORD_KEY}
    record = ClassStats.from_dict(row[RECORD_KEY])
    assert record.accuracy is None and record.duplicates[0] == 1.0   # "fid" asks no logits
    assert [f.kind for f in class_findings(record)] == ["class_collapse"]


def test_too_few_samples_of_a_class_write_no_record(tmp_path):
    [row] = train_with_eval(tmp_path, stuck_trainer(), names=["fid"], n=4)   # class 2: 1
    assert set(row) == {"step", "metric/fid"}


def test_an_unconditional_run_writes_no_record(tmp_path):
    G, D = mlp_pair(z_dim=4, dim=3)
    real, _ = real_data()
    cb = EvalCallback(tmp_path / "metrics.jsonl", 2, real, "points3", ["fid"],
                      from_module(Head(), "head"), n=60, seed=0, cache_root=tmp_path / "cache")
    Trainer(G, D, seed=0, device="cpu", callbacks=[cb]).fit(real, steps=2, batch_size=30,
                                                            data_scale="off", progress=False)
    [row] = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert set(row) == {"step", "metric/fid"}


def test_a_conditional_cli_run_logs_the_record_at_each_evaluation(tmp_path, monkeypatch):
    # The wiring only (the labels reach the callback): 4 steps judge nothing.
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    assert main(["train", "--no-progress", "data=ring8", "model=mlp", "model.conditioning=concat",
                 "model.width=8", "model.z_dim=2", "batch_size=32", "steps=4", "eval.every=2",
                 "eval.n=160", "eval.metrics=fid,intra_fid", "log_every=2", "sample_every=0",
                 "tensorboard=false", f"run_dir={run}"]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    records = [ClassStats.from_dict(r[RECORD_KEY]) for r in rows if RECORD_KEY in r]
    assert [(r.step, r.samples_per_class) for r in records] == [(2, [20] * 8), (4, [20] * 8)]
    assert all(len(r.duplicates) == 8 and r.accuracy is None for r in records)
    assert "No problems found." in render_report(run)


# --- ganforge doctor over logged rows ------------------------------------------------------------

COLLAPSED = ClassStats(200, accuracy=[0.9, 0.9], fake_spread=[0.1, 1.0],
                       real_spread=[1.0, 1.0], duplicates=[0.9, 0.0],
                       samples_per_class=[100, 100])
HEALTHY = ClassStats(400, accuracy=[0.9, 0.9], fake_spread=[1.0, 1.0], real_spread=[1.0, 1.0],
                     duplicates=[0.0, 0.0], samples_per_class=[100, 100])


def write_rows(run_dir, records=()):
    """A few healthy training rows, with an evaluation row every 200 steps that carries
    the next of ``records`` (a ClassStats, or None for none)."""
    run_dir.mkdir(exist_ok=True)
    rows, records = [], list(records)
    for step in range(50, 401, 50):
        rows.append({"step": step, "loss/D": 1.2 + 0.01 * (step % 100 == 0), "loss/G": 0.9,
                     "diag/d_real_acc": 0.7, "diag/d_fake_acc": 0.7, "diag/grad_norm_D": 1.0,
                     "diag/grad_norm_G": 1.0})
        if step % 200 == 0:
            row = {"step": step, "metric/fid": 10.0 - step / 100}
            record = records.pop(0) if records else None
            if record is not None:
                row[RECORD_KEY] = record.to_dict()
            rows.append(row)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_rows_without_a_record_give_no_class_finding(tmp_path):
    write_rows(tmp_path)
    findings, info = diagnose(tmp_path)
    assert findings == [] and info["notes"] == []
    assert "No problems found." in render_report(tmp_path)


@pytest.mark.parametrize("records, expected", [
    ([COLLAPSED, HEALTHY], []),                    # the last record is what counts
    ([HEALTHY, COLLAPSED], [("class_collapse", 200)]),
    ([COLLAPSED, None], [("class_collapse", 200)]),  # the last row *with* a record
])
def test_the_last_record_is_judged(tmp_path, records, expected):
    write_rows(tmp_path, records)
    findings, _ = diagnose(tmp_path)
    assert [(f.kind, f.first_step) for f in findings] == expected


def test_an_unreadable_record_is_a_note(tmp_path):
    write_rows(tmp_path)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 500, RECORD_KEY: {"accuracy": ["x", 1.0]}}) + "\n")
    findings, info = diagnose(tmp_path)
    assert findings == []
    [note] = info["notes"]
    assert note.startswith("the per-class record at step 500 could not be read (TypeError: ")
    assert note.endswith("); no per-class checks")


# --- ganforge eval: the same findings as before -------------------------------------------------

def test_evaluate_trainer_gives_the_findings_of_measure_classes(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    trainer = stuck_trainer()
    real, yr = real_data()
    ev = evaluate_trainer(trainer, (real, yr), metrics="fid,intra_fid", n=N_EVAL,
                          feature_net=Head())
    z, y = latent_z(0, N_EVAL, (3,)), balanced_labels(N_EVAL, K)
    with torch.no_grad():
        fake = trainer.G(z, y)
    expected = class_findings(measure_classes(fake, y, real[:N_EVAL], yr[:N_EVAL],
                                              50.0 * fake, num_classes=K))
    assert [f.kind for f in expected] == ["class_collapse"]
    assert [f.to_dict() for f in ev.findings] == [f.to_dict() for f in expected]


def test_evaluate_without_a_conditional_metric_gives_no_class_findings(tmp_path, monkeypatch):
    # sample_outputs keeps no labels then; the per-class checks used to fail on the missing
    # key, and now stand aside.
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    real, yr = real_data()
    ev = evaluate_trainer(stuck_trainer(), (real, yr), metrics="fid", n=N_EVAL,
                          feature_net=Head())
    assert ev.findings == [] and list(ev.scores()) == ["fid"]


def test_class_stats_of_needs_features_labels_and_the_reference():
    real, yr = real_data()
    outputs = {"features": real[:60], "labels": yr[:60]}
    assert class_stats_of(outputs, real[60:120], yr[60:120], 5, K).samples_per_class == [20] * K
    assert class_stats_of({"features": real[:60]}, real, yr, 5, K) is None
    assert class_stats_of(outputs, None, yr, 5, K) is None
    assert class_stats_of(outputs, real, None, 5, K) is None
    notes = []
    assert class_stats_of(outputs, real[:2], yr[:2], 5, K, notes.append) is None
    assert notes == ["note: no per-class checks (class 0 has 20 generated and 1 real samples; "
                     "per-class statistics need at least 2 of each)"]


def test_class_scalars_are_the_worst_class_on_each_check():
    assert class_scalars(COLLAPSED) == {"classes/accuracy_min": 0.9,
                                        "classes/spread_ratio_min": 0.1,
                                        "classes/duplicates_max": 0.9}
    assert class_scalars(ClassStats()) == {}
