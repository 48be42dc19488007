"""CIFAR-10 from the python pickles of ``cifar-10-batches-py``, torchvision's on-disk layout."""

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torchvision import datasets

from mintnet.data.dataset import LabelledImages
from mintnet.data.download import TorchvisionDataModule
from mintnet.data.errors import corrupt, not_found

__all__ = ["CIFAR10DataModule"]

TRAIN_FILES = tuple(name for name, _ in datasets.CIFAR10.train_list)  # data_batch_1..5
TEST_FILES = tuple(name for name, _ in datasets.CIFAR10.test_list)  # test_batch
PIXELS = 3 * 32 * 32
PICKLE_ERRORS = (
    OSError,
    EOFError,
    pickle.UnpicklingError,
    AttributeError,
    ImportError,
    IndexError,
    KeyError,
    TypeError,
    ValueError,
)
"""What unpickling a damaged file (or one that is not a batch dict) can raise."""


class CIFAR10DataModule(TorchvisionDataModule):
    """CIFAR-10 (Krizhevsky, 2009): 32x32 RGB, 10 classes, 50k train and 10k test images.

    Reads ``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch}``: pickled dicts with
    ``data`` uint8 ``(N, 3072)`` (channel-major: 1024 R, then G, then B values) and ``labels``.
    The pickles are read here rather than through ``torchvision.datasets.CIFAR10``, which also
    demands the official MD5 sums and reports any problem without naming the file;
    ``download=True`` still uses torchvision's downloader. Test split: the official test batch.
    Arguments as :class:`TorchvisionDataModule`.
    """

    name = "cifar10"
    torchvision_class = datasets.CIFAR10
    image_shape = (3, 32, 32)
    n_bins = 256
    num_classes = 10

    @property
    def directory(self) -> Path:
        return Path(self.root) / datasets.CIFAR10.base_folder

    def _missing(self) -> list[str]:
        return [n for n in TRAIN_FILES + TEST_FILES if not (self.directory / n).is_file()]

    def check(self) -> None:
        missing = self._missing()
        if missing:
            raise not_found(
                self.name,
                [self.directory],
                list(TRAIN_FILES + TEST_FILES),
                missing,
                "pass data.download=true on a machine with network access, or unpack "
                f"{datasets.CIFAR10.filename} into {self.root}",
            )

    def _has_files(self) -> bool:
        return not self._missing()

    def _load_train_test(self) -> tuple[LabelledImages, LabelledImages]:
        return self._read(TRAIN_FILES), self._read(TEST_FILES)

    def _read(self, names: Sequence[str]) -> LabelledImages:
        parts = [self._read_batch(self.directory / name) for name in names]
        images = np.concatenate([p.images for p in parts])
        labels = np.concatenate([p.labels for p in parts])
        return LabelledImages(images, labels)

    def _read_batch(self, path: Path) -> LabelledImages:
        self.files_read.append(path)
        try:
            with path.open("rb") as f:
                entry = pickle.load(f, encoding="latin1")
            data = np.asarray(entry["data"])
            labels = np.asarray(entry["labels"], dtype=np.int64)
        except PICKLE_ERRORS as e:
            raise corrupt(
                self.name, path, f"not a pickled dict with 'data' and 'labels' ({e!r})"
            ) from e
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
            raise corrupt(
                self.name,
                path,
                f"'data' must be uint8 (N, {PIXELS}), got {data.dtype} {data.shape}",
            )
        if labels.shape != (len(data),) or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
            raise corrupt(self.name, path, f"'labels' must be {len(data)} ints in 0..9")
        return LabelledImages(data.reshape(-1, *self.image_shape), labels)  # (N, 3, 32, 32)
