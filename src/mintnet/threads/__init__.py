"""How many CPU threads torch uses: one policy for every entry point (``threads: auto|N``,
:mod:`mintnet.threads.policy`), and under ``auto`` a count that follows the other processes'
load during the run (:mod:`mintnet.threads.load`)."""

from mintnet.threads.load import CpuSample, LoadFollower, idle_cores, sample_cpu
from mintnet.threads.policy import (
    INHERITED,
    ThreadChoice,
    apply,
    configure,
    configure_run,
    decide,
    follow_load,
    parse_setting,
    usable_cores,
)

__all__ = [
    "INHERITED",
    "CpuSample",
    "LoadFollower",
    "ThreadChoice",
    "apply",
    "configure",
    "configure_run",
    "decide",
    "follow_load",
    "idle_cores",
    "parse_setting",
    "sample_cpu",
    "usable_cores",
]
