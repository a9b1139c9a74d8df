"""Class conditioning: the layers of nets/conditional.py, the label protocol of every reference
network, and the guard that unconditional networks are exactly what they were before it."""

import hashlib

import pytest
import torch
from torch import nn

from ganforge.errors import UserError
from ganforge.nets import (
    CONDITIONINGS, ClassProjection, ConditionalBatchNorm2d, DCGANDiscriminator, DCGANGenerator,
    MLPDiscriminator, MLPGenerator, build_nets, check_conditioning, label_embed_dim,
    with_label_maps,
)

K = 3   # classes in the tests


# --- unconditional networks are unchanged ----------------------------------------------------
def fingerprint(make, inputs):
    """[sha of the RNG state after construction, per net: [sha of the state_dict keys and
    shapes, sum and sum of squares of the state, sum |out| and sum out^2 on a fixed input]]."""
    torch.manual_seed(0)
    nets = make()
    rng = hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest()[:16]
    out = []
    for net, shape in zip(nets, inputs):
        sd = net.state_dict()
        keys = hashlib.sha256("\n".join(f"{k}{tuple(v.shape)}" for k, v in sd.items())
                              .encode()).hexdigest()[:16]
        flat = torch.cat([v.double().flatten() for v in sd.values()])
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            y = net(x).double()
        out.append([keys, flat.sum().item(), flat.square().sum().item(),
                    y.abs().sum().item(), y.square().sum().item()])
    return [rng, out]


UNCONDITIONAL = {
    "mlp_G_image": (lambda: [MLPGenerator(3, (1, 6, 6), hidden=16, output="tanh")], [(5, 3)]),
    "mlp_G_nobn": (lambda: [MLPGenerator(2, 2, hidden=8, batchnorm=False)], [(5, 2)]),
    "mlp_D": (lambda: [MLPDiscriminator(36, hidden=16)], [(5, 1, 6, 6)]),
    "mlp_D_mb": (lambda: [MLPDiscriminator(7, hidden=8, minibatch_stddev=True,
                                           minibatch_disc=3)], [(4, 7)]),
    "build_mlp": (lambda: build_nets("mlp", (2,), z_dim=4, width=8), [(5, 4), (5, 2)]),
    **{f"dcgan_{s}": (lambda s=s: [DCGANGenerator(8, 3, s, width=4),
                                   DCGANDiscriminator(3, s, width=4)], [(3, 8), (3, 3, s, s)])
       for s in (28, 32, 64)},
    "dcgan_28_switches": (lambda: [DCGANGenerator(8, 1, 28, width=4, batchnorm=False),
                                   DCGANDiscriminator(1, 28, width=4, batchnorm=True,
                                                      minibatch_stddev=True, minibatch_disc=2)],
                          [(3, 8), (3, 1, 28, 28)]),
    "build_dcgan": (lambda: build_nets("dcgan", (1, 32, 32), z_dim=6, width=4, d_batchnorm=True),
                    [(3, 6), (3, 1, 32, 32)]),
    # num_classes is ignored without conditioning: the same networks as build_dcgan.
    "build_dcgan_none": (lambda: build_nets("dcgan", (1, 32, 32), z_dim=6, width=4,
                                            d_batchnorm=True, num_classes=10, conditioning="none"),
                         [(3, 6), (3, 1, 32, 32)]),
}
# Computed with the code before conditioning existed (commit a7b314e).
EXPECTED = {
    'mlp_G_image': ["5b1bdce6f9ac164e", [["7e20591d529a97f6", 95.67213273316884, 96.80385186628915, 9.11407287453767, 0.8103794011907797]]],
    'mlp_G_nobn': ["9db99b66714449a8", [["3d84c08e59d618a5", 0.04686238805879839, 0.07062437636738605, 2.4825992035459876e-06, 1.311907824590207e-12]]],
    'mlp_D': ["f7dbc48aab34f236", [["4c4a3cb8ec8a94b1", 0.37405893120376277, 0.45000827740068533, 0.00010023680511039856, 2.7678176153518656e-09]]],
    'mlp_D_mb': ["cfbdf5ab45d0dded", [["c093881a8089e999", -0.4229535713348014, 0.3593107849825795, 0.24327784776687622, 0.014796027836620818]]],
    'build_mlp': ["1e2f207298932a0b", [["49030ace9d52833b", 48.001499833902926, 48.26437815248107, 0.28492351435124874, 0.011787310936188119], ["e4a320463826a78a", -0.047920910743414424, 0.07326478457840244, 5.696346988770529e-06, 7.116921858587546e-12]]],
    'dcgan_28': ["95a8fa0c37953617", [["dec38d725dbb195b", 24.507554778153008, 25.487346932597685, 277.653459646539, 20.252317868129914], ["ce862f53ca575f14", 0.15888049498062173, 0.4222551544944523, 0.0047552566102240235, 1.136195840696804e-05]]],
    'dcgan_32': ["944bd1e306fa3ec4", [["f38c8c798a1b4bbf", 58.22200541400116, 58.09744756223837, 355.1312785510445, 26.242618677127993], ["25aca256c1c6603a", -0.23483516057058296, 1.224693910517761, 0.0011843809334095567, 6.181043870051745e-07]]],
    'dcgan_64': ["3bf7596b7fd33885", [["24dcba727823aacc", 114.79514611139211, 125.98993808458769, 1432.287108719949, 97.33594907487554], ["06eb55387aedea1a", 1.0705410661928454, 4.612982718701954, 0.0003207035297236871, 4.708347875775472e-08]]],
    'dcgan_28_switches': ["df64622bfcc23aed", [["6c7636a55477503a", -1.691421304465166, 1.5231137335435454, 0.4847584943190384, 0.0001791044343248541], ["867f2c758a03f6a8", 11.12755106431996, 27.53059064699378, 0.5572320073843002, 0.17930757971576539]]],
    'build_dcgan': ["5a4e6ed71a70471c", [["71e11a31516bd097", 55.267711170914936, 57.758467815533194, 147.96047619869205, 13.607551767466074], ["5c235fe9849e87af", 47.53136893461851, 49.24379427140249, 0.5540795624256134, 0.10643411338789077]]],
}
EXPECTED["build_dcgan_none"] = EXPECTED["build_dcgan"]


