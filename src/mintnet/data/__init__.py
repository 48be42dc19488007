"""The data layer: one LightningDataModule per dataset, batches ``(x, y)`` on the grid k/(n_bins-1).

Every module validates its arguments on construction and its files in :meth:`check` (called by
``prepare_data`` and ``setup``), before any training compute.
"""

from mintnet.data.augment import AUGMENTATIONS, Augmentation
from mintnet.data.cifar10 import CIFAR10DataModule
from mintnet.data.datamodule import ImageDataModule
from mintnet.data.dataset import ImageArrayDataset, LabelledImages
from mintnet.data.digits import DigitsDataModule
from mintnet.data.errors import DatasetCorruptError, DatasetNotFoundError
from mintnet.data.imagenet32 import ImageNet32DataModule
from mintnet.data.mnist import FashionMNISTDataModule, MNISTDataModule

__all__ = [
    "AUGMENTATIONS",
    "Augmentation",
    "CIFAR10DataModule",
    "DatasetCorruptError",
    "DatasetNotFoundError",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageArrayDataset",
    "ImageDataModule",
    "ImageNet32DataModule",
    "LabelledImages",
    "MNISTDataModule",
]
