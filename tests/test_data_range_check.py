"""Range check: G's output range from its graph, mismatches, auto rescaling, no side effects."""

import copy

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganforge.data import DataRangeError, check_data_range, generator_output_range
from ganforge.data.range_check import OutputRange
from ganforge.errors import UserError


def exact(actual, expected):
    assert_close(actual, expected, rtol=0, atol=0)


def g_range_of(*layers):
    torch.manual_seed(0)
    return generator_output_range(nn.Sequential(nn.Linear(4, 6), *layers), torch.randn(16, 4))


def unit_data():
    """(200, 1, 2, 2) in [0, 1] with both ends present."""
    x = torch.rand(200, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    x[0, 0, 0, 0], x[1, 0, 0, 0] = 0.0, 1.0
    return x


class FunctionalTanh(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 12)

    def forward(self, z):
        return torch.tanh(self.fc(z)).view(-1, 3, 2, 2)  # the view must be looked through


def test_activation_detection():
    tanh = g_range_of(nn.Tanh())
    assert (tanh.activation, tanh.low, tanh.high) == ("tanh", -1.0, 1.0)
    assert -1.0 <= tanh.observed_min < tanh.observed_max <= 1.0
    assert (g_range_of(nn.Sigmoid()).activation, g_range_of(nn.Sigmoid()).low) == ("sigmoid", 0.0)
    hard = g_range_of(nn.Hardtanh(-2.0, 3.0))
    assert (hard.activation, hard.low, hard.high) == ("hardtanh", -2.0, 3.0)
    linear = g_range_of()
    assert (linear.activation, linear.low, linear.high) == ("unbounded", None, None)
    functional = generator_output_range(FunctionalTanh(), torch.randn(5, 4))
    assert (functional.activation, functional.low, functional.high) == ("tanh", -1.0, 1.0)


def test_frozen_generator_is_still_read_and_stays_frozen():
    G = nn.Sequential(nn.Linear(4, 6), nn.Tanh()).requires_grad_(False)
    assert generator_output_range(G, torch.randn(3, 4)).activation == "tanh"
    assert not any(p.requires_grad for p in G.parameters())


def test_zero_one_data_with_tanh_raises_with_numbers_and_fix():
    with pytest.raises(DataRangeError) as err:
        check_data_range(unit_data(), g_range_of(nn.Tanh()))
    msg = str(err.value)
    assert isinstance(err.value, UserError)
    assert "data is in [0, 1]" in msg and "tanh output is in [-1, 1]" in msg
    assert "value range alone" in msg and "x * 2 - 1" in msg and "data.scale=auto" in msg


def test_pixel_data_with_tanh_raises_with_numbers_and_fix():
    x = (unit_data() * 255).round()
    with pytest.raises(DataRangeError) as err:
        check_data_range(x, g_range_of(nn.Tanh()))
    msg = str(err.value)
    assert "[0, 255] (8-bit pixel values; found min 0, max 255)" in msg
    assert "tanh output is in [-1, 1]" in msg
    assert "divide by 127.5 and subtract 1" in msg and "data.scale=auto" in msg


def test_correctly_scaled_data_passes_unchanged():
    x = unit_data() * 2 - 1
    for scale in ("check", "auto", "off"):
        out, note = check_data_range(x, g_range_of(nn.Tanh()), scale)
        assert out is x and note is None
    out, note = check_data_range(unit_data(), g_range_of(nn.Sigmoid()))
    assert note is None


@pytest.mark.parametrize("factor, formula", [(1.0, "x * 2 - 1"), (255.0, "x / 127.5 - 1")])
def test_auto_rescales_to_exactly_minus_one_one(factor, formula):
    x = unit_data() * factor
    out, note = check_data_range(x, g_range_of(nn.Tanh()), "auto")
    assert (float(out.min()), float(out.max())) == (-1.0, 1.0)
    exact(out, unit_data() * 2 - 1 if factor == 1.0 else x / 127.5 - 1)
    assert note == (
        f"data in [0, {factor:.4g}] rescaled to [-1, 1] ({formula}) to match the generator's "
        "tanh output"
    )
    exact(x, unit_data() * factor)  # the input is not modified in place


def test_sigmoid_generator_with_symmetric_data():
    x = unit_data() * 2 - 1
    expected = (
        r"data is in \[-1, 1\] but the generator's sigmoid output is in \[0, 1\]: "
        r"rescale with \(x \+ 1\) / 2, or set data.scale=auto"
    )
    with pytest.raises(DataRangeError, match=expected):
        check_data_range(x, g_range_of(nn.Sigmoid()))
    out, note = check_data_range(x, g_range_of(nn.Sigmoid()), "auto")
    exact(out, unit_data())
    assert "(x + 1) / 2" in note


def test_unbounded_generator_never_mismatches():
    linear = g_range_of()
    for x in (unit_data(), unit_data() * 255, unit_data() * 1e4 - 3):
        for scale in ("check", "auto"):
            out, note = check_data_range(x, linear, scale)
            assert out is x and note is None


def test_generic_range_mismatch_and_bad_scale():
    x = unit_data() * 10 - 7  # [-7, 3]: not a known range
    with pytest.raises(DataRangeError, match=r"data is in \[-7, 3\] .*map \[-7, 3\] linearly onto"):
        check_data_range(x, g_range_of(nn.Tanh()))
    out, _ = check_data_range(x, g_range_of(nn.Tanh()), "auto")
    assert_close(out, unit_data() * 2 - 1, rtol=0, atol=1e-6)
    bounded = OutputRange("hardtanh", 0.0, 6.0, 0.0, 6.0)
    with pytest.raises(DataRangeError, match=r"hardtanh output is in \[0, 6\]"):
        check_data_range(x, bounded)
    with pytest.raises(UserError, match="off, check, auto"):
        check_data_range(x, bounded, "yes")


class NoisyG(nn.Module):
    """BatchNorm (running stats), dropout (global RNG), and an eval-mode submodule."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Sequential(nn.Linear(8, 3), nn.BatchNorm1d(3), nn.Tanh())
        self.head[1].eval()  # a per-module mode that a blanket G.train() would overwrite

    def forward(self, z):
        return self.head(self.body(z))


def test_probe_leaves_generator_and_rng_bitwise_unchanged():
    torch.manual_seed(0)
    G_probed = NoisyG()
    G_plain = copy.deepcopy(G_probed)
    z = torch.randn(32, 4)

    torch.manual_seed(123)
    rng_before = torch.get_rng_state()
    g_range = generator_output_range(G_probed, z)
    exact(torch.get_rng_state(), rng_before)
    assert g_range.activation == "tanh"
    assert [m.training for m in G_probed.modules()] == [m.training for m in G_plain.modules()]
    for a, b in zip(G_probed.state_dict().values(), G_plain.state_dict().values()):
        exact(a, b)  # includes BatchNorm running_mean/var and num_batches_tracked

    # What follows the check is the same as if it had not run: same dropout, same BN stats.
    out_probed = G_probed(z)
    torch.manual_seed(123)
    out_plain = G_plain(z)
    exact(out_probed, out_plain)
    for a, b in zip(G_probed.state_dict().values(), G_plain.state_dict().values()):
        exact(a, b)


def test_relu_generator_rejects_negative_data_even_in_auto():
    relu = g_range_of(nn.ReLU())
    assert (relu.activation, relu.low, relu.high) == ("relu", 0.0, None)
    assert check_data_range(unit_data(), relu)[1] is None
    for scale in ("check", "auto"):
        with pytest.raises(DataRangeError, match=r"relu output is in \[0, inf\]"):
            check_data_range(unit_data() * 2 - 1, relu, scale)
