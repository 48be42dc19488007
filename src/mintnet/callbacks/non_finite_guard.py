"""Skip optimizer steps whose loss or gradients are not finite; stop after too many in a row."""

import logging

import pytorch_lightning as pl
import torch

from mintnet.errors import MintNetError

__all__ = ["NonFiniteGuard", "NonFiniteLossError"]

log = logging.getLogger(__name__)


class NonFiniteLossError(MintNetError, RuntimeError):
    """Too many consecutive training steps had a NaN/Inf loss or gradient."""


class NonFiniteGuard(pl.Callback):
    """Before each optimizer step, check every gradient; if any is NaN or Inf (a non-finite loss
    makes them so), drop all gradients (``grad = None``, which Adam and SGD skip), so the weights
    and the optimizer's moments stay as they were. Skipped steps are counted and logged as
    ``train/skipped_steps``; after ``max_consecutive`` in a row the run stops with
    :class:`NonFiniteLossError`, keeping the checkpoints written so far (the last good ones).

    Arguments:
        max_consecutive: consecutive non-finite steps tolerated before stopping (>= 1).
    """

    def __init__(self, max_consecutive: int = 10) -> None:
        if max_consecutive < 1:
            raise ValueError(f"max_consecutive must be >= 1, got {max_consecutive}")
        self.max_consecutive = max_consecutive
        self.skipped = 0
        self.consecutive = 0

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"]]
        grads = [g for g in grads if g is not None]
        finite = bool(torch.stack([g.isfinite().all() for g in grads]).all()) if grads else True
        if finite:
            self.consecutive = 0
            return
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad = None
        self.skipped += 1
        self.consecutive += 1
        pl_module.log("train/skipped_steps", float(self.skipped), on_step=True, on_epoch=False)
        log.warning(
            "step %d: non-finite loss or gradient, optimizer step skipped (%d in a row, %d in all)",
            trainer.global_step,
            self.consecutive,
            self.skipped,
        )
        if self.consecutive >= self.max_consecutive:
            raise NonFiniteLossError(
                f"{self.consecutive} consecutive training steps had a NaN/Inf loss or gradient "
                f"(limit callbacks.non_finite_guard.max_consecutive={self.max_consecutive}); "
                f"stopped at step {trainer.global_step} with the weights of the last finite step. "
                "Try a lower learning rate or check the data."
            )

    def state_dict(self) -> dict[str, int]:
        return {"skipped": self.skipped, "consecutive": self.consecutive}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.skipped = state_dict["skipped"]
        self.consecutive = state_dict["consecutive"]
