"""A job of a multirun: its place in the sweep, its record, and a failure that does not end the
sweep (see :mod:`mintnet.sweeps`)."""

import json
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.utilities.exceptions import SIGTERMException

from mintnet.errors import MintNetError

__all__ = [
    "FINISHED",
    "JOB_STATUS_FILE",
    "TrialPruned",
    "failed_jobs",
    "finished_job",
    "pruned_runs",
    "record_job",
    "record_sweep",
    "run_job",
    "sweep_info",
    "worst_value",
]

log = logging.getLogger(__name__)

JOB_STATUS_FILE = "job_status.json"
"""A job's outcome, in its folder: ``{"job", "overrides", "status", "reason", "metric",
"value", "dir"}``."""

FINISHED = ("ok", "pruned")
"""The statuses of a job that is done: a rerun of the sweep does not train it again."""

pruned_runs: list["TrialPruned"] = []
"""Set by the pruning callback of a DDP job, which stops all ranks instead of raising."""

failed_jobs: list[int] = []
"""Job numbers that failed in the multirun this process last ran (read by ``mintnet-train``)."""


class TrialPruned(Exception):  # noqa: N818  (Optuna's name for it)
    """Raised by :class:`mintnet.callbacks.optuna_pruning.OptunaPruning` when the study's pruner
    stops the trial; ``value``: the monitored metric at that validation."""

    def __init__(self, reason: str, value: float | None = None) -> None:
        super().__init__(reason)
        self.value = value


def sweep_info(task_name: str) -> dict[str, Any] | None:
    """``{"group", "job", "dir", "overrides"}`` of the current Hydra multirun job, ``None`` outside
    one (single runs, tests that compose the config, DDP ranks > 0).

    ``group`` is ``<task_name>/<last folder of hydra.sweep.dir>``, e.g.
    ``train/multirun_2026-11-28_11-54-14``: the sweep's name and start time, the same in every
    job (Hydra resolves ``${now:...}`` once per sweep and ships it to submitit's workers).
    """
    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    sweep_dir = Path(hydra_cfg.sweep.dir)
    return {
        "group": f"{task_name}/{sweep_dir.name}",
        "job": int(hydra_cfg.job.num),
        "dir": str(sweep_dir),
        "overrides": list(hydra_cfg.overrides.task),
    }


def record_sweep(cfg: DictConfig) -> None:
    """In a multirun job, add ``cfg.sweep`` (see :func:`sweep_info`) and give the W&B logger the
    sweep's group and the run name ``<group>/<job number>``, unless the config sets them. In a
    trial of an Optuna search (``hydra.sweeper.trial``), add the pruning callback."""
    info = sweep_info(cfg.get("task_name", "run"))
    sweeper = HydraConfig.get().sweeper if HydraConfig.initialized() else None
    trial = sweeper.get("trial") if isinstance(sweeper, DictConfig) else None
    if info is None:
        if trial is not None:  # DDP rank > 0 of a trial: it joins rank 0's pruning decisions
            with open_dict(cfg):
                _add_pruning(cfg, None, int(trial))
        return
    with open_dict(cfg):
        cfg.sweep = info
        if trial is not None and sweeper.get("storage"):
            cfg.sweep.trial = trial
            _add_pruning(cfg, sweeper, int(trial))
        wandb = OmegaConf.select(cfg, "logger.wandb")
        if wandb is not None:
            if wandb.get("group") is None:
                wandb.group = info["group"]
            if wandb.get("name") is None:
                wandb.name = f"{info['group']}/{info['job']}"


def _add_pruning(cfg: DictConfig, sweeper: DictConfig | None, trial: int) -> None:
    """``callbacks.optuna_pruning``: the job reports to its trial and stops when pruned
    (``sweeper`` ``None``: a DDP rank > 0, which only follows rank 0)."""
    if cfg.get("callbacks") is None:
        cfg.callbacks = {}
    pruner = sweeper.get("pruner") if sweeper is not None else None
    cfg.callbacks.optuna_pruning = {
        "_target_": "mintnet.callbacks.OptunaPruning",
        "_recursive_": False,  # the callback builds the pruner (hydra.sweeper.pruner) itself
        "storage": sweeper.storage if sweeper is not None else None,
        "study_name": sweeper.study_name if sweeper is not None else None,
        "trial": trial,
        "monitor": cfg.monitor.metric,
        "pruner": OmegaConf.to_container(pruner, resolve=True) if pruner else None,
    }


