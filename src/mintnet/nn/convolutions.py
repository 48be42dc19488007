r"""How a Mint layer computes its three convolutions and its slope mix: an implementation choice.

A Mint layer (:class:`~mintnet.nn.mint_layer.MintLayer`) evaluates

.. math::
    u^1 = W^1 * x + b^1, \quad u^2 = W^2 * h(u^1) + b^2, \quad o = W^3 * h(u^2) + b^3, \quad
    s_{c,p} = \sum_i h'(u^2_{i,c,p}) \sum_j M_{ij,c}\, h'(u^1_{j,c,p})

(the diagonal is ``t + s``). A :class:`Convolutions` computes these four steps and nothing else;
all give the same values and gradients, to rounding:

* :data:`LIBRARY`: ``F.conv2d`` for the three convolutions, on ``(B, K*C, H, W)`` tensors;
* :class:`FewChannels`: the ``C -> K*C`` and ``K*C -> C`` convolutions as matrix products
  (:mod:`mintnet.nn.thin_convolutions`), for ``C`` of 2-4;
* :class:`OneChannel`: for ``C = 1``, the hidden activations as pixel rows ``(B*H*W, K)``, the
  middle convolution over the kernel rows the mask keeps, and the slope mix as one product.

Which is faster depends on the shapes and the device; ``docs/performance.md`` has the
measurements behind the choice :meth:`MintLayer.convolutions` makes by default
(:func:`thin_by_default`).
"""

import torch
import torch.nn.functional as F
from torch import Tensor

import mintnet.nn.thin_convolutions as thin
from mintnet.nn.masks import MaskKind

__all__ = [
    "FEW_CHANNELS",
    "LIBRARY",
    "Convolutions",
    "FewChannels",
    "OneChannel",
    "mix_slopes",
    "thin_by_default",
    "thin_convolutions_for",
]

FEW_CHANNELS = 4
"""The most image channels for which :func:`thin_by_default` picks the thin convolutions."""


