"""Precision/recall and density/coverage: identical, disjoint, a hand-computed case, chunking."""

import pytest
import torch

from ganforge.errors import UserError
from ganforge.metrics import density_coverage, precision_recall
from ganforge.metrics.knn import default_chunk, kth_neighbour_radii


def test_identical_sets_give_one_everywhere():
    x = torch.randn(200, 5, generator=torch.Generator().manual_seed(0))
    assert precision_recall(x, x, k=3) == {"precision": 1.0, "recall": 1.0}
    # Each ball holds its centre and k-1 neighbours strictly inside: density exactly 1.
    assert density_coverage(x, x, k=5) == {"density": pytest.approx(1.0, abs=1e-12),
                                           "coverage": 1.0}


def test_disjoint_sets_give_zero():
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(100, 4, generator=g), torch.randn(80, 4, generator=g) + 100
    assert precision_recall(real, fake) == {"precision": 0.0, "recall": 0.0}
    assert density_coverage(real, fake) == {"density": 0.0, "coverage": 0.0}


# A 2-D case worked by hand with k = 1 (points on or near the x-axis).
REAL = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [10.0, 0.0], [-10.0, 0.0]])
FAKE = torch.tensor([[0.5, 0.0], [5.0, 0.0], [20.0, 0.0], [10.0, 3.0], [0.2, 0.1]])
# Real 1-NN radii: 1, 1, 1, 8, 10. Fake 1-NN radii: f0, f4: 0.316 (each other); f1: 4.5 (f0);
# f2: 10.44 (f3); f3: 5.83 (f1).
# precision: f0 in r0's ball, f1 and f3 in r3's (5 <= 8, 3 <= 8), f4 in r0's; f2 is 10 > 8 from
#   r3 -> 4/5.
# recall: r0 in f4's ball (0.224 <= 0.316), r1, r2 in f1's (4, 3 <= 4.5), r3 in f2's
#   (10 <= 10.44); r4 in none (nearest f4 at 10.2) -> 4/5.
# density (strict <): balls containing f0: r0, r1 (2); f1: r3 (1); f2: none; f3: r3 (1);
#   f4: r0, r1 (2) -> 6 / (k * 5) = 1.2.
# coverage: r0, r1, r3 hold a fake; r2 (nearest fake f4 at 1.80 > 1) and r4 do not -> 3/5.


def test_hand_computed_2d_case():
    assert precision_recall(REAL, FAKE, k=1) == pytest.approx({"precision": 0.8,
                                                               "recall": 0.8})
    assert density_coverage(REAL, FAKE, k=1) == pytest.approx({"density": 1.2,
                                                               "coverage": 0.6})


def test_chunked_knn_equals_unchunked():
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(300, 4, generator=g), 1.2 * torch.randn(250, 4, generator=g) + .3
    whole = (precision_recall(real, fake, chunk=10**6), density_coverage(real, fake, chunk=10**6))
    for chunk in (1, 7, 64):
        assert (precision_recall(real, fake, chunk=chunk),
                density_coverage(real, fake, chunk=chunk)) == whole
    x = real.double()
    assert torch.equal(kth_neighbour_radii(x, 3, chunk=1), kth_neighbour_radii(x, 3, chunk=500))
    # The default block for 50,000 columns stays near 128 MB of float64.
    assert default_chunk(50_000) * 50_000 * 8 <= 128 * 2**20


def test_a_value_strictly_between_zero_and_one_on_shifted_gaussians():
    g = torch.Generator().manual_seed(3)
    real, fake = torch.randn(400, 2, generator=g), torch.randn(400, 2, generator=g) + 1.5
    pr, dc = precision_recall(real, fake), density_coverage(real, fake)
    assert 0.1 < pr["precision"] < 0.99 and 0.1 < pr["recall"] < 0.99
    assert 0.05 < dc["coverage"] < 0.99 and 0.0 < dc["density"] < 1.0


def test_bad_k_and_too_few_samples():
    x = torch.randn(10, 2)
    with pytest.raises(UserError, match="k must be"):
        precision_recall(x, x, k=0)
    with pytest.raises(UserError, match="at least 6"):
        density_coverage(x[:5], x, k=5)
