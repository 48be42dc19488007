import pytest
import torch

from mintnet.nn import InverseSettings, InversionWarning, MintLayer, MintNet, Squeeze
from tests.nn.helpers import jacobians, perturb


def _small_net(scale=0.05):
    net = MintNet((2, 4, 4), n_layers=3, n_squeezes=1, hidden_groups=4).double()
    return perturb(net, scale)


def test_logdet_of_whole_net_matches_autograd_slogdet():
    net = _small_net(scale=0.2)
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64)
    _, logdet = net(x)
    jac = jacobians(lambda a: net(a)[0], x)
    sign, logabs = torch.linalg.slogdet(jac)
    assert (sign > 0).all()
    assert torch.allclose(logabs, logdet, atol=1e-8, rtol=0)


def test_inverse_round_trip_float64():
    net = _small_net()
    x = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    z, _ = net(x)
    x_rec, reports = net.inverse_with_report(z, InverseSettings(tol=1e-13, max_iter=200))
    assert (x_rec - x).abs().max() < 1e-10
    assert len(reports) == 6 and all(r.converged for r in reports)
    assert reports[0].name == "6.upper"  # the last layer is inverted first


def test_inverse_round_trip_float32():
    net = perturb(MintNet((2, 4, 4), n_layers=3, n_squeezes=1, hidden_groups=4), 0.05)
    x = torch.randn(3, 2, 4, 4)
    z, _ = net(x)
    x_rec = net.inverse(z, InverseSettings(tol=1e-6, max_iter=200))
    assert (x_rec - x).abs().max() < 1e-5


def test_reconstruction_error_falls_with_iterations():
    net = _small_net()
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64)
    z, _ = net(x)
    errs = []
    for n in (1, 2, 3, 4):
        with pytest.warns(InversionWarning):
            x_rec = net.inverse(z, InverseSettings(max_iter=n, tol=1e-14))
        errs.append(float((x_rec - x).abs().max()))
    assert errs == sorted(errs, reverse=True) and len(set(errs)) == 4
    x_rec = net.inverse(z, InverseSettings(max_iter=100, tol=1e-14))
    assert (x_rec - x).abs().max() < 1e-10


def test_log_prob_is_prior_plus_logdet():
    net = _small_net()
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64)
    z, logdet = net(x)
    prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).flatten(1).sum(1)
    assert torch.allclose(net.log_prob(x), prior + logdet)


def test_paper_mnist_density_model_builds():
    net = MintNet((1, 28, 28), n_layers=20, n_squeezes=2, hidden_groups=45, kernel_size=3)
    mint = [m for m in net.layers if isinstance(m, MintLayer)]
    squeezes = [i for i, m in enumerate(net.layers) if isinstance(m, Squeeze)]
    assert len(mint) == 40 and squeezes == [12, 25]  # before pairs 6 and 12
    assert [m.hidden_groups for m in mint[::2]] == [45] * 6 + [11] * 6 + [2] * 8
    assert [m.kind for m in mint[:2]] == ["lower", "upper"]
    assert net.latent_shape == (16, 7, 7)
    assert sum(p.numel() for p in net.parameters()) == 805_272  # the authors' count (0.805 M)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"in_shape": (1, 28, 28), "n_squeezes": 3}, "28x28 cannot be halved n_squeezes=3"),
        ({"hidden_groups": 0}, r"hidden_groups \(K\) must be >= 1, got 0"),
        ({"hidden_groups": [2, 0, 1]}, "one per scale"),
        ({"activation": "tanh"}, "activation must be one of"),
        ({"n_layers": 1}, "n_layers=1 pairs cannot hold n_squeezes=2"),
        ({"kernel_size": 4}, "kernel_size"),
    ],
)
def test_impossible_nets_are_refused(kwargs, match):
    args = {"in_shape": (1, 8, 8), "n_layers": 3, "n_squeezes": 2, "hidden_groups": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        MintNet(**args)


def test_wrong_input_shape_or_dtype_is_refused():
    net = MintNet((1, 8, 8), n_layers=2, n_squeezes=1, hidden_groups=2)
    with pytest.raises(ValueError, match=r"must be \(B, 1, 8, 8\), got \(2, 1, 8, 4\)"):
        net(torch.zeros(2, 1, 8, 4))
    with pytest.raises(ValueError, match="dtype torch.float32, got torch.float64"):
        net(torch.zeros(2, 1, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"latent must be \(B, 4, 4, 4\)"):
        net.inverse(torch.zeros(2, 1, 8, 8))
