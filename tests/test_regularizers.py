"""Penalties against closed forms on critics whose input gradient is known by hand."""

import pytest
import torch
from torch import nn

from ganforge.errors import UserError
from ganforge.nets import DCGANDiscriminator
from ganforge.regularizers import (
    Penalty, apply_spectral_norm, build_penalties, clip_weights_, dragan, dragan_points,
    gradient_penalty, input_gradient, interpolates, penalty_terms, r1, r2, safe_norm,
    weight_penalty,
)

SHAPE = (6, 1, 3, 3)  # small images: the penalties flatten each sample


def linear_critic(scale: float, seed: int = 0) -> nn.Module:
    """D(x) = w.x + b on flattened samples, with ||w|| = scale. Its input gradient is w."""
    torch.manual_seed(seed)
    D = nn.Sequential(nn.Flatten(), nn.Linear(9, 1))
    with torch.no_grad():
        D[1].weight.mul_(scale / D[1].weight.norm())
        D[1].bias.fill_(0.3)
    return D


class Quadratic(nn.Module):
    """D(x) = s * ||x||^2 / 2 per sample: grad_x = s * x, a different norm for each sample."""

    def __init__(self, s: float = 1.0):
        super().__init__()
        self.s = nn.Parameter(torch.tensor(s))

    def forward(self, x):
        return self.s * x.flatten(1).square().sum(1) / 2


