"""End-to-end training runs through the Hydra config (tiny models, few steps)."""

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import mintnet.data.mnist
from mintnet.data import DatasetNotFoundError, MNISTDataModule
from mintnet.eval import evaluate
from mintnet.train import build, train
from tests.conftest import FAST_TRAINER, TINY_DENSITY
from tests.data.formats import write_cifar10, write_imagenet32_npz, write_mnist
from tests.wandb_records import run_contents

QUIET = ["logger=csv", "callbacks.sample_images.n_samples=4"]


def test_density_run_leaves_metrics_checkpoint_and_samples(compose_cfg):
    cfg = compose_cfg(
        TINY_DENSITY + FAST_TRAINER + QUIET + ["callbacks.sample_images.every_n_epochs=1"]
    )
    result = train(cfg)
    assert math.isfinite(result.metrics["test/bpd"]) and math.isfinite(result.metrics["val/bpd"])
    assert result.metrics["test/pixel_baseline_bpd"] > 0
    assert result.checkpoint is not None and result.checkpoint.is_file()
    assert result.samples is not None and result.samples.stat().st_size > 0


@pytest.mark.parametrize("model", ["mintnet_classifier", "resnet_classifier"])
def test_classifiers_train_on_digits(compose_cfg, model):
    overrides = (
        [f"model={model}", "model.net.n_layers=2"] if "mint" in model else [f"model={model}"]
    )
    result = train(compose_cfg(overrides + FAST_TRAINER + QUIET))
    assert 0.0 <= result.metrics["test/acc"] <= 1.0
    assert math.isfinite(result.metrics["test/loss"])


@pytest.mark.slow
@pytest.mark.parametrize("data", ["mnist", "fashion_mnist", "cifar10", "imagenet32"])
def test_density_trains_on_each_file_dataset(compose_cfg, tmp_path, monkeypatch, data):
    monkeypatch.setattr(mintnet.data.mnist, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "none")
    root = tmp_path / "datasets"
    {
        "mnist": lambda: write_mnist(root / "MNIST" / "raw"),
        "fashion_mnist": lambda: write_mnist(root / "FashionMNIST" / "raw"),
        "cifar10": lambda: write_cifar10(root),
        "imagenet32": lambda: write_imagenet32_npz(root / "imagenet32"),
    }[data]()
    overrides = [
        f"data={data}",
        f"paths.data_dir={root}",
        "data.num_workers=0",
        "data.batch_size=4",
        "data.val_fraction=0.2",
    ]
    result = train(compose_cfg(overrides + TINY_DENSITY + FAST_TRAINER + QUIET))
    assert math.isfinite(result.metrics["test/bpd"])


def test_a_few_dozen_steps_lower_the_validation_bits_per_dim(compose_cfg):
    cfg = compose_cfg(
        ["trainer.max_epochs=2", "+trainer.limit_train_batches=20", "callbacks.progress_bar=null"]
        + QUIET
        + ["+trainer.enable_model_summary=false", "train=false", "test=false"]
    )
    datamodule, model, trainer = build(cfg)
    datamodule.setup("fit")
    with torch.no_grad():
        before = torch.cat([model(x) for x, _ in datamodule.val_dataloader()]).mean().item()
    trainer.fit(model, datamodule=datamodule)
    after = float(trainer.callback_metrics["val/bpd"])
    assert after < before - 0.3, (before, after)


def test_eval_reproduces_the_test_metric_of_the_checkpoint(compose_cfg):
    result = train(compose_cfg(TINY_DENSITY + FAST_TRAINER + QUIET))
    cfg = compose_cfg(
        [
            f"ckpt_path={result.checkpoint}",
            "+trainer.limit_test_batches=2",
            "+trainer.enable_progress_bar=false",
        ],
        name="eval",
    )
    metrics = evaluate(cfg)
    assert metrics["test/bpd"] == pytest.approx(result.metrics["test/bpd"], abs=1e-5)


def test_wandb_offline_run_records_config_metrics_and_samples(compose_cfg, wandb_offline):
    cfg = compose_cfg(
        TINY_DENSITY
        + FAST_TRAINER
        + ["logger=wandb", "callbacks.sample_images.every_n_epochs=1", "tags=[pytest]"]
    )
    result = train(cfg)
    runs = list((result.output_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    contents = run_contents(next(runs[0].glob("run-*.wandb")))
    assert {"model", "data", "trainer", "seed"} <= contents["config"]
    assert {"train/bpd", "val/bpd", "test/bpd"} <= contents["metrics"]
    assert list(runs[0].glob("files/media/images/samples_*.png"))


def test_data_download_fetches_the_files_before_they_are_checked(
    compose_cfg, tmp_path, monkeypatch
):
    fetched = []

    def download(datamodule):  # stands in for torchvision's downloader (no network in tests)
        if datamodule.download:
            write_mnist(Path(datamodule.root) / "MNIST" / "raw", n_train=40, n_test=8)
            fetched.append(datamodule.root)

    monkeypatch.setattr(MNISTDataModule, "_download", download)
    root = tmp_path / "empty"
    cfg = compose_cfg(["data=mnist", f"paths.data_dir={root}", "data.download=true"] + QUIET)
    datamodule, _, _ = build(cfg)
    assert fetched == [str(root)] and len(datamodule.train_dataloader().dataset) > 0
    with pytest.raises(DatasetNotFoundError):  # without download=true: the clear refusal
        build(compose_cfg(["data=mnist", f"paths.data_dir={tmp_path / 'other'}"] + QUIET))


def test_missing_data_fails_before_training_with_one_clear_message(compose_cfg, tmp_path):
    cfg = compose_cfg(["data=mnist", f"paths.data_dir={tmp_path / 'empty'}"] + QUIET)
    with pytest.raises(DatasetNotFoundError, match="mnist") as info:
        train(cfg)
    assert "train-images-idx3-ubyte" in str(info.value) and "download" in str(info.value)


@pytest.mark.slow
def test_command_line_failure_exits_non_zero_with_the_cause_on_stderr(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mintnet.train",
            "data=mnist",
            f"paths.data_dir={tmp_path}",
            f"paths.log_dir={tmp_path / 'logs'}",
            "logger=none",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode != 0
    assert "mintnet-train: error:" in run.stderr and "MNIST" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_compiled_model_trains_under_bf16_autocast(compose_cfg):
    cfg = compose_cfg(
        TINY_DENSITY
        + FAST_TRAINER
        + QUIET
        + [
            "model.compile=true",
            "trainer.precision=bf16-mixed",
            "compare_pixel_baseline=false",
            "callbacks.inversion_error=null",
        ]
    )
    result = train(cfg)
    assert math.isfinite(result.metrics["test/bpd"]) and math.isfinite(result.metrics["val/bpd"])
