"""Image grids (paper Figure 3): samples of a flow, tiled and upscaled so small images are visible."""

import math
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision.utils
from torch import Tensor

from mintnet.nn.image_flow import ImageFlow
from mintnet.nn.inverse import InverseSettings, InversionReport

__all__ = ["MIN_TILE_PX", "make_image_grid", "sample_grid", "save_image_grid", "tile_scale"]

MIN_TILE_PX = 64
"""Smallest tile side in pixels: 8x8 digits are upscaled 8x, 28x28 MNIST 3x, 32x32 CIFAR 2x."""

GRID_PADDING = 2
"""Pixels between tiles (torchvision's default)."""


def tile_scale(height: int, width: int, min_tile: int = MIN_TILE_PX) -> int:
    """The integer nearest-neighbour factor ``ceil(min_tile / min(H, W))`` (at least 1)."""
    return max(1, math.ceil(min_tile / min(height, width)))


def make_image_grid(images: Tensor, nrow: int, min_tile: int = MIN_TILE_PX) -> Tensor:
    """Tile ``images`` of shape ``(B, C, H, W)`` in ``[0, 1]`` into one ``(3, H', W')`` image.

    Each image is upscaled by :func:`tile_scale` with nearest-neighbour, so a tile is
    ``s*H x s*W`` and ``W' = nrow * (s*W + 2) + 2`` (torchvision's 2-pixel padding);
    single-channel images become grey RGB.
    """
    if images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(f"images must be (B, C, H, W) with B >= 1, got {tuple(images.shape)}")
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    lo, hi = float(images.min()), float(images.max())
    if not (0.0 <= lo and hi <= 1.0):
        raise ValueError(f"images must lie in [0, 1], got the range [{lo:.4g}, {hi:.4g}]")
    scale = tile_scale(images.shape[2], images.shape[3], min_tile)
    images = images.detach().float().cpu()
    if scale > 1:
        images = F.interpolate(images, scale_factor=scale, mode="nearest")  # (B, C, sH, sW)
    return torchvision.utils.make_grid(images, nrow=nrow, padding=GRID_PADDING, pad_value=1.0)


def save_image_grid(
    images: Tensor, path: str | Path, nrow: int, min_tile: int = MIN_TILE_PX
) -> Path:
    """Save ``images`` ``(B, C, H, W)`` in ``[0, 1]`` as one PNG grid (see :func:`make_image_grid`);
    parent folders are created; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torchvision.utils.save_image(make_image_grid(images, nrow, min_tile), path)
    return path


@torch.no_grad()
def sample_grid(
    flow: ImageFlow,
    n: int,
    temperature: float = 1.0,
    settings: InverseSettings | None = None,
    nrow: int | None = None,
) -> tuple[Tensor, list[InversionReport]]:
    """Draw ``n`` samples ``x = f^{-1}(z)``, ``z ~ N(0, temperature^2 I)``, and tile them.

    Arguments:
        flow: the trained flow (its parameters' device and dtype are used).
        n: number of samples.
        temperature: standard deviation of the prior draw (1 is the model itself).
        settings: fixed-point settings for every Mint layer; ``None`` keeps each layer's own.
        nrow: tiles per row; default ``ceil(sqrt(n))``.

    Returns:
        The grid ``(3, H', W')`` of :func:`make_image_grid`, and one report per Mint layer.
    """
    if n < 1:
        raise ValueError(f"n (number of samples) must be >= 1, got {n}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    images, reports = flow.sample(n, temperature, settings)  # (n, C, H, W)
    images = images.nan_to_num(0.0)  # a diverged sample shows black; its report says NOT converged
    grid = make_image_grid(images, nrow or math.ceil(math.sqrt(n)))
    return grid, reports
