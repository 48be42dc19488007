"""The thread policy's decisions (mintnet.threads): who wins, how cores are shared, the header, and
the count that follows other processes' load during a run."""

import os
import subprocess
import sys

import pytest
import torch

from mintnet import threads
from mintnet.config import ConfigError
from mintnet.threads import (
    INHERITED,
    CpuSample,
    LoadFollower,
    ThreadChoice,
    decide,
    parse_setting,
    policy,
    usable_cores,
)

IDLE_MACHINE = dict(cores=8, idle=8.0)


def test_explicit_environment_wins_over_auto():
    choice = decide("auto", env={"OMP_NUM_THREADS": "3"}, **IDLE_MACHINE)
    assert (choice.intra, choice.inter, choice.source) == (3, 3, "environment")


def test_threads_setting_wins_over_everything():
    choice = decide(2, env={"OMP_NUM_THREADS": "1"}, cores=1, idle=0.0)
    assert (choice.intra, choice.source) == (2, "config")
    assert decide("5", env={}).intra == 5


def test_auto_takes_every_idle_core():
    choice = decide("auto", env={}, **IDLE_MACHINE)
    assert (choice.intra, choice.source, choice.ceiling) == (8, "auto", 8)
    assert decide("auto", env={}, cores=2, idle=2.0).intra == 2
    assert decide("auto", env={}, cores=1, idle=1.0).intra == 1


@pytest.mark.parametrize(
    ("idle", "expected"), [(6.8, 7), (6.6, 6), (3.0, 3), (1.0, 1), (0.05, 1), (None, 8)]
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
        (2, 0, 3.0, 2),
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
    assert (rank0.intra, rank0.source) == (8, "auto")  # its own export is no user setting


def test_slurm_cpus_per_task_caps_the_cores():
    assert usable_cores({"SLURM_CPUS_PER_TASK": "1"}) == 1
    assert usable_cores({}) == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("bad", ["0", "-2", "many", 0])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError, match="threads must be 'auto' or a positive integer"):
        parse_setting(bad)


def test_header_names_count_and_reason():
    line = ThreadChoice(1, 1, "auto", "2 cores, 1 idle, follows the load").header()
    assert line == "threads: 1 (auto: 2 cores, 1 idle, follows the load)"


