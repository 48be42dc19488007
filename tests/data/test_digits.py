import numpy as np
import pytest
import torch

from mintnet.data import DigitsDataModule
from tests.data.checks import all_batches, assert_batches, assert_split_disjoint


def test_digits_attributes_before_setup():
    dm = DigitsDataModule()
    assert (dm.name, dm.image_shape, dm.n_bins, dm.num_classes) == ("digits", (1, 8, 8), 17, 10)


def test_digits_splits_cover_all_images_on_the_17_level_grid():
    dm = DigitsDataModule(batch_size=128)
    out = assert_batches(dm, {"train": 1257, "val": 270, "test": 270})
    assert sum(len(x) for x, _ in out.values()) == 1797
    x, _ = out["train"]
    assert (x * 16).round().max() == 16  # the top grey level occurs, so n_bins is 17, not 16
    rows = [dm.datasets[s].indices for s in ("train", "val", "test")]
    assert np.array_equal(np.sort(np.concatenate(rows)), np.arange(1797))
    assert_split_disjoint(dm)


def test_digits_split_depends_only_on_seed():
    def val_rows(seed: int) -> np.ndarray:
        dm = DigitsDataModule(seed=seed)
        dm.setup()
        return dm.datasets["val"].indices

    assert np.array_equal(val_rows(0), val_rows(0))
    assert not np.array_equal(val_rows(0), val_rows(1))


def test_train_order_is_reproducible_and_val_is_not_shuffled():
    def first_labels(dm: DigitsDataModule, split: str) -> torch.Tensor:
        return next(iter(getattr(dm, f"{split}_dataloader")()))[1]

    a, b = DigitsDataModule(seed=3), DigitsDataModule(seed=3)
    assert torch.equal(first_labels(a, "train"), first_labels(b, "train"))
    _, y = all_batches(a.val_dataloader())
    rows = a.datasets["val"].indices
    assert torch.equal(y, torch.from_numpy(a.datasets["val"].data.labels[rows]))


def test_digits_fractions_must_leave_a_training_set():
    with pytest.raises(ValueError, match="val_fraction \\+ test_fraction"):
        DigitsDataModule(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="test_fraction"):
        DigitsDataModule(test_fraction=1.5)
