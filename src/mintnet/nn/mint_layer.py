"""The masked invertible layer (Mint layer) of MintNet."""

import copy
import math
from functools import partial
from typing import NamedTuple

import torch
from torch import Tensor

from mintnet.nn.activations import MonotoneActivation
from mintnet.nn.convolutions import LIBRARY, Convolutions, thin_by_default, thin_convolutions_for
from mintnet.nn.inverse import InverseSettings, InversionReport, ValueAndDiagonal, invert
from mintnet.nn.invertible import InvertibleModule
from mintnet.nn.masks import MaskKind, block_mask, diagonal_centre_mask
from mintnet.nn.sign_rule import signed_middle_weight

__all__ = ["T_MIN", "MaskedWeights", "MintLayer"]

T_MIN = 1e-12
"""Floor of the skip scale ``t = max(|t_raw|, T_MIN)``, which keeps the Jacobian diagonal > 0."""


class MaskedWeights(NamedTuple):
    """The effective weights of one Mint layer and the centre taps that form its Jacobian diagonal
    (``K`` hidden groups of ``C`` channels; hidden channel index = ``group * C + channel``)."""

    w1: Tensor  # (K*C, C, k, k)
    w2: Tensor  # (K*C, K*C, k, k)
    w3: Tensor  # (C, K*C, k, k)
    d1: Tensor  # (K, C): w1[j*C + c, c, centre]
    d2: Tensor  # (K, K, C): w2[i*C + c, j*C + c, centre]
    d3: Tensor  # (K, C): w3[c, i*C + c, centre]
    t: Tensor  # (C, H, W), > 0


