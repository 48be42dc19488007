"""The project's Optuna sweeper (hydra_plugins.mintnet_optuna): its search space, its seeds on
resume, and real searches of tiny trials: a diverged trial (FAIL), a pruned one (PRUNED), a
study stopped by SIGTERM and resumed (no parameters proposed twice, exit 0 once all finished)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hydra_plugins.mintnet_optuna.space import format_override, search_space
from hydra_plugins.mintnet_optuna.study import build, derived_seed
from tests.conftest import CONF_DIR
from tests.test_ddp import ROOT, TINY_DENSITY, run_train
from tests.test_sweeps import FAST, GUARD, summary_csv
from tests.wandb_records import read_records, run_contents


def test_the_search_space_reads_hydras_override_grammar():
    params = {
        "model.optimizer.lr": "tag(log, interval(1e-4, 3e-3))",
        "model.net.n_layers": "choice(2, 4, 6)",
        "data.batch_size": "range(32, 129, 32)",
        "model.net.hidden_groups": "int(interval(2, 16))",
        "seed": "7",
    }
    space = search_space(params, ["model.net.n_layers=1,3", "trainer.max_epochs=2"])
    assert space.distributions == {
        "model.optimizer.lr": FloatDistribution(1e-4, 3e-3, log=True),
        "model.net.n_layers": CategoricalDistribution([1, 3]),  # the command line's wins
        "data.batch_size": IntDistribution(32, 128, step=32),
        "model.net.hidden_groups": IntDistribution(2, 16),
    }
    assert space.fixed == ["seed=7", "trainer.max_epochs=2"]
    assert space.overrides({"model.optimizer.lr": 1e-3, "data.batch_size": 64}) == [
        "seed=7",
        "trainer.max_epochs=2",
        "model.optimizer.lr=0.001",
        "data.batch_size=64",
    ]
    assert format_override("a", "x y") == "a='x y'" and format_override("a", None) == "a=null"


def test_a_resumed_study_gets_a_new_random_stream():
    seeds = {derived_seed(0, "density", n) for n in range(20)}
    assert len(seeds) == 20  # one per number of trials already in the study
    assert derived_seed(0, "density", 3) == derived_seed(0, "density", 3)
    assert derived_seed(None, "density", 3) is None


def test_samplers_and_pruners_leave_out_arguments_they_do_not_take():
    sampler = build({"_target_": "optuna.samplers.RandomSampler", "n_startup_trials": 8}, seed=1)
    assert isinstance(sampler, optuna.samplers.RandomSampler)
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        for pruner in ("median", "successive_halving", "hyperband", "none"):
            cfg = compose(
                "train",
                ["hparams_search=density_optuna", f"hydra/sweeper/pruner={pruner}"],
                return_hydra_config=True,
            )
            assert isinstance(build(cfg.hydra.sweeper.pruner), optuna.pruners.BasePruner)
    assert cfg.hydra.sweeper._target_ == "hydra_plugins.mintnet_optuna.sweeper.OptunaSweeper"


def load(sweep: Path) -> optuna.Study:
    return optuna.load_study(study_name="density", storage=f"sqlite:///{sweep / 'optuna.db'}")


def train_steps(job: Path) -> int:
    """Training steps in a job's CSV log (the last ``step`` logged)."""
    (metrics,) = job.glob("csv/version_*/metrics.csv")
    lines = metrics.read_text().splitlines()
    step = lines[0].split(",").index("step")
    return max(int(line.split(",")[step]) for line in lines[1:])


@pytest.mark.slow
def test_a_search_records_a_diverged_trial_as_failed_and_prunes_a_worse_one(
    tmp_path, wandb_offline
):
    """Trials lr=3e-3 (trains), 1e12 (diverges: FAIL, the search goes on) and 1e-6 (worse than
    the median after its first epoch: PRUNED, fewer steps)."""
    sweep = tmp_path / "search"
    sweep.mkdir()
    study = optuna.create_study(study_name="density", storage=f"sqlite:///{sweep / 'optuna.db'}")
    for lr in (3e-3, 1e12, 1e-6):
        study.enqueue_trial({"model.optimizer.lr": lr})
    args = ["-m", "hparams_search=density_optuna", "hydra.sweeper.params=null"]
    args += ["model.optimizer.lr=choice(3e-3,1e12,1e-6)", "hydra.sweeper.n_trials=3"]
    args += ["hydra.sweeper.pruner.n_startup_trials=1", "hydra.sweeper.pruner.n_warmup_steps=0"]
    args += [f"hydra.sweep.dir={sweep}", "logger=[csv,wandb]", *FAST, *GUARD]
    args += ["trainer.max_epochs=3"]
    run = run_train([*args, *TINY_DENSITY], tmp_path, expect=1)  # the diverged trial failed

    trials = load(sweep).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED]
    assert "NaN/Inf loss" in trials[1].user_attrs["reason"] and trials[1].value is None
    assert trials[2].user_attrs["reason"].startswith("after epoch 0: val/bpd=")
    assert [t.user_attrs["job"] for t in trials] == [0, 1, 2]
    assert train_steps(sweep / "2") < train_steps(sweep / "0")
    assert json.loads((sweep / "2" / "job_status.json").read_text())["status"] == "pruned"
    assert [r["status"] for r in summary_csv(sweep)] == ["ok", "failed", "pruned"]
    assert "3 jobs, 1 failed, 1 pruned" in run.stdout
    assert f"optuna-dashboard sqlite:///{sweep / 'optuna.db'}" in run.stdout
    (run_file,) = (sweep / "2").glob("wandb/offline-run-*/run-*.wandb")
    assert "optuna/pruned" in run_contents(run_file)["metrics"]  # the W&B run's summary says so
    (exit_record,) = [
        r.exit for r in read_records(run_file) if r.WhichOneof("record_type") == "exit"
    ]
    assert exit_record.exit_code == 0  # stopped by the pruner: not a failed run


