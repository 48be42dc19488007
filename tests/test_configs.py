"""Every config group option composes and instantiates."""

import hydra
import pytest
import pytorch_lightning as pl
from omegaconf import OmegaConf

from mintnet.config import ConfigError, fill_from_data
from mintnet.data import DigitsDataModule
from mintnet.modules import ClassificationModule, DensityModule
from tests.conftest import CONF_DIR


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize("model", _options("model"))
def test_every_model_builds_for_the_data(compose_cfg, model):
    cfg = compose_cfg([f"model={model}"])
    fill_from_data(cfg.model, DigitsDataModule())
    module = hydra.utils.instantiate(cfg.model)
    assert isinstance(module, DensityModule if "density" in model else ClassificationModule)
    assert cfg.monitor.metric == ("val/bpd" if "density" in model else "val/acc")


@pytest.mark.parametrize("data", _options("data"))
def test_every_data_config_instantiates(compose_cfg, data, tmp_path):
    cfg = compose_cfg([f"data={data}", f"paths.data_dir={tmp_path}"])
    datamodule = hydra.utils.instantiate(cfg.data)
    assert datamodule.name == data


@pytest.mark.parametrize("logger", _options("logger"))
def test_every_logger_instantiates(compose_cfg, logger, wandb_offline):
    cfg = compose_cfg([f"logger={logger}"])
    loggers = [hydra.utils.instantiate(c) for c in (cfg.get("logger") or {}).values()]
    assert all(isinstance(lg, pl.loggers.Logger) for lg in loggers)
    assert len(loggers) == (0 if logger == "none" else 1)


@pytest.mark.parametrize("trainer", _options("trainer"))
def test_every_trainer_config_composes(compose_cfg, trainer):
    cfg = compose_cfg([f"trainer={trainer}"])
    assert cfg.trainer._target_ == "pytorch_lightning.Trainer"
    if trainer in ("default", "cpu"):
        assert isinstance(hydra.utils.instantiate(cfg.trainer), pl.Trainer)


def test_default_callbacks_instantiate(compose_cfg):
    cfg = compose_cfg()
    callbacks = [hydra.utils.instantiate(c) for c in cfg.callbacks.values() if c]
    assert all(isinstance(c, pl.Callback) for c in callbacks) and len(callbacks) >= 4


@pytest.mark.parametrize("experiment", _options("experiment"))
def test_every_experiment_composes(compose_cfg, experiment, tmp_path):
    cfg = compose_cfg([f"experiment={experiment}", f"paths.data_dir={tmp_path}"])
    assert OmegaConf.select(cfg, "model._target_") is not None


def test_cli_overrides_reach_the_objects(compose_cfg):
    cfg = compose_cfg(["model.net.n_layers=2", "model.net.hidden_groups=3"])
    fill_from_data(cfg.model, DigitsDataModule())
    net = hydra.utils.instantiate(cfg.model).flow.net
    mint = [m for m in net.layers if type(m).__name__ == "MintLayer"]
    assert len(mint) == 4 and mint[0].hidden_groups == 3


def test_unknown_key_and_dataset_are_refused_by_name(compose_cfg):
    with pytest.raises(Exception, match="n_layerz"):
        compose_cfg(["model.net.n_layerz=2"])
    with pytest.raises(Exception, match="data/imagenet64"):
        compose_cfg(["data=imagenet64"])


def test_model_that_contradicts_the_data_is_refused(compose_cfg):
    cfg = compose_cfg(["model.net.in_shape=[1,28,28]"])
    with pytest.raises(
        ConfigError, match=r"model.net.in_shape=\[1, 28, 28\] does not fit data 'digits'"
    ):
        fill_from_data(cfg.model, DigitsDataModule())


def test_the_inversion_method_is_a_command_line_override(compose_cfg):
    cfg = compose_cfg(
        ["model.net.inversion.method=anderson", "model.net.inversion.anderson_memory=3"]
    )
    fill_from_data(cfg.model, DigitsDataModule())
    net = hydra.utils.instantiate(cfg.model).flow.net
    settings = {m.inversion for m in net.layers if type(m).__name__ == "MintLayer"}
    assert [(s.method, s.anderson_memory) for s in settings] == [("anderson", 3)]
    cfg = compose_cfg(["model.net.inversion.method=newton"])
    fill_from_data(cfg.model, DigitsDataModule())
    with pytest.raises(Exception, match="fixed_point, damped, anderson; got 'newton'"):
        hydra.utils.instantiate(cfg.model)
