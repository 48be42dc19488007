"""A sweep stopped by Ctrl-C or SIGTERM: the table of its jobs so far, and the command that
resumes it.

:class:`SweepStop` (``hydra.callbacks`` in ``conf/train.yaml``) notes the sweep folder and the
command line when a multirun starts. A SIGTERM between jobs ends the sweep at once; during a job
it lets the job stop (Lightning's own handler saves ``checkpoints/last.ckpt`` at the step), then
ends the sweep. ``mintnet-train`` then calls :func:`report_stop`, which prints the table
(:func:`mintnet.sweeps.write_summary`) and the command, with ``hydra.sweep.dir`` set to this
sweep's folder: finished jobs are skipped, interrupted ones continue from their ``last.ckpt``.
"""

import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mintnet import sweeps

__all__ = ["SweepStop", "report_stop", "resume_command"]

SIGTERM_EXIT_CODE = 143  # 128 + SIGTERM


class _State:
    sweep_dir: Path | None = None
    argv: list[str] = []
    in_job = False
    stop_requested = False  # a SIGTERM during a job: the sweep ends after it
    stopped = False  # a SIGTERM or Ctrl-C was received
    previous: dict[int, Any] = {}


_state = _State()


def _on_sigint(signum: int, frame: Any) -> None:
    _state.stopped = True
    signal.default_int_handler(signum, frame)


def _on_sigterm(signum: int, frame: Any) -> None:
    _state.stopped = True
    if _state.in_job:  # the job stops itself (Lightning's handler); the sweep ends after it
        _state.stop_requested = True
        return
    raise SystemExit(SIGTERM_EXIT_CODE)


class SweepStop(Callback):
    """Hydra callback: a multirun ended by SIGTERM or Ctrl-C can report itself (:func:`report_stop`)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _state.sweep_dir = Path(config.hydra.sweep.dir).resolve()
        _state.argv = list(sys.argv)
        _state.in_job = _state.stop_requested = _state.stopped = False
        try:
            _state.previous = {
                signal.SIGTERM: signal.signal(signal.SIGTERM, _on_sigterm),
                signal.SIGINT: signal.signal(signal.SIGINT, _on_sigint),
            }
        except ValueError:  # not the main thread: no handlers
            _state.previous = {}

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        _restore()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        _state.in_job = True

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        _state.in_job = False
        if _state.stop_requested:
            raise SystemExit(SIGTERM_EXIT_CODE)


def _restore() -> None:
    for signum, handler in _state.previous.items():
        signal.signal(signum, handler)
    _state.sweep_dir, _state.previous = None, {}


def resume_command(argv: list[str], sweep_dir: str | Path) -> str:
    """The command line ``argv`` with ``hydra.sweep.dir=<sweep_dir>`` (replacing any given)."""
    program = (
        ["python", "-m", "mintnet.train"]
        if Path(argv[0]).name == "train.py"
        else [Path(argv[0]).name]
    )
    args = [a for a in argv[1:] if not a.startswith("hydra.sweep.dir=")]
    return shlex.join([*program, *args, f"hydra.sweep.dir={sweep_dir}"])


def report_stop() -> bool:
    """If a multirun was stopped by SIGTERM or Ctrl-C before its end: print its table so far and the command that
    resumes it; returns whether it did."""
    sweep_dir = _state.sweep_dir
    if sweep_dir is None or not _state.stopped:  # not in a sweep, or it ended by an error
        return False
    _restore()
    sweeps.write_summary(sweep_dir)
    print(
        f"mintnet-train: the sweep was stopped; resume it with\n  {resume_command(_state.argv, sweep_dir)}",
        file=sys.stderr,
        flush=True,
    )
    return True
