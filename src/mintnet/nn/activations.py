"""Monotone element-wise activations that also return their derivative (for the Jacobian diagonal)."""

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ACTIVATIONS", "LEAKY_RELU_SLOPE", "MonotoneActivation"]

LEAKY_RELU_SLOPE = 0.01
"""Negative slope of the leaky ReLU, as in the paper's classifier."""

ACTIVATIONS: tuple[str, ...] = ("elu", "leaky_relu")


class _EluWithSlope(torch.autograd.Function):
    r"""``(h, g) = (elu(u), elu'(u))`` with a hand-written backward.

    Forward: ``g = exp(min(u, 0))`` and ``h = (g - 1) + max(u, 0)``, which is ``u`` for ``u > 0``
    (there ``g - 1 = 0`` exactly) and ``e^u - 1`` otherwise. Its absolute error is that of
    ``torch.expm1`` (half an ulp of 1, ``6e-8`` in float32) and ``g`` is exact to an ulp; torch's
    CPU ``expm1`` (and so ``F.elu``) has no vectorised kernel while ``exp`` has (the measurement is
    in docs/performance.md, "ELU from exp"). Since :math:`dh/du = g` and
    :math:`dg/du = g\,[u < 0]` (and :math:`u < 0 \iff h < 0`),

    .. math:: \frac{\partial L}{\partial u} = g \odot \big(G_h + [h < 0] \odot G_g\big),

    three passes over the tensor (``hardtanh_backward`` makes the masked copy in one). Autograd's
    version of the same maths made four and also kept ``u`` for backward.
    """

    @staticmethod
    def forward(ctx: Any, u: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        g = u.clamp_max(0.0).exp()
        # In place saves an activation-sized allocation in eager mode. Traced by torch.compile,
        # torch 2.11 got an in-place add wrong (wrong gradients upstream; docs/performance.md,
        # section 5), so a compiled graph adds out of place (the compiler fuses it either way).
        if torch.compiler.is_compiling():
            h = (g - 1.0) + u.clamp_min(0.0)
        else:
            h = (g - 1.0).add_(u.clamp_min(0.0))
        ctx.save_for_backward(h, g)
        return h, g

    @staticmethod
    def backward(ctx: Any, grad_h: Tensor, grad_g: Tensor) -> Tensor:  # type: ignore[override]
        h, g = ctx.saved_tensors
        # [h < 0] * grad_g: h lies in [-1, inf), so the open interval (-2, 0) is h < 0
        masked = torch.ops.aten.hardtanh_backward(grad_g, h, -2.0, 0.0)
        return masked.add_(grad_h).mul_(g)


class MonotoneActivation(torch.nn.Module):
    r"""An activation :math:`h` with :math:`h' > 0`, returning :math:`(h(u), h'(u))` in one call.

    * ``"elu"``: :math:`h(u) = u` for :math:`u > 0`, else :math:`e^u - 1`; :math:`h'(u) = e^{\min(u, 0)}`.
    * ``"leaky_relu"``: :math:`h(u) = u` for :math:`u > 0`, else :math:`a u` with
      :math:`a = 0.01`; :math:`h'(u) \in \{1, a\}`.

    Both are strictly increasing, so a Mint layer's Jacobian diagonal stays positive (paper, Sec. 3).

    Arguments:
        name: ``"elu"`` (the density model's) or ``"leaky_relu"`` (the classifier's).
    """

    def __init__(self, name: str = "elu") -> None:
        super().__init__()
        if name not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
        self.name = name

    def forward(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(h(u), h'(u))``, both shaped like ``u``, from fused kernels.

        ELU and its slope are one autograd node (:class:`_EluWithSlope`) that saves only its two
        outputs, which the next convolution and the slope mix keep anyway.
        """
        if self.name == "elu":
            return _EluWithSlope.apply(u)
        one, small = u.new_ones(()), u.new_full((), LEAKY_RELU_SLOPE)  # exact in u's dtype
        slope = torch.where(u > 0, one, small)
        return F.leaky_relu(u, LEAKY_RELU_SLOPE), slope

    def extra_repr(self) -> str:
        return repr(self.name)