def finished_job(cfg: DictConfig) -> dict[str, Any] | None:
    """The record of the current multirun job if an earlier run of the sweep finished it (status
    ok or pruned) with the same overrides, else ``None``: a rerun sweep skips it."""
    info = sweep_info(cfg.get("task_name", "run"))
    if info is None:
        return None
    try:
        record = json.loads(
            (Path(HydraConfig.get().runtime.output_dir) / JOB_STATUS_FILE).read_text()
        )
    except (OSError, ValueError):
        return None
    same = record.get("overrides") == info["overrides"]
    return record if same and record.get("status") in FINISHED else None


def worst_value(mode: str) -> float:
    """The value a failed job returns to a sweeper: ``inf`` when minimising, ``-inf`` when
    maximising, so it ranks below every real result."""
    if mode not in ("min", "max"):
        raise ValueError(f"monitor.mode must be 'min' or 'max', got {mode!r}")
    return math.inf if mode == "min" else -math.inf


def record_job(
    cfg: DictConfig, status: str, reason: str = "", value: float | None = None
) -> Path | None:
    """Write ``job_status.json`` in the current multirun job's folder (nothing outside a
    multirun); returns its path."""
    info = sweep_info(cfg.get("task_name", "run"))
    if info is None:
        return None
    folder = Path(HydraConfig.get().runtime.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "job": info["job"],
        "overrides": info["overrides"],
        "status": status,
        "reason": reason,
        "metric": OmegaConf.select(cfg, "monitor.objective", default=None),
        "value": value if value is None or math.isfinite(value) else None,
        "dir": str(folder),
    }
    path = folder / JOB_STATUS_FILE
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def run_job(cfg: DictConfig, run: Callable[[], float | None]) -> float:
    """One job of a multirun: ``run()`` trains it and returns its objective. A failure is logged
    (with its traceback, to the job's ``train.log``) and recorded, and the worst value for
    ``monitor.mode`` is returned, so the sweep goes on. A job that an earlier run of the sweep
    finished returns its recorded value without running; a trial stopped by the study's pruner
    is recorded as pruned. A stop signal is recorded and raised: it stops the whole sweep."""
    worst = worst_value(cfg.monitor.mode)
    if (done := finished_job(cfg)) is not None:
        print(
            f"mintnet-train: job {done['job']} finished before ({done['status']}): not run again"
        )
        return worst if done["value"] is None else done["value"]
    pruned_runs.clear()
    try:
        value = run()
        if pruned_runs:  # a DDP job, stopped by the pruner at the end of an epoch
            raise pruned_runs.pop()
    except TrialPruned as pruned:
        record_job(cfg, "pruned", str(pruned), value=pruned.value)
        return worst if pruned.value is None else pruned.value
    except SIGTERMException as stop:  # the reason is set by mintnet.callbacks.PreemptionCheckpoint
        record_job(cfg, "failed", str(stop) or "stopped by SIGTERM")
        raise
    except Exception as error:
        expected = isinstance(error, MintNetError)
        reason = str(error) if expected else f"{type(error).__name__}: {error}"
        reason = " ".join(reason.split())  # one line
        log.error("job failed: %s", reason, exc_info=not expected)
        print(f"mintnet-train: job failed: {reason}", file=sys.stderr)
        record_job(cfg, "failed", reason)
        return worst
    if value is None or not math.isfinite(value):
        reason = f"no finite {cfg.monitor.metric} was logged"
        log.error("job failed: %s", reason)
        record_job(cfg, "failed", reason)
        return worst
    record_job(cfg, "ok", value=value)
    return value
