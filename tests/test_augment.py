"""DiffAugment: hand-checked transforms, identity at p=0, gradients, same law for real/fake."""

import math

import pytest
import torch

from ganforge.augment import DiffAugment, cutout_mask, translate
from ganforge.errors import UserError

OPS = ("brightness", "saturation", "contrast", "translation", "cutout")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_translation_shifts_whole_pixels_with_zero_fill():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    # x = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    down1_left1 = translate(x, torch.tensor([1]), torch.tensor([-1]))
    want = torch.tensor([[0.0, 0, 0, 0],
                         [1, 2, 3, 0],
                         [5, 6, 7, 0],
                         [9, 10, 11, 0]]).view(1, 1, 4, 4)
    assert torch.equal(down1_left1, want)
    up2 = translate(x, torch.tensor([-2]), torch.tensor([0]), max_shift=(2, 2))
    assert torch.equal(up2, torch.tensor([[8.0, 9, 10, 11], [12, 13, 14, 15],
                                          [0, 0, 0, 0], [0, 0, 0, 0]]).view(1, 1, 4, 4))
    # Per sample: a batch of two with different shifts, two channels moved together.
    xb = torch.arange(2 * 2 * 9.0).view(2, 2, 3, 3)
    out = translate(xb, torch.tensor([0, 1]), torch.tensor([1, 0]))
    assert torch.equal(out[0, :, :, 1:], xb[0, :, :, :2]) and (out[0, :, :, 0] == 0).all()
    assert torch.equal(out[1, :, 1:], xb[1, :, :2]) and (out[1, :, 0] == 0).all()


def test_cutout_box_by_hand():
    mask = cutout_mask((2, 1, 4, 4), torch.tensor([1, 3]), torch.tensor([2, 0]), (2, 2),
                       torch.tensor([True, False]))
    want0 = torch.tensor([[1, 0, 0, 1],
                          [1, 0, 0, 1],
                          [1, 1, 1, 1],
                          [1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(mask[0, 0], want0)
    assert mask[1].all()   # cutout not chosen for sample 1
    edge = cutout_mask((1, 1, 4, 4), torch.tensor([4]), torch.tensor([0]), (2, 2),
                       torch.tensor([True]))
    # centre at the border: only the part of the box inside the image is cut (row 3, col 0)
    assert (~edge[0, 0]).nonzero().tolist() == [[3, 0]]


def test_colour_transforms_follow_their_formulas():
    torch.manual_seed(0)
    x = torch.randn(3, 3, 5, 5)
    on, off = torch.tensor([True, True, False]), torch.tensor([False] * 3)
    b, s, c = torch.tensor([0.2, -0.4, 0.3]), torch.tensor([1.5, 0.3, 1.9]), \
        torch.tensor([0.7, 1.3, 0.6])
    aug = DiffAugment(policy=("color",))
    base = dict(brightness_on=off, brightness=b, saturation_on=off, saturation=s,
                contrast_on=off, contrast=c)
    v = lambda t: t.view(-1, 1, 1, 1)
    got = aug.apply(x, base | dict(brightness_on=on))
    want = x + v(b)
    want[2] = x[2]
    torch.testing.assert_close(got, want)
    got = aug.apply(x, base | dict(saturation_on=on))
    m = x.mean(1, keepdim=True)
    want = (x - m) * v(s) + m
    want[2] = x[2]
    torch.testing.assert_close(got, want)
    got = aug.apply(x, base | dict(contrast_on=on))
    m = x.mean((1, 2, 3), keepdim=True)
    want = (x - m) * v(c) + m
    want[2] = x[2]
    torch.testing.assert_close(got, want)
    assert torch.equal(got[2], x[2])   # a skipped sample is bitwise unchanged


def test_p_zero_is_bitwise_identity_and_draws_the_same_numbers():
    x = torch.randn(16, 3, 8, 8)
    aug = DiffAugment(p=0.0)
    g = gen(3)
    assert torch.equal(aug(x, g), x)
    # The stream advanced exactly as with p = 1: the generator state does not depend on p.
    g1 = gen(3)
    DiffAugment(p=1.0)(x, g1)
    assert torch.equal(g.get_state(), g1.get_state())


def test_p_one_changes_every_sample():
    x = torch.randn(32, 3, 8, 8)
    out = DiffAugment(p=1.0)(x, gen(0))
    assert all(not torch.equal(out[i], x[i]) for i in range(32))


@pytest.mark.parametrize("p", [0.3, 1.0])
def test_gradients_flow_to_the_input(p):
    x = torch.randn(8, 3, 8, 8, requires_grad=True)
    DiffAugment(p=p)(x, gen(1)).square().sum().backward()
    assert torch.isfinite(x.grad).all()
    assert (x.grad != 0).float().mean() > 0.3


def test_translation_gradient_counts_the_pixels_that_stay():
    x = torch.randn(64, 1, 8, 8, requires_grad=True)
    aug = DiffAugment(p=1.0, policy=("translation",))
    prm = aug.sample(tuple(x.shape), gen(2))
    aug.apply(x, prm).sum().backward()
    tx, ty = prm["translate_x"], prm["translate_y"]
    assert tx.abs().max() == 1 and ty.abs().max() == 1   # 8 * 1/8 = 1 pixel at most
    stays = (8 - tx.abs()) * (8 - ty.abs())
    assert torch.equal(x.grad.sum((1, 2, 3)), stays.float())
    assert torch.equal(x.grad.unique(), torch.tensor([0.0, 1.0]))


def test_real_and_fake_get_the_same_distribution_of_transforms():
    aug = DiffAugment(p=0.3)
    n = 4000
    g = gen(11)
    real_prm = aug.sample((n, 3, 16, 16), g)
    fake_prm = aug.sample((n, 3, 16, 16), g)
    # The draws depend only on the shape and the generator, not on which batch it is:
    assert all(torch.equal(a, b) for a, b in zip(aug.sample((n, 3, 16, 16), gen(11)).values(),
                                                 real_prm.values()))
    bound = 4 * math.sqrt(0.3 * 0.7 / n)   # 4 sigma of a binomial fraction
    for prm in (real_prm, fake_prm):
        for op in OPS:
            frac = prm[f"{op}_on"].float().mean().item()
            assert abs(frac - 0.3) < bound, (op, frac)
        assert set(prm["translate_x"].unique().tolist()) == {-2, -1, 0, 1, 2}   # 16/8 = 2
        assert abs(prm["brightness"].mean().item()) < 4 * math.sqrt(1 / 12 / n)
    # ... and the two batches' coin flips are independent draws, not the same ones.
    assert not torch.equal(real_prm["translation_on"], fake_prm["translation_on"])


def test_p_is_settable_and_checkpointed():
    aug = DiffAugment(p=0.0)
    aug.p = 0.6
    assert aug.state_dict() == {"p": 0.6}
    other = DiffAugment()
    other.load_state_dict(aug.state_dict())
    assert other.p == 0.6
    with pytest.raises(UserError, match=r"p must be in \[0, 1\]"):
        aug.p = 1.5


def test_points_are_refused_with_a_clear_error():
    with pytest.raises(UserError, match=r"images \(N, C, H, W\); got a batch of shape \(5, 2\)"):
        DiffAugment()(torch.randn(5, 2), gen())
    with pytest.raises(UserError, match="unknown augmentation 'flip'"):
        DiffAugment(policy=("flip",))
