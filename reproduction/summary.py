"""A run of the results pipeline as numbers: everything read from its CSV log
(``runs/<name>/csv/version_*/metrics.csv``)."""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mintnet.callbacks.wall_clock import ELAPSED, EPOCH_END, EPOCH_TIME, PARAMS
from reproduction.runs import Row, Run, final_values, read_metrics, series

__all__ = ["RunSummary", "summarize"]


@dataclass
class RunSummary:
    """The numbers of one run, all read from its CSV log."""

    name: str
    rows: list[Row]
    command: str

    @property
    def final(self) -> dict[str, float]:
        return final_values(self.rows)

    def test(self, key: str) -> float:
        return self.final[f"test/{key}"]

    @property
    def params(self) -> int:
        return int(self.final.get(PARAMS, 0))

    @property
    def steps(self) -> int:
        """Training steps (optimizer updates)."""
        return int(max((row["step"] for row in self.rows if ELAPSED in row), default=-1)) + 1

    @property
    def epochs(self) -> int:
        return int(max((row["epoch"] for row in self.rows if EPOCH_END in row), default=-1)) + 1

    @property
    def fit_seconds(self) -> float:
        times = [row[k] for row in self.rows for k in (ELAPSED, EPOCH_END) if k in row]
        return max(times, default=0.0)

    @property
    def epoch_seconds(self) -> float:
        """Median seconds of a whole epoch (training and validation)."""
        return float(
            np.median([v for _, v in series(self.rows, EPOCH_TIME, "epoch")] or [math.nan])
        )

    def step_seconds(self) -> tuple[float, float]:
        """Seconds per training step within the first and the last epoch (validation excluded),
        from the clock logged with the steps."""
        by_epoch: dict[float, list[tuple[float, float]]] = {}
        for row in self.rows:
            if ELAPSED in row and "step" in row and "epoch" in row:
                by_epoch.setdefault(row["epoch"], []).append((row["step"], row[ELAPSED]))
        rates = [
            (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])
            for _, points in sorted(by_epoch.items())
            if len(points) > 1 and points[-1][0] > points[0][0]
        ]
        return (rates[0], rates[-1]) if rates else (math.nan, math.nan)

    def best(self, key: str, mode: str = "min") -> float:
        values = [v for _, v in series(self.rows, key)]
        return (min if mode == "min" else max)(values) if values else math.nan

    def curve(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(steps, minutes, values)`` of ``key``; minutes interpolated from the logged clock."""
        points = series(self.rows, key)
        steps = np.array([s for s, _ in points], dtype=float)
        values = np.array([v for _, v in points], dtype=float)
        clock = sorted(
            {(row["step"], row[k]) for row in self.rows for k in (ELAPSED, EPOCH_END) if k in row}
        )
        if clock:
            xs, ts = zip(*clock, strict=True)
            minutes = np.interp(steps, xs, ts) / 60
        else:
            minutes = np.full_like(steps, np.nan)
        return steps, minutes, values


def summarize(run: Run, out: Path) -> RunSummary:
    """A run's numbers, or FileNotFoundError if it has not finished."""
    record = run.done(out)
    if record is None:
        raise FileNotFoundError(
            f"run {run.name} has not finished ({run.folder(out)}); run the pipeline first"
        )
    return RunSummary(run.name, read_metrics(run.folder(out)), record["command"])
