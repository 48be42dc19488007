"""Checkpoints written before the density module took its ``flow`` (``net``, ``n_bins`` and
``logit_lam`` beside the module's own arguments, in the saved model config and in Lightning's
hyper-parameters) still evaluate, load and resume; the weights' keys are the same."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from mintnet.checkpoint import load_flow_from_checkpoint, load_module, read_checkpoint
from mintnet.eval import evaluate
from mintnet.modules import DensityModule
from mintnet.modules.base import CHECKPOINT_KEY
from mintnet.nn import ImageFlow
from mintnet.train import build
from tests.conftest import FAST_TRAINER, TINY_DENSITY

QUIET = ["logger=none", "test=false", "compare_pixel_baseline=false"]


def _as_older_mintnet_wrote_it(path: Path) -> None:
    """Rewrite a checkpoint's model config and hyper-parameters in the older layout."""
    checkpoint = torch.load(path, weights_only=True)
    config = dict(checkpoint[CHECKPOINT_KEY]["model"])
    flow = config.pop("flow")
    config |= {"net": flow["net"], "n_bins": flow["n_bins"], "logit_lam": flow["logit_lam"]}
    checkpoint[CHECKPOINT_KEY]["model"] = config
    checkpoint["hyper_parameters"] |= {"n_bins": flow["n_bins"], "logit_lam": flow["logit_lam"]}
    torch.save(checkpoint, path)


@pytest.fixture(scope="module")
def older_checkpoint(tmp_path_factory) -> Path:
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF_DIR

    out = tmp_path_factory.mktemp("older")
    overrides = [*TINY_DENSITY, *FAST_TRAINER, *QUIET, f"paths.output_dir={out}"]
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train", overrides)
    datamodule, model, trainer = build(cfg)
    trainer.fit(model, datamodule=datamodule)
    path = out / "checkpoints" / "last.ckpt"
    _as_older_mintnet_wrote_it(path)
    assert "net" in read_checkpoint(path)[CHECKPOINT_KEY]["model"]
    return path


def test_an_older_checkpoint_rebuilds_its_module_and_flow(older_checkpoint):
    module = load_module(older_checkpoint)
    assert isinstance(module, DensityModule) and isinstance(module.flow, ImageFlow)
    assert module.flow.n_bins == 17 and module.flow.logit.lam == pytest.approx(0.05)
    assert "flow" in module.model_config and "net" not in module.model_config
    weights = read_checkpoint(older_checkpoint)["state_dict"]
    assert set(module.state_dict()) == set(weights)
    assert all(k.startswith("flow.net.") for k in weights if "layers" in k)
    flow = load_flow_from_checkpoint(older_checkpoint)
    assert torch.equal(flow.net.layers[0].weight1, module.flow.net.layers[0].weight1)


def test_an_older_checkpoint_loads_through_lightning_given_its_flow(older_checkpoint):
    flow = load_module(older_checkpoint).flow
    module = DensityModule.load_from_checkpoint(older_checkpoint, flow=flow, weights_only=True)
    assert module.hparams.eval_seed == 0 and "n_bins" not in module.hparams


def test_an_older_checkpoint_is_evaluated_by_mintnet_eval(compose_cfg, older_checkpoint):
    cfg = compose_cfg([f"ckpt_path={older_checkpoint}", "+trainer.limit_test_batches=2"], "eval")
    metrics = evaluate(cfg)
    assert metrics["test/bpd"] > 0


def test_an_older_checkpoint_resumes_and_its_next_checkpoint_has_todays_layout(
    compose_cfg, older_checkpoint, tmp_path
):
    cfg = compose_cfg(
        [*TINY_DENSITY, *FAST_TRAINER, *QUIET, "trainer.max_epochs=2"]
        + [f"ckpt_path={older_checkpoint}"]
    )
    datamodule, model, trainer = build(cfg)
    assert cfg.ckpt_path == str(older_checkpoint)  # a full training checkpoint: Lightning resumes
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    assert trainer.current_epoch == 2
    saved = read_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    config = OmegaConf.create(saved[CHECKPOINT_KEY]["model"])
    assert config.flow.n_bins == 17 and "net" not in config
