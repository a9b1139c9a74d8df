"""Callbacks: interval means, JSONL and TensorBoard logs (and their trimming on resume), sample
grids, checkpoints, progress output.

Most tests drive a callback by hand with a fake trainer (only the attributes the callback
reads), so they pin the callback's own behaviour; a few run a tiny real Trainer end to end.
"""

import io
import json
import re
from types import SimpleNamespace

import pytest
import torch

from conftest import assert_same, mlp_pair, snapshot
from ganforge import Trainer
from ganforge.callbacks import (Callback, Checkpointer, JSONLLogger, Progress, SampleGrid,
                                TensorBoardLogger, _due, _IntervalMean)
from ganforge.checkpoint import list_checkpoints, load_checkpoint
from ganforge.errors import NonFiniteLossError
from ganforge.files import WriteError

PER_STEP = 8   # images a fake step shows D


def fake_trainer(step=0, G=None, D=None):
    """What the callbacks read off a Trainer, and nothing else."""
    if G is None:
        G, D = mlp_pair(hidden=8)
    t = SimpleNamespace(step_count=step, images_seen=step * PER_STEP, G=G, D=D, G_sample=G,
                        device=torch.device("cpu"), players=SimpleNamespace(autocast=None),
                        sample_mode="train", saves=0)

    def state_dict():
        t.saves += 1
        return {"G": t.G.state_dict(), "D": t.D.state_dict(),
                "counters": {"step": t.step_count, "images_seen": t.images_seen}}

    t.state_dict = state_dict
    return t


def drive(callbacks, trainer, stats_per_step, error=None):
    """What ``Trainer.fit`` does with its callbacks, one fake step per entry of
    ``stats_per_step``; ``error``: the exception that 'stops' fit after the last entry."""
    end = trainer.step_count + len(stats_per_step) + (1 if error else 0)
    for cb in callbacks:
        cb.on_fit_start(trainer, end)
    for stats in stats_per_step:
        trainer.step_count += 1
        trainer.images_seen += PER_STEP
        for cb in callbacks:
            cb.on_step_end(trainer, dict(stats))
    for cb in callbacks:
        cb.on_fit_end(trainer, error)


def steps_of(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


class Recorder(Callback):
    """Keeps every step's stats as the Trainer hands them over."""

    def __init__(self):
        self.stats = []

    def on_step_end(self, trainer, stats):
        self.stats.append(dict(stats))


class FailAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, trainer, stats):
        if trainer.step_count == self.step:
            raise RuntimeError(f"stop at {self.step}")


def tiny_data(n=64):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 2, generator=g) * 2 - 1


# --- interval means -----------------------------------------------------------------------------

def test_interval_mean_averages_each_key_over_the_steps_that_reported_it():
    acc = _IntervalMean()
    acc.add({"loss/D": 1.0, "reg/r1": 0.5})
    acc.add({"loss/D": 2.0})
    acc.add({"loss/D": 4.5, "reg/r1": 0.25})
    acc.add({"loss/D": 0.5})
    assert acc.count == 4
    # reg/r1: (0.5 + 0.25) / 2, not / 4
    assert acc.flush() == {"loss/D": 2.0, "reg/r1": 0.375}


def test_interval_mean_flush_resets():
    acc = _IntervalMean()
    acc.add({"loss/D": 3.0, "only/first": 7.0})
    assert acc.flush() == {"loss/D": 3.0, "only/first": 7.0}
    assert acc.count == 0 and acc.flush() == {}
    acc.add({"loss/D": 1.0})
    assert acc.count == 1 and acc.flush() == {"loss/D": 1.0}   # no memory of the 3.0


@pytest.mark.parametrize("step, every, due", [
    (0, 5, True), (5, 5, True), (10, 5, True), (3, 5, False), (6, 5, False),
    (1, 1, True), (5, 0, False), (0, 0, False), (5, -1, False)])
def test_due(step, every, due):
    assert _due(step, every) is due


# --- metrics.jsonl ------------------------------------------------------------------------------

