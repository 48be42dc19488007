"""The importer of the authors' checkpoints: same numbers after the import, and clear refusals."""

import logging
from pathlib import Path

import hydra
import pytest
import torch

from mintnet.checkpoint import (
    CheckpointError,
    convert_official_state,
    import_official,
    load_flow_from_checkpoint,
    load_module,
    prepare_resume,
    read_checkpoint,
    save_file,
)
from mintnet.checkpoint.official import experiment_model, parse_official
from mintnet.config import ConfigError
from mintnet.nn import ImageFlow, MintClassifier, MintNet
from tests.analysis.helpers import DIGIT_BINS, digits
from tests.checkpoint.authors_format import authors_file, authors_state_dict, randomise

TOL = {torch.float32: 1e-6, torch.float64: 1e-10}


def _module(experiment: str, seed: int = 0) -> torch.nn.Module:
    module = hydra.utils.instantiate(experiment_model(experiment).config)
    randomise(module, seed)
    return module.eval()


@pytest.fixture(scope="module")
def density() -> torch.nn.Module:
    """The ``digits_density`` model (4 pairs, K = 8 then 2) with random weights."""
    return _module("digits_density")


@pytest.fixture(scope="module")
def classifier() -> torch.nn.Module:
    """The ``digits_classification`` MintNet (4 pairs, BatchNorm before each layer)."""
    return _module("digits_classification", seed=1)


def _write(payload, tmp_path: Path, name: str = "checkpoint.pth") -> Path:
    path = tmp_path / name
    torch.save(payload, path)
    return path


