"""Real images for the analysis tools, read through mintnet's data modules."""

from collections.abc import Sequence

import torch
from torch import Tensor

from mintnet.data import (
    CIFAR10DataModule,
    DigitsDataModule,
    FashionMNISTDataModule,
    ImageDataModule,
    ImageNet32DataModule,
    MNISTDataModule,
)
from mintnet.nn.image_flow import ImageFlow

__all__ = ["DATASETS", "dataset_for_flow", "load_images"]

DATASETS: dict[str, type[ImageDataModule]] = {
    "digits": DigitsDataModule,
    "mnist": MNISTDataModule,
    "fashion_mnist": FashionMNISTDataModule,
    "cifar10": CIFAR10DataModule,
    "imagenet32": ImageNet32DataModule,
}
"""Dataset names the analysis tools accept (the names of ``conf/data/*.yaml``)."""


def dataset_for_flow(flow: ImageFlow) -> str:
    """The first dataset in :data:`DATASETS` whose image shape and grey levels match ``flow``."""
    shape, n_bins = flow.net.in_shape, flow.dequantize.n_bins
    for name, module in DATASETS.items():
        if module.image_shape == shape and module.n_bins == n_bins:
            return name
    raise ValueError(
        f"no known dataset has images {shape} with {n_bins} grey levels; choose one of "
        f"{sorted(DATASETS)} explicitly"
    )


def load_images(name: str, root: str, split: str, indices: Sequence[int]) -> Tensor:
    """Images ``indices`` of a dataset split, shape ``(len(indices), C, H, W)`` on the grid
    ``k / (n_bins - 1)``.

    Raises:
        ValueError: unknown ``name`` or ``split``, or an index outside the split.
        DatasetNotFoundError: the dataset's files are not under ``root``.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    datamodule = DATASETS[name](root=root)
    datamodule.setup()
    if split not in datamodule.datasets:
        raise ValueError(f"unknown split {split!r}; choose one of {sorted(datamodule.datasets)}")
    dataset = datamodule.datasets[split]
    bad = [i for i in indices if not 0 <= i < len(dataset)]
    if bad:
        raise ValueError(f"indices {bad} are outside the {name} {split} split of {len(dataset)}")
    return torch.stack([dataset[i][0] for i in indices])  # (N, C, H, W)
