"""The experiment configs (``conf/experiment``): each builds its model for its data, the paper's
sizes and training settings hold, and the CPU recipes train end to end."""

import math
from pathlib import Path
from typing import Any

import hydra
import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import mintnet.data.mnist
from mintnet.analysis import load_flow_from_checkpoint
from mintnet.config import fill_from_data
from mintnet.modules import ClassificationModule, DensityModule
from mintnet.nn import MintClassifier, MintLayer, MintNet, ResNetClassifier, Squeeze
from mintnet.train import train
from tests.conftest import CONF_DIR, FAST_TRAINER
from tests.data.formats import write_mnist

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
PAPER = [name for name in EXPERIMENTS if not name.startswith(("digits", "fashion"))]
CPU = [name for name in EXPERIMENTS if name not in PAPER]


def net_type(name: str) -> type[torch.nn.Module]:
    if name.endswith("_density"):
        return MintNet
    return ResNetClassifier if "resnet" in name else MintClassifier


class Built:
    """An experiment composed, its data module constructed (no files read) and its model built."""

    def __init__(self, name: str, data_dir: Path) -> None:
        self.name = name
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            self.cfg: DictConfig = compose(
                config_name="train",
                overrides=[
                    f"experiment={name}",
                    f"paths.data_dir={data_dir}",
                    f"paths.output_dir={data_dir / 'run'}",
                ],
            )
        self.datamodule: pl.LightningDataModule = hydra.utils.instantiate(self.cfg.data)
        fill_from_data(self.cfg.model, self.datamodule)
        self.module: pl.LightningModule = hydra.utils.instantiate(self.cfg.model)
        self.net: torch.nn.Module = getattr(self.module, "flow", self.module).net
        self.optimizers: dict[str, Any] = self.module.configure_optimizers()

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.optimizers["optimizer"]

    @property
    def scheduler(self) -> dict[str, Any]:
        return self.optimizers["lr_scheduler"]

    def alpha(self) -> float:
        """The fixed-point step size of the flow's Mint layers (all the same)."""
        alphas = {m.inversion.alpha for m in self.net.modules() if isinstance(m, MintLayer)}
        assert len(alphas) == 1, alphas
        return alphas.pop()

    def mint_layers(self) -> list[MintLayer]:
        return [m for m in self.net.modules() if isinstance(m, MintLayer)]


@pytest.fixture(scope="module")
def _built_cache() -> dict[str, Built]:
    return {}


@pytest.fixture
def built(
    request: pytest.FixtureRequest, _built_cache: dict[str, Built], tmp_path_factory
) -> Built:
    """The :class:`Built` experiment named by the (indirect) parameter, built once per module:
    the paper's models have up to 27M parameters and take seconds to build."""
    name = request.param
    if name not in _built_cache:
        _built_cache[name] = Built(name, tmp_path_factory.mktemp("no_data"))
    return _built_cache[name]


@pytest.mark.parametrize("built", EXPERIMENTS, indirect=True)
def test_every_experiment_builds_its_model_for_its_data(built):
    name = built.name
    density = name.endswith("_density")
    assert isinstance(built.module, DensityModule if density else ClassificationModule), name
    assert isinstance(built.net, net_type(name)), (name, type(built.net))
    assert name.startswith(built.datamodule.name), (name, built.datamodule.name)
    assert built.cfg.monitor.metric == ("val/bpd" if density else "val/acc"), name
    assert built.cfg.task_name == name
    tags = set(built.cfg.tags)
    assert ("paper" in tags) == (name in PAPER) and ("cpu" in tags) == (name in CPU), tags


@pytest.mark.parametrize("built", CPU, indirect=True)
def test_cpu_experiments_run_a_batch_at_the_data_shape(built):
    dm = built.datamodule
    with torch.no_grad():
        out = built.module.eval()(torch.rand(2, *dm.image_shape))
    expected = (2,) if built.name.endswith("_density") else (2, dm.num_classes)
    assert out.shape == expected and out.isfinite().all(), built.name


