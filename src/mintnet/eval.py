"""Evaluate a checkpoint on the test split: ``python -m mintnet.eval ckpt_path=PATH``."""

import logging

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from mintnet.checkpoint import load_module
from mintnet.cli.reporting import reported_errors
from mintnet.config import ConfigError, fill_from_data
from mintnet.threads import configure_run
from mintnet.train import instantiate_group

__all__ = ["evaluate", "main"]

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test the checkpoint ``cfg.ckpt_path`` on ``cfg.data``'s test split; return the metrics."""
    configure_run(cfg)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.check()
    model = load_module(cfg.ckpt_path)
    _choose_estimate(model, cfg)
    fill_from_data(OmegaConf.create(model.model_config), datamodule)  # refuses a mismatch
    loggers = instantiate_group(cfg.get("logger"), "logger")
    trainer = hydra.utils.instantiate(cfg.trainer, logger=loggers or False, callbacks=[])
    if cfg.get("seed") is not None:  # seeded last, as mintnet-train does before its test
        pl.seed_everything(cfg.seed, workers=True)
    results = trainer.test(model, datamodule=datamodule)
    return {k: float(v) for k, v in results[0].items()}


def _choose_estimate(model: pl.LightningModule, cfg: DictConfig) -> None:
    """Apply ``eval_samples`` / ``eval_seed`` (null: the checkpoint's choice) to a density model."""
    samples, seed = cfg.get("eval_samples"), cfg.get("eval_seed")
    if samples is None and seed is None:
        return
    if not hasattr(model, "set_estimate"):
        raise ConfigError(
            f"eval_samples / eval_seed apply to density models; {cfg.ckpt_path} holds a "
            f"{type(model).__name__}: leave them null"
        )
    samples = model.hparams.get("eval_samples", 1) if samples is None else samples
    seed = model.hparams.get("eval_seed") if seed is None else seed
    model.set_estimate(samples, seed)
    log.info("test/bpd: %d dequantisation sample(s) per image, seed %s", samples, seed)


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    with reported_errors("mintnet-eval"):
        metrics = evaluate(cfg)
    for key, value in sorted(metrics.items()):
        print(f"{key}: {value:.4f}")


if __name__ == "__main__":
    main()
