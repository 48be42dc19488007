"""Shared fixtures: seeded RNG, and the real Hydra config composed and shrunk for tests."""

import os
from collections.abc import Callable
from pathlib import Path

# The test models are tiny: one thread per process is faster than two fighting over 2 shared
# cores, and subprocesses (DDP ranks, CLIs, notebook kernels) inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

torch.set_num_threads(1)

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

TINY_DENSITY = ["model.flow.net.n_layers=2", "model.flow.net.hidden_groups=2"]
FAST_TRAINER = [
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
    "+trainer.limit_test_batches=2",
    "+trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """W&B offline, writing under tmp_path."""
    wandb_dir = tmp_path / "wandb_dir"
    wandb_dir.mkdir()
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(wandb_dir))
    monkeypatch.setenv("WANDB_SILENT", "true")
    return wandb_dir


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose ``conf/<name>.yaml`` with overrides, outputs and logs under tmp_path."""

    def _compose(
        overrides: list[str] = (), name: str = "train", hydra: bool = False
    ) -> DictConfig:
        paths = [f"paths.output_dir={tmp_path / 'run'}", f"paths.log_dir={tmp_path / 'logs'}"]
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            return compose(name, paths + list(overrides), return_hydra_config=hydra)

    return _compose
