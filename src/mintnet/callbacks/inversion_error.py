"""A Lightning callback that checks the flow's inverse on validation data while training."""

import dataclasses
from typing import Any, NamedTuple

import pytorch_lightning as pl
import torch
from torch import Tensor

from mintnet.nn.image_flow import ImageFlow
from mintnet.nn.inverse import InverseSettings
from mintnet.nn.mint_layer import MintLayer

__all__ = ["InversionCheck", "InversionErrorCallback"]


class InversionCheck(NamedTuple):
    """What one check of the inverse measured on a batch of images."""

    error: float  # max |f^{-1}(f(v)) - v| over the batch
    iterations: int  # the most iterations any Mint layer needed
    converged: float  # fraction of images within tol in every Mint layer
    evaluations: float  # layer evaluations per image, summed over the Mint layers


class InversionErrorCallback(pl.Callback):
    r"""Every ``every_n_epochs`` validation epochs, invert the latents of the first validation batch
    with the flow's own inversion settings (or ``method``, when given) and log

    * ``val/inversion_error``: :math:`\max |\hat v - v|` in logit space, where ``v`` is
      :meth:`~mintnet.nn.ImageFlow.centre_logits` of the images and
      :math:`\hat v = f^{-1}(f(v))`;
    * ``val/inversion_iterations``: the most iterations any Mint layer needed;
    * ``val/inversion_converged``: the fraction of the images that reached ``tol`` in every layer;
    * ``val/inversion_evaluations``: layer evaluations per image, summed over the Mint layers.

    The flow is found at ``pl_module.flow`` (an :class:`ImageFlow`); modules without one
    (classifiers) are skipped quietly, and so is the sanity check.

    Arguments:
        every_n_epochs: period in validation epochs.
        max_images: at most this many images of the batch are inverted (bounds the cost).
        method: the solver to check with (``mintnet.nn.inverse.METHODS``); ``None`` keeps the
            model's own.
    """

    def __init__(
        self, every_n_epochs: int = 1, max_images: int = 32, method: str | None = None
    ) -> None:
        if every_n_epochs < 1 or max_images < 1:
            raise ValueError(
                f"every_n_epochs and max_images must be >= 1, got {every_n_epochs}, {max_images}"
            )
        if method is not None:
            InverseSettings(method=method)  # refuses an unknown method, naming the valid ones
        self.every_n_epochs, self.max_images, self.method = every_n_epochs, max_images, method
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
        check = self.measure(flow, self._batch, self.method)
        # each rank measures its own batch; report the worst over ranks (the mean for rates)
        pl_module.log("val/inversion_error", check.error, sync_dist=True, reduce_fx="max")
        pl_module.log(
            "val/inversion_iterations", float(check.iterations), sync_dist=True, reduce_fx="max"
        )
        pl_module.log("val/inversion_converged", check.converged, sync_dist=True)
        pl_module.log("val/inversion_evaluations", check.evaluations, sync_dist=True)
        self._batch = None

    @staticmethod
    @torch.no_grad()
    def measure(flow: ImageFlow, images: Tensor, method: str | None = None) -> InversionCheck:
        """Invert ``f(v)`` for images ``(B, C, H, W)`` and say how well it went."""
        ref = next(flow.parameters())
        v = flow.centre_logits(images.to(device=ref.device, dtype=ref.dtype))
        z, _ = flow.net(v)
        settings = None
        if method is not None:
            own = next(m.inversion for m in flow.net.layers if isinstance(m, MintLayer))
            settings = dataclasses.replace(own, method=method)
        v_hat, reports = flow.net.inverse_with_report(z, settings)
        within = torch.ones(z.shape[0], dtype=torch.bool, device=z.device)
        for report in reports:
            within &= report.residual <= report.tol
        return InversionCheck(
            error=float((v_hat - v).abs().max()),
            iterations=max((r.iterations for r in reports), default=0),
            converged=float(within.float().mean()),
            evaluations=sum(r.evaluations for r in reports),
        )
