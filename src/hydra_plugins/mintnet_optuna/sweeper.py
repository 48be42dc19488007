"""The Optuna sweeper: Optuna's ask-and-tell loop, each trial one job of Hydra's launcher."""

import logging
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.mintnet_optuna.space import SearchSpace, search_space
from hydra_plugins.mintnet_optuna.study import (
    build,
    derived_seed,
    finished_trials,
    job_numbers,
    record_outcome,
    resume_interrupted,
)

__all__ = ["OptunaSweeper", "TRIAL_OVERRIDE"]

log = logging.getLogger(__name__)

TRIAL_OVERRIDE = "++hydra.sweeper.trial"
"""The override that gives each job its trial's number (read by its pruning callback)."""


class OptunaSweeper(Sweeper):
    """Hydra sweeper (``hydra/sweeper=optuna``, ``conf/hydra/sweeper/optuna.yaml``) running an
    Optuna study of ``n_trials`` trials, ``n_jobs`` at a time, through the configured launcher.

    The study lives in ``storage`` (an SQLAlchemy URL; ``null``: in memory). Run again with the
    same storage, it resumes: trials still marked running are recorded as failed (interrupted)
    and run again with their parameters in their own job folder, the sampler is seeded anew
    from ``sampler.seed``, the study and its number of trials, and trials are asked until
    ``n_trials`` have finished (complete, pruned, or failed on their own).
    """

    def __init__(
        self,
        sampler: DictConfig | None = None,
        pruner: DictConfig | None = None,
        direction: str = "minimize",
        study_name: str | None = None,
        storage: str | None = None,
        n_trials: int = 20,
        n_jobs: int = 1,
        max_failure_rate: float = 1.0,
        params: DictConfig | None = None,
        trial: int | None = None,  # set in each job's config only (TRIAL_OVERRIDE)
    ) -> None:
        self.sampler_cfg, self.pruner_cfg = sampler, pruner
        self.direction = direction
        self.study_name = study_name or "study"
        self.storage = storage
        self.n_trials, self.n_jobs = int(n_trials), max(1, int(n_jobs))
        self.max_failure_rate = float(max_failure_rate)
        self.params = params

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _study(self, storage: Any) -> Any:
        import optuna

        existing = 0
        if self.storage:
            try:
                existing = len(
                    optuna.load_study(study_name=self.study_name, storage=storage).trials
                )
            except KeyError:  # a new study
                pass
        sampler = None
        if self.sampler_cfg:
            seed = derived_seed(self.sampler_cfg.get("seed"), self.study_name, existing)
            sampler = build(self.sampler_cfg, seed=seed)
        pruner = build(self.pruner_cfg) if self.pruner_cfg else optuna.pruners.NopPruner()
        return optuna.create_study(
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            study_name=self.study_name,
            direction=self.direction,
            load_if_exists=True,
        )

    def sweep(self, arguments: list[str]) -> Any:
        space = search_space(self.params, arguments)
        if not space.distributions:
            raise ValueError("hydra.sweeper.params and the command line name nothing to search")
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        import optuna

        storage = optuna.storages.get_storage(self.storage)  # None: in memory
        study = self._study(storage)
        resumed = resume_interrupted(study, storage)
        trials = study.get_trials(deepcopy=False)
        finished = len(finished_trials(trials))
        folders = [int(p.name) for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]
        next_job = max([*job_numbers(trials), *folders], default=-1) + 1
        if trials:
            log.info(
                "Resuming study %r from %s: %d trials finished, %d interrupted (run again in "
                "their folders %s), %d to run; new job numbers start at %d",
                self.study_name,
                self.storage,
                finished,
                len(resumed),
                resumed,
                max(0, self.n_trials - finished),
                next_job,
            )
        if self.storage:
            print(f"study dashboard: optuna-dashboard {self.storage}", flush=True)
        self._run(study, space, finished, next_job)
        self._write_results(study, sweep_dir)
        return study

    def _run(self, study: Any, space: SearchSpace, finished: int, next_job: int) -> None:
        failures = 0
        while finished < self.n_trials:
            batch = []
            for _ in range(min(self.n_jobs, self.n_trials - finished)):
                trial = study.ask(space.distributions)
                job = trial.user_attrs.get("job")
                if job is None:
                    job, next_job = next_job, next_job + 1
                    trial.set_user_attr("job", job)
                batch.append((int(job), trial))
            for state in self._launch(study, space, sorted(batch, key=lambda b: b[0])):
                finished += 1
                failures += state == "FAIL"
            if failures / max(1, finished) > self.max_failure_rate:
                raise RuntimeError(
                    f"{failures} of {finished} trials failed, more than "
                    f"hydra.sweeper.max_failure_rate={self.max_failure_rate}"
                )

    def _launch(self, study: Any, space: SearchSpace, batch: list[tuple[int, Any]]) -> list[str]:
        """Launch the trials of ``batch`` (sorted by job number), one launcher call per run of
        consecutive job numbers, and record their outcomes."""
        states = []
        start = 0
        while start < len(batch):
            end = start + 1
            while end < len(batch) and batch[end][0] == batch[end - 1][0] + 1:
                end += 1
            group = batch[start:end]
            overrides = [
                [*space.overrides(trial.params), f"{TRIAL_OVERRIDE}={trial.number}"]
                for _, trial in group
            ]
            returns = self.launcher.launch(overrides, initial_job_idx=group[0][0])
            for (job, trial), job_return in zip(group, returns, strict=True):
                states.append(
                    record_outcome(study, trial, job_return, self._folder(job_return, job))
                )
            start = end
        return states

    def _folder(self, job_return: Any, job: int) -> Path:
        output_dir = OmegaConf.select(job_return.hydra_cfg or {}, "hydra.runtime.output_dir")
        return Path(output_dir) if output_dir else Path(self.config.hydra.sweep.dir) / str(job)

    def _write_results(self, study: Any, sweep_dir: Path) -> None:
        try:
            best = study.best_trial
        except ValueError:  # no complete trial
            return
        results = {"name": "optuna", "best_params": best.params, "best_value": best.value}
        OmegaConf.save(OmegaConf.create(results), sweep_dir / "optimization_results.yaml")
        log.info("Best parameters: %s; best value: %s", best.params, best.value)
