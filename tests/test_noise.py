"""Instance noise: the annealing schedule by hand, the noise's law, identity once annealed."""

import math

import pytest
import torch

from ganforge.errors import UserError
from ganforge.noise import InstanceNoise


def test_linear_anneal_to_zero():
    noise = InstanceNoise(0.2, anneal_steps=100)
    assert [noise.sigma_at(s) for s in (0, 25, 50, 100, 150)] == pytest.approx(
        [0.2, 0.15, 0.1, 0.0, 0.0], abs=1e-15)
    assert noise.sigma_at(100) == 0.0 and noise.sigma_at(10**6) == 0.0
    assert InstanceNoise(0.3).sigma_at(10**9) == 0.3


def test_adds_gaussian_noise_of_sigma_from_the_generator():
    noise = InstanceNoise(0.5, anneal_steps=10)
    x = torch.ones(20_000, 2)
    out = noise(x, 4, torch.Generator().manual_seed(0))   # sigma = 0.5 * 0.6 = 0.3
    eps = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x + 0.3 * eps)
    d = (out - x).flatten()
    # 40k draws: std's std ~ 0.3 / sqrt(80k) ~ 1.1e-3, mean's ~ 1.5e-3
    assert abs(d.std().item() - 0.3) < 6e-3 and abs(d.mean().item()) < 8e-3


def test_real_and_fake_get_independent_noise_of_the_same_law():
    noise, g = InstanceNoise(1.0), torch.Generator().manual_seed(1)
    real, fake = torch.zeros(50_000), torch.zeros(50_000)
    nr, nf = noise(real, 0, g), noise(fake, 0, g)
    assert not torch.equal(nr, nf)
    for n in (nr, nf):   # std's std ~ 1/sqrt(100k) ~ 3.2e-3
        assert abs(n.std().item() - 1.0) < 0.015


def test_identity_once_annealed_and_gradient_passes():
    noise = InstanceNoise(0.1, anneal_steps=5)
    x = torch.randn(3, 1, 4, 4, requires_grad=True)
    assert noise(x, 5, torch.Generator()) is x
    noise(x, 0, torch.Generator().manual_seed(0)).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_validates():
    with pytest.raises(UserError, match="sigma must be a number >= 0"):
        InstanceNoise(-1.0)
    with pytest.raises(UserError, match="anneal_steps must be a whole number"):
        InstanceNoise(0.1, anneal_steps=0)
    assert math.isclose(InstanceNoise(0.0).sigma_at(0), 0.0)
