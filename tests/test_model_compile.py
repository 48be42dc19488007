"""``model.compile``: false, true / "model" (one graph) or "layers" (each Mint layer)."""

import pytest
import torch

from mintnet.modules import ClassificationModule, DensityModule
from mintnet.modules.compile import RECOMPILES_PER_SHAPE
from mintnet.nn import ImageFlow, MintLayer, MintNet, ResNetClassifier


def _density(compile_choice):
    torch.manual_seed(0)
    return DensityModule(ImageFlow(MintNet((1, 4, 4), 2, 1, 2), n_bins=17), compile=compile_choice)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")  # inductor internals, not ours
def test_layers_compiles_each_mint_layer_and_matches_eager():
    eager, compiled = _density(False), _density("layers")
    compiled.load_state_dict(eager.state_dict())  # same keys: compiling did not rename anything
    layers = [m for m in compiled.modules() if isinstance(m, MintLayer)]
    assert len(layers) == 4
    assert all(layer._compiled_call_impl is not None for layer in layers)
    assert compiled.flow._compiled_call_impl is None  # the flow itself stays eager
    x = torch.randint(0, 17, (3, 1, 4, 4)) / 16
    torch.manual_seed(1)
    bpd = compiled(x)
    torch.manual_seed(1)  # the same dequantisation noise: it is drawn outside the layers
    expected = eager(x)
    assert torch.allclose(bpd, expected, atol=1e-5)
    bpd.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in compiled.parameters())


def test_model_compiles_the_whole_flow():
    module = _density(True)
    assert module.flow._compiled_call_impl is not None


@pytest.mark.parametrize("choice", ["fast", "true", 2])
def test_unknown_choices_are_refused_with_the_valid_ones(choice):
    with pytest.raises(ValueError, match=r"compile must be one of false, true, 'model', "):
        _density(choice)


def test_layers_needs_mint_layers():
    net = ResNetClassifier(3, 10, blocks=(1,), widths=(4,))
    with pytest.raises(ValueError, match="ResNetClassifier has none; use compile=true"):
        ClassificationModule(net, num_classes=10, compile="layers")


def test_layers_allows_a_graph_per_shape_and_mode():
    """Dynamo keeps 8 graphs per code object by default, and all Mint layers share one: a model
    with more stage shapes would silently fall back to eager without a larger limit."""
    # torch's own patcher: pytest's monkeypatch leaves a torch config entry deleted on undo
    with torch._dynamo.config.patch(recompile_limit=8):
        torch.manual_seed(0)
        net = MintNet((1, 8, 8), 3, 2, 4)  # three stage shapes: 1x8x8, 4x4x4, 16x2x2
        DensityModule(ImageFlow(net, n_bins=17), compile="layers")
        assert torch._dynamo.config.recompile_limit >= RECOMPILES_PER_SHAPE * 3
    assert torch._dynamo.config.recompile_limit >= 8  # still readable afterwards
