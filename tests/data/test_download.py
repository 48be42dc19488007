"""The ``download`` option shared by the datamodules that torchvision can download."""

import inspect

import pytest

from mintnet.data import (
    CIFAR10DataModule,
    DatasetNotFoundError,
    FashionMNISTDataModule,
    MNISTDataModule,
)
from tests.data.formats import write_cifar10, write_mnist

BASE = {"batch_size": 32, "num_workers": 0, "seed": 0, "val_fraction": 0.05, "augment": ()}


def _write(cls, root):
    if cls is CIFAR10DataModule:
        write_cifar10(root)
    else:
        write_mnist(root / cls.torchvision_class.__name__ / "raw")


@pytest.mark.parametrize(
    ("cls", "defaults"),
    [
        (CIFAR10DataModule, {**BASE, "crop_padding": 4, "download": False}),
        (MNISTDataModule, {**BASE, "crop_padding": 2, "download": False}),
        (
            FashionMNISTDataModule,
            {**BASE, "crop_padding": 2, "download": False, "system_copy": None},
        ),
    ],
)
def test_constructors_keep_their_order_and_defaults(cls, defaults):
    parameters = inspect.signature(cls).parameters
    assert list(parameters) == ["root", *defaults]
    assert {name: p.default for name, p in parameters.items() if name != "root"} == defaults
    dm = cls("somewhere", *defaults.values())
    assert (dm.crop_padding, dm.download, dm.augment) == (defaults["crop_padding"], False, [])


@pytest.mark.parametrize("cls", [CIFAR10DataModule, MNISTDataModule, FashionMNISTDataModule])
@pytest.mark.parametrize("present", [False, True])
@pytest.mark.parametrize("download", [False, True])
def test_torchvision_downloads_only_when_asked_and_files_are_missing(
    tmp_path, monkeypatch, cls, present, download
):
    calls = []

    class Torchvision:
        def __init__(self, *args, **kwargs):
            calls.append((args, kwargs))

    Torchvision.__name__ = cls.torchvision_class.__name__  # names the IDX folder
    if present:
        _write(cls, tmp_path)
    monkeypatch.setattr(cls, "torchvision_class", Torchvision)
    fashion = {"system_copy": False} if cls is FashionMNISTDataModule else {}
    dm = cls(str(tmp_path), download=download, **fashion)
    if present:
        dm.prepare_data()
    else:
        with pytest.raises(DatasetNotFoundError):
            dm.prepare_data()
    expected = [((str(tmp_path),), {"train": True, "download": True})]
    assert calls == (expected if download and not present else [])
