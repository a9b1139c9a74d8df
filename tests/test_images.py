"""Sample grids, scatter plots and atomic image writes in the format the suffix names."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.errors import UserError
from ganforge.files import WriteError
from ganforge.images import (check_image_path, make_grid, sample_image, save_image, save_png,
                             scatter_image)

RED, GREY, WHITE, AXIS = (214, 39, 40), (190, 190, 190), (255, 255, 255), (200, 200, 200)


def test_make_grid_exact_pixels_grayscale():
    x = torch.tensor([[[[-1.0, -1.0], [-1.0, -1.0]]],
                      [[[-1.0, 1.0], [0.0, 3.0]]]])  # (2, 1, 2, 2); 3.0 is clamped to 1
    grid = make_grid(x, padding=1)
    expected = np.array([
        [255, 255, 255, 255, 255, 255, 255],
        [255,   0,   0, 255,   0, 255, 255],
        [255,   0,   0, 255, 128, 255, 255],
        [255, 255, 255, 255, 255, 255, 255],
    ], dtype=np.uint8)
    assert grid.dtype == np.uint8
    np.testing.assert_array_equal(grid, expected)


def test_make_grid_rgb_layout_and_empty_cells():
    x = torch.full((3, 3, 4, 5), -1.0)
    x[1, 0] = 1.0  # second image pure red
    grid = make_grid(x, nrow=2, padding=2)
    assert grid.shape == (2 * (4 + 2) + 2, 2 * (5 + 2) + 2, 3)
    np.testing.assert_array_equal(grid[2, 2], [0, 0, 0])  # first image's top-left pixel
    np.testing.assert_array_equal(grid[2, 2 + 5 + 2], [255, 0, 0])  # second image
    np.testing.assert_array_equal(grid[2 + 4 + 2, 2], [0, 0, 0])  # third image, second row
    np.testing.assert_array_equal(grid[8:12, 9:14], np.full((4, 5, 3), 255))  # empty 4th cell


def test_make_grid_default_nrow_is_ceil_sqrt():
    grid = make_grid(torch.zeros(5, 1, 3, 3), padding=0)
    assert grid.shape == (2 * 3, 3 * 3)  # ceil(sqrt(5)) = 3 per row, 2 rows


def test_make_grid_rejects_other_channel_counts():
    with pytest.raises(UserError, match=r"1- or 3-channel images .* got shape \(2, 4, 3, 3\)"):
        make_grid(torch.zeros(2, 4, 3, 3))


def test_scatter_puts_dots_where_points_are():
    img = scatter_image(torch.tensor([[0.5, 0.5]]), reference=torch.tensor([[-0.5, -0.5]]),
                        size=101, bounds=(-1.0, 1.0, -1.0, 1.0))
    assert img.shape == (101, 101, 3) and img.dtype == np.uint8
    # x = 0.5 -> column 75; y = 0.5 -> row 25 (y grows upwards).
    np.testing.assert_array_equal(img[25, 75], RED)
    np.testing.assert_array_equal(img[75, 25], GREY)
    np.testing.assert_array_equal(img[10, 50], AXIS)  # x = 0 axis
    np.testing.assert_array_equal(img[50, 90], AXIS)  # y = 0 axis
    np.testing.assert_array_equal(img[10, 10], WHITE)
    # A dot is small: only pixels within about a radius of the point are coloured.
    red = np.argwhere((img == RED).all(axis=2))
    assert len(red) > 0 and np.abs(red - [25, 75]).max() <= 1


def test_scatter_auto_bounds_include_both_sets_and_skip_nan():
    points = torch.tensor([[10.0, 10.0], [float("nan"), 0.0]])
    reference = torch.tensor([[-10.0, -10.0]])
    img = scatter_image(points, reference, size=200)
    red = np.argwhere((img == RED).all(axis=2))
    grey = np.argwhere((img == GREY).all(axis=2))
    # Square bounds with a 10 % margin: both dots are near, but inside, opposite corners.
    assert len(red) > 0 and len(grey) > 0
    assert red[:, 0].max() < 20 and red[:, 1].min() > 180  # top right
    assert grey[:, 0].min() > 180 and grey[:, 1].max() < 20  # bottom left


def test_save_png_round_trips_and_leaves_no_temp_file(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    save_png(gray, tmp_path / "gray.png")
    save_png(rgb, str(tmp_path / "rgb.png"))
    save_png(rgb[::-1].copy(), tmp_path / "rgb.png")  # overwrite in place
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "gray.png")), gray)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "rgb.png")), rgb[::-1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gray.png", "rgb.png"]


def test_save_png_rejects_float_arrays_and_writes_nothing(tmp_path):
    with pytest.raises(UserError, match="uint8 array"):
        save_png(np.zeros((4, 4)), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_sample_image_dispatch():
    torch.manual_seed(0)
    grid = sample_image(torch.rand(4, 3, 8, 8) * 2 - 1)
    assert grid.shape == (2 * 10 + 2, 2 * 10 + 2, 3)
    assert sample_image(torch.rand(4, 1, 8, 8)).shape == (22, 22)
    scatter = sample_image(torch.randn(50, 2), reference=torch.randn(50, 2))
    assert scatter.shape == (512, 512, 3)
    assert (scatter == RED).all(axis=2).any() and (scatter == GREY).all(axis=2).any()
    assert sample_image(torch.randn(10, 784)) is None
    assert sample_image(torch.randn(10, 3)) is None


MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpg": b"\xff\xd8\xff", "jpeg": b"\xff\xd8\xff",
         "JPG": b"\xff\xd8\xff", "bmp": b"BM", "gif": b"GIF8", "tif": b"II*\x00"}


@pytest.mark.parametrize("suffix", sorted(MAGIC))
def test_save_image_writes_the_format_its_suffix_names(tmp_path, suffix):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    path = save_image(rgb, tmp_path / f"grid.{suffix}")
    assert path == tmp_path / f"grid.{suffix}"
    assert path.read_bytes().startswith(MAGIC[suffix])
    assert Image.open(path).size == (6, 5)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"grid.{suffix}"]


def test_save_image_webp_is_lossless_and_jpeg_takes_grayscale(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    data = save_image(rgb, tmp_path / "a.webp").read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.webp")), rgb)
    gray = np.full((8, 8), 200, dtype=np.uint8)
    assert save_image(gray, tmp_path / "g.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    np.testing.assert_allclose(np.asarray(Image.open(tmp_path / "g.jpg")), gray, atol=2)


@pytest.mark.parametrize("name", ["samples.xyz", "samples"])
def test_save_image_refuses_an_unknown_suffix_and_writes_nothing(tmp_path, name):
    with pytest.raises(UserError, match=r"cannot save an image as .*: the suffix .* is not a "
                                        r"supported image format; use one of \.png, \.jpg, "
                                        r"\.jpeg, \.webp, \.bmp"):
        save_image(np.zeros((4, 4), np.uint8), tmp_path / "new" / name)
    assert list(tmp_path.iterdir()) == []


def test_save_image_creates_missing_parents_and_refuses_a_directory(tmp_path):
    path = save_image(np.zeros((4, 4), np.uint8), tmp_path / "a" / "b" / "grid.png")
    assert path.read_bytes().startswith(MAGIC["png"])
    (tmp_path / "out.png").mkdir()
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'out.png'}: the path is a "
                                         "directory .*give a file name"):
        save_image(np.zeros((4, 4), np.uint8), tmp_path / "out.png")
    assert list((tmp_path / "out.png").iterdir()) == []


def test_save_png_writes_png_whatever_the_name(tmp_path):
    save_png(np.zeros((4, 4), np.uint8), tmp_path / "samples.out")
    assert (tmp_path / "samples.out").read_bytes().startswith(MAGIC["png"])


def test_check_image_path_fails_before_any_work(tmp_path):
    assert check_image_path(tmp_path / "new" / "s.jpg") == tmp_path / "new" / "s.jpg"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]   # parent made, probe gone
    assert list((tmp_path / "new").iterdir()) == []
    with pytest.raises(UserError, match="the suffix '.txt' is not a supported image format"):
        check_image_path(tmp_path / "s.txt")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(WriteError, match="the path is a directory"):
        check_image_path(tmp_path / "dir.png")
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'file'}: it is a file, not a "
                                         "directory"):
        check_image_path(tmp_path / "file" / "s.png")