@pytest.mark.parametrize("case", UNCONDITIONAL)
def test_unconditional_networks_are_unchanged(case):
    rng, nets = fingerprint(*UNCONDITIONAL[case])
    want_rng, want_nets = EXPECTED[case]
    assert rng == want_rng               # the same number of random draws at construction
    assert len(nets) == len(want_nets)
    for got, want in zip(nets, want_nets):
        assert got[0] == want[0]         # the same state_dict keys, order and shapes
        # The same draws give the same values: only the last bits may differ between CPUs
        # (vectorized normal_/conv kernels); a shifted or extra draw changes them entirely.
        torch.testing.assert_close(torch.tensor(got[1:], dtype=torch.float64),
                                   torch.tensor(want[1:], dtype=torch.float64),
                                   rtol=1e-4, atol=0)


def test_unconditional_nets_have_the_protocol_attributes():
    G, D = build_nets("dcgan", (1, 28, 28), z_dim=4, width=4)
    for net in (G, D):
        assert net.num_classes is None and net.conditioning == "none"
    G, D = build_nets("mlp", (2,), z_dim=4, width=4, num_classes=5)
    assert G.num_classes is None and D.num_classes is None


# --- the layers --------------------------------------------------------------------------------
def test_conditional_batchnorm_is_batchnorm_with_per_class_gain_and_bias():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(4, K)
    assert torch.equal(cbn.gain.weight, torch.ones(K, 4))     # init: plain BN for every class
    assert torch.equal(cbn.bias.weight, torch.zeros(K, 4))
    with torch.no_grad():
        cbn.gain.weight.normal_()
        cbn.bias.weight.normal_()
    x = torch.randn(6, 4, 3, 3) * 2 + 1
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    gain = cbn.gain.weight[y].view(6, 4, 1, 1)
    bias = cbn.bias.weight[y].view(6, 4, 1, 1)
    torch.testing.assert_close(cbn(x, y), (x - mean) / (var + 1e-5).sqrt() * gain + bias)
    cbn.eval()   # running statistics after one momentum-0.1 update from (0, 1)
    run_mean = 0.1 * mean
    run_var = 0.9 + 0.1 * x.var(dim=(0, 2, 3), unbiased=True, keepdim=True)
    torch.testing.assert_close(cbn(x, y), (x - run_mean) / (run_var + 1e-5).sqrt() * gain + bias)


def test_class_projection_is_the_inner_product_with_the_class_vector():
    torch.manual_seed(0)
    proj = ClassProjection(K, 5)
    h, y = torch.randn(4, 5), torch.tensor([2, 0, 1, 2])
    V = proj.embed.weight                      # (F, K): column c is v_c
    want = torch.stack([V[:, c] @ h[i] for i, c in enumerate(y.tolist())])
    torch.testing.assert_close(proj(h, y), want)


