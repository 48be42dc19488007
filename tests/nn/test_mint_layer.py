import pytest
import torch

from mintnet.nn import InverseSettings, MintLayer
from mintnet.nn.convolutions import LIBRARY, OneChannel
from tests.nn.helpers import jacobians, perturb

# (C, K): F.conv2d at C = 1, 3, 5; with kernel 3, K = 18 takes the thin convolutions at C = 1, 3
SHAPES = [(1, 1), (1, 2), (3, 1), (3, 2), (5, 1), (1, 18), (3, 18)]


def _layer(c, k, kind, kernel=3, act="elu", scale=0.3, h=4, w=4):
    layer = MintLayer(c, h, w, k, kind, kernel, act).double()
    return perturb(layer, scale)


@pytest.mark.parametrize("c, k", SHAPES)
@pytest.mark.parametrize("kind", ["lower", "upper"])
@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("act", ["elu", "leaky_relu"])
def test_jacobian_is_triangular_positive_and_matches_logdet(c, k, kind, kernel, act):
    layer = _layer(c, k, kind, kernel, act)
    x = torch.randn(2, c, 4, 4, dtype=torch.float64)
    _, logdet = layer(x)
    jac = jacobians(lambda a: layer(a)[0], x)  # (B, D, D), channel-major order
    off = torch.triu(jac, 1) if kind == "lower" else torch.tril(jac, -1)
    assert off.abs().max() == 0.0
    assert jac.diagonal(dim1=1, dim2=2).min() > 0
    assert torch.allclose(torch.linalg.slogdet(jac).logabsdet, logdet, atol=1e-8, rtol=0)
    # and the triangle is really used: the layer is not merely diagonal
    strict = torch.tril(jac, -1) if kind == "lower" else torch.triu(jac, 1)
    assert strict.abs().max() > 1e-3


def test_diagonal_stays_positive_for_any_raw_signs():
    layer = MintLayer(3, 4, 4, 2, "lower").double()
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(3.0 * torch.randn_like(p))  # huge weights of every sign, negative raw t
        layer.t.copy_(-layer.t.abs())
    x = 3.0 * torch.randn(4, 3, 4, 4, dtype=torch.float64)
    _, diag = layer.value_and_diagonal(x, layer.masked_weights())
    assert diag.min() > 0
    w = layer.masked_weights()
    products = w.d3[:, None, :] * w.d2 * w.d1[None, :, :]  # (K, K, C)
    assert products.min() >= 0


def test_value_and_diagonal_agree_with_autograd_diagonal():
    layer = _layer(3, 2, "upper")
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    _, diag = layer.value_and_diagonal(x, layer.masked_weights())
    jac = jacobians(lambda a: layer(a)[0], x)
    assert torch.allclose(diag.flatten(1), jac.diagonal(dim1=1, dim2=2), atol=1e-12)


@pytest.mark.parametrize("kind", ["lower", "upper"])
def test_inverse_round_trip_float64(kind):
    layer = _layer(3, 2, kind, scale=0.1)
    x = torch.randn(3, 3, 4, 4, dtype=torch.float64)
    y, _ = layer(x)
    x_rec = layer.inverse(y, InverseSettings(tol=1e-13))
    assert (x_rec - x).abs().max() < 1e-10


def test_every_parameter_gets_a_gradient():
    layer = _layer(2, 2, "lower")
    y, logdet = layer(torch.randn(2, 2, 4, 4, dtype=torch.float64))
    (y.square().sum() - logdet.sum()).backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_masks_are_buffers_not_parameters():
    layer = MintLayer(2, 4, 4, 2, "lower")
    names = {n for n, _ in layer.named_parameters()}
    assert not any("mask" in n for n in names)
    assert {"mask1", "mask2", "mask3"} <= {n for n, _ in layer.named_buffers()}


