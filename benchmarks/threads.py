"""The thread policy against torch's default, with and without competing busy processes.

Each case runs quiet and then beside processes this benchmark starts and stops itself (``busy1``:
one process spinning on one core; ``heavy``: two per core), so the ratios come from one run:

* ``train``: ``make train`` (``mintnet.train experiment=digits_density``) as a subprocess, the
  policy's ``auto`` against ``threads=1``, and ``auto`` with one busy process that starts
  :data:`LATE` seconds after the run (``busy1_late``: the count must follow the load during the
  run); the printed test bits/dim of each;
* ``step``: one training step of the digits flow in this process, at 1 thread and at every core
  (torch's default), quiet and busy;
* ``choice``: the paper's MNIST flow's training step at 1..cores threads on the quiet machine, and
  the count ``auto`` picks there, against the fastest;
* ``figures``: the documented figure commands on the ``train`` checkpoint, quiet and ``busy1``.
"""

import contextlib
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import format_table, round_robin, write_result
from mintnet.nn import ImageFlow, MintNet
from mintnet.threads import decide, usable_cores

__all__ = ["busy", "run", "table"]

NAME = "threads"
COLUMNS = [
    "case",
    "condition",
    "load",
    "threads",
    "wall_s",
    "cpu_s",
    "vs_quiet_1_thread",
    "test_bpd",
    "note",
]
ROOT = Path(__file__).resolve().parents[1]
SPIN = "while True: pass"


LATE = 4.0
"""Seconds after a ``*_late`` condition's run starts that its busy processes start."""


@contextlib.contextmanager
def busy(processes: int, after: float = 0.0) -> Iterator[float]:
    """``processes`` Python processes spinning on the CPU while the block runs, started
    ``after`` seconds into it (at once: before it, with half a second for the scheduler)."""
    spinners: list[subprocess.Popen] = []

    def start() -> None:
        spinners.extend(subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(processes))

    timer = threading.Timer(after, start)
    if after > 0:
        timer.start()
    else:
        start()
        time.sleep(0.5 if spinners else 0.0)  # let the scheduler see them
    try:
        yield os.getloadavg()[0]  # the 1-minute load average as the measurement starts
    finally:
        timer.cancel()
        timer.join() if timer.is_alive() else None
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _conditions(cores: int, quick: bool) -> dict[str, int]:
    """Condition name -> number of busy processes (``*_late``: they start during the run)."""
    if quick:
        return {"quiet": 0, "busy1": 1}
    return {"quiet": 0, "busy1": 1, "busy1_late": 1, "heavy": 2 * cores}


def _env() -> dict[str, str]:
    """This environment without a thread setting, so that each command's own policy decides."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MINTNET_THREADS")}
    return {**env, "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1"}


def _timed(command: list[str]) -> tuple[float, str, float]:
    """Wall seconds, stdout and CPU seconds (user + system, all threads) of ``command``."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, done.stdout, cpu


def _train(setting: str, out: Path, quick: bool) -> tuple[float, str, float]:
    command = [sys.executable, "-m", "mintnet.train", "experiment=digits_density", "logger=none"]
    command += [f"threads={setting}", f"hydra.run.dir={out}", "callbacks.progress_bar=null"]
    if quick:
        command += ["trainer.max_epochs=1", "+trainer.limit_train_batches=3"]
    return _timed(command)


def _printed(pattern: str, text: str) -> str | None:
    found = re.search(pattern, text)
    return found.group(1) if found else None


def _train_rows(tmp: Path, cores: int, quick: bool) -> tuple[list[dict[str, Any]], Path]:
    rows, base = [], None
    for condition, spinners in _conditions(cores, quick).items():
        for setting in ("1", "auto") if condition == "quiet" else ("auto",):
            out = tmp / f"train_{condition}_{setting}"
            with busy(spinners, LATE if condition.endswith("_late") else 0.0) as load:
                wall, stdout, cpu = _train(setting, out, quick)
            base = base or wall
            rows.append(
                {
                    "case": "train",
                    "condition": condition,
                    "load": load,
                    "threads": _printed(r"threads: (\d+ \([^)]*\))", stdout),
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "vs_quiet_1_thread": wall / base,
                    "test_bpd": _printed(r"test bits/dim: ([\d.]+)", stdout),
                    "note": _thread_changes(out),
                }
            )
    ckpt = sorted((tmp / "train_quiet_auto").glob("checkpoints/epoch_*.ckpt"))[-1]
    return rows, ckpt


