"""Weights & Biases, the dashboard: one W&B run per run folder, continued by every resume; the
monitored metrics summarised the way they are optimised; every run finished with its exit code;
offline runs found for ``mintnet-sync`` (:mod:`mintnet.cli.sync`).

A run's W&B id is chosen before its logger starts, in this order: the id given in the config
(``logger.wandb.id``), the id kept in the checkpoint it resumes from (``ckpt_path``), the id
recorded in its run folder (``<run folder>/wandb/run_id``, from an earlier start in the same
folder: a requeued Slurm job), else a new one. It is written to ``<run folder>/wandb/run_id`` and
into every checkpoint (:class:`mintnet.modules.base.ConfiguredModule`), and the logger opens the
run with ``resume="allow"``: curves of a resumed run continue on the same dashboard page.
"""

import contextlib
import logging
import secrets
import signal
import string
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.loggers import Logger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only
from pytorch_lightning.utilities.exceptions import SIGTERMException

from mintnet.callbacks.preemption import PREEMPTED_EXIT_CODE
from mintnet.sweeps import TrialPruned

__all__ = [
    "RUN_ID_FILE",
    "choose_run_id",
    "define_metrics",
    "finish_run",
    "finished_with_exit_code",
    "offline_runs",
    "open_runs",
    "prepare_wandb",
    "start_runs",
]

log = logging.getLogger(__name__)

RUN_ID_FILE = Path("wandb") / "run_id"
"""Where a run folder records its W&B run id, relative to the folder."""


def _checkpoint_run_id(ckpt_path: str | None) -> str | None:
    if not ckpt_path or not Path(ckpt_path).is_file():
        return None
    from mintnet.checkpoint import CheckpointError, read_checkpoint
    from mintnet.modules.base import CHECKPOINT_KEY

    try:
        run_id = read_checkpoint(ckpt_path)[CHECKPOINT_KEY].get("wandb_id")
    except CheckpointError:
        return None  # the resume itself reports the problem with the file
    return str(run_id) if run_id else None


def choose_run_id(output_dir: str | Path, ckpt_path: str | None = None) -> str:
    """The W&B run id of the run in ``output_dir`` (see the module docstring for the order)."""
    recorded = Path(output_dir) / RUN_ID_FILE
    run_id = _checkpoint_run_id(ckpt_path)
    if run_id is None and recorded.is_file():
        run_id = recorded.read_text().strip() or None
    if run_id is None:  # W&B's own form: 8 lower-case letters and digits
        run_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
    return run_id


def prepare_wandb(cfg: DictConfig) -> None:
    """Give ``cfg.logger.wandb`` (if configured) its run id (unless set), and record the id in
    the run folder; rank 0 only writes."""
    wandb_cfg = OmegaConf.select(cfg, "logger.wandb")
    if not wandb_cfg or "_target_" not in wandb_cfg:
        return
    output_dir = Path(wandb_cfg.get("save_dir") or cfg.paths.output_dir)
    run_id = wandb_cfg.get("id") or choose_run_id(output_dir, cfg.get("ckpt_path"))
    with open_dict(wandb_cfg):
        wandb_cfg.id = run_id
    if rank_zero_only.rank == 0:
        (output_dir / RUN_ID_FILE).parent.mkdir(parents=True, exist_ok=True)
        (output_dir / RUN_ID_FILE).write_text(f"{run_id}\n")


def define_metrics(loggers: Iterable[Logger], monitor: DictConfig) -> None:
    """Make the W&B run summarise the monitored metric (and its ``_best``) by its optimum:
    ``val/bpd`` by its minimum, ``val/acc`` by its maximum, so run tables and sweep views compare
    best values, not last ones."""
    for logger in loggers:
        if isinstance(logger, WandbLogger) and rank_zero_only.rank == 0:
            for metric in (monitor.metric, f"{monitor.metric}_best"):
                logger.experiment.define_metric(metric, summary=monitor.mode)


STOP_SIGNALS = ("SIGTERM", "SIGUSR1", "SIGUSR2")
"""The signals a cluster sends to every process of a job to stop it or warn of its time limit."""


@contextlib.contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """Block :data:`STOP_SIGNALS` in this thread for the duration; a signal that arrives
    meanwhile is delivered when the block ends. Processes started meanwhile inherit the block."""
    signals = {getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)}
    if not hasattr(signal, "pthread_sigmask") or not signals:
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def open_runs(loggers: Iterable[Logger]) -> None:
    """Start the W&B run of each W&B logger now (rank 0), with the stop signals blocked, so that
    W&B's service processes inherit the block: Slurm sends its time-limit warning (USR2) to every
    process of a job, and W&B's system monitor would end on it, taking the run's last steps with
    it. The training process alone decides when to stop (:mod:`mintnet.callbacks.preemption`)."""
    for logger in loggers:
        if isinstance(logger, WandbLogger) and rank_zero_only.rank == 0:
            with _stop_signals_blocked():
                logger.experiment  # noqa: B018 - the property starts the run


def start_runs(loggers: Iterable[Logger], cfg: DictConfig) -> None:
    """Start the loggers' runs (:func:`open_runs`), log the resolved config as their
    hyper-parameters, and summarise the monitored metric by its optimum (:func:`define_metrics`)."""
    open_runs(loggers)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    define_metrics(loggers, cfg.monitor)


@contextlib.contextmanager
def finished_with_exit_code() -> Iterator[None]:
    """Whatever happens in the block, finish the W&B run (if one was opened) with exit code 0 on
    success, 143 on SIGTERM and 1 on an error, so the dashboard shows how the run ended; a trial
    stopped by the study's pruner is a decision, not an error (0)."""
    exit_code = 1
    try:
        yield
        exit_code = 0
    except SIGTERMException:
        exit_code = PREEMPTED_EXIT_CODE
        raise
    except TrialPruned:
        exit_code = 0
        raise
    finally:
        finish_run(exit_code)


def finish_run(exit_code: int) -> None:
    """Finish this process's W&B run, if one is open, with ``exit_code`` (non-zero: the dashboard
    marks it failed); the next job of a sweep then starts a run of its own. A W&B service that
    is already gone (a SIGTERM sent to every process of a Slurm job ends it) is logged, not
    raised: the run's checkpoint and the reason it stopped matter more, and W&B keeps the
    offline files it had written."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        try:
            wandb.finish(exit_code=exit_code)
        except Exception as error:  # noqa: BLE001 - whatever W&B's connection raises
            log.warning("W&B could not finish the run (%s: %s)", type(error).__name__, error)


def offline_runs(folders: Sequence[str | Path]) -> list[Path]:
    """Every W&B offline run folder (``offline-run-*``) under ``folders``, at any depth (sweep
    jobs included), oldest first: a resumed run's later part is uploaded after its earlier one."""
    runs: set[Path] = set()
    for folder in folders:
        folder = Path(folder)
        if folder.name.startswith("offline-run-") and folder.is_dir():
            runs.add(folder)
        runs |= {p for p in folder.rglob("offline-run-*") if p.is_dir()}
    return sorted(runs, key=lambda p: (p.name.split("-")[2:4], str(p)))
