"""Optimizer and scheduler from config partials, shared by the LightningModules."""

from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["build_optimizers", "check_optimizer"]

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


def check_optimizer(optimizer: OptimizerFactory | None) -> None:
    """Build ``optimizer`` once over a throwaway parameter, so that a value it refuses (a negative
    learning rate) is reported when the module is built, not when training starts."""
    if optimizer is None:
        return
    try:
        optimizer(params=[torch.nn.Parameter(torch.zeros(1))])
    except (TypeError, ValueError) as error:
        raise ValueError(f"the optimizer refuses its arguments ({error})") from error


def build_optimizers(
    params: Iterable[torch.nn.Parameter],
    optimizer: OptimizerFactory | None,
    scheduler: SchedulerFactory | None,
    interval: str = "epoch",
    monitor: str | None = None,
) -> dict[str, Any]:
    """Lightning's ``configure_optimizers`` answer from Hydra partials.

    ``optimizer`` defaults to the paper's Adam (lr 1e-3, amsgrad, eps 1e-4) when ``None``;
    ``scheduler`` (optional) is stepped every ``"epoch"`` or ``"step"``.
    """
    if interval not in ("epoch", "step"):
        raise ValueError(f"scheduler interval must be 'epoch' or 'step', got {interval!r}")
    if optimizer is None:
        opt = torch.optim.Adam(params, lr=1e-3, amsgrad=True, eps=1e-4)
    else:
        opt = optimizer(params=params)
    if scheduler is None:
        return {"optimizer": opt}
    config: dict[str, Any] = {"scheduler": scheduler(optimizer=opt), "interval": interval}
    if monitor is not None:
        config["monitor"] = monitor
    return {"optimizer": opt, "lr_scheduler": config}
