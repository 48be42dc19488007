"""MNIST and Fashion-MNIST from their IDX files, in torchvision's on-disk layout."""

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from torchvision import datasets

from mintnet.data.dataset import LabelledImages
from mintnet.data.download import TorchvisionDataModule
from mintnet.data.errors import DatasetNotFoundError, corrupt, not_found
from mintnet.data.idx import read_idx

__all__ = [
    "DEBIAN_FASHION_MNIST_DIR",
    "DEFAULT_DATA_DIR",
    "FashionMNISTDataModule",
    "MNISTDataModule",
]

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the four IDX files."""

DEFAULT_DATA_DIR = "data"
"""``paths.data_dir`` when neither the command line nor ``MINTNET_DATA_DIR`` sets it."""

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""Split -> (images, labels) file names, without the optional ``.gz``."""


@dataclass(eq=False, repr=False)
class _IDXDataModule(TorchvisionDataModule):
    """28x28 grey images with 10 classes, read from ``<root>/<Folder>/raw/*-idx?-ubyte[.gz]``.

    ``<Folder>`` is the torchvision class name, so ``download=True`` (torchvision's downloader)
    fills the same directory this module reads. Test split: the official 10k test set.
    Arguments as :class:`TorchvisionDataModule`, with ``crop_padding`` 2 by default.
    """

    torchvision_class: ClassVar[type[datasets.MNIST]]
    install_hint: ClassVar[str]
    image_shape = (1, 28, 28)
    n_bins = 256
    num_classes = 10

    crop_padding: int = 2

    def search_dirs(self) -> list[Path]:
        """The directories tried in order; the first holding all four files is used."""
        return [Path(self.root) / self.torchvision_class.__name__ / "raw"]

    def check(self) -> None:
        if self._find_files() is None:
            raise self._not_found()

    def _not_found(self) -> DatasetNotFoundError:
        expected = [name for pair in IDX_FILES.values() for name in pair]
        first = self.search_dirs()[0]
        return not_found(
            self.name,
            self.search_dirs(),
            [f"{name}[.gz]" for name in expected],
            [n for n in expected if _find(first, n) is None],
            self.install_hint.format(root=self.root),
        )

    def _find_files(self) -> dict[str, tuple[Path, Path]] | None:
        """Split -> (images, labels) paths in the first directory that holds all four."""
        for directory in self.search_dirs():
            found: dict[str, tuple[Path, Path]] = {}
            for split, names in IDX_FILES.items():
                images, labels = (_find(directory, name) for name in names)
                if images is not None and labels is not None:
                    found[split] = (images, labels)
            if len(found) == len(IDX_FILES):
                return found
        return None

    def _has_files(self) -> bool:
        return self._find_files() is not None

    def _load_train_test(self) -> tuple[LabelledImages, LabelledImages]:
        files = self._find_files()
        if files is None:
            raise self._not_found()
        return self._read(*files["train"]), self._read(*files["test"])

    def _read(self, image_path: Path, label_path: Path) -> LabelledImages:
        self.files_read += [image_path, label_path]
        images = read_idx(image_path, ndim=3, dataset=self.name)
        labels = read_idx(label_path, ndim=1, dataset=self.name)
        if images.shape[1:] != self.image_shape[1:]:
            raise corrupt(self.name, image_path, f"images are {images.shape[1:]}, not (28, 28)")
        if len(images) != len(labels):
            raise corrupt(self.name, label_path, f"{len(labels)} labels for {len(images)} images")
        return LabelledImages(images[:, None], labels.astype(np.int64))  # (N, 1, 28, 28)


class MNISTDataModule(_IDXDataModule):
    """MNIST handwritten digits (LeCun et al.); see :class:`_IDXDataModule` for the layout."""

    name = "mnist"
    torchvision_class = datasets.MNIST
    install_hint = (
        "pass data.download=true on a machine with network access, or copy the four IDX files "
        "(gzipped or not) into {root}/MNIST/raw"
    )


@dataclass(eq=False, repr=False)
class FashionMNISTDataModule(_IDXDataModule):
    """Fashion-MNIST (Xiao et al., 2017) from ``<root>/FashionMNIST/raw``.

    ``system_copy``: whether to fall back to :data:`DEBIAN_FASHION_MNIST_DIR` when ``root``
    holds no copy. ``None`` (the default) falls back only when ``root`` is the default
    :data:`DEFAULT_DATA_DIR` (relative to the working directory): a root given explicitly is
    used, or refused with its path named, never silently replaced. Other arguments as
    :class:`_IDXDataModule`.
    """

    name = "fashion_mnist"
    torchvision_class = datasets.FashionMNIST
    install_hint = (
        "apt-get install dataset-fashion-mnist (puts them in "
        f"{DEBIAN_FASHION_MNIST_DIR}), pass data.download=true on a machine with network "
        "access, or copy the four IDX files (gzipped or not) into {root}/FashionMNIST/raw"
    )

    system_copy: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.system_copy is None:
            self.system_copy = Path(self.root).resolve() == Path(DEFAULT_DATA_DIR).resolve()
        self.system_copy = bool(self.system_copy)

    def search_dirs(self) -> list[Path]:
        system = [DEBIAN_FASHION_MNIST_DIR] if self.system_copy else []
        return [*super().search_dirs(), *system]

    def _not_found(self) -> DatasetNotFoundError:
        error = super()._not_found()
        if self.system_copy:
            return error
        return DatasetNotFoundError(
            f"{error}\n  root {self.root} was given explicitly, so {DEBIAN_FASHION_MNIST_DIR} "
            f"is not read instead; leave paths.data_dir at its default {DEFAULT_DATA_DIR!r} "
            "or pass data.system_copy=true to use that copy"
        )


def _find(directory: Path, name: str) -> Path | None:
    """``directory/name``, else ``directory/name.gz``, else None."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None
