"""The stack of Mint layers that the flow and the classifier share, and the one meaning of K."""

import pytest
import torch

from mintnet.nn import MintClassifier, MintLayer, MintNet, Squeeze
from mintnet.nn.stack import hidden_groups_per_scale, squeeze_positions


def test_squeeze_positions_and_groups_follow_the_paper():
    assert squeeze_positions(20, 2) == [6, 12]
    assert squeeze_positions(21, 2) == [7, 14]
    assert hidden_groups_per_scale(85, 2) == [85, 21, 5]
    assert hidden_groups_per_scale(1, 2) == [1, 1, 1]  # the paper's classifier
    assert hidden_groups_per_scale([3, 2], 1) == [3, 2]


def _mint_layers(net: torch.nn.Module) -> list[tuple]:
    return [
        ("squeeze",) if isinstance(m, Squeeze) else (m.shape, m.hidden_groups, m.kind)
        for m in net.layers
        if isinstance(m, MintLayer | Squeeze)
    ]


@pytest.mark.parametrize("hidden_groups", [1, 8, [3, 2]])
def test_the_flow_and_the_classifier_stack_the_same_mint_layers(hidden_groups):
    args = {"n_layers": 3, "n_squeezes": 1, "hidden_groups": hidden_groups}
    flow = MintNet((16, 8, 8), **args)
    classifier = MintClassifier(1, 10, (8, 8), padded_channels=16, **args)
    assert _mint_layers(classifier) == _mint_layers(flow)
    norms = [m for m in classifier.layers if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 6  # one before each Mint layer
    for position, layer in enumerate(classifier.layers):
        if isinstance(layer, MintLayer):
            assert isinstance(classifier.layers[position - 1], torch.nn.BatchNorm2d)


def test_the_paper_classifier_keeps_k_one_at_every_scale():
    net = MintClassifier(1, 10, (28, 28), n_layers=19, n_squeezes=2, hidden_groups=1)
    assert {m.hidden_groups for m in net.layers if isinstance(m, MintLayer)} == {1}
    classifier = MintClassifier(1, 10, (8, 8), n_layers=3, n_squeezes=1, hidden_groups=8)
    assert [m.hidden_groups for m in classifier.layers if isinstance(m, MintLayer)] == [
        8, 8, 2, 2, 2, 2
    ]  # fmt: skip
