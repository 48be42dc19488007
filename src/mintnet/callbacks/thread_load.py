"""Torch's threads that follow the machine's load during training (``threads: auto``)."""

from typing import Any

from pytorch_lightning import Callback

from mintnet.threads import follow_load

__all__ = ["FollowCpuLoad"]


class FollowCpuLoad(Callback):
    """At the end of every batch (training, validation, test, predict), give
    :func:`mintnet.threads.follow_load` its chance to re-measure the cores that other processes
    keep busy and to change torch's intra-op threads. Does nothing for a fixed count
    (``threads=N`` or ``OMP_NUM_THREADS``); costs one clock read per batch otherwise, and one
    read of ``/proc/stat`` per second."""

    def on_train_batch_end(self, *args: Any, **kwargs: Any) -> None:
        follow_load()

    def on_validation_batch_end(self, *args: Any, **kwargs: Any) -> None:
        follow_load()

    def on_test_batch_end(self, *args: Any, **kwargs: Any) -> None:
        follow_load()

    def on_predict_batch_end(self, *args: Any, **kwargs: Any) -> None:
        follow_load()
