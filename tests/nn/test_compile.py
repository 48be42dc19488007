import pytest
import torch

from mintnet.nn import ImageFlow, MintNet
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
