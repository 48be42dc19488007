"""The ResNet baseline the paper compares its classifier with (Table 1)."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ResNetClassifier"]


class _Block(torch.nn.Module):
    """conv-BN-ReLU-conv-BN-conv-BN plus a shortcut (a 1x1 strided projection when the shape
    changes), then ReLU: the block of the authors' baseline, three 3x3 convolutions deep."""

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(channels)
        self.conv2 = torch.nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(channels)
        self.conv3 = torch.nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn3 = torch.nn.BatchNorm2d(channels)
        self.shortcut = torch.nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = torch.nn.Sequential(
                torch.nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                torch.nn.BatchNorm2d(channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(self.bn2(self.conv2(out))))
        return F.relu(out + self.shortcut(x))


class ResNetClassifier(torch.nn.Module):
    """A ResNet with the MintNet classifier's layout: stages of ``blocks`` residual blocks at
    ``widths`` channels, each later stage halving the resolution (paper's baseline: 12/12/14 blocks at
    16/64/256 channels), a 3x3 stem, global mean pooling and a linear head.

    Arguments:
        in_channels: image channels.
        num_classes: number of classes.
        blocks: residual blocks per stage.
        widths: channels per stage.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        blocks: Sequence[int] = (12, 12, 14),
        widths: Sequence[int] = (16, 64, 256),
    ) -> None:
        super().__init__()
        if len(blocks) != len(widths) or min(blocks, default=0) < 1 or min(widths, default=0) < 1:
            raise ValueError(
                f"blocks and widths must be equally long lists of positive ints, "
                f"got {list(blocks)} and {list(widths)}"
            )
        self.in_channels = in_channels
        self.stem = torch.nn.Sequential(
            torch.nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
            torch.nn.BatchNorm2d(widths[0]),
            torch.nn.ReLU(),
        )
        layers, c = [], widths[0]
        for stage, (n, width) in enumerate(zip(blocks, widths, strict=True)):
            for i in range(n):
                layers.append(_Block(c, width, 2 if stage and i == 0 else 1))
                c = width
        self.blocks = torch.nn.Sequential(*layers)
        self.head = torch.nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Images ``(B, C, H, W)`` to logits ``(B, num_classes)``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ResNetClassifier expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))
