"""Hydra's Optuna sweeper, resuming a stored study: ``hydra.sweeper._target_`` of
``conf/hparams_search/*.yaml`` (Hydra loads sweepers only from the ``hydra_plugins`` package)."""

import logging
import os
from typing import Any

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper

__all__ = ["ResumableOptunaSweeper", "study_progress"]

log = logging.getLogger(__name__)

# SQLAlchemy 1.4 (what optuna 2.10 can use, pinned on purpose) warns about 2.0 on every import
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")


def study_progress(storage: str, study_name: str) -> tuple[int, int, list[int]]:
    """``(trials so far, trials finished, trial ids still marked running)`` of a stored study;
    ``(0, 0, [])`` when there is none yet. Finished means complete or pruned (a job that fails
    returns the worst value: its trial is complete)."""
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:  # no study of that name in the storage yet
        return 0, 0, []
    trials = study.get_trials(deepcopy=False)
    running = [t._trial_id for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    finished = sum(t.state in done for t in trials)
    return len(trials), finished, running


class ResumableOptunaSweeper(OptunaSweeper):
    """The Optuna sweeper (same arguments) for studies kept in a database (``storage``).

    Run again with the same storage (the same ``hydra.sweep.dir``), it continues the study
    instead of starting over: trials still marked running (their process was killed) are marked
    failed, only the trials missing to reach ``n_trials`` finished ones are run, and job numbers
    (the trials' folders) continue after the existing ones, so no folder is overwritten.
    """

    def sweep(self, arguments: list[str]) -> Any:
        impl = self.sweeper
        if impl.storage:
            import optuna

            existing, finished, running = study_progress(impl.storage, impl.study_name)
            if existing:
                storage = optuna.storages.get_storage(impl.storage)
                for trial_id in running:
                    storage.set_trial_state(trial_id, optuna.trial.TrialState.FAIL)
                impl.job_idx = existing
                impl.n_trials = max(0, impl.n_trials - finished)
                log.info(
                    "Resuming study %r from %s: %d trials finished, %d interrupted (marked "
                    "failed), %d to run; job numbers continue from %d",
                    impl.study_name,
                    impl.storage,
                    finished,
                    len(running),
                    impl.n_trials,
                    existing,
                )
        return super().sweep(arguments)
