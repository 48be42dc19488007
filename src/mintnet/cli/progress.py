"""A progress bar with an estimate of the time left, for the analysis commands' long work."""

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mintnet.threads import follow_load

__all__ = ["progress_bar"]

LINES = 10
"""Without a terminal (output to a file), one line per tenth of the work instead of a bar."""


@contextlib.contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(units)``; on stderr, a bar with the elapsed and the estimated remaining
    time when stderr is a terminal, else ``description: done/total, elapsed, ~left`` lines.
    Each ``advance`` also lets the thread policy follow the machine's load
    (:func:`mintnet.threads.follow_load`)."""
    console = Console(stderr=True)
    if console.is_terminal:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(description, total=total)

            def advance_bar(units: int) -> None:
                bar.advance(task, units)
                follow_load()

            yield advance_bar
        return
    start, done, shown = time.monotonic(), 0, 0

    def advance(units: int) -> None:
        nonlocal done, shown
        done += units
        follow_load()
        if total and done * LINES // total > shown:
            shown = done * LINES // total
            spent = time.monotonic() - start
            left = spent * (total - done) / max(done, 1)
            print(
                f"{description}: {done}/{total}, {spent:.0f} s, about {left:.0f} s left",
                file=sys.stderr,
                flush=True,
            )

    yield advance