class ReluCritic(nn.Module):
    """D(x) = relu(w.x): the input gradient is w where w.x > 0 and EXACTLY zero elsewhere."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.linspace(-1, 1, 9))

    def forward(self, x):
        return torch.relu(x.flatten(1) @ self.w)


def batches(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g)


# --- gradient penalty ---------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1.0, 0.25, 3.0])
def test_gp_of_linear_critic_is_norm_minus_one_squared(scale):
    real, fake = batches()
    D = linear_critic(scale)
    gp = gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(gp, torch.tensor((scale - 1.0) ** 2), atol=1e-6, rtol=1e-5)
    one_sided = gradient_penalty(D, real, fake, one_sided=True,
                                 generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(one_sided, torch.tensor(max(0.0, scale - 1.0) ** 2),
                               atol=1e-6, rtol=1e-5)


def test_gp_gradient_into_weights_matches_hand_derivative():
    real, fake = batches()
    D = linear_critic(3.0)
    gradient_penalty(D, real, fake).backward()
    w = D[1].weight.detach()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||; the bias does not enter the penalty.
    torch.testing.assert_close(D[1].weight.grad, 2 * (w.norm() - 1) * w / w.norm())
    assert D[1].bias.grad is None or torch.equal(D[1].bias.grad, torch.zeros(1))


def test_alpha_is_one_number_per_sample_from_the_generator():
    real, fake = batches()
    x_hat = interpolates(real, fake, torch.Generator().manual_seed(7))
    ratio = ((x_hat - fake) / (real - fake)).flatten(1)   # alpha, broadcast over the pixels
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))
    alpha = torch.rand(SHAPE[0], generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(ratio[:, 0], alpha)
    assert len(set(alpha.tolist())) == SHAPE[0]  # a different alpha for every sample


def test_gp_is_the_batch_mean_of_per_sample_terms():
    real, fake = batches()
    D = Quadratic(1.0)   # grad at x_hat_i is x_hat_i itself
    gp = gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(3))
    x_hat = interpolates(real, fake, torch.Generator().manual_seed(3))
    want = (x_hat.flatten(1).norm(dim=1) - 1).square().mean()
    torch.testing.assert_close(gp, want)
    assert gp > 0.1


def test_gp_does_not_send_gradient_into_real_or_fake():
    real, fake = batches()
    fake = fake.clone().requires_grad_(True)
    gradient_penalty(linear_critic(2.0), real, fake).backward()
    assert fake.grad is None


# --- R1 / R2 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [r1, r2])
def test_r1_r2_of_linear_critic_is_squared_norm_with_gradient_2w(fn):
    real, fake = batches()
    D = linear_critic(2.5)
    value = fn(D, real if fn is r1 else fake)
    torch.testing.assert_close(value, torch.tensor(2.5 ** 2))
    gamma = 10.0
    torch.testing.assert_close(gamma / 2 * value, torch.tensor(gamma / 2 * 2.5 ** 2))
    value.backward()
    torch.testing.assert_close(D[1].weight.grad, 2 * D[1].weight.detach())


def test_r1_is_batch_mean_of_per_sample_squared_norms():
    real, _ = batches()
    D = Quadratic(0.5)   # grad = 0.5 x, so ||g||^2 = 0.25 ||x||^2; d/ds = 2 s ||x||^2
    value = r1(D, real)
    sq = real.flatten(1).square().sum(1)
    torch.testing.assert_close(value, 0.25 * sq.mean())
    value.backward()
    torch.testing.assert_close(D.s.grad, 2 * 0.5 * sq.mean())


# --- DRAGAN -------------------------------------------------------------------------------------
def test_dragan_points_follow_the_formula_with_draws_in_order():
    real, _ = batches()
    got = dragan_points(real, c=0.5, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    noise = torch.rand(SHAPE, generator=g)
    alpha = torch.rand(SHAPE[0], 1, 1, 1, generator=g)
    x_p = real + 0.5 * real.std(unbiased=False) * noise
    torch.testing.assert_close(got, alpha * real + (1 - alpha) * x_p)


@pytest.mark.parametrize("scale", [1.0, 0.5, 2.0])
def test_dragan_of_linear_critic(scale):
    real, _ = batches()
    value = dragan(linear_critic(scale), real, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(value, torch.tensor((scale - 1.0) ** 2), atol=1e-6, rtol=1e-5)


# --- no NaN where the input gradient is exactly zero ----------------------------------------
def test_safe_norm_value_and_zero_derivative_at_zero():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]], requires_grad=True)
    n = safe_norm(x)
    torch.testing.assert_close(n, torch.tensor([5.0, 0.0]))
    n.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[0.6, 0.8], [0.0, 0.0]]))


def _zero_slope_critic():
    D = linear_critic(1.0)
    with torch.no_grad():
        D[1].weight.zero_()   # constant D: grad_x D = 0 everywhere
    return D


@pytest.mark.parametrize("make", [_zero_slope_critic, ReluCritic])
@pytest.mark.parametrize("penalty", ["gp", "gp1", "r1", "r2", "dragan"])
def test_penalty_backward_is_finite_where_input_gradient_is_zero(make, penalty):
    real, fake = batches()
    if make is ReluCritic:
        # Samples at +-k w: on the flat side of the relu (gradient exactly zero) for half.
        w = torch.linspace(-1, 1, 9)
        real = (torch.tensor([1.0, -1.0, 2.0, -2.0, 0.5, -0.5]).view(6, 1) * w).view(SHAPE)
        fake = real.clone()
    D = make()
    fns = {
        "gp": lambda: gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(0)),
        "gp1": lambda: gradient_penalty(D, real, fake, one_sided=True),
        "r1": lambda: r1(D, real), "r2": lambda: r2(D, fake),
        "dragan": lambda: dragan(D, real, generator=torch.Generator().manual_seed(0)),
    }
    value = fns[penalty]()
    value.backward()
    grads = [p.grad for p in D.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert torch.isfinite(value)
    if make is _zero_slope_critic:
        want = {"gp": 1.0, "gp1": 0.0, "r1": 0.0, "r2": 0.0, "dragan": 1.0}[penalty]
        torch.testing.assert_close(value, torch.tensor(want))


def test_mixed_zero_and_nonzero_gradients_give_the_exact_mean():
    # ReluCritic on fake == real: x_hat is the sample itself, g_i = w or 0.
    w = torch.linspace(-1, 1, 9)
    x = torch.stack([w, -w, 2 * w, -3 * w]).view(4, 1, 3, 3)
    D = ReluCritic()
    value = gradient_penalty(D, x, x.clone())
    active = torch.tensor([1.0, 0.0, 1.0, 0.0])
    want = ((active * w.norm() - 1) ** 2).mean()
    torch.testing.assert_close(value, want)
    value.backward()
    # Only active samples contribute: d/dw of (||w|| - 1)^2 / 4, twice.
    torch.testing.assert_close(D.w.grad, 2 * (2 * (w.norm() - 1) * w / w.norm()) / 4)
    # The naive sqrt would have produced NaN here: this test would catch a regression.
    xr = x.clone().requires_grad_(True)
    g = torch.autograd.grad(D(xr).sum(), xr, create_graph=True)[0].flatten(1)
    w_grad = torch.autograd.grad((g.square().sum(1).sqrt() - 1).square().mean(), D.w)[0]
    assert torch.isnan(w_grad).any()


# --- precision --------------------------------------------------------------------------------
@pytest.mark.parametrize("penalty", ["gp", "r1", "r2", "dragan"])
def test_penalties_are_float32_under_bf16_autocast(penalty):
    torch.manual_seed(0)
    D = DCGANDiscriminator(channels=1, image_size=28, width=4)
    real, fake = torch.randn(4, 1, 28, 28), torch.randn(4, 1, 28, 28)

    def run():
        return {
            "gp": lambda: gradient_penalty(D, real, fake,
                                           generator=torch.Generator().manual_seed(0)),
            "r1": lambda: r1(D, real), "r2": lambda: r2(D, fake),
            "dragan": lambda: dragan(D, real, generator=torch.Generator().manual_seed(0)),
        }[penalty]()

    want = run()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = run()
        # bf16 inputs (as an autocast G would produce) are upcast too
        got_bf16_in = {"r1": lambda: r1(D, real.bfloat16())}.get(penalty, lambda: None)()
    assert want.dtype == torch.float32 and got.dtype == torch.float32
    assert want > 0
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    if got_bf16_in is not None:
        assert got_bf16_in.dtype == torch.float32
        torch.testing.assert_close(got_bf16_in, r1(D, real.bfloat16().float()))


def test_input_gradient_checks_d_output_shape():
    with pytest.raises(UserError, match=r"one logit per sample.*\(6, 2\)"):
        input_gradient(nn.Sequential(nn.Flatten(), nn.Linear(9, 2)), torch.zeros(SHAPE))


# --- weight penalties and constraints -------------------------------------------------------
def test_weight_penalty_l2_and_l1():
    net = nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]))
        net.bias.copy_(torch.tensor([0.5, -0.5]))
    torch.testing.assert_close(weight_penalty(net), torch.tensor(1 + 4 + 0.25 + 9 + 1 + 0.5))
    torch.testing.assert_close(weight_penalty(net, order=1), torch.tensor(1 + 2 + 0.5 + 3 + 1 + 1.0))
    weight_penalty(net).backward()
    torch.testing.assert_close(net.weight.grad, 2 * net.weight.detach())
    with pytest.raises(UserError, match="order=3"):
        weight_penalty(net, order=3)


def test_clip_weights_bounds_every_parameter_and_keeps_small_ones():
    torch.manual_seed(0)
    D = DCGANDiscriminator(channels=1, image_size=28, width=4, batchnorm=True)
    with torch.no_grad():
        for w in D.parameters():
            w.mul_(10)
    before = [w.detach().clone() for w in D.parameters()]
    clip_weights_(D, 0.01)
    for w, b in zip(D.parameters(), before):
        assert w.abs().max() <= 0.01
        torch.testing.assert_close(w.detach(), b.clamp(-0.01, 0.01), rtol=0, atol=0)
    assert any((w.abs() == 0.01).any() for w in D.parameters())
    with pytest.raises(UserError, match="c > 0"):
        clip_weights_(D, 0.0)


def _matrix(layer):
    w = layer.weight
    if isinstance(layer, nn.ConvTranspose2d):
        w = w.transpose(0, 1)
    return w.reshape(w.shape[0], -1)


@pytest.mark.parametrize("make", [lambda: nn.Linear(20, 30), lambda: nn.Conv2d(3, 8, 4),
                                  lambda: nn.ConvTranspose2d(6, 4, 3)],
                         ids=["linear", "conv", "conv_transpose"])
def test_spectral_norm_gives_unit_largest_singular_value(make):
    torch.manual_seed(0)
    layer = make()   # made here, seeded: not at collection, where the RNG state depends on
    with torch.no_grad():   # which test modules were imported before
        layer.weight.mul_(25)
    assert torch.linalg.matrix_norm(_matrix(layer).detach(), 2) > 2
    original = layer.weight
    net = apply_spectral_norm(nn.Sequential(layer), n_power_iterations=5)
    assert net is not None and layer.parametrizations.weight.original is original
    x = (torch.randn(2, 20) if isinstance(layer, nn.Linear)
         else torch.randn(2, layer.in_channels, 8, 8))
    for _ in range(20):   # each train-mode forward runs the power iterations
        net(x)
    sigma = torch.linalg.matrix_norm(_matrix(layer).detach(), 2)
    torch.testing.assert_close(sigma, torch.tensor(1.0), atol=1e-3, rtol=0)


def test_spectral_norm_covers_every_layer_of_a_dcgan_d_once():
    D = apply_spectral_norm(DCGANDiscriminator(channels=1, image_size=28, width=4))
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3
    assert all(nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
    apply_spectral_norm(D)   # idempotent: no second parametrization stacked on the first
    assert all(len(m.parametrizations.weight) == 1 for m in convs)


# --- penalty records --------------------------------------------------------------------------
def test_lazy_interval_gives_k_times_the_weight_every_k_steps():
    pen = Penalty("r1", "D", 5.0, lambda D, real, fake, g: r1(D, real), interval=4)
    factors = [pen.factor(s) for s in range(12)]
    assert factors == [20.0, 0, 0, 0, 20.0, 0, 0, 0, 20.0, 0, 0, 0]
    assert sum(factors) == 5.0 * 12   # the same total weight as every step
    assert Penalty("gp", "D", 10.0, None).factor(7) == 10.0
    assert pen.stat_key == "reg/r1"


@pytest.mark.parametrize("kwargs, message", [
    (dict(target="X"), "target must be 'D' or 'G'"),
    (dict(weight=-1.0), "weight must be a number >= 0"),
    (dict(interval=0), "interval must be a whole number >= 1"),
])
def test_penalty_validates(kwargs, message):
    args = dict(name="gp", target="D", weight=1.0, fn=None, interval=1) | kwargs
    with pytest.raises(UserError, match=message):
        Penalty(**args)


def test_build_penalties_and_terms():
    assert build_penalties() == []
    pens = build_penalties(gp=10.0, r1=4.0, l2_D=0.1, interval=2)
    assert [(p.name, p.weight, p.interval) for p in pens] == [
        ("gp", 10.0, 2), ("r1", 2.0, 2), ("l2_D", 0.1, 1)]   # r1 is gamma: applied as gamma/2
    real, fake = batches()
    D = linear_critic(2.0)
    total, stats = penalty_terms(pens, 0, {'real': D, 'fake': D}, real, fake, torch.Generator().manual_seed(0))
    l2 = weight_penalty(D)
    assert set(stats) == {"reg/gp", "reg/r1", "reg/l2_D"}
    torch.testing.assert_close(stats["reg/gp"], torch.tensor(1.0))
    torch.testing.assert_close(stats["reg/r1"], torch.tensor(4.0))
    torch.testing.assert_close(total, 10.0 * 2 * 1.0 + 2.0 * 2 * 4.0 + 0.1 * l2)
    total, stats = penalty_terms(pens, 1, {'real': D, 'fake': D}, real, fake)
    assert set(stats) == {"reg/l2_D"}
    torch.testing.assert_close(total, 0.1 * l2)
    assert penalty_terms(pens[:2], 1, {'real': D, 'fake': D}, real, fake) == (None, {})
    with pytest.raises(UserError, match="reg.r1 must be a number >= 0"):
        build_penalties(r1=-1.0)
