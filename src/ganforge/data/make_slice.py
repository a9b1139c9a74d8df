"""Regenerate the committed Fashion-MNIST slice: ``python -m ganforge.data.make_slice``.

Writes the first 2,000 training images and labels in the same IDX .gz format as the full set
(so the slice goes through the same reader), gzip mtime 0 so the bytes are reproducible, and
the Fashion-MNIST licence notice next to them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.data.fashion_mnist import (
    DEFAULT_ROOT,
    IMAGES_MAGIC,
    LABELS_MAGIC,
    SLICE_DIR,
    split_files,
)
from ganforge.data.idx import read_idx, write_idx
from ganforge.errors import UserError

SLICE_SIZE = 2000

LICENSE_TEXT = """\
Fashion-MNIST slice shipped with ganforge

These files are the first {n:,} training images of Fashion-MNIST
(train-images-idx3-ubyte, train-labels-idx1-ubyte), unchanged, in the original IDX format.
Source: https://github.com/zalandoresearch/fashion-mnist
Regenerate with: python -m ganforge.data.make_slice

The MIT License (MIT)

Copyright (c) 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a
copy of this software and associated documentation files (the "Software"),
to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense,
and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included
in all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def make_slice(root: Path = DEFAULT_ROOT, out: Path = SLICE_DIR, n: int = SLICE_SIZE) -> None:
    """Copy the first ``n`` train images and labels from ``root`` into ``out`` as IDX .gz."""
    files = split_files(root, "train")
    if files is None:
        raise UserError(
            f"no Fashion-MNIST train files in {root}: apt-get install dataset-fashion-mnist "
            "or pass --root"
        )
    images = read_idx(files[0], expected_magic=IMAGES_MAGIC, limit=n)
    labels = read_idx(files[1], expected_magic=LABELS_MAGIC, limit=n)
    out.mkdir(parents=True, exist_ok=True)
    write_idx(out / "train-images-idx3-ubyte.gz", images)
    write_idx(out / "train-labels-idx1-ubyte.gz", labels)
    (out / "LICENSE").write_text(LICENSE_TEXT.format(n=images.shape[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="full Fashion-MNIST dir")
    parser.add_argument("--out", type=Path, default=SLICE_DIR, help="where to write the slice")
    parser.add_argument("-n", type=int, default=SLICE_SIZE, help="number of training images")
    args = parser.parse_args()
    make_slice(args.root, args.out, args.n)
    print(f"wrote the first {args.n:,} Fashion-MNIST training images to {args.out}")


if __name__ == "__main__":
    main()
