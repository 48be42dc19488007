import math

import pytest
import torch

from mintnet.nn import Dequantize, Logit, bits_per_dim
from tests.nn.helpers import jacobians


@pytest.mark.parametrize("n_bins", [2, 17, 256])
def test_dequantize_stays_in_bin_and_inverts_exactly(n_bins):
    levels = torch.randint(0, n_bins, (4, 1, 5, 5)).double()
    x = levels / (n_bins - 1)
    y, logdet = Dequantize(n_bins)(x)
    assert ((y * n_bins).floor() == levels).all()
    assert torch.equal(Dequantize(n_bins).inverse(y), x)
    assert torch.equal(logdet, torch.zeros(4, dtype=torch.float64))


def test_dequantize_refuses_out_of_range_values():
    with pytest.raises(ValueError, match=r"values in \[0, 1\], got the range \[-0.5, 1.0\]"):
        Dequantize(256)(torch.tensor([[[[-0.5, 1.0]]]]))


def test_dequantize_refuses_nan_pixels():
    """NaN passes both ``< 0`` and ``> 1`` tests; it must still be refused, with a count."""
    x = torch.full((2, 1, 2, 2), 0.5)
    x[1, 0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match=r"values in \[0, 1\], got NaN in 1 of 8 pixels"):
        Dequantize(256)(x)
    flow_input = torch.full((1, 1, 2, 2), float("nan"))
    with pytest.raises(ValueError, match="NaN in 4 of 4 pixels"):
        Dequantize(17)(flow_input)


@pytest.mark.parametrize("lam", [1e-6, 0.05])
def test_logit_round_trip_and_logdet_agree_with_autograd(lam):
    y = torch.rand(3, 2, 3, 3, dtype=torch.float64)
    v, logdet = Logit(lam)(y)
    assert torch.allclose(Logit(lam).inverse(v), y, atol=1e-12)
    jac = jacobians(lambda a: Logit(lam)(a)[0], y)
    assert torch.allclose(torch.linalg.slogdet(jac).logabsdet, logdet, atol=1e-8)


def test_logit_refuses_bad_lambda():
    with pytest.raises(ValueError, match="lam must be in"):
        Logit(0.5)


def test_bits_per_dim_of_the_uniform_density_is_log2_n_bins():
    # The uniform density on [0,1]^D has log p = 0: every n_bins-level image costs log2(n_bins).
    assert bits_per_dim(torch.zeros(3), num_dims=784, n_bins=256).tolist() == [8.0] * 3
    nll = torch.tensor(784 * math.log(2.0))  # one bit per dimension of continuous density
    assert bits_per_dim(-nll, 784, 17).item() == pytest.approx(1.0 + math.log2(17))