def test_label_maps_and_embed_dim():
    x, e = torch.zeros(2, 1, 3, 3), torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = with_label_maps(x, e)
    assert out.shape == (2, 3, 3, 3)
    assert torch.equal(out[1, 2], torch.full((3, 3), 4.0)) and torch.equal(out[:, 0], x[:, 0])
    assert label_embed_dim(10) == 10 and label_embed_dim(1000) == 50


# --- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(conditioning="concatt", num_classes=3),
     r"conditioning='concatt' is not a conditioning method; use one of none, concat, acgan, "
     r"projection \(did you mean 'concat'\?\)"),
    (dict(conditioning="concat"), r"conditioning='concat' needs num_classes >= 2.*got num_classes=None"),
    (dict(conditioning="acgan", num_classes=1), r"needs num_classes >= 2.*got num_classes=1"),
    (dict(conditioning="acgan", num_classes=True), r"needs num_classes >= 2"),
    (dict(conditioning="projection", num_classes=3, name="mlp"),
     r"conditioning='projection' is not available with model=mlp; use conditioning=concat or "
     r"acgan, or a model that has it \(projection: model=dcgan or model=resnet\)"),
    (dict(conditioning="projection", num_classes=3, g_batchnorm=False),
     r"needs BatchNorm in G \(model.g_batchnorm=true\); or use conditioning=concat or "
     r"acgan"),
])
def test_build_nets_validates_conditioning(kwargs, message):
    name = kwargs.pop("name", "dcgan")
    shape = (2,) if name == "mlp" else (1, 28, 28)
    with pytest.raises(UserError, match=message):
        build_nets(name, shape, z_dim=4, width=4, **kwargs)


def test_constructors_validate_too():
    with pytest.raises(UserError, match="not available with model=mlp"):
        MLPDiscriminator(4, num_classes=3, conditioning="projection")
    with pytest.raises(UserError, match="needs batchnorm=True"):
        DCGANGenerator(4, width=4, batchnorm=False, num_classes=3, conditioning="projection")
    assert check_conditioning("none", None, "mlp") is None
    assert check_conditioning("concat", 7, "mlp") == 7


# --- the protocol on every model ---------------------------------------------------------------
def nets(name, conditioning, g_batchnorm=True):
    shape = (2,) if name == "mlp" else (1, 28, 28)
    torch.manual_seed(0)
    return build_nets(name, shape, z_dim=4, width=4, num_classes=K, conditioning=conditioning,
                      g_batchnorm=g_batchnorm)


CASES = [(m, c) for m in ("mlp", "dcgan", "resnet") for c in CONDITIONINGS[1:]
         if not (m == "mlp" and c == "projection")]


@pytest.mark.parametrize("model, conditioning", CASES)
def test_protocol_shapes_and_attributes(model, conditioning):
    G, D = nets(model, conditioning)
    assert (G.num_classes, G.conditioning, G.z_dim) == (K, conditioning, 4)
    assert (D.num_classes, D.conditioning) == (K, conditioning)
    z, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    fake = G(z, y)
    assert fake.shape == ((5, 2) if model == "mlp" else (5, 1, 28, 28))
    out = D(fake, y)
    feats = D.features(fake, y)
    assert feats.dim() == 2 and feats.shape[0] == 5
    if conditioning == "acgan":
        logits, class_logits = out
        assert logits.shape == (5,) and class_logits.shape == (5, K)
        assert torch.equal(logits, D.head(feats).flatten())
        torch.testing.assert_close(class_logits, D.classifier(feats), rtol=0, atol=0)
        assert torch.equal(D(fake)[0], logits)         # y ignored, may be None
    else:
        assert out.shape == (5,)


@pytest.mark.parametrize("model, conditioning", CASES)
def test_generator_output_depends_on_the_class(model, conditioning):
    G, _ = nets(model, conditioning)
    G.eval()   # running statistics: a sample then depends only on its own z and y
    z = torch.randn(1, 4).expand(K, 4)
    if conditioning == "projection":
        # Conditional BatchNorm starts as the plain one for every class (gain 1, bias 0);
        # training moves it apart, as this does.
        out = G(z, torch.arange(K))
        torch.testing.assert_close(out[0], out[1], rtol=0, atol=0)
        with torch.no_grad():
            for m in G.modules():
                if isinstance(m, ConditionalBatchNorm2d):
                    m.gain.weight.normal_(1.0, 0.2)
                    m.bias.weight.normal_(0.0, 0.2)
    out = G(z, torch.arange(K)).flatten(1)
    scale = out.abs().max()   # tiny for the N(0, 0.02)-initialised mlp: compare relatively
    for a in range(K):
        for b in range(a + 1, K):
            assert (out[a] - out[b]).abs().max() > 0.01 * scale, (a, b)