def _bits_per_dim(flow: ImageFlow, x: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(5)  # the same dequantisation noise for both models
    with torch.no_grad():
        return flow(x)


# the numbers survive the import -----------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n_layers, groups", [(2, 2), (3, [3, 2]), (4, 8)])
def test_key_map_keeps_bits_per_dim_and_samples(tmp_path, dtype, n_layers, groups):
    net = MintNet((1, 8, 8), n_layers=n_layers, n_squeezes=1, hidden_groups=groups)
    flow = ImageFlow(net, n_bins=DIGIT_BINS).to(dtype).eval()
    randomise(flow, seed=n_layers)
    official = parse_official(authors_file(flow.net), tmp_path / "checkpoint.pth")
    twin = ImageFlow(
        MintNet((1, 8, 8), n_layers=n_layers, n_squeezes=1, hidden_groups=groups),
        n_bins=DIGIT_BINS,
    ).to(dtype)
    twin.load_state_dict(convert_official_state(official, twin))
    twin.eval()
    x = digits()[:32].to(dtype)
    expected = _bits_per_dim(flow, x)
    assert torch.allclose(_bits_per_dim(twin, x), expected, atol=TOL[dtype], rtol=0)
    z = torch.randn(4, *net.latent_shape, dtype=dtype)
    assert torch.allclose(twin.decode(z)[0], flow.decode(z)[0], atol=TOL[dtype], rtol=0)


def test_imported_density_checkpoint_evaluates_and_samples_as_the_original(density, tmp_path):
    path = _write(authors_file(density.flow.net), tmp_path)
    checkpoint, official, model = import_official(path, "digits_density")
    assert (official.epoch, official.step, model.kind) == (7, 123, "density")
    assert checkpoint["mintnet"]["imported"] == {
        "file": str(path.resolve()),
        "experiment": "digits_density",
        "epoch": 7,
        "step": 123,
        "ema": False,
    }
    out = save_file(checkpoint, tmp_path / "imported.ckpt")
    module = load_module(out)
    x = digits()[:32]
    expected = _bits_per_dim(density.flow, x)
    assert torch.allclose(_bits_per_dim(module.flow, x), expected, atol=1e-6, rtol=0)
    flow = load_flow_from_checkpoint(out)  # what mintnet-sample and the notebooks read
    z = torch.randn(4, *flow.net.latent_shape)
    assert torch.allclose(flow.decode(z)[0], density.flow.decode(z)[0], atol=1e-6, rtol=0)


def test_imported_classifier_gives_the_same_logits(classifier, tmp_path):
    file = authors_file(classifier.net)
    assert len(file) == 4 and "module.layers.0.0.running_mean" in file[0]
    checkpoint, official, _ = import_official(_write(file, tmp_path), "digits_classification")
    assert official.kind == "classification"
    module = load_module(save_file(checkpoint, tmp_path / "imported.ckpt"))
    assert int(module.net.layers[0].num_batches_tracked) == 11
    x = digits()[:32]
    with torch.no_grad():
        assert torch.allclose(module(x), classifier(x), atol=1e-6, rtol=0)


def test_ema_weights_are_taken_with_ema(density, tmp_path):
    ema_model = _module("digits_density", seed=9)
    ema = {  # the authors' EMA: parameters only, without "module."
        key.removeprefix("module."): value
        for key, value in authors_state_dict(ema_model.flow.net).items()
        if "mask" not in key
    }
    path = _write(authors_file(density.flow.net, ema=ema), tmp_path)
    plain, official, _ = import_official(path, "digits_density")
    with_ema, _, _ = import_official(path, "digits_density", ema=True)
    assert official.ema is not None and with_ema["mintnet"]["imported"]["ema"] is True
    key = "flow.net.layers.5.weight2"
    assert torch.equal(plain["state_dict"][key], density.state_dict()[key])
    assert torch.equal(with_ema["state_dict"][key], ema_model.state_dict()[key])
    incomplete = dict(ema)
    del incomplete["layers.3.1.t"]
    path = _write(authors_file(density.flow.net, ema=incomplete), tmp_path, "partial.pth")
    with pytest.raises(CheckpointError, match="the EMA weights lack layers.3.1.t"):
        import_official(path, "digits_density", ema=True)


def test_ema_asked_of_a_file_without_it_is_refused(density, tmp_path):
    path = _write(authors_file(density.flow.net), tmp_path)
    with pytest.raises(CheckpointError, match=rf"{path} has no EMA weights .*leave out --ema"):
        import_official(path, "digits_density", ema=True)


@pytest.mark.parametrize("prefix", ["module.", ""])
def test_a_bare_state_dict_with_or_without_module_prefix_is_read(density, tmp_path, prefix):
    state = {
        prefix + key.removeprefix("module."): value
        for key, value in authors_state_dict(density.flow.net).items()
    }
    checkpoint, official, _ = import_official(_write(state, tmp_path), "digits_density")
    assert official.epoch is None and "no epoch or step recorded" in official.describe()
    key = "flow.net.layers.0.t"
    assert torch.equal(checkpoint["state_dict"][key], density.state_dict()[key])


# refusals ----------------------------------------------------------------------------------------
def _corrupt_key(file):
    file[0]["module.layers.0.1.weight_2"] = file[0].pop("module.layers.0.1.weight2")


def _corrupt_shape(file):
    file[0]["module.layers.3.0.weight1"] = torch.zeros(8, 4, 1, 1)


def _corrupt_mask(file):
    file[0]["module.layers.0.1.mask2"][3, 0, 0, 0] = 1.0  # channel 0 -> 0 before the centre tap


def _corrupt_centre_mask(file):
    file[0]["module.layers.4.0.center_mask3"][1, 2, 1, 1] = 1.0


def _extra_pair(file):
    file[0]["module.layers.5.0.weight1"] = torch.zeros(8, 4, 3, 3)


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (
            _corrupt_key,
            r"has no module.layers.0.1.weight2 \(shape \(8, 8, 3, 3\)\), which the model of "
            r"experiment digits_density has \(and 1 more difference\)",
        ),
        (
            _corrupt_shape,
            r"has module.layers.3.0.weight1 of shape \(8, 4, 1, 1\) where the model of "
            r"experiment digits_density has \(8, 4, 3, 3\)$",
        ),
        (
            _corrupt_mask,
            r"has a module.layers.0.1.mask2 that differs from the upper block mask at 1 of 576 "
            r"entries, first at \[3, 0, 0, 0\] \(file 1, expected 0\)",
        ),
        (
            _corrupt_centre_mask,
            r"has a module.layers.4.0.center_mask3 that differs from the diagonal centre-tap "
            r"mask at 1 of 288 entries, first at \[1, 2, 1, 1\] \(file 1, expected 0\)",
        ),
        (_extra_pair, r"has module.layers.5.0.weight1, which the model of experiment"),
    ],
)
def test_another_architecture_is_refused_naming_the_first_difference(
    density, tmp_path, corrupt, message
):
    file = authors_file(density.flow.net)
    corrupt(file)
    path = _write(file, tmp_path)
    target = "the model of experiment digits_density"
    expected = rf"checkpoint {path} is of another architecture than {target}: the file {message}"
    with pytest.raises(CheckpointError, match=expected):
        import_official(path, "digits_density")


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda f: f.__setitem__(2, "7"), r"entry 2 \(epoch\) must be an integer, got a str"),
        (lambda f: f.__setitem__(3, 1.5), r"entry 3 \(step\) must be an integer, got a float"),
        (
            lambda f: f.__setitem__(1, [1]),
            r"entry 1 \(optimizer state\) must be a dict, got a list",
        ),
        (
            lambda f: f[0].__setitem__("module.layers.0.0.t", [1.0]),
            r"entry 0 \(model state\) must map names to tensors; its key "
            r"'module.layers.0.0.t' holds a list of 1 entry",
        ),
        (lambda f: f.append({"x": 1}), r"entry 5 \(EMA weights\) must map names to tensors"),
        (lambda f: f.__delitem__(slice(2, None)), r"is a list of 2 entries; the authors'"),
    ],
)
def test_a_broken_list_entry_is_refused_naming_it(density, tmp_path, corrupt, message):
    file = authors_file(density.flow.net)
    corrupt(file)
    path = _write(file, tmp_path)
    with pytest.raises(CheckpointError, match=rf"checkpoint {path}: {message}|{path} {message}"):
        import_official(path, "digits_density")


