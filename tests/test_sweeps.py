"""Hydra multiruns: basic sweeper with DDP jobs grouped in W&B, Optuna, submitit's local launcher,
failures isolated, a sweep stopped and resumed."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import mintnet.resolvers  # noqa: F401  (registers mintnet.if_exists)
from mintnet.config import ConfigError
from mintnet.sweeps import TrialPruned, record_sweep, run_job, sweep_info
from tests.conftest import CONF_DIR
from tests.test_ddp import ROOT, TINY_DENSITY, logged, run_train
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


def _fails(error: Exception):
    def run() -> float:
        raise error

    return run


@pytest.mark.parametrize(
    "run, expected",
    [
        (lambda: 1.5, 1.5),
        (lambda: float("nan"), float("inf")),  # no finite objective: the worst value
        (_fails(ConfigError("data.batch_size=0: ...")), float("inf")),
        (_fails(RuntimeError("boom")), float("inf")),
        (_fails(TrialPruned("pruned at epoch 1", value=2.5)), 2.5),
    ],
)
def test_a_job_returns_its_objective_or_the_worst_value_and_never_raises(
    compose_cfg, run, expected
):
    assert run_job(compose_cfg(), run) == expected


def test_a_single_run_is_in_no_sweep(compose_cfg):
    cfg = compose_cfg(["logger=wandb"])
    assert sweep_info("train") is None
    record_sweep(cfg)
    assert "sweep" not in cfg and cfg.logger.wandb.group is None


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
        "model.flow.net.n_layers",
        "model.flow.net.hidden_groups",
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


# failure isolation ------------------------------------------------------------------------------
def summary_csv(sweep) -> list[dict[str, str]]:
    with (sweep / "summary.csv").open() as f:
        return list(csv.DictReader(f))


GUARD = ["callbacks.non_finite_guard.max_consecutive=2", "trainer.limit_train_batches=4"]
DIVERGES = [*GUARD, "model.optimizer.lr=1e12,1e-3"]


@pytest.mark.slow
def test_a_diverging_job_is_recorded_and_the_sweep_goes_on(tmp_path, wandb_offline):
    sweep = tmp_path / "sweep"
    run = run_train(
        ["-m", "logger=wandb", f"hydra.sweep.dir={sweep}", *FAST, *DIVERGES, *TINY_DENSITY],
        tmp_path,
        expect=1,
    )
    assert "mintnet-train: 1 job(s) failed: 0" in run.stderr

    rows = summary_csv(sweep)
    assert [r["status"] for r in rows] == ["failed", "ok"]
    assert "NaN/Inf loss" in rows[0]["reason"] and rows[0]["val/bpd_best"] == ""
    assert float(rows[1]["val/bpd_best"]) > 0 and rows[1]["run_folder"] == str(sweep / "1")
    table = run.stdout[run.stdout.index("swept overrides") :]
    assert "model.optimizer.lr=1000000000000.0  failed: 2 consecutive" in table
    assert "model.optimizer.lr=0.001" in table and " ok " in table
    assert "job failed: 2 consecutive training steps" in (sweep / "0" / "train.log").read_text()

    runs = {}
    for job in ("0", "1"):
        (run_file,) = (sweep / job).glob("wandb/offline-run-*/run-*.wandb")
        records = read_records(run_file)
        (exit_record,) = [r.exit for r in records if r.WhichOneof("record_type") == "exit"]
        (run_record,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        summaries = {
            r.metric.name: r.metric.summary
            for r in records
            if r.WhichOneof("record_type") == "metric" and r.metric.name
        }
        assert summaries["val/bpd"].min and summaries["val/bpd_best"].min  # best, not last
        runs[job] = (run_record.run_id, exit_record.exit_code, run_contents(run_file)["metrics"])
    assert runs["0"][0] != runs["1"][0]  # two runs: job 1 did not log into job 0's
    assert runs["0"][1] == 1 and runs["1"][1] == 0  # the dashboard marks job 0 failed
    assert "test/bpd" in runs["1"][2] and "test/bpd" not in runs["0"][2]


@pytest.mark.slow
def test_a_bad_value_in_one_arm_is_recorded_and_the_sweep_goes_on(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "data.batch_size=0,64", "logger=csv", f"hydra.sweep.dir={sweep}"]
    run_train(args + FAST + TINY_DENSITY, tmp_path, expect=1)
    rows = summary_csv(sweep)
    assert [r["status"] for r in rows] == ["failed", "ok"]
    assert rows[0]["reason"] == "data.batch_size=0: batch_size must be an integer >= 1, got 0"
    assert "test/bpd" in logged(sweep / "1")


@pytest.mark.slow
def test_a_sweep_stopped_by_sigterm_resumes_where_it_stopped(tmp_path):
    """SIGTERM while job 1 trains: the table so far and the command that resumes; that command
    skips job 0 (finished), continues job 1 from its own last.ckpt, runs job 2, and exits 0."""
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=0,1,2", "logger=csv", f"hydra.sweep.dir={sweep}", *FAST, *TINY_DENSITY]
    args += ["trainer.max_epochs=20"]  # SIGTERM lands in job 1's training
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_SILENT": "true"}
    first = subprocess.Popen(
        [sys.executable, "-m", "mintnet.train", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not (sweep / "1" / "checkpoints" / "last.ckpt").exists():
        assert first.poll() is None and time.monotonic() < deadline, "job 1 did not start"
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 143, err[-2000:]
    assert "2 jobs, 1 failed" in out and "stopped by SIGTERM" in out
    assert err.splitlines()[-1].endswith(f"hydra.sweep.dir={sweep}")  # the command to resume
    job0 = (sweep / "0" / "job_status.json").stat().st_mtime_ns

    run = run_train(args, tmp_path)
    assert "job 0 finished before (ok): not run again" in run.stdout
    assert (sweep / "0" / "job_status.json").stat().st_mtime_ns == job0
    last = sweep / "1" / "checkpoints" / "last.ckpt"
    assert f"Restoring states from the checkpoint path at {last}" in run.stdout + run.stderr
    assert [r["status"] for r in summary_csv(sweep)] == ["ok", "ok", "ok"]
    assert "3 jobs, 0 failed" in run.stdout
