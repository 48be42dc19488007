"""A callback that stops a run the way a cluster does, at a step the test chooses:
``+callbacks.sigterm_at._target_=tests.signals.SigtermAtStep +callbacks.sigterm_at.step=K``."""

import os
import signal
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch


class SigtermAtStep(pl.Callback):
    """Send SIGTERM (or the signal ``name``) to this process (rank 0 only: it passes the signal
    on to the ranks it started) once optimizer step ``step`` has been taken, so the test does not
    depend on timing.

    Arguments:
        step: the global step after which the signal is sent.
        again_while_saving: also send a second SIGTERM in the middle of writing the checkpoint
            file (after its first bytes are written).
    """

    def __init__(self, step: int, again_while_saving: bool = False, name: str = "SIGTERM") -> None:
        self.step, self.again_while_saving = step, again_while_saving
        self.signal = signal.Signals[name]

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step != self.step or not trainer.is_global_zero:
            return
        if self.again_while_saving:
            save = torch.save  # this process ends after the checkpoint: patching is harmless

            def save_and_signal(payload: object, f: object, *rest: object, **kw: object) -> None:
                save(payload, _SignalOnFirstWrite(f), *rest, **kw)

            torch.save = save_and_signal
        os.kill(os.getpid(), self.signal)


class _SignalOnFirstWrite:
    """A file object that sends SIGTERM to this process once the first bytes are written."""

    def __init__(self, f: object) -> None:
        self.f, self.sent = f, False

    def write(self, data: bytes) -> int:
        written = self.f.write(data)
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)
            print(
                "tests.signals: second SIGTERM sent while writing the checkpoint", file=sys.stderr
            )
        return written

    def __getattr__(self, name: str) -> object:
        return getattr(self.f, name)


class SlowUntilStopped(pl.Callback):
    """Sleep ``seconds`` after every training step until the run has once been stopped by a
    signal (``<run folder>/stopped``, touched here when that happens), so that a Slurm time
    limit or a requeue lands in the middle of training, whenever Slurm sends it; the sleeping
    changes no number. Rank 0 touches ``<run folder>/training`` once step ``mark_step`` is done,
    for a test waiting to interrupt the run mid-epoch."""

    def __init__(self, seconds: float, mark_step: int = 2) -> None:
        self.seconds, self.mark_step = seconds, mark_step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        folder = Path(trainer.default_root_dir)
        if trainer.global_step == self.mark_step and trainer.is_global_zero:
            (folder / "training").touch()
        if not (folder / "stopped").exists():
            time.sleep(self.seconds)

    def on_exception(self, trainer: pl.Trainer, pl_module: object, error: BaseException) -> None:
        if type(error).__name__ == "SIGTERMException" and trainer.is_global_zero:
            (Path(trainer.default_root_dir) / "stopped").touch()
