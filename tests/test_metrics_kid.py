"""KID: equal to a direct double-loop reference, unbiased, and equal to torchmetrics."""

import pytest
import torch

from conftest import identity_features

from ganforge.errors import UserError
from ganforge.metrics import kid, mmd2_unbiased


def reference_mmd2(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as plain loops."""
    d = x.shape[1]

    def k(a, b):
        return (float(a @ b) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_equals_the_loop_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(15, 3, generator=g, dtype=torch.float64)
    y = torch.randn(11, 3, generator=g, dtype=torch.float64) + 0.5
    assert mmd2_unbiased(x, y) == pytest.approx(reference_mmd2(x, y), rel=1e-12)


def test_kid_with_one_full_subset_is_the_mmd_of_the_sets():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(20, 4, generator=g), torch.randn(20, 4, generator=g) * 1.5
    out = kid(x, y, subsets=1, subset_size=20)
    assert out["kid"] == pytest.approx(reference_mmd2(x.double(), y.double()), rel=1e-10)
    assert out["kid_std"] == 0.0 and out["kid_subset_size"] == 20


def test_kid_is_unbiased_and_the_biased_estimator_would_fail_the_same_bound():
    g = torch.Generator().manual_seed(2)
    values, biased = [], []
    for _ in range(300):
        x = torch.randn(30, 4, generator=g, dtype=torch.float64)
        y = torch.randn(30, 4, generator=g, dtype=torch.float64)
        values.append(mmd2_unbiased(x, y))
        kxx, kyy = (x @ x.T / 4 + 1) ** 3, (y @ y.T / 4 + 1) ** 3
        biased.append(float(kxx.mean() + kyy.mean() - 2 * ((x @ y.T / 4 + 1) ** 3).mean()))
    v, b = torch.tensor(values), torch.tensor(biased)
    bound = 3 * float(v.std()) / len(v) ** 0.5
    assert abs(float(v.mean())) < bound            # two-sided: E[unbiased MMD^2] = 0
    assert float(b.mean()) > 3 * float(b.std()) / len(b) ** 0.5  # the V-statistic is not


def test_kid_subsets_are_seeded_and_shrink_to_the_smaller_set():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(50, 3, generator=g), torch.randn(40, 3, generator=g) + 1
    a, b = kid(x, y, subsets=10, seed=7), kid(x, y, subsets=10, seed=7)
    assert a == b and a["kid_subset_size"] == 40 and a["kid_std"] > 0
    assert kid(x, y, subsets=10, seed=8) != a
    assert a["kid"] > 0.1  # shifted means: clearly positive
    with pytest.raises(UserError, match="subsets"):
        kid(x, y, subsets=0)


def test_kid_agrees_with_torchmetrics():
    tm = pytest.importorskip("torchmetrics.image.kid")
    g = torch.Generator().manual_seed(4)
    real = torch.randn(120, 8, generator=g, dtype=torch.float64)
    fake = 0.7 * torch.randn(120, 8, generator=g, dtype=torch.float64) + 0.2
    # One subset holding every sample: the permutation does not matter, so both are exact.
    metric = tm.KernelInceptionDistance(feature=identity_features(8), subsets=1, subset_size=120)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    theirs = float(metric.compute()[0])
    ours = kid(real, fake, subsets=1, subset_size=120)["kid"]
    assert ours == pytest.approx(theirs, rel=1e-4)
