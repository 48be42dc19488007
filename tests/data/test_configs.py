from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

import mintnet.data
from mintnet.data import ImageDataModule

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "data"
EXPECTED = {
    "digits": mintnet.data.DigitsDataModule,
    "mnist": mintnet.data.MNISTDataModule,
    "fashion_mnist": mintnet.data.FashionMNISTDataModule,
    "cifar10": mintnet.data.CIFAR10DataModule,
    "imagenet32": mintnet.data.ImageNet32DataModule,
}


def test_every_dataset_has_a_config():
    assert sorted(p.stem for p in CONF_DIR.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_instantiates_its_data_module(name, tmp_path):
    cfg = OmegaConf.create({"paths": {"data_dir": str(tmp_path)}})
    cfg.data = OmegaConf.load(CONF_DIR / f"{name}.yaml")
    dm = instantiate(cfg.data)
    assert type(dm) is EXPECTED[name] and isinstance(dm, ImageDataModule)
    assert dm.name == name
    assert len(dm.image_shape) == 3 and dm.n_bins in (17, 256) and dm.num_classes >= 10
    if name != "digits":
        assert dm.root == str(tmp_path) and dm.batch_size == 32
    assert isinstance(dm.augment, list)
