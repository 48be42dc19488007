"""Convolutions to and from few channels, written as matrix products.

A Mint layer maps ``C`` image channels to ``K*C`` hidden ones and back. Where ``C`` is small the
library's convolutions cost far more than their multiply-adds (``docs/performance.md``). Written
as matrix products over the ``k*k`` taps (``F.unfold`` / ``F.fold``) they cost what their
multiply-adds and memory traffic cost. :mod:`mintnet.nn.convolutions` puts them together:

* ``C = 1``: on *pixel rows*, an ``(N, K)`` matrix with ``N = B * H * W`` (channels-last memory),
  where the slope mix is one matrix product too; the middle convolution skips the kernel rows the
  single-channel mask leaves empty (:func:`conv_kept_rows`).
* ``C > 1``: :func:`conv_from_few_channels` and :func:`conv_to_few_channels`, batched matrix
  products on the usual ``(B, C, H, W)`` memory.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from mintnet.nn.masks import MaskKind

__all__ = [
    "conv_from_channel",
    "conv_from_few_channels",
    "conv_kept_rows",
    "conv_to_channel",
    "conv_to_few_channels",
    "pixel_rows",
]


def conv_from_channel(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    r"""``conv2d(x, weight, bias, padding=k // 2)`` for one input channel, as pixel rows.

    :math:`u_{n,j} = \sum_t w_{j,t}\, x_{n + o_t} + b_j`: the ``k*k`` shifted copies of ``x``
    (``F.unfold``, zero-padded) times ``weight^T`` in one ``addmm``.

    Arguments:
        x: ``(B, 1, H, W)``.
        weight: ``(K, 1, k, k)``; bias: ``(K,)``.

    Returns:
        ``(B*H*W, K)``, row ``n = (b*H + h)*W + w``.
    """
    k = weight.shape[-1]
    taps = F.unfold(x, k, padding=k // 2)  # (B, k*k, H*W)
    rows = taps.transpose(1, 2).reshape(-1, k * k)  # (N, k*k), a small copy
    return torch.addmm(bias, rows, weight.view(weight.shape[0], k * k).t())


def conv_kept_rows(a: Tensor, weight: Tensor, bias: Tensor, kind: MaskKind) -> Tensor:
    """``conv2d(a, weight, bias, padding=k // 2)`` for a weight whose mask is single-channel.

    A single-channel lower (upper) mask is zero below (above) the kernel's centre row, so only
    ``k // 2 + 1`` of the ``k`` rows are convolved: padding ``k // 2`` all round gives ``H + k//2``
    output rows, of which the first (last) ``H`` are the answer. At ``k = 3`` that is 2/3 of the
    multiply-adds.

    Arguments:
        a: ``(B, K, H, W)``, any memory format (channels-last is fastest on the CPU).
        weight: ``(K, K, k, k)``, masked; bias: ``(K,)``.
        kind: the mask's kind.

    Returns:
        ``(B, K, H, W)``, a view of the convolution's output.
    """
    m, h = weight.shape[-1] // 2, a.shape[2]
    kept = weight[:, :, : m + 1] if kind == "lower" else weight[:, :, m:]
    out = F.conv2d(a, kept, bias, padding=m)  # (B, K, H + m, W)
    return out[:, :, :h] if kind == "lower" else out[:, :, m:]


def conv_to_channel(rows: Tensor, weight: Tensor, bias: Tensor, size: tuple[int, int]) -> Tensor:
    r"""``conv2d(a, weight, bias, padding=k // 2)`` for one output channel, from pixel rows of ``a``.

    :math:`y_n = \sum_t z_{n + o_t, t} + b` with :math:`z = a\, w^T` (one matrix product, ``(N, k*k)``);
    ``F.fold`` makes the shifted sum. Taps are flipped because fold scatters where the convolution
    gathers.

    Arguments:
        rows: ``(B*H*W, K)``, pixel rows of the input.
        weight: ``(1, K, k, k)``; bias: ``(1,)``.
        size: ``(H, W)``.

    Returns:
        ``(B, 1, H, W)``.
    """
    k, (h, w) = weight.shape[-1], size
    taps = weight.flip(2, 3).reshape(weight.shape[1], k * k)  # (K, k*k)
    z = (rows @ taps).view(-1, h * w, k * k).transpose(1, 2)  # (B, k*k, H*W)
    return F.fold(z, size, k, padding=k // 2) + bias.view(1, 1, 1, 1)


def pixel_rows(a: Tensor) -> Tensor:
    """``(B, K, H, W) -> (B*H*W, K)``; a view when ``a`` is channels-last, as the outputs of
    :func:`conv_kept_rows` on channels-last inputs are."""
    return a.permute(0, 2, 3, 1).reshape(-1, a.shape[1])


def conv_from_few_channels(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    r"""``conv2d(x, weight, bias, padding=k // 2)`` as one batched product with the taps of ``x``.

    :math:`u_b = W\, \mathrm{unfold}(x_b) + b` with ``W`` the weight as a ``(K*C, C*k*k)`` matrix.

    Arguments:
        x: ``(B, C, H, W)``.
        weight: ``(K*C, C, k, k)``; bias: ``(K*C,)``.

    Returns:
        ``(B, K*C, H, W)``, contiguous.
    """
    b, _, h, w = x.shape
    k = weight.shape[-1]
    taps = F.unfold(x, k, padding=k // 2)  # (B, C*k*k, H*W)
    matrix = weight.reshape(weight.shape[0], -1)  # (KC, C*k*k)
    out = torch.baddbmm(bias[None, :, None], matrix.expand(b, *matrix.shape), taps)
    return out.view(b, -1, h, w)


def conv_to_few_channels(a: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    r"""``conv2d(a, weight, bias, padding=k // 2)`` as one batched product, then ``F.fold``.

    :math:`z_b = W' a_b`, ``(C*k*k, H*W)``, with ``W'`` the weight's flipped taps as a
    ``(C*k*k, K*C)`` matrix; ``F.fold`` adds each tap's row in at its shifted pixel.

    Arguments:
        a: ``(B, K*C, H, W)``, contiguous.
        weight: ``(C, K*C, k, k)``; bias: ``(C,)``.

    Returns:
        ``(B, C, H, W)``.
    """
    b, kc, h, w = a.shape
    c, k = weight.shape[0], weight.shape[-1]
    taps = weight.flip(2, 3).permute(0, 2, 3, 1).reshape(c * k * k, kc)  # [c*k*k + t, :]
    z = torch.bmm(taps.expand(b, *taps.shape), a.reshape(b, kc, h * w))  # (B, C*k*k, H*W)
    return F.fold(z, (h, w), k, padding=k // 2) + bias.view(1, c, 1, 1)
