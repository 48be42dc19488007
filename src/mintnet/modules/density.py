"""Density estimation with a MintNet flow: negative log-likelihood in bits per dimension."""

from typing import Any

import torch
from torch import Tensor
from torchmetrics import MeanMetric, MinMetric

from mintnet.data.datamodule import ImageDataModule
from mintnet.modules.base import ConfiguredModule, Monitor
from mintnet.modules.compile import compile_in_place
from mintnet.modules.optim import OptimizerFactory, SchedulerFactory
from mintnet.nn import ImageFlow, InverseSettings
from mintnet.nn.noise import check_estimate
from mintnet.pixel_baseline import pixel_baseline

__all__ = ["DensityModule"]


class DensityModule(ConfiguredModule):
    """Train ``flow`` by minimising bits/dim; logs ``{train,val,test}/bpd`` as exact
    dataset-level averages (torchmetrics, reduced across DDP ranks) and ``val/bpd_best``.

    Arguments:
        flow: the image flow (pre-processing and MintNet); its shape and grey levels must match
            the data.
        optimizer: a partial taking ``params`` (default: the paper's Adam).
        scheduler: a partial taking ``optimizer``, or ``None``.
        scheduler_interval: ``"epoch"`` or ``"step"``.
        sample_temperature: temperature ``T`` of ``z ~ N(0, T^2 I)`` when sampling.
        compile: ``false``, ``true`` / ``"model"`` (the whole flow as one graph) or ``"layers"``
            (each Mint layer; much faster to compile), see :mod:`mintnet.modules.compile`.
        eval_samples: ``K``, dequantisation draws per image for ``val/bpd`` and ``test/bpd``:
            the importance-weighted estimate of :meth:`mintnet.nn.ImageFlow.bits_per_dim`, at the
            cost of ``K`` forward passes per batch (training always uses one draw).
        eval_seed: ``None`` draws the evaluation noise from the global random state; an int
            makes ``val/bpd`` and ``test/bpd`` deterministic, the same for any batch size and
            number of DDP processes.
    """

    monitor = Monitor("val/bpd", "min")

    def __init__(
        self,
        flow: ImageFlow,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str = "epoch",
        sample_temperature: float = 1.0,
        compile: bool | str = False,
        eval_samples: int = 1,
        eval_seed: int | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler, scheduler_interval)
        check_estimate(eval_samples, eval_seed)
        if isinstance(sample_temperature, bool) or not (
            isinstance(sample_temperature, int | float) and sample_temperature > 0
        ):
            raise ValueError(
                f"sample_temperature must be a number > 0, got {sample_temperature!r}"
            )
        self.save_hyperparameters(ignore=["flow", "optimizer", "scheduler"], logger=False)
        self.flow = flow
        self.train_bpd, self.val_bpd, self.test_bpd = MeanMetric(), MeanMetric(), MeanMetric()
        self.val_best = MinMetric()
        compile_in_place(self.flow, compile)

    @classmethod
    def upgrade_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """A config written before the module took its ``flow`` (``net``, ``n_bins`` and
        ``logit_lam`` beside the module's own arguments) with those three moved into ``flow``;
        the weights' keys (``flow.net...``) are the same in both layouts."""
        if "flow" in config or "net" not in config:
            return config
        older = dict(config)
        flow = {"_target_": "mintnet.nn.ImageFlow", "net": older.pop("net")}
        for key in ("n_bins", "logit_lam"):
            if key in older:
                flow[key] = older.pop(key)
        return {**older, "flow": flow}

    def set_estimate(self, samples: int, seed: int | None) -> None:
        """Use ``samples`` draws, seeded with ``seed``, for ``val/bpd`` and ``test/bpd`` from now
        on (``mintnet-eval eval_samples=K eval_seed=S`` calls this on the loaded checkpoint)."""
        check_estimate(samples, seed)
        self.hparams.eval_samples, self.hparams.eval_seed = samples, seed

    def forward(self, x: Tensor) -> Tensor:
        """Bits per dimension of each image, ``(B,)``."""
        return self.flow(x)

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x, _ = batch
        samples, seed = self.hparams.eval_samples, self.hparams.eval_seed
        if stage == "train" or (samples == 1 and seed is None):
            bpd = self(x)  # (B,)
        else:
            bpd = self.flow.bits_per_dim(x, samples, seed)
        metric = getattr(self, f"{stage}_bpd")
        metric.update(bpd.detach())
        self.log(f"{stage}/bpd", metric, on_step=False, on_epoch=True, prog_bar=stage != "test")
        loss = bpd.mean()
        if stage == "train":
            self.log("train/loss", loss, on_step=True, on_epoch=False)
        return loss

    def reference_metrics(self, datamodule: ImageDataModule) -> dict[str, float]:
        """``test/pixel_baseline_bpd``: the test bits/dim of independent per-pixel histograms
        fitted on the training split (:func:`mintnet.pixel_baseline.pixel_baseline`), the score a
        flow must beat to have learned any structure."""
        return {"test/pixel_baseline_bpd": pixel_baseline(datamodule)}

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float | None = None, settings: InverseSettings | None = None
    ) -> tuple[Tensor, list[Any]]:
        """``n`` images in ``[0, 1]`` decoded from the prior, and the inversion reports."""
        t = self.hparams.sample_temperature if temperature is None else temperature
        return self.flow.sample(n, t, settings)
