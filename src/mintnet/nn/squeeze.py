"""Squeeze: 2x2 space-to-depth, the invertible reshape between MintNet's scales."""

from torch import Tensor

from mintnet.nn.inverse import InverseSettings, InversionReport
from mintnet.nn.invertible import InvertibleModule

__all__ = ["Squeeze"]


class Squeeze(InvertibleModule):
    """Reshape ``(B, C, H, W)`` to ``(B, 4C, H/2, W/2)``; a permutation, so ``logdet = 0``.

    Output channel ``(2 * dh + dw) * C + c`` holds input channel ``c`` at offset ``(dh, dw)`` of each
    2x2 block (TensorFlow's ``space_to_depth`` order, which the paper's code uses).
    """

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.dim() != 4 or x.shape[2] % 2 or x.shape[3] % 2:
            raise ValueError(
                f"Squeeze expects (B, C, H, W) with even H and W, got {tuple(x.shape)}"
            )
        b, c, h, w = x.shape
        x = x.view(b, c, h // 2, 2, w // 2, 2)  # (B, C, H/2, dh, W/2, dw)
        x = x.permute(0, 3, 5, 1, 2, 4)  # (B, dh, dw, C, H/2, W/2)
        return x.reshape(b, 4 * c, h // 2, w // 2), x.new_zeros(b)

    def inverse_with_report(
        self, y: Tensor, settings: InverseSettings | None = None
    ) -> tuple[Tensor, list[InversionReport]]:
        if y.dim() != 4 or y.shape[1] % 4:
            raise ValueError(f"Squeeze.inverse expects (B, 4C, H, W), got {tuple(y.shape)}")
        b, c4, h, w = y.shape
        y = y.view(b, 2, 2, c4 // 4, h, w)  # (B, dh, dw, C, H/2, W/2)
        y = y.permute(0, 3, 4, 1, 5, 2)  # (B, C, H/2, dh, W/2, dw)
        return y.reshape(b, c4 // 4, 2 * h, 2 * w), []
