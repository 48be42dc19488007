"""Autoregressive masks for the masked convolutions of a Mint layer.

Dimensions of an image ``(C, H, W)`` are ordered channel-major, then row, then column. A *lower* mask
lets output ``(i, p)`` see input ``(c, q)`` only if ``c < i``, or ``c == i`` and pixel ``q`` is at or
before pixel ``p`` in raster order; an *upper* mask is the mirror image (``c > i``, or ``c == i`` and
``q`` at or after ``p``). Convolutions whose weights carry such masks therefore have a lower (upper)
triangular Jacobian in that order, and its diagonal comes from the centre taps of the ``c == i``
entries alone.
"""

from typing import Literal

import torch
from torch import Tensor

__all__ = ["MaskKind", "block_mask", "diagonal_centre_mask", "triangular_mask"]

MaskKind = Literal["lower", "upper"]
MASK_KINDS: tuple[str, ...] = ("lower", "upper")


def _check(kernel_size: int, channels: int, kind: str) -> None:
    if kind not in MASK_KINDS:
        raise ValueError(f"mask kind must be one of {MASK_KINDS}, got {kind!r}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")


def triangular_mask(kernel_size: int, channels: int, kind: MaskKind) -> Tensor:
    """The mask of one ``C x C`` block of a masked convolution.

    Arguments:
        kernel_size: odd kernel size ``k``.
        channels: number of channels ``C``.
        kind: ``"lower"`` or ``"upper"``.

    Returns:
        A 0/1 float tensor of shape ``(C, C, k, k)``, indexed ``[out_channel, in_channel, row, col]``.
    """
    _check(kernel_size, channels, kind)
    k, centre = kernel_size, kernel_size // 2
    raster = torch.arange(k * k).view(k, k)  # tap index in raster order
    centre_index = centre * k + centre
    out_ch = torch.arange(channels).view(-1, 1)
    in_ch = torch.arange(channels).view(1, -1)
    if kind == "lower":
        other_channels = in_ch < out_ch  # (C, C)
        same_channel_taps = raster <= centre_index  # (k, k)
    else:
        other_channels = in_ch > out_ch
        same_channel_taps = raster >= centre_index
    same_channel = (in_ch == out_ch)[..., None, None] & same_channel_taps  # (C, C, k, k)
    return (other_channels[..., None, None] | same_channel).to(torch.get_default_dtype())


def block_mask(
    kernel_size: int, channels: int, out_groups: int, in_groups: int, kind: MaskKind
) -> Tensor:
    """Tile the ``C x C`` triangular mask over ``out_groups x in_groups`` blocks.

    Hidden channel index = ``group * C + channel``, so block ``(i, j)`` of the result masks the
    convolution from input group ``j`` to output group ``i``.

    Returns:
        A 0/1 tensor of shape ``(out_groups * C, in_groups * C, k, k)``.
    """
    return triangular_mask(kernel_size, channels, kind).repeat(out_groups, in_groups, 1, 1)


def diagonal_centre_mask(
    kernel_size: int, channels: int, out_groups: int, in_groups: int
) -> Tensor:
    """Select the taps that form the Jacobian diagonal: channel ``c`` to channel ``c``, centre tap.

    Returns:
        A 0/1 tensor of shape ``(out_groups * C, in_groups * C, k, k)`` that is 1 exactly at
        ``[i * C + c, j * C + c, k // 2, k // 2]``.
    """
    _check(kernel_size, channels, "lower")
    centre = kernel_size // 2
    mask = torch.zeros(channels, channels, kernel_size, kernel_size)
    mask[:, :, centre, centre] = torch.eye(channels)
    return mask.repeat(out_groups, in_groups, 1, 1)