def test_a_classification_file_for_a_density_experiment_is_refused(classifier, tmp_path):
    path = _write(authors_file(classifier.net), tmp_path)
    with pytest.raises(
        CheckpointError,
        match=rf"{path} is from a classification run, and experiment digits_density is a "
        r"density model; use one of --experiment mnist_classification, cifar10_classification",
    ):
        import_official(path, "digits_density")


def test_a_density_file_for_a_classification_experiment_is_refused(density, tmp_path):
    path = _write(authors_file(density.flow.net), tmp_path)
    with pytest.raises(CheckpointError, match=r"is from a density run, and experiment mnist_c"):
        import_official(path, "mnist_classification")


def test_a_paper_sized_experiment_names_the_first_difference(density, tmp_path):
    path = _write(authors_file(density.flow.net), tmp_path)
    with pytest.raises(
        CheckpointError,
        match=r"has module.layers.0.0.weight1 of shape \(8, 1, 3, 3\) where the model of "
        r"experiment mnist_density has \(45, 1, 3, 3\)",
    ):
        import_official(path, "mnist_density")


class Gadget:
    """Any pickled object other than tensors and plain containers."""


def test_a_pickled_object_is_refused_without_unpickling_it(density, tmp_path):
    file = authors_file(density.flow.net)
    file[1] = {"state": {}, "param_groups": [], "hook": Gadget()}
    path = _write(file, tmp_path)
    with pytest.raises(CheckpointError, match=rf"\({__name__}.Gadget\).*never unpickles code"):
        import_official(path, "digits_density")


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"a": 1}, r"is not in the format of the authors' checkpoints: .* got a dict of 1"),
        ({"w": torch.ones(1)}, r"holds no MintNet layers: no key like module.layers.0.0.weight1"),
        (
            {"module.layers.0.0.weight1": torch.ones(1), "layers.0.0.bias1": torch.ones(1)},
            r"some keys of the model state start with 'module.' and some do not "
            r"\(e.g. 'layers.0.0.bias1'\)",
        ),
    ],
)
def test_other_files_are_refused(tmp_path, payload, message):
    path = _write(payload, tmp_path)
    with pytest.raises(CheckpointError, match=message):
        import_official(path, "digits_density")