def test_jsonl_rows_every_n_steps_and_at_the_end_with_counters_and_means(tmp_path):
    path = tmp_path / "metrics.jsonl"
    stats = [{"loss/D": 1.0, "reg/r1": 0.5}, {"loss/D": 2.0}, {"loss/D": 3.0},
             {"loss/D": 4.0, "reg/r1": 0.25}, {"loss/D": 5.0}]
    drive([JSONLLogger(path, every=2)], fake_trainer(), stats)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [
        {"step": 2, "images_seen": 2 * PER_STEP, "loss/D": 1.5, "reg/r1": 0.5},
        {"step": 4, "images_seen": 4 * PER_STEP, "loss/D": 3.5, "reg/r1": 0.25},
        {"step": 5, "images_seen": 5 * PER_STEP, "loss/D": 5.0},   # the tail, at fit end
    ]


def test_jsonl_no_extra_row_when_fit_ends_on_a_logged_step(tmp_path):
    path = tmp_path / "metrics.jsonl"
    drive([JSONLLogger(path, every=2)], fake_trainer(), [{"loss/D": float(i)} for i in range(4)])
    assert steps_of(path) == [2, 4]


def test_jsonl_on_resume_drops_rows_past_the_step_and_a_torn_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    old = [{"step": s, "images_seen": s * PER_STEP, "loss/D": float(s)} for s in (2, 4, 6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in old) + '{"step": 8, "loss/D": 0.')
    trainer = fake_trainer(step=4)   # resumed from the checkpoint at step 4
    logger = JSONLLogger(path, every=2)
    logger.on_fit_start(trainer, 8)
    # The file now reads as if the run had stopped right after the checkpoint.
    assert path.read_text() == "".join(json.dumps(r) + "\n" for r in old[:2])
    for s in (5, 6):
        trainer.step_count, trainer.images_seen = s, s * PER_STEP
        logger.on_step_end(trainer, {"loss/D": 10.0 * s})
    logger.on_fit_end(trainer, None)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == old[:2] + [{"step": 6, "images_seen": 6 * PER_STEP, "loss/D": 55.0}]


def test_jsonl_logs_the_means_of_a_real_run(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rec = Recorder()
    G, D = mlp_pair(hidden=8)
    trainer = Trainer(G, D, seed=0, callbacks=[rec, JSONLLogger(path, every=2)])
    trainer.fit(tiny_data(), steps=5)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 5]
    assert rows[-1]["images_seen"] == trainer.images_seen
    per_step = trainer.images_seen // 5
    assert [r["images_seen"] for r in rows] == [2 * per_step, 4 * per_step, 5 * per_step]
    for row, chunk in zip(rows, (rec.stats[0:2], rec.stats[2:4], rec.stats[4:5])):
        keys = {k for s in chunk for k in s}
        assert set(row) == {"step", "images_seen", *keys}
        assert "loss/D" in row and "loss/G" in row
        for key in keys:   # some stats (update ratios) are measured on some steps only
            values = [s[key] for s in chunk if key in s]
            assert row[key] == sum(values) / len(values), key


def test_a_log_that_cannot_be_written_is_a_write_error_naming_it(tmp_path):
    (tmp_path / "run").write_text("a file where the run directory should be")
    path = tmp_path / "run" / "metrics.jsonl"
    with pytest.raises(WriteError, match=re.escape(f"cannot write {path}: ") + ".*is a file, not a directory"):
        drive([JSONLLogger(path, every=1)], fake_trainer(), [{"loss/D": 1.0}])
    with pytest.raises(WriteError, match=re.escape(f"{tmp_path / 'run'} is a file, not a directory")):
        TensorBoardLogger(tmp_path / "run" / "tb").on_fit_start(fake_trainer(), 1)


# --- TensorBoard --------------------------------------------------------------------------------

def read_scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)]
            for tag in acc.Tags()["scalars"]}


