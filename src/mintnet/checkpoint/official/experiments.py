"""The mintnet experiment an authors' file is imported into, and the import itself."""

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mintnet.checkpoint.io import CheckpointError, load_file
from mintnet.checkpoint.official.mapping import convert_official_state
from mintnet.checkpoint.official.reading import OfficialFile, parse_official, with_ema
from mintnet.config import ConfigError, fill_from_data
from mintnet.modules.base import CHECKPOINT_KEY

__all__ = [
    "CONF_DIR",
    "PAPER_EXPERIMENTS",
    "ExperimentModel",
    "experiment_model",
    "experiment_names",
    "import_official",
]

PAPER_EXPERIMENTS = (
    "mnist_density",
    "cifar10_density",
    "imagenet32_density",
    "mnist_classification",
    "cifar10_classification",
)
"""The experiments of ``conf/experiment/`` whose runs the authors released (Tables 1 and 2)."""

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
"""The package's Hydra configs (``mintnet/conf``)."""

KINDS = {"mintnet.nn.MintNet": "density", "mintnet.nn.MintClassifier": "classification"}


@dataclass(frozen=True)
class ExperimentModel:
    """The model an experiment of ``conf/experiment/`` builds, resolved without data files.

    Attributes:
        name: the experiment, e.g. ``"mnist_density"``.
        kind: ``"density"`` or ``"classification"``.
        data: its dataset's name (an option of ``conf/data/``).
        config: ``OmegaConf.to_container(cfg.model, resolve=True)`` with the data-dependent
            ``???`` keys filled from the dataset's class attributes, as ``mintnet-train`` does.
    """

    name: str
    kind: str
    data: str
    config: dict[str, Any]


def experiment_names() -> list[str]:
    """Every experiment in the package's ``conf/experiment/``."""
    return sorted(path.stem for path in (CONF_DIR / "experiment").glob("*.yaml"))


def experiment_model(name: str) -> ExperimentModel:
    """Compose ``train.yaml`` with ``experiment=<name>`` and resolve its model config.

    Raises:
        ConfigError: ``name`` is not an experiment, or its model is not a MintNet flow or
            MintNet classifier.
    """
    names = experiment_names()
    if name not in names:
        raise ConfigError(
            f"experiment {name!r} is not in conf/experiment/; the authors released "
            f"{', '.join(PAPER_EXPERIMENTS)} (all: {', '.join(names)})"
        )
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train", overrides=[f"experiment={name}"])
    net = OmegaConf.select(cfg, "model.flow.net") or cfg.model.net  # density, classification
    kind = KINDS.get(net._target_)
    if kind is None:
        raise ConfigError(
            f"experiment {name} builds a {net._target_}, not a MintNet; the authors "
            f"released {', '.join(PAPER_EXPERIMENTS)}"
        )
    datamodule = hydra.utils.get_class(cfg.data._target_)
    fill_from_data(cfg.model, datamodule)  # class attributes: no data files are read
    config = OmegaConf.to_container(cfg.model, resolve=True)
    return ExperimentModel(name, kind, datamodule.name, config)


def import_official(
    path: str | Path, experiment: str, ema: bool = False
) -> tuple[dict[str, Any], OfficialFile, ExperimentModel]:
    """Convert an authors' checkpoint into a weights-only mintnet checkpoint of ``experiment``.

    Returns:
        ``(checkpoint, official, model)``: the dict to save, ``{"state_dict": ..., "mintnet":
        {"model": <config>, "imported": {"file", "experiment", "epoch", "step", "ema"}}}``
        (no optimizer state, so training from it starts afresh: see
        :func:`mintnet.checkpoint.prepare_resume`); what the file held; the experiment's model.

    Raises:
        CheckpointError: the file is unreadable, not in the authors' format, of the other task
            (classification for a density experiment or the reverse), or of another
            architecture; ``ema`` asked of a file without EMA weights.
        ConfigError: ``experiment`` is not a MintNet experiment of ``conf/experiment/``.
    """
    target = experiment_model(experiment)
    official = parse_official(load_file(path), Path(path))
    if official.kind != target.kind:
        others = [n for n in PAPER_EXPERIMENTS if n.endswith(official.kind)]
        raise CheckpointError(
            f"checkpoint {path} is from a {official.kind} run, and experiment {experiment} is a "
            f"{target.kind} model; use one of --experiment {', '.join(others)}"
        )
    if ema:
        official = dataclasses.replace(official, state=with_ema(official))
    module = hydra.utils.instantiate(target.config)
    module.load_state_dict(
        convert_official_state(official, module, f"the model of experiment {experiment}")
    )
    imported = {
        "file": str(Path(path).resolve()),
        "experiment": experiment,
        "epoch": official.epoch,
        "step": official.step,
        "ema": ema,
    }
    checkpoint = {
        "state_dict": {key: value.detach() for key, value in module.state_dict().items()},
        CHECKPOINT_KEY: {"model": target.config, "imported": imported},
    }
    return checkpoint, official, target