class MintLayer(InvertibleModule):
    r"""A Mint layer with a lower- or upper-triangular Jacobian.

    .. math::
        m(x) = t \odot x + \sum_i W^3_i\, h\Big(\sum_j W^2_{ij}\, h(W^1_j x + b^1_j) + b^2_{ij}\Big)
        + b^3, \qquad i, j = 1..K

    Every ``C x C`` block of ``W1, W2, W3`` carries the same triangular mask (``mintnet.nn.masks``), so
    :math:`J_m` is triangular in channel-major order and its diagonal is

    .. math::
        J_{(c,p),(c,p)} = t_{c,p} + \sum_i w^3_{i,c}\, h'(u^2_{i,c,p}) \sum_j w^2_{ij,c}\,
        h'(u^1_{j,c,p})\, w^1_{j,c}

    where :math:`w` are the diagonal centre taps. **Positivity, by construction:** ``t`` is used as
    ``max(|t_raw|, T_MIN)``; the diagonal centre tap of each ``W2`` block is
    ``sign(w1_j) * sign(w3_i) * |w2_ij raw|`` (the authors' rule), so every product
    :math:`w^3_i w^2_{ij} w^1_j \ge 0`; and :math:`h' > 0`. Hence the diagonal is at least
    ``t > 0`` whatever the raw parameters are.

    References:
        Song, Meng & Ermon, "MintNet: Building Invertible Neural Networks with Masked
        Convolutions", NeurIPS 2019, arXiv:1907.07945.

    Arguments:
        channels: ``C``.
        height: ``H`` (``t`` has one entry per element of ``(C, H, W)``).
        width: ``W``.
        hidden_groups: ``K``, the number of ``C``-channel groups in each hidden layer.
        kind: ``"lower"`` or ``"upper"``.
        kernel_size: odd kernel size of all three convolutions.
        activation: ``"elu"`` or ``"leaky_relu"``.
        init_gain: gain of the Xavier-normal weight init (the paper's density models use 0.005, so
            the layer starts near the identity); ``None`` keeps PyTorch's convolution default.
        inversion: default settings of :meth:`inverse`.
        thin_convolutions: on the CPU, compute the thin convolutions as matrix products
            (:mod:`mintnet.nn.convolutions`) instead of with ``F.conv2d``: the same layer, a
            different speed. ``None`` decides by the shape (:func:`~mintnet.nn.convolutions.thin_by_default`).
    """

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        hidden_groups: int,
        kind: MaskKind,
        kernel_size: int = 3,
        activation: str = "elu",
        init_gain: float | None = 0.005,
        inversion: InverseSettings | None = None,
        thin_convolutions: bool | None = None,
    ) -> None:
        super().__init__()
        for key, value in (("channels", channels), ("height", height), ("width", width)):
            if value < 1:
                raise ValueError(f"MintLayer {key} must be >= 1, got {value}")
        if hidden_groups < 1:
            raise ValueError(f"MintLayer hidden_groups (K) must be >= 1, got {hidden_groups}")
        c, k, kc = channels, kernel_size, hidden_groups * channels
        self.channels, self.hidden_groups, self.kind = c, hidden_groups, kind
        self.name = kind  # a container prefixes its position ("6.lower") for inversion reports
        self.shape = (c, height, width)
        self.padding = kernel_size // 2
        self.activation = MonotoneActivation(activation)
        self.inversion = inversion or InverseSettings()
        if thin_convolutions is None:
            thin_convolutions = thin_by_default(c, hidden_groups, k)
        self.thin_convolutions = bool(thin_convolutions)
        self._thin = thin_convolutions_for(c, kind)

        self.weight1 = torch.nn.Parameter(torch.empty(kc, c, k, k))
        self.bias1 = torch.nn.Parameter(torch.empty(kc))
        self.weight2 = torch.nn.Parameter(torch.empty(kc, kc, k, k))
        self.bias2 = torch.nn.Parameter(torch.empty(kc))
        self.weight3 = torch.nn.Parameter(torch.empty(c, kc, k, k))
        self.bias3 = torch.nn.Parameter(torch.empty(c))
        self.t = torch.nn.Parameter(torch.ones(c, height, width))

        # Masks are fixed: buffers, built once. mask2 leaves out the diagonal centre taps, which the
        # sign rule fills in.
        k_groups = hidden_groups
        self.register_buffer("mask1", block_mask(k, c, k_groups, 1, kind))
        self.register_buffer("mask3", block_mask(k, c, 1, k_groups, kind))
        diag2 = diagonal_centre_mask(k, c, k_groups, k_groups)
        self.register_buffer("mask2", block_mask(k, c, k_groups, k_groups, kind) - diag2)
        # Where the sign rule writes W2's diagonal centre taps, [i*C + c, j*C + c, m, m] in
        # (i, j, c) order; derived from the shapes, so not saved in the state dict.
        i, j, ch = torch.meshgrid(
            *(torch.arange(n) for n in (k_groups, k_groups, c)), indexing="ij"
        )
        rows, cols = (i * c + ch).flatten(), (j * c + ch).flatten()
        self.register_buffer("_diag2_rows", rows, persistent=False)
        self.register_buffer("_diag2_cols", cols, persistent=False)
        self.reset_parameters(init_gain)

    def reset_parameters(self, init_gain: float | None = 0.005) -> None:
        """Weights ~ Xavier-normal(``init_gain``) (or PyTorch's default), biases ~ U(+-1/sqrt(fan_in)),
        ``t = 1``."""
        for weight, bias in (
            (self.weight1, self.bias1),
            (self.weight2, self.bias2),
            (self.weight3, self.bias3),
        ):
            if init_gain is None:
                torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            else:
                torch.nn.init.xavier_normal_(weight, gain=init_gain)
            bound = 1.0 / math.sqrt(weight[0].numel())
            torch.nn.init.uniform_(bias, -bound, bound)
        torch.nn.init.ones_(self.t)

    def masked_weights(self) -> MaskedWeights:
        """Apply the masks and the sign rule; the one place the effective weights are made.

        ``W1`` and ``W3`` are the raw weights times their masks; ``W2`` and its diagonal centre taps
        come from :func:`~mintnet.nn.sign_rule.signed_middle_weight`, one autograd node that makes
        one pass over ``W2`` each way.
        """
        k, c, m = self.hidden_groups, self.channels, self.padding
        w1 = self.weight1 * self.mask1
        w3 = self.weight3 * self.mask3
        d1 = w1[:, :, m, m].view(k, c, c).diagonal(dim1=1, dim2=2)  # (K, C)
        d3 = w3[:, :, m, m].view(c, k, c).diagonal(dim1=0, dim2=2)  # (K, C)
        sign = d3.sign()[:, None, :] * d1.sign()[None, :, :]  # (K, K, C): [i, j, c]
        w2, d2 = signed_middle_weight(
            self.weight2, self.mask2, self._diag2_rows, self._diag2_cols, m, sign.flatten()
        )
        t = self.t.abs().clamp_min(T_MIN)
        return MaskedWeights(w1, w2, w3, d1, d2.view(k, k, c), d3, t)

    def value_and_diagonal(self, x: Tensor, w: MaskedWeights) -> tuple[Tensor, Tensor]:
        r"""Return ``(m(x), diag J_m(x))``, both ``(B, C, H, W)``: the layer's maths, which the
        forward pass, its log-determinant and the inverse all evaluate.

        The diagonal is a bilinear form per channel ``c`` and pixel ``p``,
        :math:`t_{c,p} + \sum_{ij} h'(u^2_{i,c,p})\, M_{ij,c}\, h'(u^1_{j,c,p})` with
        :math:`M_{ij,c} = w^3_{i,c} w^2_{ij,c} w^1_{j,c}` folded once per call, so the per-pixel
        work is one ``K x K`` mix and one product. Under autocast it is computed in float32.
        """
        conv = self.convolutions(x.device)
        a1, g1 = self.activation(conv.first(x, w.w1, self.bias1))
        a2, g2 = self.activation(conv.middle(a1, w.w2, self.bias2, x.shape))
        y = torch.addcmul(conv.last(a2, w.w3, self.bias3, x.shape), w.t, x)
        with torch.autocast(x.device.type, enabled=False):
            dtype = torch.promote_types(g1.dtype, torch.float32)
            mix = w.d3[:, None, :] * w.d2 * w.d1[None, :, :]  # (K, K, C): [i, j, c]
            slopes = conv.slope_sum(mix.to(dtype), g1.to(dtype), g2.to(dtype), x.shape)
            diag = w.t + slopes  # (B, C, H, W)
        return y, diag

    def convolutions(self, device: torch.device) -> Convolutions:
        """How inputs on ``device`` are convolved (:mod:`mintnet.nn.convolutions`): the thin
        matrix products where :attr:`thin_convolutions` is set and the input is on the CPU,
        ``F.conv2d`` otherwise."""
        return self._thin if self.uses_thin_convolutions(device) else LIBRARY

    def uses_thin_convolutions(self, device: torch.device) -> bool:
        """Whether inputs on ``device`` take the thin convolutions: only on the CPU (on a GPU the
        library's were as fast or faster, ``docs/performance.md``) and where
        :attr:`thin_convolutions` is set."""
        return self.thin_convolutions and device.type == "cpu"

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self._check_input(x)
        y, diag = self.value_and_diagonal(x, self.masked_weights())
        return y, torch.log(diag).flatten(1).sum(dim=1)  # diag is at least float32

    @torch.no_grad()
    def inverse_with_report(
        self, y: Tensor, settings: InverseSettings | None = None
    ) -> tuple[Tensor, list[InversionReport]]:
        self._check_input(y)
        w, s = self.masked_weights(), settings or self.inversion
        x, report = invert(
            partial(self.value_and_diagonal, w=w), y, y / w.t, s, self.name, self._in_float64
        )
        return x, [report]

    def _in_float64(self) -> ValueAndDiagonal:
        """This layer's map in float64, from a float64 copy (the inverse's refinement)."""
        layer = copy.deepcopy(self).double()
        return partial(layer.value_and_diagonal, w=layer.masked_weights())

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.shape:
            raise ValueError(
                f"MintLayer expects (B, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}"
            )
        if x.dtype != self.t.dtype:
            raise ValueError(
                f"MintLayer parameters are {self.t.dtype}, got an input of dtype {x.dtype}"
            )

    def extra_repr(self) -> str:
        c, h, w = self.shape
        return f"C={c}, H={h}, W={w}, K={self.hidden_groups}, kind={self.kind!r}"
