"""The live doctor: findings printed once, findings.jsonl, TensorBoard text, the start-up range
check as a finding, a stop on NaN, resume; the diversity probe leaves training untouched."""

import io
import json
from types import SimpleNamespace

import torch

import doctor_traces as traces
from conftest import assert_same, mlp_pair, snapshot
from ganforge import Trainer
from ganforge.callbacks import TensorBoardLogger
from ganforge.doctor import DiversityProbe, Doctor
from ganforge.doctor.detectors import Context
from ganforge.errors import NonFiniteLossError
from ganforge.nets import MLPGenerator


class TextRecorder:
    def __init__(self):
        self.texts = []

    def add_text(self, tag, text, step):
        self.texts.append((tag, text, step))


def stub_trainer(*callbacks):
    return SimpleNamespace(step_count=0, callbacks=list(callbacks))


def feed(doctor, trainer, rows, metrics=None):
    """Each row as one step's stats (a Doctor with every=1 makes each its own row), or, with
    ``metrics``, appended to that file as a JSONLLogger before the Doctor would."""
    for row in rows:
        trainer.step_count = row["step"]
        if metrics is not None:
            with open(metrics, "a") as f:
                f.write(json.dumps(row) + "\n")
        doctor.on_step_end(trainer, {k: v for k, v in row.items() if k != "step"})


def started(doctor, trainer, context=None):
    from ganforge.doctor.watch import Watch

    doctor.watch = Watch(None, context or Context(loss="nonsaturating", lr_D=2e-4))
    doctor.range_checked = True
    return trainer


