"""Stop cleanly when the run is told to (SIGTERM: Slurm pre-emption, ``scancel``, ``kill``;
SIGUSR2/SIGUSR1: a time limit ahead) and save a checkpoint from which the run continues exactly."""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.exceptions import SIGTERMException

from mintnet.run_log import say

__all__ = [
    "PREEMPTED_EXIT_CODE",
    "PreemptionCheckpoint",
    "report_stop",
    "stop_reason",
    "stop_reported",
]


class PreemptionCheckpoint(pl.Callback):
    """On a stop signal during training (SIGTERM: pre-emption, ``scancel``, ``kill``, a Slurm
    requeue; SIGUSR2 or SIGUSR1: a cluster's warning that the time limit is near; SIGINT:
    Ctrl-C, where a second Ctrl-C stops at once without a checkpoint), finish the
    current training step on every rank, stop all ranks together, and write
    ``<dirpath>/<filename>.ckpt`` (atomically, through the trainer's
    :class:`mintnet.checkpoint.AtomicCheckpointIO`) so that the run continues exactly where it
    stopped: the weights, the optimizer and scheduler, the callbacks, the data loader's position
    inside the epoch and the random streams. ``ckpt_path=auto`` (the default) continues from that
    file when the run starts again in the same folder.

    While training runs, this callback owns the handlers of ``signals``. A handler only records
    the signal (and passes it on to the DDP ranks this process started); at the end of each
    training step the ranks agree whether any of them was signalled (one all-reduce of a flag),
    and if so all of them raise Lightning's ``SIGTERMException`` at the same step. Lightning's own
    SIGTERM handling would stop each rank at whichever step the signal reached it, and can leave
    the ranks waiting for each other forever. A validation epoch that is running when the signal
    arrives is finished first, so its metrics are complete. A second signal while the checkpoint
    is being written changes nothing: the file is written to a temporary name and renamed.

    The handler that was installed before training for the signal that stopped the run (for
    submitit's SIGUSR2: requeue the Slurm job; for Lightning's SIGUSR1: its own Slurm requeue)
    runs only after the checkpoint is on disk: the exception carries it as ``hand_over()``,
    which :mod:`mintnet.train` calls once the run has been reported.

    Arguments:
        dirpath: folder of the checkpoint (the run's ``checkpoints/``).
        filename: file name without extension.
        signals: the names of the signals that stop the run with a checkpoint.
    """

    def __init__(
        self,
        dirpath: str,
        filename: str = "last",
        signals: Sequence[str] = ("SIGTERM", "SIGUSR2", "SIGUSR1", "SIGINT"),
    ) -> None:
        if not filename:
            raise ValueError("filename must not be empty")
        unknown = [name for name in signals if not isinstance(getattr(signal, name, None), int)]
        if unknown:
            raise ValueError(f"signals: {unknown} are not signal names (e.g. SIGTERM, SIGUSR2)")
        self.path = Path(dirpath) / f"{filename}.ckpt"
        self.signals = tuple(signal.Signals[name] for name in signals)
        self.saved: Path | None = None
        self.received: signal.Signals | None = None
        self._trainer: pl.Trainer | None = None
        self._before: dict[signal.Signals, Any] = {}  # the handlers installed before the run
        self._global_zero = True

    @property
    def signalled(self) -> bool:
        """Whether a stop signal reached this process during the current training."""
        return self.received is not None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and threading.current_thread() is threading.main_thread():
            self._before = {signum: signal.getsignal(signum) for signum in self.signals}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.received = None
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only; Lightning's handling stays in place
        self._trainer = trainer
        for signum in self.signals:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # A terminal's Ctrl-C reaches every rank, and rank 0 passes it on too: only rank 0 counts
        first = self._trainer is None or self._trainer.is_global_zero
        if signum == signal.SIGINT and first:
            if self.received is not None:
                raise KeyboardInterrupt  # Ctrl-C twice: stop now, without the checkpoint
            print("Ctrl-C: stopping after this step with a checkpoint (Ctrl-C again: at once)")
        if self.received is None:
            launcher = self._trainer.strategy.launcher if self._trainer is not None else None
            if launcher is not None:
                launcher.kill(signum)  # the ranks this process started stop at the same step
            self.received = signal.Signals(signum)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any
    ) -> None:
        stop = self.signalled
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            # Lightning raises SIGTERMException right after this step on every rank that has
            # this flag; all ranks set it here, at the same step.
            trainer._signal_connector.received_sigterm = True

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, SIGTERMException) and trainer.state.fn == "fit":
            trainer.save_checkpoint(self.path)
            self.saved = self.path
            self._global_zero = trainer.is_global_zero
            exception.stop_signal = self.received  # None: a rank told by another to stop
            exception.args = (stop_reason(exception),)  # its message: "stopped by <signal>"
            exception.hand_over = self._hand_over

    def _hand_over(self) -> None:
        """Run the handler that was installed before training for the signal received; for a
        time-limit warning in a Slurm job that no such handler takes (a job script of your own
        with ``--signal=USR1@90``), requeue the job from rank 0."""
        if self.received in (None, signal.SIGINT):  # Ctrl-C: the checkpoint was the point
            return
        previous = self._before.get(self.received)
        if callable(previous):
            previous(int(self.received), None)
        elif (
            self.received != signal.SIGTERM and self._global_zero and "SLURM_JOB_ID" in os.environ
        ):
            job = os.environ["SLURM_JOB_ID"]
            array = os.environ.get("SLURM_ARRAY_JOB_ID")
            if array:
                job = f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}"
            subprocess.run(["scontrol", "requeue", job], check=False, timeout=60)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum, before in self._before.items():
                if signal.getsignal(signum) == self._on_signal:
                    signal.signal(signum, before if before is not None else signal.SIG_DFL)
        self._trainer = None

    def state_dict(self) -> dict[str, Any]:
        return {}


PREEMPTED_EXIT_CODE = 143
"""The exit status of a run stopped by a signal: 128 + SIGTERM, the shell's convention."""


def stop_reason(stop: SIGTERMException) -> str:
    """``stopped by <signal>`` for the exception that stopped a run."""
    received = getattr(stop, "stop_signal", None)
    return f"stopped by {received.name if received else 'SIGTERM'}"


def report_stop(cfg: DictConfig, stop: SIGTERMException) -> NoReturn:
    """Say where the stopped run's checkpoint is and how to continue it (stderr and the run's
    log), hand the signal on (a Slurm time-limit warning: the job is requeued now that the
    checkpoint is written), and exit with :data:`PREEMPTED_EXIT_CODE`."""
    preemption = OmegaConf.select(cfg, "callbacks.preemption")
    where = f"{preemption.dirpath}/{preemption.filename}.ckpt" if preemption else None
    reason = stop_reason(stop)
    say(
        f"mintnet-train: {reason}; checkpoint {where}; continue in this folder with "
        f"hydra.run.dir={cfg.paths.output_dir} (ckpt_path=auto), or resume with ckpt_path={where}"
        if where
        else f"mintnet-train: {reason} (callbacks.preemption is off: no checkpoint)",
        logging.WARNING,
        sys.stderr,
    )
    hand_over = getattr(stop, "hand_over", None)
    if hand_over is not None:
        hand_over()
    raise SystemExit(PREEMPTED_EXIT_CODE) from stop


@contextlib.contextmanager
def stop_reported(cfg: DictConfig) -> Iterator[None]:
    """A run stopped by a signal inside this block is reported by :func:`report_stop` (which
    exits with :data:`PREEMPTED_EXIT_CODE`)."""
    try:
        yield
    except SIGTERMException as stop:
        report_stop(cfg, stop)
