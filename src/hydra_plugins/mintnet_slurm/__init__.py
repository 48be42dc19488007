"""The Slurm launcher of ``hydra/launcher=slurm`` (``conf/hydra/launcher/slurm.yaml``): Hydra's
submitit launcher, with the waiting done so that a sweep survives what happens to its jobs.

It submits the sweep's jobs as one Slurm array, as the submitit launcher does, and then, instead
of waiting on each job in turn:

* refuses, before submitting, a request that no node of the partition can hold (CPUs or memory
  per node, from ``sinfo``), naming the values and the node's size;
* prints each job's Slurm state and pending reason whenever it changes (``squeue``), and
  cancels a job pending for a reason that never clears (:data:`NEVER_STARTS`, e.g.
  ``PartitionConfig``), recording that reason;
* turns a job that ended without a result (cancelled with ``scancel``, killed, timed out too
  many times) into a recorded outcome, ``cancelled`` or ``failed`` in its ``job_status.json``,
  and gives the sweeper the worst value: the other jobs go on, the summary table lists it and
  ``mintnet-train`` exits 1.

A requeued job (time limit, pre-emption, ``scontrol requeue``) is the same submitit job: the
launcher keeps waiting for it, and the job continues from its own ``checkpoints/last.ckpt``.
"""

import json
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
from omegaconf import OmegaConf, open_dict

__all__ = ["NEVER_STARTS", "MintnetSlurmLauncher", "check_fits"]

log = logging.getLogger(__name__)

NEVER_STARTS = frozenset(
    {
        "PartitionConfig",
        "PartitionNodeLimit",
        "PartitionTimeLimit",
        "BadConstraints",
        "InvalidAccount",
        "InvalidQOS",
        "QOSMaxCpuPerJobLimit",
        "QOSMaxMemoryPerJob",
        "QOSMaxGRESPerJob",
        "QOSMaxWallDurationPerJobLimit",
    }
)
"""Pending reasons with which Slurm will never start a job as it was submitted."""

ENDED = frozenset(
    {"CANCELLED", "COMPLETED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"}
    | {"DEADLINE", "PREEMPTED"}
)
"""Slurm states of a job that has ended (a requeued job is PENDING again, not one of these)."""

_QUEUE_KEYS = ("submitit_folder", "timeout_min", "cpus_per_task", "gpus_per_node")
_QUEUE_KEYS += ("tasks_per_node", "mem_gb", "nodes", "name", "stderr_to_stdout")


def check_fits(params: dict[str, Any]) -> None:
    """Refuse a request that no node of the partition has room for (``sinfo``'s CPUs and memory
    per node); nothing is checked where ``sinfo`` does not answer."""
    command = ["sinfo", "-h", "-o", "%c %m"]
    if params.get("partition"):
        command += ["-p", str(params["partition"])]
    try:
        sizes = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
        nodes = [
            tuple(int(v.rstrip("+")) for v in line.split())
            for line in sizes.stdout.split("\n")
            if line.strip()
        ]
    except (OSError, ValueError, subprocess.SubprocessError):
        return
    if not nodes:
        return
    cpus = int(params.get("cpus_per_task") or 1) * int(params.get("tasks_per_node") or 1)
    memory = int(params["mem_gb"]) * 1024 if params.get("mem_gb") else 0
    if any(cpus <= c and memory <= m for c, m in nodes):
        return
    where = (
        f"partition {params['partition']}" if params.get("partition") else "the default partition"
    )
    largest = max(nodes)
    raise ValueError(
        f"hydra.launcher: cpus_per_task={params.get('cpus_per_task')} x tasks_per_node="
        f"{params.get('tasks_per_node')} = {cpus} CPUs and mem_gb={params.get('mem_gb')} per node, "
        f"but the nodes of {where} have at most {largest[0]} CPUs and {largest[1] // 1024} GB "
        "(sinfo): lower hydra.launcher.cpus_per_task / mem_gb, or choose another partition"
    )


