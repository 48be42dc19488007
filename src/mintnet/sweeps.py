"""The jobs of a Hydra multirun: grouped on the dashboard, isolated from each other's failures,
and summarised at the end.

Every job of one ``python -m mintnet.train -m ...`` (basic sweeper, Optuna, or a submitit
launcher) shares ``hydra.sweep.dir``; :func:`record_sweep` turns it into a W&B group, so the
sweep's runs appear together, and logs the job's overrides next to the resolved config, so the
swept values are config columns.

A job that fails (a config error in one arm of the sweep, missing data, a diverged run, any
exception) does not end the sweep: ``mintnet.train`` logs the error with its traceback to the
job's ``train.log``, finishes its W&B run with a non-zero exit code, records the outcome in the
job's folder (:func:`record_job`, ``job_status.json``) and returns the worst value for the
sweep's direction (:func:`worst_value`); the Optuna sweeper reads the record and stores the trial
as FAIL with its reason, and goes on. When the multirun ends, :class:`SweepSummary` prints one table of all jobs, writes it to
``<sweep dir>/summary.csv``, and makes ``mintnet-train`` exit non-zero if any job failed.

Every sweep resumes: run again with the same ``hydra.sweep.dir``, a job whose folder records it
finished (ok or pruned) with the same overrides returns its recorded value without training
(:func:`finished_job`), an interrupted job continues from its own ``checkpoints/last.ckpt``, and
the others run. A job of an Optuna search reports to its trial at every validation and stops
when the study's pruner says so (:class:`TrialPruned`, status ``pruned``).
"""

import csv
import json
import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

__all__ = [
    "FINISHED",
    "JOB_STATUS_FILE",
    "SUMMARY_FILE",
    "SweepSummary",
    "TrialPruned",
    "failed_jobs",
    "finished_job",
    "pruned_runs",
    "record_job",
    "record_sweep",
    "summary_rows",
    "sweep_info",
    "swept_overrides",
    "worst_value",
    "write_summary",
]

log = logging.getLogger(__name__)

JOB_STATUS_FILE = "job_status.json"
"""A job's outcome, in its folder: ``{"job", "overrides", "status", "reason", "metric",
"value", "dir"}``."""

SUMMARY_FILE = "summary.csv"
"""The table of all jobs, in the sweep folder."""

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


def summary_rows(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """The outcome of every job under ``sweep_dir``, by job number: as recorded, or
    ``interrupted`` for a job folder without a record (its process was killed). A job folder is
    named by its number, or by what ``hydra.sweep.subdir`` makes of its config (an experiment
    that names its runs): any folder with Hydra's ``.hydra/`` or a record."""
    rows = []
    for folder in Path(sweep_dir).iterdir():
        recorded = (folder / ".hydra").is_dir() or (folder / JOB_STATUS_FILE).is_file()
        if not (folder.is_dir() and recorded):
            continue
        try:
            rows.append(json.loads((folder / JOB_STATUS_FILE).read_text()))
            continue
        except (OSError, ValueError):
            pass
        try:
            overrides = list(OmegaConf.load(folder / ".hydra" / "overrides.yaml"))
        except OSError:
            overrides = []
        rows.append(
            {
                "job": _job_number(folder),
                "overrides": overrides,
                "status": "interrupted",
                "reason": "the job's process ended before it finished",
                "metric": None,
                "value": None,
                "dir": str(folder),
            }
        )
    return sorted(rows, key=lambda row: (int(row["job"]), row["dir"]))


def _job_number(folder: Path) -> int:
    """The job's number: its folder's name, else Hydra's record of it (-1 if neither)."""
    if folder.name.isdigit():
        return int(folder.name)
    try:
        return int(OmegaConf.load(folder / ".hydra" / "hydra.yaml").hydra.job.num)
    except (OSError, ValueError, AttributeError):
        return -1


def swept_overrides(rows: list[dict[str, Any]]) -> list[list[str]]:
    """Each job's overrides without those shared by all jobs (all of them for a single job)."""
    shared = set.intersection(*(set(row["overrides"]) for row in rows)) if len(rows) > 1 else set()
    return [[o for o in row["overrides"] if o not in shared] for row in rows]


def _format_table(rows: list[dict[str, Any]], metric: str) -> str:
    header = ["job", "swept overrides", "status", metric, "run folder"]
    lines = []
    for row, overrides in zip(rows, swept_overrides(rows), strict=True):
        status = row["status"]
        status = (
            status
            if status == "ok"
            else f"{status.replace('interrupted', 'failed')}: {row['reason']}"
        )
        status = status if len(status) <= 100 else status[:99] + "…"  # whole in summary.csv
        value = "-" if row["value"] is None else f"{row['value']:.6g}"
        lines.append([str(row["job"]), " ".join(overrides), status, value, row["dir"]])
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)), r[-1]])
        for r in [header, *lines]
    )


def write_summary(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Write ``<sweep dir>/summary.csv``, note the failed jobs in :data:`failed_jobs`, print the
    table (nothing when the folder holds no job); returns the rows."""
    sweep_dir = Path(sweep_dir)
    rows = summary_rows(sweep_dir) if sweep_dir.is_dir() else []
    if not rows:
        return rows
    metric = next((r["metric"] for r in rows if r.get("metric")), "value")
    with (sweep_dir / SUMMARY_FILE).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["job", "overrides", "status", "reason", metric, "run_folder"])
        for row in rows:
            value = "" if row["value"] is None else row["value"]
            overrides = " ".join(row["overrides"])
            writer.writerow(
                [row["job"], overrides, row["status"], row["reason"], value, row["dir"]]
            )
    failed_jobs[:] = [int(r["job"]) for r in rows if r["status"] not in FINISHED]
    pruned = sum(r["status"] == "pruned" for r in rows)
    counts = f"{len(failed_jobs)} failed" + (f", {pruned} pruned" if pruned else "")
    print(f"\nsweep {sweep_dir}: {len(rows)} jobs, {counts} ({metric})")
    print(_format_table(rows, metric))
    print(f"table: {sweep_dir / SUMMARY_FILE}", flush=True)
    return rows


class SweepSummary(Callback):
    """Hydra callback (``hydra.callbacks`` in ``conf/train.yaml``): at the end of a multirun,
    print the table of its jobs (job, overrides, status, the value returned to the sweeper, run
    folder), write it to ``<sweep dir>/summary.csv``, and note the failed jobs in
    :data:`failed_jobs` so that ``mintnet-train`` exits non-zero (:func:`write_summary`)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        failed_jobs.clear()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        write_summary(config.hydra.sweep.dir)
