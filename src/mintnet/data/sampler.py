"""A shuffling sampler whose order depends only on (seed, epoch), so a resumed run sees the same
batches as an uninterrupted one."""

from collections.abc import Iterator, Sized

import torch
from torch.utils.data import Sampler

__all__ = ["EpochShuffleSampler"]


class EpochShuffleSampler(Sampler[int]):
    """A random permutation of ``range(len(data))`` drawn from a generator seeded with
    ``seed * 1_000_003 + epoch``. Lightning calls :meth:`set_epoch` at the start of every epoch,
    also after resuming from a checkpoint."""

    def __init__(self, data: Sized, seed: int = 0) -> None:
        self.data, self.seed, self.epoch = data, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(len(self.data), generator=generator).tolist())

    def __len__(self) -> int:
        return len(self.data)
