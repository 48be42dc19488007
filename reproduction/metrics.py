"""A run's numbers, read from the rows of its record's ``metrics.csv``: the keys that the models
and :class:`mintnet.callbacks.WallClock` log."""

import math
import statistics

import numpy as np

from mintnet.callbacks.wall_clock import ELAPSED, EPOCH_END, PARAMS

Rows = list[dict[str, float]]


def values(rows: Rows, key: str) -> list[float]:
    """Every logged value of ``key``, in order."""
    return [row[key] for row in rows if key in row]


def median(rows: Rows, key: str) -> float:
    """The median of ``key`` (WallClock's seconds of an epoch or a validation); NaN if none."""
    found = values(rows, key)
    return statistics.median(found) if found else math.nan


def best(rows: Rows, key: str) -> float:
    """The lowest value of ``key``; NaN if none."""
    return min(values(rows, key), default=math.nan)


def params(rows: Rows) -> int:
    """Trainable parameters."""
    return int(max(values(rows, PARAMS), default=0))


def steps(rows: Rows) -> int:
    """Training steps (optimizer updates)."""
    return int(max((row["step"] for row in rows if ELAPSED in row), default=-1)) + 1


def epochs(rows: Rows) -> int:
    """Epochs trained to their end."""
    return int(max((row["epoch"] for row in rows if EPOCH_END in row), default=-1)) + 1


def clock(rows: Rows) -> list[tuple[float, float]]:
    """``(step, seconds of fitting)`` of every row that logged the clock."""
    return sorted(
        {(row["step"], row[k]) for row in rows for k in (ELAPSED, EPOCH_END) if k in row}
    )


def fit_seconds(rows: Rows) -> float:
    """Seconds of fitting, validation included, resumed attempts summed."""
    return max((seconds for _, seconds in clock(rows)), default=0.0)


def step_seconds(rows: Rows) -> tuple[float, float]:
    """Seconds per training step within the first and the last epoch (validation excluded)."""
    by_epoch: dict[float, list[tuple[float, float]]] = {}
    for row in rows:
        if ELAPSED in row and "step" in row and "epoch" in row:
            by_epoch.setdefault(row["epoch"], []).append((row["step"], row[ELAPSED]))
    rates = [
        (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])
        for _, points in sorted(by_epoch.items())
        if len(points) > 1 and points[-1][0] > points[0][0]
    ]
    return (rates[0], rates[-1]) if rates else (math.nan, math.nan)


def curve(rows: Rows, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(steps, minutes, values)`` of ``key``; minutes interpolated from the logged clock."""
    points = np.array([(row["step"], row[key]) for row in rows if key in row and "step" in row])
    x, y = (points[:, 0], points[:, 1]) if len(points) else (np.zeros(0), np.zeros(0))
    xs, ts = zip(*clock(rows), strict=True)
    return x, np.interp(x, xs, ts) / 60, y
