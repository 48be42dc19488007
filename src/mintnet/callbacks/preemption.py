"""Save a checkpoint when the run is told to stop (SIGTERM, e.g. SLURM pre-emption)."""

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

__all__ = ["PreemptionCheckpoint"]


class PreemptionCheckpoint(pl.Callback):
    """On SIGTERM, Lightning stops at the next batch boundary; this callback then writes
    ``<dirpath>/<filename>.ckpt`` (atomically, with :class:`mintnet.checkpoint_io.AtomicCheckpointIO`)
    so that ``ckpt_path=<that file>`` resumes the run exactly where it stopped.

    Arguments:
        dirpath: folder of the checkpoint (the run's ``checkpoints/``).
        filename: file name without extension.
    """

    def __init__(self, dirpath: str, filename: str = "last") -> None:
        if not filename:
            raise ValueError("filename must not be empty")
        self.path = Path(dirpath) / f"{filename}.ckpt"
        self.saved: Path | None = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, SIGTERMException) and trainer.state.fn == "fit":
            trainer.save_checkpoint(self.path)
            self.saved = self.path

    def state_dict(self) -> dict[str, Any]:
        return {}
