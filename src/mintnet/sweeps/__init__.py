"""The jobs of a Hydra multirun: grouped on the dashboard, isolated from each other's failures,
and summarised at the end.

Every job of one ``python -m mintnet.train -m ...`` (basic sweeper, Optuna, or a submitit
launcher) shares ``hydra.sweep.dir``; :func:`record_sweep` turns it into a W&B group, so the
sweep's runs appear together, and logs the job's overrides next to the resolved config, so the
swept values are config columns.

A job that fails (a config error in one arm of the sweep, missing data, a diverged run, any
exception) does not end the sweep: ``mintnet.train`` logs the error with its traceback to the
job's ``train.log``, finishes its W&B run with a non-zero exit code, records the outcome in the
job's folder (:func:`record_job`, ``job_status.json``) and returns the worst value for the
sweep's direction (:func:`worst_value`): :func:`run_job` does this around the run; the Optuna sweeper reads the record and stores the trial
as FAIL with its reason, and goes on. When the multirun ends, :class:`SweepSummary` prints one table of all jobs, writes it to
``<sweep dir>/summary.csv``, and makes ``mintnet-train`` exit non-zero if any job failed.

Every sweep resumes: run again with the same ``hydra.sweep.dir``, a job whose folder records it
finished (ok or pruned) with the same overrides returns its recorded value without training
(:func:`finished_job`), an interrupted job continues from its own ``checkpoints/last.ckpt``, and
the others run. A job of an Optuna search reports to its trial at every validation and stops
when the study's pruner says so (:class:`TrialPruned`, status ``pruned``).
"""

from mintnet.sweeps.jobs import (
    FINISHED,
    JOB_STATUS_FILE,
    TrialPruned,
    failed_jobs,
    finished_job,
    pruned_runs,
    record_job,
    record_sweep,
    run_job,
    sweep_info,
    worst_value,
)
from mintnet.sweeps.summary import (
    SUMMARY_FILE,
    SweepSummary,
    summary_rows,
    swept_overrides,
    write_summary,
)

__all__ = [
    "FINISHED",
    "JOB_STATUS_FILE",
    "SUMMARY_FILE",
    "SweepSummary",
    "TrialPruned",
    "failed_jobs",
    "finished_job",
    "pruned_runs",
    "record_job",
    "record_sweep",
    "run_job",
    "summary_rows",
    "sweep_info",
    "swept_overrides",
    "worst_value",
    "write_summary",
]
