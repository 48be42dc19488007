"""Train a model from the Hydra config: ``python -m mintnet.train`` (or ``mintnet-train``).

One run (``python -m mintnet.train [key=value ...]``) reports an expected error (a bad value,
missing data, a diverged run, a bad checkpoint) as one line on stderr and exits 1, any other
error with its traceback, and a SIGTERM with where the checkpoint is (exit 143). In a multirun
(``-m``, ``hparams_search=...``) a failing job does not stop the sweep: see :mod:`mintnet.sweeps`.
"""

import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.utilities.exceptions import MisconfigurationException, SIGTERMException

from mintnet import sweep_stop, sweeps, threads
from mintnet.callbacks.preemption import PREEMPTED_EXIT_CODE, report_stop, stop_reason
from mintnet.checkpoint import prepare_resume, resume_checkpoint
from mintnet.cli.reporting import reported_errors
from mintnet.config import ConfigError, fill_from_data, refused_key
from mintnet.dashboard import define_metrics, finish_run, open_runs, prepare_wandb
from mintnet.errors import MintNetError
from mintnet.pixel_baseline import pixel_baseline
from mintnet.resolvers import register as register_resolvers
from mintnet.run_log import keep_warnings, say

__all__ = ["RunResult", "main", "pixel_baseline", "train"]

register_resolvers()

log = logging.getLogger(__name__)
CONFIG_PATH = "conf"  # the package's configs (the repository's top-level conf/ links here)


def instantiate(cfg: DictConfig, key: str, name: str | None = None, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate(cfg[key])``, turning a constructor's refusal into a
    :class:`ConfigError` that names the config key that fed it (``model.flow.n_bins=1: ...``;
    ``name`` replaces ``key`` in it)."""
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
    open_runs(loggers)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    define_metrics(loggers, cfg.monitor)
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
    if cfg.get("seed") is not None:
        try:
            pl.seed_everything(cfg.seed, workers=True)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"seed={cfg.seed}: {error}; use an integer >= 0 or null") from error


@dataclass
class RunResult:
    """What a training run produced."""

    metrics: dict[str, float]
    output_dir: Path
    checkpoint: Path | None = None
    samples: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def train(cfg: DictConfig) -> RunResult:
    """Fit, then test the best checkpoint; return the logged metrics (floats) and the files.

    Errors are raised. Whatever happens, the W&B run (if one was opened) is finished, with exit
    code 0 on success, 143 on SIGTERM and 1 on an error, so the dashboard shows how it ended.
    """
    exit_code = 1
    try:
        result = _fit_and_test(cfg)
        exit_code = 0
        return result
    except SIGTERMException:
        exit_code = PREEMPTED_EXIT_CODE
        raise
    except sweeps.TrialPruned:  # the study's pruner stopped it: a decision, not an error
        exit_code = 0
        raise
    finally:
        finish_run(exit_code)


def _fit_and_test(cfg: DictConfig) -> RunResult:
    threads.configure_run(cfg)  # `threads: auto|N`; prints the run's `threads:` line
    _seed(cfg)
    datamodule, model, trainer = build(cfg)
    if cfg.get("train"):
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if cfg.get("test"):
        _seed(cfg)  # the same noise as `mintnet-eval` with this seed
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
        metrics |= {k: float(v) for k, v in trainer.callback_metrics.items()}
        if cfg.get("compare_pixel_baseline") and hasattr(model, "flow"):
            metrics["test/pixel_baseline_bpd"] = pixel_baseline(datamodule)
    samples = sorted(Path(trainer.default_root_dir).glob("samples/*.png"))
    return RunResult(
        metrics,
        Path(trainer.default_root_dir),
        Path(best) if best else None,
        samples[-1] if samples else None,
        {"best_model_score": _best_score(trainer)},
    )


def _best_score(trainer: pl.Trainer) -> float | None:
    """The monitored metric's best value as the checkpoint callback knows it (restored with a
    resumed run, even one that had no epoch left to validate)."""
    score = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
    return None if score is None else float(score)


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


def objective(cfg: DictConfig, result: RunResult) -> float | None:
    """The value returned to Hydra's sweeper: ``monitor.objective`` (by default the best value
    of the monitored metric during the run, e.g. ``val/bpd_best``), else the monitored metric."""
    metric = OmegaConf.select(cfg, "monitor.objective", default=None) or cfg.monitor.metric
    value = result.metrics.get(metric, result.metrics.get(cfg.monitor.metric))
    value = result.extra.get("best_model_score") if value is None else value
    return None if value is None else float(value)


def run_one(cfg: DictConfig) -> float | None:
    """A single run: expected errors become one line on stderr and exit status 1."""
    with reported_errors("mintnet-train"):
        try:
            result = train(cfg)
        except SIGTERMException as stop:
            report_stop(cfg, stop)
    if pl.utilities.rank_zero_only.rank == 0:
        say(summary(result))
    return objective(cfg, result)


def run_sweep_job(cfg: DictConfig) -> float:
    """One job of a multirun: a failure is logged (with its traceback, to the job's
    ``train.log``) and recorded, and the worst value for ``monitor.mode`` is returned, so the
    sweep goes on. A job that an earlier run of the sweep finished returns its recorded value; a
    trial stopped by the study's pruner is recorded as pruned. A SIGTERM still stops the whole
    sweep (exit 143)."""
    worst = sweeps.worst_value(cfg.monitor.mode)
    if (done := sweeps.finished_job(cfg)) is not None:
        print(
            f"mintnet-train: job {done['job']} finished before ({done['status']}): not run again"
        )
        return worst if done["value"] is None else done["value"]
    sweeps.pruned_runs.clear()
    try:
        result = train(cfg)
        if sweeps.pruned_runs:  # a DDP job, stopped by the pruner at the end of an epoch
            raise sweeps.pruned_runs.pop()
    except sweeps.TrialPruned as pruned:
        sweeps.record_job(cfg, "pruned", str(pruned), value=pruned.value)
        return worst if pruned.value is None else pruned.value
    except SIGTERMException as stop:
        sweeps.record_job(cfg, "failed", stop_reason(stop))
        report_stop(cfg, stop)
    except Exception as error:
        expected = isinstance(error, MintNetError)
        reason = str(error) if expected else f"{type(error).__name__}: {error}"
        reason = " ".join(reason.split())  # one line
        log.error("job failed: %s", reason, exc_info=not expected)
        print(f"mintnet-train: job failed: {reason}", file=sys.stderr)
        sweeps.record_job(cfg, "failed", reason)
        return worst
    value = objective(cfg, result)
    say(summary(result))
    if value is None or not math.isfinite(value):
        reason = f"no finite {cfg.monitor.metric} was logged"
        log.error("job failed: %s", reason)
        sweeps.record_job(cfg, "failed", reason)
        return worst
    sweeps.record_job(cfg, "ok", value=value)
    return value


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
def hydra_task(cfg: DictConfig) -> float | None:
    """The Hydra task: returns the objective so Hydra sweepers can optimise it."""
    keep_warnings()  # warnings go to train.log too
    if sweeps.sweep_info(cfg.get("task_name", "run")) is None:
        return run_one(cfg)
    return run_sweep_job(cfg)


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
