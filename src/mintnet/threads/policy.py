"""How many CPU threads torch uses: one policy for every entry point (``threads: auto|N``).

Torch's default is one intra-op thread per core. Each parallel region then ends at a barrier
that waits for its slowest thread, so when another process holds one of the cores every region
waits for the thread it pushed off, and a small model's step runs many times slower than on one
thread (``docs/performance.md``). :func:`decide` picks the count, in this order:

1. ``threads=N`` (the config key, or ``--threads N`` on the commands): ``N``;
2. ``OMP_NUM_THREADS`` set by the user: that;
3. a rank or loader started by a process that already decided: its count (``MINTNET_THREADS``);
4. ``auto``: the cores this process may use (its affinity mask, at most ``SLURM_CPUS_PER_TASK``),
   divided among the processes that share them (local DDP ranks, concurrent jobs), less one per
   data-loader worker, and at most the cores that other processes left idle over a short sample
   of ``/proc/stat``, shared among those processes; at least 1. During the run a
   :class:`~mintnet.threads.load.LoadFollower` keeps following the idle cores (:func:`follow_load`).

:func:`configure` applies the choice (intra- and inter-op), records it for child processes, and
returns it; :meth:`ThreadChoice.header` is the line each run prints.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from mintnet.config import ConfigError
from mintnet.memory import keep_freed_memory
from mintnet.run_log import to_log_files
from mintnet.threads.load import IDLE_ROUNDING, LoadFollower, idle_cores

__all__ = [
    "INHERITED",
    "ThreadChoice",
    "apply",
    "configure",
    "configure_run",
    "decide",
    "follow_load",
    "parse_setting",
    "usable_cores",
]


INHERITED = "MINTNET_THREADS"
"""Set by :func:`configure`, with ``OMP_NUM_THREADS``, for the processes this one starts (DDP
ranks): they take the count as decided instead of measuring a machine their parent keeps busy."""

SAMPLE_SECONDS = 0.2
"""How long ``auto`` watches ``/proc/stat`` for cores that other processes keep busy."""

_follower: LoadFollower | None = None
"""The running ``auto`` choice's follower (:func:`follow_load`); ``None`` for a fixed count."""


@dataclass(frozen=True)
class ThreadChoice:
    """``intra`` and ``inter`` op threads, and why (``source``: ``config``, ``environment``,
    ``inherited`` or ``auto``; ``detail``: the numbers behind it)."""

    intra: int
    inter: int
    source: str
    detail: str
    ceiling: int = 0
    """``auto``: the most threads the cores allow this process whatever the load (0: fixed)."""

    def header(self) -> str:
        """The line a run prints, e.g. ``threads: 1 (auto: 2 cores, 1 idle)``."""
        return f"threads: {self.intra} ({self.source}: {self.detail})"


def parse_setting(value: object) -> int | None:
    """``"auto"``/``None`` -> ``None``; a positive integer (or its string) -> that integer."""
    if value is None or str(value).strip().lower() == "auto":
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(f"threads must be 'auto' or a positive integer, got {value!r}")
    return number


def usable_cores(env: Mapping[str, str] | None = None) -> int:
    """The CPUs this process may run on (affinity mask), at most ``SLURM_CPUS_PER_TASK``."""
    env = os.environ if env is None else env
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity masks (macOS, Windows)
        cores = os.cpu_count() or 1
    slurm = env.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        cores = min(cores, int(slurm))
    return max(1, cores)


