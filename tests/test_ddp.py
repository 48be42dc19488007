"""Two-process CPU DDP from the Hydra entry point: metrics reduced exactly, files written once."""

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

from mintnet.checkpoint import load_module
from mintnet.data import DigitsDataModule
from mintnet.distributed import unpadded_loader
from mintnet.eval import evaluate

ROOT = Path(__file__).resolve().parents[1]

ODD_TEST_FRACTION = 0.151
"""271 of the 1797 digits: an odd test split, which DistributedSampler would pad to 272."""

TINY_DDP = [
    "trainer=ddp_cpu",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "+trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
    "logger=csv",
    "compare_pixel_baseline=false",
    f"data.test_fraction={ODD_TEST_FRACTION}",
]
TINY_DENSITY = [
    "model.flow.net.n_layers=1",
    "model.flow.net.n_squeezes=0",
    "model.flow.net.hidden_groups=2",
]


def run_train(
    args: list[str], cwd: Path, expect: int | None = 0, **env: str
) -> subprocess.CompletedProcess:
    """``python -m mintnet.train ARGS`` in ``cwd``; fails the test with its output unless it
    exits with ``expect`` (``None``: any status)."""
    run = subprocess.run(
        [sys.executable, "-m", "mintnet.train", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "WANDB_SILENT": "true", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert expect is None or run.returncode == expect, run.stdout[-3000:] + run.stderr[-5000:]
    return run


def logged(run_dir: Path) -> dict[str, float]:
    """The last value of every metric in the run's CSV log."""
    (metrics_csv,) = run_dir.glob("csv/version_*/metrics.csv")
    values: dict[str, float] = {}
    with metrics_csv.open() as f:
        for row in csv.DictReader(f):
            values |= {k: float(v) for k, v in row.items() if v not in ("", None)}
    return values


def single_process_test(compose_cfg, checkpoint: Path) -> dict[str, float]:
    cfg = compose_cfg(
        [
            f"ckpt_path={checkpoint}",
            f"data.test_fraction={ODD_TEST_FRACTION}",
            "+trainer.enable_progress_bar=false",
        ],
        name="eval",
    )
    return evaluate(cfg)


def test_unpadded_shards_cover_every_sample_exactly_once():
    data = TensorDataset(torch.arange(11))
    loader = DataLoader(data, batch_size=4)
    shards = [unpadded_loader(loader, 3, rank) for rank in range(3)]
    seen = [int(i) for shard in shards for (batch,) in shard for i in batch]
    assert sorted(seen) == list(range(11))
    assert [len(shard.sampler) for shard in shards] == [4, 4, 3]  # ranks differ by one at most


@pytest.mark.slow
def test_density_ddp_run_reduces_bpd_exactly_and_writes_once(tmp_path, compose_cfg):
    run_dir = tmp_path / "run"
    args = TINY_DDP + TINY_DENSITY + [f"hydra.run.dir={run_dir}"]
    args += ["callbacks.sample_images.every_n_epochs=1", "callbacks.sample_images.n_samples=4"]
    run_train(args, tmp_path)

    # rank 0 alone wrote the config copy, the log, the checkpoints, the CSV log and the samples
    assert sorted(p.name for p in run_dir.glob("*.log")) == ["train.log"]
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert len(list(run_dir.glob("csv/version_*"))) == 1
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "epoch_000.ckpt",
        "last.ckpt",
    ]
    (grid_path,) = (run_dir / "samples").iterdir()

    # 4 samples in a 2x2 grid: the top row is rank 0's share, the bottom row rank 1's
    grid = np.asarray(Image.open(grid_path).convert("L"), dtype=np.float32)
    tile = (grid.shape[0] - 2) // 2 - 2
    top, bottom = grid[2 : 2 + tile], grid[4 + tile : 4 + 2 * tile]
    assert np.abs(top - bottom).max() > 0, "both ranks inverted the same latents"

    # The DDP test bits/dim is the mean over all 271 images, like a single-process evaluation.
    # Each run draws its own dequantisation noise, so the two means differ by noise alone; its
    # standard error is measured from two noise draws on the same images.
    ddp_bpd = logged(run_dir)["test/bpd"]
    checkpoint = run_dir / "checkpoints" / "epoch_000.ckpt"
    single_bpd = single_process_test(compose_cfg, checkpoint)["test/bpd"]
    module = load_module(checkpoint)
    datamodule = DigitsDataModule(test_fraction=ODD_TEST_FRACTION)
    x = torch.cat([batch for batch, _ in datamodule.test_dataloader()])
    assert len(x) % 2 == 1
    with torch.no_grad():
        difference = module(x) - module(x)  # two independent noise draws, (N,)
    standard_error = float(difference.std()) / math.sqrt(len(x))
    assert abs(ddp_bpd - single_bpd) < 5 * standard_error, (ddp_bpd, single_bpd, standard_error)


@pytest.mark.slow
def test_classifier_ddp_run_reduces_accuracy_exactly(tmp_path, compose_cfg):
    run_dir = tmp_path / "run"
    model = ["model=mintnet_classifier", "model.net.n_layers=2"]
    run_train(TINY_DDP + model + [f"hydra.run.dir={run_dir}"], tmp_path)

    ddp = logged(run_dir)
    single = single_process_test(compose_cfg, run_dir / "checkpoints" / "epoch_000.ckpt")
    # Classification has no sampling noise: a repeated (padded) test image would show here.
    assert ddp["test/acc"] == pytest.approx(single["test/acc"], abs=1e-6)
    assert ddp["test/loss"] == pytest.approx(single["test/loss"], abs=1e-5)
