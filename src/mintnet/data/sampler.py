"""The training order: a shuffle that depends only on ``(seed, epoch, rank)``, and a random seed
per sample for its augmentation, so a run resumed at any step sees the same batches and the same
augmented images as an uninterrupted one, whatever the number of data-loader workers."""

from collections.abc import Iterator, Sized
from typing import Any

import torch
from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler

__all__ = ["EpochShuffleSampler", "sample_seed"]

_SEED_MODULUS = 2**63 - 1


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of the random augmentation of sample ``index`` in ``epoch``: a fixed function of
    its arguments (a different one for every sample and epoch), in ``[0, 2**63 - 1)``."""
    return ((seed * 1_000_003 + epoch) * 2_147_483_647 + index) % _SEED_MODULUS


class EpochShuffleSampler(StatefulDistributedSampler):
    """Shuffled training order that yields ``(index, sample_seed(seed, epoch, index))`` pairs.

    The order is torch's ``DistributedSampler`` with ``shuffle=True``: a permutation of
    ``range(len(data))`` drawn from a generator seeded with ``seed + epoch``, padded to a multiple
    of the number of ranks and dealt out ``rank, rank + num_replicas, ...``. With one process
    (the default when no process group is running) that is the whole permutation. Lightning calls
    :meth:`set_epoch` at the start of every epoch, also after resuming, and leaves a
    ``DistributedSampler`` in place under DDP instead of wrapping it, so every rank shuffles the
    same way and keeps its own shard.

    The sampler is torchdata's stateful ``DistributedSampler``, whose :meth:`state_dict` holds how
    many indices of the epoch were handed out, with the epoch added: a ``StatefulDataLoader``
    (which Lightning saves in every checkpoint) restores it through :meth:`load_state_dict`, so
    the next iteration continues the same epoch's order from that position, even though the
    loader starts its iterator before Lightning calls :meth:`set_epoch`.

    The second element of each pair seeds the sample's augmentation
    (:class:`~mintnet.data.ImageArrayDataset` reads it): augmentations then draw from no process's
    global random state, so they are the same in the main process and in any worker, and a
    data loader fast-forwarded to a position inside an epoch reproduces them exactly.

    Arguments:
        data: the dataset (only its length is used).
        seed: seed of the order and of the augmentations.
        num_replicas: number of ranks; ``None`` takes the running process group's, else 1.
        rank: this process's rank; ``None`` takes the running process group's, else 0.
    """

    def __init__(
        self,
        data: Sized,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if num_replicas is None:
            num_replicas = torch.distributed.get_world_size() if distributed else 1
        if rank is None:
            rank = torch.distributed.get_rank() if distributed else 0
        super().__init__(data, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        # A generator: the order is drawn at the first next(), after Lightning's set_epoch.
        for index in super().__iter__():
            yield index, sample_seed(self.seed, self.epoch, index)

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "yielded"}``: where in which epoch's order the iteration stands."""
        return {**super().state_dict(), "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Make the next iteration continue epoch ``state["epoch"]`` after ``state["yielded"]``
        indices."""
        super().load_state_dict(state)
        self.set_epoch(int(state["epoch"]))
