import pytest
import torch
from torch import nn

from ganforge.freeze import frozen


def test_flags_off_inside_and_restored_after_including_mixed_flags():
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    net[0].bias.requires_grad_(False)  # a user's own frozen parameter stays frozen
    before = [p.requires_grad for p in net.parameters()]
    with frozen(net):
        assert not any(p.requires_grad for p in net.parameters())
    assert [p.requires_grad for p in net.parameters()] == before == [True, False, True, True]


def test_flags_restored_when_the_block_raises():
    net = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="boom"):
        with frozen(net):
            raise RuntimeError("boom")
    assert all(p.requires_grad for p in net.parameters())


def test_gradient_flows_through_a_frozen_module_but_not_into_it():
    G, D = nn.Linear(2, 2), nn.Linear(2, 1)
    with frozen(D):
        D(G(torch.randn(4, 2))).sum().backward()
    assert D.weight.grad is None and D.bias.grad is None
    assert G.weight.grad is not None and G.weight.grad.abs().sum() > 0
