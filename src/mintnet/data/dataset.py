"""Quantised images held in memory as integers, served as float tensors on the grid k/(n_bins-1)."""

from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["ImageArrayDataset", "LabelledImages", "split_indices"]


class LabelledImages(NamedTuple):
    """Integer images and their labels, as read from disk.

    ``images`` has shape ``(N, C, H, W)`` with integer grey levels in ``0..n_bins-1`` (it may be a
    strided view or a memory map); ``labels`` has shape ``(N,)``, int64, -1 where unlabelled.
    """

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


class Transform(Protocol):
    """An image transform with its own source of randomness, e.g. :class:`Augmentation`."""

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor: ...


class ImageArrayDataset(Dataset[tuple[Tensor, int]]):
    """One split: the rows ``indices`` of ``data`` (all rows when ``None``).

    Item ``i`` is ``(x, y)``: ``x`` float32 ``(C, H, W)`` equal to ``level / (n_bins - 1)``, then
    passed through ``transform`` if given; ``y`` the int label. The key may also be a pair
    ``(i, seed)``, as :class:`~mintnet.data.sampler.EpochShuffleSampler` yields: ``transform`` then
    draws its randomness from a generator seeded with ``seed``, so the item does not depend on
    which process loads it or on what that process loaded before.
    """

    def __init__(
        self,
        data: LabelledImages,
        n_bins: int,
        indices: np.ndarray | None = None,
        transform: Transform | Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self.data = data
        self.scale = float(n_bins - 1)
        self.indices = np.arange(len(data)) if indices is None else indices
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Tensor, int]:
        i, seed = key if isinstance(key, tuple) else (key, None)
        row = int(self.indices[i])
        # np.array copies, so a read-only memory map is never handed to torch
        x = torch.from_numpy(np.array(self.data.images[row], dtype=np.float32)) / self.scale
        if self.transform is not None:
            if seed is None:
                x = self.transform(x)
            else:
                x = self.transform(x, torch.Generator().manual_seed(seed))
        return x, int(self.data.labels[row])


def split_indices(n: int, sizes: list[int], seed: int) -> list[np.ndarray]:
    """Shuffle ``range(n)`` with ``seed`` and cut it into consecutive parts of ``sizes``.

    The last part takes the remainder, so ``sizes`` lists all parts but the last. Each part is
    sorted, which keeps reads from memory maps sequential; the result depends only on
    ``(n, sizes, seed)``.
    """
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator).numpy()
    bounds = np.cumsum([0, *sizes])
    parts = [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    parts.append(order[bounds[-1] :])
    return [np.sort(p) for p in parts]