def test_tensorboard_writes_interval_means_as_scalars(tmp_path):
    logger = TensorBoardLogger(tmp_path / "tb", every=2)
    drive([logger], fake_trainer(),
          [{"loss/D": 1.0, "reg/r1": 0.5}, {"loss/D": 2.0}, {"loss/D": 3.0}])
    logger.writer.close()
    assert read_scalars(tmp_path / "tb") == {"loss/D": [(2, 1.5), (3, 3.0)],
                                             "reg/r1": [(2, 0.5)]}


def test_tensorboard_event_file_of_a_tiny_real_run_is_readable(tmp_path):
    rec = Recorder()
    logger = TensorBoardLogger(tmp_path / "tb", every=2)
    G, D = mlp_pair(hidden=8)
    Trainer(G, D, seed=0, callbacks=[rec, logger]).fit(tiny_data(), steps=4)
    logger.writer.close()
    scalars = read_scalars(tmp_path / "tb")
    assert set(scalars) == {k for stats in rec.stats for k in stats}
    for key in ("loss/D", "loss/G"):
        expected = [(step, torch.tensor(sum(s[key] for s in chunk) / 2).item())  # float32
                    for step, chunk in ((2, rec.stats[:2]), (4, rec.stats[2:]))]
        assert scalars[key] == expected


def write_tb_run(log_dir, start, stop, scale):
    """A TensorBoardLogger run from step ``start`` (a resume when > 0) to ``stop``."""
    trainer = fake_trainer(step=start)
    logger = TensorBoardLogger(log_dir, every=2)
    drive([logger], trainer, [{"loss/D": scale * s} for s in range(start + 1, stop + 1)])
    logger.writer.close()


def test_tensorboard_resume_purges_the_events_past_the_checkpoint(tmp_path):
    write_tb_run(tmp_path, 0, 6, 1.0)        # interrupted after step 6
    write_tb_run(tmp_path, 4, 8, 10.0)       # resumed from the checkpoint at step 4
    steps = [step for step, _ in read_scalars(tmp_path)["loss/D"]]
    assert 6 in steps and steps.count(6) == 1 and steps[-1] == 8
    assert read_scalars(tmp_path)["loss/D"][-2:] == [(6, 55.0), (8, 75.0)]


def test_tensorboard_resume_keeps_the_row_at_the_checkpoint_step_like_jsonl(tmp_path):
    write_tb_run(tmp_path, 0, 6, 1.0)
    write_tb_run(tmp_path, 4, 8, 10.0)
    assert read_scalars(tmp_path)["loss/D"] == [(2, 1.5), (4, 3.5), (6, 55.0), (8, 75.0)]


# --- sample grids -------------------------------------------------------------------------------

class ImageLog:
    """Stands in for the TensorBoardLogger a SampleGrid shows its grids on."""

    def __init__(self):
        self.steps = []

    def add_image(self, tag, image, step):
        assert tag == "samples" and image.dtype.name == "uint8"
        self.steps.append(step)


def grid_run(tmp_path, start, n_steps, every=3, error=None):
    trainer = fake_trainer(step=start)
    log = ImageLog()
    grid = SampleGrid(tmp_path / "samples", torch.randn(16, 4), every=every, tensorboard=log)
    drive([grid], trainer, [{}] * n_steps, error=error)
    files = sorted(p.name for p in (tmp_path / "samples").iterdir())
    return log.steps, files


def test_sample_grid_at_step_0_every_n_and_at_the_end(tmp_path):
    steps, files = grid_run(tmp_path, 0, 7)
    assert steps == [0, 3, 6, 7]
    assert files == [f"step_{s:07d}.png" for s in (0, 3, 6, 7)]


def test_sample_grid_not_twice_when_the_end_is_a_grid_step(tmp_path):
    steps, files = grid_run(tmp_path, 0, 6)
    assert steps == [0, 3, 6]
    assert files == [f"step_{s:07d}.png" for s in (0, 3, 6)]


def test_sample_grid_resumed_run_has_no_baseline_grid(tmp_path):
    steps, files = grid_run(tmp_path, 3, 4)
    assert steps == [6, 7] and files == ["step_0000006.png", "step_0000007.png"]


