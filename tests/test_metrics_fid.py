"""FID: zero on itself, the closed form on known Gaussians, stable when singular, torchmetrics."""

import math

import numpy as np
import pytest
import torch

from conftest import identity_features

from ganforge.errors import UserError
from ganforge.metrics import fid, frechet_distance, gaussian_stats


def test_fid_of_a_set_with_itself_is_zero():
    x = torch.randn(500, 8, generator=torch.Generator().manual_seed(1))
    assert fid(x, x) == pytest.approx(0.0, abs=1e-9)
    assert fid(x.numpy(), x.numpy()) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_equals_the_closed_form_for_diagonal_covariances():
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.5])
    d1, d2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    # By hand: ||mu1 - mu2||^2 = 1 + 0 + 6.25; sum (sqrt(d1) - sqrt(d2))^2 = 4 + 1 + 0.
    expected = 7.25 + 5.0
    got = frechet_distance(mu1, torch.diag(d1), mu2, torch.diag(d2))
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_closed_form_with_rotated_commuting_covariances():
    # S1 = R diag(a) R^T and S2 = R diag(b) R^T commute, so
    # Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) = sum (sqrt(a) - sqrt(b))^2, off-diagonal terms
    # and all.
    g = torch.Generator().manual_seed(2)
    R, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))
    a = torch.tensor([1.0, 2.0, 3.0, 0.5, 0.0], dtype=torch.float64)   # one zero: singular
    b = torch.tensor([4.0, 2.0, 0.1, 0.5, 1.0], dtype=torch.float64)
    mu1, mu2 = torch.zeros(5, dtype=torch.float64), torch.full((5,), 0.5, dtype=torch.float64)
    expected = 5 * 0.25 + float(((a.sqrt() - b.sqrt()) ** 2).sum())
    got = frechet_distance(mu1, R @ torch.diag(a) @ R.T, mu2, R @ torch.diag(b) @ R.T)
    assert got == pytest.approx(expected, rel=1e-9)


def test_fid_uses_the_sample_mean_and_unbiased_covariance():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(200, 4, generator=g), 2 * torch.randn(300, 4, generator=g) + 1
    mu, sigma = gaussian_stats(a)
    np.testing.assert_allclose(mu.numpy(), a.double().numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), np.cov(a.double().numpy(), rowvar=False),
                               rtol=1e-10)
    assert fid(a, b) == pytest.approx(frechet_distance(*gaussian_stats(a), *gaussian_stats(b)))


def test_fid_is_finite_and_non_negative_with_rank_deficient_covariances():
    g = torch.Generator().manual_seed(4)
    for n, d in ((10, 64), (3, 128), (50, 50)):
        a, b = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g) * 0.1
        for x, y in ((a, b), (b, a), (a, a)):
            value = fid(x, y)
            assert math.isfinite(value) and value >= 0
    # Points on a 2-D plane in 32-D (covariance rank 2): against itself still ~0.
    plane = torch.randn(400, 2, generator=g) @ torch.randn(2, 32, generator=g)
    assert fid(plane, plane) == pytest.approx(0.0, abs=1e-6)


def test_bad_inputs_are_user_errors():
    with pytest.raises(UserError, match="2-D"):
        fid(torch.zeros(4, 1, 28, 28), torch.zeros(4, 784))
    with pytest.raises(UserError, match="same feature network"):
        fid(torch.randn(5, 3), torch.randn(5, 4))
    with pytest.raises(UserError, match="at least 2"):
        fid(torch.randn(1, 3), torch.randn(5, 3))
    with pytest.raises(UserError, match="NaN"):
        fid(torch.full((3, 2), float("nan")), torch.randn(5, 2))


def test_fid_agrees_with_torchmetrics():
    tm = pytest.importorskip("torchmetrics.image.fid")
    g = torch.Generator().manual_seed(5)
    real = torch.randn(400, 16, generator=g, dtype=torch.float64)
    fake = 0.8 * torch.randn(300, 16, generator=g, dtype=torch.float64) + 0.3
    metric = tm.FrechetInceptionDistance(feature=identity_features(16))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    theirs = float(metric.compute())
    assert fid(real, fake) == pytest.approx(theirs, rel=1e-4)
