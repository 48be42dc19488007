"""Stop cleanly when the run is told to (SIGTERM: Slurm pre-emption, ``scancel``, ``kill``) and
save a checkpoint from which the run continues exactly."""

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

__all__ = ["PreemptionCheckpoint"]


class PreemptionCheckpoint(pl.Callback):
    """On SIGTERM during training, finish the current training step on every rank, stop all
    ranks together, and write ``<dirpath>/<filename>.ckpt`` (atomically, through the trainer's
    :class:`mintnet.checkpoint.AtomicCheckpointIO`) so that ``ckpt_path=<that file>`` resumes the
    run exactly where it stopped: the weights, the optimizer and scheduler, the callbacks, the
    data loader's position inside the epoch and the random streams.

    While training runs, this callback owns the SIGTERM handler. The handler only records the
    signal (and passes it on to the DDP ranks this process started); at the end of each training
    step the ranks agree whether any of them was signalled (one all-reduce of a flag), and if so
    all of them raise Lightning's ``SIGTERMException`` at the same step. Lightning's own handler
    would stop each rank at whichever step the signal reached it, and can leave the ranks waiting
    for each other forever. A validation epoch that is running when the signal arrives is
    finished first, so its metrics are complete. A second SIGTERM while the checkpoint is being
    written changes nothing: the file is written to a temporary name and renamed.

    Arguments:
        dirpath: folder of the checkpoint (the run's ``checkpoints/``).
        filename: file name without extension.
    """

    def __init__(self, dirpath: str, filename: str = "last") -> None:
        if not filename:
            raise ValueError("filename must not be empty")
        self.path = Path(dirpath) / f"{filename}.ckpt"
        self.saved: Path | None = None
        self.signalled = False
        self._trainer: pl.Trainer | None = None
        self._before_lightning: Any = None  # the SIGTERM handler installed before the run

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            self._before_lightning = signal.getsignal(signal.SIGTERM)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.signalled = False
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only; Lightning's handling stays in place
        self._trainer = trainer
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if not self.signalled:
            launcher = self._trainer.strategy.launcher if self._trainer is not None else None
            if launcher is not None:
                launcher.kill(signum)  # the ranks this process started stop at the same step
            previous = self._before_lightning
            if callable(previous):  # e.g. a job scheduler's own handler
                previous(signum, frame)
        self.signalled = True

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

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, self._before_lightning or signal.SIG_DFL)
        self._trainer = None

    def state_dict(self) -> dict[str, Any]:
        return {}