def test_a_finding_is_printed_written_and_sent_to_tensorboard_once(tmp_path):
    tb = TensorBoardLogger(tmp_path / "tb")
    tb.writer = TextRecorder()
    out = io.StringIO()
    doctor = Doctor(tmp_path, every=1, stream=out)
    trainer = started(doctor, stub_trainer(tb, doctor))
    rows = traces.d_overpowering(n_good=30, n_bad=40)
    feed(doctor, trainer, rows)
    text = out.getvalue()
    assert text.count("The discriminator overpowers the generator") == 1
    assert "lr_D=1e-4" in text and text.startswith("ganforge doctor: [warning]")
    lines = (tmp_path / "findings.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["kind"] == "d_overpowering"
    (tag, md, step), = tb.writer.texts
    assert tag == "doctor/d_overpowering" and "`lr_D=1e-4`" in md and step > 30 * 50
    assert [f.kind for f in doctor.findings] == ["d_overpowering"]


def test_no_file_and_no_output_on_a_healthy_run(tmp_path):
    out = io.StringIO()
    doctor = Doctor(tmp_path, every=1, stream=out)
    feed(doctor, started(doctor, stub_trainer(doctor)), traces.healthy(100))
    assert out.getvalue() == "" and not (tmp_path / "findings.jsonl").exists()


def test_a_stop_on_a_non_finite_loss_becomes_a_divergence_finding(tmp_path):
    out = io.StringIO()
    doctor = Doctor(tmp_path, stream=out)
    trainer = started(doctor, stub_trainer(doctor))
    trainer.step_count = 16
    doctor.on_fit_end(trainer, NonFiniteLossError("loss/D", float("nan"), 17))
    row = json.loads((tmp_path / "findings.jsonl").read_text())
    assert row["kind"] == "divergence" and row["first_step"] == 17
    assert "loss/D became nan" in row["seen"] and "Training diverged (step 17)" in out.getvalue()


def test_data_in_the_wrong_range_with_the_check_off_is_a_finding_at_start(tmp_path):
    torch.manual_seed(0)
    G = MLPGenerator(4, 2, hidden=16, depth=2, output="tanh")
    _, D = mlp_pair()
    data = torch.rand(512, 2) * 5                    # [0, 5]; G can only reach [-1, 1]
    out = io.StringIO()
    doctor = Doctor(tmp_path, every=5, stream=out)
    trainer = Trainer(G, D, seed=0, callbacks=[doctor])
    trainer.fit(data, steps=3, batch_size=32, data_scale="off")
    row = json.loads((tmp_path / "findings.jsonl").read_text().splitlines()[0])
    assert row["kind"] == "data_range" and row["first_step"] == 0
    assert "data is in [" in row["seen"] and "tanh" in row["seen"]
    assert "data.scale=auto" in out.getvalue()
    trainer.fit(data, steps=3, batch_size=32, data_scale="off")   # not reported again
    assert out.getvalue().count("value range does not match") == 1


def test_the_doctor_reads_metrics_jsonl_as_it_grows_and_skips_a_partial_line(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    out = io.StringIO()
    doctor = Doctor(tmp_path, every=1, stream=out, metrics=metrics)
    trainer = started(doctor, stub_trainer(doctor))
    rows = traces.fid_flat()     # metric/fid reaches the doctor only through the file
    feed(doctor, trainer, rows[:-1], metrics)
    with open(metrics, "a") as f:
        f.write(json.dumps(rows[-1])[:20])            # being written right now
    doctor.on_step_end(trainer, {})
    assert "metric/fid has stopped improving" in out.getvalue()
    assert doctor.watch.rows[-1]["step"] == rows[-2]["step"]


def test_resume_replays_the_logged_rows_and_does_not_repeat_a_finding(tmp_path):
    rows = traces.d_overpowering(n_good=30, n_bad=40)
    metrics = tmp_path / "metrics.jsonl"
    first = Doctor(tmp_path, every=1, stream=io.StringIO(), metrics=metrics)
    feed(first, started(first, stub_trainer(first)), rows[:45], metrics)
    assert len((tmp_path / "findings.jsonl").read_text().splitlines()) == 1
    # Resume from a checkpoint at row 40: as the JSONLLogger would, drop the later rows.
    metrics.write_text("".join(json.dumps(r) + "\n" for r in rows[:41]))
    # A finding logged after the checkpoint must go (the resumed run finds it again).
    later = {**json.loads((tmp_path / "findings.jsonl").read_text()), "first_step": 10**6}
    with open(tmp_path / "findings.jsonl", "a") as f:
        f.write(json.dumps(later) + "\n")
    out = io.StringIO()
    resumed = Doctor(tmp_path, every=1, stream=out, metrics=metrics)
    trainer = SimpleNamespace(step_count=rows[40]["step"], callbacks=[resumed],
                              feed=SimpleNamespace(scale="off", batches=None),
                              seed=0, players=SimpleNamespace(
                                  loss=SimpleNamespace(name="nonsaturating"), precision="fp32",
                                  opt_G=SimpleNamespace(param_groups=[{"lr": 2e-4}]),
                                  opt_D=SimpleNamespace(param_groups=[{"lr": 2e-4}])))
    resumed.on_fit_start(trainer, 10**6)
    feed(resumed, trainer, rows[41:], metrics)
    assert out.getvalue() == ""
    assert len((tmp_path / "findings.jsonl").read_text().splitlines()) == 1
    assert resumed.watch.active["d_overpowering"].last_step == rows[-1]["step"]


def test_the_probe_logs_diversity_and_leaves_training_bitwise_unchanged(tmp_path):
    data = torch.randn(256, 2)

    def train(probe):
        torch.manual_seed(0)
        G, D = mlp_pair(dropout=0.2)     # BatchNorm buffers in G, dropout RNG in D
        assert any(isinstance(m, torch.nn.BatchNorm1d) for m in G.modules())
        cbs = [DiversityProbe(data, every=2, n=16)] if probe else []
        trainer = Trainer(G, D, seed=0, callbacks=cbs)
        seen = []
        trainer.callbacks.append(SimpleNamespace(
            on_fit_start=lambda t, e: None, on_fit_end=lambda t, e: None,
            on_step_end=lambda t, stats: seen.append(dict(stats))))
        trainer.fit(data, steps=4, batch_size=16)
        return trainer, seen

    a, seen_a = train(False)
    b, seen_b = train(True)
    assert_same(snapshot(a.G), snapshot(b.G))
    assert_same(snapshot(a.D), snapshot(b.D))
    assert "diag/diversity" not in seen_b[0] and "diag/diversity" in seen_b[1]
    assert 0 < seen_b[1]["diag/diversity"] and 0 <= seen_b[1]["diag/duplicates"] <= 1
    assert [s["loss/D"] for s in seen_a] == [s["loss/D"] for s in seen_b]


def test_probe_values_average_over_the_steps_that_measured_them(tmp_path):
    from ganforge.callbacks import JSONLLogger

    data = torch.randn(512, 2)
    G, D = mlp_pair()
    probe = DiversityProbe(data, every=4, n=64)
    log = JSONLLogger(tmp_path / "metrics.jsonl", every=8)
    trainer = Trainer(G, D, seed=0, callbacks=[probe, log])
    measured = []
    original = probe.measure
    probe.measure = lambda t: measured.append(original(t)) or measured[-1]
    trainer.fit(data, steps=8, batch_size=32)
    row = json.loads((tmp_path / "metrics.jsonl").read_text())
    expected = (measured[0]["diag/diversity"] + measured[1]["diag/diversity"]) / 2
    assert abs(row["diag/diversity"] - expected) < 1e-12   # not diluted by steps without it