def test_sample_grid_not_at_the_end_of_a_failed_fit(tmp_path):
    steps, files = grid_run(tmp_path, 0, 4, error=RuntimeError("boom"))
    assert steps == [0, 3]
    assert files == ["step_0000000.png", "step_0000003.png"]


def test_sample_grid_leaves_g_and_the_global_rng_untouched(tmp_path):
    trainer = fake_trainer()
    trainer.G.train()
    before = snapshot(trainer.G)
    grid = SampleGrid(tmp_path, torch.randn(16, 4), every=1)
    rng = torch.get_rng_state()
    grid.on_fit_start(trainer, 1)
    assert_same(snapshot(trainer.G), before)          # BatchNorm running stats too
    assert trainer.G.training
    assert torch.equal(torch.get_rng_state(), rng)
    assert (tmp_path / "step_0000000.png").stat().st_size > 0


def test_sample_grid_skips_samples_it_cannot_draw(tmp_path):
    G, D = mlp_pair(dim=5, hidden=8)        # 5-D vectors: no picture
    trainer = fake_trainer(G=G, D=D)
    log = ImageLog()
    drive([SampleGrid(tmp_path / "s", torch.randn(8, 4), every=1, tensorboard=log)], trainer,
          [{}] * 2)
    assert log.steps == [] and list((tmp_path / "s").iterdir()) == []


def test_sample_grid_of_a_resumed_run_equals_the_uninterrupted_one_bitwise(tmp_path):
    z = torch.randn(32, 4, generator=torch.Generator().manual_seed(5))
    data = tiny_data()

    G, D = mlp_pair(hidden=8)
    full = Trainer(G, D, seed=0, callbacks=[
        Checkpointer(tmp_path / "ckpt", every=2, keep=5),
        SampleGrid(tmp_path / "full", z, every=2)])
    full.fit(data, steps=4)

    G, D = mlp_pair(hidden=8)
    resumed = Trainer(G, D, seed=0, callbacks=[SampleGrid(tmp_path / "resumed", z, every=2)])
    resumed.load_state_dict(load_checkpoint(tmp_path / "ckpt" / "step_0000002.pt"))
    resumed.fit(data, steps=2)

    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["step_0000004.png"]
    assert ((tmp_path / "resumed" / "step_0000004.png").read_bytes()
            == (tmp_path / "full" / "step_0000004.png").read_bytes())
    # and the grids do change with training, so equal bytes mean something
    assert ((tmp_path / "full" / "step_0000000.png").read_bytes()
            != (tmp_path / "full" / "step_0000004.png").read_bytes())


# --- checkpoints --------------------------------------------------------------------------------

def test_checkpointer_every_n_and_at_the_end(tmp_path):
    trainer = fake_trainer()
    drive([Checkpointer(tmp_path, every=2, keep=10)], trainer, [{}] * 5)
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "step_0000002.pt", "step_0000004.pt", "step_0000005.pt"]
    state = load_checkpoint(tmp_path / "step_0000005.pt")
    assert state["counters"] == {"step": 5, "images_seen": 5 * PER_STEP}
    assert_same(state["G"], trainer.G.state_dict())
    assert trainer.saves == 3


def test_checkpointer_not_twice_at_the_same_step_and_keeps_the_newest(tmp_path):
    trainer = fake_trainer()
    drive([Checkpointer(tmp_path, every=2, keep=2, extra=lambda: {"config": {"a": 1}})],
          trainer, [{}] * 6)
    assert trainer.saves == 3                           # 2, 4, 6: not again at the end
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000004.pt", "step_0000006.pt"]
    assert load_checkpoint(tmp_path / "step_0000006.pt")["config"] == {"a": 1}


def test_checkpointer_writes_nothing_at_the_end_of_a_failed_fit(tmp_path):
    trainer = fake_trainer()
    drive([Checkpointer(tmp_path, every=2)], trainer, [{}] * 3, error=RuntimeError("nan"))
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000002.pt"]


