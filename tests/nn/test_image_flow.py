import math

import pytest
import torch

from mintnet.errors import MintNetError
from mintnet.nn import ImageFlow, InverseSettings, MintNet
from mintnet.nn.noise import EstimateError, dequantisation_noise
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


# -- likelihood estimates: seeded noise, importance weighting ------------------------------------


def _images(n=3, n_bins=17):
    return torch.randint(0, n_bins, (n, 1, 8, 8)).double() / (n_bins - 1)


def _reference_log_p(flow, x, u):
    """``log p(y)`` for ``y = (k + u) / n_bins``, re-derived in float64 from the flow's parts."""
    y = (torch.round(x * 16) + u) / 17
    s = 0.05 + 0.9 * y
    v = torch.log(s / (1 - s))
    logdet_logit = torch.log(torch.tensor(0.9, dtype=torch.float64)) - torch.log(s * (1 - s))
    z, logdet_net = flow.net(v)
    log_normal = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
    return log_normal + logdet_net + logdet_logit.flatten(1).sum(1)


def test_n_bins_is_the_dequantisers():
    assert _flow(n_bins=5).n_bins == 5


def test_importance_weighted_bpd_matches_a_float64_re_derivation():
    flow, x, k = _flow(), _images(), 6
    noise = dequantisation_noise(x, 17, samples=k, seed=4)
    assert noise.shape == (k, *x.shape) and 0 <= noise.min() and noise.max() < 1
    log_p = [_reference_log_p(flow, x, u).tolist() for u in noise]  # K lists of B
    expected = []
    for b in range(len(x)):
        terms = [log_p[j][b] for j in range(k)]
        top = max(terms)
        mean_p = top + math.log(sum(math.exp(t - top) for t in terms)) - math.log(k)
        expected.append(-mean_p / (64 * math.log(2)) + math.log2(17))
    with torch.no_grad():
        got = flow.bits_per_dim(x, samples=k, seed=4)
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-9)


def test_one_sample_is_the_single_sample_estimate_with_the_same_noise():
    flow, x = _flow(), _images()
    (u,) = dequantisation_noise(x, 17, samples=1, seed=2)
    with torch.no_grad():
        single = -flow.log_prob(x, u) / (64 * math.log(2)) + math.log2(17)
        assert torch.allclose(flow.bits_per_dim(x, samples=1, seed=2), single, atol=1e-12)
        torch.manual_seed(5)
        unseeded = flow.bits_per_dim(x)
        torch.manual_seed(5)
        assert torch.allclose(unseeded, flow(x), atol=1e-12)  # the training loss's draw


def test_more_samples_never_exceed_the_mean_single_sample_bpd():
    flow, x, k = _flow(), _images(8), 16
    noise = dequantisation_noise(x, 17, samples=k, seed=0)
    with torch.no_grad():
        singles = torch.stack([_bpd(flow, x, u) for u in noise])  # (K, B)
        iw = flow.bits_per_dim(x, samples=k, seed=0)
    assert torch.all(iw <= singles.mean(0) + 1e-12)
    assert torch.all(iw < singles.mean(0)), "distinct draws make Jensen's inequality strict"


def _bpd(flow, x, u):
    return -flow.log_prob(x, u) / (64 * math.log(2)) + math.log2(17)


def test_seeded_estimate_depends_on_the_image_not_the_batch():
    flow, x = _flow(), _images(4)
    with torch.no_grad():
        batch = flow.bits_per_dim(x, samples=3, seed=7)
        again = flow.bits_per_dim(x, samples=3, seed=7)
        shuffled = flow.bits_per_dim(x[[2, 0, 3, 1]], samples=3, seed=7)
        alone = torch.cat([flow.bits_per_dim(x[i : i + 1], samples=3, seed=7) for i in range(4)])
        other_seed = flow.bits_per_dim(x, samples=3, seed=8)
    assert torch.equal(batch, again)
    assert torch.allclose(shuffled, batch[[2, 0, 3, 1]], atol=1e-12)
    assert torch.allclose(alone, batch, atol=1e-12)
    assert not torch.allclose(other_seed, batch)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samples": 0}, "samples must be an int >= 1.*got 0"),
        ({"samples": 2.5}, "samples must be an int >= 1.*got 2.5"),
        ({"seed": -1}, "seed must be an int >= 0 or None.*got -1"),
    ],
)
def test_bad_estimate_arguments_are_refused_by_name(kwargs, message):
    with pytest.raises(EstimateError, match=message) as info:
        _flow().bits_per_dim(_images(), **kwargs)
    assert isinstance(info.value, MintNetError)


# -- reconstruction ---------------------------------------------------------------------------


def test_decode_gives_bin_centres_and_reconstruct_the_images_exactly():
    flow, x = _flow(), _images(4)
    settings = InverseSettings(tol=1e-12)
    decoded, _ = flow.decode(flow.encode(x), settings)
    centres = (torch.round(x * 16) + 0.5) / 17  # independent of the flow: the bins' middles
    assert torch.allclose(decoded, centres, atol=1e-8)
    assert (decoded - x).abs().max() > 0.01  # not the input: bin centres
    images, reports = flow.reconstruct(x, settings)
    assert torch.equal(images, x) and all(r.converged for r in reports)


def test_quantize_maps_each_bin_to_its_grey_level():
    flow = _flow(n_bins=4)
    y = torch.tensor([0.0, 0.2499, 0.25, 0.6, 0.7499, 0.75, 0.9999, 1.0], dtype=torch.float64)
    assert flow.quantize(y).tolist() == [0, 0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1]


def test_dequantize_refuses_noise_of_another_shape():
    flow, x = _flow(), _images(2)
    with pytest.raises(ValueError, match=r"noise must have the images' shape \(2, 1, 8, 8\)"):
        flow.log_prob(x, torch.rand(3, 1, 8, 8, dtype=torch.float64))
