import torch

from mintnet.nn import MintNet
from tests.nn.helpers import perturb


def _twin_nets():
    plain = perturb(MintNet((2, 4, 4), n_layers=2, n_squeezes=1, hidden_groups=3).double(), 0.1)
    ckpt = MintNet((2, 4, 4), n_layers=2, n_squeezes=1, hidden_groups=3, checkpoint_layers=True)
    ckpt = ckpt.double()
    ckpt.load_state_dict(plain.state_dict())
    return plain, ckpt


def test_checkpointed_gradients_equal_plain_ones():
    plain, ckpt = _twin_nets()
    x = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    grads = []
    for net in (plain, ckpt):
        xr = x.clone().requires_grad_()
        z, logdet = net(xr)
        (z.square().sum() - logdet.sum()).backward()
        grads.append([xr.grad] + [p.grad for p in net.parameters()])
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)


def test_checkpointing_changes_nothing_without_grad():
    plain, ckpt = _twin_nets()
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(plain(x), ckpt(x), strict=True):
            assert torch.equal(a, b)
    assert not plain.checkpoint_layers and ckpt.checkpoint_layers
