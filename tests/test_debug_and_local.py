"""Everyday conveniences: the debug= group, a git-ignored local/ group or a user's own config
folder, and progress as plain text when the output is a log file."""

import shutil
import subprocess
import sys

import pytest
import yaml
from hydra import compose, initialize_config_dir

from tests.conftest import CONF_DIR
from tests.test_ddp import ROOT

TINY = ["model.flow.net.n_layers=2", "model.flow.net.hidden_groups=2"]


def cli(args: list[str], cwd) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [sys.executable, "-m", "mintnet.train", *args],
        cwd=cwd,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
            "WANDB_SILENT": "true",
            "HOME": str(cwd),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return run


@pytest.mark.parametrize("option", ["fdr", "overfit", "limit", "profiler"])
def test_debug_options_switch_the_loggers_off(option):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train", [f"debug={option}"], return_hydra_config=True)
    assert not cfg.get("logger")
    assert "/debug/" in cfg.hydra.run.dir and "/debug/" in cfg.hydra.sweep.dir
    trainer = cfg.trainer
    assert {
        "fdr": trainer.get("fast_dev_run") is True,
        "overfit": trainer.get("overfit_batches") == 1,
        "limit": trainer.get("limit_train_batches") == 5 and trainer.max_epochs == 2,
        "profiler": trainer.get("profiler") is not None,
    }[option]


@pytest.mark.slow
def test_debug_fdr_runs_one_batch_and_writes_no_logger_folder(tmp_path):
    run = cli(["debug=fdr", *TINY, "paths.log_dir=logs"], tmp_path)
    assert "Running in `fast_dev_run` mode: will run the requested loop using 1 batch(es)" in (
        run.stderr
    )
    (run_dir,) = (tmp_path / "logs" / "debug" / "train").iterdir()
    assert (run_dir / "train.log").is_file()
    assert not list(run_dir.rglob("wandb")) and not list(run_dir.rglob("csv"))
    assert not list(run_dir.rglob("*.ckpt"))


@pytest.mark.slow
def test_progress_is_plain_text_when_the_output_is_a_file(tmp_path):
    args = ["debug=limit", *TINY, "paths.log_dir=logs", "callbacks.progress_bar.refresh_seconds=0"]
    run = cli(args, tmp_path)
    lines = run.stdout.splitlines()
    steps = [line for line in lines if line.startswith("epoch 1/2  step ")]  # one per step here
    assert [line.split()[3] for line in steps] == [f"{i}/5" for i in range(1, 6)]
    assert all("steps/s  train/loss " in line for line in steps)
    assert any(line.startswith("epoch 1/2 done in") and "val/bpd" in line for line in lines)
    assert any(line.startswith("epoch 2/2 done in") for line in lines)
    assert any(line.startswith("test  test/bpd") for line in lines)
    assert "\x1b[" not in run.stdout and "\r" not in run.stdout  # no terminal control codes


LOCAL = """# @package _global_
paths:
  data_dir: /cluster/datasets
logger:
  wandb:
    entity: my-lab
"""


def test_a_local_config_is_picked_up_when_present(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    shutil.rmtree(conf / "local", ignore_errors=True)
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        plain = compose("train", ["logger=wandb"])
    (conf / "local").mkdir()
    (conf / "local" / "default.yaml").write_text(LOCAL)
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        local = compose("train", ["logger=wandb"])
        overridden = compose("train", ["logger=wandb", "paths.data_dir=here"])
    assert plain.paths.data_dir != "/cluster/datasets" and plain.logger.wandb.entity is None
    assert local.paths.data_dir == "/cluster/datasets" and local.logger.wandb.entity == "my-lab"
    assert overridden.paths.data_dir == "here"  # the command line still wins


@pytest.mark.slow
def test_a_users_config_folder_adds_experiments_and_local_settings(tmp_path):
    user = tmp_path / "my_conf"
    (user / "experiment").mkdir(parents=True)
    (user / "local").mkdir()
    (user / "local" / "default.yaml").write_text(LOCAL)
    (user / "experiment" / "tiny_digits.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /data: digits\n"
        "model:\n  flow:\n    net:\n      n_layers: 3\n      hidden_groups: 5\ntrainer:\n  max_epochs: 7\n"
    )
    (user / "hydra" / "launcher").mkdir(parents=True)
    (user / "hydra" / "launcher" / "my_cluster.yaml").write_text(
        "defaults:\n  - slurm\n  - _self_\npartition: gpu-long\naccount: my-lab\n"
    )
    for how in ([f"--config-dir={user}"], [f"hydra.searchpath=[file://{user}]"]):
        run = cli([*how, "experiment=tiny_digits", "logger=wandb", "--cfg", "job"], tmp_path)
        cfg = yaml.safe_load(run.stdout)
        assert cfg["model"]["flow"]["net"]["n_layers"] == 3 and cfg["trainer"]["max_epochs"] == 7
        assert cfg["paths"]["data_dir"] == "/cluster/datasets"
        assert cfg["logger"]["wandb"]["entity"] == "my-lab"
    run = cli([f"--config-dir={user}", "hydra/launcher=my_cluster", "--cfg", "hydra"], tmp_path)
    launcher = yaml.safe_load(run.stdout)["hydra"]["launcher"]
    assert launcher["partition"] == "gpu-long" and launcher["account"] == "my-lab"
    assert launcher["_target_"].endswith("SlurmLauncher")
