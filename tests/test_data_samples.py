"""Stored samples: 8-bit pixels kept as uint8 give bitwise the batches the float32 set gave,
and every reader of the data (range check, probes, references) sees the scaled values."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganforge.data import Batches, DataRangeError, check_data_range, load_dataset
from ganforge.data.range_check import OutputRange
from ganforge.data.samples import (PixelSamples, TensorSamples, as_samples, images_from_uint8,
                                   pixel_table)
from ganforge.data.transfer import ToDevice
from ganforge.trainer import Trainer

TANH = OutputRange("tanh", -1.0, 1.0, -1.0, 1.0)
SIGMOID = OutputRange("sigmoid", 0.0, 1.0, 0.0, 1.0)


def exact(actual, expected):
    assert_close(actual, expected, rtol=0, atol=0)


def pixels(n=300, shape=(3, 5, 4), seed=0):
    rng = np.random.default_rng(seed)
    p = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    p[0, 0, 0, 0], p[1, 0, 0, 0] = 0, 255
    return p


def test_the_table_holds_the_whole_set_conversion_of_every_level():
    # Every level at every offset of a long vector (vectorized body and scalar tail alike).
    levels = np.tile(np.arange(256, dtype=np.uint8), 37)[5:]
    whole = images_from_uint8(levels)
    stored = PixelSamples.from_numpy(levels.reshape(-1, 1, 1, 1))
    exact(stored.to_float(stored.pixels).reshape(-1), whole)
    exact(pixel_table()[torch.tensor([0, 255])], torch.tensor([-1.0, 1.0]))


def test_uint8_batches_are_bitwise_the_float32_batches():
    ds = load_dataset("fashion-mnist", limit=500)   # the default run's source
    assert ds.samples.kind == "pixels" and ds.samples.pixels.dtype == torch.uint8
    whole = images_from_uint8(ds.samples.pixels.numpy())
    exact(ds.x, whole)
    new, old = Batches(ds.samples, 64, seed=7), Batches(whole, 64, seed=7)
    for _ in range(20):   # over two epochs: the order is the permutation logic's, unchanged
        exact(next(new), next(old))
    assert new.state_dict() == old.state_dict()
    new, old = Batches(ds.samples, 64, seed=7), Batches(whole, 64, seed=7)
    for _ in range(10):   # the trainer's path: raw rows to the device, converted there
        batch = new.device_batch("cpu", torch.channels_last)
        exact(batch, next(old))
        assert batch.is_contiguous(memory_format=torch.channels_last)


def test_training_on_pixels_is_bitwise_training_on_the_float_set(dcgan):
    ds = load_dataset("fashion-mnist", limit=64)
    whole = images_from_uint8(ds.samples.pixels.numpy())

    def train(data):
        G, D = dcgan()
        tr = Trainer(G, D, seed=0)
        tr.fit(Batches(data, 16, seed=0), steps=3)
        return tr

    a, b = train(ds.samples), train(whole)
    for k, v in a.G.state_dict().items():
        exact(v, b.G.state_dict()[k])
    assert a.feed.state_dict() == b.feed.state_dict()


@pytest.fixture
def dcgan():
    from ganforge.nets import DCGANDiscriminator, DCGANGenerator

    def make():
        torch.manual_seed(0)
        return (DCGANGenerator(z_dim=8, channels=1, image_size=28, width=8),
                DCGANDiscriminator(channels=1, image_size=28, width=8))
    return make


def test_reading_rows_gives_the_scaled_rows():
    p = pixels()
    stored, whole = PixelSamples.from_numpy(p), images_from_uint8(p)
    assert stored.shape == whole.shape and len(stored) == 300
    exact(stored[3], whole[3])
    exact(stored[-1], whole[-1])
    exact(stored[np.int64(7)], whole[7])
    exact(stored[10:20], whole[10:20])
    exact(stored[torch.tensor([9, 2, 9])], whole[torch.tensor([9, 2, 9])])
    exact(stored[[4, 0]], whole[[4, 0]])
    assert stored.value_range() == (-1.0, 1.0)
    assert stored.value_range(1) == (float(whole[0].min()), float(whole[0].max()))


def test_the_range_check_sees_pixels_as_scaled_and_auto_rescales_their_table():
    stored = PixelSamples.from_numpy(pixels())
    same, note = check_data_range(stored, TANH)             # [-1, 1] fits tanh
    assert same is stored and note is None
    with pytest.raises(DataRangeError, match=r"\[-1, 1\]"):
        check_data_range(stored, SIGMOID)
    rescaled, note = check_data_range(stored, SIGMOID, "auto")
    assert isinstance(rescaled, PixelSamples) and rescaled.pixels is stored.pixels
    assert "(x + 1) / 2" in note
    # Bitwise what the float path's auto rescale gives.
    expected, _ = check_data_range(images_from_uint8(pixels()), SIGMOID, "auto")
    exact(rescaled[:], expected)
    exact(Batches(rescaled, 50, seed=1).device_batch("cpu"), next(Batches(expected, 50, seed=1)))


def test_tensor_samples_are_the_tensor_itself():
    x = torch.rand(10, 2) * 2 - 1
    stored = as_samples(x)
    assert isinstance(stored, TensorSamples) and stored.floats() is x
    assert as_samples(stored) is stored
    exact(stored[torch.tensor([3, 1])], x[torch.tensor([3, 1])])
    assert Batches(x, 5, seed=0).x is x
    out, note = check_data_range(x, TANH, "check")   # a tensor in, a tensor out
    assert out is x and note is None


def test_prefetching_serves_the_same_batches_and_follows_a_resume():
    stored = PixelSamples.from_numpy(pixels())
    plain, ahead = Batches(stored, 32, seed=2, xflip=True), Batches(stored, 32, seed=2, xflip=True)
    ahead.transfer = ToDevice("cpu", prefetch=True)   # what CUDA does, on the CPU
    for _ in range(12):
        exact(ahead.device_batch("cpu"), plain.device_batch("cpu"))
        assert ahead.state_dict() == plain.state_dict()   # the batches handed out, not ahead
    state = plain.state_dict()
    expected = [plain.device_batch("cpu") for _ in range(3)]
    ahead.load_state_dict({**state, "epoch": 0, "pos": 0})   # moved: the prefetched rows are stale
    ahead.device_batch("cpu")
    ahead.load_state_dict(state)
    for want in expected:
        exact(ahead.device_batch("cpu"), want)
    ahead.transfer.close()


def test_a_pixel_store_refuses_other_dtypes():
    with pytest.raises(ValueError, match="uint8"):
        PixelSamples(torch.zeros(2, 1, 2, 2))
    with pytest.raises(TypeError):
        as_samples(np.zeros((2, 2)))


def test_fit_on_an_unscaled_tensor_still_stops_with_the_fix():
    G = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    D = nn.Sequential(nn.Linear(2, 1))
    tr = Trainer(G, D, z_dim=2, seed=0)
    with pytest.raises(DataRangeError, match=r"\[0, 255\]"):
        tr.fit(torch.rand(32, 2) * 255, steps=1, batch_size=8)


def test_the_readers_of_real_samples_read_the_same_rows_from_pixels(tmp_path):
    from types import SimpleNamespace

    from ganforge.doctor.callback import DiversityProbe
    from ganforge.metrics.features import load_feature_net
    from ganforge.metrics.refstats import reference_stats

    p = pixels(400, (1, 4, 4))
    stored, whole = PixelSamples.from_numpy(p), images_from_uint8(p)
    trainer = SimpleNamespace(seed=3, players=SimpleNamespace(z_shape=(2,)))
    probes = [DiversityProbe(real, n=64) for real in (stored, whole)]
    for probe in probes:
        probe.on_fit_start(trainer, 10)
    exact(probes[0].real_features, probes[1].real_features)       # the same random subset
    net = load_feature_net("identity")
    a = reference_stats(stored, net, "test", "train", 300, tmp_path)
    b = reference_stats(whole, net, "test", "train", 300, tmp_path)
    assert a.path == b.path and b.cached                             # the same cache entry
    exact(a.features, b.features)
