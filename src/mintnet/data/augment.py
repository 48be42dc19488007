"""Train-time augmentation on ``(C, H, W)`` image tensors: horizontal flip and padded random crop."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["AUGMENTATIONS", "Augmentation"]

AUGMENTATIONS = ("hflip", "random_crop")
"""Names accepted in a data module's ``augment`` list."""

FLIP_PROBABILITY = 0.5


class Augmentation:
    """Apply the named augmentations, in the order of :data:`AUGMENTATIONS`, to one image.

    ``hflip`` mirrors the image left-right with probability 0.5. ``random_crop`` zero-pads
    ``crop_padding`` pixels on every side, then crops a uniformly placed window of the original
    size. Zero is grey level 0, so augmented values stay on the quantisation grid. The random
    draws come from ``generator`` when one is given (the training data gives each sample its own,
    seeded by :func:`mintnet.data.sampler.sample_seed`), else from torch's global generator.

    Arguments:
        names: a subset of :data:`AUGMENTATIONS`.
        crop_padding: pixels of zero padding for ``random_crop`` (the paper: 2 for MNIST, 4 for
            CIFAR-10).
    """

    def __init__(self, names: Sequence[str], crop_padding: int) -> None:
        unknown = [n for n in names if n not in AUGMENTATIONS]
        if unknown:
            raise ValueError(
                f"augment: unknown name(s) {unknown}; valid names are {AUGMENTATIONS}"
            )
        if "random_crop" in names and crop_padding < 1:
            raise ValueError(f"crop_padding must be >= 1 with random_crop, got {crop_padding}")
        self.hflip = "hflip" in names
        self.random_crop = "random_crop" in names
        self.crop_padding = crop_padding

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment one image ``x`` of shape ``(C, H, W)``; returns the same shape."""
        if self.hflip and torch.rand((), generator=generator) < FLIP_PROBABILITY:
            x = x.flip(-1)
        if self.random_crop:
            p = self.crop_padding
            h, w = x.shape[-2:]
            padded = F.pad(x, (p, p, p, p))  # (C, H + 2p, W + 2p)
            top, left = torch.randint(0, 2 * p + 1, (2,), generator=generator).tolist()
            x = padded[:, top : top + h, left : left + w]
        return x

    def __repr__(self) -> str:
        return (
            f"Augmentation(hflip={self.hflip}, random_crop={self.random_crop}, "
            f"crop_padding={self.crop_padding})"
        )
