"""The committed records of the results pipeline: one folder of small text files per finished run,
``reproduction/records/fashion_mnist/<run>/``, from which the page is written on any machine.

A run's record holds ``overrides.yaml`` and ``config.yaml`` (Hydra's, as the job saved them),
``metrics.csv`` (the CSV logger's rows, resumed attempts merged), ``test.json`` (its test
metrics) and ``machine.json`` (CPU, threads, versions, commit, date, training time); the long
density run adds the comparison's ``plan.json``. The analysis
of the density model keeps ``analysis.json`` and ``inversion_accuracy.csv`` in ``analysis/``.

A record is only written by the pipeline, from a run folder whose job finished with its test
metrics logged, and atomically (a temporary folder renamed into place): whole or absent.
"""

import csv
import io
import json
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mintnet.callbacks.wall_clock import ELAPSED, EPOCH_END
from mintnet.sweeps import JOB_STATUS_FILE

__all__ = [
    "MAX_BYTES",
    "RECORDS",
    "Record",
    "finished",
    "load_records",
    "machine",
    "read_metrics",
    "write_files",
    "write_record",
]

RECORDS = Path(__file__).resolve().parent / "records" / "fashion_mnist"
"""Where the full profile's records are committed."""
MAX_BYTES = 200_000
"""The most a record may hold."""

Row = dict[str, float]


def read_metrics(folder: Path) -> list[Row]:
    """The rows of ``<folder>/csv/version_*/metrics.csv``, oldest attempt first, as floats; rows
    of an attempt from the next attempt's first training step on are dropped (it repeats them)."""
    versions = sorted(
        (folder / "csv").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:])
    )
    rows: list[Row] = []
    for path in versions:
        new = [row for row in _read_csv(path) if row]
        trained = [row["step"] for row in new if ELAPSED in row and "step" in row]
        if trained:
            rows = [row for row in rows if row.get("step", -1.0) < min(trained)]
        rows += new
    return rows


def _test_metrics(rows: list[Row]) -> dict[str, float]:
    return {k: v for row in rows for k, v in row.items() if k.startswith("test/")}


def finished(folder: Path) -> bool:
    """Whether the job in ``folder`` finished (``job_status.json`` says ok) with test metrics."""
    try:
        status = json.loads((folder / JOB_STATUS_FILE).read_text()).get("status")
    except (OSError, ValueError):
        return False
    return status == "ok" and bool(_test_metrics(read_metrics(folder)))


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str | None:
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head or None


def machine() -> dict[str, Any]:
    """Where and with what a record was measured (the threads: ``OMP_NUM_THREADS`` of the
    training processes, which the pipeline sets)."""
    from importlib.metadata import version

    import torch

    from mintnet.resolvers import available_cpus

    return {
        "cpu": _cpu(),
        "cpus_available": available_cpus(),
        "threads": int(os.environ.get("OMP_NUM_THREADS", "1")),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "mintnet": version("mintnet"),
        "commit": _commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _csv_text(rows: list[Row]) -> str:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: repr(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def write_files(target: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (name -> text) as the folder ``target``, atomically: into a temporary
    folder beside it, renamed once whole. Refuses more than :data:`MAX_BYTES`."""
    size = sum(len(text.encode()) for text in files.values())
    if size > MAX_BYTES:
        raise ValueError(f"record {target.name}: {size} bytes, over {MAX_BYTES}")
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for name, text in files.items():
            (tmp / name).write_text(text)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def write_record(folder: Path, target: Path, extra: dict[str, Any] | None = None) -> Path:
    """The record of the finished run in ``folder``, written as ``target``; ``extra``: more JSON
    files by name (the long density run's ``plan.json``)."""
    rows = read_metrics(folder)
    fit = max((row[k] for row in rows for k in (ELAPSED, EPOCH_END) if k in row), default=0.0)
    info = machine() | {"fit_seconds": fit}
    more = {name: json.dumps(value, indent=1) + "\n" for name, value in (extra or {}).items()}
    return write_files(
        target,
        {
            "overrides.yaml": (folder / ".hydra" / "overrides.yaml").read_text(),
            "config.yaml": (folder / ".hydra" / "config.yaml").read_text(),
            "metrics.csv": _csv_text(rows),
            "test.json": json.dumps(_test_metrics(rows), indent=1, sort_keys=True) + "\n",
            "machine.json": json.dumps(info, indent=1, sort_keys=True) + "\n",
        }
        | more,
    )


@dataclass(frozen=True)
class Record:
    """A run's record, read back: its metrics' rows, test metrics, ``machine.json`` and, for the
    long density run, the comparison's ``plan.json``."""

    rows: list[Row]
    test: dict[str, float]
    machine: dict[str, Any]
    plan: dict[str, Any] | None

    @classmethod
    def load(cls, path: Path) -> "Record":
        test, machine = (json.loads((path / f).read_text()) for f in ("test.json", "machine.json"))
        plan = (
            json.loads((path / "plan.json").read_text())
            if (path / "plan.json").is_file()
            else None
        )
        return cls(_read_csv(path / "metrics.csv"), test, machine, plan)


def _read_csv(path: Path) -> list[Row]:
    with path.open(newline="") as file:
        rows = csv.DictReader(file)
        return [{k: float(v) for k, v in r.items() if k and v not in ("", None)} for r in rows]


def load_records(root: Path) -> dict[str, Record]:
    """Every run's record under ``root``, by name (``analysis/`` is read by the page itself)."""
    if not root.is_dir():
        return {}
    return {
        path.name: Record.load(path)
        for path in sorted(root.iterdir())
        if path.is_dir() and (path / "test.json").is_file()
    }
