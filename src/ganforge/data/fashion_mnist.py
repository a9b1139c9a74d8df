"""Fashion-MNIST from the Debian package, a user directory, or the committed 2,000-image slice.

The full set is the Debian package ``dataset-fashion-mnist`` (IDX .gz files under
/usr/share/datasets/fashion-mnist). Without it, ganforge still runs on the first 2,000
training images committed in ``fashion_mnist_slice/`` (regenerate with
``python -m ganforge.data.make_slice``), and says so in ``Dataset.source``.
"""

from __future__ import annotations

from pathlib import Path

from ganforge.data.dataset import Dataset
from ganforge.data.idx import read_idx
from ganforge.data.labels import check_labels
from ganforge.data.samples import PixelSamples
from ganforge.errors import UserError

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
SLICE_DIR = Path(__file__).resolve().parent / "fashion_mnist_slice"
IMAGES_MAGIC = 0x00000803  # uint8, 3 dims (N, 28, 28)
LABELS_MAGIC = 0x00000801  # uint8, 1 dim (N,)
SPLIT_PREFIX = {"train": "train", "test": "t10k"}
INSTALL_HINT = "apt-get install dataset-fashion-mnist"
# The official names, label i = CLASSES[i] (github.com/zalandoresearch/fashion-mnist, "Labels").
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"]


def split_files(root: Path, split: str) -> tuple[Path, Path] | None:
    """(images, labels) paths of ``split`` in ``root`` (.gz or plain); None if one is missing."""
    prefix = SPLIT_PREFIX[split]
    found = []
    for stem in (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"):
        candidates = [root / f"{stem}.gz", root / stem]
        hit = next((p for p in candidates if p.is_file()), None)
        if hit is None:
            return None
        found.append(hit)
    return found[0], found[1]


def load_fashion_mnist(
    root: str | Path | None = None, split: str = "train", limit: int | None = None
) -> Dataset:
    """Fashion-MNIST: pixels (N, 1, 28, 28) uint8, read as float32 uint8 / 127.5 - 1,
    labels int64 (N,) and the 10 official class names (:data:`CLASSES`).

    root: directory with the IDX files; None tries the Debian package location and then the
          committed slice (train split only). A given root without the files is an error.
    split: "train" (60,000 images) or "test" (10,000, the t10k files).
    limit: read only the first ``limit`` images.
    """
    if split not in SPLIT_PREFIX:
        raise UserError(f"Fashion-MNIST split must be 'train' or 'test', got {split!r}")
    prefix = SPLIT_PREFIX[split]
    if root is not None:
        files = split_files(Path(root).expanduser(), split)
        if files is None:
            raise UserError(
                f"no Fashion-MNIST {split} files in {root}: expected {prefix}-images-idx3-ubyte.gz "
                f"and {prefix}-labels-idx1-ubyte.gz there; fix the root, or omit it to use "
                f"{DEFAULT_ROOT} ({INSTALL_HINT})"
            )
        where = f"from {root}"
    elif (files := split_files(DEFAULT_ROOT, split)) is not None:
        where = f"from {DEFAULT_ROOT}"
    elif split == "train":
        files = split_files(SLICE_DIR, split)
        if files is None:
            raise UserError(
                f"Fashion-MNIST is not installed and the committed slice is missing from "
                f"{SLICE_DIR}: {INSTALL_HINT}, or regenerate the slice with "
                "python -m ganforge.data.make_slice"
            )
        where = None
    else:
        raise UserError(
            f"the Fashion-MNIST test split needs the full set in {DEFAULT_ROOT}: {INSTALL_HINT}, "
            "or pass root= pointing at a directory with the t10k-*-ubyte.gz files"
        )

    pixels = read_idx(files[0], expected_magic=IMAGES_MAGIC, limit=limit)
    # All the labels (60 KB) are checked, so a damaged file is found whatever the limit.
    every = read_idx(files[1], expected_magic=LABELS_MAGIC)
    checked = check_labels(every, every.shape[0], CLASSES, source=str(files[1]),
                           fix=f"the file is damaged: re-install it ({INSTALL_HINT})")
    labels = every[:limit]
    if pixels.shape[0] != labels.shape[0]:
        raise UserError(
            f"{files[0]} holds {pixels.shape[0]:,} images but {files[1]} holds "
            f"{labels.shape[0]:,} labels: the two files come from different sets; re-install them"
        )
    n = pixels.shape[0]
    if where is None:
        source = (
            f"the committed {n:,}-image slice of Fashion-MNIST "
            f"(full set not installed: {INSTALL_HINT})"
        )
    else:
        first = "the first " if limit is not None else ""
        source = f"Fashion-MNIST {split}, {first}{n:,} images {where}"
    return Dataset(
        samples=PixelSamples.from_numpy(pixels[:, None]),
        labels=checked[:limit].clone(),
        name="fashion-mnist",
        kind="image",
        source=source,
        classes=list(CLASSES),
    )
