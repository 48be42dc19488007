import math

import pytest
import torch
from PIL import Image

from mintnet.analysis import make_image_grid, sample_grid, save_image_grid, summarize_reports
from mintnet.analysis.grids import tile_scale
from mintnet.nn import InverseSettings


def grid_side(n_tiles: int, tile: int, padding: int = 2) -> int:
    return n_tiles * (tile + padding) + padding


def test_tile_scale_makes_tiles_at_least_64_px():
    assert tile_scale(8, 8) == 8
    assert tile_scale(28, 28) == 3
    assert tile_scale(32, 32) == 2
    assert tile_scale(100, 100) == 1


def test_save_image_grid_writes_upscaled_png(tmp_path):
    images = torch.rand(6, 1, 8, 8)
    path = save_image_grid(images, tmp_path / "sub" / "grid.png", nrow=3)
    with Image.open(path) as png:
        assert png.size == (grid_side(3, 64), grid_side(2, 64))  # (width, height)


def test_nearest_upscaling_keeps_pixel_values():
    images = torch.rand(1, 3, 4, 4)
    grid = make_image_grid(images, nrow=1)  # 16x upscale to 64 px
    tile = grid[:, 2:66, 2:66]
    assert torch.equal(tile[:, ::16, ::16], images[0])


@pytest.mark.parametrize("bad", [torch.rand(2, 8, 8), torch.full((1, 1, 8, 8), 1.5)])
def test_make_image_grid_rejects_bad_images(bad):
    with pytest.raises(ValueError, match="images must"):
        make_image_grid(bad, nrow=2)


def test_sample_grid_shape_and_reports(trained_flow):
    grid, reports = sample_grid(trained_flow, 10, 0.7, InverseSettings(max_iter=200))
    side = math.ceil(math.sqrt(10))  # 4 per row, 3 rows
    assert grid.shape == (3, grid_side(3, 64), grid_side(side, 64))
    assert len(reports) == 4 and all(r.converged for r in reports)


@pytest.mark.filterwarnings("ignore::mintnet.nn.InversionWarning")
def test_summarize_reports_names_worst_layer(trained_flow):
    capped = InverseSettings(max_iter=3, tol=1e-12, refine_in_float64=False)
    _, reports = trained_flow.sample(4, 1.0, capped)
    worst = max(reports, key=lambda r: r.max_residual)
    text = summarize_reports(reports)
    assert "4 Mint layers" in text and "at most 3 iterations" in text
    assert f"layer {worst.name}" in text and "NOT converged" in text
    assert "0 Mint layers" in summarize_reports([])
