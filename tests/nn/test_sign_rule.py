"""The hand-written autograd node for the middle weight, and the layer's parameter gradients."""

import pytest
import torch

from mintnet.nn import MintLayer
from mintnet.nn.sign_rule import signed_middle_weight
from tests.nn.helpers import perturb


def _reference(layer: MintLayer, weight2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The sign rule written with plain differentiable ops: mask, then overwrite the taps."""
    k, c, m = layer.hidden_groups, layer.channels, layer.padding
    w = layer.masked_weights()
    sign = (w.d3.sign()[:, None, :] * w.d1.sign()[None, :, :]).flatten()
    rows, cols = layer._diag2_rows, layer._diag2_cols
    d2 = weight2[rows, cols, m, m].abs() * sign
    w2 = (weight2 * layer.mask2).index_put((rows, cols, torch.tensor(m), torch.tensor(m)), d2)
    return w2, d2.view(k, k, c)


def _args(layer: MintLayer):
    w = layer.masked_weights()
    sign = (w.d3.sign()[:, None, :] * w.d1.sign()[None, :, :]).flatten()
    return layer.mask2, layer._diag2_rows, layer._diag2_cols, layer.padding, sign


@pytest.mark.parametrize("c, k, kernel", [(1, 3, 3), (3, 2, 3), (2, 2, 5)])
def test_signed_middle_weight_gradcheck(c, k, kernel):
    torch.manual_seed(0)
    layer = perturb(MintLayer(c, 4, 4, k, "lower", kernel).double(), 0.5)
    weight2 = layer.weight2.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda w: signed_middle_weight(w, *_args(layer)), (weight2,), atol=1e-8
    )


def test_signed_middle_weight_matches_plain_autograd_including_a_zero_tap():
    torch.manual_seed(1)
    layer = perturb(MintLayer(3, 4, 4, 2, "upper").double(), 0.5)
    m = layer.padding
    with torch.no_grad():
        layer.weight2[layer._diag2_rows[0], layer._diag2_cols[0], m, m] = 0.0
    weight2 = layer.weight2.detach().clone().requires_grad_()
    g_w2 = torch.randn_like(weight2)
    g_d2 = torch.randn(2, 2, 3, dtype=torch.float64)

    w2, d2 = signed_middle_weight(weight2, *_args(layer))
    (grad,) = torch.autograd.grad((w2 * g_w2).sum() + (d2.view(2, 2, 3) * g_d2).sum(), weight2)
    w2_ref, d2_ref = _reference(layer, weight2)
    (grad_ref,) = torch.autograd.grad((w2_ref * g_w2).sum() + (d2_ref * g_d2).sum(), weight2)

    assert torch.equal(w2, w2_ref) and torch.equal(d2.view(2, 2, 3), d2_ref)
    assert torch.allclose(grad, grad_ref, atol=1e-14, rtol=0)
    assert grad[layer._diag2_rows[0], layer._diag2_cols[0], m, m] == 0  # |w|' at 0, as torch
    assert (grad * (1 - layer.mask2)).abs().sum() > 0  # the taps do receive gradient
    assert (grad[layer.mask2 == 0].count_nonzero()) == 2 * 2 * 3 - 1  # and nothing else masked


@pytest.mark.parametrize("c, k", [(1, 3), (3, 2)])  # one channel takes the matmul path
@pytest.mark.parametrize("act", ["elu", "leaky_relu"])
def test_layer_parameter_gradients_gradcheck(c, k, act):
    """Output and log-det of a whole layer, differentiated by hand-written nodes and autograd,
    against finite differences in every parameter (float64)."""
    torch.manual_seed(2)
    layer = perturb(MintLayer(c, 3, 3, k, "lower", activation=act).double(), 0.3)
    x = torch.randn(2, c, 3, 3, dtype=torch.float64)
    names = [n for n, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())

    def fn(*ps):
        out = torch.func.functional_call(layer, dict(zip(names, ps, strict=True)), (x,))
        return out[0], out[1]

    assert torch.autograd.gradcheck(fn, params, atol=1e-7)
