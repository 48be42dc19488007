"""What both LightningModules share: the monitored metric, optimizers from config, and the config
kept in checkpoints."""

from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor

from mintnet import random_state
from mintnet.modules.optim import (
    OptimizerFactory,
    SchedulerFactory,
    build_optimizers,
    check_optimizer,
)

__all__ = ["CHECKPOINT_KEY", "ConfiguredModule", "Monitor"]

CHECKPOINT_KEY = "mintnet"
"""Checkpoint entry holding ``{"model": <resolved model config>}``, so a checkpoint rebuilds its
model with ``hydra.utils.instantiate`` and loads with ``torch.load(weights_only=True)``."""


@dataclass(frozen=True)
class Monitor:
    """The metric a module is judged by: the best checkpoint, a plateau scheduler, the sweeper's
    objective and the dashboard's summary all read it from the module class
    (``conf/train.yaml`` takes it through the ``mintnet.monitor`` resolver)."""

    metric: str
    """A logged key, e.g. ``val/bpd``."""
    mode: str
    """``"min"`` or ``"max"``: which way is better."""

    @property
    def best(self) -> str:
        """The key of the best value so far, logged at every validation: ``<metric>_best``."""
        return f"{self.metric}_best"


class ConfiguredModule(pl.LightningModule):
    """A LightningModule built from a Hydra config.

    ``model_config`` (a plain dict, set by the entry point) is written into every checkpoint;
    ``optimizer``/``scheduler`` are partials from the config. A subclass declares its
    :class:`Monitor` and logs its per-stage metric object as ``<stage>_<name>``.
    """

    monitor: Monitor

    def __init__(
        self,
        optimizer: OptimizerFactory | None,
        scheduler: SchedulerFactory | None,
        scheduler_interval: str,
    ) -> None:
        super().__init__()
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(
                f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}"
            )
        check_optimizer(optimizer)
        self.optimizer, self.scheduler = optimizer, scheduler
        self.scheduler_interval = scheduler_interval
        self.model_config: dict[str, Any] | None = None
        self._resumed_rng: dict[str, Any] | None = None
        self._data_position_missing: int | None = None

    # Subclasses define ``_step(batch, stage) -> loss``, the metric object of the monitored key
    # (``val/bpd`` -> attribute ``val_bpd``) and a ``val_best`` Min/MaxMetric tracking it.

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        raise NotImplementedError

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or self.trainer.state.fn != "fit":
            return  # the best-so-far value is about fitting
        self.val_best.update(getattr(self, self.monitor.metric.replace("/", "_")).compute())
        self.log(self.monitor.best, self.val_best.compute())

    @classmethod
    def upgrade_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The model config of a checkpoint written by an older mintnet, in today's layout (the
        same here; subclasses whose arguments have moved override this)."""
        return config

    def reference_metrics(self, datamodule: pl.LightningDataModule) -> dict[str, float]:
        """Test metrics of a simple reference model fitted on ``datamodule``, to compare the
        module's own with (none here; the density module has its pixel baseline)."""
        return {}

    def configure_optimizers(self) -> dict[str, Any]:
        return build_optimizers(
            self.parameters(),
            self.optimizer,
            self.scheduler,
            self.scheduler_interval,
            self.monitor.metric,
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The random streams drive the dequantisation noise (and anything else random in a
        # step): saving them lets a resumed run continue with the random numbers an uninterrupted
        # one would have drawn. The data order and augmentations are the data loader's (its
        # position is in the checkpoint's loop state, see mintnet.data.sampler).
        checkpoint[CHECKPOINT_KEY] = {
            "model": self.model_config,
            "random_state": random_state.capture(),
        }
        for logger in self.trainer.loggers if self._trainer is not None else []:
            if isinstance(logger, WandbLogger):  # a resumed run continues the same W&B run
                checkpoint[CHECKPOINT_KEY]["wandb_id"] = logger.version

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        entry = checkpoint.get(CHECKPOINT_KEY) or {}
        resuming = self._trainer is not None and self._trainer.state.fn == "fit"
        if resuming:
            if entry.get("random_state") is not None:
                self._resumed_rng = entry["random_state"]  # applied once the sanity check has run
            elif entry.get("torch_rng") is not None:  # written before the other streams were kept
                self._resumed_rng = {"torch": entry["torch_rng"]}
            self._data_position_missing = _saved_mid_epoch_without_loader_state(checkpoint)
        if entry.get("model") is not None:
            self.model_config = self.upgrade_config(entry["model"])

    def on_train_start(self) -> None:
        if self._resumed_rng is not None:
            random_state.restore(self._resumed_rng)
            self._resumed_rng = None
        batch = self._data_position_missing
        if batch is not None and 0 < batch < self.trainer.num_training_batches:
            rank_zero_warn(
                f"the checkpoint was saved after batch {batch} of epoch "
                f"{self.trainer.current_epoch} without the data loader's position (it was written "
                "by an older mintnet): the data order of this epoch restarts from its first "
                "batch, so the resumed run is not an exact continuation; later epochs are as "
                "usual"
            )
        self._data_position_missing = None


def _saved_mid_epoch_without_loader_state(checkpoint: dict[str, Any]) -> int | None:
    """The number of batches of its epoch done when ``checkpoint`` was saved, if its fit loop
    state lacks the training data loader's position (``combined_loader``); else ``None``."""
    fit_loop = (checkpoint.get("loops") or {}).get("fit_loop") or {}
    if (fit_loop.get("state_dict") or {}).get("combined_loader"):
        return None
    progress = fit_loop.get("epoch_loop.batch_progress") or {}
    return (progress.get("current") or {}).get("completed")
