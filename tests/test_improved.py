"""Feature matching and historical averaging (Salimans et al. 2016) against their formulas."""

import pytest
import torch
from torch import nn

from conftest import dcgan_pair, mlp_pair
from ganforge.errors import UserError
from ganforge.freeze import frozen
from ganforge.improved import HistoricalAverage, discriminator_features, feature_matching_loss


def test_feature_matching_value_and_gradient_by_hand():
    real = torch.tensor([[1.0, 2.0], [3.0, 0.0], [2.0, 1.0]])     # mean (2, 1)
    fake = torch.tensor([[0.0, 0.0], [1.0, 4.0]], requires_grad=True)   # mean (0.5, 2)
    loss = feature_matching_loss(real, fake)
    torch.testing.assert_close(loss, torch.tensor(1.5 ** 2 + 1.0 ** 2))
    loss.backward()
    # d/d fake_i = -2 (real_mean - fake_mean) / n_fake, the same row for every fake sample
    torch.testing.assert_close(fake.grad, torch.tensor([[-1.5, 1.0], [-1.5, 1.0]]))


def test_real_features_are_detached():
    real = torch.randn(4, 3, requires_grad=True)
    fake = torch.randn(4, 3, requires_grad=True)
    feature_matching_loss(real, fake).backward()
    assert real.grad is None and fake.grad is not None


@pytest.mark.parametrize("pair", [mlp_pair, dcgan_pair])
def test_feature_matching_under_frozen_d_reaches_g_only(pair):
    G, D = pair()
    real = torch.randn(8, *G(torch.randn(2, G.z_dim)).shape[1:])
    with frozen(D):
        loss = feature_matching_loss(D.features(real), D.features(G(torch.randn(8, G.z_dim))))
        loss.backward()
    assert all(p.grad is None for p in D.parameters())
    grads = [p.grad for p in G.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    assert all(p.requires_grad for p in D.parameters())   # the freeze was undone


def test_features_by_method_or_by_named_layer_hook():
    G, D = dcgan_pair()
    x = torch.randn(3, 1, 28, 28)
    by_method = discriminator_features(D, x)
    by_hook = discriminator_features(D, x, feature_layer="body")
    assert torch.equal(by_method, D.features(x)) and torch.equal(by_hook, by_method)
    assert all(not m._forward_hooks for m in D.modules())   # the hook is gone
    first_conv = discriminator_features(D, x, feature_layer="body.0")
    assert first_conv.shape == (3, 8 * 14 * 14)


def test_feature_errors_name_the_fix():
    plain = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    with pytest.raises(UserError, match="feature_layer="):
        discriminator_features(plain, torch.zeros(2, 4))
    with pytest.raises(UserError, match="no submodule 'O'.*choose one of: 0, 1"):
        discriminator_features(plain, torch.zeros(2, 4), feature_layer="O")


def test_historical_average_penalty_equals_formula():
    net = nn.Linear(2, 1)
    hist = HistoricalAverage(net)
    torch.testing.assert_close(hist.penalty(net), torch.tensor(0.0))   # no past yet
    thetas = [(torch.tensor([[1.0, 2.0]]), torch.tensor([0.5])),
              (torch.tensor([[3.0, -2.0]]), torch.tensor([1.5])),
              (torch.tensor([[2.0, 3.0]]), torch.tensor([-1.0]))]
    for w, b in thetas:
        with torch.no_grad():
            net.weight.copy_(w)
            net.bias.copy_(b)
        hist.update(net)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.0, 1.0]]))
        net.bias.copy_(torch.tensor([2.0]))
    # past means: w (2, 1), b 1/3 -> (0-2)^2 + (1-1)^2 + (2-1/3)^2
    value = hist.penalty(net)
    torch.testing.assert_close(value, torch.tensor(4.0 + 0.0 + (5 / 3) ** 2))
    value.backward()
    torch.testing.assert_close(net.weight.grad, torch.tensor([[-4.0, 0.0]]))
    torch.testing.assert_close(net.bias.grad, torch.tensor([10 / 3]))
    assert hist.count == 3


def test_historical_average_state_round_trip():
    net = nn.Linear(2, 1)
    hist = HistoricalAverage(net)
    hist.update(net)
    with torch.no_grad():
        net.weight.add_(1.0)
    hist.update(net)
    other = HistoricalAverage(nn.Linear(2, 1))
    other.load_state_dict(hist.state_dict())
    assert other.count == 2
    assert torch.equal(other.penalty(net), hist.penalty(net))
    with pytest.raises(UserError, match="another network"):
        HistoricalAverage(nn.Linear(2, 2, bias=False)).load_state_dict(hist.state_dict())
