import math

import pytest
import torch

from ganforge.data.mixtures import ring8_modes
from ganforge.errors import UserError
from ganforge.metrics import mixture_modes


def test_hand_placed_points():
    modes = ring8_modes().double()
    # 3 points on mode 0, 1 point on mode 1 within 3 std (0.02 < 0.03), 1 point far away.
    pts = torch.stack([modes[0], modes[0], modes[0], modes[1] + torch.tensor([0.02, 0.0]),
                       torch.tensor([5.0, 5.0])])
    out = mixture_modes(pts, "ring8")
    assert out["modes"] == 2
    assert out["high_quality"] == pytest.approx(4 / 5)
    p = torch.tensor([0.75, 0.25])
    assert out["reverse_kl"] == pytest.approx(float((p * (p * 8).log()).sum()))


def test_uniform_cover_has_zero_reverse_kl_and_just_outside_3_std_is_not_high_quality():
    out = mixture_modes(ring8_modes(), "ring8")
    assert out == {"modes": 8, "high_quality": 1.0, "reverse_kl": pytest.approx(0.0, abs=1e-12)}
    off = mixture_modes(ring8_modes()[:1] + torch.tensor([0.0301, 0.0]), "ring8")
    assert off["modes"] == 0 and off["high_quality"] == 0.0 and math.isinf(off["reverse_kl"])


def test_unknown_mixture():
    with pytest.raises(UserError, match="ring8"):
        mixture_modes(torch.zeros(1, 2), "ring9")


def test_grid25_hand_placed_points():
    from ganforge.data.mixtures import grid25_modes

    modes = grid25_modes()
    # Two points on mode (-4, -4), one 0.1 off mode (0, 0) (2 std: high quality), one 0.2 off
    # (4 std: not), one between modes.
    pts = torch.stack([modes[0], modes[0], modes[12] + torch.tensor([0.1, 0.0]),
                       modes[12] + torch.tensor([0.0, 0.2]), torch.tensor([1.0, 1.0])])
    out = mixture_modes(pts, "grid25")
    assert out["modes"] == 2 and out["high_quality"] == pytest.approx(3 / 5)
    p = torch.tensor([2 / 3, 1 / 3])
    assert out["reverse_kl"] == pytest.approx(float((p * (p * 25).log()).sum()))