class Convolutions:
    """The library's way: ``F.conv2d`` with ``padding = k // 2`` for every convolution, and the
    slope mix on ``(B, K, C, H, W)`` views of the slopes (:func:`mix_slopes`).

    ``shape`` is the layer input's ``(B, C, H, W)``; hidden tensors are whatever :meth:`first`
    and :meth:`middle` return (``(B, K*C, H, W)`` here), passed through the activation.
    """

    def first(self, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        """:math:`u^1 = W^1 * x + b^1` (``C -> K*C`` channels)."""
        return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2)

    def middle(self, a1: Tensor, weight: Tensor, bias: Tensor, shape: torch.Size) -> Tensor:
        """:math:`u^2 = W^2 * h(u^1) + b^2` (``K*C -> K*C``)."""
        return F.conv2d(a1, weight, bias, padding=weight.shape[-1] // 2)

    def last(self, a2: Tensor, weight: Tensor, bias: Tensor, shape: torch.Size) -> Tensor:
        """:math:`o = W^3 * h(u^2) + b^3` (``K*C -> C``), ``(B, C, H, W)``."""
        return F.conv2d(a2, weight, bias, padding=weight.shape[-1] // 2)

    def slope_sum(self, mix: Tensor, g1: Tensor, g2: Tensor, shape: torch.Size) -> Tensor:
        """:math:`s_{c,p}`, ``(B, C, H, W)``, from ``mix`` ``(K, K, C)`` and the slopes."""
        b, c, h, w = shape
        g1, g2 = g1.view(b, -1, c, h, w), g2.view(b, -1, c, h, w)
        return (g2 * mix_slopes(mix, g1)).sum(dim=1)


LIBRARY = Convolutions()
"""``F.conv2d`` everywhere: every layer off the CPU, and the layers that gain nothing on it."""


class FewChannels(Convolutions):
    """:class:`Convolutions` with the two thin convolutions as batched matrix products
    (:func:`~mintnet.nn.thin_convolutions.conv_from_few_channels`,
    :func:`~mintnet.nn.thin_convolutions.conv_to_few_channels`)."""

    def first(self, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return thin.conv_from_few_channels(x, weight, bias)

    def last(self, a2: Tensor, weight: Tensor, bias: Tensor, shape: torch.Size) -> Tensor:
        return thin.conv_to_few_channels(a2, weight, bias)


class OneChannel(Convolutions):
    """:class:`Convolutions` for one image channel on pixel rows: :math:`u^1` and the slopes
    :math:`h'(u^1)` are ``(B*H*W, K)`` matrices, :math:`u^2` a channels-last ``(B, K, H, W)`` from
    the kernel rows a ``kind`` mask keeps, and the slope mix one ``(N, K) x (K, K)`` product.

    Arguments:
        kind: the layer's mask kind (which kernel rows :math:`W^2` keeps).
    """

    def __init__(self, kind: MaskKind) -> None:
        self.kind = kind

    def first(self, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return thin.conv_from_channel(x, weight, bias)  # (N, K)

    def middle(self, a1: Tensor, weight: Tensor, bias: Tensor, shape: torch.Size) -> Tensor:
        b, _, h, w = shape
        a1 = a1.view(b, h, w, -1).permute(0, 3, 1, 2)  # (B, K, H, W), channels-last
        return thin.conv_kept_rows(a1, weight, bias, self.kind)

    def last(self, a2: Tensor, weight: Tensor, bias: Tensor, shape: torch.Size) -> Tensor:
        return thin.conv_to_channel(thin.pixel_rows(a2), weight, bias, (shape[2], shape[3]))

    def slope_sum(self, mix: Tensor, g1: Tensor, g2: Tensor, shape: torch.Size) -> Tensor:
        b, _, h, w = shape
        inner = g1 @ mix[:, :, 0].t()  # (N, K)
        return (thin.pixel_rows(g2) * inner).sum(dim=1).view(b, 1, h, w)


def thin_by_default(channels: int, hidden_groups: int, kernel_size: int) -> bool:
    """Whether a layer takes the thin convolutions on the CPU when its constructor is not told:
    ``C <= FEW_CHANNELS`` and ``K >= 2 * kernel_size**2``, the shapes where they were measured
    faster than ``F.conv2d`` (``docs/performance.md``)."""
    return channels <= FEW_CHANNELS and hidden_groups >= 2 * kernel_size**2


def thin_convolutions_for(channels: int, kind: MaskKind) -> Convolutions:
    """The thin convolutions of a layer with ``channels`` image channels and a ``kind`` mask."""
    return OneChannel(kind) if channels == 1 else FewChannels()


def mix_slopes(mix: Tensor, g1: Tensor) -> Tensor:
    """``inner[b, i, c] = sum_j mix[i, j, c] * g1[b, j, c]``: mix ``(K, K, C)``, g1 ``(B, K, C, H, W)``.

    Computed one of three ways, all equal to rounding (the measurements: ``docs/performance.md``):
    for one channel a batched matrix product over ``B`` that reads ``g1`` where it lies; for
    ``K <= 2`` in eager mode on the CPU a broadcast product summed over ``j``, since the CPU runs
    ``einsum``'s ``C`` small products one by one; otherwise ``einsum``.
    """
    b, k, c, h, w = g1.shape
    if c == 1:
        flat = g1.view(b, k, c, h * w).transpose(1, 2)  # (B, 1, K, HW), a view
        return torch.matmul(mix.permute(2, 0, 1), flat).transpose(1, 2).view_as(g1)
    if k <= 2 and g1.device.type == "cpu" and not torch.compiler.is_compiling():
        products = mix[None, :, :, :, None] * g1.view(b, 1, k, c, h * w)  # (B, K, K, C, HW)
        return products.sum(dim=2).view_as(g1)
    return torch.einsum("ijc,bjchw->bichw", mix, g1)
