"""Pre-processing as flow layers: uniform dequantisation, then the logit transform."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from mintnet.nn.inverse import InverseSettings, InversionReport
from mintnet.nn.invertible import InvertibleModule

__all__ = ["Dequantize", "Logit"]


class Dequantize(InvertibleModule):
    r"""Uniform dequantisation of images with ``n_bins`` grey levels.

    Forward maps ``x = k / (n_bins - 1)``, ``k in {0..n_bins-1}``, to ``y = (k + u) / n_bins`` with
    ``u ~ U[0, 1)`` per element (drawn here, or given as ``noise`` of the shape of ``x``, see
    :func:`mintnet.nn.noise.dequantisation_noise`), so ``y in [0, 1)``. ``logdet = 0``: the flow
    models the density of ``y`` on ``[0, 1]^D``; the step from that density to the probability of
    the integer image, the ``log2(n_bins)`` bits per dimension, is added by
    :func:`mintnet.nn.bits_per_dim`.
    Inverse quantises: ``x = floor(y * n_bins) / (n_bins - 1)``, which undoes forward exactly.

    Arguments:
        n_bins: grey levels (256 for 8-bit images, 17 for scikit-learn's digits).
    """

    def __init__(self, n_bins: int = 256) -> None:
        super().__init__()
        if n_bins < 2:
            raise ValueError(f"n_bins must be >= 2 grey levels, got {n_bins}")
        self.n_bins = n_bins

    def forward(self, x: Tensor, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if not x.is_floating_point():
            raise ValueError(f"Dequantize expects a float image in [0, 1], got dtype {x.dtype}")
        self._check_range(x)
        if noise is not None and noise.shape != x.shape:
            raise ValueError(
                f"noise must have the images' shape {tuple(x.shape)}, got {tuple(noise.shape)}"
            )
        levels = torch.round(x * (self.n_bins - 1))
        y = (levels + (torch.rand_like(x) if noise is None else noise)) / self.n_bins
        return y, x.new_zeros(x.shape[0])

    @staticmethod
    def _check_range(x: Tensor) -> None:
        """Refuse pixels outside ``[0, 1]``, NaN included, without a host sync where one would
        cost something.

        In eager mode on CPU reading the range is free, so the error names it. On a GPU, or inside
        ``torch.compile`` (where reading a value would break the graph), the check is an
        asynchronous device assertion: no sync in the training step, and a compiled forward stays
        one graph. ``x >= 0`` and ``x <= 1`` are both false for NaN, so the assertion refuses NaN.
        """
        if x.device.type == "cpu" and not torch.compiler.is_compiling():
            n_nan = int(torch.isnan(x).sum())
            if n_nan:
                raise ValueError(
                    f"Dequantize expects values in [0, 1], got NaN in {n_nan} of {x.numel()} "
                    "pixels"
                )
            lo, hi = float(x.min()), float(x.max())
            if lo < 0.0 or hi > 1.0:
                raise ValueError(
                    f"Dequantize expects values in [0, 1], got the range [{lo}, {hi}]"
                )
        else:
            torch._assert_async(((x >= 0) & (x <= 1)).all(), "Dequantize expects values in [0, 1]")

    def inverse_with_report(
        self, y: Tensor, settings: InverseSettings | None = None
    ) -> tuple[Tensor, list[InversionReport]]:
        levels = torch.floor(y * self.n_bins).clamp(0, self.n_bins - 1)
        return levels / (self.n_bins - 1), []

    def extra_repr(self) -> str:
        return f"n_bins={self.n_bins}"


class Logit(InvertibleModule):
    r"""The logit transform of RealNVP, with the paper's squeeze ``lam`` away from 0 and 1.

    .. math::
        s = \lambda + (1 - 2\lambda)\, y, \qquad v = \log s - \log(1 - s)

    .. math::
        \log |\det \partial v / \partial y| = \sum_d \big[\mathrm{softplus}(-v_d)
        + \mathrm{softplus}(v_d)\big] + D \log(1 - 2\lambda)

    Arguments:
        lam: ``lambda`` in ``(0, 0.5)``; the paper uses 1e-6 for MNIST and 0.05 for CIFAR-10 and
            ImageNet 32x32.
    """

    def __init__(self, lam: float = 0.05) -> None:
        super().__init__()
        if not 0.0 < lam < 0.5:
            raise ValueError(f"Logit lam must be in (0, 0.5), got {lam}")
        self.lam = lam

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor]:
        s = self.lam + (1.0 - 2.0 * self.lam) * y
        v = torch.log(s) - torch.log1p(-s)
        per_dim = F.softplus(-v) + F.softplus(v)
        logdet = per_dim.flatten(1).sum(dim=1) + y[0].numel() * math.log1p(-2.0 * self.lam)
        return v, logdet

    def inverse_with_report(
        self, v: Tensor, settings: InverseSettings | None = None
    ) -> tuple[Tensor, list[InversionReport]]:
        return (torch.sigmoid(v) - self.lam) / (1.0 - 2.0 * self.lam), []

    def extra_repr(self) -> str:
        return f"lam={self.lam}"
