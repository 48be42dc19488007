import pytest
import torch

from mintnet.checkpoint import CheckpointError, flow_config, load_flow_from_checkpoint, save_flow
from mintnet.modules.base import CHECKPOINT_KEY
from mintnet.modules.density import DensityModule
from mintnet.nn import ImageFlow, InverseSettings, MintNet
from tests.analysis.helpers import DIGIT_BINS, digits, tiny_flow


def test_round_trip_keeps_architecture_and_weights(trained_flow, flow_ckpt):
    loaded = load_flow_from_checkpoint(flow_ckpt)
    assert not loaded.training
    assert flow_config(loaded) == flow_config(trained_flow)
    x = digits()[:4]
    assert torch.equal(loaded.encode(x), trained_flow.encode(x))


def test_config_records_settings_and_dtype(tmp_path):
    settings = InverseSettings(0.5, 7, 1e-3, "raise", "anderson", 4, False)
    net = MintNet((1, 8, 8), 2, 1, [3, 1], inversion=settings)
    flow = ImageFlow(net, n_bins=DIGIT_BINS).double()
    loaded = load_flow_from_checkpoint(save_flow(flow, tmp_path / "f.ckpt"))
    config = flow_config(loaded)
    assert config["mintnet"]["hidden_groups"] == [3, 1]
    assert config["mintnet"]["inversion"] == {
        "alpha": 0.5,
        "max_iter": 7,
        "tol": 1e-3,
        "on_fail": "raise",
        "method": "anderson",
        "anderson_memory": 4,
        "refine_in_float64": False,
    }
    assert config["dtype"] == "float64" and loaded.net.param_dtype == torch.float64


def test_plain_format_loads_with_weights_only(flow_ckpt):
    payload = torch.load(flow_ckpt, weights_only=True)
    assert set(payload) == {"mintnet_flow"}


def _training_checkpoint(path, flow, **net_config):
    """``path`` written as an older ``mintnet-train`` did: Lightning's state_dict of a density
    module around ``flow`` plus the resolved model config in the layout of then (``net``,
    ``n_bins`` and ``logit_lam`` beside the module's arguments; ``net`` extended by
    ``net_config``)."""
    module = DensityModule(flow)
    config = {
        "_target_": "mintnet.modules.density.DensityModule",
        "n_bins": DIGIT_BINS,
        "logit_lam": 0.05,
        "net": {
            "_target_": "mintnet.nn.MintNet",
            "in_shape": [1, 8, 8],
            "n_layers": 2,
            "n_squeezes": 1,
            "hidden_groups": 2,
            **net_config,
        },
    }
    torch.save({"state_dict": module.state_dict(), CHECKPOINT_KEY: {"model": config}}, path)
    return path


def test_training_checkpoint_is_read_through_load_module(tmp_path):
    """A ``mintnet-train`` checkpoint: Lightning's state_dict plus the resolved model config."""
    flow = tiny_flow()
    loaded = load_flow_from_checkpoint(_training_checkpoint(tmp_path / "epoch=0.ckpt", flow))
    x = digits()[:2]
    assert torch.equal(loaded.encode(x), flow.encode(x))


def test_a_training_checkpoint_written_before_the_solver_choice_inverts_as_then(tmp_path):
    old_settings = {"_target_": "mintnet.nn.InverseSettings", "alpha": 0.5, "max_iter": 7}
    path = _training_checkpoint(tmp_path / "epoch=0.ckpt", tiny_flow(), inversion=old_settings)
    inversion = flow_config(load_flow_from_checkpoint(path))["mintnet"]["inversion"]
    assert (inversion["method"], inversion["alpha"], inversion["max_iter"]) == (
        "fixed_point",
        0.5,
        7,
    )
    assert InverseSettings().method == "anderson"  # what a file naming its solver gets today


def test_missing_file_is_refused(tmp_path):
    path = tmp_path / "nope.ckpt"
    with pytest.raises(CheckpointError, match=f"{path} does not exist"):
        load_flow_from_checkpoint(path)


def test_foreign_torch_file_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match=f"{path} is not a mintnet checkpoint"):
        load_flow_from_checkpoint(path)


def test_non_torch_file_is_refused(tmp_path):
    path = tmp_path / "notes.ckpt"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match=f"{path} cannot be read as a PyTorch checkpoint"):
        load_flow_from_checkpoint(path)


def test_broken_plain_format_is_refused(tmp_path):
    path = tmp_path / "broken.ckpt"
    torch.save({"mintnet_flow": {"config": {"mintnet": {}}, "state_dict": {}}}, path)
    with pytest.raises(CheckpointError, match="cannot rebuild the flow"):
        load_flow_from_checkpoint(path)


class Gadget:
    """Stands for any pickled object that is not a tensor or a plain container."""


def test_a_pickled_object_is_refused_in_mintnets_words(tmp_path):
    path = tmp_path / "gadget.ckpt"
    torch.save({"state_dict": {"w": torch.ones(1)}, "extra": Gadget()}, path)
    with pytest.raises(CheckpointError) as info:
        load_flow_from_checkpoint(path)
    message = str(info.value)
    assert f"checkpoint {path} holds a pickled Python object ({__name__}.Gadget)" in message
    assert "mintnet never unpickles code" in message
    assert "save its tensors alone" in message
    assert "weights_only` set to `False`" not in message and "Re-running" not in message


def test_a_file_written_before_the_solver_choice_loads_with_the_papers_iteration(tmp_path):
    net = MintNet((1, 8, 8), 2, 1, [3, 1], inversion=InverseSettings(0.5, 7, 1e-3, "raise"))
    path = save_flow(ImageFlow(net, n_bins=DIGIT_BINS), tmp_path / "f.ckpt")
    payload = torch.load(path, weights_only=True)
    settings = payload["mintnet_flow"]["config"]["mintnet"]["inversion"]
    del settings["method"], settings["anderson_memory"]
    torch.save(payload, path)
    loaded = load_flow_from_checkpoint(path)
    assert flow_config(loaded)["mintnet"]["inversion"]["method"] == "fixed_point"
