"""Sample grids, scatter plots and atomic PNG writes."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.errors import UserError
from ganforge.images import make_grid, sample_image, save_png, scatter_image

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
