import pytest
import torch

from mintnet.nn import Squeeze


def test_squeeze_matches_hand_worked_example():
    x = torch.arange(8.0).view(1, 2, 2, 2)  # channel 0: [[0,1],[2,3]], channel 1: [[4,5],[6,7]]
    y, logdet = Squeeze()(x)
    # output channel (2*dh + dw)*C + c
    assert y.flatten().tolist() == [0.0, 4.0, 1.0, 5.0, 2.0, 6.0, 3.0, 7.0]
    assert y.shape == (1, 8, 1, 1) and logdet.tolist() == [0.0]


def test_squeeze_round_trip_is_exact():
    x = torch.randn(3, 5, 6, 4)
    y, _ = Squeeze()(x)
    assert y.shape == (3, 20, 3, 2)
    assert torch.equal(Squeeze().inverse(y), x)


@pytest.mark.parametrize("shape", [(1, 1, 3, 4), (1, 1, 4, 5)])
def test_odd_sizes_are_refused(shape):
    with pytest.raises(ValueError, match="even H and W"):
        Squeeze()(torch.zeros(shape))
