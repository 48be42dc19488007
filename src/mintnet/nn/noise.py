"""Uniform dequantisation noise: from the global random state, or seeded and reproducible.

A seeded draw gives every image its own stream, seeded from ``seed`` and the image's grey
levels, so the noise an image gets does not depend on the batch it is in, its position there,
or the process (DDP rank) that evaluates it: an evaluation with a seed gives the same number
however the split is batched or sharded.
"""

import torch
from torch import Tensor

from mintnet.errors import MintNetError

__all__ = ["EstimateError", "check_estimate", "dequantisation_noise", "image_seeds"]

_MODULUS = 2**63 - 1  # torch.Generator.manual_seed takes seeds below 2**64; keep them positive


class EstimateError(MintNetError, ValueError):
    """A bad argument to a likelihood estimate (number of samples, seed)."""


def check_estimate(samples: int, seed: int | None) -> None:
    """Raise :class:`EstimateError` unless ``samples`` is an int >= 1 and ``seed`` an int >= 0 or
    ``None``."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise EstimateError(
            f"samples must be an int >= 1 (noise draws per image), got {samples!r}"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise EstimateError(f"seed must be an int >= 0 or None (unseeded), got {seed!r}")


def image_seeds(levels: Tensor, seed: int) -> list[int]:
    r"""One seed per image, from ``seed`` and its integer grey levels ``levels`` ``(B, ...)``.

    .. math:: s_b = \Big(10^6\,\big(\textstyle\sum_d (k_{bd} + 1)\, w_d\big) + \mathrm{seed}\Big)
        \bmod (2^{63} - 1)

    with weights ``w_d`` in ``[1, 2^31)`` drawn from a generator seeded with ``seed``: images
    that differ in any pixel get different seeds (but for rare collisions), equal images the same.
    """
    flat = levels.detach().flatten(1).to("cpu", torch.int64) + 1  # (B, D), >= 1
    weights = torch.randint(
        1, 2**31, (flat.shape[1],), generator=torch.Generator().manual_seed(seed)
    )
    hashes = (flat * weights).sum(dim=1)  # < 2**63 for D up to 2**23 pixels of 256 levels
    return [(1_000_003 * int(h) + seed) % _MODULUS for h in hashes]


def dequantisation_noise(
    x: Tensor, n_bins: int, samples: int = 1, seed: int | None = None
) -> Tensor:
    """``samples`` uniform draws ``u in [0, 1)`` per pixel of images ``x`` ``(B, C, H, W)``:
    shape ``(samples, B, C, H, W)``, dtype and device of ``x``.

    ``seed=None`` draws from the global random state (``torch.manual_seed``); an int draws each
    image's ``samples`` from its own generator, seeded with :func:`image_seeds` (on the CPU, in
    ``x``'s dtype, then moved), so the result depends on the image, ``seed`` and ``samples`` only.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise EstimateError(
            f"samples must be an int >= 1 (noise draws per image), got {samples!r}"
        )
    if seed is None:
        return torch.rand((samples, *x.shape), dtype=x.dtype, device=x.device)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise EstimateError(f"seed must be an int >= 0 or None (unseeded), got {seed!r}")
    levels = torch.round(x.detach() * (n_bins - 1))
    per_image = [
        torch.rand(
            (samples, *x.shape[1:]),
            generator=torch.Generator().manual_seed(s),
            dtype=x.dtype,
        )
        for s in image_seeds(levels, seed)
    ]
    return torch.stack(per_image, dim=1).to(x.device)  # (samples, B, C, H, W)
