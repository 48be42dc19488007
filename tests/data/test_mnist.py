import gzip

import numpy as np
import pytest
import torch

import mintnet.data.mnist
from mintnet.data import (
    DatasetCorruptError,
    DatasetNotFoundError,
    FashionMNISTDataModule,
    MNISTDataModule,
)
from tests.data.checks import assert_batches, assert_split_disjoint, assert_traceable
from tests.data.formats import truncate, write_idx, write_mnist

SIZES = {"train": 19, "val": 1, "test": 6}  # 20 train images, val_fraction 0.05


@pytest.fixture(autouse=True)
def no_debian_copy(tmp_path, monkeypatch):
    """Never read the machine's /usr/share: point the fallback at an empty directory."""
    monkeypatch.setattr(mintnet.data.mnist, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "debian")


def test_mnist_loads_idx_files_from_torchvision_layout(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw")
    dm = MNISTDataModule(str(tmp_path), batch_size=4)
    assert (dm.image_shape, dm.n_bins, dm.num_classes) == ((1, 28, 28), 256, 10)
    out = assert_batches(dm, SIZES)
    assert_traceable(*out["test"], set(range(100, 106)))
    x, y = (torch.cat([out["train"][i], out["val"][i]]) for i in (0, 1))
    assert_traceable(x, y, set(range(20)))
    assert_split_disjoint(dm)


def test_a_known_pixel_round_trips(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw")
    images = np.zeros((6, 28, 28), dtype=np.uint8)
    images[3, 5, 7] = 200
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte", images)
    dm = MNISTDataModule(str(tmp_path))
    dm.setup()
    x, y = dm.datasets["test"][3]
    assert x[0, 5, 7] == torch.tensor(200 / 255) and torch.count_nonzero(x) == 1
    assert y == 103 % 10


def test_gzipped_files_are_read_too(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw", gzipped=True)
    assert_batches(MNISTDataModule(str(tmp_path)), SIZES)


def test_mnist_missing_names_dataset_path_and_files(tmp_path):
    write_idx(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte", np.zeros((1, 28, 28)))
    dm = MNISTDataModule(str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as info:
        dm.prepare_data()
    message = str(info.value)
    assert "mnist" in message and str(tmp_path / "MNIST" / "raw") in message
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in message
    assert "data.download=true" in message
    assert isinstance(info.value, FileNotFoundError)


@pytest.mark.parametrize("keep", [2, 10, 500])
def test_truncated_idx_names_the_file(tmp_path, keep):
    raw = tmp_path / "MNIST" / "raw"
    write_mnist(raw)
    truncate(raw / "train-images-idx3-ubyte", keep)
    with pytest.raises(DatasetCorruptError, match="train-images-idx3-ubyte"):
        MNISTDataModule(str(tmp_path)).setup()


def test_truncated_gzip_names_the_file(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    write_mnist(raw, gzipped=True)
    truncate(raw / "t10k-labels-idx1-ubyte.gz", 20)
    with pytest.raises(DatasetCorruptError, match="t10k-labels-idx1-ubyte.gz"):
        MNISTDataModule(str(tmp_path)).setup()


def test_label_count_mismatch_is_reported(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    write_mnist(raw)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(5, dtype=np.uint8))
    with pytest.raises(DatasetCorruptError, match="5 labels for 6 images"):
        MNISTDataModule(str(tmp_path)).setup()


def test_fashion_mnist_reads_its_own_folder(tmp_path):
    write_mnist(tmp_path / "FashionMNIST" / "raw")
    dm = FashionMNISTDataModule(str(tmp_path))
    assert dm.name == "fashion_mnist"
    assert_batches(dm, SIZES)


def test_fashion_mnist_falls_back_to_debian_folder_with_gz_names(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    write_mnist(debian, gzipped=True)
    assert (debian / "train-images-idx3-ubyte.gz").is_file()
    gzip.decompress((debian / "train-images-idx3-ubyte.gz").read_bytes())  # really gzipped
    monkeypatch.chdir(tmp_path)  # the default root, "data", is then tmp_path/data: empty
    dm = FashionMNISTDataModule("data")
    out = assert_batches(dm, SIZES)
    assert_traceable(*out["test"], set(range(100, 106)))
    assert dm.files_read[0] == debian / "train-images-idx3-ubyte.gz"


@pytest.mark.parametrize("system_copy", [None, False])
def test_an_explicit_root_without_files_is_refused_not_replaced(tmp_path, system_copy):
    write_mnist(tmp_path / "debian")  # a complete system copy, which must not be read
    root = tmp_path / "nonexistent"
    dm = FashionMNISTDataModule(str(root), system_copy=system_copy)
    with pytest.raises(DatasetNotFoundError) as info:
        dm.setup()
    message = str(info.value)
    assert f"root {root} was given explicitly" in message
    assert "data.system_copy=true" in message and not dm.datasets


def test_system_copy_true_reads_the_system_copy_for_any_root(tmp_path):
    write_mnist(tmp_path / "debian")
    dm = FashionMNISTDataModule(str(tmp_path / "elsewhere"), system_copy=True)
    dm.setup()
    assert dm.files_read[0] == tmp_path / "debian" / "train-images-idx3-ubyte"


def test_an_explicit_root_is_read_and_setup_logs_the_files(tmp_path, caplog):
    write_mnist(tmp_path / "debian")
    write_mnist(tmp_path / "mine" / "FashionMNIST" / "raw", n_train=40, n_test=6)
    dm = FashionMNISTDataModule(str(tmp_path / "mine"), system_copy=True)
    with caplog.at_level("INFO", logger="mintnet.data.datamodule"):
        dm.setup()
    raw = tmp_path / "mine" / "FashionMNIST" / "raw"
    expected = [
        raw / f"{a}-{b}"
        for a in ("train", "t10k")
        for b in ("images-idx3-ubyte", "labels-idx1-ubyte")
    ]
    assert dm.files_read == expected
    (line,) = [r.getMessage() for r in caplog.records if "fashion_mnist: read" in r.getMessage()]
    assert line == (
        f"fashion_mnist: read {', '.join(map(str, expected))} (train 38, val 2, test 6 images)"
    )


def test_fashion_mnist_missing_mentions_both_places_and_apt(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        FashionMNISTDataModule(str(tmp_path)).check()
    message = str(info.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in message
    assert str(tmp_path / "debian") in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "t10k-labels-idx1-ubyte" in message


def test_the_train_config_refuses_an_explicit_data_dir_without_files(tmp_path, compose_cfg):
    from mintnet.train import build

    write_mnist(tmp_path / "debian")  # a complete system copy, which must not be read
    cfg = compose_cfg(["experiment=fashion_mnist_density", "paths.data_dir=/nonexistent"])
    with pytest.raises(DatasetNotFoundError, match="root /nonexistent was given explicitly"):
        build(cfg)
