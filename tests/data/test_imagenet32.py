import numpy as np
import pytest
import torch

from mintnet.data import DatasetCorruptError, DatasetNotFoundError, ImageNet32DataModule
from tests.data.checks import assert_batches, assert_split_disjoint, assert_traceable
from tests.data.formats import (
    make_images,
    truncate,
    write_imagenet32_npy,
    write_imagenet32_npz,
)


def make(root, **kwargs) -> ImageNet32DataModule:
    return ImageNet32DataModule(str(root), val_fraction=0.1, batch_size=8, **kwargs)


def test_npz_batches_with_one_based_labels(tmp_path):
    write_imagenet32_npz(tmp_path / "imagenet32", batches=(1, 2))
    dm = make(tmp_path)
    assert (dm.image_shape, dm.n_bins, dm.num_classes) == ((3, 32, 32), 256, 1000)
    out = assert_batches(dm, {"train": 18, "val": 2, "test": 6})
    assert_traceable(*out["test"], set(range(100, 106)))  # label (i % 10) after the -1 shift
    x, y = (torch.cat([out["train"][i], out["val"][i]]) for i in (0, 1))
    assert_traceable(x, y, set(range(20)))
    assert_split_disjoint(dm)


def test_npz_in_the_official_zip_folders_and_any_subset_of_batches(tmp_path):
    base = tmp_path / "imagenet32"
    write_imagenet32_npz(base / "Imagenet32_train_npz", batches=(3, 7, 10))
    (base / "Imagenet32_train_npz" / "val_data.npz").rename(base / "val_data.npz")
    dm = make(tmp_path)
    dm.setup()
    assert len(dm.datasets["train"]) + len(dm.datasets["val"]) == 30


def test_npz_rows_are_channel_major(tmp_path):
    base = tmp_path / "imagenet32"
    write_imagenet32_npz(base)
    data = make_images(6, (3072,))
    np.savez(base / "val_data.npz", data=data, labels=np.full(6, 1000))
    dm = make(tmp_path)
    dm.setup()
    x, y = dm.datasets["test"][4]
    assert torch.equal(x * 255, torch.from_numpy(data[4]).float().view(3, 32, 32))
    assert y == 999


def test_npy_layout_is_unlabelled_and_channels_last(tmp_path):
    base = tmp_path / "imagenet32"
    write_imagenet32_npy(base)
    images = make_images(6, (32, 32, 3))
    images[1, 2, 3] = (10, 20, 30)
    np.save(base / "valid_32x32.npy", images)
    dm = make(tmp_path)
    out = assert_batches(dm, {"train": 18, "val": 2, "test": 6})
    assert all((y == -1).all() for _, y in out.values())
    x, _ = dm.datasets["test"][1]
    assert (x[:, 2, 3] * 255).tolist() == [10, 20, 30]


def test_missing_describes_both_layouts(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        make(tmp_path).check()
    message = str(info.value)
    assert "imagenet32" in message and str(tmp_path / "imagenet32") in message
    for name in ("train_data_batch_1.npz", "val_data.npz", "train_32x32.npy", "valid_32x32.npy"):
        assert name in message


def test_npz_without_val_file_is_not_found(tmp_path):
    write_imagenet32_npz(tmp_path / "imagenet32")
    (tmp_path / "imagenet32" / "val_data.npz").unlink()
    with pytest.raises(DatasetNotFoundError, match="missing:   val_data.npz"):
        make(tmp_path).setup()


def test_truncated_npz_names_the_file(tmp_path):
    write_imagenet32_npz(tmp_path / "imagenet32")
    truncate(tmp_path / "imagenet32" / "train_data_batch_2.npz", 300)
    with pytest.raises(DatasetCorruptError, match="train_data_batch_2.npz"):
        make(tmp_path).setup()


def test_truncated_npy_names_the_file(tmp_path):
    write_imagenet32_npy(tmp_path / "imagenet32")
    truncate(tmp_path / "imagenet32" / "train_32x32.npy", 1000)
    with pytest.raises(DatasetCorruptError, match="train_32x32.npy"):
        make(tmp_path).setup()


def test_zero_based_labels_are_refused(tmp_path):
    base = tmp_path / "imagenet32"
    write_imagenet32_npz(base)
    np.savez(base / "val_data.npz", data=make_images(2, (3072,)), labels=np.array([0, 1]))
    with pytest.raises(DatasetCorruptError, match="val_data.npz.*1..1000"):
        make(tmp_path).setup()
