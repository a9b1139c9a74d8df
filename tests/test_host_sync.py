"""``Trainer.fit`` does not wait for the device between log points.

Every call that brings a tensor's value to the host (``item``, ``tolist``, ``__float__``,
``__bool__``, ``cpu``) made by ganforge's own code is counted with a patch and dated by the
training step it happened in: between two log points there are none; at a log point, one
transfer for all the logged stats and one for the non-finite guard. (Calls inside PyTorch,
such as an optimizer reading its CPU step counter, are not transfers of training tensors and
are not counted.)
"""

import sys
from pathlib import Path

import pytest
import torch

from conftest import mlp_pair
from ganforge import Trainer
from ganforge.callbacks import Callback, JSONLLogger

SRC = str(Path(__file__).resolve().parents[1] / "src" / "ganforge")
METHODS = ("item", "tolist", "__float__", "__bool__", "cpu")


class Clock(Callback):
    """The number of the step running now (0 before the first one ends)."""

    step = None

    def on_fit_start(self, trainer, end_step):
        Clock.step = trainer.step_count

    def on_step_end(self, trainer, stats):
        Clock.step = trainer.step_count


@pytest.fixture
def transfers(monkeypatch):
    Clock.step = None   # calls before the first step (the data checks) are not dated
    seen = []
    for name in METHODS:
        original = getattr(torch.Tensor, name)

        def patched(self, *args, _original=original, _name=name, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(SRC):
                seen.append((Clock.step, _name, caller.rsplit("/", 1)[-1]))
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, patched)
    return seen


@pytest.mark.parametrize("schedule", ["alternating", "onestep"])
def test_no_host_transfer_between_log_points(tmp_path, transfers, schedule):
    G, D = mlp_pair()
    trainer = Trainer(G, D, schedule=schedule, seed=0, ema=500.0,
                      callbacks=[Clock(), JSONLLogger(tmp_path / "m.jsonl", every=50)])
    trainer.fit(torch.randn(512, 2), steps=100, batch_size=32)
    during = [t for t in transfers if t[0] is not None]
    # At the log steps 50 and 100 (the guard checks while Clock.step is 49 or 99; the logger
    # and the progress line flush after Clock moved on): one transfer each. Nothing at any
    # other step.
    log_points = (49, 50, 99, 100)
    assert [t for t in during if t[0] not in log_points] == []
    at_log = [t for t in during if t[0] in log_points]
    # (and fit's return value, its last stats as floats: one transfer at the very end)
    assert sorted((t[1], t[2]) for t in at_log) == [("tolist", "callbacks.py")] * 4 + [
        ("tolist", "guard.py")] * 2 + [("tolist", "trainer.py")], at_log


def test_step_by_hand_still_returns_floats_and_stops_before_the_update(transfers):
    G, D = mlp_pair()
    trainer = Trainer(G, D, seed=0)
    stats = trainer.step(torch.randn(32, 2))
    assert all(isinstance(v, float) for v in stats.values())
    before = {k: v.clone() for k, v in D.state_dict().items()}
    with pytest.raises(Exception, match="loss/D became nan at step 2; training stopped "
                                        "before the optimizer step"):
        trainer.step(torch.full((32, 2), float("nan")))
    assert all(torch.equal(before[k], v) for k, v in D.state_dict().items())


def test_fit_stops_at_the_next_check_and_no_nan_reaches_a_row_or_a_checkpoint(tmp_path):
    from ganforge.callbacks import Checkpointer
    from ganforge.checkpoint import list_checkpoints, load_checkpoint
    from ganforge.errors import NonFiniteLossError

    G, D = mlp_pair()
    data = torch.randn(512, 2)
    trainer = Trainer(G, D, seed=0, callbacks=[
        JSONLLogger(tmp_path / "m.jsonl", every=10),
        Checkpointer(tmp_path / "ck", every=10, keep=10)])
    trainer.fit(data, steps=20, batch_size=32)
    good = {k: v.clone() for k, v in [*G.state_dict().items(), *D.state_dict().items()]}
    data[:] = float("nan")   # from step 21 on, every batch is NaN
    with pytest.raises(NonFiniteLossError) as err:
        trainer.fit(data, steps=20, batch_size=32)
    assert err.value.step == 21 and err.value.caught_at == 30
    assert "became nan at step 21; training stopped at the check of step 30" in str(err.value)
    rows = (tmp_path / "m.jsonl").read_text().splitlines()
    assert len(rows) == 2 and "NaN" not in "".join(rows)          # steps 10 and 20 only
    assert [p.name for p in list_checkpoints(tmp_path / "ck")] == ["step_0000010.pt",
                                                                   "step_0000020.pt"]
    last = load_checkpoint(tmp_path / "ck/step_0000020.pt")
    assert all(torch.isfinite(v).all() for v in last["G"].values())
    # Steps 21..30 ran; the failed check put the networks back as they were at the last
    # passed check (step 20).
    now = {k: v for k, v in [*G.state_dict().items(), *D.state_dict().items()]}
    assert [k for k in good if not torch.equal(good[k], now[k])] == []
