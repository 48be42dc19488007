"""What both LightningModules share: optimizers from config, and the config kept in checkpoints."""

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from mintnet.modules.optim import OptimizerFactory, SchedulerFactory, build_optimizers

__all__ = ["CHECKPOINT_KEY", "ConfiguredModule"]

CHECKPOINT_KEY = "mintnet"
"""Checkpoint entry holding ``{"model": <resolved model config>}``, so a checkpoint rebuilds its
model with ``hydra.utils.instantiate`` and loads with ``torch.load(weights_only=True)``."""


class ConfiguredModule(pl.LightningModule):
    """A LightningModule built from a Hydra config.

    ``model_config`` (a plain dict, set by the entry point) is written into every checkpoint;
    ``optimizer``/``scheduler`` are partials from the config.
    """

    def __init__(
        self,
        optimizer: OptimizerFactory | None,
        scheduler: SchedulerFactory | None,
        scheduler_interval: str,
    ) -> None:
        super().__init__()
        self.optimizer, self.scheduler = optimizer, scheduler
        self.scheduler_interval = scheduler_interval
        self.model_config: dict[str, Any] | None = None
        self._resumed_rng: torch.Tensor | None = None

    # Subclasses define ``_step(batch, stage) -> loss``, a per-stage metric ``val_<name>`` and a
    # ``val_best`` Min/MaxMetric tracking it, logged as ``best_key``.
    monitored: str = ""
    best_key: str = ""

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
        self.val_best.update(getattr(self, self.monitored).compute())
        self.log(self.best_key, self.val_best.compute())

    def configure_optimizers(self) -> dict[str, Any]:
        return build_optimizers(
            self.parameters(), self.optimizer, self.scheduler, self.scheduler_interval
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The torch RNG drives dequantisation noise and augmentation: saving it lets a resumed
        # run continue with the same random numbers as an uninterrupted one.
        checkpoint[CHECKPOINT_KEY] = {
            "model": self.model_config,
            "torch_rng": torch.get_rng_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        entry = checkpoint.get(CHECKPOINT_KEY) or {}
        resuming = self._trainer is not None and self._trainer.state.fn == "fit"
        if resuming and entry.get("torch_rng") is not None:
            self._resumed_rng = entry["torch_rng"]  # applied once the sanity check has run
        if entry.get("model") is not None:
            self.model_config = entry["model"]

    def on_train_start(self) -> None:
        if self._resumed_rng is not None:
            torch.set_rng_state(self._resumed_rng)
            self._resumed_rng = None
