"""Interpolation between four images in latent space (paper Figure 5)."""

import math

import torch
from torch import Tensor

from mintnet.nn.image_flow import ImageFlow
from mintnet.nn.inverse import InverseSettings, InversionReport

__all__ = ["interpolation_grid", "interpolation_latents", "quarter_circle"]


def quarter_circle(steps: int) -> tuple[Tensor, Tensor]:
    r"""``(cos phi_i, sin phi_i)`` for :math:`\phi_i = \frac{\pi}{2} \frac{i}{steps - 1}`,
    ``i = 0..steps-1``, each of shape ``(steps,)`` in float64.

    The end points are set to exactly ``(1, 0)`` and ``(0, 1)``; ``cos(pi/2)`` in floating point is
    6e-17, not 0, and the grid's corners should be exactly the inputs' latents.
    """
    if steps < 2:
        raise ValueError(f"steps must be >= 2 (the corners need two per side), got {steps}")
    phi = torch.arange(steps, dtype=torch.float64) * (math.pi / 2 / (steps - 1))
    cos, sin = phi.cos(), phi.sin()
    cos[0], sin[0], cos[-1], sin[-1] = 1.0, 0.0, 0.0, 1.0
    return cos, sin


def interpolation_latents(z4: Tensor, steps: int = 8) -> Tensor:
    r"""The grid of latents between ``z4 = (z_1, z_2, z_3, z_4)``, shape ``(4, *S)``:

    .. math:: z(\phi, \phi') = \cos\phi\,(\cos\phi'\, z_1 + \sin\phi'\, z_2)
        + \sin\phi\,(\cos\phi'\, z_3 + \sin\phi'\, z_4)

    with row ``i`` taking :math:`\phi_i` and column ``j`` taking :math:`\phi'_j` (see
    :func:`quarter_circle`). Returns ``(steps * steps, *S)`` in row-major order, so the corners
    ``0, steps - 1, steps * (steps - 1), steps * steps - 1`` are ``z_1, z_2, z_3, z_4``.
    """
    if z4.shape[0] != 4:
        raise ValueError(f"need exactly 4 latents, got a batch of {z4.shape[0]}")
    cos, sin = (w.to(z4.dtype).to(z4.device) for w in quarter_circle(steps))
    z1, z2, z3, z4_ = z4.unsqueeze(1)  # each (1, *S)
    col = (1,) * (z4.dim() - 1)
    left = cos.view(-1, *col) * z1 + sin.view(-1, *col) * z2  # (steps, *S): phi' along the row
    right = cos.view(-1, *col) * z3 + sin.view(-1, *col) * z4_  # (steps, *S)
    grid = cos.view(-1, 1, *col) * left + sin.view(-1, 1, *col) * right  # (steps, steps, *S)
    return grid.flatten(0, 1)  # (steps * steps, *S)


@torch.no_grad()
def interpolation_grid(
    flow: ImageFlow,
    x4: Tensor,
    steps: int = 8,
    settings: InverseSettings | None = None,
    quantize: bool = False,
) -> tuple[Tensor, list[InversionReport]]:
    """Encode four images, interpolate their latents (:func:`interpolation_latents`) and decode.

    Arguments:
        flow: the trained flow.
        x4: four images ``(4, C, H, W)`` in ``[0, 1]``.
        steps: images per side of the grid.
        settings: fixed-point settings for every Mint layer; ``None`` keeps each layer's own.
        quantize: snap the decoded images to the data's grey levels, so the corners equal the
            inputs exactly; otherwise the corners are the inputs' bin centres
            ``(round(x (n_bins - 1)) + 1/2) / n_bins`` that :meth:`ImageFlow.encode` uses.

    Returns:
        Images ``(steps * steps, C, H, W)`` in ``[0, 1]``, row-major, and the inversion's reports.
    """
    if x4.dim() != 4 or x4.shape[0] != 4:
        raise ValueError(f"x4 must be 4 images (4, C, H, W), got {tuple(x4.shape)}")
    ref = next(flow.parameters())
    z4 = flow.encode(x4.to(device=ref.device, dtype=ref.dtype))  # (4, *latent_shape)
    images, reports = flow.decode(interpolation_latents(z4, steps), settings)
    if quantize:
        images = flow.dequantize.inverse(images)  # floor(y * n_bins) / (n_bins - 1)
    return images, reports