@pytest.fixture
def clean_threads(monkeypatch):
    """No OMP_NUM_THREADS, and torch's thread count and the environment restored afterwards."""
    for key in ("OMP_NUM_THREADS", INHERITED, "LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        monkeypatch.setenv(key, "x")  # remembered by monkeypatch, so restored
        monkeypatch.delenv(key)
    monkeypatch.setattr(policy, "idle_cores", lambda seconds=0.0: 8.0)
    monkeypatch.setattr(policy, "usable_cores", lambda env=None: 8)
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
        == "threads: 2 (auto: 8 cores, 2 each for 4 processes, 8 idle, follows the load)\n"
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


class FakeMachine:
    """``/proc/stat`` and this process's CPU clock of a machine whose other processes keep
    ``busy`` cores (of ``cores``) busy while this process uses ``own`` cores, one second a tick."""

    def __init__(self, cores: int = 2, own: float = 1.0) -> None:
        self.cores, self.own, self.busy = cores, own, 0.0
        self.idle = [0.0] * cores
        self.total = 0.0
        self.own_seconds = 0.0
        self.clock = 0.0

    def tick(self, seconds: float = 1.0) -> None:
        self.clock += seconds
        self.total += 100 * seconds
        spread = min(1.0, (self.busy + self.own) / self.cores)  # busy fraction of each core
        self.idle = [i + 100 * seconds * (1 - spread) for i in self.idle]
        self.own_seconds += self.own * seconds

    def sample(self) -> CpuSample:
        jiffies = {f"cpu{c}": (int(i), int(self.total)) for c, i in enumerate(self.idle)}
        return CpuSample(jiffies, self.own_seconds, self.clock)


def test_busy_elsewhere_is_all_cores_busy_less_this_process():
    earlier = CpuSample({"cpu0": (0, 0), "cpu1": (0, 0)}, own_seconds=3.0, clock=10.0)
    later = CpuSample({"cpu0": (50, 100), "cpu1": (0, 100)}, own_seconds=3.5, clock=11.0)
    # cores: 0.5 + 1.0 busy = 1.5; this process 0.5 s of CPU in 1 s
    assert later.busy_elsewhere(earlier) == pytest.approx(1.0)
    assert later.busy_elsewhere(later) is None  # no time passed


def test_the_follower_drops_a_thread_when_another_process_starts_and_takes_it_back(clean_threads):
    machine = FakeMachine(cores=2, own=2.0)
    follower = LoadFollower(2, 2, 2, sample=machine.sample, clock=lambda: machine.clock)
    seen = []
    for busy in [0, 0, 1, 1, 1, 1, 0, 0, 0]:
        machine.busy = busy
        machine.own = 2.0 - busy * 2 / 3 if follower.current == 2 else 1.0  # CFS's shares
        machine.tick()
        seen.append(follower.update())
    # two measurements in a row must agree before a change
    assert seen == [2, 2, 2, 1, 1, 1, 1, 2, 2]
    assert follower.changes == 2 and torch.get_num_threads() == 2


def test_the_follower_ignores_one_blip_keeps_its_ceiling_and_waits_its_interval(clean_threads):
    machine = FakeMachine(cores=8, own=2.0)
    follower = LoadFollower(8, 2, 2, sample=machine.sample, clock=lambda: machine.clock)
    for busy in [7, 0, 7, 0, 0, 0]:  # one core left now and then: never two samples in a row
        machine.busy, machine.own = busy, 2.0 - busy / 7
        machine.tick()
        assert follower.update() == 2
    machine.busy, machine.own = 7, 1.0
    machine.tick()
    follower.update()
    machine.tick(0.5)
    assert follower.update() == 2  # half an interval: no new measurement
    machine.tick(0.5)
    assert follower.update() == 1
    assert follower.target(busy_elsewhere=0.0) == 2  # never above the ceiling


def test_auto_follows_and_a_fixed_count_does_not(clean_threads, monkeypatch):
    machine = FakeMachine(cores=8, own=8.0)
    monkeypatch.setattr(policy, "LoadFollower", _following(machine))
    assert threads.configure("auto", announce=False).intra == 8
    machine.busy, machine.own = 6.0, 2.0
    for _ in range(3):
        machine.tick()
        threads.follow_load()
    assert torch.get_num_threads() == 2
    threads.configure(3, announce=False)
    for _ in range(3):
        machine.tick()
        assert threads.follow_load() == 3


def _following(machine: FakeMachine) -> type:
    class Follower(LoadFollower):
        def __init__(self, cores: int, ceiling: int, current: int, **kwargs: object) -> None:
            kwargs.update(sample=machine.sample, clock=lambda: machine.clock)
            super().__init__(cores, ceiling, current, **kwargs)

    return Follower


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads /proc/stat")
def test_a_spinning_process_is_measured_as_busy_elsewhere():
    from benchmarks.threads import busy

    with busy(1):
        first = threads.sample_cpu()
        import time

        time.sleep(1.0)
        measured = threads.sample_cpu().busy_elsewhere(first)
    # at least the spinner; other processes on the machine only add to it
    assert measured is not None and measured >= 0.6


def test_training_runs_follow_the_load_through_a_callback(compose_cfg):
    cfg = compose_cfg([])
    assert cfg.callbacks.thread_load._target_ == "mintnet.callbacks.FollowCpuLoad"


def test_make_train_pins_one_thread_so_its_printed_number_holds_at_any_load(compose_cfg):
    assert compose_cfg(["experiment=digits_density"]).threads == 1
    assert compose_cfg(["experiment=digits_density", "threads=auto"]).threads == "auto"


FAULTS = """
import resource, sys, torch
from mintnet.memory import keep_freed_memory
from mintnet.nn import MintNet
torch.set_num_threads(1)
kept = keep_freed_memory(env={} if sys.argv[1] == "keep" else {"MALLOC_TOP_PAD_": "0"})
net = MintNet((1, 8, 8), 2, 1, 8)
with torch.no_grad():
    z, _ = net(torch.randn(256, 1, 8, 8))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        net.inverse(z)
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_allocator_keeps_freed_memory_unless_the_user_set_glibc_s_own_variables():
    """Inverting a flow allocates and frees activation-sized blocks: glibc's default hands them
    back and faults fresh zeroed pages in for the next; kept, they are reused."""
    runs = {}
    for mode in ("keep", "user"):
        done = subprocess.run(
            [sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True
        )
        kept, faults = done.stdout.split()
        runs[mode] = (kept, int(faults))
    assert runs["keep"][0] == "True" and runs["user"][0] == "False"  # the user's setting wins
    assert runs["keep"][1] * 10 < runs["user"][1]
