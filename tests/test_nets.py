"""Reference networks: shapes, the features/head contract, init statistics, switches, builder."""

import math

import pytest
import torch
from torch import nn

from ganforge.errors import UserError
from ganforge.nets import (
    SUPPORTED_SIZES, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator,
    build_nets, dcgan_init_,
)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("size", SUPPORTED_SIZES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("batch", [1, 5])
def test_dcgan_shapes_range_and_features(size, channels, batch):
    torch.manual_seed(0)
    G = DCGANGenerator(z_dim=16, channels=channels, image_size=size, width=8)
    D = DCGANDiscriminator(channels=channels, image_size=size, width=8)
    fake = G(torch.randn(batch, 16))  # train mode: a batch of 1 must work (BatchNorm2d only)
    assert fake.shape == (batch, channels, size, size)
    assert fake.min() >= -1 and fake.max() <= 1
    logits = D(fake)
    assert logits.shape == (batch,)
    feats = D.features(fake)
    assert feats.shape == (batch, D.feature_dim)
    assert torch.equal(logits, D.head(feats).flatten())


@pytest.mark.parametrize("sample_shape", [(2,), (7,), (1, 6, 6)])
@pytest.mark.parametrize("batch", [1, 5])
def test_mlp_shapes_and_features(sample_shape, batch):
    torch.manual_seed(0)
    G = MLPGenerator(3, sample_shape, hidden=16, output="tanh")
    D = MLPDiscriminator(math.prod(sample_shape), hidden=16)
    if batch == 1:
        G.eval()  # BatchNorm1d cannot compute training statistics from one sample
    fake = G(torch.randn(batch, 3))
    assert fake.shape == (batch, *sample_shape)
    assert fake.min() >= -1 and fake.max() <= 1
    logits = D(fake)
    assert logits.shape == (batch,)
    feats = D.features(fake)
    assert feats.shape == (batch, 16)
    assert torch.equal(logits, D.head(feats).flatten())


def test_mlp_generator_linear_output_is_not_squashed():
    torch.manual_seed(0)
    G = MLPGenerator(2, 2, hidden=8, depth=1, batchnorm=False)
    assert not any(isinstance(m, nn.Tanh) for m in G.modules())
    with torch.no_grad():
        G.net[-1].bias.fill_(5.0)
    assert G(torch.randn(4, 2)).min() > 1


def test_mlp_discriminator_names_wrong_input_size():
    D = MLPDiscriminator(4)
    with pytest.raises(UserError, match="in_dim=3"):
        D(torch.zeros(2, 3))


def test_dcgan28_parameter_counts():
    G = DCGANGenerator(z_dim=100, channels=1, image_size=28, width=64)
    D = DCGANDiscriminator(channels=1, image_size=28, width=64)
    g, d = n_params(G), n_params(D)
    print(f"DCGAN-28 width=64: G {g} params, D {d} params")
    # G: 100*128*7*7 + BN(128) + 128*64*4*4 + BN(64) + 64*1*4*4 + 1 bias (BN layers: no conv bias).
    assert g == 627_200 + 256 + 131_072 + 128 + 1_024 + 1 == 759_681
    # D: 1*64*16 + 64 + 64*128*16 + 128 + final 128*7*7 + 1.
    assert d == 1_024 + 64 + 131_072 + 128 + 6_272 + 1 == 138_561
    # Published DCGAN-28 (G 100 -> 7*7*128 -> 14^2*64 -> 28^2*1): G 0.77 M, D 0.14 M.
    assert abs(g / 0.77e6 - 1) < 0.05
    assert abs(d / 0.14e6 - 1) < 0.05


def test_dcgan64_matches_pytorch_examples_layout():
    G = DCGANGenerator(z_dim=100, channels=3, image_size=64, width=64)
    convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in convs] == [512, 256, 128, 64, 3]
    # pytorch/examples counts 3,576,704; our final layer keeps its 3 biases (no BN follows it).
    assert n_params(G) == 3_576_704 + 3


