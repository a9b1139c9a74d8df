"""Each loss against its closed form: value and gradient, on fixed logits including +-50."""

import math

import pytest
import torch

from ganforge.errors import UserError
from ganforge.losses import LOSSES, get_loss

LOGITS = torch.tensor([-50.0, -3.0, -0.5, 0.0, 0.7, 4.0, 50.0], dtype=torch.float64)


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


# Closed forms written from the papers, in float64 Python math, with their derivatives.
# Each entry: (d_real(x), d/dx d_real, d_fake(x), d/dx d_fake, g(x), d/dx g)
def closed(name, x):
    sp = lambda t: max(t, 0.0) + math.log1p(math.exp(-abs(t)))  # softplus, exact for |t|=50
    if name in ("saturating", "nonsaturating"):
        dr, ddr = sp(-x), -(1 - sig(x))            # -log sigmoid(x)
        df, ddf = sp(x), sig(x)                     # -log(1 - sigmoid(x))
        if name == "saturating":
            g, dg = -sp(x), -sig(x)                 # log(1 - sigmoid(x))
        else:
            g, dg = sp(-x), -(1 - sig(x))           # -log sigmoid(x)
        return dr, ddr, df, ddf, g, dg
    if name == "hinge":
        return (max(0.0, 1 - x), -1.0 if x < 1 else 0.0, max(0.0, 1 + x),
                1.0 if x > -1 else 0.0, -x, -1.0)
    if name == "wasserstein":
        return -x, -1.0, x, 1.0, -x, -1.0
    if name == "least_squares":
        return 0.5 * (x - 1) ** 2, x - 1, 0.5 * x**2, x, 0.5 * (x - 1) ** 2, x - 1
    raise AssertionError(name)


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_value_and_gradient_match_closed_form(name, dtype):
    loss = LOSSES[name]
    for term_index, fn in enumerate((loss.d_real, loss.d_fake, loss.g)):
        x = LOGITS.to(dtype).clone().requires_grad_(True)
        value = fn(x)
        value.sum().backward()
        want = torch.tensor([closed(name, float(v))[2 * term_index] for v in LOGITS], dtype=dtype)
        want_grad = torch.tensor([closed(name, float(v))[2 * term_index + 1] for v in LOGITS],
                                 dtype=dtype)
        assert torch.isfinite(value).all() and torch.isfinite(x.grad).all()
        torch.testing.assert_close(value.detach(), want)
        torch.testing.assert_close(x.grad, want_grad)


def test_scalar_losses_are_batch_means_in_float32():
    loss = get_loss("hinge")
    real = torch.tensor([0.0, 2.0], dtype=torch.bfloat16)
    fake = torch.tensor([-2.0, 0.0, 1.0], dtype=torch.bfloat16)
    d = loss.d_loss(real, fake)
    assert d.dtype == torch.float32
    # real: relu(1-0)=1, relu(1-2)=0 -> 0.5; fake: relu(1-2)=0, 1, 2 -> 1.0
    torch.testing.assert_close(d, torch.tensor(1.5))
    torch.testing.assert_close(loss.g_loss(fake), torch.tensor(1.0 / 3.0))


def test_saturating_and_nonsaturating_share_d_and_differ_in_g():
    s, ns = LOSSES["saturating"], LOSSES["nonsaturating"]
    assert s.d_real is ns.d_real and s.d_fake is ns.d_fake
    x = torch.tensor([-5.0])
    # Where D confidently rejects fakes, the saturating G gradient vanishes, the other does not.
    xs = x.clone().requires_grad_(True)
    s.g(xs).sum().backward()
    xn = x.clone().requires_grad_(True)
    ns.g(xn).sum().backward()
    assert abs(float(xs.grad)) < 0.01 < abs(float(xn.grad))


@pytest.mark.parametrize("name", list(LOSSES))
def test_zero_sum_flag_means_g_is_minus_d_fake(name):
    loss = LOSSES[name]
    x = LOGITS.clone()
    is_zero_sum = torch.allclose(loss.g(x), -loss.d_fake(x))
    assert loss.zero_sum == is_zero_sum


def test_unknown_loss_names_nearest():
    with pytest.raises(UserError, match="did you mean 'hinge'"):
        get_loss("hingee")
