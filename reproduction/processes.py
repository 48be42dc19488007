"""The training processes of the results pipeline: the runs of a step, started in their order and
up to ``jobs`` at a time (:func:`execute`), and the signals that stop them
(:func:`forward_signals`).

Each training process uses one thread (``OMP_NUM_THREADS=1`` unless set). With one job at a time a
process writes to the pipeline's own output; with more, its output (stdout and stderr) is read
line by line and printed as ``[<run name>] <line>``, so that the lines of concurrent runs can be
told apart.

A SIGTERM or SIGINT inside :func:`forward_signals` stops the pipeline: the running training
processes get the signal too (SIGTERM; Ctrl-C reaches the whole process group by itself), save
``checkpoints/last.ckpt`` and exit, and once all of them have exited :class:`Interrupted` is
raised. A run that fails stops the other running runs of its step the same way; once they have
exited, its :class:`~reproduction.runs.RunFailed` is raised.
"""

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from reproduction.runs import DONE, Log, Run, RunFailed, add_attempt, shown_command

__all__ = ["Interrupted", "child_env", "execute", "forward_signals"]

POLL_SECONDS = 0.2
"""How often a step looks for training processes that have exited."""


class Interrupted(RuntimeError):
    """The pipeline was asked to stop (SIGTERM or SIGINT); its children were stopped too."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def child_env(piped: bool = False) -> dict[str, str]:
    """The environment of the children: one thread each unless ``OMP_NUM_THREADS`` is set; with
    ``piped``, unbuffered output, so that their lines arrive as they are printed."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    if piped:
        env["PYTHONUNBUFFERED"] = "1"
    return env


class _Signals:
    """What the signal handler of :func:`forward_signals` shares with the running step."""

    def __init__(self) -> None:
        self.received: list[int] = []  # the signals received inside forward_signals()
        self.children: set[subprocess.Popen[str]] = set()  # the training processes running
        self.in_step = False  # while a step runs, its loop stops it; else the handler raises


_signals = _Signals()


def _spawn(argv: Sequence[str], piped: bool) -> subprocess.Popen[str]:
    if not piped:
        return subprocess.Popen(argv, env=child_env())
    return subprocess.Popen(
        argv,
        env=child_env(piped=True),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )


@dataclass
class _Child:
    """A running training process and the run it trains."""

    run: Run
    process: subprocess.Popen[str]
    started: float  # Unix time
    relay: threading.Thread | None  # prints its output with the run's name, when piped
    stopped: bool = False  # sent SIGTERM by the pipeline


