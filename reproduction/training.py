"""Training the runs that have no record: which ones (:func:`choose`: all, ``--only``, or as many
as fit ``--budget``), the long density run's plan from the comparison's records (:func:`plan`),
and each step as one ``mintnet-train -m`` sweep in ``<out>/<step>/`` (:func:`sweeps`,
:func:`command`, :func:`train`), whose jobs are recorded as they finish; run again, the sweep
resumes an interrupted job from its ``checkpoints/last.ckpt``."""

import json
import math
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mintnet.callbacks.wall_clock import EPOCH_TIME, VAL_TIME
from mintnet.sweeps import summary_rows
from reproduction import metrics
from reproduction.profiles import CANDIDATES, Profile, Run
from reproduction.records import load_records, write_record

__all__ = ["Stopped", "choose", "command", "plan", "record_finished", "sweeps", "train"]

QUICK_CONF = Path(__file__).resolve().parent / "conf"
"""The quick profile's experiment configs, added to Hydra's search path."""
POLL_SECONDS = 1.0
Sweep = tuple[str, list[str], list[int]]
"""``(step, experiments, seeds)`` of one ``-m`` sweep."""


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
    if unknown := [n for n in only if n not in names]:
        raise ValueError(f"no run {', '.join(unknown)}; the runs: {', '.join(sorted(names))}")
    done = set(done)
    missing = [r for r in runs if r.name not in done and (not only or r.name in only)]
    if only or budget is None:
        return missing
    chosen: list[Run] = []
    for run in missing:
        ready = {r.name for r in chosen} | done
        if run.name == "density" and not {f"density_compare_{c}" for c in CANDIDATES} <= ready:
            continue
        if run.minutes <= budget - sum(r.minutes for r in chosen):
            chosen.append(run)
    return chosen


def plan(profile: Profile, out: Path, records: Path) -> dict[str, Any]:
    """The comparison's winner (the lower best validation bits/dim) and the long run's epochs:
    the budget divided by the winner's measured time per epoch (its time per step times the long
    run's batches, plus a validation); kept as ``<out>/density/plan.json``, beside its job."""
    scores = {}
    for name, record in load_records(records).items():
        if name.startswith("density_compare_"):
            val_s = metrics.median(record.rows, VAL_TIME)
            epoch_s = metrics.median(record.rows, EPOCH_TIME)
            scores[name.removeprefix("density_compare_")] = {
                "best_val_bpd": metrics.best(record.rows, "val/bpd"),
                "seconds_per_step": (epoch_s - val_s) / profile.compare_batches,
                "val_seconds": val_s,
            }
    if len(scores) < len(CANDIDATES):
        raise RuntimeError("the long density run needs both density_compare_* records")
    winner = min(scores, key=lambda name: scores[name]["best_val_bpd"])
    seconds = scores[winner]["seconds_per_step"] * profile.density_batches
    seconds += scores[winner]["val_seconds"]
    epochs = profile.density_max_epochs
    if math.isfinite(seconds) and seconds > 0:
        epochs = max(1, min(epochs, int(profile.density_seconds // seconds)))
    found = {"winner": winner, "scores": scores, "budget_seconds": profile.density_seconds}
    found |= {"epoch_seconds": seconds, "epochs": epochs}
    (out / "density").mkdir(parents=True, exist_ok=True)
    (out / "density" / "plan.json").write_text(json.dumps(found, indent=1) + "\n")
    return found


def sweeps(runs: Sequence[Run], winner: str | None) -> list[Sweep]:
    """Each sweep that trains ``runs``: per step, the experiments that share their seeds in one
    sweep, the seeds first (the slower sweep value), so both classifiers of a seed train before
    the next seed."""
    seeds: dict[tuple[str, str], list[int]] = {}
    for r in runs:
        key = (r.step, r.experiment.replace("<winner>", winner or "?"))
        seeds.setdefault(key, []).append(r.seed)
    grouped: dict[tuple[str, tuple[int, ...]], list[str]] = {}
    for (step, experiment), values in seeds.items():
        grouped.setdefault((step, tuple(values)), []).append(experiment)
    return [(step, experiments, list(s)) for (step, s), experiments in grouped.items()]


def command(profile: Profile, out: Path, data_root: str, sweep: Sweep) -> list[str]:
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


def record_finished(runs: Sequence[Run], out: Path, records: Path) -> None:
    """Record each of ``runs`` that has no record and whose job in ``<out>/<step>/<run>/``
    finished ok (its ``job_status.json``, as :func:`mintnet.sweeps.summary_rows` reads it)."""
    for step in dict.fromkeys(r.step for r in runs):
        rows = summary_rows(out / step) if (out / step).is_dir() else []
        ok = {Path(row["dir"]).name for row in rows if row["status"] == "ok"}
        for run in runs:
            target = records / run.name
            if run.step == step and run.name in ok and not target.exists():
                print(f"[record] {run.name}: {write_record(out / step / run.name, target)}")


def train(argv: list[str], runs: Sequence[Run], out: Path, records: Path) -> None:
    """Run one sweep, writing each of ``runs``' records as its job finishes. SIGTERM stops the
    sweep (its running job saves ``last.ckpt``) and raises :class:`Stopped` once it has exited;
    Ctrl-C, or a record that cannot be written, stops it too."""
    received: list[int] = []
    process = subprocess.Popen(argv)

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        if process.poll() is None:
            process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while process.poll() is None:
            record_finished(runs, out, records)
            time.sleep(POLL_SECONDS)
        record_finished(runs, out, records)
    except BaseException:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    if received:
        raise Stopped(f"stopped by SIGTERM (the sweep exited with code {process.returncode})")
