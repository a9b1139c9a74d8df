"""EMA of G's weights against the closed-form weighted average; ramp-up; buffers; state."""

import pytest
import torch
from torch import nn

from ganforge.ema import EMA
from ganforge.errors import UserError
from ganforge.nets import DCGANGenerator


def test_equals_closed_form_weighted_average_after_k_steps():
    G = nn.Linear(3, 2).double()
    w0 = G.weight.detach().clone()
    ema = EMA(G, half_life_images=1000)
    beta = 0.5 ** (50 / 1000)
    history = []
    gen = torch.Generator().manual_seed(0)
    for k in range(7):
        with torch.no_grad():
            G.weight.copy_(torch.randn(2, 3, generator=gen, dtype=torch.float64))
        history.append(G.weight.detach().clone())
        got = ema.update(G, batch_size=50, images_seen=50 * k)
        assert got == pytest.approx(beta, rel=1e-15)
    k = len(history)
    # ema_k = beta^k w0 + sum_{i=1..k} (1 - beta) beta^(k-i) w_i
    want = beta ** k * w0 + sum((1 - beta) * beta ** (k - i) * history[i - 1]
                                for i in range(1, k + 1))
    torch.testing.assert_close(ema.G_ema.weight, want, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(ema.G_ema.weight, G.weight)  # an average, not a copy
    assert ema.updates == 7


def test_half_life_means_half_weight_after_half_life_images():
    ema = EMA(nn.Linear(1, 1), half_life_images=10_000)
    beta = ema.beta(batch_size=64, images_seen=10**6)
    assert beta ** (10_000 / 64) == pytest.approx(0.5, rel=1e-12)
    assert beta == pytest.approx(0.5 ** (64 / 10_000), rel=1e-15)


def test_rampup_shortens_the_half_life_early():
    ema = EMA(nn.Linear(1, 1), half_life_images=10_000, rampup=0.05)
    assert ema.beta(64, 0) == 0.0                                  # first update: G_ema = G
    assert ema.beta(64, 1000) == pytest.approx(0.5 ** (64 / 50), rel=1e-15)   # 1000 * 0.05
    assert ema.beta(64, 10**6) == pytest.approx(0.5 ** (64 / 10_000), rel=1e-15)


def test_first_update_with_rampup_copies_g():
    G = nn.Linear(3, 2)
    ema = EMA(G, rampup=0.05)
    with torch.no_grad():
        G.weight.add_(1.0)
    ema.update(G, 64, 0)
    assert torch.equal(ema.G_ema.weight, G.weight)


def test_g_ema_is_a_frozen_copy_and_buffers_are_copied():
    torch.manual_seed(0)
    G = DCGANGenerator(z_dim=4, channels=1, image_size=28, width=4)
    ema = EMA(G, half_life_images=500)
    assert ema.G_ema is not G
    assert all(not p.requires_grad for p in ema.G_ema.parameters())
    assert all(p.requires_grad for p in G.parameters())
    G(torch.randn(8, 4))   # train mode: BatchNorm running stats move
    ema.update(G, 8, 0)
    for (name, b), b_ema in zip(G.named_buffers(), ema.G_ema.buffers()):
        assert torch.equal(b, b_ema), name
    bn = next(m for m in G.modules() if isinstance(m, nn.BatchNorm2d))
    assert not torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))


def test_state_dict_round_trip_continues_identically():
    G = nn.Linear(3, 2)
    a = EMA(G, half_life_images=100)
    with torch.no_grad():
        G.weight.add_(1.0)
    a.update(G, 10, 0)
    b = EMA(nn.Linear(3, 2), half_life_images=100)
    b.load_state_dict(a.state_dict())
    assert b.updates == 1 and torch.equal(b.G_ema.weight, a.G_ema.weight)
    with torch.no_grad():
        G.weight.add_(1.0)
    a.update(G, 10, 10)
    b.update(G, 10, 10)
    assert torch.equal(a.G_ema.weight, b.G_ema.weight)


def test_validates():
    with pytest.raises(UserError, match="half_life_images must be > 0"):
        EMA(nn.Linear(1, 1), half_life_images=0)
    with pytest.raises(UserError, match="rampup must be > 0"):
        EMA(nn.Linear(1, 1), rampup=0.0)
