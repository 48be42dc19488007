"""Hydra multiruns: basic sweeper with DDP jobs grouped in W&B, Optuna, submitit's local launcher."""

import json

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import mintnet.resolvers  # noqa: F401  (registers mintnet.if_exists)
from mintnet.sweeps import record_sweep, sweep_info
from tests.conftest import CONF_DIR
from tests.test_ddp import TINY_DENSITY, logged, run_train
from tests.wandb_records import read_records, run_contents

FAST = [
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=2",
    "+trainer.limit_test_batches=1",
    "+trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
    "compare_pixel_baseline=false",
]


def test_a_single_run_is_in_no_sweep(compose_cfg):
    cfg = compose_cfg(["logger=wandb"])
    assert sweep_info("train") is None
    record_sweep(cfg)
    assert "sweep" not in cfg and cfg.logger.wandb.group is None


def test_if_exists_resolver_gives_the_path_only_when_the_file_is_there(tmp_path):
    present = tmp_path / "last.ckpt"
    present.touch()
    cfg = OmegaConf.create(
        {"a": f"${{mintnet.if_exists:{present}}}", "b": f"${{mintnet.if_exists:{tmp_path}/no}}"}
    )
    assert cfg.a == str(present) and cfg.b is None


@pytest.mark.parametrize(
    ("search", "metric"), [("density", "val/bpd"), ("classification", "val/acc")]
)
def test_optuna_searches_optimise_the_monitored_metric(search, metric):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train", [f"hparams_search={search}_optuna"], return_hydra_config=True)
    assert cfg.monitor.metric == metric
    assert cfg.hydra.sweeper.direction == ("minimize" if cfg.monitor.mode == "min" else "maximize")
    assert all(OmegaConf.select(cfg, key) is not None for key in cfg.hydra.sweeper.params)


def test_slurm_launcher_runs_one_task_per_gpu():
    overrides = ["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4"]
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train", overrides, return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.tasks_per_node == launcher.gpus_per_node == 4 and launcher.nodes == 1
    assert cfg.trainer.sync_batchnorm and cfg.trainer.strategy.process_group_backend == "nccl"


@pytest.mark.slow
def test_ddp_multirun_jobs_get_own_folders_and_share_a_wandb_group(tmp_path, wandb_offline):
    sweep = tmp_path / "sweep"
    args = ["-m", "trainer=ddp_cpu", "seed=0,1", "logger=wandb", f"hydra.sweep.dir={sweep}"]
    run_train(args + FAST + TINY_DENSITY, tmp_path)

    assert (sweep / "multirun.yaml").is_file()  # the basic sweeper's summary
    groups = set()
    for job in ("0", "1"):
        assert f"seed={job}" in yaml.safe_load(
            (sweep / job / ".hydra" / "overrides.yaml").read_text()
        )
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()
        (run_file,) = (sweep / job).glob("wandb/offline-run-*/run-*.wandb")
        contents = run_contents(run_file)
        assert {"val/bpd", "test/bpd"} <= contents["metrics"]
        assert {"model", "trainer", "seed", "sweep"} <= contents["config"]
        groups.add(contents["group"])
        (sweep_entry,) = [
            json.loads(u.value_json)
            for r in read_records(run_file)
            if r.WhichOneof("record_type") == "config"
            for u in r.config.update
            if u.key == "sweep"
        ]
        assert sweep_entry["job"] == int(job) and f"seed={job}" in sweep_entry["overrides"]
    assert groups == {"train/sweep"}


@pytest.mark.slow
def test_optuna_search_records_its_best_trial(tmp_path):
    sweep = tmp_path / "optuna"
    args = ["hparams_search=density_optuna", "hydra.sweeper.n_trials=2", "logger=csv"]
    run_train(args + FAST + [f"hydra.sweep.dir={sweep}"], tmp_path)  # no -m: the config asks

    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    trials = [logged(sweep / job)["val/bpd"] for job in ("0", "1")]
    assert results["best_value"] == pytest.approx(min(trials), rel=1e-6)
    assert set(results["best_params"]) == {
        "model.optimizer.lr",
        "model.net.n_layers",
        "model.net.hidden_groups",
        "data.batch_size",
    }


@pytest.mark.slow
def test_submitit_local_launcher_runs_each_job_as_a_ddp_run(tmp_path):
    sweep = tmp_path / "submitit"
    args = ["-m", "hydra/launcher=local", "hydra.launcher.timeout_min=10", "trainer=ddp_cpu"]
    args += ["seed=0,1", "logger=csv", f"hydra.sweep.dir={sweep}"]
    run_train(args + FAST + TINY_DENSITY, tmp_path)

    assert (sweep / "multirun.yaml").is_file()
    assert len(list((sweep / ".submitit").glob("*/*_result.pkl"))) == 2
    for job in ("0", "1"):
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()
        assert "test/bpd" in logged(sweep / job)
        assert sorted(p.name for p in (sweep / job).glob("*.log")) == ["train.log"]
