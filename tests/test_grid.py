"""Sample grids are written without torchvision, in make_grid's layout."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gan.generation.grid import grid_uint8
from gan.generation.sampling import save_grid


def test_tiles_sit_in_make_grids_places_with_two_pixel_borders(tmp_path):
    # 5 grayscale 2x3 images, 2 per row: 3 rows of (2 + 2) px plus 2 = 14 high, 2 * (3 + 2) + 2 = 12 wide.
    images = torch.stack([torch.full((1, 2, 3), v) for v in (-1.0, -0.5, 0.0, 0.5, 1.0)])
    grid = np.asarray(Image.open(save_grid(images, tmp_path / "g.png", nrow=2)))
    assert grid.shape == (14, 12, 3)
    expected = [0, 64, 128, 191, 255]  # (v + 1) / 2 * 255 + 0.5, truncated
    for i, value in enumerate(expected):
        y, x = 2 + (i // 2) * 4, 2 + (i % 2) * 5
        assert (grid[y:y + 2, x:x + 3] == value).all(), i
    assert grid[:2].max() == 0 and grid[:, :2].max() == 0  # black borders
    assert (grid[10:12, 7:10] == 0).all()  # the empty sixth place stays black


def test_values_are_clamped_and_a_single_image_has_no_border():
    out = grid_uint8(torch.tensor([[[[-3.0, 3.0]]]]))
    assert out.shape == (1, 2, 3) and out[0, 0].tolist() == [0, 0, 0] and out[0, 1].tolist() == [255, 255, 255]


@pytest.mark.parametrize("nrow", [None, 3])
def test_same_pixels_as_torchvision(nrow):
    from torchvision.utils import make_grid

    x = torch.rand(7, 3, 5, 6, generator=torch.Generator().manual_seed(0)) * 2.4 - 1.2
    ref = make_grid(x, nrow=nrow or 3, padding=2, normalize=True, value_range=(-1, 1))
    ref = ref.mul(255).add(0.5).clamp(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
    assert np.array_equal(grid_uint8(x, nrow), ref)