@pytest.mark.parametrize(
    ("built", "expected", "rel"),
    [
        ("mnist_density", 805_272, 0.0),  # exactly the released MNIST flow
        ("cifar10_density", 27.46e6, 1e-3),
        ("imagenet32_density", 27.46e6, 1e-3),
        ("mnist_classification", 26.69e6, 1e-3),
        ("cifar10_classification", 26.83e6, 1e-3),
    ],
    indirect=["built"],
)
def test_paper_models_have_the_paper_parameter_counts(built, expected, rel):
    """The parameter counts of the authors' released models: trainable parameters, counting the
    masked weight tensors whole."""
    assert built.n_params == pytest.approx(expected, rel=rel, abs=0)


@pytest.mark.parametrize(
    ("built", "n_mint_layers", "n_squeezes", "groups"),
    [
        ("mnist_density", 40, 2, {45, 11, 2}),
        ("cifar10_density", 42, 2, {85, 21, 5}),
        ("imagenet32_density", 42, 2, {85, 21, 5}),
        ("mnist_classification", 38, 2, {1}),
        ("cifar10_classification", 38, 2, {1}),
    ],
    indirect=["built"],
)
def test_paper_models_have_the_paper_layout(built, n_mint_layers, n_squeezes, groups):
    layers = built.mint_layers()
    assert len(layers) == n_mint_layers
    assert sum(isinstance(m, Squeeze) for m in built.net.modules()) == n_squeezes
    assert {m.hidden_groups for m in layers} == groups


@pytest.mark.parametrize(
    ("built", "lam", "augment"),
    [
        ("mnist_density", 1e-6, []),
        ("cifar10_density", 0.05, ["hflip"]),
        ("imagenet32_density", 0.05, []),
    ],
    indirect=["built"],
)
def test_density_experiments_use_the_paper_settings(built, lam, augment):
    assert built.module.flow.logit.lam == pytest.approx(lam)
    # the inverse is the project's default solver, capped at the paper's 100 updates per layer
    inverse = {(m.inversion.method, m.inversion.max_iter) for m in built.mint_layers()}
    assert inverse == {("anderson", 100)} and built.alpha() == 1.0
    assert built.datamodule.batch_size == 32 and built.datamodule.augment == augment
    opt = built.optimizer
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["amsgrad"]
    assert (opt.defaults["lr"], opt.defaults["eps"], opt.defaults["weight_decay"]) == (
        1e-3,
        1e-4,
        0.0,
    )


@pytest.mark.parametrize("built", ["mnist_density"], indirect=True)
def test_mnist_density_divides_the_rate_by_ten_at_250_350_450(built):
    scheduler = built.scheduler["scheduler"]
    assert isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR)
    assert sorted(scheduler.milestones.elements()) == [250, 350, 450]
    assert scheduler.gamma == 0.1 and built.scheduler["interval"] == "epoch"
    assert built.cfg.trainer.max_epochs == 600


@pytest.mark.parametrize(
    ("built", "interval", "length"),
    [
        ("cifar10_density", "epoch", 300),
        ("imagenet32_density", "step", 350_000),
        ("mnist_classification", "epoch", 200),
        ("cifar10_classification", "epoch", 200),
        ("mnist_resnet_classification", "epoch", 200),
        ("cifar10_resnet_classification", "epoch", 200),
    ],
    indirect=["built"],
)
def test_cosine_schedules_anneal_to_zero_over_the_whole_run(built, interval, length):
    scheduler = built.scheduler["scheduler"]
    assert isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR)
    assert (scheduler.T_max, scheduler.eta_min) == (length, 0.0)
    assert built.scheduler["interval"] == interval
    trainer = built.cfg.trainer
    assert (trainer.max_steps if interval == "step" else trainer.max_epochs) == length


CIFAR_MEAN, CIFAR_STD = [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]


