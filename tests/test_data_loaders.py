"""Loaders: IDX, Fashion-MNIST (system set and committed slice), mixtures, folders, arrays."""

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.testing import assert_close

from ganforge.data import load_dataset, read_idx, write_idx
from ganforge.data import fashion_mnist as fm
from ganforge.data.mixtures import grid25_modes, ring8_modes
from ganforge.errors import UserError

SYSTEM_FMNIST = Path("/usr/share/datasets/fashion-mnist")
needs_full_set = pytest.mark.skipif(
    not (SYSTEM_FMNIST / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)


def exact(actual, expected):
    assert_close(actual, expected, rtol=0, atol=0)


# ---------------------------------------------------------------- IDX


def test_idx_round_trip_is_bitwise(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    ints = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    write_idx(tmp_path / "a-idx3-ubyte.gz", images)
    write_idx(tmp_path / "b.idx", ints)
    back = read_idx(tmp_path / "a-idx3-ubyte.gz", expected_magic=0x00000803)
    assert back.dtype == np.uint8 and back.shape == (7, 5, 3)
    np.testing.assert_array_equal(back, images)
    np.testing.assert_array_equal(read_idx(tmp_path / "b.idx"), ints)
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx3-ubyte.gz", limit=2), images[:2])


def test_idx_bad_magic_and_truncation_raise(tmp_path):
    write_idx(tmp_path / "labels.gz", np.zeros(4, dtype=np.uint8))  # magic 0x801
    with pytest.raises(UserError, match="magic number 0x00000801, expected 0x00000803"):
        read_idx(tmp_path / "labels.gz", expected_magic=0x00000803)
    with gzip.open(tmp_path / "junk.gz", "wb") as f:
        f.write(b"\x12\x34\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(UserError, match="not an IDX file"):
        read_idx(tmp_path / "junk.gz")
    with gzip.open(tmp_path / "short.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02")
    with pytest.raises(UserError, match="truncated"):
        read_idx(tmp_path / "short.gz")


# ---------------------------------------------------------------- Fashion-MNIST


def _raw_train_images(n):
    with gzip.open(SYSTEM_FMNIST / "train-images-idx3-ubyte.gz", "rb") as f:
        return np.frombuffer(f.read(16 + n * 784)[16:], dtype=np.uint8).reshape(n, 28, 28)


@needs_full_set
def test_fashion_mnist_full_set_from_system_dir():
    ds = load_dataset("fashion-mnist")
    assert ds.x.shape == (60000, 1, 28, 28) and ds.x.dtype == torch.float32
    assert ds.labels.shape == (60000,) and ds.labels.dtype == torch.int64
    assert (float(ds.x.min()), float(ds.x.max())) == (-1.0, 1.0)
    assert ds.labels.min() == 0 and ds.labels.max() == 9
    assert ds.kind == "image" and ds.sample_shape == (1, 28, 28)
    assert "60,000" in ds.source and str(SYSTEM_FMNIST) in ds.source
    raw = _raw_train_images(3)  # read independently of read_idx
    exact(ds.x[:3, 0], torch.from_numpy(raw.astype(np.float32)) / 127.5 - 1)
    assert ds.labels[:5].tolist() == [9, 0, 0, 3, 0]  # the published first labels


@needs_full_set
def test_fashion_mnist_test_split_and_limit():
    ds = fm.load_fashion_mnist(split="test")
    assert ds.x.shape == (10000, 1, 28, 28) and "test" in ds.source
    assert load_dataset("fashion-mnist", limit=10).x.shape == (10, 1, 28, 28)


def test_committed_slice_loads_and_matches_full_set(monkeypatch):
    monkeypatch.setattr(fm, "DEFAULT_ROOT", Path("/nonexistent/fashion-mnist"))
    ds = load_dataset("fashion-mnist")
    assert ds.x.shape == (2000, 1, 28, 28) and ds.labels.shape == (2000,)
    assert (float(ds.x.min()), float(ds.x.max())) == (-1.0, 1.0)
    assert "committed 2,000-image slice" in ds.source
    assert "apt-get install dataset-fashion-mnist" in ds.source
    license_text = (fm.SLICE_DIR / "LICENSE").read_text()
    assert "Copyright (c) 2017 Zalando SE" in license_text
    assert "first 2,000 training images" in license_text
    size = sum(p.stat().st_size for p in fm.SLICE_DIR.iterdir())
    assert size < 1_500_000
    if (SYSTEM_FMNIST / "train-images-idx3-ubyte.gz").is_file():
        full = fm.load_fashion_mnist(root=SYSTEM_FMNIST, limit=2000)
        exact(ds.x, full.x)
        exact(ds.labels, full.labels)


def test_fashion_mnist_test_split_without_full_set_raises(monkeypatch):
    monkeypatch.setattr(fm, "DEFAULT_ROOT", Path("/nonexistent/fashion-mnist"))
    with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist"):
        fm.load_fashion_mnist(split="test")


def test_fashion_mnist_explicit_root_without_files_raises(tmp_path):
    with pytest.raises(UserError, match=r"no Fashion-MNIST train files in .*train-images"):
        load_dataset("fashion-mnist", root=str(tmp_path))


def test_make_slice_is_reproducible(tmp_path):
    from ganforge.data.make_slice import make_slice

    make_slice(root=fm.SLICE_DIR, out=tmp_path, n=50)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        first = (tmp_path / name).read_bytes()
        make_slice(root=fm.SLICE_DIR, out=tmp_path, n=50)
        assert (tmp_path / name).read_bytes() == first
    exact(fm.load_fashion_mnist(root=tmp_path).x, fm.load_fashion_mnist(limit=50).x)


# ---------------------------------------------------------------- mixtures


@pytest.mark.parametrize("name, std, modes", [("ring8", 0.01, 8), ("grid25", 0.05, 25)])
def test_mixture_modes_std_and_balance(name, std, modes):
    ds = load_dataset(name, seed=3)
    expected_modes = ring8_modes() if name == "ring8" else grid25_modes()
    assert ds.x.shape == (100_000, 2) and ds.x.dtype == torch.float32
    assert ds.kind == "points" and ds.mode_std == std and ds.modes.shape == (modes, 2)
    exact(ds.modes, expected_modes)
    residual = ds.x - ds.modes[ds.labels]
    # 200,000 residual coordinates: the std estimate's relative error is ~1/sqrt(2 * 200,000)
    # = 0.16%, so 1% is > 6 sigma; the mean's standard error is std / sqrt(200,000).
    assert_close(residual.std(), torch.tensor(std), rtol=0.01, atol=0)
    assert_close(residual.mean(0), torch.zeros(2), rtol=0, atol=6 * std / math.sqrt(12_500))
    counts = torch.bincount(ds.labels, minlength=modes).double()
    expected = 100_000 / modes  # binomial std < sqrt(expected); allow 6 sigma
    assert_close(counts, torch.full((modes,), expected, dtype=torch.float64),
                 rtol=0, atol=6 * math.sqrt(expected))
    nearest = torch.cdist(ds.x, ds.modes).argmin(1)  # modes are > 50 std apart
    exact(nearest, ds.labels)


def test_ring8_and_grid25_mode_positions():
    ring = ring8_modes()
    h = math.sqrt(0.5)
    expected = [[1, 0], [h, h], [0, 1], [-h, h], [-1, 0], [-h, -h], [0, -1], [h, -h]]
    assert_close(ring, torch.tensor(expected), rtol=0, atol=1e-7)  # float32 rounding of cos/sin
    grid = grid25_modes()
    assert grid.shape == (25, 2) and len({tuple(p) for p in grid.tolist()}) == 25
    assert sorted({v for v in grid.flatten().tolist()}) == [-4, -2, 0, 2, 4]


def test_mixture_determinism_by_seed_and_limit_prefix():
    a, b, c = load_dataset("ring8", seed=1), load_dataset("ring8", seed=1), load_dataset("ring8")
    exact(a.x, b.x)
    exact(a.labels, b.labels)
    assert not torch.equal(a.x, c.x)
    exact(load_dataset("ring8", seed=1, limit=100).x, a.x[:100])


# ---------------------------------------------------------------- folders


def _png(path, array, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


def test_folder_grayscale_and_rgb(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, size=(3, 6, 5), dtype=np.uint8)
    _png(tmp_path / "g" / "b.png", gray[1], "L")
    _png(tmp_path / "g" / "a.png", gray[0], "L")
    _png(tmp_path / "g" / "sub" / "c.PNG", gray[2], "L")
    ds = load_dataset(str(tmp_path / "g"))
    assert ds.x.shape == (3, 1, 6, 5) and ds.kind == "image" and ds.name == "folder"
    exact(ds.x[:, 0], torch.from_numpy(gray.astype(np.float32)) / 127.5 - 1)  # sorted a, b, sub/c

    rgb = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((6, 5, 1), 255, np.uint8)], axis=2)
    _png(tmp_path / "c" / "1.png", rgb, "RGB")
    _png(tmp_path / "c" / "2.png", rgba, "RGBA")
    _png(tmp_path / "c" / "3.png", gray[0], "L")  # mixed with colour -> converted to RGB
    ds = load_dataset(str(tmp_path / "c"))
    assert ds.x.shape == (3, 3, 6, 5)
    expected = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1) / 127.5 - 1
    exact(ds.x[0], expected)
    exact(ds.x[1], expected)
    exact(ds.x[2], (torch.from_numpy(gray[0].astype(np.float32)) / 127.5 - 1).expand(3, 6, 5))
    assert load_dataset(str(tmp_path / "c"), limit=2).x.shape == (2, 3, 6, 5)


def test_folder_mixed_sizes_names_both_files(tmp_path):
    _png(tmp_path / "a.png", np.zeros((4, 4), np.uint8), "L")
    _png(tmp_path / "b.png", np.zeros((4, 6), np.uint8), "L")
    with pytest.raises(UserError, match=r"a\.png is 4x4 but .*b\.png is 6x4.*resize"):
        load_dataset(str(tmp_path))


def test_folder_empty_and_unreadable(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(UserError, match="no images in folder"):
        load_dataset(str(tmp_path))
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match=r"cannot read image .*broken\.jpg"):
        load_dataset(str(tmp_path))


# ---------------------------------------------------------------- arrays


@pytest.mark.parametrize(
    "shape, expected, kind",
    [
        ((5, 7), (5, 7), "vector"),
        ((5, 2), (5, 2), "points"),
        ((5, 6, 4), (5, 1, 6, 4), "image"),
        ((5, 6, 4, 3), (5, 3, 6, 4), "image"),  # channels-last
        ((5, 3, 6, 4), (5, 3, 6, 4), "image"),  # channels-first
        ((5, 1, 6, 4), (5, 1, 6, 4), "image"),
    ],
)
def test_npy_layouts_keep_floats_as_they_are(tmp_path, shape, expected, kind):
    a = np.random.default_rng(0).random(shape).astype(np.float32)  # in [0, 1): NOT rescaled
    np.save(tmp_path / "d.npy", a)
    ds = load_dataset(str(tmp_path / "d.npy"))
    assert ds.x.shape == expected and ds.kind == kind and ds.name == "array"
    want = torch.from_numpy(a)
    if len(shape) == 3:
        want = want[:, None]
    elif len(shape) == 4 and shape[-1] == 3:
        want = want.permute(0, 3, 1, 2)
    exact(ds.x, want)


def test_npy_uint8_is_scaled_and_float64_becomes_float32(tmp_path):
    a = np.array([[[0, 255], [128, 1]]], dtype=np.uint8)
    np.save(tmp_path / "u.npy", a)
    ds = load_dataset(str(tmp_path / "u.npy"))
    assert (float(ds.x.min()), float(ds.x.max())) == (-1.0, 1.0)
    exact(ds.x, torch.tensor([[[[0.0, 255.0], [128.0, 1.0]]]]) / 127.5 - 1)  # float32 math
    np.save(tmp_path / "f.npy", np.array([[0.0, 255.0]]))
    exact(load_dataset(str(tmp_path / "f.npy")).x, torch.tensor([[0.0, 255.0]]))


def test_npz_key_selection_and_errors(tmp_path):
    x, other = np.ones((3, 4), np.float32), np.zeros((3, 4), np.float32)
    np.savez(tmp_path / "k.npz", mask=other, x=x)
    exact(load_dataset(str(tmp_path / "k.npz")).x, torch.from_numpy(x))
    np.savez(tmp_path / "i.npz", images=x, foo=other)
    exact(load_dataset(str(tmp_path / "i.npz")).x, torch.from_numpy(x))
    np.savez(tmp_path / "a.npz", x)  # arr_0
    exact(load_dataset(str(tmp_path / "a.npz")).x, torch.from_numpy(x))
    np.savez(tmp_path / "one.npz", data=x)
    exact(load_dataset(str(tmp_path / "one.npz")).x, torch.from_numpy(x))
    np.savez(tmp_path / "two.npz", data=x, more=other)
    with pytest.raises(UserError, match=r"\['data', 'more'\].*np\.savez\(path, x=your_array\)"):
        load_dataset(str(tmp_path / "two.npz"))


@pytest.mark.parametrize(
    "array, match",
    [
        (np.array([[1.0, np.nan]]), "1 NaN or inf"),
        (np.array([[1.0, np.inf]], np.float32), "1 NaN or inf"),
        (np.zeros((0, 3), np.float32), "empty"),
        (np.zeros(4, np.float32), "1-D"),
        (np.zeros((2, 1, 1, 1, 1), np.float32), "5-D"),
        (np.zeros((2, 5, 6, 7), np.float32), "must be \\(N, C, H, W\\) or \\(N, H, W, C\\)"),
    ],
)
def test_npy_bad_arrays_raise(tmp_path, array, match):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(UserError, match=match):
        load_dataset(str(tmp_path / "bad.npy"))


def test_missing_array_and_unknown_spec(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_dataset(str(tmp_path / "nope.npz"))
    with pytest.raises(UserError, match=r"'rng8' \(did you mean 'ring8'\?\): use one of fashion-mnist, ring8, grid25"):
        load_dataset("rng8")
    with pytest.raises(UserError, match="root=.*only used by fashion-mnist"):
        load_dataset("ring8", root=str(tmp_path))
    with pytest.raises(UserError, match="positive integer"):
        load_dataset("ring8", limit=0)
