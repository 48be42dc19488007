"""The stored study of a sweep: resuming it, and recording each trial's outcome.

Trial states, as the sweep records them:

* COMPLETE: the job finished; its value is the objective (``monitor.objective``);
* PRUNED: the job's pruning callback stopped it (the pruner said so at a validation);
* FAIL: the job failed or diverged (user attribute ``reason``), or its process ended before it
  finished (user attributes ``interrupted`` and ``reason``): such a trial is run again, with the
  same parameters and in the same job folder, the next time the sweep runs.

Every trial has the user attribute ``job``: the number of its job (its run folder).
"""

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

__all__ = [
    "INTERRUPTED",
    "build",
    "derived_seed",
    "finished_trials",
    "job_numbers",
    "record_outcome",
    "resume_interrupted",
    "study_progress",
]

log = logging.getLogger(__name__)

INTERRUPTED = "the job's process ended before it finished"


def derived_seed(seed: int | None, study_name: str, n_trials: int) -> int | None:
    """The sampler's seed for a run of the sweep that starts with ``n_trials`` trials in the
    study: a new random stream on each resume (so a resumed study does not propose its first
    trials' parameters again), the same for the same seed and study. ``None`` stays ``None``."""
    if seed is None:
        return None
    digest = hashlib.sha256(f"{seed}/{study_name}/{n_trials}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def finished_trials(trials: list[Any]) -> list[Any]:
    """The trials that count towards ``n_trials``: complete, pruned, or failed by themselves
    (not those whose process was interrupted, nor those still waiting or running)."""
    from optuna.trial import TrialState

    done = (TrialState.COMPLETE, TrialState.PRUNED)
    return [
        t
        for t in trials
        if t.state in done or (t.state == TrialState.FAIL and not t.user_attrs.get("interrupted"))
    ]


def job_numbers(trials: list[Any]) -> list[int]:
    """The job numbers trials were given so far."""
    return [int(t.user_attrs["job"]) for t in trials if "job" in t.user_attrs]


def resume_interrupted(study: Any, storage: Any) -> list[int]:
    """Mark the running trials of ``study`` (kept in ``storage``, an Optuna storage) failed as
    interrupted (their process was killed), and queue their parameters again, for the same job
    numbers; returns those job numbers."""
    from optuna.trial import TrialState

    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    study_id = storage.get_study_id_from_name(study.study_name)
    jobs = []
    for trial in running:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "interrupted", True)
        storage.set_trial_user_attr(trial_id, "reason", INTERRUPTED)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
        attrs = {"resumes_trial": trial.number}
        if "job" in trial.user_attrs:
            attrs["job"] = trial.user_attrs["job"]
            jobs.append(int(trial.user_attrs["job"]))
        study.enqueue_trial(trial.params, user_attrs=attrs)
    return jobs


def study_progress(storage: str, study_name: str) -> tuple[int, int, list[int]]:
    """``(trials so far, trials finished, trial numbers still marked running)`` of a stored
    study; ``(0, 0, [])`` when there is none yet."""
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:  # no study of that name in the storage yet
        return 0, 0, []
    trials = study.get_trials(deepcopy=False)
    running = [t.number for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    return len(trials), len(finished_trials(trials)), running


def _job_record(folder: Path | None) -> dict[str, Any]:
    try:
        return json.loads((folder / "job_status.json").read_text()) if folder else {}
    except (OSError, ValueError):
        return {}


def record_outcome(study: Any, trial: Any, job_return: Any, folder: Path | None) -> str:
    """Tell the study how ``trial`` ended, from its job's ``job_status.json`` in ``folder`` and
    what the job returned; returns the state's name."""
    from optuna.trial import TrialState

    record = _job_record(folder)
    status = record.get("status")
    reason = record.get("reason") or ""
    value = None
    try:
        value = job_return.return_value  # raises the job's exception if it ended with one
    except Exception as error:  # noqa: BLE001  (any error of the job: the trial failed)
        status, reason = "failed", reason or f"{type(error).__name__}: {error}"
    if status is None:  # no record (a task function other than mintnet's): judge the value
        finite = isinstance(value, int | float) and math.isfinite(value)
        status = "ok" if finite else "failed"
        reason = "" if finite else f"the job returned {value!r}, not a finite number"
    if status == "ok":
        value = record.get("value", value)
        if isinstance(value, int | float) and math.isfinite(value):
            study.tell(trial, float(value))
            return TrialState.COMPLETE.name
        status, reason = "failed", f"the job returned {value!r}, not a finite number"
    if status == "pruned":
        trial.set_user_attr("reason", reason)
        study.tell(trial, state=TrialState.PRUNED)
        return TrialState.PRUNED.name
    trial.set_user_attr("reason", reason or "the job failed")
    study.tell(trial, state=TrialState.FAIL)
    log.warning("trial %d failed: %s", trial.number, reason)
    return TrialState.FAIL.name


def build(cfg: Any, **kwargs: Any) -> Any:
    """Instantiate a sampler or pruner config (``_target_`` and arguments), leaving out the
    arguments its class does not take (``n_startup_trials`` of TPE after
    ``hydra/sweeper/sampler=random``), with a note in the log."""
    import inspect

    from hydra.utils import get_class
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(cfg, resolve=True) if not isinstance(cfg, dict) else dict(cfg)
    target = get_class(config.pop("_target_"))
    config |= kwargs
    accepted = inspect.signature(target).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in accepted.values()):
        dropped = sorted(k for k in config if k not in accepted)
        if dropped:
            log.info("%s takes no %s: left out", target.__name__, ", ".join(dropped))
        config = {k: v for k, v in config.items() if k in accepted}
    return target(**config)
