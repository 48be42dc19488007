"""The time the results pipeline took, read from its folders: each training run's attempts
(``wall.json``: Unix start and end of every training process), the independent-pixel baseline's
and the analysis' seconds. Runs that ran at the same time are counted once in the wall time."""

from collections.abc import Sequence
from pathlib import Path

from reproduction.runs import attempts, wall_time

__all__ = ["Span", "busy_seconds", "most_at_once", "steps_wall_seconds"]

Span = tuple[float, float]
"""``(start, end)`` of a training process, Unix seconds."""


def busy_seconds(spans: Sequence[Span]) -> float:
    """Seconds during which at least one of ``spans`` was running (their union's length)."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def most_at_once(spans: Sequence[Span]) -> int:
    """The largest number of ``spans`` running at the same moment (0 without spans)."""
    events = sorted([(start, 1) for start, _ in spans] + [(stop, -1) for _, stop in spans])
    running = most = 0
    for _, change in events:  # at equal times an end (-1) sorts before a start (+1)
        running += change
        most = max(most, running)
    return most


def steps_wall_seconds(run_folders: Sequence[Path], other_seconds: float) -> float:
    """Wall time of the pipeline's steps: the training processes of ``run_folders`` (concurrent
    ones counted once) plus ``other_seconds`` (the work done in the pipeline's own process).

    Attempts recorded without their start and end (an older ``wall.json``) ran one at a time:
    their seconds are added as they are.
    """
    spans = [span for folder in run_folders for span in attempts(folder)]
    unplaced = sum(
        max(0.0, wall_time(folder) - sum(b - a for a, b in attempts(folder)))
        for folder in run_folders
    )
    return busy_seconds(spans) + unplaced + other_seconds