def _thread_changes(run_dir: Path) -> str:
    """The run's changes of thread count during training, from its ``train.log``."""
    log = run_dir / "train.log"
    text = log.read_text() if log.exists() else ""
    changes = re.findall(r"threads: (\d+ -> \d+)", text)
    return "changed " + ", ".join(changes) if changes else ""


def _step_fn(shape: tuple, n_layers: int, n_squeezes: int, k: int, batch: int) -> Any:
    torch.manual_seed(0)
    flow = ImageFlow(MintNet(shape, n_layers, n_squeezes, k), 256 if shape[1] == 28 else 17)
    x = torch.rand(batch, *shape)
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        flow(x).mean().backward()
        optimizer.step()

    return step


def _timed_at(threads: int, step: Any, reps: int) -> float:
    torch.set_num_threads(threads)
    return round_robin({"step": step}, reps)["step"].wall


def _step_rows(cores: int, quick: bool, reps: int) -> list[dict[str, Any]]:
    rows, step = [], _step_fn((1, 8, 8), 4, 1, 8, 64)
    base = None
    for condition, spinners in _conditions(cores, quick).items():
        if condition.endswith("_late"):
            continue
        with busy(spinners) as load:
            auto = decide("auto", env={}).intra
            for threads in sorted({1, cores}):
                wall = _timed_at(threads, step, reps)
                base = base or wall
                note = "torch's default" if threads == cores else ""
                rows.append(
                    {
                        "case": "digits step",
                        "condition": condition,
                        "load": load,
                        "threads": threads,
                        "wall_s": wall,
                        "vs_quiet_1_thread": wall / base,
                        "note": "; ".join(
                            filter(None, [note, "auto picks this" * (threads == auto)])
                        ),
                    }
                )
    return rows


def _choice_rows(cores: int, quick: bool, reps: int) -> list[dict[str, Any]]:
    shape, layers, squeezes, k, batch = (
        ((1, 8, 8), 2, 1, 2, 4) if quick else ((1, 28, 28), 20, 2, 45, 32)
    )
    step = _step_fn(shape, layers, squeezes, k, batch)
    auto, load = decide("auto", env={}).intra, os.getloadavg()[0]
    walls = {n: _timed_at(n, step, reps) for n in range(1, cores + 1)}
    best = min(walls.values())
    return [
        {
            "case": "paper MNIST step" if not quick else "tiny step",
            "condition": "quiet",
            "load": load,
            "threads": n,
            "wall_s": wall,
            "vs_quiet_1_thread": wall / walls[1],
            "note": f"vs fastest {wall / best:.2f}{'; auto picks this' if n == auto else ''}",
        }
        for n, wall in walls.items()
    ]


def _figure_rows(ckpt: Path, tmp: Path, quick: bool) -> list[dict[str, Any]]:
    commands = {
        "mintnet-sample": ["mintnet.cli.sample", "--n", "64", "--temperature", "0.8"],
        "mintnet-inversion-accuracy": ["mintnet.cli.inversion_accuracy", "--n-images", "128"]
        + (["--iterations", "1", "11"] if quick else ["--alphas", "1.0", "0.5"]),
        "mintnet-interpolate": ["mintnet.cli.interpolate", "--split", "test"]
        + ["--indices", "3", "15", "32", "17"],
    }
    rows = []
    for condition, spinners in list(_conditions(1, quick).items())[:2]:
        for name, (module, *args) in commands.items():
            command = [sys.executable, "-m", module, "--ckpt", str(ckpt), "--out-dir", str(tmp)]
            with busy(spinners) as load:
                wall, stdout, cpu = _timed(command + args)
            threads = _printed(r"threads: (\d+ \([^)]*\))", stdout)
            rows.append(
                {
                    "case": name,
                    "condition": condition,
                    "load": load,
                    "threads": threads,
                    "wall_s": wall,
                    "cpu_s": cpu,
                }
            )
    return rows


def run(
    quick: bool = False, reps: int | None = None, out_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Every case under every condition; return the rows and write ``<out_dir>/threads.json``."""
    reps = reps or (2 if quick else 10)
    cores = usable_cores({})
    previous = torch.get_num_threads()
    try:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            rows, ckpt = _train_rows(tmp, cores, quick)
            rows += _step_rows(cores, quick, reps)
            rows += _choice_rows(cores, quick, max(2, reps // 3))
            rows += _figure_rows(ckpt, tmp / "figures", quick)
    finally:
        torch.set_num_threads(previous)
    settings = {"quick": quick, "reps": reps, "cores": cores, "busy": _conditions(cores, quick)}
    write_result(NAME, rows, settings, out_dir or Path(__file__).parent / "results")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    return format_table(rows, COLUMNS)
