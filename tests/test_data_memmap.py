"""A prepared dataset read from its file batch by batch: the same batches as in memory, the
same resume, and resident memory that does not grow with the data read."""

import json

import numpy as np
from torch.testing import assert_close

from ganforge.data import Batches, load_dataset
from ganforge.data.prepared import FORMAT, VERSION
from ganforge.data.samples import PixelSamples, images_from_uint8


def exact(actual, expected):
    assert_close(actual, expected, rtol=0, atol=0)


def write_prepared(root, pixels, classes=None, labels=None):
    """The prepared layout by hand (data/prepared.py's docstring), without the writer."""
    root.mkdir(parents=True)
    pixels.tofile(root / "images.u8")
    if labels is not None:
        np.asarray(labels, "<i8").tofile(root / "labels.i64")
    (root / "meta.json").write_text(json.dumps({
        "format": FORMAT, "version": VERSION, "shape": list(pixels.shape), "dtype": "uint8",
        "layout": "NCHW", "classes": classes, "source": "test"}))
    return root


def pixels(n=200, shape=(3, 8, 8)):
    return np.random.default_rng(0).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def test_file_batches_are_the_in_memory_batches(tmp_path):
    p = pixels()
    ds = load_dataset(str(write_prepared(tmp_path / "d", p, ["a", "b"], np.arange(200) % 2)))
    assert ds.samples.file is not None and "batch by batch" in ds.source
    assert ds.labels.tolist() == (np.arange(200) % 2).tolist()
    mapped = Batches(ds.samples, 32, seed=4, xflip=True)
    memory = Batches(PixelSamples.from_numpy(p), 32, seed=4, xflip=True)
    floats = Batches(images_from_uint8(p), 32, seed=4, xflip=True)
    for _ in range(15):   # two epochs and a bit
        batch = mapped.device_batch("cpu")
        exact(batch, memory.device_batch("cpu"))
        exact(batch, next(floats))
    exact(ds.samples[5:9], images_from_uint8(p[5:9]))


def test_resume_over_the_file_is_exact(tmp_path):
    root = write_prepared(tmp_path / "d", pixels(50))
    full = Batches(load_dataset(str(root)).samples, 8, seed=1)
    expected = [full.device_batch("cpu") for _ in range(14)]
    first = Batches(load_dataset(str(root)).samples, 8, seed=1)
    for _ in range(9):
        first.device_batch("cpu")
    resumed = Batches(load_dataset(str(root)).samples, 8, seed=0)   # a new process, say
    resumed.load_state_dict(first.state_dict())
    for want in expected[9:]:
        exact(resumed.device_batch("cpu"), want)


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_reading_a_prepared_set_does_not_grow_resident_memory(tmp_path):
    # 75 MB of pixels, read once through in random batches. Mapped into memory instead, the
    # rows read stay resident: on Linux 6.x the first batch alone added ~60 MB.
    n, shape = 6144, (3, 64, 64)
    root = tmp_path / "big"
    root.mkdir()
    with open(root / "images.u8", "wb") as f:
        row = np.arange(np.prod(shape), dtype=np.uint64).astype(np.uint8)
        for _ in range(n // 512):
            f.write(np.tile(row, 512).tobytes())
    (root / "meta.json").write_text(json.dumps({
        "format": FORMAT, "version": VERSION, "shape": [n, *shape], "dtype": "uint8",
        "layout": "NCHW", "classes": None, "source": "test"}))
    warm = Batches(PixelSamples.from_numpy(pixels(64, shape)), 64, seed=0)
    warm.device_batch("cpu")   # the code paths' own first-use memory is not the data's
    stored = load_dataset(str(root)).samples
    batches = Batches(stored, 64, seed=0)
    base, peak = rss_bytes(), 0
    for _ in range(n // 64):
        batches.device_batch("cpu")
        peak = max(peak, rss_bytes() - base)
    stored.value_range()           # the range check's pass over the whole set, in chunks
    peak = max(peak, rss_bytes() - base)
    assert peak < 30 << 20, f"resident memory grew by {peak / 2**20:.0f} MB"
