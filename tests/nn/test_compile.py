import pytest
import torch

from mintnet.nn import MintNet
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
