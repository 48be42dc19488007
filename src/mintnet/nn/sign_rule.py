"""The middle weight of a Mint layer: masked, with its diagonal centre taps signed by the sign rule."""

from typing import Any

import torch
from torch import Tensor

__all__ = ["signed_middle_weight"]


class _SignedMiddleWeight(torch.autograd.Function):
    r"""``(W2, d2)`` from the raw ``weight2``, as one autograd node.

    ``W2 = weight2 * mask2`` except at the diagonal centre taps ``[i*C+c, j*C+c, m, m]``, which
    take ``d2_{ij,c} = |raw_{ij,c}| * s_{ij,c}`` with ``s = sign(w3_i) * sign(w1_j)`` (treated as
    a constant: its gradient is 0 almost everywhere). Since ``|r| = r * sign(r)``, every entry of
    ``W2`` is ``weight2`` times a constant ``0`` / ``+-1``, and so is its gradient:

    .. math::
        \partial L / \partial \mathrm{weight2} = \mathrm{mask2} \odot G_{W2}
        \quad\text{off the diagonal taps,}\qquad
        (G_{W2}[\mathrm{tap}] + G_{d2})\, \mathrm{sign}(r)\, s \quad\text{on them.}

    Written by hand, forward and backward each make one pass over the ``(KC, KC, k, k)`` weight.
    Left to autograd, the same maths made about three more (a copy of the mask, a zero-filled
    gradient for the tap selection, and the sum of the two gradients), which showed at the
    small-image, many-channel stages (``docs/performance.md``).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        weight2: Tensor,
        mask2: Tensor,
        rows: Tensor,
        cols: Tensor,
        centre: int,
        sign: Tensor,
    ) -> tuple[Tensor, Tensor]:
        raw = weight2[rows, cols, centre, centre]  # (K*K*C,)
        flips = raw.sign() * sign
        d2 = raw * flips  # = |raw| * sign
        w2 = weight2 * mask2
        w2[rows, cols, centre, centre] = d2
        ctx.save_for_backward(mask2, rows, cols, flips)
        ctx.centre = centre
        return w2, d2

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, grad_w2: Tensor, grad_d2: Tensor
    ) -> tuple[Tensor, None, None, None, None, None]:
        mask2, rows, cols, flips = ctx.saved_tensors
        m = ctx.centre
        grad = grad_w2 * mask2
        grad[rows, cols, m, m] = (grad_w2[rows, cols, m, m] + grad_d2) * flips
        return grad, None, None, None, None, None


def signed_middle_weight(
    weight2: Tensor, mask2: Tensor, rows: Tensor, cols: Tensor, centre: int, sign: Tensor
) -> tuple[Tensor, Tensor]:
    """Return ``(W2, d2)``: the masked middle weight ``(KC, KC, k, k)`` and its diagonal centre taps
    ``(K*K*C,)`` in ``(i, j, c)`` order.

    Arguments:
        weight2: the raw parameter ``(KC, KC, k, k)``.
        mask2: the block mask without the diagonal centre taps.
        rows, cols: where the diagonal centre taps are, ``[rows[n], cols[n], centre, centre]``.
        centre: ``k // 2``.
        sign: ``sign(w3_i) * sign(w1_j)`` per tap, ``(K*K*C,)``, without gradient.
    """
    return _SignedMiddleWeight.apply(weight2, mask2, rows, cols, centre, sign.detach())
