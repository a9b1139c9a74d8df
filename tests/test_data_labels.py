"""Class labels end to end in the data layer: classes and counts of every loader, the label
checks and their messages, and labelled batches on the device (same rows, resumed exactly,
sharded, with xflip)."""

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.testing import assert_close

from ganforge.data import Batches, load_dataset
from ganforge.data import fashion_mnist as fm
from ganforge.data.dataset import Dataset
from ganforge.data.idx import write_idx
from ganforge.data.labels import (check_labels, class_counts, require_conditional,
                                  require_every_class)
from ganforge.data.prepare import prepare
from ganforge.data.samples import PixelSamples, TensorSamples
from ganforge.data.transfer import ToDevice
from ganforge.errors import UserError

FMNIST_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                "Sneaker", "Bag", "Ankle boot"]
W = 6


def exact(actual, expected):
    assert_close(actual, expected, rtol=0, atol=0)


def ints(values):
    return torch.tensor(values, dtype=torch.int64)


# ---------------------------------------------------------------- named datasets


def test_fashion_mnist_slice_has_the_official_classes_and_their_counts(monkeypatch):
    monkeypatch.setattr(fm, "DEFAULT_ROOT", Path("/nonexistent/fashion-mnist"))
    ds = load_dataset("fashion-mnist")
    assert ds.classes == FMNIST_NAMES and ds.num_classes == 10
    with gzip.open(fm.SLICE_DIR / "train-labels-idx1-ubyte.gz", "rb") as f:   # not read_idx
        raw = np.frombuffer(f.read()[8:], dtype=np.uint8)
    assert raw.shape == (2000,)
    exact(ds.labels, torch.from_numpy(raw.astype(np.int64)))
    counts = ds.class_counts()
    exact(counts, torch.from_numpy(np.bincount(raw, minlength=10).astype(np.int64)))
    assert int(counts.sum()) == 2000 and int(counts.min()) > 0
    five = load_dataset("fashion-mnist", limit=5)
    assert five.classes == FMNIST_NAMES and five.labels.tolist() == [9, 0, 0, 3, 0]
    exact(five.class_counts(), ints([3, 0, 0, 1, 0, 0, 0, 0, 0, 1]))


def test_fashion_mnist_damaged_labels_are_found_whatever_the_limit(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([0, 1, 10], np.uint8))
    for limit in (None, 1):
        with pytest.raises(UserError, match=r"include label 10 \(at index 2\), outside 0\.\.9 "
                                            r"for the 10 classes: the file is damaged"):
            fm.load_fashion_mnist(root=tmp_path, limit=limit)


@pytest.mark.parametrize("name, modes", [("ring8", 8), ("grid25", 25)])
def test_mixture_classes_are_the_modes_whatever_the_limit(name, modes):
    ds = load_dataset(name, seed=2)
    assert ds.classes == [f"mode {i}" for i in range(modes)] and ds.num_classes == modes
    exact(ds.class_counts(), torch.bincount(ds.labels, minlength=modes))
    assert int(ds.class_counts().sum()) == 100_000
    few = load_dataset(name, seed=2, limit=3)
    assert few.num_classes == modes and few.labels.tolist() == ds.labels[:3].tolist()
    assert int(few.class_counts().sum()) == 3 and few.class_counts().shape == (modes,)


def test_labels_and_classes_come_together():
    samples = TensorSamples(torch.zeros(3, 2))
    bare = Dataset(samples=samples, labels=None, name="array", kind="points", source="t")
    assert bare.num_classes is None and bare.classes is None
    with pytest.raises(UserError, match="array has no class labels"):
        bare.class_counts()
    with pytest.raises(ValueError, match="labels and their class names together"):
        Dataset(samples=samples, labels=ints([0, 1, 0]), name="array", kind="points",
                source="t")
    with pytest.raises(ValueError, match="labels and their class names together"):
        Dataset(samples=samples, labels=None, name="array", kind="points", source="t",
                classes=["a"])


# ---------------------------------------------------------------- folders