@pytest.mark.parametrize("model", ["mlp", "dcgan", "resnet"])
def test_concat_discriminator_sees_the_label_at_its_input(model):
    _, D = nets(model, "concat")
    shape = (2,) if model == "mlp" else (1, 28, 28)
    x = torch.randn(1, *shape).repeat(K, *[1] * len(shape))      # one sample, K labels
    feats = D.features(x, torch.arange(K))
    scale = feats.abs().max()
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert (feats[a] - feats[b]).abs().max() > 0.01 * scale, (a, b)


@pytest.mark.parametrize("model, conditioning", CASES)
def test_label_errors(model, conditioning):
    G, D = nets(model, conditioning)
    z = torch.randn(2, 4)
    with pytest.raises(UserError, match=r"is class-conditional .* needs the labels"):
        G(z)
    with pytest.raises(UserError, match=r"y must be int64 class indices of shape \(2,\)"):
        G(z, torch.tensor([0.0, 1.0]))
    with pytest.raises(UserError, match=r"shape \(2,\)"):
        G(z, torch.tensor([0, 1, 2]))
    fake = G(z, torch.tensor([0, 1])).detach()
    if conditioning == "acgan":
        D(fake)                       # no error: an acgan D does not take the label
    else:
        with pytest.raises(UserError, match="needs the labels"):
            D(fake)
    if conditioning == "concat":
        with pytest.raises(UserError, match="needs the labels"):
            D.features(fake)
    else:
        D.features(fake)              # these features do not depend on the label


@pytest.mark.parametrize("model", ["mlp", "dcgan", "resnet"])
def test_unconditional_nets_reject_labels(model):
    G, D = build_nets(model, (2,) if model == "mlp" else (1, 28, 28), z_dim=4, width=4)
    y = torch.tensor([0, 1])
    with pytest.raises(UserError, match=r"is unconditional \(conditioning='none'\) but was given"):
        G(torch.randn(2, 4), y)
    fake = G(torch.randn(2, 4))
    with pytest.raises(UserError, match="is unconditional"):
        D(fake, y)
    with pytest.raises(UserError, match="is unconditional"):
        D.features(fake, y)


@pytest.mark.parametrize("model, conditioning", CASES)
def test_gradient_reaches_the_label_parameters(model, conditioning):
    G, D = nets(model, conditioning)
    y = torch.tensor([0, 2, 2, 0])
    out = D(G(torch.randn(4, 4), y), y)
    loss = out[0].sum() + out[1][torch.arange(4), y].sum() if conditioning == "acgan" else out.sum()
    loss.backward()
    label_params = {name: p for net in (G, D) for name, p in net.named_parameters()
                    if any(k in name for k in ("embed", "gain", "bias.weight", "classifier",
                                               "projection"))}
    assert label_params
    for name, p in label_params.items():
        assert p.grad is not None, name
        if "embed" in name or "gain" in name or "bias.weight" in name:
            # One row per class (the projection's Linear holds them as columns).
            rows = p.grad.t() if name.endswith("projection.embed.weight") else p.grad
            assert rows[0].abs().sum() > 0 and rows[2].abs().sum() > 0, name
            assert torch.equal(rows[1], torch.zeros_like(rows[1])), name   # class 1 unused
        else:
            assert p.grad.abs().sum() > 0, name


# --- DCGAN projection, by hand -----------------------------------------------------------------
def test_dcgan_projection_logit_by_hand():
    torch.manual_seed(0)
    D = DCGANDiscriminator(1, 28, width=4, num_classes=K, conditioning="projection")
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([1, 0, 2, 1])
    h = D.features(x)
    conv = D.head[-1]                               # the conv over the whole map = linear in h
    linear = h @ conv.weight.flatten() + conv.bias
    proj = (D.projection.embed.weight[:, y].t() * h).sum(dim=1)
    torch.testing.assert_close(D(x, y), linear + proj)
    assert any(isinstance(m, ConditionalBatchNorm2d) for m in
               DCGANGenerator(4, width=4, num_classes=K, conditioning="projection").modules())