def test_checkpointer_in_a_real_fit_that_fails(tmp_path):
    G, D = mlp_pair(hidden=8)
    trainer = Trainer(G, D, seed=0, callbacks=[Checkpointer(tmp_path, every=2), FailAt(3)])
    with pytest.raises(RuntimeError, match="stop at 3"):
        trainer.fit(tiny_data(), steps=6)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000002.pt"]
    assert load_checkpoint(tmp_path / "step_0000002.pt")["counters"]["step"] == 2


@pytest.mark.parametrize("net, key, value", [
    ("G", "net.0.weight", float("nan")), ("D", "body.0.bias", float("inf")),
    ("G", "net.1.running_mean", float("nan"))])
def test_checkpointer_refuses_non_finite_parameters_naming_the_tensor(tmp_path, net, key, value):
    trainer = fake_trainer()
    ckpt = Checkpointer(tmp_path, every=2)
    drive([ckpt], trainer, [{}] * 2)                    # a good checkpoint at step 2
    getattr(trainer, net).state_dict()[key].view(-1)[0] = value
    trainer.step_count = 3
    with pytest.raises(NonFiniteLossError) as info:
        ckpt.save(trainer)
    err = info.value
    assert err.name == f"{net}'s {key}" and err.kind == "parameter" and err.step == 3
    assert err.last == tmp_path / "step_0000002.pt"
    assert f"{net}'s {key} became nan at step 3" in str(err)
    assert "no checkpoint was written" in str(err) and "step_0000002.pt" in str(err)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000002.pt"]


# --- progress -----------------------------------------------------------------------------------

# The stat names shown (the two losses, then D's mean logits on real and fake) are the
# callback's KEYS; the tests follow them so they pin the format, not the names.
LOSS_D, LOSS_G, REAL, FAKE = Progress.KEYS


def progress_stats(i):
    return {LOSS_D: 0.25 * i, LOSS_G: 1.5, REAL: 1.0, FAKE: -1.0,
            "diag/grad_norm_D": 9.0, "time/step_ms": 1000.0 + 2000.0 * (i % 2)}


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_shows_the_losses_first():
    assert (LOSS_D, LOSS_G) == ("loss/D", "loss/G")


def test_progress_plain_lines_on_a_non_terminal():
    stream = io.StringIO()
    drive([Progress(every=2, stream=stream)], fake_trainer(), [progress_stats(i) for i in range(5)])
    # every 2 steps: means of the interval; 1000 / mean(step_ms) steps/s; ETA from them;
    # other stats (grad norms) are not shown; the last step, off the interval, gets its line
    shown = f"{REAL}=1 {FAKE}=-1"
    assert stream.getvalue() == (
        f"step 2/5 loss/D=0.125 loss/G=1.5 {shown} 0.5 steps/s ETA 6s\n"
        f"step 4/5 loss/D=0.625 loss/G=1.5 {shown} 0.5 steps/s ETA 2s\n"
        f"step 5/5 loss/D=1 loss/G=1.5 {shown} 1.0 steps/s ETA 0s\n")


def test_progress_plain_when_forced_on_a_terminal():
    stream = Terminal()
    drive([Progress(every=1, stream=stream, force_plain=True)], fake_trainer(step=9),
          [progress_stats(3)])
    assert stream.getvalue() == (f"step 10/10 loss/D=0.75 loss/G=1.5 {REAL}=1 {FAKE}=-1 "
                                 "0.3 steps/s ETA 0s\n")


def test_progress_bar_on_a_terminal():
    stream = Terminal()
    progress = Progress(every=5, stream=stream)
    assert not progress.plain
    drive([progress], fake_trainer(step=4), [progress_stats(2)] * 6)   # resumed at 4 of 10
    out = stream.getvalue()
    assert "\r" in out and " 4/10 " in out and " 10/10 " in out and "step/s" in out
    assert f"D=0.5, G=1.5, {REAL}=1, {FAKE}=-1" in out
    assert "grad_norm" not in out and "step 10/10" not in out   # no plain lines
