"""The activations and their slopes: values, derivatives, and what autograd keeps for backward."""

import pytest
import torch

from mintnet.nn.activations import MonotoneActivation


@pytest.mark.parametrize("name", ["elu", "leaky_relu"])
def test_slope_is_the_derivative_and_positive(name):
    u = torch.linspace(-6, 6, 241, dtype=torch.float64, requires_grad=True)
    h, slope = MonotoneActivation(name)(u)
    (autograd_slope,) = torch.autograd.grad(h.sum(), u)
    assert torch.allclose(slope, autograd_slope, atol=1e-15, rtol=0)
    assert slope.min() > 0


def test_elu_slope_has_the_right_second_derivative():
    """The log-det differentiates through the slope: d h'(u) / du = e^u for u < 0, 0 above."""
    u = torch.tensor([-2.0, -0.5, 0.5, 3.0], dtype=torch.float64, requires_grad=True)
    _, slope = MonotoneActivation("elu")(u)
    (second,) = torch.autograd.grad(slope.sum(), u)
    expected = torch.where(u < 0, u.exp(), torch.zeros_like(u))
    assert torch.allclose(second, expected, atol=1e-15, rtol=0)


def test_elu_slope_saves_no_tensor_beyond_input_and_output():
    """The next convolution keeps ``h`` anyway; a slope that saved e.g. ``h + 1`` would add one
    activation-sized tensor per Mint layer activation."""
    u = torch.randn(4, 6, requires_grad=True)
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        h, _ = MonotoneActivation("elu")(u)
    storages = {t.untyped_storage().data_ptr() for t in saved}
    assert storages <= {u.untyped_storage().data_ptr(), h.untyped_storage().data_ptr()}
