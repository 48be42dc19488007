"""The paper's MintNet classifier: batch norm before every Mint layer, then a linear head."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mintnet.nn.masks import MaskKind
from mintnet.nn.mint_layer import MintLayer
from mintnet.nn.stack import mint_stack

__all__ = ["MintClassifier"]


class StackBatchNorm(torch.nn.BatchNorm2d):
    """``BatchNorm2d`` with the calling convention of the stack's other entries (Mint layers,
    squeezes), ``x -> (y, log-det)``; the classifier reads no log-det, so this one is ``None``.
    Its parameters and buffers are those of ``BatchNorm2d``, under the same names."""

    def forward(self, x: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return super().forward(x), None


class MintClassifier(torch.nn.Module):
    """MintNet as an image classifier (paper, Table 1).

    The input ``(B, C_in, H, W)`` is zero-padded to ``padded_channels`` channels, passes through
    ``n_layers`` lower/upper pairs of Mint layers (leaky ReLU), each preceded by ``BatchNorm2d``,
    with ``n_squeezes`` squeezes evenly spaced: the stack of :class:`~mintnet.nn.MintNet`
    (:func:`~mintnet.nn.stack.mint_stack`). Then ELU, global mean pooling and a linear layer give
    ``(B, num_classes)`` logits.
    The paper's model: 19 pairs, K = 1, 2 squeezes, 16 padded channels (26.8 M parameters).

    Arguments:
        in_channels: ``C_in`` of the images (1 or 3).
        num_classes: number of classes.
        image_size: ``(H, W)``.
        n_layers: number of lower/upper pairs.
        n_squeezes: number of 2x2 squeezes.
        hidden_groups: ``K`` at the first scale (divided by 4 at each squeeze, at least 1: the
            paper's K = 1 stays 1 at every scale), or one K per scale, as in
            :class:`~mintnet.nn.MintNet`.
        kernel_size: odd kernel size of the masked convolutions.
        padded_channels: channels after zero padding (>= ``in_channels``).
        activation: activation inside the Mint layers.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: Sequence[int],
        n_layers: int = 19,
        n_squeezes: int = 2,
        hidden_groups: int | Sequence[int] = 1,
        kernel_size: int = 3,
        padded_channels: int = 16,
        activation: str = "leaky_relu",
    ) -> None:
        super().__init__()
        h, w = (int(s) for s in image_size)
        if padded_channels < in_channels:
            raise ValueError(
                f"padded_channels={padded_channels} must be >= in_channels={in_channels}"
            )
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.in_channels, self.padded_channels = in_channels, padded_channels

        def normalised_mint_layer(
            c: int, h: int, w: int, k: int, kind: MaskKind
        ) -> list[torch.nn.Module]:
            mint = MintLayer(c, h, w, k, kind, kernel_size, activation, init_gain=None)
            return [StackBatchNorm(c), mint]

        shape = (padded_channels, h, w)
        layers, (c, _, _) = mint_stack(
            shape, n_layers, n_squeezes, hidden_groups, normalised_mint_layer
        )
        self.layers = torch.nn.ModuleList(layers)
        self.head = torch.nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Images ``(B, C_in, H, W)`` to logits ``(B, num_classes)``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"MintClassifier expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        x = F.pad(x, (0, 0, 0, 0, 0, self.padded_channels - self.in_channels))  # zero channels
        for layer in self.layers:  # batch norms, Mint layers and squeezes: x -> (y, log-det)
            x, _ = layer(x)
        return self.head(F.elu(x).mean(dim=(2, 3)))
