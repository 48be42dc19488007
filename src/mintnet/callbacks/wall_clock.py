"""A Lightning callback that puts wall-clock time into the run's logs: learning curves against time,
the time per epoch, and a clock that a resumed run continues.

Add it to any run from the command line:
``+callbacks.wall_clock={_target_:mintnet.callbacks.WallClock}``.
"""

import sys
import time
from typing import Any

import pytorch_lightning as pl

__all__ = ["ELAPSED", "EPOCH_END", "EPOCH_TIME", "PARAMS", "VAL_TIME", "WallClock"]

PARAMS = "model/params"
"""Trainable parameters of the model, logged when fitting starts."""

ELAPSED = "time/elapsed_s"
"""Seconds of fitting so far (summed over resumed attempts), logged with each step's metrics."""
EPOCH_END = "time/epoch_end_s"
""":data:`ELAPSED` at the end of an epoch, validation included (on the row of ``val/*``)."""
EPOCH_TIME = "time/epoch_s"
"""Seconds of one whole epoch, training and validation; only for epochs run from their first batch
in one process (a resumed epoch's time is not comparable)."""
VAL_TIME = "time/val_s"
"""Seconds of the epoch's validation."""


class WallClock(pl.Callback):
    """Logs :data:`ELAPSED`, :data:`EPOCH_END`, :data:`EPOCH_TIME`, :data:`VAL_TIME` and
    :data:`PARAMS`, and prints one progress line per epoch (useful where the progress bar is off,
    e.g. in a log file).

    The elapsed time is part of the checkpoint, so a resumed run continues its clock. Sanity
    checking and testing are not counted.

    Arguments:
        print_epochs: print ``epoch e/E: step s, <metrics>, <minutes> elapsed`` after each epoch.
    """

    def __init__(self, print_epochs: bool = True) -> None:
        self.print_epochs = print_epochs
        self._offset = 0.0  # elapsed seconds of earlier attempts
        self._start: float | None = None  # perf_counter at this attempt's fit start
        self._epoch_start: float | None = None
        self._epoch_whole = False  # did this process run the epoch from batch 0?
        self._val_start: float | None = None
        self._val_seconds = 0.0

    def elapsed(self) -> float:
        """Seconds of fitting so far, earlier attempts included."""
        now = time.perf_counter()
        return self._offset + (now - self._start if self._start is not None else 0.0)

    def state_dict(self) -> dict[str, Any]:
        return {"elapsed_s": self.elapsed()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._offset = float(state_dict.get("elapsed_s", 0.0))

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()
        params = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
        for logger in trainer.loggers:
            logger.log_metrics({PARAMS: float(params)}, step=trainer.global_step)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._offset, self._start = self.elapsed(), None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start, self._epoch_whole, self._val_seconds = time.perf_counter(), False, 0.0

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx == 0:
            self._epoch_whole = True

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        pl_module.log(ELAPSED, self.elapsed(), on_step=True, on_epoch=False)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._val_start = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._val_start is not None and not trainer.sanity_checking:
            self._val_seconds += time.perf_counter() - self._val_start
        self._val_start = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.log(EPOCH_END, self.elapsed(), on_step=False, on_epoch=True)
        pl_module.log(VAL_TIME, self._val_seconds, on_step=False, on_epoch=True)
        if self._epoch_whole and self._epoch_start is not None:
            seconds = time.perf_counter() - self._epoch_start
            pl_module.log(EPOCH_TIME, seconds, on_step=False, on_epoch=True)
        if self.print_epochs and trainer.is_global_zero:
            shown = {
                k: float(v)
                for k, v in trainer.callback_metrics.items()
                if k.startswith(("train/", "val/")) and v.numel() == 1
            }
            metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(shown.items()))
            print(
                f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: step "
                f"{trainer.global_step}, {metrics}, {self.elapsed() / 60:.1f} min elapsed",
                file=sys.stdout,
                flush=True,
            )
