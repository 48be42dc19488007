"""Progress bars: Rich's live bar in a terminal, plain lines of text in a log file (Slurm)."""

import sys
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar, RichProgressBar

from mintnet.run_log import say, to_log_files

__all__ = ["RichProgressBarWithLog", "TextProgressBar", "progress_bar"]

STEP_LOSSES = ("train/loss", "train/step_loss")
"""The per-step losses the modules log (density, classification), shown within an epoch."""


def progress_bar(refresh_seconds: float = 30.0) -> ProgressBar:
    """Rich's progress bar when standard output is a terminal, else a :class:`TextProgressBar`
    printing a line every ``refresh_seconds`` (log files get no control characters)."""
    if sys.stdout.isatty():
        return RichProgressBarWithLog()
    return TextProgressBar(refresh_seconds)


class RichProgressBarWithLog(RichProgressBar):
    """Rich's live bar, and each epoch's metrics as a line in the run's ``train.log``."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if trainer.is_global_zero:
            metrics = _format_metrics(self.get_metrics(trainer, pl_module))
            to_log_files(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} done  {metrics}")


class TextProgressBar(ProgressBar):
    """Progress as plain lines, for output that goes to a file (a Slurm job's log):

    ``epoch 3/20  step 120/160 (75%)  41.3 steps/s  train/loss 2.318``

    one at most every ``refresh_seconds`` during training, and one at the end of each epoch with
    the epoch's metrics (``val/bpd``, ``val/acc``, ...). Only rank 0 prints.

    Arguments:
        refresh_seconds: least time between two lines within an epoch.
    """

    def __init__(self, refresh_seconds: float = 30.0) -> None:
        super().__init__()
        if refresh_seconds < 0:
            raise ValueError(f"refresh_seconds must be >= 0, got {refresh_seconds}")
        self.refresh_seconds = refresh_seconds
        self._enabled = True
        self._last_print = 0.0
        self._epoch_start = time.monotonic()
        self._epoch_steps = 0  # steps this process ran in the current epoch

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def _epoch_label(self, trainer: pl.Trainer) -> str:
        total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        return f"epoch {trainer.current_epoch + 1}/{total}"

    def _print(self, line: str) -> None:
        say(line)
        self._last_print = time.monotonic()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # a resumed run may continue inside an epoch (or at its end) without starting it here
        self.on_train_epoch_start(trainer, pl_module)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = self._last_print = time.monotonic()
        self._epoch_steps = 0

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._epoch_steps += 1
        if not self._enabled or time.monotonic() - self._last_print < self.refresh_seconds:
            return
        batches = trainer.num_training_batches
        done = batch_idx + 1
        of = f"/{batches} ({100 * done / batches:.0f}%)" if batches != float("inf") else ""
        rate = self._epoch_steps / max(time.monotonic() - self._epoch_start, 1e-9)
        # this step's loss; the epoch-level train/ metrics are still the previous epoch's here
        step_losses = {k: v for k, v in trainer.callback_metrics.items() if k in STEP_LOSSES}
        metrics = _format_metrics(step_losses)
        self._print(
            f"{self._epoch_label(trainer)}  step {done}{of}  {rate:.3g} steps/s  {metrics}"
        )

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._enabled:
            return
        seconds = time.monotonic() - self._epoch_start
        took = f"in {seconds:.1f} s" if self._epoch_steps else "(resumed at its end)"
        metrics = _format_metrics(self.get_metrics(trainer, pl_module))
        self._print(f"{self._epoch_label(trainer)} done {took}  {metrics}")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._enabled:
            self._print(f"test  {_format_metrics(trainer.callback_metrics, 'test/')}")


def _format_metrics(metrics: dict[str, Any], prefix: str = "") -> str:
    shown = []
    for key, value in sorted(metrics.items()):
        if key == "v_num" or not key.startswith(prefix):
            continue
        try:
            shown.append(f"{key} {float(value):.4g}")
        except (TypeError, ValueError):
            shown.append(f"{key} {value}")
    return "  ".join(shown)
