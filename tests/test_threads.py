"""The thread policy's decisions (mintnet.threads): who wins, how cores are shared, the header."""

import os

import pytest
import torch

from mintnet import threads
from mintnet.config import ConfigError
from mintnet.threads import INHERITED, ThreadChoice, decide, parse_setting, usable_cores

IDLE_MACHINE = dict(cores=8, idle=8.0)


def test_explicit_environment_wins_over_auto():
    choice = decide("auto", env={"OMP_NUM_THREADS": "3"}, **IDLE_MACHINE)
    assert (choice.intra, choice.inter, choice.source) == (3, 3, "environment")


def test_threads_setting_wins_over_everything():
    choice = decide(2, env={"OMP_NUM_THREADS": "1"}, cores=1, idle=0.0)
    assert (choice.intra, choice.source) == (2, "config")
    assert decide("5", env={}).intra == 5


def test_auto_takes_every_idle_core_but_one_spare():
    choice = decide("auto", env={}, **IDLE_MACHINE)
    assert (choice.intra, choice.source) == (7, "auto")
    assert decide("auto", env={}, cores=2, idle=2.0).intra == 1  # 2 cores: one thread
    assert decide("auto", env={}, cores=1, idle=1.0).intra == 1


@pytest.mark.parametrize(
    ("idle", "expected"), [(6.8, 6), (3.0, 2), (1.0, 1), (0.05, 1), (None, 7)]
)
def test_auto_leaves_the_cores_other_processes_keep_busy(idle, expected):
    assert decide("auto", env={}, cores=8, idle=idle).intra == expected


@pytest.mark.parametrize(
    ("processes", "workers", "idle", "expected"),
    [
        (4, 0, 8.0, 2),
        (2, 1, 8.0, 3),
        (3, 0, 8.0, 2),
        (16, 0, 8.0, 1),
        (2, 0, 2.0, 1),
        (2, 0, 4.0, 2),
    ],
)
def test_ddp_ranks_and_loader_workers_share_the_cores(processes, workers, idle, expected):
    choice = decide(
        "auto", env={}, cores=8, idle=idle, processes=processes, loader_workers=workers
    )
    assert choice.intra == expected


def test_ranks_take_the_count_their_launcher_decided():
    env = {"OMP_NUM_THREADS": "2", INHERITED: "2", "LOCAL_RANK": "1"}
    assert decide("auto", env=env, cores=8, idle=0.0).source == "inherited"
    rank0 = decide("auto", env={**env, "LOCAL_RANK": "0"}, **IDLE_MACHINE)
    assert (rank0.intra, rank0.source) == (7, "auto")  # its own export is no user setting


def test_slurm_cpus_per_task_caps_the_cores():
    assert usable_cores({"SLURM_CPUS_PER_TASK": "1"}) == 1
    assert usable_cores({}) == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("bad", ["0", "-2", "many", 0])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError, match="threads must be 'auto' or a positive integer"):
        parse_setting(bad)


def test_header_names_count_and_reason():
    line = ThreadChoice(1, 1, "auto", "2 cores, 1 idle").header()
    assert line == "threads: 1 (auto: 2 cores, 1 idle)"


@pytest.fixture
def clean_threads(monkeypatch):
    """No OMP_NUM_THREADS, and torch's thread count and the environment restored afterwards."""
    for key in ("OMP_NUM_THREADS", INHERITED, "LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        monkeypatch.setenv(key, "x")  # remembered by monkeypatch, so restored
        monkeypatch.delenv(key)
    monkeypatch.setattr(threads, "idle_cores", lambda seconds=0.0: 8.0)
    monkeypatch.setattr(threads, "usable_cores", lambda env=None: 8)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_ddp_run_config_gives_each_rank_its_share(compose_cfg, clean_threads, capsys):
    cfg = compose_cfg(["trainer=ddp_cpu", "trainer.devices=4"])
    choice = threads.configure_run(cfg)
    assert (choice.intra, torch.get_num_threads()) == (2, 2)
    assert os.environ["OMP_NUM_THREADS"] == os.environ[INHERITED] == "2"  # for the ranks
    assert (
        capsys.readouterr().out
        == "threads: 2 (auto: 8 cores, 2 each for 4 processes, 8 idle, 1 spare)\n"
    )


def test_run_config_threads_and_bad_values(compose_cfg, clean_threads, capsys):
    assert threads.configure_run(compose_cfg(["threads=1"])).intra == torch.get_num_threads() == 1
    assert capsys.readouterr().out == "threads: 1 (config: threads=1)\n"
    with pytest.raises(ConfigError, match="threads=0 is invalid"):
        threads.configure_run(compose_cfg(["threads=0"]))


def test_results_pipeline_keeps_one_thread_unless_asked(clean_threads):
    from reproduction.command import _threads

    assert _threads(None) == "threads: 1 (config: threads=1)"
    assert os.environ["OMP_NUM_THREADS"] == "1"  # what the training runs inherit
    assert _threads("auto") == "threads: 1 (environment: OMP_NUM_THREADS=1)"
    os.environ.pop("OMP_NUM_THREADS")
    assert "(auto: 8 cores" in _threads("auto")
    assert os.environ["OMP_NUM_THREADS"] != "1"


def test_the_benchmark_busy_processes_spin_and_are_gone_afterwards():
    from benchmarks.threads import busy

    with busy(1):
        children = [p for p in os.listdir("/proc") if p.isdigit() and _parent(p) == os.getpid()]
        assert children
    assert all(not os.path.exists(f"/proc/{p}") or _parent(p) != os.getpid() for p in children)


def _parent(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return int(file.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
