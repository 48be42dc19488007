"""The backbone on a CUDA device: the CPU's maths, inversion, bf16 autocast, compile, no host syncs.

Skipped where torch sees no CUDA device (CI has none). ``.ci/gpu-check`` runs them on a GPU
machine; ``MINTNET_TEST_DEVICE=cpu`` runs them on the CPU, to check the tests themselves.
"""

import os

import pytest
import torch

from benchmarks.device_tools import tf32
from mintnet.nn import ImageFlow, InverseSettings, MintLayer, MintNet
from tests.nn.helpers import perturb

DEVICE = torch.device(os.environ.get("MINTNET_TEST_DEVICE", "cuda"))
CUDA = DEVICE.type == "cuda"
pytestmark = pytest.mark.skipif(
    CUDA and not torch.cuda.is_available(), reason="no CUDA device (MINTNET_TEST_DEVICE=cpu?)"
)

# (C, K): on the CPU, thin convolutions for C = 1 (pixel rows) and C = 3 (batched products), and
# F.conv2d for C = 4, K = 2 (a narrow layer); on CUDA, F.conv2d for all (cuDNN measured faster)
LAYERS = [(1, 18), (3, 18), (4, 2)]


def _outputs_and_grads(layer: MintLayer, x: torch.Tensor) -> list[torch.Tensor]:
    layer.zero_grad(set_to_none=True)
    y, logdet = layer(x)
    weights = torch.linspace(-1, 1, y.numel(), dtype=y.dtype, device=y.device).view_as(y)
    ((weights * y).sum() + logdet.sum()).backward()
    return [y, logdet] + [p.grad for p in layer.parameters()]


@pytest.mark.parametrize("kind", ["lower", "upper"])
@pytest.mark.parametrize(("c", "k"), LAYERS)
def test_layer_on_device_matches_the_cpu_in_float64(c, k, kind):
    """Values, log-dets and parameter gradients agree with the CPU to float64 rounding (where the
    CPU computes the thin convolutions as matrix products, and CUDA with cuDNN)."""
    torch.manual_seed(0)
    cpu_layer = perturb(MintLayer(c, 6, 6, k, kind).double(), 0.1)
    device_layer = MintLayer(c, 6, 6, k, kind).double().to(DEVICE)
    device_layer.load_state_dict(cpu_layer.state_dict())
    x = torch.randn(3, c, 6, 6, dtype=torch.float64)
    expected = _outputs_and_grads(cpu_layer, x)
    got = _outputs_and_grads(device_layer, x.to(DEVICE))
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g.cpu(), e, rtol=1e-10, atol=1e-10)


def test_inverse_round_trip_float32_on_device():
    torch.manual_seed(0)
    net = perturb(MintNet((1, 8, 8), n_layers=3, n_squeezes=1, hidden_groups=18), 0.05)
    net = net.to(DEVICE)
    x = torch.randn(16, 1, 8, 8, device=DEVICE)
    with tf32(False), torch.no_grad():
        z, _ = net(x)
        x_rec, reports = net.inverse_with_report(z, InverseSettings(1.0, 200, 1e-6))
    assert all(r.converged for r in reports)
    assert (x_rec - x).abs().max() < 1e-5


def test_bf16_autocast_keeps_a_float32_logdet_on_device():
    torch.manual_seed(0)
    net = perturb(MintNet((1, 8, 8), n_layers=2, n_squeezes=1, hidden_groups=18), 0.05)
    net = net.to(DEVICE)
    x = torch.randn(8, 1, 8, 8, device=DEVICE)
    with tf32(False):
        z_ref, logdet_ref = net(x)
    with torch.autocast(DEVICE.type, dtype=torch.bfloat16):
        z, logdet = net(x)
    assert logdet.dtype == torch.float32
    assert (logdet - logdet_ref).abs().max() < 0.05 * logdet_ref.abs().max() + 0.5
    assert (z.float() - z_ref).abs().max() < 0.1
    (z.float().square().sum() - logdet.sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.skipif(not CUDA, reason="host syncs are a CUDA notion")
def test_training_loss_and_backward_make_no_host_sync():
    """Forward, log-det, bits/dim and backward queue work without waiting for the device (no
    ``.item()``, no data-dependent Python branch)."""
    torch.manual_seed(0)
    flow = ImageFlow(MintNet((1, 8, 8), n_layers=2, n_squeezes=1, hidden_groups=18), 17, 0.05)
    flow = flow.to(DEVICE)
    x = torch.randint(0, 17, (4, 1, 8, 8), device=DEVICE) / 16
    flow(x).mean().backward()  # warm-up: allocator and cuDNN set-up may sync once
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        flow(x).mean().backward()
    finally:
        torch.cuda.set_sync_debug_mode(previous)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")  # inductor internals, not ours
@pytest.mark.parametrize(("c", "k"), LAYERS)
def test_fullgraph_compiled_layer_matches_eager_on_device(c, k):
    """Gradients too: torch 2.11 traced the ELU node's in-place forward wrong, and on an H200 the
    first two convolutions' gradients came out up to 40 % off."""
    torch.manual_seed(0)
    layer = perturb(MintLayer(c, 8, 8, k, "upper"), 0.05).to(DEVICE)
    x = torch.randn(4, c, 8, 8, device=DEVICE)
    with tf32(False):
        expected = _outputs_and_grads(layer, x)
        got = _outputs_and_grads(torch.compile(layer, fullgraph=True), x)
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)
