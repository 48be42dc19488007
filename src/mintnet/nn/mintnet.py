"""MintNet: paired lower/upper Mint layers across scales, with squeezes between them."""

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from mintnet.nn.inverse import InverseSettings, InversionReport
from mintnet.nn.invertible import FlowSequential
from mintnet.nn.masks import MaskKind
from mintnet.nn.mint_layer import MintLayer
from mintnet.nn.stack import hidden_groups_per_scale, mint_stack, squeeze_positions

__all__ = ["MintNet", "hidden_groups_per_scale", "squeeze_positions", "standard_normal_log_prob"]


class MintNet(FlowSequential):
    r"""The MintNet flow: ``n_layers`` pairs of Mint layers (lower, then upper) with ``n_squeezes``
    squeezes evenly spaced between them, and a standard normal prior on the output.

    .. math:: \log p(x) = \log \mathcal{N}(f(x); 0, I) + \log |\det J_f(x)|

    There is no factor-out: every dimension passes through every layer.

    References:
        Song, Meng & Ermon, "MintNet", NeurIPS 2019, arXiv:1907.07945 (the MNIST density model is
        ``MintNet((1, 28, 28), n_layers=20, n_squeezes=2, hidden_groups=45)``).

    Arguments:
        in_shape: ``(C, H, W)`` of the input; ``H`` and ``W`` must halve ``n_squeezes`` times.
        n_layers: number of lower/upper pairs.
        n_squeezes: number of 2x2 squeezes.
        hidden_groups: ``K`` at the first scale (divided by 4 at each squeeze, at least 1), or
            one K per scale (:func:`~mintnet.nn.stack.hidden_groups_per_scale`).
        kernel_size: odd kernel size of every masked convolution.
        activation: ``"elu"`` or ``"leaky_relu"``.
        init_gain: see :class:`MintLayer`.
        inversion: default fixed-point settings of every layer.
        checkpoint_layers: recompute each Mint layer's activations in the backward pass
            (``torch.utils.checkpoint``) instead of storing them: activation memory drops from one
            set per layer to about one, for roughly one extra forward pass of compute. Only
            applies when gradients are being recorded.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        n_layers: int = 20,
        n_squeezes: int = 2,
        hidden_groups: int | Sequence[int] = 45,
        kernel_size: int = 3,
        activation: str = "elu",
        init_gain: float | None = 0.005,
        inversion: InverseSettings | None = None,
        checkpoint_layers: bool = False,
    ) -> None:
        in_shape = tuple(int(s) for s in in_shape)
        if len(in_shape) != 3 or min(in_shape) < 1:
            raise ValueError(f"in_shape must be (C, H, W) with positive sizes, got {in_shape}")
        inversion = inversion or InverseSettings()

        def mint_layer(c: int, h: int, w: int, k: int, kind: MaskKind) -> list[torch.nn.Module]:
            return [MintLayer(c, h, w, k, kind, kernel_size, activation, init_gain, inversion)]

        layers, latent_shape = mint_stack(
            in_shape, n_layers, n_squeezes, hidden_groups, mint_layer
        )
        super().__init__(*layers)
        self.in_shape = in_shape
        self.latent_shape = latent_shape
        self.checkpoint_layers = bool(checkpoint_layers)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x`` of shape ``(B, *in_shape)`` to ``(z, logdet)``, ``z`` of shape ``(B, *latent_shape)``."""
        _check_input(x, self.in_shape, "MintNet input", self.param_dtype)
        return super().forward(x)

    def run_layer(self, layer: torch.nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.checkpoint_layers and torch.is_grad_enabled() and isinstance(layer, MintLayer):
            return checkpoint(layer, x, use_reentrant=False)  # recomputed in backward
        return layer(x)

    def inverse_with_report(
        self, z: Tensor, settings: InverseSettings | None = None
    ) -> tuple[Tensor, list[InversionReport]]:
        """``z`` of shape ``(B, *latent_shape)`` back to ``x``, with one report per Mint layer."""
        _check_input(z, self.latent_shape, "MintNet latent", self.param_dtype)
        return super().inverse_with_report(z, settings)

    @property
    def param_dtype(self) -> torch.dtype:
        """The dtype of the parameters (inputs must match it)."""
        return next(self.parameters()).dtype

    def log_prob(self, x: Tensor) -> Tensor:
        """``log p(x)`` of shape ``(B,)`` under the standard normal prior."""
        z, logdet = self(x)
        return standard_normal_log_prob(z) + logdet


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """``sum log N(z; 0, I)`` over all but the batch dimension, shape ``(B,)``."""
    return -0.5 * (z.flatten(1).pow(2).sum(dim=1) + z[0].numel() * math.log(2 * math.pi))


def _check_input(x: Tensor, shape: tuple[int, ...], what: str, dtype: torch.dtype) -> None:
    if x.dim() != 4 or tuple(x.shape[1:]) != shape:
        raise ValueError(f"{what} must be (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
    if x.dtype != dtype:
        raise ValueError(f"{what} must have the parameters' dtype {dtype}, got {x.dtype}")