def _png(path, value):
    """A 3x4 grayscale PNG whose pixels are all ``value``, so a row says which file it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((3, 4), value, np.uint8), "L").save(path)


def class_folder(root):
    """ant: 1 image, cat: 2, dog: 3; pixel value = 10 * position in sorted path order."""
    names = ["cat/b.png", "cat/a.png", "dog/z.png", "ant/q.png", "dog/x.png", "dog/sub/y.png"]
    for name in names:
        _png(root / name, 10 * sorted(names).index(name))
    return root


def test_class_sub_folders_are_classes_in_sorted_order(tmp_path):
    root = class_folder(tmp_path / "src")
    ds = load_dataset(str(root))
    assert ds.classes == ["ant", "cat", "dog"] and ds.num_classes == 3
    # sorted paths: ant/q, cat/a, cat/b, dog/sub/y, dog/x, dog/z
    assert ds.labels.tolist() == [0, 1, 1, 2, 2, 2] and ds.labels.dtype == torch.int64
    exact(ds.samples.levels()[:, 0, 0, 0], torch.arange(0, 60, 10, dtype=torch.uint8))
    exact(ds.class_counts(), ints([1, 2, 3]))
    assert ds.source.endswith("in 3 class sub-folders")
    with zipfile.ZipFile(tmp_path / "src.zip", "w") as zf:
        for path in sorted(root.rglob("*.png")):
            zf.write(path, path.relative_to(root).as_posix())
    zipped = load_dataset(str(tmp_path / "src.zip"))
    assert zipped.classes == ds.classes
    exact(zipped.labels, ds.labels)


def test_a_limit_keeps_all_classes_and_conditioning_refuses_the_empty_ones(tmp_path):
    ds = load_dataset(str(class_folder(tmp_path / "src")), limit=2)
    assert ds.classes == ["ant", "cat", "dog"] and ds.labels.tolist() == [0, 1]
    exact(ds.class_counts(), ints([1, 1, 0]))
    message = (r"of the 3 classes, class 'dog' \(label 2\) has no samples in 2 grayscale "
               r"4x3 images from .* \(2 samples\): .*raise or remove the limit")
    with pytest.raises(UserError, match=message):
        require_conditional(ds)
    with pytest.raises(UserError, match=r"class 'dog' \(label 2\) has no samples in the data"):
        require_every_class(ds.labels, ds.classes)
    assert require_conditional(load_dataset(str(tmp_path / "src"), limit=4)) == 3


@pytest.mark.parametrize("names", [
    ["a.png", "b.png"],                       # flat
    ["a.png", "cat/b.png", "dog/c.png"],      # images beside the sub-folders
    ["only/a.png", "only/b.png"],             # one sub-folder is not classes
])
def test_folders_without_classes_have_no_labels(tmp_path, names):
    for i, name in enumerate(names):
        _png(tmp_path / name, i)
    ds = load_dataset(str(tmp_path))
    assert ds.labels is None and ds.classes is None and ds.num_classes is None
    assert "class sub-folders" not in ds.source
    with pytest.raises(UserError, match=r"needs class labels, and .* has none: give an image "
                                        r"folder .* one sub-folder per class"):
        require_conditional(ds)


# ---------------------------------------------------------------- prepared


def quiet(msg):
    pass


def test_prepared_classes_are_read_back_from_meta(tmp_path):
    dst = prepare(class_folder(tmp_path / "src"), tmp_path / "out", log=quiet)
    meta = json.loads((dst / "meta.json").read_text())
    ds = load_dataset(str(dst))
    assert meta["classes"] == ["ant", "cat", "dog"] == ds.classes and ds.num_classes == 3
    assert ds.labels.tolist() == [0, 1, 1, 2, 2, 2]
    exact(ds.labels, load_dataset(str(tmp_path / "src")).labels)   # the same as unprepared
    assert "in 3 classes prepared from" in ds.source
    few = load_dataset(str(dst), limit=3)
    assert few.classes == ["ant", "cat", "dog"] and few.labels.tolist() == [0, 1, 1]
    exact(few.class_counts(), ints([1, 2, 0]))


def _edit_labels(dst, values):
    (dst / "labels.i64").write_bytes(np.asarray(values, dtype="<i8").tobytes())


def test_damaged_prepared_labels_and_classes_are_clean_errors(tmp_path):
    dst = prepare(class_folder(tmp_path / "src"), tmp_path / "out", log=quiet)
    meta_text = (dst / "meta.json").read_text()
    fix = "the file is damaged or was edited: prepare the dataset again"
    _edit_labels(dst, [0, 7, 1, 2, 2, 2])
    for limit in (None, 1):   # the whole file is checked
        with pytest.raises(UserError, match=r"labels.i64 include label 7 \(at index 1\), "
                                            r"outside 0\.\.2 for the 3 classes: " + fix):
            load_dataset(str(dst), limit=limit)
    _edit_labels(dst, [0, 0, 2, 2, 2, -1])
    with pytest.raises(UserError, match=r"include negative labels \(-1 at index 5\): " + fix):
        load_dataset(str(dst))
    _edit_labels(dst, [0, 0, 2, 2, 2, 2])
    with pytest.raises(UserError, match=r"are for 3 classes, but class 'cat' \(label 1\) has "
                                        r"no samples: " + fix):
        load_dataset(str(dst))
    _edit_labels(dst, [0, 1, 1, 2, 2, 2])
    for classes, match in ((["a", "a", "b"], r"repeat \['a'\]"),
                           ("abc", r"are 'abc': " + fix), ([], r"are \[\]: " + fix)):
        (dst / "meta.json").write_text(json.dumps({**json.loads(meta_text),
                                                   "classes": classes}))
        with pytest.raises(UserError, match=match):
            load_dataset(str(dst))


# ---------------------------------------------------------------- .npz


def test_npz_labels_from_y_or_labels(tmp_path):
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    np.savez(tmp_path / "y.npz", x=x, y=np.array([2, 0, 1, 0], np.uint8))
    ds = load_dataset(str(tmp_path / "y.npz"))
    assert ds.labels.tolist() == [2, 0, 1, 0] and ds.labels.dtype == torch.int64
    assert ds.classes == ["0", "1", "2"] and ds.num_classes == 3
    exact(ds.class_counts(), ints([2, 1, 1]))
    assert ds.source.endswith("labels " + str(tmp_path / "y.npz") + " (key 'y') in 3 classes")
    np.savez(tmp_path / "l.npz", data=x, labels=np.array([1.0, 0.0, 1.0, 1.0]))   # whole floats
    ds = load_dataset(str(tmp_path / "l.npz"))      # 'data' is the only array besides labels
    exact(ds.x, torch.from_numpy(x))
    assert ds.labels.tolist() == [1, 0, 1, 1] and ds.classes == ["0", "1"]
    np.savez(tmp_path / "both.npz", x=x, y=np.array([0, 1, 1, 0]), labels=np.array([0, 1, 1, 0]))
    assert load_dataset(str(tmp_path / "both.npz")).labels.tolist() == [0, 1, 1, 0]
    np.savez(tmp_path / "none.npz", x=x)
    assert load_dataset(str(tmp_path / "none.npz")).labels is None
    np.save(tmp_path / "plain.npy", x)
    assert load_dataset(str(tmp_path / "plain.npy")).classes is None


def test_npz_classes_come_from_the_whole_array_not_the_limit(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2), np.float32), y=np.array([0, 0, 1, 2]))
    ds = load_dataset(str(tmp_path / "d.npz"), limit=2)
    assert ds.labels.tolist() == [0, 0] and ds.classes == ["0", "1", "2"]
    with pytest.raises(UserError, match=r"classes '1' \(label 1\), '2' \(label 2\) have no "
                                        r"samples in array"):
        require_conditional(ds)


def test_npz_with_y_and_labels_that_differ_is_refused(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2), np.float32), y=np.array([0, 1, 1]),
             labels=np.array([0, 1, 0]))
    with pytest.raises(UserError, match=r"both 'y' and 'labels', and they differ: keep one"):
        load_dataset(str(tmp_path / "d.npz"))


@pytest.mark.parametrize("y, match", [
    (np.array(["cat", "dog", "cat"]), r"are strings \(<U3\), not class indices: .*np\.unique"),
    (np.array([True, False, True]), r"are booleans, not class indices: .*integers 0 and 1"),
    (np.array([0.0, 1.5, 1.0]), r"include values that are not whole numbers \(1\.5 at index "
                                r"1\), not class indices"),
    (np.array([0.0, np.nan, 1.0]), r"include 1 NaN or inf \(the first at index 1\)"),
    (np.array([[0], [1], [1]]), r"have shape \(3, 1\), not \(N,\): .*reshape\(-1\)"),
    (np.eye(3, dtype=np.int64), r"have shape \(3, 3\), not \(N,\): .*argmax\(1\)"),
    (np.array([0, 1]), r"are 2 for 3 samples: give exactly one label per sample"),
    (np.array([0, -1, 1]), r"include negative labels \(-1 at index 1\): class indices start "
                           r"at 0"),
    (np.array([0, 1, 3]), r"run 0\.\.3, but class 2 has no samples: every class must have "
                          r"samples; renumber"),
])
def test_npz_bad_labels_are_one_clean_error(tmp_path, y, match):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2), np.float32), y=y)
    with pytest.raises(UserError, match=r"the labels in .*d\.npz \(key 'y'\) " + match):
        load_dataset(str(tmp_path / "d.npz"))


def test_npz_object_labels_are_refused(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 2), np.float32),
             y=np.array([1, None], dtype=object))
    with pytest.raises(UserError, match=r"cannot read .*d\.npz key 'y' .*integer array"):
        load_dataset(str(tmp_path / "d.npz"))


# ---------------------------------------------------------------- check_labels


def test_check_labels_returns_int64_and_knows_the_classes():
    out = check_labels(torch.tensor([2, 0, 1], dtype=torch.int32), 3, ["a", "b", "c"])
    assert out.dtype == torch.int64 and out.tolist() == [2, 0, 1]
    assert check_labels([1, 1, 0], 3).tolist() == [1, 1, 0]
    with pytest.raises(UserError, match=r"include label 3 \(at index 1\), outside 0\.\.2 for "
                                        r"the 3 classes: labels must index the class names"):
        check_labels([0, 3, 1], 3, ["a", "b", "c"])
    with pytest.raises(UserError, match=r"are for 4 classes, but classes 'b' \(label 1\), "
                                        r"'d' \(label 3\) have no samples"):
        check_labels([0, 2, 2], 3, ["a", "b", "c", "d"])
    # without every_class, a subset of the classes is fine (what Batches asks)
    assert check_labels([0, 2, 2], 3, ["a", "b", "c", "d"], every_class=False).tolist() == [0, 2, 2]
    many = list(range(0, 20, 2))   # 0, 2, ..., 18: 9 classes missing, 5 named
    with pytest.raises(UserError, match=r"run 0\.\.18, but classes 1, 3, 5, 7, 9 and 4 more "
                                        r"have no samples"):
        check_labels(many, 10)
    with pytest.raises(UserError, match=r"class names of the given array are \[\]"):
        check_labels([0], 1, [])


def test_class_counts_counts_every_class():
    exact(class_counts(ints([3, 0, 3, 3]), 5), ints([1, 0, 0, 3, 0]))


def test_require_conditional_needs_two_classes(tmp_path):
    np.savez(tmp_path / "one.npz", x=np.zeros((3, 2), np.float32), y=np.zeros(3, np.int64))
    one = load_dataset(str(tmp_path / "one.npz"))
    assert one.classes == ["0"]
    with pytest.raises(UserError, match=r"has 1 class \('0'\): class-conditional training "
                                        r"needs at least 2"):
        require_conditional(one)
    assert require_conditional(load_dataset("ring8", limit=2000)) == 8


# ---------------------------------------------------------------- batches on the device


def tagged(n):
    """(n, 1, 1, W): sample i is i * 10 + (0, 1, ..., W-1), so a row says which sample it is
    and whether it was mirrored."""
    return (torch.arange(n, dtype=torch.float32)[:, None] * 10
            + torch.arange(W, dtype=torch.float32)).view(n, 1, 1, W)


def which(batch):
    return (batch[:, 0, 0, :].min(1).values / 10).long()


def label_of(n):
    return (torch.arange(n) * 7) % 5   # every class present, in no simple order


def test_device_batch_with_labels_gives_the_labels_of_its_rows():
    n = 30
    labels = label_of(n)
    plain = Batches(tagged(n), 8, seed=4, xflip=True)
    labelled = Batches(tagged(n), 8, seed=4, xflip=True, labels=labels)
    twin = Batches(tagged(n), 8, seed=4, xflip=True, labels=labels)
    for _ in range(8):   # two epochs and more
        x, y = labelled.device_batch("cpu", labels=True)
        assert y.dtype == torch.int64 and y.shape == (8,)
        exact(y, labels[which(x)])
        want = plain.device_batch("cpu")
        exact(x, want)                                   # bitwise the unlabelled batch
        exact(twin.device_batch("cpu"), want)            # labels stored, not asked for
    assert labelled.state_dict() == plain.state_dict()


def test_device_batch_labels_without_labels_is_refused_before_the_stream_moves():
    b = Batches(tagged(10), 5, seed=0)
    next(b)
    before = b.state_dict()
    with pytest.raises(UserError, match=r"these batches have no labels: build them with "
                                        r"Batches\(\.\.\., labels=dataset\.labels\)"):
        b.device_batch("cpu", labels=True)
    assert b.state_dict() == before


@pytest.mark.parametrize("xflip", [False, True])
@pytest.mark.parametrize("consumed", [3, 4, 9])   # mid-epoch, at the boundary, past it
def test_a_resumed_stream_gives_the_same_x_and_y(xflip, consumed):
    n, labels = 20, label_of(20)
    whole = Batches(tagged(n), 5, seed=6, xflip=xflip, labels=labels)
    expected = [whole.device_batch("cpu", labels=True) for _ in range(consumed + 7)]
    first = Batches(tagged(n), 5, seed=6, xflip=xflip, labels=labels)
    for _ in range(consumed):
        first.device_batch("cpu", labels=True)
    resumed = Batches(tagged(n), 5, seed=123, xflip=xflip, labels=labels)
    resumed.load_state_dict(first.state_dict())
    for want_x, want_y in expected[consumed:]:
        x, y = resumed.device_batch("cpu", labels=True)
        exact(x, want_x)
        exact(y, want_y)


@pytest.mark.parametrize("xflip", [False, True])
def test_sharded_labels_are_the_labels_of_each_ranks_rows_and_resume(xflip):
    n, size, labels = 48, 4, label_of(48)
    one = Batches(tagged(n), 8, seed=1, xflip=xflip, labels=labels)
    ranks = [Batches(tagged(n), 8, seed=1, xflip=xflip, labels=labels).shard(r, size)
             for r in range(size)]
    for step in range(9):   # past an epoch boundary
        parts = [r.device_batch("cpu", labels=True) for r in ranks]
        want_x, want_y = one.device_batch("cpu", labels=True)
        for x, y in parts:
            assert x.shape[0] == y.shape[0] == 2
            exact(y, labels[which(x)])
        exact(torch.cat([x for x, _ in parts]), want_x)
        exact(torch.cat([y for _, y in parts]), want_y)
        if step == 4:   # each rank resumes from its own state: the same rows and labels
            states = [r.state_dict() for r in ranks]
            ranks = [Batches(tagged(n), 8, seed=0, xflip=xflip, labels=labels).shard(i, size)
                     for i in range(size)]
            for r, state in zip(ranks, states):
                r.load_state_dict(state)


def test_prefetching_serves_the_same_labels():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(24, 1, 2, 3), dtype=np.uint8)
    labels = label_of(24)

    def stream():
        return Batches(PixelSamples.from_numpy(pixels), 6, seed=3, xflip=True, labels=labels)

    direct, ahead = stream(), stream()
    fetcher = ToDevice("cpu", prefetch=True)
    try:
        for i in range(9):
            want_x, want_y = direct.device_batch("cpu", labels=True)
            # mixing calls with and without labels: the prefetched rows are the same rows
            got = fetcher.next(ahead, labels=i % 2 == 0)
            x, y = got if i % 2 == 0 else (got, want_y)
            exact(x, want_x)
            exact(y, want_y)
    finally:
        fetcher.close()


def test_batches_check_their_labels():
    x = torch.arange(8, dtype=torch.float32)[:, None]   # x[i] == i
    with pytest.raises(UserError, match=r"the labels in Batches\(labels=\.\.\.\) are 7 for 8 "
                                        r"samples"):
        Batches(x, 4, seed=0, labels=torch.zeros(7, dtype=torch.int64))
    with pytest.raises(UserError, match=r"Batches\(labels=\.\.\.\) include values that are "
                                        r"not whole numbers \(0\.5 at index 0\)"):
        Batches(x, 4, seed=0, labels=torch.full((8,), 0.5))
    gappy = ints([0, 0, 2, 2, 0, 0, 2, 2])   # classes 0 and 2 only: a subset is fine here
    b = Batches(x, 4, seed=0, labels=gappy.to(torch.int32))
    assert b.labels.dtype == torch.int64
    for _ in range(3):
        xb, yb = b.device_batch("cpu", labels=True)
        exact(yb, gappy[xb[:, 0].long()])
