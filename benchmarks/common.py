"""Timing, result files and tables shared by the benchmarks."""

import json
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Timing:
    """Medians over repeats of one measured callable, in seconds.

    ``wall`` is elapsed time; ``cpu`` is the process's CPU time (all threads), which moves less
    than wall time when other jobs share the cores.
    """

    wall: float
    cpu: float


def round_robin(
    fns: dict[str, Callable[[], Any]], reps: int, warmup: int = 1
) -> dict[str, Timing]:
    """Time each callable ``reps`` times, interleaved (a, b, c, a, b, c, ...), after ``warmup`` runs
    of each; return the median wall and CPU time of each."""
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    walls: dict[str, list[float]] = {name: [] for name in fns}
    cpus: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            cpu0, wall0 = time.process_time(), time.perf_counter()
            fn()
            walls[name].append(time.perf_counter() - wall0)
            cpus[name].append(time.process_time() - cpu0)
    return {n: Timing(statistics.median(walls[n]), statistics.median(cpus[n])) for n in fns}


def environment() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def write_result(
    name: str, rows: list[dict[str, Any]], settings: dict[str, Any], out_dir: Path
) -> Path:
    """Write ``<out_dir>/<name>.json`` with the rows, the settings and the environment."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    payload = {
        "name": name,
        "settings": settings,
        "environment": environment(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "rows": rows,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A Markdown table of ``columns`` from ``rows`` (floats to 3 significant digits)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}"
        return "-" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
