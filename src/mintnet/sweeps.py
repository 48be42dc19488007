"""Where a run sits in a Hydra multirun, recorded in its config so dashboards can group a sweep.

Every job of one ``python -m mintnet.train -m ...`` (basic sweeper, Optuna, or a submitit
launcher) shares ``hydra.sweep.dir``; :func:`record_sweep` turns it into a W&B group, so the
sweep's runs appear together, and logs the job's overrides next to the resolved config, so the
swept values are config columns.
"""

from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

__all__ = ["record_sweep", "sweep_info"]


def sweep_info(task_name: str) -> dict[str, Any] | None:
    """``{"group", "job", "dir", "overrides"}`` of the current Hydra multirun job, ``None`` outside
    one (single runs, tests that compose the config, DDP ranks > 0).

    ``group`` is ``<task_name>/<last folder of hydra.sweep.dir>``, e.g.
    ``train/multirun_2026-11-28_11-54-14``: the sweep's name and start time, the same in every
    job (Hydra resolves ``${now:...}`` once per sweep and ships it to submitit's workers).
    """
    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    sweep_dir = Path(hydra_cfg.sweep.dir)
    return {
        "group": f"{task_name}/{sweep_dir.name}",
        "job": int(hydra_cfg.job.num),
        "dir": str(sweep_dir),
        "overrides": list(hydra_cfg.overrides.task),
    }


def record_sweep(cfg: DictConfig) -> None:
    """In a multirun job, add ``cfg.sweep`` (see :func:`sweep_info`) and give the W&B logger the
    sweep's group and the run name ``<group>/<job number>``, unless the config sets them."""
    info = sweep_info(cfg.get("task_name", "run"))
    if info is None:
        return
    with open_dict(cfg):
        cfg.sweep = info
        wandb = OmegaConf.select(cfg, "logger.wandb")
        if wandb is not None:
            if wandb.get("group") is None:
                wandb.group = info["group"]
            if wandb.get("name") is None:
                wandb.name = f"{info['group']}/{info['job']}"
