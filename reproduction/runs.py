"""Training runs of the results pipeline: one ``python -m mintnet.train`` subprocess each, in a fixed
folder, skipped when finished and resumed from ``checkpoints/last.ckpt`` when not
(:mod:`reproduction.processes` starts them); and their CSV logs read back.

A run is finished when ``done.json`` is in its folder: the pipeline writes it after the training
process succeeded and its test metrics were found in the CSV log.
"""

import csv
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mintnet.callbacks.wall_clock import ELAPSED

__all__ = [
    "DONE",
    "WALL",
    "Log",
    "Run",
    "RunFailed",
    "add_attempt",
    "attempts",
    "last_checkpoint",
    "read_json",
    "read_metrics",
    "series",
    "shown_command",
    "wall_time",
    "write_json",
]

DONE = "done.json"
"""The marker of a finished run (or step), with its final metrics and the command."""

WALL_CLOCK = "+callbacks.wall_clock={_target_:mintnet.callbacks.WallClock}"
"""Adds :class:`mintnet.callbacks.WallClock` to a run's callbacks."""

Row = dict[str, float]
Log = Callable[[str], None]
"""Where the pipeline's progress lines go (``print`` by default)."""


class RunFailed(RuntimeError):
    """A training subprocess exited non-zero, or finished without test metrics."""


@dataclass(frozen=True)
class Run:
    """One training run of the pipeline.

    Attributes:
        name: its folder under ``<out>/runs``.
        overrides: Hydra overrides of ``python -m mintnet.train``; the folder, the CSV logger, the
            seed and the wall clock are added by :meth:`command`.
        seed: the run's ``seed=`` (weights, data order, augmentation).
    """

    name: str
    overrides: tuple[str, ...]
    seed: int = 0

    def folder(self, out: Path) -> Path:
        return out / "runs" / self.name

    def base_command(self, out: Path, python: str = sys.executable) -> list[str]:
        """The training command from scratch: the overrides, a CSV logger, the seed, the folder."""
        argv = [python, "-m", "mintnet.train", *self.overrides, "logger=csv", f"seed={self.seed}"]
        return argv + [f"hydra.run.dir={self.folder(out)}", WALL_CLOCK]

    def command(
        self, out: Path, python: str = sys.executable, progress_bar: bool | None = None
    ) -> list[str]:
        """:meth:`base_command`, resumed from ``last.ckpt`` when the folder holds one; without the
        progress bar unless ``progress_bar`` (default: whether the output is a terminal)."""
        folder = self.folder(out)
        argv = self.base_command(out, python)
        if not (sys.stdout.isatty() if progress_bar is None else progress_bar):
            # a log file: WallClock prints a line per epoch instead
            argv += ["callbacks.progress_bar=null", "++trainer.enable_progress_bar=false"]
        resume = last_checkpoint(folder)
        if resume is not None:
            argv.append(f"ckpt_path={resume}")
        return argv

    def done(self, out: Path) -> dict[str, Any] | None:
        """The run's ``done.json``, or None while it is not finished."""
        return read_json(self.folder(out) / DONE)

    def trained(self, out: Path) -> bool:
        """Whether the run's log holds test metrics (its training process got to the end)."""
        return _has_test_metrics(read_metrics(self.folder(out)))

    def finish(self, out: Path) -> dict[str, Any]:
        """Write and return the ``done.json`` record of a run whose log holds test metrics."""
        folder = self.folder(out)
        rows = read_metrics(folder)
        if not _has_test_metrics(rows):
            raise RunFailed(f"{self.name}: finished without test metrics in {folder}/csv")
        record = {
            "name": self.name,
            "command": shown_command(self.base_command(out)),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_seconds": wall_time(folder),
            "test": {k: v for k, v in final_values(rows).items() if k.startswith("test/")},
        }
        write_json(folder / DONE, record)
        return record


WALL = "wall.json"
"""Seconds the training processes of a run took, summed over its attempts (start-up, fitting,
testing, and any interrupted attempt), and each attempt's start and end (Unix time)."""


def wall_time(folder: Path) -> float:
    """Seconds of the run's training processes, summed over its attempts."""
    return float((read_json(folder / WALL) or {}).get("seconds", 0.0))


def attempts(folder: Path) -> list[tuple[float, float]]:
    """``(start, end)`` in Unix seconds of each recorded attempt of the run, oldest first (a
    ``wall.json`` written before intervals were recorded has none)."""
    return [(float(a), float(b)) for a, b in (read_json(folder / WALL) or {}).get("spans", [])]


def add_attempt(folder: Path, start: float, end: float) -> None:
    """Add one attempt (its Unix start and end) to the run's ``wall.json``."""
    record = read_json(folder / WALL) or {}
    write_json(
        folder / WALL,
        {
            "seconds": wall_time(folder) + (end - start),
            "attempts": record.get("attempts", 0) + 1,
            "spans": [*record.get("spans", []), [start, end]],
        },
    )


def last_checkpoint(folder: Path) -> Path | None:
    path = folder / "checkpoints" / "last.ckpt"
    return path if path.is_file() else None


def read_metrics(folder: Path) -> list[Row]:
    """The rows of ``<folder>/csv/version_*/metrics.csv``, oldest attempt first, as floats.

    A resumed attempt starts a new version. Rows of earlier attempts from the new one's first
    training step on are dropped: an attempt that stopped between checkpoints logged steps that
    the next one repeats.
    """
    versions = sorted(
        (folder / "csv").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:])
    )
    rows: list[Row] = []
    for path in versions:
        with path.open(newline="") as file:
            new = [_floats(row) for row in csv.DictReader(file)]
        new = [row for row in new if row]
        trained = [row["step"] for row in new if ELAPSED in row and "step" in row]
        if trained:
            rows = [row for row in rows if row.get("step", -1.0) < min(trained)]
        rows += new
    return rows


def _floats(row: dict[str, str | None]) -> Row:
    return {k: float(v) for k, v in row.items() if k and v not in ("", None)}


def series(rows: Sequence[Row], key: str, x: str = "step") -> list[tuple[float, float]]:
    """``(x, value)`` of every row holding both ``x`` and ``key``, in log order."""
    return [(row[x], row[key]) for row in rows if key in row and x in row]


def final_values(rows: Sequence[Row]) -> dict[str, float]:
    """The last value logged under each key."""
    last: dict[str, float] = {}
    for row in rows:
        last.update(row)
    return last


def _has_test_metrics(rows: Sequence[Row]) -> bool:
    return any(k.startswith("test/") for row in rows for k in row)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Write atomically (a temporary file, then a rename): a marker is whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def shown_command(argv: Sequence[str]) -> str:
    """``argv`` for a shell, with the interpreter shown as ``python`` and paths under the working
    directory made relative."""
    cwd = str(Path.cwd()) + os.sep
    parts = ["python" if i == 0 else a.replace(cwd, "") for i, a in enumerate(argv)]
    return shlex.join(parts)