@pytest.mark.slow
def test_a_ddp_trial_is_pruned_on_every_rank(tmp_path):
    """Rank 0 asks the pruner; every rank stops at the end of that epoch (no rank is left
    waiting in a collective), and the trial is recorded as pruned."""
    sweep = tmp_path / "search"
    sweep.mkdir()
    study = optuna.create_study(study_name="density", storage=f"sqlite:///{sweep / 'optuna.db'}")
    for lr in (3e-3, 1e-6):
        study.enqueue_trial({"model.optimizer.lr": lr})
    args = ["-m", "hparams_search=density_optuna", "hydra.sweeper.params=null"]
    args += ["model.optimizer.lr=choice(3e-3,1e-6)", "hydra.sweeper.n_trials=2"]
    args += ["hydra.sweeper.pruner.n_startup_trials=1", "hydra.sweeper.pruner.n_warmup_steps=0"]
    args += [f"hydra.sweep.dir={sweep}", "logger=csv", *FAST, "trainer=ddp_cpu"]
    run_train([*args, "trainer.max_epochs=3", *TINY_DENSITY], tmp_path)

    trials = load(sweep).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert train_steps(sweep / "1") < train_steps(sweep / "0")
    assert [r["status"] for r in summary_csv(sweep)] == ["ok", "pruned"]


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the sweep ended before {path} was written"
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.2)


def start_train(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_SILENT": "true"}
    command = [sys.executable, "-m", "mintnet.train", *args]
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_a_study_stopped_by_sigterm_resumes_without_repeating_itself(tmp_path):
    """SIGTERM while trial 1 trains: the table so far and the resume command; the same command
    then reruns trial 1 in its folder from its last.ckpt, proposes new parameters for trial 2
    (not trial 0's again) and exits 0."""
    sweep = tmp_path / "search"
    args = ["-m", "hparams_search=density_optuna", "hydra.sweeper.params=null"]
    args += ["model.optimizer.lr=tag(log,interval(1e-4,3e-3))", "hydra.sweeper.n_trials=3"]
    args += ["hydra/sweeper/pruner=none", f"hydra.sweep.dir={sweep}", "logger=csv", *FAST]
    args += ["trainer.max_epochs=20", *TINY_DENSITY]  # SIGTERM lands in trial 1's training
    first = start_train(args, tmp_path)
    wait_for(sweep / "1" / "checkpoints" / "last.ckpt", first)
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 143, err[-2000:]
    assert "2 jobs, 1 failed" in out and "resume it with" in err
    assert f"hydra.sweep.dir={sweep}" in err.splitlines()[-1]
    before = (sweep / "0" / "job_status.json").stat().st_mtime_ns

    run = run_train(args, tmp_path)  # exit 0: the interrupted trial finished this time
    trials = load(sweep).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    (interrupted,) = [t for t in trials if t.state == TrialState.FAIL]
    assert interrupted.user_attrs["interrupted"] and len(complete) == 3
    lrs = [t.params["model.optimizer.lr"] for t in complete]
    assert len(set(lrs)) == 3  # no parameters proposed twice
    (rerun,) = [t for t in complete if t.user_attrs.get("resumes_trial") == interrupted.number]
    assert rerun.params == interrupted.params and rerun.user_attrs["job"] == 1
    assert (sweep / "0" / "job_status.json").stat().st_mtime_ns == before  # not redone
    resumed = (
        f"Restoring states from the checkpoint path at {sweep / '1' / 'checkpoints' / 'last.ckpt'}"
    )
    assert resumed in run.stdout + run.stderr
    assert [r["status"] for r in summary_csv(sweep)] == ["ok", "ok", "ok"]
