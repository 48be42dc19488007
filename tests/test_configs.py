"""Every config group option composes and instantiates."""

import inspect

import hydra
import pytest
import pytorch_lightning as pl
from hydra._internal.utils import _locate
from omegaconf import DictConfig, ListConfig, OmegaConf

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
    cfg = compose_cfg(["model.flow.net.n_layers=2", "model.flow.net.hidden_groups=3"])
    fill_from_data(cfg.model, DigitsDataModule())
    net = hydra.utils.instantiate(cfg.model).flow.net
    mint = [m for m in net.layers if type(m).__name__ == "MintLayer"]
    assert len(mint) == 4 and mint[0].hidden_groups == 3


def test_unknown_key_and_dataset_are_refused_by_name(compose_cfg):
    with pytest.raises(Exception, match="n_layerz"):
        compose_cfg(["model.flow.net.n_layerz=2"])
    with pytest.raises(Exception, match="data/imagenet64"):
        compose_cfg(["data=imagenet64"])


def test_model_that_contradicts_the_data_is_refused(compose_cfg):
    cfg = compose_cfg(["model.flow.net.in_shape=[1,28,28]"])
    with pytest.raises(
        ConfigError, match=r"model.flow.net.in_shape=\[1, 28, 28\] does not fit data 'digits'"
    ):
        fill_from_data(cfg.model, DigitsDataModule())


def test_the_inversion_method_is_a_command_line_override(compose_cfg):
    cfg = compose_cfg(
        [
            "model.flow.net.inversion.method=anderson",
            "model.flow.net.inversion.anderson_memory=3",
        ]
    )
    fill_from_data(cfg.model, DigitsDataModule())
    net = hydra.utils.instantiate(cfg.model).flow.net
    settings = {m.inversion for m in net.layers if type(m).__name__ == "MintLayer"}
    assert [(s.method, s.anderson_memory) for s in settings] == [("anderson", 3)]
    cfg = compose_cfg(["model.flow.net.inversion.method=newton"])
    fill_from_data(cfg.model, DigitsDataModule())
    with pytest.raises(Exception, match="fixed_point, damped, anderson; got 'newton'"):
        hydra.utils.instantiate(cfg.model)


def _composed_configs() -> list[tuple[str, list[str], str]]:
    """``(config name, overrides, label)``: every option of every group, on the train config
    (the eval config once), so each file of ``conf/`` is composed at least once."""
    cases = [("eval", ["ckpt_path=x.ckpt"], "eval")]
    groups = ("model", "experiment", "callbacks", "logger", "trainer", "debug", "hparams_search")
    for group in groups:
        cases += [("train", [f"{group}={o}"], f"{group}={o}") for o in _options(group)]
    for group in (
        "hydra/launcher",
        "hydra/sweeper",
        "hydra/sweeper/sampler",
        "hydra/sweeper/pruner",
    ):
        for option in _options(group):
            overrides = ["hydra/sweeper=optuna"] if group.startswith("hydra/sweeper/") else []
            cases.append(("train", [*overrides, f"{group}={option}"], f"{group}={option}"))
    return cases


def _targets(node, path: str):
    """``(path, node)`` of every config node with a ``_target_``, at any depth."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield path, node
        children = [(k, f"{path}.{k}") for k in node if not OmegaConf.is_interpolation(node, k)]
    elif isinstance(node, ListConfig):
        children = [(i, f"{path}[{i}]") for i in range(len(node))]
    else:
        return
    for key, child_path in children:
        if not OmegaConf.is_missing(node, key):
            yield from _targets(node[key], child_path.lstrip("."))


def _accepted(target: str) -> tuple[set[str], bool]:
    """The argument names of ``target`` and whether it takes any keyword (``**kwargs``); a
    WandbLogger hands what it does not take itself to ``wandb.init``."""
    parameters = inspect.signature(_locate(target)).parameters
    names = {p for p in parameters}
    any_keyword = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    if target.endswith("WandbLogger"):
        import wandb

        names |= set(inspect.signature(wandb.init).parameters)
        any_keyword = False
    return names, any_keyword


@pytest.mark.parametrize(
    "name, overrides", [pytest.param(n, o, id=label) for n, o, label in _composed_configs()]
)
def test_every_config_key_is_an_argument_of_the_object_it_builds(compose_cfg, name, overrides):
    """Each key beside a ``_target_`` names an argument of that target's constructor (or
    function), so the config tree is the object tree and no key is set to no effect."""
    cfg = compose_cfg(overrides, name=name, hydra=True)
    strays = []
    for path, node in _targets(cfg, ""):
        names, any_keyword = _accepted(node._target_)
        keys = {k for k in node if not str(k).startswith("_")}
        if not any_keyword:
            strays += [f"{path}.{k} ({node._target_})" for k in sorted(keys - names)]
    assert not strays, strays


def test_the_monitor_is_the_one_the_module_declares(compose_cfg):
    for model, module in (("mintnet_density", DensityModule), ("resnet_classifier", None)):
        cfg = compose_cfg([f"model={model}"])
        module = module or ClassificationModule
        assert (cfg.monitor.metric, cfg.monitor.mode) == (
            module.monitor.metric,
            module.monitor.mode,
        )
        assert cfg.monitor.objective == module.monitor.best
        assert cfg.callbacks.model_checkpoint.monitor == cfg.monitor.metric


def test_data_facts_are_set_once_and_interpolated_where_two_objects_need_them(compose_cfg):
    cfg = compose_cfg(["model=mintnet_classifier"])
    fill_from_data(cfg.model, DigitsDataModule())
    assert cfg.model.num_classes == cfg.model.net.num_classes == 10
    assert OmegaConf.is_interpolation(cfg.model.net, "num_classes")
    cfg = compose_cfg(["model=mintnet_classifier", "model.num_classes=3"])
    with pytest.raises(ConfigError, match=r"model.num_classes=3 does not fit data 'digits'"):
        fill_from_data(cfg.model, DigitsDataModule())