def decide(
    setting: object = "auto",
    *,
    processes: int = 1,
    loader_workers: int = 0,
    env: Mapping[str, str] | None = None,
    cores: int | None = None,
    idle: float | None = -1.0,
) -> ThreadChoice:
    """The thread count for ``setting`` (``"auto"`` or ``N``) in a process that shares the
    machine's cores with ``processes - 1`` like it (local DDP ranks, concurrent jobs) and runs
    ``loader_workers`` data-loader processes. ``cores`` defaults to :func:`usable_cores`; ``idle``
    (idle cores) to a :func:`idle_cores` sample, ``None`` for unknown."""
    env = os.environ if env is None else env
    explicit = parse_setting(setting)
    if explicit is not None:
        return ThreadChoice(explicit, explicit, "config", f"threads={explicit}")
    omp = env.get("OMP_NUM_THREADS", "").strip()
    if omp and env.get(INHERITED) == omp and omp.isdigit() and int(omp) >= 1:
        if env.get("LOCAL_RANK", "0") not in ("", "0"):  # a rank its parent launched
            return ThreadChoice(int(omp), int(omp), "inherited", "from the launching process")
    elif omp:
        try:
            count = parse_setting(omp)
        except ValueError:
            count = None
        if count is not None:
            return ThreadChoice(count, count, "environment", f"OMP_NUM_THREADS={omp}")
    cores = usable_cores(env) if cores is None else cores
    share = max(1, cores // max(1, processes))
    budget = max(1, share - max(0, loader_workers))
    parts = [f"{cores} cores"]
    if processes > 1:
        parts.append(f"{share} each for {processes} processes")
    if loader_workers > 0:
        parts.append(f"{loader_workers} loader workers")
    if idle is not None and idle < 0:
        idle = idle_cores(SAMPLE_SECONDS)
    free = cores if idle is None else min(cores, max(1, int(idle + IDLE_ROUNDING)))
    if idle is not None:
        parts.append(f"{free} idle")
    ceiling = budget
    budget = min(budget, max(1, int(free / max(1, processes) + 0.5)))
    parts.append("follows the load")
    return ThreadChoice(budget, budget, "auto", ", ".join(parts), ceiling)


def apply(choice: ThreadChoice) -> ThreadChoice:
    """Set torch's intra-op threads, and its inter-op threads where torch still allows it (only
    before its first inter-op parallel work)."""
    torch.set_num_threads(choice.intra)
    try:
        if torch.get_num_interop_threads() != choice.inter:
            torch.set_num_interop_threads(choice.inter)
    except RuntimeError:  # the inter-op pool already started: it keeps its size
        pass
    return choice


def configure(
    setting: object = "auto",
    *,
    processes: int = 1,
    loader_workers: int = 0,
    announce: bool = True,
) -> ThreadChoice:
    """:func:`decide`, :func:`apply`, and export the count to the processes this one starts
    (``OMP_NUM_THREADS`` and :data:`INHERITED`); print :meth:`ThreadChoice.header` if
    ``announce``. Also keeps freed memory in the process
    (:func:`mintnet.memory.keep_freed_memory`), the other CPU setting every entry point needs.
    Returns the choice."""
    global _follower
    keep_freed_memory()  # the allocator half of a CPU run's set-up (mintnet.memory)
    choice = apply(decide(setting, processes=processes, loader_workers=loader_workers))
    if choice.source != "environment":
        os.environ["OMP_NUM_THREADS"] = os.environ[INHERITED] = str(choice.intra)
    _follower = None
    if choice.source in ("auto", "inherited"):  # an inherited count came from `auto` too
        ceiling = choice.ceiling or choice.intra
        _follower = LoadFollower(usable_cores(), ceiling, choice.intra, on_change=_said)
    if announce:
        print(choice.header(), flush=True)
    return choice


def follow_load() -> int:
    """Under ``auto``, let the :class:`~mintnet.threads.load.LoadFollower` re-measure the load
    (at most once a second) and change torch's threads; call it from the thread that runs the
    model, often (each training step, each unit of an analysis loop). Returns the threads."""
    return _follower.update() if _follower is not None else torch.get_num_threads()


def _said(old: int, new: int, busy: float) -> None:
    to_log_files(f"threads: {old} -> {new} (other processes keep {busy:.1f} cores busy)")


def _local_processes(cfg: object, env: Mapping[str, str]) -> int:
    """Processes of this run on this machine that share its cores: ``LOCAL_WORLD_SIZE`` where a
    launcher set it; 1 under Slurm with ``SLURM_CPUS_PER_TASK`` (each task has its own cores);
    else ``trainer.devices`` when the trainer has a (DDP) strategy."""
    for key in ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        value = env.get(key, "")
        if value.isdigit() and int(value) > 0:
            if key.startswith("SLURM") and env.get("SLURM_CPUS_PER_TASK", "").isdigit():
                return 1
            return int(value)
    trainer = _select(cfg, "trainer") or {}
    devices = trainer.get("devices") if hasattr(trainer, "get") else None
    if trainer.get("strategy") and isinstance(devices, int) and devices > 1:
        return devices
    return 1


def _select(cfg: object, key: str) -> object:
    try:
        return cfg.get(key)  # type: ignore[attr-defined]
    except Exception:  # an interpolation that cannot resolve here: unknown
        return None


def configure_run(cfg: object, announce: bool | None = None) -> ThreadChoice:
    """:func:`configure` for a Hydra run config: ``cfg.threads`` (default ``auto``), the local
    DDP ranks and ``data.num_workers``; announced on the local rank 0 only."""
    env = os.environ
    setting = _select(cfg, "threads")
    setting = "auto" if setting is None else setting
    try:
        parse_setting(setting)
    except ValueError as error:
        raise ConfigError(
            f"threads={setting!r} is invalid: expected 'auto' or an integer >= 1"
        ) from error
    data = _select(cfg, "data")
    workers = _select(data, "num_workers") if data is not None else 0
    if announce is None:
        announce = env.get("LOCAL_RANK", "0") in ("", "0") and env.get("RANK", "0") in ("", "0")
    return configure(
        setting,
        processes=_local_processes(cfg, env),
        loader_workers=workers if isinstance(workers, int) else 0,
        announce=announce,
    )
