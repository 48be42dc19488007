"""What other processes do with this process's cores, read from ``/proc/stat``, and a thread count
that follows it during a run (:class:`LoadFollower`).

Core counts here are in cores: ``1.0`` is one core kept busy for the whole sample.
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["IDLE_ROUNDING", "CpuSample", "LoadFollower", "idle_cores", "sample_cpu"]

IDLE_ROUNDING = 0.3
"""A core counts as free once at least ``1 - IDLE_ROUNDING`` of it was left idle by others."""

FOLLOW_SECONDS = 1.0
"""How often :class:`LoadFollower` measures the load (it acts on two measurements that agree)."""


def _my_cores() -> set[str]:
    try:
        return {f"cpu{c}" for c in os.sched_getaffinity(0)}
    except AttributeError:  # no affinity masks (macOS, Windows)
        return set()


def _cpu_times(cores: set[str]) -> dict[str, tuple[int, int]]:
    """``cpuN -> (idle, total)`` jiffies of ``cores`` from ``/proc/stat`` (empty without it)."""
    times = {}
    try:
        with open("/proc/stat") as file:
            for line in file:
                name, *fields = line.split()
                if name in cores:
                    ticks = [int(f) for f in fields[:8]]
                    times[name] = (ticks[3] + ticks[4], sum(ticks))  # idle + iowait, all
    except (OSError, ValueError, IndexError):
        return {}
    return times


@dataclass(frozen=True)
class CpuSample:
    """Cumulative counters at one moment: ``/proc/stat`` jiffies of this process's cores, this
    process's own CPU seconds (all its threads) and the monotonic clock."""

    jiffies: dict[str, tuple[int, int]]
    own_seconds: float
    clock: float

    def busy_elsewhere(self, earlier: "CpuSample") -> float | None:
        """Cores kept busy by other processes since ``earlier``: :math:`\\sum_c (1 -
        \\Delta\\mathrm{idle}_c / \\Delta\\mathrm{total}_c)` over this process's cores, less this
        process's CPU seconds per second. ``None`` when nothing can be measured."""
        names = self.jiffies.keys() & earlier.jiffies.keys()
        wall = self.clock - earlier.clock
        if not names or wall <= 0:
            return None
        busy = 0.0
        for name in names:
            d_idle = self.jiffies[name][0] - earlier.jiffies[name][0]
            d_total = self.jiffies[name][1] - earlier.jiffies[name][1]
            busy += 1.0 - d_idle / d_total if d_total > 0 else 0.0
        own = (self.own_seconds - earlier.own_seconds) / wall
        return max(0.0, busy - own)


def sample_cpu() -> CpuSample:
    """The counters now (see :class:`CpuSample`)."""
    return CpuSample(_cpu_times(_my_cores()), time.process_time(), time.monotonic())


def idle_cores(seconds: float = 0.2) -> float | None:
    """Cores of this process's affinity mask that other processes left idle over ``seconds``;
    ``None`` without ``/proc/stat``."""
    first = sample_cpu()
    if not first.jiffies:
        return None
    time.sleep(seconds)
    busy = sample_cpu().busy_elsewhere(first)
    return None if busy is None else max(0.0, len(first.jiffies) - busy)


class LoadFollower:
    """Keeps torch's intra-op threads at the cores other processes leave free, up to ``ceiling``.

    :meth:`update` is cheap and meant to be called often from the thread that runs the model (a
    training step's end, an analysis loop's progress): at most every ``interval`` seconds it
    measures the cores busy elsewhere, and once two measurements in a row give the same count
    ``n = clip(floor(cores - busy elsewhere + IDLE_ROUNDING), 1, ceiling)`` different from the
    current one, it sets ``torch.set_num_threads(n)`` (which applies to the calling thread's
    parallel regions). ``on_change(old, new, busy)`` is told each change.
    """

    def __init__(
        self,
        cores: int,
        ceiling: int,
        current: int,
        interval: float = FOLLOW_SECONDS,
        sample: Callable[[], CpuSample] = sample_cpu,
        on_change: Callable[[int, int, float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cores, self.ceiling, self.current = cores, max(1, ceiling), current
        self.interval, self._sample, self._on_change = interval, sample, on_change
        self._clock = clock
        self._last = sample()
        self._proposed: int | None = None
        self.changes = 0

    def target(self, busy_elsewhere: float) -> int:
        """The thread count for ``busy_elsewhere`` cores kept busy by other processes."""
        free = int(self.cores - busy_elsewhere + IDLE_ROUNDING)
        return min(self.ceiling, max(1, free))

    def update(self) -> int:
        """Measure if ``interval`` has passed, change the threads on a confirmed new count, and
        return the current count."""
        now = self._sample() if self._due() else None
        if now is None:
            return self.current
        busy = now.busy_elsewhere(self._last)
        self._last = now
        if busy is None:
            return self.current
        wanted = self.target(busy)
        if wanted == self.current:
            self._proposed = None
        elif wanted == self._proposed:
            old, self.current, self._proposed = self.current, wanted, None
            torch.set_num_threads(wanted)
            self.changes += 1
            if self._on_change is not None:
                self._on_change(old, wanted, busy)
        else:
            self._proposed = wanted
        return self.current

    def _due(self) -> bool:
        return self._clock() - self._last.clock >= self.interval
