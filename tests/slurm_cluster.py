"""A throwaway single-node Slurm cluster on this machine, for the tests of the Slurm launcher.

:func:`slurm_cluster` installs ``slurm-wlm`` and ``munge`` with apt-get where they are missing
(root only), writes a minimal ``slurm.conf`` for this machine into a folder of its own (its own
ports, state and logs: nothing of a cluster already on the machine is touched), starts ``munged``
(unless one answers already), ``slurmctld`` and ``slurmd``, waits for the node to be idle, and
stops the daemons it started afterwards. The cluster is used through ``SLURM_CONF``, which
:func:`slurm_cluster` sets for the commands and the jobs.

By hand: ``python -m tests.slurm_cluster DIR`` starts one and waits for Ctrl-C.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")


class ClusterUnavailable(RuntimeError):
    """Slurm cannot be brought up here; the message says why."""


def _run(*command: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=check)


def _missing() -> list[str]:
    found = {name: shutil.which(name) or shutil.which(name, path="/usr/sbin") for name in DAEMONS}
    return [name for name, path in found.items() if path is None]


def install() -> None:
    """apt-get install slurm-wlm and munge where a daemon or command is missing."""
    if not _missing():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ClusterUnavailable(
            f"Slurm is not installed ({', '.join(_missing())} missing) and this user cannot "
            "apt-get install slurm-wlm munge"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        if done.returncode:
            raise ClusterUnavailable(f"{' '.join(command)} failed: {done.stderr[-500:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024 // 2  # half of what is free: room for the tests
    return 4096


def write_config(folder: Path, cpus: int) -> Path:
    """A ``slurm.conf`` for one node (this machine) and two partitions: ``debug``, the default,
    in which jobs share CPUs (up to 4 jobs a CPU: the tests' jobs mostly wait, and a 2-core
    machine would otherwise run them one after another), and ``short``, whose 1-minute limit no
    longer job can ever meet."""
    host = socket.gethostname().split(".")[0]
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    lines = [
        "ClusterName=mintnet-test",
        f"SlurmctldHost={host}",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "AuthType=auth/munge",
        "SlurmUser=root",
        f"StateSaveLocation={folder / 'state'}",
        f"SlurmdSpoolDir={folder / 'spool'}",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
        f"SlurmdPidFile={folder / 'slurmd.pid'}",
        f"SlurmctldLogFile={folder / 'slurmctld.log'}",
        f"SlurmdLogFile={folder / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU_Memory",
        "MpiDefault=none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "ReturnToService=2",
        "KillWait=20",
        f"NodeName={host} CPUs={cpus} RealMemory={_memory_mb()} State=UNKNOWN",
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4",
        "PartitionName=short Nodes=ALL MaxTime=1 State=UP OverSubscribe=FORCE:4",
    ]
    path = folder / "slurm.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def _munge_answers() -> bool:
    try:
        encoded = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
        decoded = subprocess.run(
            ["unmunge"], input=encoded.stdout, capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return encoded.returncode == 0 and decoded.returncode == 0


def _start_munge() -> bool:
    """Start munged as the munge user unless one answers; return whether this started it."""
    if _munge_answers():
        return False
    key = Path("/etc/munge/munge.key")
    if not key.is_file():
        key.write_bytes(os.urandom(1024))
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    run_dir = Path("/run/munge")
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    _run("runuser", "-u", "munge", "--", "/usr/sbin/munged")
    for _ in range(50):
        if _munge_answers():
            return True
        time.sleep(0.1)
    raise ClusterUnavailable("munged was started but does not answer (munge -n | unmunge)")


def _wait_idle(env: dict[str, str], folder: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    state = ""
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env, timeout=10
        )
        state = done.stdout.strip()
        if state in ("idle", "mixed", "allocated"):
            return
        time.sleep(0.5)
    log = (
        (folder / "slurmctld.log").read_text()[-1500:]
        if (folder / "slurmctld.log").exists()
        else ""
    )
    raise ClusterUnavailable(
        f"the Slurm node is not idle after {seconds:.0f} s ({state!r}); {log}"
    )


def _processes(name: str) -> set[int]:
    """The ids of the processes whose command name is ``name``."""
    found = set()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                found.add(int(entry.name))
    return found


def _stop(pid_file: Path) -> None:
    """SIGTERM the daemon of ``pid_file``, SIGKILL after 5 s."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)  # raises once it is gone
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def slurm_cluster(folder: Path) -> Iterator[dict[str, str]]:
    """Bring a single-node cluster up in ``folder``; yields the environment (``SLURM_CONF``)
    under which ``sbatch``, ``squeue`` and the jobs use it. Raises :class:`ClusterUnavailable`."""
    if sys.platform != "linux":
        raise ClusterUnavailable("the test cluster runs on Linux only")
    install()
    folder.mkdir(parents=True, exist_ok=True)
    conf = write_config(folder, os.cpu_count() or 1)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    started_munge = _start_munge()
    steps_before = _processes("slurmstepd")
    try:
        _run("/usr/sbin/slurmctld", "-f", str(conf))
        _run("/usr/sbin/slurmd", "-f", str(conf))
        _wait_idle(env, folder)
        yield env
    finally:
        subprocess.run(
            ["scancel", "--full", "-u", "root"], env=env, capture_output=True, timeout=30
        )
        _stop(folder / "slurmd.pid")
        _stop(folder / "slurmctld.pid")
        for pid in _processes("slurmstepd") - steps_before:  # steps of this cluster's jobs
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if started_munge:
            subprocess.run(["pkill", "-x", "munged"], capture_output=True)


if __name__ == "__main__":
    with slurm_cluster(Path(sys.argv[1]).resolve()) as environment:
        print(f"export SLURM_CONF={environment['SLURM_CONF']}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
