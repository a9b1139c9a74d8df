"""MinibatchStdDev and minibatch discrimination by hand; the switches on the reference Ds."""

import math

import pytest
import torch
from torch import nn

from ganforge.errors import UserError
from ganforge.nets import (
    DCGANDiscriminator, MinibatchDiscrimination, MinibatchStdDev, MLPDiscriminator, build_nets,
)


def test_minibatch_stddev_flat_by_hand():
    x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [3.0, 2.0, 1.0], [0.0, 4.0, 2.0]],
                     dtype=torch.float64)
    out = MinibatchStdDev(group_size=2)(x)
    # Groups are strided: {0, 2} and {1, 3}. Std over 2 values = |a - b| / 2 per feature.
    s02 = sum(math.sqrt((abs(a - b) / 2) ** 2 + 1e-8) for a, b in zip([1, 2, 3], [3, 2, 1])) / 3
    s13 = sum(math.sqrt((abs(a - b) / 2) ** 2 + 1e-8) for a, b in zip([0, 0, 0], [0, 4, 2])) / 3
    torch.testing.assert_close(out[:, :3], x)
    torch.testing.assert_close(out[:, 3], torch.tensor([s02, s13, s02, s13], dtype=torch.float64))


def test_minibatch_stddev_images_append_one_constant_map():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 5, 5, dtype=torch.float64)
    out = MinibatchStdDev(group_size=4)(x)
    assert out.shape == (8, 4, 5, 5)
    assert torch.equal(out[:, :3], x)
    group = x[[1, 3, 5, 7]]   # the group of sample 1 (stride 8 / 4 = 2)
    want = (group.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
    torch.testing.assert_close(out[1, 3], want.expand(5, 5))
    torch.testing.assert_close(out[7, 3], want.expand(5, 5))


@pytest.mark.parametrize("n, group", [(6, 3), (5, 1), (1, 1), (8, 4)])
def test_minibatch_stddev_group_divides_the_batch(n, group):
    x = torch.randn(n, 2)
    out = MinibatchStdDev(group_size=4)(x)
    assert out.shape == (n, 3)
    assert out[:, 2].unique().numel() <= n // group


def test_minibatch_stddev_gradient_finite_for_identical_samples():
    x = torch.ones(4, 2, 3, 3, requires_grad=True)   # zero variance in every group
    out = MinibatchStdDev()(x)
    torch.testing.assert_close(out[0, 2], torch.full((3, 3), 1e-4))
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_minibatch_discrimination_by_hand():
    layer = MinibatchDiscrimination(3, n_kernels=2, kernel_dim=2).double()
    torch.manual_seed(0)
    with torch.no_grad():
        layer.T.copy_(torch.randn(3, 4, dtype=torch.float64))
    x = torch.randn(4, 3, dtype=torch.float64)
    out = layer(x)
    assert out.shape == (4, 5)
    assert torch.equal(out[:, :3], x)
    M = (x @ layer.T).detach().view(4, 2, 2).tolist()
    for i in range(4):
        for b in range(2):
            # o(x_i)_b = sum_j exp(-||M_i,b - M_j,b||_1), j = i included (adds exp(0) = 1)
            want = sum(math.exp(-sum(abs(M[i][b][k] - M[j][b][k]) for k in range(2)))
                       for j in range(4))
            assert out[i, 3 + b].item() == pytest.approx(want, rel=1e-12)


def test_minibatch_discrimination_gradient_equals_the_pairwise_formula():
    # the layer uses cdist (no (N, N, B, C) tensor); its gradient, including the zero distance
    # of each sample to itself, must equal that of the formula written out with broadcasting
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(6, n_kernels=4, kernel_dim=3).double()
    x = torch.randn(7, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(7, 4, dtype=torch.float64)
    m = (x @ layer.T).view(7, 4, 3)
    o = torch.exp(-(m.unsqueeze(1) - m.unsqueeze(0)).abs().sum(dim=3)).sum(dim=1)
    want = torch.autograd.grad((o * w).sum(), (x, layer.T))
    got = torch.autograd.grad((layer(x)[:, 6:] * w).sum(), (x, layer.T))
    for g, h in zip(got, want):
        torch.testing.assert_close(g, h, rtol=1e-12, atol=1e-12)


def test_minibatch_discrimination_mixes_the_batch_and_backprops():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(4, 3, 2)
    x = torch.randn(5, 4, requires_grad=True)
    out = layer(x)
    x2 = x.detach().clone()
    x2[1] += 1.0
    assert not torch.equal(layer(x2)[0], out[0])   # sample 0's output depends on sample 1
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(layer.T.grad).all()


# --- switches on the reference discriminators -----------------------------------------------------
def test_defaults_keep_the_plain_heads():
    mlp = MLPDiscriminator(2, hidden=8, depth=2)
    assert type(mlp.head) is nn.Linear
    assert list(mlp.state_dict()) == ["body.0.weight", "body.0.bias", "body.2.weight",
                                      "body.2.bias", "head.weight", "head.bias"]
    dc = DCGANDiscriminator(image_size=28, width=4)
    assert [type(m) for m in dc.head] == [nn.Unflatten, nn.Conv2d]
    assert [k for k in dc.state_dict() if k.startswith("head")] == ["head.1.weight", "head.1.bias"]


@pytest.mark.parametrize("stddev, kernels", [(True, 0), (False, 6), (True, 6)])
def test_switches_add_the_layers_to_the_head(stddev, kernels):
    torch.manual_seed(0)
    x_img, x_pts = torch.randn(8, 1, 28, 28), torch.randn(8, 2)
    for D, x in ((DCGANDiscriminator(image_size=28, width=4, minibatch_stddev=stddev,
                                     minibatch_disc=kernels), x_img),
                 (MLPDiscriminator(2, hidden=8, minibatch_stddev=stddev,
                                   minibatch_disc=kernels), x_pts)):
        kinds = [type(m) for m in D.head.modules()]
        assert (MinibatchStdDev in kinds) == stddev
        assert (MinibatchDiscrimination in kinds) == bool(kernels)
        logits = D(x)
        assert logits.shape == (8,)
        assert torch.equal(logits, D.head(D.features(x)).flatten())
        assert D.features(x).shape[1] == (D.feature_dim if hasattr(D, "feature_dim") else 8)


def test_build_nets_passes_the_switches():
    _, D = build_nets("dcgan", (1, 28, 28), z_dim=4, width=4, d_minibatch_stddev=True)
    assert any(isinstance(m, MinibatchStdDev) for m in D.modules())
    _, D = build_nets("mlp", (2,), z_dim=4, width=8, d_minibatch_disc=5)
    assert any(isinstance(m, MinibatchDiscrimination) for m in D.modules())
    _, D = build_nets("mlp", (2,), z_dim=4, width=8)
    assert not any(isinstance(m, (MinibatchStdDev, MinibatchDiscrimination)) for m in D.modules())


def test_switch_validation():
    with pytest.raises(UserError, match="minibatch_disc=-1 must be a whole number"):
        MLPDiscriminator(2, minibatch_disc=-1)
    with pytest.raises(UserError, match="group_size"):
        MinibatchStdDev(group_size=0)
