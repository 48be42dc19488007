import pytest
import torch

from mintnet.nn import ImageFlow, MintLayer, MintNet
from tests.nn.helpers import perturb


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")  # inductor internals, not ours
def test_fullgraph_compile_matches_eager():
    net = perturb(MintNet((1, 4, 4), n_layers=2, n_squeezes=1, hidden_groups=2), 0.05)
    x = torch.randn(2, 1, 4, 4)
    compiled = torch.compile(net, fullgraph=True)
    z, logdet = compiled(x)
    z_ref, logdet_ref = net(x)
    assert torch.allclose(z, z_ref, atol=1e-5) and torch.allclose(logdet, logdet_ref, atol=1e-4)


@pytest.mark.parametrize(("c", "k"), [(1, 18), (4, 2)])  # thin convolutions, F.conv2d
def test_traced_layer_has_the_eager_gradients(c, k):
    """Autograd traced as torch.compile traces it (``aot_eager``: no code generation), float64.
    With torch 2.11 the first two convolutions' gradients were off by up to 40 % here."""
    layer = perturb(MintLayer(c, 6, 6, k, "upper").double(), 0.05)
    x = torch.randn(3, c, 6, 6, dtype=torch.float64)
    results = []
    for fn in (layer, torch.compile(layer, backend="aot_eager", fullgraph=True)):
        y, logdet = fn(x)
        loss = (torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y) * y).sum()
        results.append([y, logdet, *torch.autograd.grad(loss + logdet.sum(), layer.parameters())])
    for eager, traced in zip(*results, strict=True):
        assert torch.allclose(traced, eager, atol=1e-10, rtol=1e-10)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")  # inductor internals, not ours
def test_image_flow_loss_compiles_as_one_graph_and_still_refuses_bad_pixels():
    """The training loss (dequantise, logit, net, prior, bits/dim) has no host sync that would
    break the graph; the pixel-range check becomes a device assertion there."""
    flow = ImageFlow(MintNet((1, 4, 4), n_layers=2, n_squeezes=1, hidden_groups=2), 17, 0.05)
    compiled = torch.compile(flow, fullgraph=True)
    x = torch.rand(3, 1, 4, 4)
    bpd = compiled(x)
    assert bpd.shape == (3,) and torch.isfinite(bpd).all()
    # same grey levels, so the same loss up to the dequantisation noise (< 1/17 of a level)
    assert torch.allclose(bpd, flow(x), atol=0.5)
    with pytest.raises(RuntimeError, match=r"values in \[0, 1\]"):
        compiled(x + 1.5)
    with pytest.raises(RuntimeError, match=r"values in \[0, 1\]"):
        compiled(torch.where(x > 0.5, float("nan"), x))  # NaN, not only out-of-range values
