"""The committed records of the results pipeline: one folder of small text files per finished run,
``reproduction/records/fashion_mnist/<run>/`` (their files: ``README.md`` there), from which the
page is written on any machine. Only the pipeline writes a record, from a run folder whose job
finished, and atomically (a temporary folder renamed into place): whole or absent."""

import csv
import io
import json
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mintnet.callbacks.wall_clock import ELAPSED
from reproduction import metrics

__all__ = ["ANALYSIS", "MAX_BYTES", "RECORDS", "Record", "load_records", "machine", "write_files"]

RECORDS = Path(__file__).resolve().parent / "records" / "fashion_mnist"
"""Where the full profile's records are committed."""
MAX_BYTES = 200_000
"""The most a record may hold."""
ANALYSIS = "analysis"
"""The analysis' record folder, beside the runs' records."""

Row = dict[str, float]


def _read_csv(path: Path) -> list[Row]:
    with path.open(newline="") as file:
        rows = csv.DictReader(file)
        return [{k: float(v) for k, v in r.items() if k and v not in ("", None)} for r in rows]


def read_metrics(folder: Path) -> list[Row]:
    """The rows of ``<folder>/csv/version_*/metrics.csv``, oldest attempt first, as floats; rows
    of an attempt from the next attempt's first training step on are dropped (it repeats them)."""
    versions = (folder / "csv").glob("version_*/metrics.csv")
    rows: list[Row] = []
    for path in sorted(versions, key=lambda p: int(p.parent.name[8:])):
        new = [row for row in _read_csv(path) if row]
        if trained := [row["step"] for row in new if ELAPSED in row and "step" in row]:
            rows = [row for row in rows if row.get("step", -1.0) < min(trained)]
        rows += new
    return rows


def machine() -> dict[str, Any]:
    """Where and with what a record was measured (the threads: ``OMP_NUM_THREADS`` of the
    training processes, which the pipeline sets)."""
    from importlib.metadata import version

    import torch

    from mintnet.resolvers import available_cpus

    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    cpu = re.search(r"^model name\s*:\s*(.+)$", info, re.MULTILINE)
    try:
        git = ["git", "rev-parse", "HEAD"]
        head = subprocess.run(git, cwd=RECORDS.parent, capture_output=True, text=True).stdout
    except OSError:  # no git
        head = ""
    return {
        "cpu": cpu[1].strip() if cpu else platform.processor() or platform.machine(),
        "cpus_available": available_cpus(),
        "threads": int(os.environ.get("OMP_NUM_THREADS", "1")),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "mintnet": version("mintnet"),
        "commit": head.strip() or None,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


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


def as_json(value: Any) -> str:
    """The text of a record's JSON file."""
    return json.dumps(value, indent=1, sort_keys=True) + "\n"


def write_record(folder: Path, target: Path) -> Path:
    """The record of the finished job in ``folder``, written as ``target``; the long density
    run's adds the comparison's ``plan.json``, which the pipeline keeps beside its job folder."""
    rows, hydra = read_metrics(folder), folder / ".hydra"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(text := io.StringIO(), columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    test = {k: v for row in rows for k, v in row.items() if k.startswith("test/")}
    files = {name: (hydra / name).read_text() for name in ("overrides.yaml", "config.yaml")}
    files |= {"metrics.csv": text.getvalue(), "test.json": as_json(test)}
    files["machine.json"] = as_json(machine() | {"fit_seconds": metrics.fit_seconds(rows)})
    if (plan := folder.parent / "plan.json").is_file():
        files["plan.json"] = plan.read_text()
    return write_files(target, files)


@dataclass(frozen=True)
class Record:
    """A run's record, read back: its metrics' rows, test metrics, ``machine.json`` and, for the
    long density run, the comparison's ``plan.json`` (else None)."""

    rows: list[Row]
    test: dict[str, float]
    machine: dict[str, Any]
    plan: dict[str, Any] | None


def read_json(path: Path) -> Any:
    """A JSON file's value; None if there is no such file."""
    return json.loads(path.read_text()) if path.is_file() else None


def load_records(root: Path) -> dict[str, Record]:
    """Every run's record under ``root``, by name (``analysis/`` is read by the page itself)."""
    folders = sorted(root.iterdir()) if root.is_dir() else []
    return {
        path.name: Record(
            _read_csv(path / "metrics.csv"),
            *(read_json(path / name) for name in ("test.json", "machine.json", "plan.json")),
        )
        for path in folders
        if (path / "test.json").is_file()
    }
