"""scikit-learn's bundled 8x8 handwritten digits: the default dataset, no files needed."""

from collections.abc import Sequence

import numpy as np
from sklearn.datasets import load_digits

from mintnet.data.datamodule import ImageDataModule, Split
from mintnet.data.dataset import LabelledImages, split_indices
from mintnet.data.validate import fraction_size, require_fraction

__all__ = ["DigitsDataModule"]


class DigitsDataModule(ImageDataModule):
    """The 1797 8x8 digits of ``sklearn.datasets.load_digits``, grey levels 0..16 (``n_bins=17``).

    There is no official split: ``test_fraction`` and ``val_fraction`` of all 1797 images are
    held out with ``seed`` (defaults 15% each, leaving 70% for training). ``root`` is ignored.
    Other arguments as :class:`ImageDataModule`.
    """

    name = "digits"
    image_shape = (1, 8, 8)
    n_bins = 17
    num_classes = 10

    def __init__(
        self,
        root: str | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        augment: Sequence[str] = (),
        crop_padding: int = 1,
    ) -> None:
        super().__init__(
            root or "", batch_size, num_workers, seed, val_fraction, augment, crop_padding
        )
        require_fraction("test_fraction", test_fraction)
        if val_fraction + test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}"
            )
        self.test_fraction = float(test_fraction)

    def check(self) -> None:
        """Nothing to check: the images ship inside scikit-learn."""

    def _load_splits(self) -> dict[str, Split]:
        data = _load_all()
        self.files_read.append("scikit-learn's bundled digits (sklearn.datasets.load_digits)")
        n = len(data)
        n_test = fraction_size("test_fraction", self.test_fraction, n)
        n_val = fraction_size("val_fraction", self.val_fraction, n)
        test_rows, val_rows, train_rows = split_indices(n, [n_test, n_val], self.seed)
        return {"train": (data, train_rows), "val": (data, val_rows), "test": (data, test_rows)}


def _load_all() -> LabelledImages:
    bunch = load_digits()
    images = bunch.images.astype(np.uint8)[:, None]  # (1797, 1, 8, 8), levels 0..16
    return LabelledImages(images, bunch.target.astype(np.int64))
