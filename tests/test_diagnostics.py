"""The diagnostics against hand-computed values."""

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganforge import diagnostics as signals


def t(*values):
    return torch.tensor(values, dtype=torch.float32)


def test_sign_statistic_and_accuracy():
    real = t(2.0, 1.0, -1.0, 0.0)
    fake = t(-3.0, 1.0, -1.0, -1.0)
    assert_close(signals.sign_statistic(real), torch.tensor(0.25))   # (1 + 1 - 1 + 0) / 4
    assert_close(signals.sign_statistic(real.view(4, 1)), torch.tensor(0.25))
    acc_r, acc_f = signals.accuracy(real, fake)
    assert_close(acc_r, torch.tensor(0.5))     # 0 is not > 0: undecided is not right
    assert_close(acc_f, torch.tensor(0.75))
    stats = signals.logit_stats(real, fake)
    assert_close(stats["logits/real"], torch.tensor(0.5))
    assert_close(stats["logits/fake"], torch.tensor(-1.0))
    assert_close(stats["diag/r_t"], torch.tensor(0.25))


def test_grad_norm_over_all_parameters_with_a_grad():
    net = nn.Linear(3, 2)
    assert_close(signals.grad_norm(net.parameters()), torch.tensor(0.0))
    net.weight.grad = torch.full((2, 3), 2.0)       # 6 * 4 = 24
    assert_close(signals.grad_norm(net.parameters()), torch.tensor(math.sqrt(24.0)))
    net.bias.grad = t(1.0, 0.0)                     # + 1
    assert_close(signals.grad_norm(net.parameters()), torch.tensor(5.0))


def test_update_ratio_is_the_relative_size_of_a_step():
    net = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        net.weight.copy_(t(3.0, 4.0).view(1, 2))    # norm 5
    before = [w.detach().clone() for w in net.parameters()]
    with torch.no_grad():
        net.weight.add_(t(0.3, 0.4).view(1, 2))     # step of norm 0.5
    assert_close(signals.update_ratio(before, list(net.parameters())), torch.tensor(0.1))
    with pytest.raises(ValueError):
        signals.update_ratio([], list(net.parameters()))


def test_diversity_of_real_data_against_itself_is_about_one_and_of_a_collapse_near_zero():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(256, 2, generator=gen)
    other = torch.randn(256, 2, generator=gen)       # same distribution, other samples
    assert abs(float(signals.diversity(other, real)) - 1.0) < 0.1
    collapsed = torch.randn(256, 2, generator=gen) * 0.01 + 3.0
    assert float(signals.diversity(collapsed, real)) < 0.02
    # Exact on a tiny case: pairwise distances of (0,0), (3,4), (0,0) are 5, 0, 5 -> mean 10/3.
    pts = t(0, 0, 3, 4, 0, 0).view(3, 2)
    assert_close(signals.mean_pairwise_distance(pts), torch.tensor(10 / 3))


def test_duplicates_rate_counts_near_copies_relative_to_real_spacing():
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(128, 4, generator=gen)
    assert float(signals.duplicates_rate(real, real)) == 0.0
    fake = torch.randn(128, 4, generator=gen)
    fake[64:] = fake[:64] + 1e-4                     # half of them copy the other half
    assert float(signals.duplicates_rate(fake, real)) == 1.0   # both members of each pair
    fake[96:] = torch.randn(32, 4, generator=gen)
    assert_close(signals.duplicates_rate(fake, real), torch.tensor(0.5))


def test_flat_features_flattens_images():
    assert signals.flat_features(torch.zeros(5, 1, 28, 28)).shape == (5, 784)
