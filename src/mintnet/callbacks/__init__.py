"""Lightning callbacks of mintnet."""

from mintnet.callbacks.inversion_error import InversionErrorCallback
from mintnet.callbacks.non_finite_guard import NonFiniteGuard, NonFiniteLossError
from mintnet.callbacks.optuna_pruning import OptunaPruning
from mintnet.callbacks.preemption import PreemptionCheckpoint
from mintnet.callbacks.progress import TextProgressBar, progress_bar
from mintnet.callbacks.sample_images import SampleImages
from mintnet.callbacks.thread_load import FollowCpuLoad
from mintnet.callbacks.wall_clock import WallClock

__all__ = [
    "FollowCpuLoad",
    "InversionErrorCallback",
    "NonFiniteGuard",
    "NonFiniteLossError",
    "OptunaPruning",
    "PreemptionCheckpoint",
    "SampleImages",
    "TextProgressBar",
    "WallClock",
    "progress_bar",
]