def test_parameter_shapes_follow_the_paper():
    layer = MintLayer(3, 5, 6, 4, "lower", kernel_size=5)
    shapes = {n: tuple(p.shape) for n, p in layer.named_parameters()}
    assert shapes == {
        "weight1": (12, 3, 5, 5),
        "bias1": (12,),
        "weight2": (12, 12, 5, 5),
        "bias2": (12,),
        "weight3": (3, 12, 5, 5),
        "bias3": (3,),
        "t": (3, 5, 6),
    }


@pytest.mark.parametrize(
    "shape, dtype, match",
    [
        ((2, 3, 4, 5), torch.float32, r"expects \(B, 3, 4, 4\), got \(2, 3, 4, 5\)"),
        ((2, 3, 4), torch.float32, r"got \(2, 3, 4\)"),
        ((2, 3, 4, 4), torch.float64, "dtype torch.float64"),
    ],
)
def test_wrong_input_is_refused(shape, dtype, match):
    layer = MintLayer(3, 4, 4, 1, "lower")
    with pytest.raises(ValueError, match=match):
        layer(torch.zeros(shape, dtype=dtype))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden_groups": 0}, "hidden_groups"),
        ({"activation": "relu"}, "activation"),
        ({"kind": "diagonal"}, "kind"),
        ({"kernel_size": 2}, "odd"),
    ],
)
def test_impossible_layers_are_refused(kwargs, match):
    args = {"channels": 1, "height": 4, "width": 4, "hidden_groups": 1, "kind": "lower"} | kwargs
    with pytest.raises(ValueError, match=match):
        MintLayer(**args)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("kind", ["lower", "upper"])
def test_thin_convolutions_compute_the_same_layer_as_conv2d(c, kind):
    """Values, diagonals and every parameter's gradient agree between the two ways of computing
    the convolutions (the thin one and ``F.conv2d``), for both mask kinds."""
    torch.manual_seed(0)
    thin = _layer(c, 18, kind, h=5, w=6)
    plain = MintLayer(c, 5, 6, 18, kind, thin_convolutions=False).double()
    plain.load_state_dict(thin.state_dict())
    assert thin.thin_convolutions and not plain.thin_convolutions
    x = torch.randn(3, c, 5, 6, dtype=torch.float64)
    grads = []
    for layer in (thin, plain):
        y, logdet = layer(x)
        torch.manual_seed(1)
        loss = (y * torch.randn_like(y)).sum() + (logdet * torch.randn_like(logdet)).sum()
        grads.append([y, logdet, *torch.autograd.grad(loss, list(layer.parameters()))])
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize(
    "c, k, h, thin",
    [
        (1, 45, 28, True),
        (4, 11, 14, False),
        (16, 2, 7, False),
        (3, 85, 32, True),
        (12, 21, 16, False),
    ],
)
def test_the_paper_stages_that_take_the_thin_convolutions(c, k, h, thin):
    """On the CPU only: on a GPU cuDNN measured faster (docs/performance.md)."""
    layer = MintLayer(c, h, h, k, "lower")
    assert layer.thin_convolutions is thin
    assert layer.uses_thin_convolutions(torch.device("cpu")) is thin
    assert layer.uses_thin_convolutions(torch.device("cuda")) is False
    assert layer.convolutions(torch.device("cuda")) is LIBRARY
    assert (layer.convolutions(torch.device("cpu")) is LIBRARY) is not thin


@pytest.mark.parametrize("thin", [True, False])
def test_the_constructor_overrides_the_choice_of_convolutions(thin):
    """Either way on any shape: the choice is one of speed, not of the layer."""
    torch.manual_seed(0)
    chosen = MintLayer(1, 4, 4, 2, "upper", thin_convolutions=thin).double()
    default = MintLayer(1, 4, 4, 2, "upper").double()
    default.load_state_dict(chosen.state_dict())
    assert chosen.thin_convolutions is thin and not default.thin_convolutions
    assert isinstance(chosen.convolutions(torch.device("cpu")), OneChannel) is thin
    x = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    for a, b in zip(chosen(x), default(x), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
