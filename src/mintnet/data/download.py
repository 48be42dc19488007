"""The base of the datamodules that torchvision can download: the ``download`` option."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from torchvision.datasets import VisionDataset

from mintnet.data.datamodule import ImageDataModule

__all__ = ["TorchvisionDataModule"]


@dataclass(eq=False, repr=False)
class TorchvisionDataModule(ImageDataModule):
    """A dataset kept in the on-disk layout of ``torchvision_class``, whose downloader fills it.

    ``download=True``: when :meth:`_has_files` finds the files missing, :meth:`prepare_data`
    fetches them with torchvision first. Other arguments as :class:`ImageDataModule`.

    The constructor is written by :func:`dataclasses.dataclass` from the fields below, in this
    order, so a subclass changes a default or adds an argument (after these) with one field of
    its own (decorated again), and finishes construction in ``__post_init__`` after calling this
    one. ``eq=False, repr=False`` keep identity equality, hashing and :class:`ImageDataModule`'s
    repr.
    """

    torchvision_class: ClassVar[type[VisionDataset]]

    root: str
    batch_size: int = 32
    num_workers: int = 0
    seed: int = 0
    val_fraction: float = 0.05
    augment: Sequence[str] = ()
    crop_padding: int = 4
    download: bool = False

    def __post_init__(self) -> None:
        super().__init__(
            self.root,
            self.batch_size,
            self.num_workers,
            self.seed,
            self.val_fraction,
            self.augment,
            self.crop_padding,
        )
        self.download = bool(self.download)

    def _has_files(self) -> bool:
        """Whether every file this dataset reads is under ``root`` already."""
        raise NotImplementedError(f"{type(self).__name__} must implement _has_files()")

    def _download(self) -> None:
        if self.download and not self._has_files():
            self.torchvision_class(self.root, train=True, download=True)
