"""Running G for samples or checks leaves training state untouched; the pre-flight checks
name both shapes on a mismatch and find data scaled for another generator."""

import pytest
import torch

from conftest import assert_same, dcgan_pair, mlp_pair, snapshot
from ganforge import Trainer
from ganforge.data.range_check import DataRangeError
from ganforge.errors import UserError
from ganforge.data.preflight import check_data
from ganforge.sampling import generate, untouched


def test_generate_leaves_buffers_modes_and_rng_untouched():
    G = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.BatchNorm1d(2), torch.nn.Dropout(0.5))
    z = torch.randn(16, 4)
    before, rng = snapshot(G), torch.get_rng_state()
    out = generate(G, z)
    assert out.shape == (16, 2) and out.dtype == torch.float32
    assert_same(snapshot(G), before)
    assert torch.equal(torch.get_rng_state(), rng) and G.training


def test_untouched_restores_after_an_exception():
    G, _ = dcgan_pair()
    before = snapshot(G)
    with pytest.raises(RuntimeError):
        with untouched(G):
            G(torch.randn(4, 8))
            G.eval()
            raise RuntimeError
    assert_same(snapshot(G), before) and G.training


def test_shape_mismatch_names_both_shapes():
    G, D = dcgan_pair()
    tr = Trainer(G, D, seed=0)
    with pytest.raises(UserError, match=r"G outputs samples of shape \(1, 28, 28\) but the real "
                                        r"samples have shape \(3, 32, 32\)"):
        check_data(tr.players, torch.zeros(8, 3, 32, 32))


def test_d_that_does_not_return_one_logit_per_sample():
    G, _ = mlp_pair()
    tr = Trainer(G, torch.nn.Linear(2, 3), seed=0)
    with pytest.raises(UserError, match=r"one logit per sample.*\(4, 3\)"):
        check_data(tr.players, torch.zeros(8, 2))


@pytest.mark.parametrize("scale_to,found", [(lambda x: (x + 1) / 2, r"\[0, 1\]"),
                                            (lambda x: (x + 1) * 127.5, r"\[0, 255\]")])
def test_data_in_the_wrong_range_for_a_tanh_generator_is_stopped(scale_to, found):
    G, D = dcgan_pair()
    tr = Trainer(G, D, seed=0)
    x = torch.rand(32, 1, 28, 28) * 2 - 1
    x[0, 0, 0, 0], x[0, 0, 0, 1] = -1.0, 1.0
    with pytest.raises(DataRangeError, match=found):
        check_data(tr.players, scale_to(x))
    fixed, notes = check_data(tr.players, scale_to(x), scale="auto")
    torch.testing.assert_close(fixed, x)
    assert notes and "rescaled" in notes[0]
    same, notes = check_data(tr.players, x)        # correctly scaled: quiet
    assert same is x and notes == []


def test_checks_do_not_change_the_run():
    def run(check):
        torch.manual_seed(0)
        G, D = dcgan_pair(batchnorm=True, dropout=0.2)
        tr = Trainer(G, D, seed=0)
        x = torch.rand(16, 1, 28, 28) * 2 - 1
        if check:
            check_data(tr.players, x)
        tr.fit(x, steps=2, batch_size=8)
        return snapshot(tr.G), snapshot(tr.D)
    (g1, d1), (g2, d2) = run(False), run(True)
    assert_same(g1, g2)
    assert_same(d1, d2)
