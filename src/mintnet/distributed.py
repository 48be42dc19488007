"""DDP for mintnet: ranks relaunched correctly from any Hydra job, and evaluation without padding.

Two problems of Lightning's stock ``strategy: ddp`` under Hydra are fixed by
:class:`HydraDDPStrategy` (the ``strategy`` of ``conf/trainer/ddp.yaml`` and ``ddp_cpu.yaml``):

1. **Relaunching.** Lightning starts ranks ``1..N-1`` by running the script again with
   ``sys.argv``. In a multirun that command still carries ``-m`` and the sweep (``lr=a,b``), so
   every rank would start a sweep of its own; under submitit ``__main__`` is submitit's worker, not
   mintnet. :class:`HydraJobLauncher` instead runs the Hydra app with *this job's* overrides, in
   *this job's* output folder, without Hydra's log file and ``.hydra/`` copy (rank 0 writes those).
2. **Padding.** Lightning gives validation and test loaders a ``DistributedSampler``, which repeats
   a few samples so that every rank gets the same count: a dataset-level metric then counts those
   samples twice. Evaluation loaders get an :class:`UnrepeatedDistributedSampler` instead (every
   sample seen exactly once; ranks may differ by one sample), so the torchmetrics reduced across
   ranks equal a single-process evaluation. Training keeps the padded, shuffled sampler: DDP needs
   the same number of steps on every rank there.

Rank 0 of a job is the Hydra process itself, and the basic launcher runs a sweep's jobs one after
another in it: :class:`ReleaseRanks` (a Hydra callback in ``conf/train.yaml``) closes the process
group and restores the environment at the end of each job, so the next job starts clean.
"""

import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.utils import get_original_cwd
from omegaconf import DictConfig
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from pytorch_lightning.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from pytorch_lightning.trainer.states import RunningStage
from torch.utils.data import DataLoader, DistributedSampler

__all__ = [
    "HydraDDPStrategy",
    "HydraJobLauncher",
    "ReleaseRanks",
    "child_command",
    "release_ranks",
    "unpadded_loader",
]

EVALUATION_STAGES = (RunningStage.SANITY_CHECKING, RunningStage.VALIDATING, RunningStage.TESTING)

LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
"""What launching ranks sets in rank 0's environment (and ``OMP_NUM_THREADS``, via Lightning)."""


@dataclass
class _Launch:
    """This process's state before it launched ranks, to restore when the job ends."""

    environ: dict[str, str | None]
    num_threads: int


_last_launch: _Launch | None = None


def unpadded_loader(loader: DataLoader, num_replicas: int, rank: int) -> DataLoader:
    """``loader`` restricted to samples ``rank, rank + num_replicas, ...`` of its dataset, in order,
    each sample on exactly one rank (no padding, unlike ``DistributedSampler``)."""
    sampler = UnrepeatedDistributedSampler(
        loader.dataset, num_replicas=num_replicas, rank=rank, shuffle=False
    )
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        persistent_workers=loader.persistent_workers,
    )


