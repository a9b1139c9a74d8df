"""balance=...: the doctor's controllers applied to a live trainer, checkpointed."""

import copy

import pytest
import torch

from conftest import dcgan_pair, mlp_pair
from ganforge import Trainer
from ganforge.doctor.balance import balance, resolve_mode
from ganforge.errors import UserError
from ganforge.losses import get_loss

D_WINS = {"diag/d_real_acc": 1.0, "diag/d_fake_acc": 1.0, "diag/r_t": 1.0}


def trainer(pair=mlp_pair, **kw):
    torch.manual_seed(0)   # the same initial networks in every trainer
    G, D = pair()
    return Trainer(G, D, seed=0, device="cpu", **kw)


def test_auto_picks_ratio_when_alternating_else_ada_for_images_or_smoothing():
    assert resolve_mode("auto", True, get_loss("hinge"), "alternating") == "ratio"
    assert resolve_mode("auto", False, get_loss("nonsaturating"), "alternating") == "ratio"
    assert resolve_mode("auto", True, get_loss("hinge"), "onestep") == "ada"
    assert resolve_mode("auto", False, get_loss("nonsaturating"), "onestep") == "smoothing"
    with pytest.raises(UserError, match="not images"):
        resolve_mode("auto", False, get_loss("wasserstein"), "onestep")
    with pytest.raises(UserError, match="not images"):
        resolve_mode("ada", False, get_loss("hinge"), "alternating")
    with pytest.raises(UserError, match="needs a cross-entropy or least-squares loss"):
        resolve_mode("smoothing", False, get_loss("hinge"), "alternating")
    with pytest.raises(UserError, match="only schedule=alternating"):
        resolve_mode("ratio", False, get_loss("hinge"), "onestep")


def test_smoothing_rises_by_the_controller_step_and_reaches_the_loss():
    tr = trainer()
    balance(tr, "smoothing", images=False, interval=2)
    assert tr.balancer.update(D_WINS, 64) == {}
    stats = tr.balancer.update(D_WINS, 64)
    step = 0.3 * 128 / 100_000          # max_smoothing * images / adjust_images
    assert stats["balance/label_smoothing"] == pytest.approx(step, rel=1e-12)
    assert tr.objective.state.real_label == pytest.approx(1 - step, rel=1e-12)


def test_ada_creates_augmentation_and_drives_p_with_r_t():
    tr = trainer(dcgan_pair)
    balance(tr, "ada", images=True, interval=1)
    assert tr.objective.augment is not None and tr.objective.augment.p == 0.0
    tr.balancer.update(D_WINS, 64)
    assert tr.objective.augment.p == pytest.approx(64 / 500_000, rel=1e-12)
    tr.balancer.update({**D_WINS, "diag/r_t": 0.0}, 64)
    assert tr.objective.augment.p == pytest.approx(0.0, abs=1e-15)
    # A real step with ADA on runs and logs r_t.
    assert "diag/r_t" in tr.step(torch.rand(8, 1, 28, 28) * 2 - 1)


def test_ratio_adds_G_steps_while_D_wins():
    tr = trainer()
    balance(tr, "ratio", images=False, interval=1)
    for _ in range(3):                   # patience 3
        stats = tr.balancer.update(D_WINS, 64)
    assert (tr.schedule.d_steps, tr.schedule.g_steps) == (1, 2)
    assert stats["balance/g_steps"] == 2


def test_balance_state_survives_a_checkpoint():
    real = [torch.randn(16, 2) for _ in range(6)]
    def run(n, state=None):
        tr = trainer(loss="nonsaturating")
        balance(tr, "smoothing", images=False, interval=4)   # mid-interval at the checkpoint
        if state is not None:
            tr.load_state_dict(state)
        for x in real[len(real) - n:] if state is not None else real[:n]:
            tr.step(x)
        return tr
    full = run(6)
    half = run(3)
    resumed = run(3, copy.deepcopy(half.state_dict()))
    assert resumed.objective.state.real_label == full.objective.state.real_label
    assert resumed.balancer.state_dict() == full.balancer.state_dict()
    assert half.balancer.count == 3   # the accumulators were saved mid-interval
    for a, b in zip(full.D.parameters(), resumed.D.parameters()):
        assert torch.equal(a, b)
    off = trainer()
    with pytest.raises(UserError, match="balance=smoothing"):
        off.load_state_dict(copy.deepcopy(half.state_dict()))
