"""Train a model from the Hydra config: ``python -m mintnet.train`` (or ``mintnet-train``).

One run (``python -m mintnet.train [key=value ...]``) reports an expected error (a bad value,
missing data, a diverged run, a bad checkpoint) as one line on stderr and exits 1, any other
error with its traceback, and a SIGTERM with where the checkpoint is (exit 143). In a multirun
(``-m``, ``hparams_search=...``) a failing job does not stop the sweep: see :mod:`mintnet.sweeps`.
"""

import logging
import sys
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from mintnet import sweep_stop, sweeps, threads
from mintnet.callbacks.preemption import stop_reported
from mintnet.checkpoint import prepare_resume, resume_checkpoint
from mintnet.cli.reporting import reported_errors
from mintnet.config import ConfigError, fill_from_data, refused_key
from mintnet.dashboard import finished_with_exit_code, prepare_wandb, start_runs
from mintnet.outcome import RunResult, objective, result_of, summary
from mintnet.pixel_baseline import pixel_baseline
from mintnet.resolvers import register as register_resolvers
from mintnet.run_log import keep_warnings, say

__all__ = ["RunResult", "build", "instantiate", "main", "pixel_baseline", "summary", "train"]

register_resolvers()

log = logging.getLogger(__name__)
CONFIG_PATH = "conf"  # the package's configs (the repository's top-level conf/ links here)