def _entry_module() -> str:
    """The module whose Hydra app runs this job: ``mintnet.train`` or ``mintnet.eval``."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is not None and spec.name.startswith("mintnet."):  # python -m mintnet.train
        return spec.name
    # console scripts (no __spec__) and submitit workers (__main__ is submitit's)
    return f"mintnet.{HydraConfig.get().job.config_name}"


def child_command(local_rank: int) -> tuple[list[str], str]:
    """The command (and working directory) that starts rank ``local_rank`` of the current Hydra
    job: the same app and config, this job's overrides, this job's output folder, in run mode."""
    hydra_cfg = HydraConfig.get()
    command = [sys.executable, "-m", _entry_module(), f"--config-name={hydra_cfg.job.config_name}"]
    for source in hydra_cfg.runtime.config_sources:
        if source.provider == "command-line" and source.schema == "file":  # --config-dir
            command.append(f"--config-dir={source.path}")
    command += list(hydra_cfg.overrides.task)
    # an Optuna trial's number: the ranks then follow rank 0's pruning decisions
    command += [o for o in hydra_cfg.overrides.hydra if o.startswith("++hydra.sweeper.trial=")]
    if hydra_cfg.job.chdir:
        command.append("hydra.job.chdir=true")
    command += [
        "hydra.mode=RUN",  # one job, even where the config asks for a sweep (hparams_search)
        f'hydra.run.dir="{Path(hydra_cfg.runtime.output_dir).as_posix()}"',
        f"hydra.job.name={hydra_cfg.job.name}_rank{local_rank}",
        "hydra.output_subdir=null",  # rank 0 keeps the one .hydra/ copy of the config
        "hydra/job_logging=none",  # and the one log file; warnings still reach stderr
        "hydra/hydra_logging=none",
    ]
    return command, get_original_cwd()


def release_ranks() -> None:
    """End the DDP run that this process launched, if any: destroy the process group and restore
    the environment variables and thread count as they were before (see :class:`ReleaseRanks`)."""
    global _last_launch
    if _last_launch is None:
        return
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    for key, value in _last_launch.environ.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    torch.set_num_threads(_last_launch.num_threads)
    _last_launch = None


class ReleaseRanks(Callback):
    """Hydra callback: :func:`release_ranks` at the end of every job, so that the next job of a
    sweep run in the same process (basic launcher, Optuna) launches its own ranks afresh instead of
    reusing the finished job's process group and ``LOCAL_RANK``."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        release_ranks()


class HydraJobLauncher(_SubprocessScriptLauncher):
    """Lightning's launcher of ranks ``1..N-1`` on this node, with the command of
    :func:`child_command` when Hydra runs the job (Lightning's own command otherwise)."""

    def launch(self, function: Callable, *args: Any, trainer: Any = None, **kwargs: Any) -> Any:
        global _last_launch
        if not self.cluster_environment.creates_processes_externally and _last_launch is None:
            keys = (*LAUNCH_VARIABLES, "OMP_NUM_THREADS")
            _last_launch = _Launch({k: os.environ.get(k) for k in keys}, torch.get_num_threads())
        return super().launch(function, *args, trainer=trainer, **kwargs)

    def _call_children_scripts(self) -> None:
        if not HydraConfig.initialized():
            super()._call_children_scripts()
            return
        self._check_can_spawn_children()
        env = self.cluster_environment
        os.environ["MASTER_ADDR"] = env.main_address
        os.environ["MASTER_PORT"] = str(env.main_port)
        os.environ["NODE_RANK"] = str(env.node_rank())
        os.environ["LOCAL_RANK"] = str(env.local_rank())
        os.environ["WORLD_SIZE"] = str(self.num_processes * self.num_nodes)
        self.procs = []
        for local_rank in range(1, self.num_processes):
            command, cwd = child_command(local_rank)
            child_env = {**os.environ, "LOCAL_RANK": str(local_rank)}
            self.procs.append(subprocess.Popen(command, env=child_env, cwd=cwd))


class HydraDDPStrategy(pl.strategies.DDPStrategy):
    """``DDPStrategy`` (same arguments) that relaunches ranks with :class:`HydraJobLauncher` and
    evaluates on unpadded shards (:func:`unpadded_loader`); see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lightning warns that test metrics see repeated samples; process_dataloader prevents that.
        warnings.filterwarnings(
            "ignore", message="Using `DistributedSampler` with the dataloaders"
        )

    def _configure_launcher(self) -> None:
        super()._configure_launcher()
        if type(self._launcher) is _SubprocessScriptLauncher:  # start_method "popen"
            self._launcher = HydraJobLauncher(
                self.cluster_environment, self.num_processes, self.num_nodes
            )

    def process_dataloader(self, dataloader: object) -> object:
        dataloader = super().process_dataloader(dataloader)
        stage = self.lightning_module.trainer.state.stage
        if stage not in EVALUATION_STAGES or type(dataloader) is not DataLoader:
            return dataloader
        sampler = dataloader.sampler
        if type(sampler) is not DistributedSampler or dataloader.batch_size is None:
            return dataloader  # a sampler of the user's, wrapped by Lightning: left as it is
        return unpadded_loader(dataloader, sampler.num_replicas, sampler.rank)
