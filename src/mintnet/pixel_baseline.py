"""The simplest density model of images: every pixel independent, with its own histogram."""

import math

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from mintnet.data.datamodule import ImageDataModule
from mintnet.data.dataset import ImageArrayDataset

__all__ = ["independent_pixel_bpd", "pixel_baseline", "whole_split"]


def independent_pixel_bpd(
    train: Tensor, test: Tensor, n_bins: int, pseudo_count: float = 1.0
) -> float:
    r"""Bits per dimension on ``test`` of per-pixel histograms fitted on ``train``.

    .. math:: p(x) = \prod_d \frac{N_d(x_d) + a}{N + a\, n_\mathrm{bins}}

    where :math:`N_d(k)` counts training images whose pixel ``d`` is at level ``k`` and ``a`` is the
    pseudo-count (Laplace smoothing). A flow that cannot beat this has learned no structure.

    Arguments:
        train, test: images in ``[0, 1]`` on the grid ``k / (n_bins - 1)``, shape ``(N, C, H, W)``.
        n_bins: grey levels.
        pseudo_count: ``a > 0``.
    """
    if pseudo_count <= 0:
        raise ValueError(f"pseudo_count must be > 0, got {pseudo_count}")
    to_levels = lambda x: torch.round(x * (n_bins - 1)).long().flatten(1)  # noqa: E731
    train_levels, test_levels = to_levels(train), to_levels(test)  # (N, D)
    dims = train_levels.shape[1]
    counts = torch.zeros(dims, n_bins, dtype=torch.float64)
    counts.scatter_add_(1, train_levels.T, torch.ones_like(train_levels.T, dtype=torch.float64))
    probs = (counts + pseudo_count) / (
        train_levels.shape[0] + pseudo_count * n_bins
    )  # (D, n_bins)
    log_p = torch.log(probs.gather(1, test_levels.T))  # (D, N_test)
    return float(-log_p.mean() / math.log(2.0))


def whole_split(datamodule: ImageDataModule, split: str, limit: int | None = None) -> Tensor:
    """Every image of ``split`` (``"train"``, ``"val"``, ``"test"``) in order, or its first
    ``limit``, without augmentation, shape ``(N, C, H, W)``: read from the dataset itself, never
    through a data loader that DDP may have cut into one rank's share."""
    datamodule.setup()
    dataset = datamodule.datasets[split]
    rows = dataset.indices[:limit]
    plain = ImageArrayDataset(dataset.data, datamodule.n_bins, rows)  # no transform
    return torch.cat([x for x, _ in DataLoader(plain, batch_size=1024)])


def pixel_baseline(datamodule: ImageDataModule) -> float:
    """Test bits/dim of independent per-pixel histograms fitted on the whole training split
    (:func:`independent_pixel_bpd`): the same with 1 process or N, on any rank."""
    train, test = whole_split(datamodule, "train"), whole_split(datamodule, "test")
    return independent_pixel_bpd(train, test, datamodule.n_bins)
