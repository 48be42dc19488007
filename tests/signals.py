"""A callback that stops a run the way a cluster does, at a step the test chooses:
``+callbacks.sigterm_at._target_=tests.signals.SigtermAtStep +callbacks.sigterm_at.step=K``."""

import os
import signal
import sys

import pytorch_lightning as pl
import torch


class SigtermAtStep(pl.Callback):
    """Send SIGTERM to this process (rank 0 only: it passes the signal on to the ranks it
    started) once optimizer step ``step`` has been taken, so the test does not depend on timing.

    Arguments:
        step: the global step after which the signal is sent.
        again_while_saving: also send a second SIGTERM in the middle of writing the checkpoint
            file (after its first bytes are written).
    """

    def __init__(self, step: int, again_while_saving: bool = False) -> None:
        self.step, self.again_while_saving = step, again_while_saving

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step != self.step or not trainer.is_global_zero:
            return
        if self.again_while_saving:
            save = torch.save  # this process ends after the checkpoint: patching is harmless

            def save_and_signal(payload: object, f: object, *rest: object, **kw: object) -> None:
                save(payload, _SignalOnFirstWrite(f), *rest, **kw)

            torch.save = save_and_signal
        os.kill(os.getpid(), signal.SIGTERM)


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
