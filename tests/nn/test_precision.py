import pytest
import torch

from mintnet.nn import MintLayer, MintNet, MonotoneActivation
from tests.nn.helpers import perturb


@pytest.mark.parametrize("name", ["elu", "leaky_relu"])
def test_activation_slope_is_its_derivative(name):
    u = torch.linspace(-30.0, 5.0, 401, dtype=torch.float64).requires_grad_()
    h, slope = MonotoneActivation(name)(u)
    (autograd_slope,) = torch.autograd.grad(h.sum(), u)
    assert torch.allclose(slope, autograd_slope, atol=1e-15)
    assert (slope > 0).all() and (slope <= 1).all()
    expected = (
        torch.nn.functional.elu(u) if name == "elu" else torch.nn.functional.leaky_relu(u, 0.01)
    )
    assert torch.allclose(h, expected, atol=1e-15)


def test_bf16_autocast_forward_keeps_a_float32_logdet():
    net = perturb(MintNet((1, 8, 8), n_layers=2, n_squeezes=1, hidden_groups=4), 0.05)
    x = torch.randn(4, 1, 8, 8)
    z_ref, logdet_ref = net(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z, logdet = net(x)
    assert logdet.dtype == torch.float32 and torch.isfinite(logdet).all()
    assert torch.isfinite(z).all()
    # bf16 keeps ~3 significant digits per convolution; the log-det is a sum of 4 * 64 logs
    assert (logdet - logdet_ref).abs().max() < 0.05 * logdet_ref.abs().max() + 0.5
    assert (z.float() - z_ref).abs().max() < 0.1


def test_bf16_autocast_backward_runs():
    layer = perturb(MintLayer(2, 4, 4, 3, "upper"), 0.05)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, logdet = layer(torch.randn(2, 2, 4, 4))
    (y.float().square().sum() - logdet.sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


def test_channels_last_input_gives_the_same_answer():
    layer = perturb(MintLayer(3, 6, 6, 2, "lower").double(), 0.1)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    y, logdet = layer(x)
    y_cl, logdet_cl = layer(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(y, y_cl, atol=1e-12) and torch.allclose(logdet, logdet_cl, atol=1e-10)
