"""data.xflip: each sample of each epoch is mirrored on a coin drawn from the epoch's own
generator, so the flips resume exactly and are the same on one process or several."""

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from ganforge.data import Batches
from ganforge.data.batches import EPOCH_STRIDE
from ganforge.data.samples import PixelSamples, images_from_uint8
from ganforge.errors import UserError

W = 6


def exact(actual, expected):
    assert_close(actual, expected, rtol=0, atol=0)


def tagged(n):
    """(n, 1, 1, W): sample i is i * 10 + (0, 1, ..., W-1), so a row says which sample it is
    and whether it was mirrored."""
    return (torch.arange(n, dtype=torch.float32)[:, None] * 10
            + torch.arange(W, dtype=torch.float32)).view(n, 1, 1, W)


def decode(batch):
    """(sample indices, mirrored?) of a batch of ``tagged`` rows."""
    row = batch[:, 0, 0, :]
    flipped = row[:, 0] > row[:, -1]
    return (row.min(1).values / 10).long(), flipped


def coins(seed, epoch, n):
    """The flips of an epoch, by their definition: after the permutation, same generator."""
    g = torch.Generator().manual_seed(seed * EPOCH_STRIDE + epoch)
    perm = torch.randperm(n, generator=g)
    return perm, torch.rand(n, generator=g) < 0.5


def test_flips_exactly_the_drawn_samples_and_keeps_the_order():
    n, bs = 40, 8
    flipping, plain = Batches(tagged(n), bs, seed=3, xflip=True), Batches(tagged(n), bs, seed=3)
    for step in range(10):   # two epochs
        epoch, pos = divmod(step * bs, n)
        perm, flips = coins(3, epoch, n)
        idx, flipped = decode(next(flipping))
        assert torch.equal(idx, perm[pos:pos + bs])                  # the same order as without
        assert torch.equal(idx, decode(next(plain))[0])
        assert torch.equal(flipped, flips[pos:pos + bs])             # exactly the drawn coins
    rows = next(Batches(tagged(n), n, seed=3, xflip=True))
    idx, flipped = decode(rows)
    exact(rows[~flipped], tagged(n)[idx[~flipped]])                 # the rest untouched
    exact(rows[flipped], tagged(n)[idx[flipped]].flip(-1))          # mirrored left-right


def test_about_half_are_flipped_and_each_epoch_draws_anew():
    n = 2000
    b = Batches(tagged(n), n, seed=0, xflip=True)
    first, second = decode(next(b))[1], decode(next(b))[1]
    assert 900 < int(first.sum()) < 1100 and not torch.equal(first, second)


def test_flips_are_the_same_after_a_resume():
    full = Batches(tagged(30), 7, seed=5, xflip=True)
    expected = [next(full) for _ in range(12)]
    first = Batches(tagged(30), 7, seed=5, xflip=True)
    for _ in range(5):
        next(first)
    state = first.state_dict()
    assert set(state) == {"epoch", "pos", "seed"}           # no extra state for the flips
    resumed = Batches(tagged(30), 7, seed=99, xflip=True)
    resumed.load_state_dict(state)
    for want in expected[5:]:
        exact(resumed.device_batch("cpu"), want)


def test_sharded_flips_are_the_one_process_flips():
    one = Batches(tagged(48), 8, seed=1, xflip=True)
    ranks = [Batches(tagged(48), 8, seed=1, xflip=True).shard(r, 4) for r in range(4)]
    for _ in range(9):   # past an epoch boundary
        exact(torch.cat([r.device_batch("cpu") for r in ranks]), next(one))


def test_pixels_are_flipped_on_the_device_as_the_float_set():
    rng = np.random.default_rng(0)
    p = rng.integers(0, 256, size=(20, 3, 4, 5), dtype=np.uint8)
    stored = Batches(PixelSamples.from_numpy(p), 10, seed=2, xflip=True)
    whole = Batches(images_from_uint8(p), 10, seed=2, xflip=True)
    for _ in range(4):
        exact(stored.device_batch("cpu"), next(whole))


def test_xflip_needs_images():
    with pytest.raises(UserError, match="xflip mirrors images"):
        Batches(torch.zeros(10, 2), 5, seed=0, xflip=True)
