"""Train a model from the Hydra config: ``python -m mintnet.train`` (or ``mintnet-train``)."""

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.exceptions import SIGTERMException

from mintnet.checkpoint import prepare_resume
from mintnet.config import ConfigError, fill_from_data, validate
from mintnet.errors import reported_errors
from mintnet.pixel_baseline import independent_pixel_bpd
from mintnet.resolvers import register as register_resolvers
from mintnet.sweeps import record_sweep

__all__ = ["RunResult", "main", "train"]

register_resolvers()

log = logging.getLogger(__name__)
CONFIG_PATH = "conf"  # the package's configs (the repository's top-level conf/ links here)
PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM, the shell's convention for a process ended by SIGTERM


def instantiate(cfg: DictConfig, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate(cfg[key])``, turning a constructor's refusal into a
    :class:`ConfigError` that names the config key."""
    try:
        return hydra.utils.instantiate(cfg[key], **kwargs)
    except hydra.errors.InstantiationException as error:
        cause = error.__cause__ if isinstance(error.__cause__, ValueError | TypeError) else error
        raise ConfigError(f"{key}: {cause}") from error


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a config group that has a ``_target_`` (callbacks, loggers)."""
    if not cfg:
        return []
    return [instantiate(cfg, key) for key, c in cfg.items() if c and "_target_" in c]


def build(cfg: DictConfig) -> tuple[pl.LightningDataModule, pl.LightningModule, pl.Trainer]:
    """Data, model and trainer from the config; data problems surface before any model is built."""
    validate(cfg)
    datamodule = instantiate(cfg, "data")
    datamodule.check()
    fill_from_data(cfg.model, datamodule)
    log.info("Instantiating model <%s>", cfg.model._target_)
    model = instantiate(cfg, "model")
    model.model_config = OmegaConf.to_container(cfg.model, resolve=True)
    record_sweep(cfg)  # in a multirun: cfg.sweep, and the W&B group shared by the sweep's runs
    loggers = instantiate_group(cfg.get("logger"))
    callbacks = instantiate_group(cfg.get("callbacks"))
    if not loggers:  # nothing to send learning rates to
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.LearningRateMonitor)]
    trainer = instantiate(cfg, "trainer", callbacks=callbacks, logger=loggers or False)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    return datamodule, model, trainer


@dataclass
class RunResult:
    """What a training run produced."""

    metrics: dict[str, float]
    output_dir: Path
    checkpoint: Path | None = None
    samples: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def train(cfg: DictConfig) -> RunResult:
    """Fit, then test the best checkpoint; return the logged metrics (floats) and the files."""
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    datamodule, model, trainer = build(cfg)
    if cfg.get("train"):
        ckpt_path = prepare_resume(cfg.get("ckpt_path"), model)  # None: weights loaded here
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if cfg.get("test"):
        if cfg.get("seed") is not None:  # the same noise as `mintnet-eval` with this seed
            pl.seed_everything(cfg.seed, workers=True)
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
        metrics |= {k: float(v) for k, v in trainer.callback_metrics.items()}
        if cfg.get("compare_pixel_baseline") and hasattr(model, "flow"):
            metrics["test/pixel_baseline_bpd"] = pixel_baseline(datamodule)
    _finish_wandb()
    samples = sorted(Path(trainer.default_root_dir).glob("samples/*.png"))
    return RunResult(
        metrics,
        Path(trainer.default_root_dir),
        Path(best) if best else None,
        samples[-1] if samples else None,
    )


def pixel_baseline(datamodule: pl.LightningDataModule) -> float:
    """Test bits/dim of independent per-pixel histograms fitted on the training split."""
    stack = lambda loader: torch.cat([x for x, _ in loader])  # noqa: E731
    train_x, test_x = stack(datamodule.train_dataloader()), stack(datamodule.test_dataloader())
    return independent_pixel_bpd(train_x, test_x, datamodule.n_bins)


def summary(result: RunResult) -> str:
    """What a person wants to read at the end of a run."""
    metrics = result.metrics
    lines = [f"run folder:      {result.output_dir}"]
    if result.checkpoint:
        lines.append(f"best checkpoint: {result.checkpoint}")
    if result.samples:
        lines.append(f"sample grid:     {result.samples}")
    if "test/bpd" in metrics:
        lines.append(f"test bits/dim: {metrics['test/bpd']:.4f}")
    if "test/pixel_baseline_bpd" in metrics:
        base = metrics["test/pixel_baseline_bpd"]
        verdict = "beats" if metrics.get("test/bpd", float("inf")) < base else "does NOT beat"
        lines.append(f"independent-pixel baseline: {base:.4f} bits/dim (the model {verdict} it)")
    if "test/acc" in metrics:
        lines.append(f"test accuracy: {metrics['test/acc']:.4f}")
    return "\n".join(lines)


def _finish_wandb() -> None:
    if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
        sys.modules["wandb"].finish()


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Entry point; returns the monitored metric so Hydra sweepers can optimise it."""
    with reported_errors("mintnet-train"):
        try:
            result = train(cfg)
        except SIGTERMException as stop:
            preemption = OmegaConf.select(cfg, "callbacks.preemption")
            where = f"{preemption.dirpath}/{preemption.filename}.ckpt" if preemption else None
            print(
                f"mintnet-train: stopped by SIGTERM; checkpoint {where}; resume with ckpt_path={where}"
                if where
                else "mintnet-train: stopped by SIGTERM (callbacks.preemption is off: no checkpoint)",
                file=sys.stderr,
            )
            raise SystemExit(PREEMPTED_EXIT_CODE) from stop
    if pl.utilities.rank_zero_only.rank == 0:
        print(summary(result))
    return result.metrics.get(cfg.monitor.metric)


if __name__ == "__main__":
    main()
