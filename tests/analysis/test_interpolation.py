import pytest
import torch

from mintnet.analysis import interpolation_grid, interpolation_latents
from mintnet.analysis.interpolation import quarter_circle
from mintnet.nn import InverseSettings
from tests.analysis.helpers import DIGIT_BINS, digits

STEPS = 5
CORNERS = [0, STEPS - 1, STEPS * (STEPS - 1), STEPS * STEPS - 1]


def test_quarter_circle_end_points_are_exact():
    cos, sin = quarter_circle(8)
    assert (cos[0], sin[0], cos[-1], sin[-1]) == (1.0, 0.0, 0.0, 1.0)
    assert torch.allclose(cos**2 + sin**2, torch.ones(8, dtype=torch.float64))
    # the paper's phi = pi * i / 14 for 8 steps is the same angle
    assert torch.allclose(sin[1:-1], torch.sin(torch.pi * torch.arange(1, 7) / 14).double())


def test_latent_grid_corners_and_formula():
    z4 = torch.randn(4, 2, 3, 3)
    grid = interpolation_latents(z4, STEPS)
    assert grid.shape == (STEPS * STEPS, 2, 3, 3)
    assert all(torch.equal(grid[c], z4[k]) for k, c in enumerate(CORNERS))
    cos, sin = (w.float() for w in quarter_circle(STEPS))
    i, j = 1, 3  # row i takes phi_i, column j takes phi'_j
    expected = cos[i] * (cos[j] * z4[0] + sin[j] * z4[1]) + sin[i] * (
        cos[j] * z4[2] + sin[j] * z4[3]
    )
    assert torch.allclose(grid[i * STEPS + j], expected)


def test_corners_reconstruct_the_inputs(trained_flow):
    x4 = digits()[[3, 15, 32, 17]]
    settings = InverseSettings(max_iter=200)
    images, reports = interpolation_grid(trained_flow, x4, STEPS, settings)
    assert images.shape == (STEPS * STEPS, 1, 8, 8)
    assert all(r.converged for r in reports)
    centres = (torch.round(x4 * (DIGIT_BINS - 1)) + 0.5) / DIGIT_BINS  # what encode() sees
    assert (images[CORNERS] - centres).abs().max() < 1e-4
    quantised, _ = interpolation_grid(trained_flow, x4, STEPS, settings, quantize=True)
    assert torch.equal(quantised[CORNERS], x4)


def test_needs_four_images(trained_flow):
    with pytest.raises(ValueError, match="4 images"):
        interpolation_grid(trained_flow, digits()[:3])
