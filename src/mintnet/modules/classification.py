"""Image classification with a MintNet (or ResNet baseline) backbone."""

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from mintnet.modules.base import ConfiguredModule, Monitor
from mintnet.modules.compile import compile_in_place
from mintnet.modules.optim import OptimizerFactory, SchedulerFactory

__all__ = ["ClassificationModule"]

STAGES = ("train", "val", "test")


class ClassificationModule(ConfiguredModule):
    """Cross-entropy training of ``net`` (images in ``[0, 1]`` -> logits); logs
    ``{stage}/loss``, ``{stage}/acc`` (torchmetrics) and ``val/acc_best``.

    Inputs are standardised as ``(x - mean) / std`` first (the paper normalises its inputs).

    Arguments:
        net: ``(B, C, H, W) -> (B, num_classes)``.
        num_classes: number of classes.
        mean: per-channel input mean (one value broadcasts to all channels).
        std: per-channel input standard deviation (one value broadcasts to all channels).
        optimizer: a partial taking ``params`` (default: Adam, lr 1e-3, amsgrad, eps 1e-4).
        scheduler: a partial taking ``optimizer``, or ``None``.
        scheduler_interval: ``"epoch"`` or ``"step"``.
        compile: ``false``, ``true`` / ``"model"`` (the whole net as one graph) or ``"layers"``
            (each Mint layer; much faster to compile), see :mod:`mintnet.modules.compile`.
    """

    monitor = Monitor("val/acc", "max")

    def __init__(
        self,
        net: torch.nn.Module,
        num_classes: int,
        mean: list[float] | float = 0.5,
        std: list[float] | float = 0.5,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str = "epoch",
        compile: bool | str = False,
    ) -> None:
        super().__init__(optimizer, scheduler, scheduler_interval)
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(-1, 1, 1))
        for stage in STAGES:  # one accuracy and one mean loss per stage: {stage}_acc, {stage}_loss
            setattr(self, f"{stage}_acc", MulticlassAccuracy(num_classes, average="micro"))
            setattr(self, f"{stage}_loss", MeanMetric())
        self.val_best = MaxMetric()
        compile_in_place(self.net, compile)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` of images ``(B, C, H, W)`` in ``[0, 1]``."""
        return self.net((x - self.mean) / self.std)

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        loss_metric, acc_metric = getattr(self, f"{stage}_loss"), getattr(self, f"{stage}_acc")
        loss_metric.update(loss.detach(), weight=y.numel())
        acc_metric.update(logits.detach(), y)
        self.log(f"{stage}/loss", loss_metric, on_step=False, on_epoch=True, prog_bar=True)
        self.log(f"{stage}/acc", acc_metric, on_step=False, on_epoch=True, prog_bar=True)
        if stage == "train":
            self.log("train/step_loss", loss, on_step=True, on_epoch=False)
        return loss