def instantiate(cfg: DictConfig, key: str, name: str | None = None, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate(cfg[key])``, turning a constructor's refusal into a
    :class:`ConfigError` that names the config key that fed it (``model.flow.logit_lam=0.7:
    ...``, see :func:`mintnet.config.refused_key`; ``name``, default ``key``, where Hydra names
    no key)."""
    try:
        return hydra.utils.instantiate(cfg[key], **kwargs)
    except hydra.errors.InstantiationException as error:
        refusal = ValueError | TypeError | MisconfigurationException
        cause = error.__cause__ if isinstance(error.__cause__, refusal) else error
        where = refused_key(cfg._get_root(), str(error), str(cause)) or name or key
        raise ConfigError(f"{where}: {cause}") from error


def instantiate_group(cfg: DictConfig | None, group: str = "") -> list[Any]:
    """Instantiate every entry of a config group (``callbacks``, ``logger``) that has a
    ``_target_``; errors name the entry as ``<group>.<key>``."""
    if not cfg:
        return []
    return [
        instantiate(cfg, key, f"{group}.{key}" if group else key)
        for key, c in cfg.items()
        if c and "_target_" in c
    ]


def build(cfg: DictConfig) -> tuple[pl.LightningDataModule, pl.LightningModule, pl.Trainer]:
    """Data, model and trainer from the config. Every constructor checks its own values before
    any data file is read; a bad checkpoint or missing data opens no W&B run."""
    datamodule = instantiate(cfg, "data")
    fill_from_data(cfg.model, datamodule)  # shapes and levels: the data module's class facts
    log.info("Instantiating model <%s>", cfg.model._target_)
    model = instantiate(cfg, "model")
    model.model_config = OmegaConf.to_container(cfg.model, resolve=True)
    _choose_checkpoint(cfg, model)
    sweeps.record_sweep(cfg)  # in a multirun: cfg.sweep, and the W&B group of the sweep's runs
    prepare_wandb(cfg)  # the run's W&B id: the same across resumes
    loggers = instantiate_group(cfg.get("logger"), "logger")
    callbacks = instantiate_group(cfg.get("callbacks"), "callbacks")
    if not loggers:  # nothing to send learning rates to
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.LearningRateMonitor)]
    trainer = instantiate(cfg, "trainer", callbacks=callbacks, logger=loggers or False)
    if getattr(datamodule, "download", False):  # data.download=true: fetch first, then check
        if pl.utilities.rank_zero_only.rank == 0:  # other DDP ranks wait for it inside fit
            datamodule.prepare_data()
    else:
        datamodule.check()
    start_runs(loggers, cfg)
    return datamodule, model, trainer


def _choose_checkpoint(cfg: DictConfig, model: pl.LightningModule) -> None:
    """Set ``cfg.ckpt_path`` to the checkpoint ``trainer.fit`` resumes from: ``auto`` becomes
    this run folder's ``last.ckpt`` or nothing; a weights-only file is loaded into ``model``
    here and becomes nothing (see :func:`mintnet.checkpoint.prepare_resume`)."""
    path = (
        resume_checkpoint(cfg.get("ckpt_path"), cfg.paths.output_dir) if cfg.get("train") else None
    )
    with open_dict(cfg):
        cfg.ckpt_path = prepare_resume(path, model)
    if cfg.ckpt_path and pl.utilities.rank_zero_only.rank == 0:
        say(f"mintnet-train: continuing from {cfg.ckpt_path}", stream=sys.stderr)


def _seed(cfg: DictConfig) -> None:
    """Seed torch, numpy and python with ``cfg.seed`` (``null``: not at all)."""
    if cfg.get("seed") is not None:
        try:
            pl.seed_everything(cfg.seed, workers=True)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"seed={cfg.seed}: {error}; use an integer >= 0 or null") from error


def train(cfg: DictConfig) -> RunResult:
    """Fit, then test the best checkpoint; return the logged metrics (floats) and the files.

    Errors are raised; the W&B run (if one was opened) is finished with the exit code the run
    ends with (:func:`mintnet.dashboard.finished_with_exit_code`).
    """
    with finished_with_exit_code():
        threads.configure_run(cfg)  # `threads: auto|N`; prints the run's `threads:` line
        _seed(cfg)
        datamodule, model, trainer = build(cfg)
        if cfg.get("train"):
            trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
        result = result_of(trainer, {k: float(v) for k, v in trainer.callback_metrics.items()})
        if cfg.get("test"):
            _seed(cfg)  # the same noise as `mintnet-eval` with this seed
            best = str(result.checkpoint) if result.checkpoint else None
            trainer.test(model, datamodule=datamodule, ckpt_path=best, weights_only=True)
            result.metrics |= {k: float(v) for k, v in trainer.callback_metrics.items()}
            if cfg.get("compare_pixel_baseline"):
                result.metrics |= model.reference_metrics(datamodule)
        return result


def run(cfg: DictConfig) -> float | None:
    """Train, print the summary (rank 0), and return the value for Hydra's sweeper."""
    result = train(cfg)
    if pl.utilities.rank_zero_only.rank == 0:
        say(summary(result))
    return objective(cfg, result)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
def hydra_task(cfg: DictConfig) -> float | None:
    """The Hydra task: returns the objective so Hydra sweepers can optimise it. A single run
    reports an expected error in one line (exit 1), a job of a multirun is recorded
    (:func:`mintnet.sweeps.run_job`); a stop signal is reported with its checkpoint (exit 143)."""
    keep_warnings()  # warnings go to train.log too
    with stop_reported(cfg):
        if sweeps.sweep_info(cfg.get("task_name", "run")) is not None:
            return sweeps.run_job(cfg, lambda: run(cfg))
        with reported_errors("mintnet-train"):
            return run(cfg)


def main() -> None:
    """``python -m mintnet.train`` / ``mintnet-train``: exits non-zero if a job of a multirun
    failed (after all jobs ran and the summary table was printed). A sweep stopped by Ctrl-C or
    SIGTERM prints its table so far and the command that resumes it."""
    try:
        hydra_task()
    except (KeyboardInterrupt, SystemExit) as stop:
        code = 130 if isinstance(stop, KeyboardInterrupt) else stop.code
        if sweep_stop.report_stop():
            raise SystemExit(code) from None
        raise
    if sweeps.failed_jobs:
        failed = ", ".join(map(str, sweeps.failed_jobs))
        print(f"mintnet-train: {len(sweeps.failed_jobs)} job(s) failed: {failed}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