@pytest.mark.parametrize(
    ("built", "augment", "padding", "mean", "std"),
    [
        ("mnist_classification", ["random_crop"], 2, [0.5], [0.5]),
        ("mnist_resnet_classification", ["random_crop"], 2, [0.5], [0.5]),
        ("cifar10_classification", ["hflip", "random_crop"], 4, CIFAR_MEAN, CIFAR_STD),
        ("cifar10_resnet_classification", ["hflip", "random_crop"], 4, CIFAR_MEAN, CIFAR_STD),
    ],
    indirect=["built"],
)
def test_classification_experiments_use_the_paper_settings(built, augment, padding, mean, std):
    dm = built.datamodule
    assert dm.batch_size == 128
    assert sorted(dm.augment) == augment and dm.crop_padding == padding
    assert built.module.mean.flatten().tolist() == pytest.approx(mean)
    assert built.module.std.flatten().tolist() == pytest.approx(std)
    opt = built.optimizer
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["amsgrad"]
    assert (opt.defaults["lr"], opt.defaults["eps"], opt.defaults["weight_decay"]) == (
        1e-3,
        1e-4,
        1e-4,
    )


@pytest.mark.parametrize(
    "built", ["mnist_resnet_classification", "cifar10_resnet_classification"], indirect=True
)
def test_resnet_baselines_have_the_mintnet_classifier_layout(built):
    """12/12/14 residual blocks at 16/64/256 channels, like the classifier's 6/6/7 pairs."""
    assert list(built.cfg.model.net.blocks) == [12, 12, 14]
    assert list(built.cfg.model.net.widths) == [16, 64, 256]
    assert len(built.net.blocks) == 38 and built.net.head.in_features == 256
    # three 3x3 convolutions per block, as the authors' baseline: ~25.8 M parameters
    assert sum(p.numel() for p in built.net.parameters()) == pytest.approx(25.8e6, rel=0.01)


QUIET = ["logger=csv", "callbacks.sample_images.n_samples=4"]


@pytest.mark.slow
def test_digits_density_experiment_trains_and_its_checkpoint_inverts(compose_cfg):
    cfg = compose_cfg(["experiment=digits_density", *FAST_TRAINER, *QUIET])
    result = train(cfg)
    assert math.isfinite(result.metrics["test/bpd"]), result.metrics
    flow = load_flow_from_checkpoint(result.checkpoint)
    assert flow.net.in_shape == (1, 8, 8)
    x = torch.rand(4, 1, 8, 8)
    v = flow.centre_logits(x)
    z, _ = flow.net(v)
    assert torch.allclose(flow.net.inverse(z), v, atol=1e-4)


@pytest.mark.slow
def test_digits_classification_experiment_trains(compose_cfg):
    result = train(compose_cfg(["experiment=digits_classification", *FAST_TRAINER, *QUIET]))
    assert 0.0 <= result.metrics["test/acc"] <= 1.0
    assert math.isfinite(result.metrics["test/loss"])


@pytest.mark.slow
@pytest.mark.parametrize("task", ["density", "classification"])
def test_fashion_mnist_experiments_train_on_idx_files(compose_cfg, tmp_path, monkeypatch, task):
    """On a few made-up images in the Fashion-MNIST layout (the real files may be absent)."""
    monkeypatch.setattr(mintnet.data.mnist, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "none")
    root = tmp_path / "datasets"
    write_mnist(root / "FashionMNIST" / "raw", n_train=20, n_test=6)
    fast = [o.replace("+trainer.", "++trainer.") for o in FAST_TRAINER]  # some are set already
    overrides = [
        f"experiment=fashion_mnist_{task}",
        f"paths.data_dir={root}",
        "data.batch_size=4",
        "data.val_fraction=0.2",
        *fast,
        *QUIET,
    ]
    result = train(compose_cfg(overrides))
    key = "test/bpd" if task == "density" else "test/loss"
    assert math.isfinite(result.metrics[key]), result.metrics
