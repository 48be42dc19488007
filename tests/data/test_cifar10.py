import pickle

import pytest
import torch

from mintnet.data import CIFAR10DataModule, DatasetCorruptError, DatasetNotFoundError
from tests.data.checks import assert_batches, assert_split_disjoint, assert_traceable
from tests.data.formats import make_images, truncate, write_cifar10

SIZES = {"train": 19, "val": 1, "test": 6}  # 5 batches of 4, val_fraction 0.05


def test_cifar10_reads_the_python_pickles(tmp_path):
    write_cifar10(tmp_path)
    dm = CIFAR10DataModule(str(tmp_path), batch_size=5)
    assert (dm.image_shape, dm.n_bins, dm.num_classes) == ((3, 32, 32), 256, 10)
    out = assert_batches(dm, SIZES)
    assert_traceable(*out["test"], set(range(100, 106)))
    x, y = (torch.cat([out["train"][i], out["val"][i]]) for i in (0, 1))
    assert_traceable(x, y, set(range(20)))  # all five batches are read
    assert_split_disjoint(dm)


def test_cifar10_rows_are_channel_major(tmp_path):
    folder = write_cifar10(tmp_path)
    data = make_images(6, (3072,), 100)
    with (folder / "test_batch").open("wb") as f:
        pickle.dump({"data": data, "labels": [0] * 6}, f)
    dm = CIFAR10DataModule(str(tmp_path))
    dm.setup()
    x, _ = dm.datasets["test"][2]
    # row layout: 1024 red values, 1024 green, 1024 blue, each a 32x32 raster
    expected = torch.from_numpy(data[2]).float().view(3, 32, 32) / 255
    assert torch.equal(x, expected)
    assert x[1, 0, 5] * 255 == data[2, 1024 + 5] and x[2, 3, 1] * 255 == data[2, 2048 + 3 * 32 + 1]


def test_cifar10_missing_lists_the_batches(tmp_path):
    folder = write_cifar10(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFoundError) as info:
        CIFAR10DataModule(str(tmp_path)).prepare_data()
    message = str(info.value)
    assert "cifar10" in message and str(folder) in message
    assert "missing:   data_batch_3 " in message
    assert "test_batch" in message and "data.download=true" in message


def test_truncated_pickle_names_the_file(tmp_path):
    folder = write_cifar10(tmp_path)
    truncate(folder / "data_batch_2", 100)
    with pytest.raises(DatasetCorruptError, match="data_batch_2"):
        CIFAR10DataModule(str(tmp_path)).setup()


def test_wrong_pickle_contents_name_the_file(tmp_path):
    folder = write_cifar10(tmp_path)
    with (folder / "test_batch").open("wb") as f:
        pickle.dump({"data": make_images(2, (32, 32, 3)), "labels": [0, 1]}, f)
    with pytest.raises(DatasetCorruptError, match="test_batch.*uint8 \\(N, 3072\\)"):
        CIFAR10DataModule(str(tmp_path)).setup()
