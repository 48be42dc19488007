"""The paper's MintNet classifier: batch norm before every Mint layer, then a linear head."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mintnet.nn.mint_layer import MintLayer
from mintnet.nn.mintnet import hidden_groups_per_scale, squeeze_positions
from mintnet.nn.squeeze import Squeeze

__all__ = ["MintClassifier"]


class MintClassifier(torch.nn.Module):
    """MintNet as an image classifier (paper, Table 1).

    The input ``(B, C_in, H, W)`` is zero-padded to ``padded_channels`` channels, passes through
    ``n_layers`` lower/upper pairs of Mint layers (leaky ReLU, ``hidden_groups`` K per scale, kept
    constant across squeezes), each preceded by ``BatchNorm2d``, with ``n_squeezes`` squeezes evenly
    spaced; then ELU, global mean pooling and a linear layer give ``(B, num_classes)`` logits.
    The paper's model: 19 pairs, K = 1, 2 squeezes, 16 padded channels (26.8 M parameters).

    Arguments:
        in_channels: ``C_in`` of the images (1 or 3).
        num_classes: number of classes.
        image_size: ``(H, W)``.
        n_layers: number of lower/upper pairs.
        n_squeezes: number of 2x2 squeezes.
        hidden_groups: K at every scale (an int), or one K per scale.
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
        if h % 2**n_squeezes or w % 2**n_squeezes:
            raise ValueError(f"image size {h}x{w} cannot be halved n_squeezes={n_squeezes} times")
        positions = squeeze_positions(n_layers, n_squeezes)
        if isinstance(hidden_groups, int):
            hidden_groups = [hidden_groups] * (n_squeezes + 1)
        groups = hidden_groups_per_scale(hidden_groups, n_squeezes)
        self.in_channels, self.padded_channels = in_channels, padded_channels
        c = padded_channels
        layers: list[torch.nn.Module] = []
        for pair in range(n_layers):
            if pair in positions:
                layers.append(Squeeze())
                c, h, w = 4 * c, h // 2, w // 2
            k = groups[sum(pair >= p for p in positions)]
            for kind in ("lower", "upper"):
                layers.append(torch.nn.BatchNorm2d(c))
                layers.append(MintLayer(c, h, w, k, kind, kernel_size, activation, None))
        self.layers = torch.nn.ModuleList(layers)
        self.head = torch.nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Images ``(B, C_in, H, W)`` to logits ``(B, num_classes)``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"MintClassifier expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        x = F.pad(x, (0, 0, 0, 0, 0, self.padded_channels - self.in_channels))  # zero channels
        for layer in self.layers:
            out = layer(x)
            x = (
                out[0] if isinstance(out, tuple) else out
            )  # Mint layers and squeezes give (y, logdet)
        return self.head(F.elu(x).mean(dim=(2, 3)))
