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


# --- one-sided label smoothing (Salimans et al. 2016) ---------------------------------------------
SMOOTH_REAL = torch.tensor([-50.0, -2.0, 0.0, 0.3, 3.0, 50.0], dtype=torch.float64)
SMOOTH_FAKE = torch.tensor([-4.0, -0.5, 1.0, 20.0], dtype=torch.float64)


def _sp(t):
    return max(t, 0.0) + math.log1p(math.exp(-abs(t)))


@pytest.mark.parametrize("name", ["saturating", "nonsaturating", "least_squares"])
@pytest.mark.parametrize("real_label", [0.9, 0.7])
def test_label_smoothing_changes_only_the_real_term_as_the_formula_says(name, real_label):
    loss = LOSSES[name]
    real = SMOOTH_REAL.clone().requires_grad_(True)
    fake = SMOOTH_FAKE.clone().requires_grad_(True)
    got = loss.d_loss(real, fake, real_label=real_label)
    got.backward()
    t, n, m = real_label, len(SMOOTH_REAL), len(SMOOTH_FAKE)
    if name == "least_squares":
        real_terms = [0.5 * (x - t) ** 2 for x in SMOOTH_REAL.tolist()]
        real_grads = [(x - t) / n for x in SMOOTH_REAL.tolist()]
        fake_terms = [0.5 * x ** 2 for x in SMOOTH_FAKE.tolist()]
        fake_grads = [x / m for x in SMOOTH_FAKE.tolist()]
    else:
        # cross-entropy with target t: t softplus(-x) + (1 - t) softplus(x);
        # d/dx = -t (1 - sigmoid(x)) + (1 - t) sigmoid(x) = sigmoid(x) - t
        real_terms = [t * _sp(-x) + (1 - t) * _sp(x) for x in SMOOTH_REAL.tolist()]
        real_grads = [(sig(x) - t) / n for x in SMOOTH_REAL.tolist()]
        fake_terms = [_sp(x) for x in SMOOTH_FAKE.tolist()]           # target 0, unsmoothed
        fake_grads = [sig(x) / m for x in SMOOTH_FAKE.tolist()]
    want = sum(real_terms) / n + sum(fake_terms) / m
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64))
    torch.testing.assert_close(real.grad, torch.tensor(real_grads, dtype=torch.float64))
    torch.testing.assert_close(fake.grad, torch.tensor(fake_grads, dtype=torch.float64))
    # The fake side is never smoothed: its gradient is the unsmoothed loss's, bit for bit.
    fake_plain = SMOOTH_FAKE.clone().requires_grad_(True)
    plain = loss.d_loss(SMOOTH_REAL, fake_plain)
    plain.backward()
    assert torch.equal(fake.grad, fake_plain.grad)
    assert abs(got.item() - plain.item()) > 1e-3


@pytest.mark.parametrize("name", list(LOSSES))
def test_real_label_one_is_the_plain_loss_bitwise(name):
    loss = LOSSES[name]
    a = loss.d_loss(SMOOTH_REAL.float(), SMOOTH_FAKE.float(), real_label=1.0)
    b = loss.d_real(SMOOTH_REAL.float()).mean() + loss.d_fake(SMOOTH_FAKE.float()).mean()
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["hinge", "wasserstein"])
def test_label_smoothing_refused_where_undefined(name):
    with pytest.raises(UserError, match="label smoothing is defined for the cross-entropy and "
                                        "least-squares losses"):
        LOSSES[name].d_loss(SMOOTH_REAL, SMOOTH_FAKE, real_label=0.9)


def test_real_label_range():
    with pytest.raises(UserError, match=r"real_label must be in \(0, 1\]"):
        LOSSES["nonsaturating"].d_loss(SMOOTH_REAL, SMOOTH_FAKE, real_label=1.2)
