"""Sample images from a density model at the end of validation; save and log the grid."""

from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger

from mintnet.analysis.grids import make_image_grid, save_image_grid

__all__ = ["SampleImages"]


class SampleImages(pl.Callback):
    """Every ``every_n_epochs`` validation epochs, and after the last epoch (so that a run
    shorter than the period has a grid too), invert ``n_samples`` prior draws of
    ``pl_module.sample`` into a grid saved to ``<default_root_dir>/samples/epoch_XXXX.png`` and
    logged to the loggers as ``samples``. Modules without ``sample`` (classifiers) are skipped.

    Arguments:
        n_samples: images in the grid.
        temperature: ``T`` of ``z ~ N(0, T^2 I)``; ``None`` uses the module's default.
        every_n_epochs: sampling period in validation epochs.
    """

    def __init__(
        self, n_samples: int = 64, temperature: float | None = None, every_n_epochs: int = 1
    ) -> None:
        if n_samples < 1 or every_n_epochs < 1:
            raise ValueError(
                f"n_samples and every_n_epochs must be >= 1, got {n_samples}, {every_n_epochs}"
            )
        self.n_samples, self.temperature, self.every_n_epochs = (
            n_samples,
            temperature,
            every_n_epochs,
        )
        self.last_path: Path | None = None

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not hasattr(pl_module, "sample"):
            return
        last = trainer.max_epochs is not None and trainer.current_epoch + 1 == trainer.max_epochs
        if (trainer.current_epoch + 1) % self.every_n_epochs and not last:
            return
        self._sample_and_log(trainer, pl_module)

    def _sample_and_log(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        images = self._draw(trainer, pl_module)
        if not trainer.is_global_zero:
            return
        nrow = max(1, round(len(images) ** 0.5))
        path = (
            Path(trainer.default_root_dir) / "samples" / f"epoch_{trainer.current_epoch:04d}.png"
        )
        save_image_grid(images, path, nrow)
        self.last_path = path
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image("samples", [str(path)], step=trainer.global_step)
            elif isinstance(logger, TensorBoardLogger):
                grid = make_image_grid(images, nrow)
                logger.experiment.add_image("samples", grid, trainer.global_step)

    def _draw(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> torch.Tensor:
        """``n_samples`` images; under DDP each rank inverts its share and rank 0 gets them all."""
        world = trainer.world_size
        share = -(-self.n_samples // world)  # ceil: all_gather needs equal shapes on every rank
        # A generator of its own, seeded from the run's seed, the step and the rank: training's
        # random stream is untouched (a run sampled at an epoch continues as one that was not),
        # and every rank inverts latents of its own.
        seed = (
            torch.initial_seed() + 1_000_003 * trainer.global_step + trainer.global_rank
        ) % 2**63
        devices = [pl_module.device] if pl_module.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            images = pl_module.sample(share, self.temperature)[0]  # (share, C, H, W)
        if world == 1:
            return images
        gathered = pl_module.all_gather(images)  # (world, share, C, H, W)
        return gathered.flatten(0, 1)[: self.n_samples].cpu()