def test_init_statistics():
    torch.manual_seed(0)
    G = DCGANGenerator(z_dim=100, channels=1, image_size=28, width=64)
    D = DCGANDiscriminator(channels=1, image_size=28, width=64, batchnorm=True)
    weights = torch.cat([m.weight.flatten() for net in (G, D) for m in net.modules()
                         if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    # ~900k draws: the std of the sample std is 0.02 / sqrt(2n) ~ 1.5e-5, mean's is 2e-5.
    assert weights.numel() > 800_000
    assert abs(weights.std().item() - 0.02) < 2e-4
    assert abs(weights.mean().item()) < 2e-4
    bn = [m for net in (G, D) for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    bn_w = torch.cat([m.weight for m in bn])
    # 320 draws of N(1, 0.02): the mean's std is ~1.1e-3, so 5e-3 is > 4 sigma.
    assert bn_w.numel() == 128 + 64 + 128
    assert abs(bn_w.mean().item() - 1) < 5e-3
    assert abs(bn_w.std().item() - 0.02) < 5e-3
    biases = [m.bias for net in (G, D) for m in net.modules() if getattr(m, "bias", None) is not None]
    assert len(biases) == 3 + 2 + 1  # G BN 2 + final conv 1; D BN 1 + first conv 1 + head 1
    for b in biases:
        assert torch.equal(b, torch.zeros_like(b))


def test_init_covers_linear_and_batchnorm1d():
    torch.manual_seed(0)
    net = dcgan_init_(nn.Sequential(nn.Linear(400, 500), nn.BatchNorm1d(500)))
    assert abs(net[0].weight.std().item() - 0.02) < 5e-4  # 200k draws
    assert torch.equal(net[0].bias, torch.zeros(500))
    assert abs(net[1].weight.mean().item() - 1) < 5e-3
    assert torch.equal(net[1].bias, torch.zeros(500))


def test_torch_init_is_each_layers_own_default():
    """model.init=torch: every linear/conv/BatchNorm layer of G and D holds what its
    reset_parameters draws, in module order, right after the DCGAN-initialised build."""
    torch.manual_seed(3)
    G0, D0 = build_nets("mlp", (2,), z_dim=2, width=16, g_batchnorm=True)
    for layer in (*G0.modules(), *D0.modules()):
        if isinstance(layer, (nn.Linear, nn.BatchNorm1d)):
            layer.reset_parameters()
    torch.manual_seed(3)
    G, D = build_nets("mlp", (2,), z_dim=2, width=16, g_batchnorm=True, init="torch")
    for ref, net in ((G0, G), (D0, D)):
        for (name, a), b in zip(ref.state_dict().items(), net.state_dict().values()):
            assert torch.equal(a, b), name
    first = G.net[0]   # fan-in 2: weights ~ U(-1/sqrt(2), 1/sqrt(2)), not N(0, 0.02)
    assert first.weight.abs().max() <= 2 ** -0.5 and first.weight.std() > 0.2
    assert torch.equal(G.net[1].weight, torch.ones(16))   # BatchNorm scale 1, shift 0
    torch.manual_seed(3)
    paper_G, _ = build_nets("mlp", (2,), z_dim=2, width=16)   # DCGAN's N(0, 0.02)
    assert paper_G.net[0].weight.std() < 0.05


def test_model_init_reaches_the_run_networks():
    from ganforge.config import build_config
    from ganforge.run import build_run

    base = ["data=ring8", "model=mlp", "model.width=16", "model.z_dim=2", "seed=5",
            "tensorboard=false", "checkpoint_every=0"]
    paper = build_run(build_config(None, base)).trainer.G
    torch_G = build_run(build_config(None, [*base, "model.init=torch"])).trainer.G
    # DCGAN's N(0, 0.02) against U(-1/sqrt(2), 1/sqrt(2)) (fan-in 2, std 0.41)
    assert paper.net[0].weight.std() < 0.05 < torch_G.net[0].weight.std()
    assert torch_G.net[0].weight.abs().max() <= 2 ** -0.5


def test_init_names_are_checked():
    with pytest.raises(UserError, match="init='kaiming' is not an initialisation; use one of "
                                        "paper, torch"):
        build_nets("mlp", (2,), z_dim=2, width=8, init="kaiming")


def test_switches_add_layers():
    plain = DCGANDiscriminator(image_size=32, width=8)
    both = DCGANDiscriminator(image_size=32, width=8, batchnorm=True, dropout=0.3)
    count = lambda net, kind: sum(isinstance(m, kind) for m in net.modules())
    assert count(plain, nn.BatchNorm2d) == 0 and count(plain, nn.Dropout) == 0
    assert count(both, nn.BatchNorm2d) == 2  # every conv but the first of 3
    assert count(both, nn.Dropout) == 3  # after each activation
    convs = [m for m in both.body if isinstance(m, nn.Conv2d)]
    assert convs[0].bias is not None  # a bias only where no BatchNorm follows
    assert convs[1].bias is None and convs[2].bias is None
    mlp = MLPDiscriminator(2, hidden=8, depth=3, dropout=0.5)
    assert count(mlp, nn.Dropout) == 3
    assert count(MLPDiscriminator(2, hidden=8), nn.Dropout) == 0
    assert count(MLPGenerator(2, 2, batchnorm=False), nn.BatchNorm1d) == 0
    assert count(MLPGenerator(2, 2, depth=3), nn.BatchNorm1d) == 3


def test_dropout_is_active_in_train_mode_only():
    torch.manual_seed(0)
    D = DCGANDiscriminator(image_size=28, width=8, dropout=0.5)
    x = torch.randn(4, 1, 28, 28)
    assert not torch.equal(D(x), D(x))
    D.eval()
    assert torch.equal(D(x), D(x))


def test_deterministic_under_seed():
    def build():
        torch.manual_seed(123)
        return build_nets("dcgan", (1, 28, 28), z_dim=10, width=8)

    (G1, D1), (G2, D2) = build(), build()
    for a, b in zip([*G1.state_dict().values(), *D1.state_dict().values()],
                    [*G2.state_dict().values(), *D2.state_dict().values()]):
        assert torch.equal(a, b)


def test_build_nets_mlp_defaults():
    G, D = build_nets("mlp", (2,), z_dim=4, width=32)
    assert isinstance(G, MLPGenerator) and isinstance(D, MLPDiscriminator)
    assert G.z_dim == 4 and G.out_shape == (2,)
    assert not any(isinstance(m, nn.Tanh) for m in G.modules())
    G, _ = build_nets("mlp", (1, 28, 28), z_dim=4, width=32)
    assert isinstance(G.net[-1], nn.Tanh)  # image data lives in [-1, 1]
    G, _ = build_nets("mlp", (5,), z_dim=4, width=32, g_output="tanh")
    assert isinstance(G.net[-1], nn.Tanh)


def test_build_nets_dcgan_passes_switches():
    G, D = build_nets("dcgan", (3, 32, 32), z_dim=20, width=8, d_batchnorm=True, d_dropout=0.2)
    assert isinstance(G, DCGANGenerator) and isinstance(D, DCGANDiscriminator)
    assert G.z_dim == 20 and G(torch.randn(2, 20)).shape == (2, 3, 32, 32)
    assert any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert any(isinstance(m, nn.Dropout) for m in D.modules())


@pytest.mark.parametrize("args, message", [
    (("dcgan", (2,)), r"model=dcgan needs image data \(C, H, W\); got samples of shape \(2,\): "
                      r"use model=mlp"),
    (("dcgan", (1, 30, 30)), r"supports square images of size 28, 32, 64; got 30x30"),
    (("dcgan", (1, 28, 32)), r"supports square images of size 28, 32, 64; got 28x32"),
    (("gan", (2,)), r"model='gan' is not a network; use one of mlp, dcgan, resnet"),
])
def test_build_nets_errors_name_the_fix(args, message):
    with pytest.raises(UserError, match=message):
        build_nets(*args, z_dim=4, width=8)


def test_build_nets_rejects_options_the_model_lacks():
    with pytest.raises(UserError, match="d_batchnorm=True needs model=dcgan"):
        build_nets("mlp", (2,), z_dim=4, width=8, d_batchnorm=True)
    with pytest.raises(UserError, match="always ends in tanh"):
        build_nets("dcgan", (1, 28, 28), z_dim=4, width=8, g_output="linear")
    with pytest.raises(UserError, match="use one of linear, tanh"):
        build_nets("mlp", (2,), z_dim=4, width=8, g_output="sigmoid")


def test_constructor_errors():
    with pytest.raises(UserError, match="image_size=48 has no DCGAN layout; supported sizes are "
                                        "28, 32, 64"):
        DCGANGenerator(image_size=48)
    with pytest.raises(UserError, match="supported sizes are 28, 32, 64"):
        DCGANDiscriminator(image_size=16)
    with pytest.raises(UserError, match=r"dropout=1.0 must be in \[0, 1\)"):
        DCGANDiscriminator(dropout=1.0)
    with pytest.raises(UserError, match=r"shape \(1, 28, 28\); got a batch of shape \(2, 3, 28, 28\)"):
        DCGANDiscriminator()(torch.zeros(2, 3, 28, 28))
