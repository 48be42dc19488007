"""Downsampled ImageNet 32x32 in either published layout: npz batches or unlabelled npy arrays."""

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mintnet.data.datamodule import ImageDataModule
from mintnet.data.dataset import LabelledImages
from mintnet.data.errors import DatasetNotFoundError, corrupt, not_found

__all__ = ["ImageNet32DataModule"]

FOLDER = "imagenet32"
NPZ_TRAIN = tuple(f"train_data_batch_{i}.npz" for i in range(1, 11))
NPZ_TEST = "val_data.npz"
NPZ_SUBDIRS = ("", "Imagenet32_train_npz", "Imagenet32_val_npz")
"""Where npz files may sit under ``<root>/imagenet32``: directly, or as the official zips unpack."""
NPY_TRAIN, NPY_TEST = "train_32x32.npy", "valid_32x32.npy"
UNLABELLED = -1
NPZ_ERRORS = (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile)
"""What reading a damaged npz or npy can raise."""


class ImageNet32DataModule(ImageDataModule):
    """ImageNet 32x32 (Chrabaszcz et al., 2017; van den Oord et al., 2016), 1000 classes.

    Looks in ``<root>/imagenet32`` for either layout, npz first:

    - npz: any of ``train_data_batch_1.npz``..``train_data_batch_10.npz`` (at least one) and
      ``val_data.npz``, directly or in the ``Imagenet32_train_npz`` / ``Imagenet32_val_npz``
      folders the official zips unpack to; ``data`` uint8 ``(N, 3072)`` channel-major, ``labels``
      1-based (made 0-based here).
    - npy: ``train_32x32.npy`` and ``valid_32x32.npy``, uint8 ``(N, 32, 32, 3)``, memory-mapped;
      no labels, so ``y = -1``.

    Test split: the official validation file; validation is held out of train.
    Other arguments as :class:`ImageDataModule`.
    """

    name = "imagenet32"
    image_shape = (3, 32, 32)
    n_bins = 256
    num_classes = 1000

    def __init__(
        self,
        root: str,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        val_fraction: float = 0.01,
        augment: Sequence[str] = (),
        crop_padding: int = 4,
    ) -> None:
        super().__init__(root, batch_size, num_workers, seed, val_fraction, augment, crop_padding)

    @property
    def directory(self) -> Path:
        return Path(self.root) / FOLDER

    def _npz_files(self) -> tuple[list[Path], Path | None]:
        """The train batches found, in batch order, and the validation file (or None)."""
        dirs = [self.directory / sub for sub in NPZ_SUBDIRS]
        train = [p for name in NPZ_TRAIN if (p := _first_file(dirs, name)) is not None]
        return train, _first_file(dirs, NPZ_TEST)

    def _npy_files(self) -> tuple[Path, Path] | None:
        train, test = self.directory / NPY_TRAIN, self.directory / NPY_TEST
        return (train, test) if train.is_file() and test.is_file() else None

    def check(self) -> None:
        train, test = self._npz_files()
        if not (train and test) and self._npy_files() is None:
            raise self._not_found(train, test)

    def _not_found(self, train: list[Path], test: Path | None) -> DatasetNotFoundError:
        missing = ([] if train else ["train_data_batch_*.npz"]) + ([] if test else [NPZ_TEST])
        missing += [n for n in (NPY_TRAIN, NPY_TEST) if not (self.directory / n).is_file()]
        return not_found(
            self.name,
            [self.directory / sub for sub in NPZ_SUBDIRS],
            [
                f"either {NPZ_TRAIN[0]}..{NPZ_TRAIN[-1]} (at least one) and {NPZ_TEST}",
                f"or {NPY_TRAIN} and {NPY_TEST}",
            ],
            missing,
            "download the 32x32 downsampled ImageNet (npz) from image-net.org (an account is "
            f"needed) and unzip it into {self.directory}; it cannot be downloaded automatically",
        )

    def _load_train_test(self) -> tuple[LabelledImages, LabelledImages]:
        train, test = self._npz_files()
        if train and test is not None:
            parts = [self._read_npz(path) for path in train]
            images = np.concatenate([p.images for p in parts])
            labels = np.concatenate([p.labels for p in parts])
            return LabelledImages(images, labels), self._read_npz(test)
        npy = self._npy_files()
        if npy is None:
            raise self._not_found(train, test)
        return self._read_npy(npy[0]), self._read_npy(npy[1])

    def _read_npz(self, path: Path) -> LabelledImages:
        self.files_read.append(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                data, labels = archive["data"], archive["labels"]
        except NPZ_ERRORS as e:
            raise corrupt(self.name, path, f"not an npz with 'data' and 'labels' ({e!r})") from e
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise corrupt(
                self.name, path, f"'data' must be uint8 (N, 3072), got {data.dtype} {data.shape}"
            )
        labels = labels.astype(np.int64).reshape(-1)
        if len(labels) != len(data) or labels.min(initial=1) < 1 or labels.max(initial=1) > 1000:
            raise corrupt(self.name, path, f"'labels' must be {len(data)} ints in 1..1000")
        return LabelledImages(data.reshape(-1, *self.image_shape), labels - 1)  # (N, 3, 32, 32)

    def _read_npy(self, path: Path) -> LabelledImages:
        self.files_read.append(path)
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except NPZ_ERRORS as e:
            raise corrupt(self.name, path, f"not a readable .npy array ({e!r})") from e
        if array.dtype != np.uint8 or array.shape[1:] != (32, 32, 3):
            raise corrupt(
                self.name, path, f"expected uint8 (N, 32, 32, 3), got {array.dtype} {array.shape}"
            )
        images = array.transpose(0, 3, 1, 2)  # (N, 3, 32, 32), a view of the memory map
        return LabelledImages(images, np.full(len(array), UNLABELLED, dtype=np.int64))


def _first_file(directories: Sequence[Path], name: str) -> Path | None:
    return next((d / name for d in directories if (d / name).is_file()), None)
