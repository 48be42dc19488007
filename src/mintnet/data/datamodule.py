"""The base LightningDataModule shared by every dataset: validation, splits, loaders."""

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader
from torchdata.stateful_dataloader import StatefulDataLoader

from mintnet.data.augment import Augmentation
from mintnet.data.dataset import ImageArrayDataset, LabelledImages, split_indices
from mintnet.data.sampler import EpochShuffleSampler
from mintnet.data.validate import fraction_size, require_fraction, require_int

__all__ = ["ImageDataModule", "Split"]

log = logging.getLogger(__name__)

# torchdata's StatefulDataLoader calls a deprecated torch function on every construction; the
# warning is about torchdata's code, not the user's, and would repeat for every loader
warnings.filterwarnings("ignore", message="'set_vital' is deprecated", category=UserWarning)

SPLITS = ("train", "val", "test")

Split = tuple[LabelledImages, np.ndarray | None]
"""A split as rows of a loaded array: ``(data, indices)``, ``indices=None`` meaning all rows."""


class ImageDataModule(pl.LightningDataModule):
    """Images quantised to ``n_bins`` grey levels, served as ``(x, y)`` batches.

    ``x`` is float32 ``(B, C, H, W)`` with values ``k / (n_bins - 1)``, ``k`` an integer in
    ``0..n_bins-1``; ``y`` is int64 ``(B,)`` (-1 where the dataset has no labels). Without an
    official validation split, ``val_fraction`` of the training set is held out with ``seed``.
    Augmentation applies to the train split only.

    A subclass sets the class attributes ``name``, ``image_shape`` (C, H, W), ``n_bins`` and
    ``num_classes``, and implements :meth:`check` and :meth:`_load_train_test` (or
    :meth:`_load_splits` when it splits differently).

    Arguments:
        root: data directory.
        batch_size: images per batch.
        num_workers: DataLoader worker processes; 0 loads in the main process.
        seed: seed of the held-out split and of the train shuffling order.
        val_fraction: fraction of the training set held out for validation, in (0, 1).
        augment: names from ``mintnet.data.AUGMENTATIONS`` (``"hflip"``, ``"random_crop"``).
        crop_padding: zero padding in pixels for ``random_crop``.
    """

    name: ClassVar[str]
    image_shape: ClassVar[tuple[int, int, int]]
    n_bins: ClassVar[int]
    num_classes: ClassVar[int]

    def __init__(
        self,
        root: str,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        val_fraction: float = 0.05,
        augment: Sequence[str] = (),
        crop_padding: int = 4,
    ) -> None:
        super().__init__()
        require_int("batch_size", batch_size, minimum=1)
        require_int("num_workers", num_workers, minimum=0)
        require_int("seed", seed, minimum=0)
        require_int("crop_padding", crop_padding, minimum=0)
        require_fraction("val_fraction", val_fraction)
        if isinstance(augment, str):
            raise ValueError(f"augment must be a list of names such as ['hflip'], got {augment!r}")
        self.root = root
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.val_fraction = float(val_fraction)
        self.augment = list(augment)
        self.crop_padding = crop_padding
        self.augmentation = Augmentation(self.augment, crop_padding) if self.augment else None
        self.datasets: dict[str, ImageArrayDataset] = {}
        self.files_read: list[Path | str] = []
        """What :meth:`setup` read (subclasses append each file as they read it)."""

    def check(self) -> None:
        """Raise :class:`DatasetNotFoundError` unless every file this dataset needs is present."""
        raise NotImplementedError(f"{type(self).__name__} must implement check()")

    def _load_train_test(self) -> tuple[LabelledImages, LabelledImages]:
        """Read the official train and test sets; raise :class:`DatasetCorruptError` on bad files."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement _load_train_test() or _load_splits()"
        )

    def _download(self) -> None:
        """Fetch the files into ``root``; datasets without a downloader rely on :meth:`check`."""

    def prepare_data(self) -> None:
        self._download()
        self.check()

    def setup(self, stage: str | None = None) -> None:
        """Check the files, then load all three splits once (later calls do nothing)."""
        if self.datasets:
            return
        self.check()
        self.files_read = []
        for split, (data, indices) in self._load_splits().items():
            transform = self.augmentation if split == "train" else None
            self.datasets[split] = ImageArrayDataset(data, self.n_bins, indices, transform)
        if pl.utilities.rank_zero_only.rank == 0:
            sizes = ", ".join(f"{split} {len(d)}" for split, d in self.datasets.items())
            files = ", ".join(map(str, self.files_read)) or "(no files)"
            log.info("%s: read %s (%s images)", self.name, files, sizes)

    def _load_splits(self) -> dict[str, Split]:
        """Hold ``val_fraction`` of the official train set out as validation."""
        train, test = self._load_train_test()
        n_val = fraction_size("val_fraction", self.val_fraction, len(train))
        val_rows, train_rows = split_indices(len(train), [n_val], self.seed)
        return {"train": (train, train_rows), "val": (train, val_rows), "test": (test, None)}

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        """The training loader is a ``StatefulDataLoader``: Lightning saves its position inside the
        epoch in every checkpoint and restores it on resume, so a run stopped at any step goes on
        with the next batch. Evaluation loaders always start from their first batch."""
        if not self.datasets:
            self.setup()
        dataset = self.datasets[split]
        loader = StatefulDataLoader if shuffle else DataLoader
        return loader(
            dataset,
            batch_size=self.batch_size,
            sampler=EpochShuffleSampler(dataset, self.seed) if shuffle else None,
            # its own generator: starting an epoch then draws no number from the global RNG, which
            # drives the dequantisation noise (a resumed run must see the same noise)
            generator=torch.Generator().manual_seed(self.seed),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={self.root!r}, batch_size={self.batch_size}, "
            f"val_fraction={self.val_fraction}, augment={self.augment}, seed={self.seed})"
        )
