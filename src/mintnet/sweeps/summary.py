"""The table of a multirun's jobs, printed and written to ``<sweep dir>/summary.csv`` when the
multirun ends (see :mod:`mintnet.sweeps`)."""

import csv
import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from mintnet.sweeps.jobs import FINISHED, JOB_STATUS_FILE, failed_jobs

__all__ = ["SUMMARY_FILE", "SweepSummary", "summary_rows", "swept_overrides", "write_summary"]

SUMMARY_FILE = "summary.csv"
"""The table of all jobs, in the sweep folder."""


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
