"""A run's numbers, read from the rows of its record's ``metrics.csv``."""

import math
import statistics

import numpy as np

from mintnet.callbacks.wall_clock import ELAPSED, EPOCH_END, EPOCH_TIME, PARAMS

__all__ = ["best", "curve", "epoch_seconds", "epochs", "fit_seconds", "params", "step_seconds"]

Rows = list[dict[str, float]]


def values(rows: Rows, key: str) -> list[float]:
    return [row[key] for row in rows if key in row]


def params(rows: Rows) -> int:
    return int(max(values(rows, PARAMS), default=0))


def steps(rows: Rows) -> int:
    """Training steps (optimizer updates)."""
    return int(max((row["step"] for row in rows if ELAPSED in row), default=-1)) + 1


def epochs(rows: Rows) -> int:
    return int(max((row["epoch"] for row in rows if EPOCH_END in row), default=-1)) + 1


def fit_seconds(rows: Rows) -> float:
    return max((row[k] for row in rows for k in (ELAPSED, EPOCH_END) if k in row), default=0.0)


def epoch_seconds(rows: Rows) -> float:
    """Median seconds of a whole epoch (training and validation); NaN if none was timed whole."""
    timed = values(rows, EPOCH_TIME)
    return statistics.median(timed) if timed else math.nan


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


def best(rows: Rows, key: str, mode: str = "min") -> float:
    found = values(rows, key)
    return (min if mode == "min" else max)(found) if found else math.nan


def curve(rows: Rows, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(steps, minutes, values)`` of ``key``; minutes interpolated from the logged clock."""
    points = [(row["step"], row[key]) for row in rows if key in row and "step" in row]
    x = np.array([s for s, _ in points], dtype=float)
    y = np.array([v for _, v in points], dtype=float)
    clock = sorted(
        {(row["step"], row[k]) for row in rows for k in (ELAPSED, EPOCH_END) if k in row}
    )
    if not clock:
        return x, np.full_like(x, np.nan), y
    xs, ts = zip(*clock, strict=True)
    return x, np.interp(x, xs, ts) / 60, y
