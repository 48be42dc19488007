"""``hydra/launcher=slurm`` against a real Slurm: a throwaway single-node cluster that the tests
bring up (:mod:`tests.slurm_cluster`), with the sweeps run as a user runs them, through
``python -m mintnet.train -m``.

A time limit, ``scontrol requeue`` in the middle of an epoch and ``scancel`` are each done to a
real job, and the requeued runs are compared with a run that was never stopped. Where Slurm
cannot be brought up (not root, no apt-get) these tests are skipped with the reason; with
``MINTNET_REQUIRE_SLURM=1`` (as ``.ci/run`` sets) they fail instead.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import mintnet.resolvers  # noqa: F401  (the mintnet.* resolvers of the launcher config)
from tests.conftest import CONF_DIR
from tests.slurm_cluster import ClusterUnavailable, slurm_cluster
from tests.test_resume import assert_same_state, final_state

ROOT = Path(__file__).resolve().parents[1]

TINY = [
    "model.flow.net.n_layers=2",
    "model.flow.net.hidden_groups=2",
    "data.num_workers=0",
    "+trainer.limit_val_batches=2",
    "+trainer.limit_test_batches=2",
    "+trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
    "callbacks.sample_images.every_n_epochs=100",
    "compare_pixel_baseline=false",
    "seed=5",
]
SMALL_JOBS = ["hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]
INTERRUPTED = [  # 2 epochs of 40 steps, sleeping after each step until a signal stopped the run
    "trainer.max_epochs=2",
    "+trainer.limit_train_batches=40",
    "+callbacks.slow._target_=tests.signals.SlowUntilStopped",
]
SLOW = "+callbacks.slow.seconds=1"


# The launcher's resources from the trainer: composed only, no cluster needed -------------------
def launcher_settings(*overrides: str) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(
            config_name="train",
            overrides=["hydra/launcher=slurm", *overrides],
            return_hydra_config=True,
        )
    keys = ("nodes", "tasks_per_node", "gpus_per_node", "_target_")
    return {key: OmegaConf.select(cfg, f"hydra.launcher.{key}") for key in keys}


@pytest.mark.parametrize(
    ("overrides", "nodes", "tasks", "gpus"),
    [
        ([], 1, 1, None),  # the default trainer: one process on the CPU
        (["trainer=cpu"], 1, 1, None),
        (["trainer=ddp_cpu"], 1, 2, None),
        (["trainer=ddp_cpu", "trainer.devices=4"], 1, 4, None),
        (["trainer=gpu"], 1, 1, 1),
        (["trainer=ddp", "trainer.devices=4"], 1, 4, 4),
        (["trainer=ddp", "trainer.num_nodes=2"], 2, 2, 2),
    ],
)
def test_the_launcher_asks_slurm_for_what_the_trainer_runs(overrides, nodes, tasks, gpus):
    settings = launcher_settings(*overrides)
    assert settings == {
        "nodes": nodes,
        "tasks_per_node": tasks,
        "gpus_per_node": gpus,
        "_target_": "hydra_plugins.mintnet_slurm.MintnetSlurmLauncher",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.accelerator=auto"], "trainer.accelerator=cpu or gpu.*got 'auto'"),
        (["trainer=ddp", "trainer.devices=auto"], "trainer.devices as a number.*got 'auto'"),
    ],
)
def test_a_trainer_slurm_cannot_size_is_refused_by_name(overrides, message):
    with pytest.raises(Exception, match=message):
        launcher_settings(*overrides)


# The cluster ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The environment of a running single-node Slurm, and a thread that starts requeued jobs
    at once (Slurm holds them in ``PENDING (BeginTime)`` for about 2 minutes)."""
    try:
        context = slurm_cluster(tmp_path_factory.mktemp("slurm"))
        env = context.__enter__()
    except ClusterUnavailable as why:
        if os.environ.get("MINTNET_REQUIRE_SLURM") == "1":
            pytest.fail(f"MINTNET_REQUIRE_SLURM=1 but no Slurm cluster could be started: {why}")
        pytest.skip(f"no Slurm cluster here: {why}")
    env |= {
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
    }
    stop = threading.Event()
    kicker = threading.Thread(target=_start_requeued_jobs, args=(env, stop), daemon=True)
    kicker.start()
    yield env
    stop.set()
    kicker.join()
    context.__exit__(None, None, None)


def _start_requeued_jobs(env: dict[str, str], stop: threading.Event) -> None:
    while not stop.wait(1.0):
        queue = subprocess.run(
            ["squeue", "-h", "-t", "PD", "-o", "%i %r"], env=env, capture_output=True, text=True
        )
        for line in queue.stdout.splitlines():
            job, reason = line.split(maxsplit=1)
            if reason.strip() == "BeginTime":
                subprocess.run(
                    ["scontrol", "update", f"JobId={job}", "StartTime=now"],
                    env=env,
                    capture_output=True,
                )


