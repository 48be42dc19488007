"""Training runs of the results pipeline: one ``python -m mintnet.train`` subprocess each, in a fixed
folder, skipped when finished and resumed from ``checkpoints/last.ckpt`` when not; and their CSV
logs read back.

A run is finished when ``done.json`` is in its folder: the pipeline writes it after the training
process succeeded and its test metrics were found in the CSV log.
"""

import contextlib
import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from mintnet.callbacks.wall_clock import ELAPSED

__all__ = [
    "DONE",
    "Interrupted",
    "Run",
    "RunFailed",
    "child_env",
    "forward_signals",
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


class RunFailed(RuntimeError):
    """A training subprocess exited non-zero, or finished without test metrics."""


class Interrupted(RuntimeError):
    """The pipeline was asked to stop (SIGTERM or SIGINT); its children were stopped too."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


@dataclass(frozen=True)
class Run:
    """One training run of the pipeline.

    Attributes:
        name: its folder under ``<out>/runs``.
        overrides: Hydra overrides of ``python -m mintnet.train``; the folder, the CSV logger, the
            seed and the wall clock are added by :meth:`command`.
    """

    name: str
    overrides: tuple[str, ...]

    def folder(self, out: Path) -> Path:
        return out / "runs" / self.name

    def base_command(self, out: Path, python: str = sys.executable) -> list[str]:
        """The training command from scratch: the overrides, a CSV logger, seed 0, the folder."""
        argv = [python, "-m", "mintnet.train", *self.overrides]
        return argv + ["logger=csv", "seed=0", f"hydra.run.dir={self.folder(out)}", WALL_CLOCK]

    def command(self, out: Path, python: str = sys.executable) -> list[str]:
        """:meth:`base_command`, resumed from ``last.ckpt`` when the folder holds one, without the
        progress bar when the output is not a terminal."""
        folder = self.folder(out)
        argv = self.base_command(out, python)
        if not sys.stdout.isatty():  # a log file: WallClock prints a line per epoch instead
            argv += ["callbacks.progress_bar=null", "++trainer.enable_progress_bar=false"]
        resume = last_checkpoint(folder)
        if resume is not None:
            argv.append(f"ckpt_path={resume}")
        return argv

    def done(self, out: Path) -> dict[str, Any] | None:
        """The run's ``done.json``, or None while it is not finished."""
        return read_json(self.folder(out) / DONE)

    def execute(self, out: Path, log: Any = print) -> dict[str, Any]:
        """Train (or resume) unless finished; returns the ``done.json`` record."""
        record = self.done(out)
        if record is not None:
            log(f"[skip] {self.name}: finished ({self.folder(out) / DONE})")
            return record
        folder = self.folder(out)
        rows = read_metrics(folder)
        if not _has_test_metrics(rows):
            argv = self.command(out)
            verb = (
                "resuming from last.ckpt" if any("ckpt_path=" in a for a in argv) else "training"
            )
            log(f"[run] {self.name}: {verb}; logs in {folder}")
            log(f"      {shown_command(argv)}")
            started = time.time()
            try:
                code = _run_child(argv)
            finally:
                _add_wall_time(folder, time.time() - started)
            if code != 0:
                raise RunFailed(
                    f"{self.name}: the training process exited with code {code}; its logs are in "
                    f"{folder} (run the pipeline again to resume from checkpoints/last.ckpt)"
                )
            rows = read_metrics(folder)
            if not _has_test_metrics(rows):
                raise RunFailed(f"{self.name}: finished without test metrics in {folder}/csv")
            log(f"[done] {self.name} in {(time.time() - started) / 60:.1f} min")
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
testing, and any interrupted attempt)."""


def wall_time(folder: Path) -> float:
    return float((read_json(folder / WALL) or {}).get("seconds", 0.0))


def _add_wall_time(folder: Path, seconds: float) -> None:
    attempts = (read_json(folder / WALL) or {}).get("attempts", 0) + 1
    write_json(folder / WALL, {"seconds": wall_time(folder) + seconds, "attempts": attempts})


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


def child_env() -> dict[str, str]:
    """The environment of the children: one thread each unless ``OMP_NUM_THREADS`` is set."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


_child: subprocess.Popen[bytes] | None = None
_stop: list[int] = []  # the signals received inside forward_signals()


def _run_child(argv: Sequence[str]) -> int:
    """Run a training process to its end; raise :class:`Interrupted` if a signal came meanwhile
    (the child got it too, and has saved its checkpoint and exited)."""
    global _child
    if _stop:
        raise Interrupted(_stop[0])
    _child = subprocess.Popen(argv, env=child_env())
    try:
        code = _child.wait()
    finally:
        _child = None
    if _stop:
        raise Interrupted(_stop[0])
    return code


@contextlib.contextmanager
def forward_signals() -> Iterator[None]:
    """Within this context, SIGTERM or SIGINT stops the pipeline: a running training process gets
    the signal too, the pipeline waits for it to save ``last.ckpt`` and exit, then raises
    :class:`Interrupted`; with no training running it raises at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        _stop.append(signum)
        child = _child
        if child is not None and child.returncode is None:
            if signum != signal.SIGINT:  # Ctrl-C reaches the whole process group by itself
                child.send_signal(signum)
            return  # _run_child's wait() returns once the child has exited
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    _stop.clear()
    try:
        yield
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)
