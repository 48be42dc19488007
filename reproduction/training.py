"""Training the runs that have no record: which ones (:func:`choose`: all, ``--only``, or as many
as fit ``--budget``), the long density run's plan from the comparison's records (:func:`plan`),
and each step as one ``mintnet-train -m`` sweep (:func:`sweeps`, :func:`train`).

A step's jobs run in ``<out>/<step>/<run>/`` (``hydra.sweep.dir`` is the step's folder, each
experiment names its job folder): run again, the sweep resumes an interrupted job from its
``checkpoints/last.ckpt`` (``ckpt_path: auto``). A job's record is written as soon as it finishes.
"""

import math
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from mintnet.callbacks.wall_clock import EPOCH_TIME, VAL_TIME
from reproduction.profiles import Profile, Run
from reproduction.records import Record, finished, write_record

__all__ = ["QUICK_CONF", "Stopped", "choose", "command", "plan", "sweeps", "train"]

QUICK_CONF = Path(__file__).resolve().parent / "conf"
"""The quick profile's experiment configs, added to Hydra's search path."""
POLL_SECONDS = 1.0


class Stopped(RuntimeError):
    """The pipeline got SIGTERM; its sweep was stopped (its jobs saved ``last.ckpt``)."""


def choose(
    runs: Sequence[Run], done: Iterable[str], only: Sequence[str] = (), budget: float | None = None
) -> list[Run]:
    """The runs to train now, in training order: those of ``only`` (names) that have no record;
    else, with ``budget`` (minutes), each run without a record that fits what is left of it
    (the long density run only with both candidates recorded or chosen); else every run
    without a record."""
    names = {r.name for r in runs}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ValueError(f"no run {', '.join(unknown)}; the runs: {', '.join(sorted(names))}")
    done = set(done)
    missing = [r for r in runs if r.name not in done]
    if only:
        return [r for r in missing if r.name in only]
    if budget is None:
        return missing
    chosen: list[Run] = []
    for run in missing:
        ready = {r.name for r in chosen} | done
        compares = {r.name for r in runs if r.step == "density_compare"}
        if run.name == "density" and not compares <= ready:
            continue
        if run.minutes <= budget - sum(r.minutes for r in chosen):
            chosen.append(run)
    return chosen


def _median(values: list[float]) -> float:
    values = sorted(values)
    if not values:
        return math.nan
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def plan(profile: Profile, compares: dict[str, Record]) -> dict[str, Any]:
    """The comparison's winner (the lower best validation bits/dim) and the long run's epochs:
    the budget divided by the winner's measured time per epoch (its time per step times the long
    run's batches, plus a validation)."""
    scores = {}
    for name, record in compares.items():
        rows = record.rows
        val = [r["val/bpd"] for r in rows if "val/bpd" in r]
        epoch = _median([r[EPOCH_TIME] for r in rows if EPOCH_TIME in r])
        val_s = _median([r[VAL_TIME] for r in rows if VAL_TIME in r])
        scores[name.removeprefix("density_compare_")] = {
            "best_val_bpd": min(val),
            "seconds_per_step": (epoch - val_s) / profile.compare_batches,
            "val_seconds": val_s,
        }
    winner = min(scores, key=lambda name: scores[name]["best_val_bpd"])
    return {"winner": winner, "scores": scores, **_epochs(profile, scores[winner])}


def _epochs(profile: Profile, speed: dict[str, float]) -> dict[str, Any]:
    seconds = speed["seconds_per_step"] * profile.density_batches + speed["val_seconds"]
    epochs = profile.density_max_epochs
    if math.isfinite(seconds) and seconds > 0:
        epochs = max(1, min(epochs, int(profile.density_seconds // seconds)))
    return {"budget_seconds": profile.density_seconds, "epoch_seconds": seconds, "epochs": epochs}


def sweeps(runs: Sequence[Run], winner: str | None) -> list[tuple[str, list[str], list[int]]]:
    """``(step, experiments, seeds)`` of each sweep that trains ``runs``: per step, the
    experiments that share their seeds in one sweep, the seeds first (the slower sweep value),
    so both classifiers of a seed train before the next seed."""
    out: list[tuple[str, list[str], list[int]]] = []
    for step in dict.fromkeys(r.step for r in runs):
        seeds: dict[str, list[int]] = {}
        for r in runs:
            if r.step == step:
                experiment = r.experiment.replace("<winner>", winner or "?")
                seeds.setdefault(experiment, []).append(r.seed)
        by_seeds: dict[tuple[int, ...], list[str]] = {}
        for experiment, values in seeds.items():
            by_seeds.setdefault(tuple(values), []).append(experiment)
        out += [(step, experiments, list(s)) for s, experiments in by_seeds.items()]
    return out


def command(
    profile: Profile, out: Path, data_root: str, sweep: tuple[str, list[str], list[int]]
) -> list[str]:
    """The ``mintnet-train -m`` command line of one sweep."""
    step, experiments, seeds = sweep
    argv = [sys.executable, "-m", "mintnet.train", "-m", f"seed={','.join(map(str, seeds))}"]
    argv += [f"experiment={','.join(f'{profile.folder}/{e}' for e in experiments)}"]
    argv += [f"paths.data_dir={data_root}", "callbacks.progress_bar=null"]
    argv += ["++trainer.enable_progress_bar=false"]  # WallClock prints a line per epoch
    argv += [f"hydra.sweep.dir={out / step}"]
    if profile.name == "quick":
        argv.append(f"hydra.searchpath=[file://{QUICK_CONF}]")
    return argv


def train(
    argv: list[str],
    runs: Sequence[Run],
    out: Path,
    records: Path,
    log: Callable[[str], None],
    extra: dict[str, Any] | None = None,
) -> list[str]:
    """Run one sweep, writing each of ``runs``' records as its job finishes; returns the names
    recorded. SIGTERM stops the sweep (its running job saves ``last.ckpt``) and raises
    :class:`Stopped` once it has exited."""
    received: list[int] = []
    process = subprocess.Popen(argv)

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        if process.poll() is None:
            process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    recorded: list[str] = []
    try:
        while True:
            ended = process.poll() is not None
            for run in runs:
                folder, target = out / run.step / run.name, records / run.name
                if run.name not in recorded and not target.exists() and finished(folder):
                    write_record(folder, target, extra)
                    recorded.append(run.name)
                    log(f"[record] {run.name}: {target}")
            if ended:
                break
            time.sleep(POLL_SECONDS)
    except BaseException:  # Ctrl-C, or a record that cannot be written: the sweep stops too
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    if received:
        raise Stopped(f"stopped by SIGTERM (the sweep exited with code {process.returncode})")
    return recorded
