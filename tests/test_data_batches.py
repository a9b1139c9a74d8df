"""Batches: full epochs, exact resume, no global RNG use."""

import pytest
import torch
from torch.testing import assert_close

from ganforge.data import Batches
from ganforge.errors import UserError


def exact(actual, expected):
    assert_close(actual, expected, rtol=0, atol=0)


def index_data(n):
    """x[i] == i, so a batch tells which indices it holds."""
    return torch.arange(n, dtype=torch.float32)[:, None]


def test_epoch_visits_every_index_once():
    batches = Batches(index_data(12), batch_size=4, seed=0)
    for _ in range(2):
        seen = torch.cat([next(batches) for _ in range(3)])[:, 0]
        exact(seen.sort().values, torch.arange(12, dtype=torch.float32))
    assert batches.images_seen == 24
    assert batches.state_dict() == {"epoch": 1, "pos": 12, "seed": 0}


def test_drop_last_skips_the_remainder_and_epochs_differ():
    batches = Batches(index_data(10), batch_size=3, seed=5)
    epoch0 = torch.cat([next(batches) for _ in range(3)])[:, 0]
    assert epoch0.unique().numel() == 9 and batches.images_seen == 9
    epoch1 = torch.cat([next(batches) for _ in range(3)])[:, 0]
    assert batches.state_dict()["epoch"] == 1 and batches.images_seen == 18
    assert not torch.equal(epoch0, epoch1)
    g = torch.Generator().manual_seed(5 * 1_000_003 + 1)  # the documented order
    exact(epoch1, torch.randperm(10, generator=g)[:9].float())


def test_keep_last_gives_a_short_final_batch():
    batches = Batches(index_data(10), batch_size=4, seed=1, drop_last=False)
    sizes = [next(batches).shape[0] for _ in range(4)]
    assert sizes == [4, 4, 2, 4] and batches.images_seen == 14


@pytest.mark.parametrize("consumed", [2, 3, 4, 7])  # mid-epoch, at the boundary, past it
def test_resume_gives_bitwise_identical_batches(consumed):
    x = torch.randn(10, 2, 3)
    labels = torch.arange(10)
    reference = Batches(x, batch_size=3, seed=7, labels=labels)
    expected = [next(reference) for _ in range(consumed + 6)][consumed:]

    first = Batches(x, batch_size=3, seed=7, labels=labels)
    for _ in range(consumed):
        next(first)
    state = first.state_dict()
    resumed = Batches(x, batch_size=3, seed=99, labels=labels)  # the state's seed wins
    resumed.load_state_dict(state)
    assert resumed.images_seen == first.images_seen == 9 * (consumed // 3) + 3 * (consumed % 3)
    for want in expected:
        exact(next(resumed), want)
    first.load_state_dict(state)  # rewinding the same object (its cached epoch) works too
    for want in expected:
        exact(next(first), want)


def test_labels_follow_their_samples():
    x = torch.arange(8, dtype=torch.float32)[:, None] * 10
    batches = Batches(x, batch_size=4, seed=2, labels=torch.arange(8))
    for _ in range(3):
        xb, yb = batches.next_with_labels()
        exact(xb[:, 0], yb.float() * 10)


def test_global_rng_untouched():
    before = torch.get_rng_state()
    batches = Batches(torch.randn(50, 3, generator=torch.Generator().manual_seed(0)), 8, seed=3)
    for _ in range(20):
        next(batches)
    exact(torch.get_rng_state(), before)


def test_batch_larger_than_dataset_and_bad_state_raise():
    with pytest.raises(UserError, match="larger than the dataset, which has 5 samples"):
        Batches(torch.zeros(5, 2), batch_size=6, seed=0)
    batches = Batches(torch.zeros(5, 2), batch_size=2, seed=0)
    with pytest.raises(UserError, match="does not fit this dataset"):
        batches.load_state_dict({"epoch": 0, "pos": 5, "seed": 0})
    with pytest.raises(UserError, match="lacks \\['pos'\\]"):
        batches.load_state_dict({"epoch": 0, "seed": 0})


def test_permutation_is_drawn_once_per_epoch(monkeypatch):
    # Cheapness without wall-clock timing (flaky on a shared CPU): a batch costs one slice
    # and one gather; the O(N) permutation is drawn once per epoch, not once per batch.
    calls = []
    real_randperm = torch.randperm

    def counting_randperm(*args, **kwargs):
        calls.append(args[0])
        return real_randperm(*args, **kwargs)

    monkeypatch.setattr(torch, "randperm", counting_randperm)
    batches = Batches(torch.zeros(1000, 1, 4, 4), batch_size=10, seed=0)
    for _ in range(250):  # 2.5 epochs
        next(batches)
    assert calls == [1000, 1000, 1000]
