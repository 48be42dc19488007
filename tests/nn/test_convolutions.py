"""The ways a Mint layer computes its convolutions: the slope mix equals its definition."""

import pytest
import torch

from mintnet.nn.convolutions import mix_slopes


@pytest.mark.parametrize("k, c", [(3, 1), (1, 3), (2, 3), (3, 3)])  # each way mix_slopes computes
def test_slope_mix_equals_its_definition(k, c):
    """``inner[b, i, c] = sum_j mix[i, j, c] g1[b, j, c]``, values and gradients (float64)."""
    torch.manual_seed(3)
    mix = torch.randn(k, k, c, dtype=torch.float64, requires_grad=True)
    g1 = torch.randn(2, k, c, 3, 4, dtype=torch.float64, requires_grad=True)
    reference = torch.zeros_like(g1)
    for i in range(k):
        for j in range(k):
            reference[:, i] += mix[i, j][:, None, None] * g1[:, j]
    inner = mix_slopes(mix, g1)
    assert inner.shape == g1.shape
    assert torch.allclose(inner, reference, atol=1e-13, rtol=0)
    assert torch.autograd.gradcheck(mix_slopes, (mix, g1))
