import math

import torch

from mintnet.nn import ImageFlow, InverseSettings, MintNet
from tests.nn.helpers import perturb


def _flow(n_bins=17):
    net = perturb(MintNet((1, 8, 8), n_layers=2, n_squeezes=1, hidden_groups=2), 0.05).double()
    return ImageFlow(net, n_bins=n_bins, logit_lam=0.05)


def test_bits_per_dim_adds_logit_logdet_and_discretisation():
    flow = _flow()
    x = torch.randint(0, 17, (3, 1, 8, 8)).double() / 16
    torch.manual_seed(1)
    bpd = flow(x)
    torch.manual_seed(1)
    y, _ = flow.dequantize(x)
    v, logdet_logit = flow.logit(y)
    log_p = flow.net.log_prob(v) + logdet_logit
    assert torch.allclose(bpd, -log_p / (64 * math.log(2)) + math.log2(17))


def test_decode_inverts_encode():
    flow = _flow()
    x = torch.randint(0, 17, (2, 1, 8, 8)).double() / 16
    images, reports = flow.decode(flow.encode(x), InverseSettings(tol=1e-12))
    assert all(r.converged for r in reports)
    assert torch.equal(torch.floor(images * 17).clamp(max=16) / 16, x)


def test_samples_are_images_with_reports():
    images, reports = _flow().sample(4, temperature=0.7)
    assert images.shape == (4, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    assert len(reports) == 4 and all(r.converged for r in reports)