def test_a_mintnet_checkpoint_is_not_imported_again(density, tmp_path):
    checkpoint, _, _ = import_official(
        _write(authors_file(density.flow.net), tmp_path), "digits_density"
    )
    out = save_file(checkpoint, tmp_path / "imported.ckpt")
    with pytest.raises(CheckpointError, match=rf"{out} is already a mintnet checkpoint"):
        import_official(out, "digits_density")


@pytest.mark.parametrize(
    "experiment, message",
    [
        ("nope", r"experiment 'nope' is not in conf/experiment/; the authors released mnist_"),
        ("mnist_resnet_classification", r"builds a mintnet.nn.ResNetClassifier, not a MintNet"),
    ],
)
def test_experiments_without_an_authors_model_are_refused(tmp_path, experiment, message):
    with pytest.raises(ConfigError, match=message):
        import_official(tmp_path / "checkpoint.pth", experiment)


def test_the_other_tools_point_an_authors_file_to_the_importer(density, tmp_path):
    path = _write(authors_file(density.flow.net), tmp_path)
    hint = rf"{path} is in the format of the MintNet authors' .* mintnet-import-official {path}"
    with pytest.raises(CheckpointError, match=hint):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match=hint):
        load_flow_from_checkpoint(path)


def test_paper_experiments_build_the_authors_layout():
    """The five released architectures have the authors' parameter shapes (paper, Section 4)."""
    from mintnet.checkpoint import official_layout

    shapes = {}
    for name in ("mnist_density", "mnist_classification"):
        with torch.device("meta"):
            module = hydra.utils.instantiate(experiment_model(name).config)
        shapes[name] = {k: e.shape for k, e in official_layout(module).items()}
    density, classifier = shapes["mnist_density"], shapes["mnist_classification"]
    assert density["layers.0.0.weight2"] == (45, 45, 3, 3)
    assert density["layers.0.1.t"] == (1, 1, 28, 28)
    assert "layers.6.0.weight1" not in density  # the squeeze before pair 6
    assert density["layers.7.0.weight1"] == (44, 4, 3, 3)  # K = 11 at 4 x 14 x 14
    assert density["layers.14.1.weight3"] == (16, 32, 3, 3)  # K = 2 at 16 x 7 x 7
    assert max(int(k.split(".")[1]) for k in density) == 21  # 20 pairs + 2 squeezes - 1
    assert classifier["layers.0.0.running_mean"] == (16,)
    assert classifier["layers.20.3.t"] == (1, 256, 7, 7)
    assert classifier["fc.weight"] == (10, 256)


# fine-tuning from an imported checkpoint --------------------------------------------------------
def test_training_from_an_imported_checkpoint_starts_with_a_fresh_optimizer(
    density, tmp_path, caplog
):
    checkpoint, _, _ = import_official(
        _write(authors_file(density.flow.net), tmp_path), "digits_density"
    )
    path = save_file(checkpoint, tmp_path / "imported.ckpt")
    fresh = hydra.utils.instantiate(experiment_model("digits_density").config)
    with caplog.at_level(logging.INFO):
        assert prepare_resume(path, fresh) is None  # nothing for Lightning to restore
    assert "holds weights only (imported from" in caplog.text
    assert "epoch 7, step 123" in caplog.text and "a fresh optimizer" in caplog.text
    for key, value in density.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    other = hydra.utils.instantiate(experiment_model("fashion_mnist_density").config)
    with pytest.raises(CheckpointError, match="is of another model than this config builds"):
        prepare_resume(path, other)