def start_sweep(env: dict[str, str], sweep_dir: Path, *overrides: str) -> subprocess.Popen:
    """``python -m mintnet.train -m hydra/launcher=slurm ...``, as a user types it."""
    command = [sys.executable, "-m", "mintnet.train", "-m", "hydra/launcher=slurm"]
    command += [*overrides, f"hydra.sweep.dir={sweep_dir}"]
    return subprocess.Popen(
        command,
        cwd=sweep_dir.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(sweep: subprocess.Popen, expect: int, timeout: float = 400) -> str:
    output, _ = sweep.communicate(timeout=timeout)
    assert sweep.returncode == expect, output[-6000:]
    return output


def job_output(sweep_dir: Path) -> str:
    """Every line the jobs' tasks wrote (submitit's logs), all attempts."""
    return "\n".join(p.read_text() for p in sorted(sweep_dir.glob(".submitit/*/*_log.*")))


def slurm_job_id(sweep_dir: Path, job: int, timeout: float = 120) -> str:
    """The Slurm id of job ``job`` of the sweep (its folder under ``.submitit/``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder in sweep_dir.glob(".submitit/*_*"):
            if folder.name.endswith(f"_{job}") and list(folder.glob("*_submitted.pkl")):
                return folder.name
        ids = [f.name for f in sweep_dir.glob(".submitit/*") if f.name.isdigit()]
        if (
            ids
            and job == 0
            and (sweep_dir / ".submitit" / ids[0] / f"{ids[0]}_submitted.pkl").exists()
        ):
            return ids[0]
        time.sleep(0.5)
    raise AssertionError(f"no Slurm job {job} under {sweep_dir}/.submitit after {timeout} s")


def wait_for(path: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.5)


def status(job_dir: Path) -> dict:
    return json.loads((job_dir / "job_status.json").read_text())


def wandb_ids(job_dir: Path) -> set[str]:
    return {p.name.rsplit("-", 1)[-1] for p in job_dir.glob("wandb/offline-run-*")}


def _interrupt(env: dict[str, str], sweep_dir: Path, command: list[str]) -> None:
    """Run ``command <Slurm id of job 0>`` once job 0 has done two training steps."""
    wait_for(sweep_dir / "0" / "training")
    subprocess.run([*command, slurm_job_id(sweep_dir, 0)], env=env, check=True)


@pytest.fixture(scope="module")
def interrupted(cluster, tmp_path_factory):
    """Three sweeps started at once, one job each that is stopped in its first attempt: by its
    time limit, by ``scontrol requeue`` mid-epoch, and by ``scancel`` (beside a job that is not
    touched); and the run that is never stopped, on no cluster at all."""
    root = tmp_path_factory.mktemp("interrupted")
    sweeps = {
        "timeout": start_sweep(
            cluster,
            root / "timeout",
            *TINY,
            *INTERRUPTED,
            SLOW,
            *SMALL_JOBS,
            "hydra.launcher.timeout_min=1",
            "hydra.launcher.signal_delay_s=15",
        ),
        "requeue": start_sweep(cluster, root / "requeue", *TINY, *INTERRUPTED, SLOW, *SMALL_JOBS),
        "cancel": start_sweep(
            cluster,
            root / "cancel",
            *TINY,
            *INTERRUPTED,
            *SMALL_JOBS,
            "+callbacks.slow.seconds=1,0",
        ),
    }
    actions = [
        threading.Thread(
            target=_interrupt, args=(cluster, root / "requeue", ["scontrol", "requeue"])
        ),
        threading.Thread(target=_interrupt, args=(cluster, root / "cancel", ["scancel"])),
    ]
    for action in actions:
        action.start()
    whole = root / "whole"
    local = [sys.executable, "-m", "mintnet.train", *TINY, *INTERRUPTED, f"hydra.run.dir={whole}"]
    env = {k: v for k, v in cluster.items() if not k.startswith("SLURM")}
    subprocess.run(local + ["+callbacks.slow.seconds=0"], env=env, check=True, capture_output=True)
    for action in actions:
        action.join()
    yield root, sweeps
    for sweep in sweeps.values():
        if sweep.poll() is None:
            sweep.kill()


@pytest.mark.slow
def test_a_job_at_its_time_limit_is_requeued_and_ends_as_the_uninterrupted_run(interrupted):
    root, sweeps = interrupted
    finish(sweeps["timeout"], expect=0)
    logs, job = job_output(root / "timeout"), root / "timeout" / "0"
    assert "Caught signal SIGUSR2" in logs  # Slurm's warning, signal_delay_s before the limit
    assert "stopped by SIGUSR2; checkpoint" in logs  # at a training step, checkpoint written
    assert "Requeued job" in logs
    assert f"continuing from {job}/checkpoints/last.ckpt" in logs
    assert status(job)["status"] == "ok"
    assert_same_state(final_state(job), final_state(root / "whole"))
    assert len(wandb_ids(job)) == 1 and len(list(job.glob("wandb/offline-run-*"))) >= 2


@pytest.mark.slow
def test_scontrol_requeue_mid_epoch_resumes_as_the_uninterrupted_run(interrupted):
    root, sweeps = interrupted  # requeued after two steps of the first epoch
    sweep_dir = root / "requeue"
    output = finish(sweeps["requeue"], expect=0)
    logs, job = job_output(sweep_dir), sweep_dir / "0"
    assert "stopped by SIGTERM; checkpoint" in logs
    assert f"continuing from {job}/checkpoints/last.ckpt" in logs
    assert "1 jobs, 0 failed" in output
    assert_same_state(final_state(job), final_state(root / "whole"))
    assert len(wandb_ids(job)) == 1 and len(list(job.glob("wandb/offline-run-*"))) >= 2


@pytest.mark.slow
def test_scancel_of_one_job_is_recorded_and_the_other_finishes(interrupted):
    root, sweeps = interrupted  # job 0 cancelled after two steps
    sweep_dir = root / "cancel"
    output = finish(sweeps["cancel"], expect=1)
    assert status(sweep_dir / "0")["status"] == "cancelled"
    assert "CANCELLED" in status(sweep_dir / "0")["reason"]
    assert status(sweep_dir / "1")["status"] == "ok"
    assert "2 jobs, 1 failed" in output and "cancelled: Slurm job" in output
    assert "mintnet-train: 1 job(s) failed: 0" in output


@pytest.mark.slow
def test_an_array_of_ddp_runs_with_one_failing_arm(cluster, tmp_path):
    """Each job is 2 CPU ranks that Slurm starts; the arm with a bad learning rate fails (on
    both tasks, before any training), the others finish, and the sweep exits 1 with the table."""
    sweep_dir = tmp_path / "array"
    sweep = start_sweep(
        cluster,
        sweep_dir,
        *TINY,
        *SMALL_JOBS,
        "trainer=ddp_cpu",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=3",
        "logger=csv",
        "model.optimizer.lr=0.001,0.002,-1",
    )
    output = finish(sweep, expect=1)
    assert "3 jobs, 1 failed" in output
    rows = [status(sweep_dir / str(job)) for job in range(3)]
    assert [row["status"] for row in rows] == ["ok", "ok", "failed"]
    assert rows[2]["reason"] == (
        "model.optimizer: the optimizer refuses its arguments (Invalid learning rate: -1)"
    )
    logs = job_output(sweep_dir)
    for job in (0, 1):
        assert "GLOBAL_RANK: 1, MEMBER: 2/2" in logs
        assert (sweep_dir / str(job) / "checkpoints" / "last.ckpt").is_file()
    assert len(list(sweep_dir.glob(".submitit/*_0/*_1_log.err"))) == 1  # rank 1 was a Slurm task


def test_a_request_no_node_can_hold_is_refused_before_submitting(cluster, tmp_path):
    sweep = start_sweep(cluster, tmp_path / "big", *TINY, "hydra.launcher.cpus_per_task=64")
    output = finish(sweep, expect=1, timeout=120)
    assert "mintnet-train: hydra.launcher: cpus_per_task=64" in output and "at most" in output
    assert "Traceback" not in output
    assert not list((tmp_path / "big").glob(".submitit/*"))  # nothing was submitted


def test_a_job_slurm_can_never_start_is_cancelled_with_its_reason(cluster, tmp_path):
    """The ``short`` partition's limit is 1 minute; a 5-minute job pends for ever there."""
    sweep_dir = tmp_path / "never"
    sweep = start_sweep(
        cluster,
        sweep_dir,
        *TINY,
        *SMALL_JOBS,
        "hydra.launcher.partition=short",
        "hydra.launcher.timeout_min=5",
    )
    output = finish(sweep, expect=1, timeout=120)
    reason = re.search(r"PENDING \((Partition\w+)\)", output)  # Slurm 22.05: PartitionConfig
    assert reason, output[-3000:]
    assert status(sweep_dir / "0")["status"] == "failed"
    assert status(sweep_dir / "0")["reason"].endswith(f"pending with reason {reason[1]}")


def test_a_gpu_trainer_on_a_partition_without_gpus_says_what_to_use(cluster, tmp_path):
    sweep = start_sweep(cluster, tmp_path / "gpu", *TINY, *SMALL_JOBS, "trainer=gpu")
    output = finish(sweep, expect=1, timeout=120)
    assert (
        "mintnet-train: Slurm refused the jobs: sbatch: error: Invalid generic resource" in output
    )
    assert "use trainer=cpu or trainer=ddp_cpu" in output and "Traceback" not in output
