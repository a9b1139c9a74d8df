"""Reference statistics: computed once, then read from the cache; the cache key follows the data
set, split, count, the samples themselves and the feature network's weights; values from the
cache equal the computed ones; a broken entry is recomputed."""

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from ganforge.metrics.features import from_module
from ganforge.metrics.fid import gaussian_stats
from ganforge.metrics.refstats import cache_path, cache_root, data_hash, reference_stats


class Counting(nn.Module):
    """A fixed linear feature map (4 -> 3) that counts its forward calls."""

    def __init__(self, scale=1.0):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        with torch.no_grad():
            self.lin.weight.copy_(scale * torch.arange(12.0).reshape(3, 4) / 10)
            self.lin.bias.zero_()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.lin(x)


def net(scale=1.0):
    return from_module(Counting(scale), "counting")


def data(n=40, seed=0):
    return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))


def test_computed_once_then_read_from_the_cache(tmp_path):
    fn, x = net(), data()
    first = reference_stats(x, fn, "toy", "train", 30, root=tmp_path)
    assert not first.cached and fn.module.calls == 1
    again = reference_stats(x, fn, "toy", "train", 30, root=tmp_path)
    assert again.cached and fn.module.calls == 1          # the network did not run again
    assert again.path == first.path and first.path.is_file()
    for a, b in ((first.features, again.features), (first.mu, again.mu),
                 (first.sigma, again.sigma)):
        assert a.dtype == b.dtype and torch.equal(a, b)


def test_values_are_the_features_of_the_first_count_samples_and_their_gaussian(tmp_path):
    fn, x = net(), data()
    stats = reference_stats(x, fn, "toy", "train", 30, root=tmp_path)
    expected = x[:30] @ fn.module.lin.weight.detach().T
    torch.testing.assert_close(stats.features, expected, rtol=1e-6, atol=1e-6)
    assert stats.features.shape == (30, 3) and stats.features.dtype == torch.float32
    mu, sigma = gaussian_stats(stats.features)
    assert stats.mu.dtype == stats.sigma.dtype == torch.float64
    assert torch.equal(stats.mu, mu) and torch.equal(stats.sigma, sigma)
    assert reference_stats(x, fn, "toy", "train", root=tmp_path).features.shape == (40, 3)


def test_the_cache_file_name_and_place(tmp_path):
    stats = reference_stats(data(), net(), "/data/my set/train.npz", "test", 30, root=tmp_path)
    assert stats.path.parent == tmp_path / "refstats"
    assert re.fullmatch(r"train_npz-test-30-[0-9a-f]{20}\.pt", stats.path.name), stats.path.name
    assert [p.name for p in (tmp_path / "refstats").iterdir()] == [stats.path.name]  # no temps


@pytest.mark.parametrize("change", ["data", "one value", "count", "weights", "dataset", "split"])
def test_the_key_changes_with(change, tmp_path):
    x, fn = data(), net()
    base = reference_stats(x, fn, "toy", "train", 30, root=tmp_path)
    args = {"x": x, "net": fn, "dataset": "toy", "split": "train", "count": 30}
    if change == "data":
        args["x"] = data(seed=1)
    elif change == "one value":
        args["x"] = x.clone()
        args["x"][29, 3] += 1e-3          # inside the first 30: a changed data file
    elif change == "count":
        args["count"] = 20
    elif change == "weights":
        args["net"] = net(scale=2.0)
    elif change == "dataset":
        args["dataset"] = "toy2"
    else:
        args["split"] = "test"
    other = reference_stats(**args, root=tmp_path)
    assert other.path != base.path and not other.cached
    assert args["net"].module.calls == (2 if args["net"] is fn else 1)


def test_the_key_ignores_samples_past_the_count_and_the_module_instance(tmp_path):
    x = data()
    first = reference_stats(x, net(), "toy", "train", 30, root=tmp_path)
    y = x.clone()
    y[35] += 100.0                                 # past the count: not part of the statistics
    fn = net()                                     # same weights, another object
    again = reference_stats(y, fn, "toy", "train", 30, root=tmp_path)
    assert again.cached and again.path == first.path and fn.module.calls == 0


def test_cache_path_matches_the_entry_written(tmp_path):
    x, fn = data(), net()
    stats = reference_stats(x, fn, "toy", "train", 30, root=tmp_path)
    assert cache_path("toy", "train", fn, 30, x[:30], tmp_path) == stats.path
    assert data_hash(x[:30]) == data_hash(x[:30].clone()) != data_hash(x[:29])


def test_a_broken_entry_is_recomputed_and_rewritten(tmp_path):
    x, fn = data(), net()
    first = reference_stats(x, fn, "toy", "train", 30, root=tmp_path)
    first.path.write_bytes(b"truncated")
    redo = reference_stats(x, fn, "toy", "train", 30, root=tmp_path)
    assert not redo.cached and fn.module.calls == 2
    assert torch.equal(redo.features, first.features) and torch.equal(redo.sigma, first.sigma)
    assert reference_stats(x, fn, "toy", "train", 30, root=tmp_path).cached


def test_one_sample_has_features_but_no_gaussian(tmp_path):
    x, fn = data(), net()
    stats = reference_stats(x, fn, "toy", "train", 1, root=tmp_path)
    assert stats.features.shape == (1, 3) and stats.mu is None and stats.sigma is None
    again = reference_stats(x, fn, "toy", "train", 1, root=tmp_path)
    assert again.cached and again.mu is None and torch.equal(again.features, stats.features)


def test_cache_root_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    stats = reference_stats(data(), net(), "toy", "train", 10)
    assert stats.path.parent == tmp_path / "c" / "refstats"
    monkeypatch.delenv("GANFORGE_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "ganforge"
    monkeypatch.setenv("GANFORGE_CACHE", "")      # empty: as if unset
    assert cache_root() == Path(tmp_path / "home" / ".cache" / "ganforge")
