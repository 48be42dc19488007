"""Pruning of an Optuna trial from inside its training process.

The Optuna sweeper (``hydra_plugins.mintnet_optuna``) gives each job its trial number
(``hydra.sweeper.trial``); :func:`mintnet.sweeps.record_sweep` then adds this callback. At every
validation it reports the monitored metric to the study, in the storage (the SQLite file of the
sweep folder, or a database URL: the job may run on another node), at the step of the epoch,
and stops the run when the study's pruner says so.
"""

import logging
import math
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger

from mintnet import sweeps
from mintnet.sweeps import TrialPruned

__all__ = ["OptunaPruning"]

log = logging.getLogger(__name__)


class OptunaPruning(pl.Callback):
    """Report ``monitor`` to trial ``trial`` of study ``study_name`` in ``storage`` after each
    validation (rank 0); raise :class:`~mintnet.sweeps.TrialPruned` when ``pruner`` (the
    sweeper's ``hydra.sweeper.pruner`` config) prunes it, or in a DDP run stop every rank at the
    end of the epoch and note it in :data:`mintnet.sweeps.pruned_runs`."""

    def __init__(
        self,
        storage: str | None,
        study_name: str | None,
        trial: int,
        monitor: str,
        pruner: Any = None,
    ) -> None:
        self.storage, self.study_name, self.number = storage, study_name, int(trial)
        self.monitor = monitor
        self.pruner_cfg = pruner
        self._trial: Any = None

    def _open(self) -> tuple[Any, Any]:
        import optuna

        from hydra_plugins.mintnet_optuna.study import build

        storage = optuna.storages.get_storage(self.storage)
        study_id = storage.get_study_id_from_name(self.study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, self.number)
        pruner = build(self.pruner_cfg) if self.pruner_cfg else None
        study = optuna.load_study(study_name=self.study_name, storage=storage, pruner=pruner)
        return optuna.trial.Trial(study, trial_id), lambda: storage.get_trial(trial_id)

    def _should_prune(self, epoch: int, value: float) -> bool:
        if self._trial is None:
            self._trial, self._stored = self._open()
        if epoch in self._stored().intermediate_values:
            return False  # reported already (a second validation in the epoch, a resumed job)
        self._trial.report(value, step=epoch)
        return self._trial.should_prune()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        value = math.nan if value is None else float(value)
        epoch, prune = trainer.current_epoch, False
        if trainer.global_rank == 0 and not math.isnan(value):
            prune = self._should_prune(epoch, value)
        if trainer.world_size > 1:  # every rank has this callback: all stop, or none
            prune = trainer.strategy.broadcast(prune, src=0)
        if not prune:
            return
        pruned = TrialPruned(
            f"after epoch {epoch}: {self.monitor}={value:.6g}",
            value if math.isfinite(value) else None,
        )
        if trainer.global_rank == 0:
            log.info("trial %d %s", self.number, pruned)
            _mark_wandb_runs(trainer, epoch)
        if trainer.world_size == 1:
            raise pruned
        # DDP: every rank stops at the end of this epoch (and tests, as ranks stay in step);
        # rank 0's job then records the trial as pruned
        trainer.should_stop = True
        sweeps.pruned_runs.append(pruned)


def _mark_wandb_runs(trainer: pl.Trainer, epoch: int) -> None:
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            run = logger.experiment
            run.summary.update({"optuna/pruned": True, "optuna/pruned_epoch": epoch})
            run.tags = (*(run.tags or ()), "pruned")
