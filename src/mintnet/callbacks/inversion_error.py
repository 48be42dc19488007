"""A Lightning callback that checks the flow's inverse on validation data while training."""

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from mintnet.nn.image_flow import ImageFlow

__all__ = ["InversionErrorCallback"]


class InversionErrorCallback(pl.Callback):
    r"""Every ``every_n_epochs`` validation epochs, invert the latents of the first validation batch
    with the flow's default fixed-point settings and log

    * ``val/inversion_error``: :math:`\max |\hat v - v|` in logit space, where ``v`` is
      :meth:`~mintnet.nn.ImageFlow.centre_logits` of the images and
      :math:`\hat v = f^{-1}(f(v))`;
    * ``val/inversion_iterations``: the most fixed-point iterations any Mint layer needed.

    The flow is found at ``pl_module.flow`` (an :class:`ImageFlow`); modules without one
    (classifiers) are skipped quietly, and so is the sanity check.

    Arguments:
        every_n_epochs: period in validation epochs.
        max_images: at most this many images of the batch are inverted (bounds the cost).
    """

    def __init__(self, every_n_epochs: int = 1, max_images: int = 32) -> None:
        if every_n_epochs < 1 or max_images < 1:
            raise ValueError(
                f"every_n_epochs and max_images must be >= 1, got {every_n_epochs}, {max_images}"
            )
        self.every_n_epochs, self.max_images = every_n_epochs, max_images
        self._batch: Tensor | None = None

    def on_validation_epoch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule
    ) -> None:
        self._batch = None

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._batch is None and isinstance(getattr(pl_module, "flow", None), ImageFlow):
            x = batch[0] if isinstance(batch, list | tuple) else batch  # (x, y) or x alone
            self._batch = x[: self.max_images].detach()

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        flow = getattr(pl_module, "flow", None)
        due = (trainer.current_epoch + 1) % self.every_n_epochs == 0
        if trainer.sanity_checking or not isinstance(flow, ImageFlow) or not due:
            return
        if self._batch is None:
            return
        error, iterations = self.measure(flow, self._batch)
        # each rank measures its own batch; report the worst over ranks
        pl_module.log("val/inversion_error", error, sync_dist=True, reduce_fx="max")
        pl_module.log(
            "val/inversion_iterations", float(iterations), sync_dist=True, reduce_fx="max"
        )
        self._batch = None

    @staticmethod
    @torch.no_grad()
    def measure(flow: ImageFlow, images: Tensor) -> tuple[float, int]:
        """``(max |f^{-1}(f(v)) - v|, most iterations of any layer)`` for images ``(B, C, H, W)``."""
        ref = next(flow.parameters())
        v = flow.centre_logits(images.to(device=ref.device, dtype=ref.dtype))
        z, _ = flow.net(v)
        v_hat, reports = flow.net.inverse_with_report(z)
        return float((v_hat - v).abs().max()), max((r.iterations for r in reports), default=0)
