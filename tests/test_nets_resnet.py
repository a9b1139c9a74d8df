"""The SN-GAN residual networks: layouts, shapes per size and conditioning, the projection
logit by hand, spectral norm on D, initialisation, parameter counts, builder options."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import UserError
from ganforge.nets import (
    CONDITIONINGS, ConditionalBatchNorm2d, ResNetDiscriminator, ResNetGenerator, build_nets,
)
from ganforge.nets.resnet import SUPPORTED_SIZES, GBlock
from ganforge.regularizers import apply_spectral_norm

K = 3


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def pair(size=28, conditioning="none", channels=1, width=4, **kwargs):
    torch.manual_seed(0)
    cond = dict(num_classes=K if conditioning != "none" else None, conditioning=conditioning)
    return (ResNetGenerator(8, channels, size, width=width, **cond),
            ResNetDiscriminator(channels, size, width=width, **cond, **kwargs))


@pytest.mark.parametrize("size", SUPPORTED_SIZES)
@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_shapes_for_every_size_and_conditioning(size, conditioning):
    G, D = pair(size, conditioning, channels=3)
    y = torch.tensor([0, 2]) if conditioning != "none" else None
    fake = G(torch.randn(2, 8), y)
    assert fake.shape == (2, 3, size, size)
    assert fake.min() >= -1 and fake.max() <= 1
    feats = D.features(fake, y)
    assert feats.shape == (2, D.feature_dim)
    assert D.feature_dim == (4 * 16 if size == 64 else 4)
    out = D(fake, y)
    if conditioning == "acgan":
        assert out[0].shape == (2,) and out[1].shape == (2, K)
    else:
        assert out.shape == (2,)
    if conditioning in ("none", "concat"):
        assert torch.equal(out, D.head(feats).flatten())


@pytest.mark.parametrize("size, side, g_channels, d_channels, d_side", [
    (28, 7, [4, 4, 4], [4, 4, 4, 4], 7),
    (32, 4, [4, 4, 4, 4], [4, 4, 4, 4], 8),
    (64, 4, [64, 32, 16, 8, 4], [4, 8, 16, 32, 64], 4),
])
def test_layouts(size, side, g_channels, d_channels, d_side):
    G, D = pair(size)
    assert G.linear.out_features == side * side * g_channels[0]
    assert [b.c2.out_channels for b in G.blocks] == g_channels[1:]
    assert [b.c2.out_channels for b in D.blocks] == d_channels
    assert D.blocks(torch.zeros(1, 1, size, size)).shape[-1] == d_side
    # The shortcut is learned only where the shape changes (downsampling or new channels).
    learned = [not isinstance(b.shortcut, nn.Identity) for b in D.blocks]
    assert learned == ([True, True, False, False] if size != 64 else [True] * 5)


def test_parameter_counts_28px_width_64():
    G = ResNetGenerator(128, 1, 28, width=64)
    D = ResNetDiscriminator(1, 28, width=64)
    block = 2 * 64 + 64 * 64 * 9 + 2 * 64 + (64 * 64 * 9 + 64) + (64 * 64 + 64)  # BN, c1 no bias
    assert n_params(G) == (128 + 1) * 7 * 7 * 64 + 2 * block + 2 * 64 + 64 * 9 + 1 == 561_665
    plain = 2 * (64 * 64 * 9 + 64)
    d = (9 * 64 + 64 + 64 * 64 * 9 + 64 + 64 + 64) + (plain + 64 * 64 + 64) + 2 * plain + 65
    assert n_params(D) == d == 263_489


def test_projection_logit_by_hand():
    _, D = pair(32, "projection")
    x, y = torch.randn(4, 1, 32, 32), torch.tensor([1, 0, 2, 1])
    h = F.relu(D.blocks(x)).sum(dim=(2, 3))         # global sum pooling
    torch.testing.assert_close(D.features(x, y), h, rtol=0, atol=0)
    linear = h @ D.head.weight.flatten() + D.head.bias
    v_y = D.projection.embed.weight[:, y].t()        # (N, F)
    torch.testing.assert_close(D(x, y), linear + (v_y * h).sum(dim=1))


def test_projection_generator_conditions_the_block_batchnorms_only():
    G, _ = pair(28, "projection")
    cbn = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(cbn) == 2 * len(G.blocks)
    assert isinstance(G.out_norm, nn.BatchNorm2d)   # as in the paper's code
    # At initialisation every class gets the plain BatchNorm: same z, same image.
    G.eval()
    z = torch.randn(1, 8).expand(K, 8)
    out = G(z, torch.arange(K))
    torch.testing.assert_close(out[0], out[1], rtol=0, atol=0)
    with torch.no_grad():
        for m in cbn:
            m.gain.weight.normal_(1.0, 0.2)
            m.bias.weight.normal_(0.0, 0.2)
    out = G(z, torch.arange(K))
    assert (out[0] - out[1]).abs().max() > 1e-3 and (out[1] - out[2]).abs().max() > 1e-3


@pytest.mark.parametrize("conditioning", ["none", "projection", "acgan", "concat"])
def test_spectral_norm_on_the_discriminator(conditioning):
    _, D = pair(28, conditioning)
    apply_spectral_norm(D, n_power_iterations=10)
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 4 * 2 + 2 + 1 + (conditioning in ("projection", "acgan"))
    assert all(nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    x = torch.randn(4, 1, 28, 28)
    y = torch.tensor([0, 1, 2, 0]) if conditioning != "none" else None
    for _ in range(10):   # train-mode forwards run the power iterations
        D(x, y)
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), 2)
        torch.testing.assert_close(sigma, torch.tensor(1.0), atol=2e-3, rtol=0)
    if conditioning == "projection":   # the class vectors are normalized, as in SN-GAN cGANs
        sigma = torch.linalg.matrix_norm(D.projection.embed.weight.detach(), 2)
        torch.testing.assert_close(sigma, torch.tensor(1.0), atol=2e-3, rtol=0)
    if conditioning == "concat":       # an nn.Embedding is an input; SN leaves it alone
        assert not nn.utils.parametrize.is_parametrized(D.embed, "weight")
    D.eval()
    h = D.features(x, y)
    assert torch.isfinite(h).all()


def test_generator_batch_of_one():
    for conditioning in ("none", "projection"):
        G, _ = pair(28, conditioning)
        y = torch.tensor([1]) if conditioning != "none" else None
        G.eval()
        assert G(torch.randn(1, 8), y).shape == (1, 1, 28, 28)
        G.train()   # BatchNorm2d over a 7x7 map: one sample is enough
        assert G(torch.randn(1, 8), y).shape == (1, 1, 28, 28)


def test_generator_without_batchnorm_treats_samples_independently():
    torch.manual_seed(0)
    G = ResNetGenerator(8, 1, 28, width=4, batchnorm=False)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in G.modules())
    z = torch.randn(5, 8)
    torch.testing.assert_close(G(z)[:2], G(z[:2]))


def test_shortcut_order_does_not_change_the_result():
    # The blocks apply the 1x1 shortcut conv at low resolution; nearest upsampling and
    # average pooling commute with it.
    torch.manual_seed(0)
    block, x = GBlock(4, 6), torch.randn(2, 4, 5, 5)
    up = F.interpolate(x, scale_factor=2, mode="nearest")
    torch.testing.assert_close(F.interpolate(block.shortcut(x), scale_factor=2),
                               block.shortcut(up))
    conv = nn.Conv2d(4, 6, 1)
    torch.testing.assert_close(conv(F.avg_pool2d(x[..., :4, :4], 2)),
                               F.avg_pool2d(conv(x[..., :4, :4]), 2))


def test_initialisation():
    torch.manual_seed(0)
    G = ResNetGenerator(128, 1, 32, width=64)
    c1 = G.blocks[0].c1.weight                       # (64, 64, 3, 3), gain sqrt(2)
    bound = math.sqrt(2) * math.sqrt(6 / (2 * 64 * 9))
    assert c1.abs().max() <= bound
    assert abs(c1.std().item() / (bound / math.sqrt(3)) - 1) < 0.02   # uniform: std = b/sqrt 3
    sc = G.blocks[0].shortcut.weight                  # 1x1, gain 1
    assert abs(sc.std().item() / (math.sqrt(6 / 128) / math.sqrt(3)) - 1) < 0.05
    assert G.blocks[0].c1.bias is None                # BatchNorm follows it
    for net in (G, ResNetDiscriminator(1, 32, width=8, num_classes=K, conditioning="acgan")):
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                assert torch.equal(m.bias, torch.zeros_like(m.bias))


def test_minibatch_layers_go_in_the_head():
    _, D = pair(28, minibatch_stddev=True, minibatch_disc=3)
    x = torch.randn(4, 1, 28, 28)
    h = D.features(x)
    assert h.shape == (4, 4)
    assert D.head[-1].in_features == 4 + 1 + 3
    torch.testing.assert_close(D(x), D.head(h).flatten(), rtol=0, atol=0)


def test_build_nets_resnet():
    G, D = build_nets("resnet", (3, 32, 32), z_dim=8, width=4, num_classes=K,
                      conditioning="projection")
    assert isinstance(G, ResNetGenerator) and isinstance(D, ResNetDiscriminator)
    assert G.z_dim == 8 and D.conditioning == "projection"
    for kwargs, message in [
        (dict(d_batchnorm=True), "d_batchnorm=True needs model=dcgan; SN-GAN's residual"),
        (dict(d_dropout=0.2), "d_dropout needs model=dcgan or model=mlp"),
        (dict(g_output="linear"), "not available with model=resnet"),
    ]:
        with pytest.raises(UserError, match=message):
            build_nets("resnet", (1, 28, 28), z_dim=4, width=4, **kwargs)
    with pytest.raises(UserError, match="model=resnet supports square images of size 28, 32, 64"):
        build_nets("resnet", (1, 48, 48), z_dim=4, width=4)
    with pytest.raises(UserError, match=r"model=resnet needs image data \(C, H, W\)"):
        build_nets("resnet", (2,), z_dim=4, width=4)
    with pytest.raises(UserError, match="image_size=16 has no ResNet layout"):
        ResNetDiscriminator(image_size=16)
    with pytest.raises(UserError, match=r"shape \(1, 28, 28\); got a batch of shape"):
        ResNetDiscriminator(width=4)(torch.zeros(2, 3, 28, 28))
