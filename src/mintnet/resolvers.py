"""The ``mintnet.*`` OmegaConf resolvers used in ``conf/``. Importing this module registers them,
and so does importing :mod:`mintnet` (any of its modules) once OmegaConf is imported.

* ``${mintnet.slurm_tasks:DEVICES}`` and ``${mintnet.slurm_gpus:ACCELERATOR,DEVICES}``: the Slurm
  tasks and GPUs per node of a job running the trainer (``conf/hydra/launcher/slurm.yaml``): one
  task per rank, GPUs only for a GPU trainer.
* ``${mintnet.cpus_at_most:N}``: ``N``, or fewer if this process may run on fewer CPUs (at least
  1). The data configs ask for ``${mintnet.cpus_at_most:4}`` data-loader workers.
* ``${mintnet.sqlite:PATH}``: the SQLAlchemy URL ``sqlite:///<absolute PATH>``, its folder
  created. The Optuna searches keep their study in ``${mintnet.sqlite:${hydra.sweep.dir}/optuna.db}``.
* ``${mintnet.monitor:TARGET,FIELD}``: the ``metric``, ``mode`` or ``best`` (key of the best
  value so far) of the :class:`mintnet.modules.base.Monitor` that the LightningModule class
  ``TARGET`` declares; ``conf/train.yaml`` reads its ``monitor`` from ``model._target_``.
* ``${mintnet.direction:MODE}``: ``minimize`` for ``min``, ``maximize`` for ``max`` (the Optuna
  sweeper's direction for the monitored metric's mode).
* ``${mintnet.wandb_offline:}``: true unless the ``WANDB_MODE`` environment variable asks for
  another mode (``online``, ``disabled``): W&B logs offline by default, online after
  ``export WANDB_MODE=online``.
"""

import os
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

__all__ = [
    "available_cpus",
    "cpus_at_most",
    "direction",
    "monitor",
    "register",
    "slurm_gpus",
    "slurm_tasks",
    "sqlite_url",
    "wandb_offline",
]


def slurm_tasks(devices: Any) -> int:
    """Slurm tasks per node for a trainer with ``devices`` per node: one per rank (the
    ``mintnet.slurm_tasks`` resolver)."""
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise ValueError(
            f"hydra/launcher=slurm needs trainer.devices as a number of devices per node (one "
            f"Slurm task each), got {devices!r}: set e.g. trainer.devices=2"
        )
    return devices


def slurm_gpus(accelerator: str, devices: Any) -> int | None:
    """GPUs per node for a trainer on ``accelerator`` with ``devices`` per node: ``devices`` on
    GPUs, ``None`` (no GPU request) on CPUs (the ``mintnet.slurm_gpus`` resolver)."""
    if accelerator in ("gpu", "cuda"):
        return slurm_tasks(devices)
    if accelerator == "cpu":
        return None
    raise ValueError(
        f"hydra/launcher=slurm needs trainer.accelerator=cpu or gpu to know whether to ask Slurm "
        f"for GPUs, got {accelerator!r}: choose trainer=cpu, ddp_cpu, gpu or ddp"
    )


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity masks (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def cpus_at_most(limit: int | str) -> int:
    """``min(limit, available_cpus())`` (the ``mintnet.cpus_at_most`` resolver); ``limit`` >= 0,
    and 0 stays 0 (no worker processes)."""
    limit = int(limit)
    if limit < 0:
        raise ValueError(f"mintnet.cpus_at_most needs a limit >= 0, got {limit}")
    return min(limit, available_cpus())


def sqlite_url(path: str) -> str:
    """``sqlite:///<absolute path>`` for a database file, its folder created (the
    ``mintnet.sqlite`` resolver)."""
    file = Path(path).expanduser().resolve()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"


def monitor(target: str, field: str) -> str:
    """``field`` (``metric``, ``mode`` or ``best``) of the ``monitor`` that the class named
    ``target`` declares (the ``mintnet.monitor`` resolver); the class is imported by name, as
    ``hydra.utils.instantiate`` would."""
    from hydra.utils import get_class

    declared = getattr(get_class(target), "monitor", None)
    if declared is None:
        raise ValueError(f"{target} declares no monitor (a mintnet.modules.base.Monitor)")
    if field not in ("metric", "mode", "best"):
        raise ValueError(f"mintnet.monitor: field must be metric, mode or best, got {field!r}")
    return str(getattr(declared, field))


def direction(mode: str) -> str:
    """``minimize`` or ``maximize`` for a monitor's ``mode`` (the ``mintnet.direction``
    resolver)."""
    if mode not in ("min", "max"):
        raise ValueError(f"monitor.mode must be 'min' or 'max', got {mode!r}")
    return "minimize" if mode == "min" else "maximize"


def wandb_offline() -> bool:
    """Whether W&B logs offline: unless ``WANDB_MODE`` names another mode (the
    ``mintnet.wandb_offline`` resolver)."""
    return os.environ.get("WANDB_MODE", "offline").strip().lower() in ("offline", "dryrun", "")


def register() -> None:
    """Register every ``mintnet.*`` resolver (again, if already registered)."""
    OmegaConf.register_new_resolver("mintnet.slurm_tasks", slurm_tasks, replace=True)
    OmegaConf.register_new_resolver("mintnet.slurm_gpus", slurm_gpus, replace=True)
    OmegaConf.register_new_resolver("mintnet.cpus_at_most", cpus_at_most, replace=True)
    OmegaConf.register_new_resolver("mintnet.sqlite", sqlite_url, replace=True)
    OmegaConf.register_new_resolver("mintnet.monitor", monitor, replace=True)
    OmegaConf.register_new_resolver("mintnet.direction", direction, replace=True)
    OmegaConf.register_new_resolver("mintnet.wandb_offline", wandb_offline, replace=True)


register()