class _Step:
    """The runs of one step, started in their order, at most ``jobs`` at a time."""

    def __init__(self, out: Path, log: Log, jobs: int) -> None:
        self.out, self.jobs, self.log = out, max(1, jobs), log
        self.lock = threading.Lock()  # one line at a time from the relays and the loop
        self.running: list[_Child] = []
        self.records: dict[str, dict[str, Any]] = {}
        self.failure: RunFailed | None = None

    def say(self, message: str) -> None:
        with self.lock:
            self.log(message)

    @property
    def halted(self) -> bool:
        """No more runs are started: a signal came, or a run failed."""
        return bool(_signals.received) or self.failure is not None

    def execute(self, runs: Sequence[Run]) -> list[dict[str, Any]]:
        pending = list(runs)
        while self.running or (pending and not self.halted):
            if pending and not self.halted and len(self.running) < self.jobs:
                self.start(pending.pop(0))
                continue
            for child in self.wait():
                self.end(child)
        if _signals.received:
            raise Interrupted(_signals.received[0])
        if self.failure is not None:
            raise self.failure
        return [self.records[run.name] for run in runs]

    def start(self, run: Run) -> None:
        """Start ``run``'s training process, unless it is finished."""
        record = run.done(self.out)
        if record is not None:
            self.say(f"[skip] {run.name}: finished ({run.folder(self.out) / DONE})")
            self.records[run.name] = record
            return
        if run.trained(self.out):  # it got to its test metrics, then stopped before done.json
            self.records[run.name] = run.finish(self.out)
            self.say(f"[done] {run.name}: its log holds the test metrics")
            return
        piped = self.jobs > 1
        argv = run.command(self.out, progress_bar=False if piped else None)
        resumed = any(a.startswith("ckpt_path=") for a in argv)
        verb = "resuming from last.ckpt" if resumed else "training"
        self.say(
            f"[run] {run.name}: {verb}; logs in {run.folder(self.out)}\n"
            f"      {shown_command(argv)}"
        )
        process = _spawn(argv, piped)
        _signals.children.add(process)
        relay = None
        if piped:
            relay = threading.Thread(target=self.relay, args=(run.name, process), daemon=True)
            relay.start()
        child = _Child(run, process, time.time(), relay)
        self.running.append(child)
        if _signals.received:  # the signal came while it started
            self.stop(child)

    def relay(self, name: str, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.say(f"[{name}] {line.rstrip()}")
        process.stdout.close()

    def wait(self) -> list[_Child]:
        """The running children that have exited, once there is one."""
        while True:
            ended = [child for child in self.running if child.process.poll() is not None]
            if ended:
                return ended
            time.sleep(POLL_SECONDS)

    def end(self, child: _Child) -> None:
        """Record an exited child: its wall time, and ``done.json`` or its failure."""
        self.running.remove(child)
        _signals.children.discard(child.process)
        if child.relay is not None:
            child.relay.join(timeout=60)
        run, code, ended = child.run, child.process.returncode, time.time()
        folder = run.folder(self.out)
        add_attempt(folder, child.started, ended)
        minutes = (ended - child.started) / 60
        if code != 0 and (child.stopped or _signals.received):
            self.say(f"[stopped] {run.name} after {minutes:.1f} min (exit code {code})")
            return
        try:
            if code != 0:
                raise RunFailed(
                    f"{run.name}: the training process exited with code {code}; its logs are in "
                    f"{folder} (run the pipeline again to resume from checkpoints/last.ckpt)"
                )
            self.records[run.name] = run.finish(self.out)
        except RunFailed as error:
            self.fail(error)
            return
        self.say(f"[done] {run.name} in {minutes:.1f} min")

    def fail(self, error: RunFailed) -> None:
        """Keep the first failure; stop the other running runs (they resume next time)."""
        self.say(f"[failed] {error}")
        if self.failure is not None:
            return
        self.failure = error
        if self.running:
            names = ", ".join(child.run.name for child in self.running)
            self.say(f"[stop] stopping {names}; each resumes from its last.ckpt next time")
        for child in self.running:
            self.stop(child)

    def stop(self, child: _Child) -> None:
        """SIGTERM to a child that is still running (one that has exited keeps its exit code)."""
        if child.process.poll() is None:
            child.stopped = True
            child.process.send_signal(signal.SIGTERM)

    def abandon(self) -> None:
        """After an unexpected error: stop the running children and wait for them."""
        for child in self.running:
            self.stop(child)
        for child in self.running:
            child.process.wait()
            _signals.children.discard(child.process)


def execute(
    runs: Sequence[Run], out: Path, log: Log = print, jobs: int = 1
) -> list[dict[str, Any]]:
    """Train (or resume) each of ``runs`` that is not finished, in their order, at most ``jobs``
    at a time; returns their ``done.json`` records in that order.

    Raises :class:`~reproduction.runs.RunFailed` naming the first run that failed, after the
    others that were running have been stopped (SIGTERM, so they resume next time); or
    :class:`Interrupted` after a signal, once every running child has exited.
    """
    step = _Step(out, log, jobs)
    _signals.in_step = True
    try:
        return step.execute(runs)
    except BaseException:
        step.abandon()
        raise
    finally:
        _signals.in_step = False


@contextlib.contextmanager
def forward_signals() -> Iterator[None]:
    """Within this context, SIGTERM or SIGINT stops the pipeline: running training processes get
    the signal too, the pipeline waits for them to save ``last.ckpt`` and exit, then raises
    :class:`Interrupted`; outside a step of training runs it raises at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        _signals.received.append(signum)
        if signum != signal.SIGINT:  # Ctrl-C reaches the whole process group by itself
            for process in list(_signals.children):
                if process.returncode is None:
                    process.send_signal(signum)
        if not (_signals.in_step or _signals.children):
            raise Interrupted(signum)
        # else the step's loop sees the signal, waits for its children, and raises

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    _signals.received.clear()
    try:
        yield
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)
        _signals.received.clear()
