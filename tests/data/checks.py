"""Assertions shared by the dataset tests."""

import numpy as np
import torch

from mintnet.data import ImageDataModule


def all_batches(loader: torch.utils.data.DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


def assert_on_grid(x: torch.Tensor, n_bins: int) -> None:
    assert x.dtype == torch.float32
    levels = x * (n_bins - 1)
    assert torch.equal(levels, levels.round()), "values off the k/(n_bins-1) grid"
    assert x.min() >= 0 and x.max() <= 1


def assert_batches(dm: ImageDataModule, sizes: dict[str, int]) -> dict[str, tuple]:
    """Every split has the promised size, shape, dtype and grid; returns the tensors per split."""
    dm.setup()
    loaders = {"train": dm.train_dataloader, "val": dm.val_dataloader, "test": dm.test_dataloader}
    out = {}
    for split, make in loaders.items():
        x, y = all_batches(make())
        assert x.shape == (sizes[split], *dm.image_shape), split
        assert y.dtype == torch.int64, split
        assert_on_grid(x, dm.n_bins)
        out[split] = (x, y)
    return out


def assert_traceable(x: torch.Tensor, y: torch.Tensor, first_pixel_offsets: set[int]) -> None:
    """Test images carry their index in the first pixel and label index % 10 (see formats.py)."""
    first = (x.flatten(1)[:, 0] * 255).round().long()
    assert torch.equal(y, first % 10)
    assert set(first.tolist()) == first_pixel_offsets


def assert_split_disjoint(dm: ImageDataModule) -> None:
    train, val = dm.datasets["train"].indices, dm.datasets["val"].indices
    assert not np.intersect1d(train, val).size