def _queue(job_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``{job id: (state, reason)}`` from ``squeue`` for the jobs it still lists."""
    command = ["squeue", "-h", "-t", "all", "-o", "%i|%T|%r", "-j", ",".join(job_ids)]
    try:
        listed = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return {}
    rows = (line.split("|") for line in listed.stdout.splitlines() if line.count("|") == 2)
    return {job: (state, reason) for job, state, reason in rows}


def _refuse(message: str) -> None:
    """End the sweep before any job ran: the reason as one line on stderr, exit status 1."""
    print(f"mintnet-train: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def _gpu_hint(params: dict[str, Any]) -> str:
    if params.get("gpus_per_node"):
        return (
            f" (this asked for gpus_per_node={params['gpus_per_node']}: on a partition without "
            "GPUs use trainer=cpu or trainer=ddp_cpu)"
        )
    return ""


class _OnceEach(logging.Filter):
    """Let each distinct warning through once (submitit repeats "Bypassing sacct error" at every
    poll on clusters without accounting, where it still reads the states from the queue)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage().split(" - ", 1)[-1].split(" Command ")[0]
        if text in self.seen:
            return False
        self.seen.add(text)
        return True


class MintnetSlurmLauncher(SlurmLauncher):
    """``hydra.launcher._target_`` of ``hydra/launcher=slurm``; its settings are those of
    Hydra's submitit Slurm launcher (``partition``, ``timeout_min``, ``cpus_per_task``, ...)."""

    poll_seconds = 5.0

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        import submitit

        assert self.config is not None and self.hydra_context is not None
        try:
            check_fits(self.params)
        except ValueError as refused:
            _refuse(str(refused))
        logging.getLogger("submitit").addFilter(_OnceEach())
        executor = submitit.AutoExecutor(
            cluster="slurm",
            folder=self.params["submitit_folder"],
            slurm_max_num_timeout=self.params.get("max_num_timeout", 0),
        )
        skip = {"submitit_folder", "max_num_timeout"}
        executor.update_parameters(
            **{
                key if key in _QUEUE_KEYS else f"slurm_{key}": value
                for key, value in self.params.items()
                if key not in skip
            }
        )
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        numbers = [initial_job_idx + i for i in range(len(job_overrides))]
        for number, overrides in zip(numbers, job_overrides, strict=True):
            log.info("\t#%d : %s", number, " ".join(filter_overrides(overrides)))
        arguments = [
            (list(o), "hydra.sweep.dir", n, f"job_id_for_{n}", Singleton.get_state())
            for n, o in zip(numbers, job_overrides, strict=True)
        ]
        try:
            jobs = executor.map_array(self, *zip(*arguments, strict=True))
        except submitit.core.utils.FailedJobError as refused:  # sbatch said no
            _refuse(
                f"Slurm refused the jobs: {' '.join(str(refused).split())}{_gpu_hint(self.params)}"
            )
        return self._wait(jobs, numbers, job_overrides)

    def _wait(
        self, jobs: list[Any], numbers: list[int], job_overrides: Sequence[Sequence[str]]
    ) -> list[JobReturn]:
        """Wait for every job, reporting state changes; a job's failure is its own."""
        returns: dict[int, JobReturn] = {}
        seen: dict[int, tuple[str, str]] = {}
        ended: dict[int, int] = {}  # polls that found the job ended without its result
        while len(returns) < len(jobs):
            queue = _queue([job.job_id for job in jobs])
            for i, job in enumerate(jobs):
                if i in returns:
                    continue
                state, reason = queue.get(job.job_id, ("", ""))
                if job.done():
                    returns[i] = self._outcome(job, state, numbers[i], job_overrides[i])
                    continue
                if state and state.split()[0] in ENDED:
                    ended[i] = ended.get(i, 0) + 1  # a second look: results land as jobs end
                    if ended[i] >= 2:
                        returns[i] = self._ended(job, state, numbers[i], job_overrides[i])
                    continue
                if state and (state, reason) != seen.get(i):
                    seen[i] = (state, reason)
                    shown = f"{state} ({reason})" if reason and reason != "None" else state
                    print(f"job #{numbers[i]} (Slurm {job.job_id}): {shown}", flush=True)
                if state == "PENDING" and reason in NEVER_STARTS:
                    subprocess.run(["scancel", job.job_id], capture_output=True, timeout=30)
                    why = f"Slurm cannot start it: pending with reason {reason}"
                    print(
                        f"job #{numbers[i]} (Slurm {job.job_id}): cancelled, {why}",
                        file=sys.stderr,
                    )
                    returns[i] = self._unfinished(numbers[i], job_overrides[i], "failed", why)
            if len(returns) < len(jobs):
                time.sleep(self.poll_seconds)
        return [returns[i] for i in range(len(jobs))]

    def _outcome(self, job: Any, state: str, number: int, overrides: Sequence[str]) -> JobReturn:
        """The job's own return (``job`` is done), or the error it ended with, recorded."""
        try:
            return job.results()[0]
        except Exception as error:  # noqa: BLE001 - any end without a result is recorded
            return self._ended(job, state or str(job.state), number, overrides, error)

    def _ended(
        self,
        job: Any,
        state: str,
        number: int,
        overrides: Sequence[str],
        error: BaseException | None = None,
    ) -> JobReturn:
        """Record a job that Slurm ended without a result: ``cancelled`` or ``failed``."""
        status = "cancelled" if state.startswith("CANCELLED") else "failed"
        detail = (
            str(error).strip().splitlines()[0] if error is not None and str(error).strip() else ""
        )
        reason = f"Slurm job {job.job_id} ended {state}" + (f": {detail}" if detail else "")
        return self._unfinished(number, overrides, status, reason)

    def _unfinished(
        self, number: int, overrides: Sequence[str], status: str, reason: str
    ) -> JobReturn:
        """Record ``status`` in the job's ``job_status.json`` (keeping the training's own reason
        where the job wrote one) and return the worst value for the sweep's direction."""
        from mintnet import sweeps

        config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(config.hydra.job):
            config.hydra.job.num = number
        folder = Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)
        folder.mkdir(parents=True, exist_ok=True)
        record_file = folder / sweeps.JOB_STATUS_FILE
        try:
            written = json.loads(record_file.read_text()).get("reason", "")
        except (OSError, ValueError):
            written = ""
        record = {
            "job": number,
            "overrides": list(overrides),
            "status": status,
            "reason": f"{reason} ({written})" if written else reason,
            "metric": OmegaConf.select(config, "monitor.objective", default=None),
            "value": None,
            "dir": str(folder),
        }
        record_file.write_text(json.dumps(record, indent=1) + "\n")
        log.error("job #%d %s: %s", number, status, record["reason"])
        result = JobReturn(overrides=list(overrides), working_dir=str(folder))
        result.status = JobStatus.COMPLETED  # the sweep goes on; the record says what happened
        result.return_value = sweeps.worst_value(config.monitor.mode)
        return result