def test_a_full_training_checkpoint_is_left_to_lightning(density, tmp_path):
    checkpoint, _, _ = import_official(
        _write(authors_file(density.flow.net), tmp_path), "digits_density"
    )
    checkpoint["optimizer_states"] = [{}]  # what a mintnet-train checkpoint also holds
    path = save_file(checkpoint, tmp_path / "full.ckpt")
    fresh = hydra.utils.instantiate(experiment_model("digits_density").config)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    assert prepare_resume(path, fresh) == str(path)
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in before.items())
    assert prepare_resume(None, fresh) is None


def test_a_classifier_is_found_inside_its_module(classifier):
    from mintnet.checkpoint import official_layout

    layout = official_layout(classifier)
    assert isinstance(classifier.net, MintClassifier)
    assert layout["fc.weight"].ours == "net.head.weight"
    assert layout["layers.0.1.weight1"].ours == "net.layers.1.weight1"
    assert "layers.2.0.weight" not in layout  # the squeeze: net.layers.8 here
    assert layout["layers.3.0.weight"].ours == "net.layers.9.weight"


def test_the_paper_mnist_density_model_round_trips(tmp_path):
    """Table 2's MNIST model (40 Mint layers, K = 45, 11, 2) through the whole import."""
    module = _module("mnist_density", seed=3)
    randomise(module, seed=3, scale=0.02)
    path = _write(authors_file(module.flow.net, epoch=599, step=1_125_000), tmp_path)
    checkpoint, official, _ = import_official(path, "mnist_density")
    assert (official.epoch, official.step) == (599, 1_125_000)
    imported = load_module(save_file(checkpoint, tmp_path / "imported.ckpt"))
    x = torch.rand(2, 1, 28, 28)
    expected = _bits_per_dim(module.flow, x)
    assert torch.isfinite(expected).all()
    assert torch.allclose(_bits_per_dim(imported.flow, x), expected, atol=1e-6, rtol=0)


def test_mintnet_train_fine_tunes_an_imported_checkpoint(density, tmp_path, compose_cfg, caplog):
    from mintnet.train import train
    from tests.conftest import FAST_TRAINER

    checkpoint, _, _ = import_official(
        _write(authors_file(density.flow.net), tmp_path), "digits_density"
    )
    path = save_file(checkpoint, tmp_path / "imported.ckpt")
    overrides = ["experiment=digits_density", "logger=none", f"ckpt_path={path}", "test=false"]
    cfg = compose_cfg(overrides + FAST_TRAINER + ["callbacks.sample_images=null"])
    with caplog.at_level(logging.INFO):
        result = train(cfg)
    assert f"Checkpoint {path} holds weights only" in caplog.text
    saved = read_checkpoint(result.output_dir / "checkpoints" / "last.ckpt")
    assert saved["global_step"] == 3  # counted from 0, not from the authors' step 123
    moved = saved["state_dict"]["flow.net.layers.0.weight2"]
    start = density.state_dict()["flow.net.layers.0.weight2"]
    assert 0 < (moved - start).abs().max() < 0.1  # a few steps from the imported weights


def test_a_classifier_with_a_1x1_middle_kernel_is_refused_with_the_reason(classifier, tmp_path):
    file = authors_file(classifier.net)
    for name in ("weight2", "mask2", "center_mask2"):
        file[0][f"module.layers.0.1.{name}"] = file[0][f"module.layers.0.1.{name}"][..., 1:2, 1:2]
    path = _write(file, tmp_path)
    with pytest.raises(
        CheckpointError,
        match=r"has module.layers.0.1.weight2 of shape \(16, 16, 1, 1\) where the model of "
        r"experiment digits_classification has \(16, 16, 3, 3\) \(a 1x1 middle convolution, as "
        r"the authors' classifier code built before December 2020; .*\) \(and 2 more differences",
    ):
        import_official(path, "digits_classification")
