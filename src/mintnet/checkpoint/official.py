r"""The MintNet authors' released checkpoints (Song, Meng & Ermon, arXiv:1907.07945), mapped
onto mintnet's models.

**The file** is ``torch.save`` of a list; the model was wrapped in ``nn.DataParallel``, so every
key of its state dict starts with ``module.``:

    density:         [model_state, optimizer_state, epoch, step, scheduler_state(, ema_state)]
    classification:  [model_state, optimizer_state, epoch, step]

``ema_state`` maps parameter names, without ``module.``, to their exponential moving averages. A
model state dict alone (with or without ``module.``) is read too, with no epoch or step.

**The density network** (the models of the paper's Table 2): ``layers`` is a list in which each
2x2 squeeze takes an index of its own and every other entry is one lower/upper pair of Mint
layers, ``layers.{i}.0`` the lower-triangular layer and ``layers.{i}.1`` the upper one. Per Mint
layer, with ``C`` channels, ``K`` hidden groups (hidden channel ``group * C + c``, as in
:class:`~mintnet.nn.MintLayer`) and kernel ``k``:

- ``weight1 (KC, C, k, k)``, ``bias1 (KC)``, ``weight2 (KC, KC, k, k)``, ``bias2 (KC)``,
  ``weight3 (C, KC, k, k)``, ``bias3 (C)``: the same tensors as mintnet's;
- ``t (1, C, H, W)``: mintnet's ``t``, of shape ``(C, H, W)``;
- ``maskN`` and ``center_maskN``, shaped as ``weightN``: the block mask *with* the diagonal
  centre taps (:func:`~mintnet.nn.block_mask` of the layer's kind), and 1 exactly at those taps
  (:func:`~mintnet.nn.diagonal_centre_mask`). They carry no learned information: each is checked
  against mintnet's, then dropped.

Both codes use the weights the same way: ``weight2``'s diagonal centre taps replaced by
:math:`|w^2_{ij}|\,\mathrm{sign}(w^1_j)\,\mathrm{sign}(w^3_i)`, the skip scale
:math:`\max(|t|, 10^{-12})`, squeeze channel :math:`(2\,dh + dw)\,C + c`. So apart from ``t``'s
leading 1, every tensor is copied as it is.

**The classifier** (the MintNet rows of the paper's Table 1): ``layers.{i}.{0,1,2,3}`` are
BatchNorm, lower Mint layer, BatchNorm, upper Mint layer (squeezes again take their own index),
then ``fc``, the linear head. In :class:`~mintnet.nn.MintClassifier` the same modules lie flat in
``layers``, and the head is ``head``.
"""

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch import Tensor

from mintnet.checkpoint.io import CheckpointError, load_file
from mintnet.config import ConfigError, fill_from_data
from mintnet.modules.base import CHECKPOINT_KEY
from mintnet.nn.classifier import MintClassifier
from mintnet.nn.masks import block_mask, diagonal_centre_mask
from mintnet.nn.mint_layer import MintLayer
from mintnet.nn.mintnet import MintNet
from mintnet.nn.squeeze import Squeeze

__all__ = [
    "CONF_DIR",
    "PAPER_EXPERIMENTS",
    "ExperimentModel",
    "LayoutEntry",
    "OfficialFile",
    "convert_official_state",
    "experiment_model",
    "experiment_names",
    "import_official",
    "looks_official",
    "official_layout",
    "parse_official",
    "with_ema",
]

PAPER_EXPERIMENTS = (
    "mnist_density",
    "cifar10_density",
    "imagenet32_density",
    "mnist_classification",
    "cifar10_classification",
)
"""The experiments of ``conf/experiment/`` whose runs the authors released (Tables 1 and 2)."""

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
"""The package's Hydra configs (``mintnet/conf``)."""

PREFIX = "module."
"""What ``nn.DataParallel`` put before every key of the authors' state dicts."""

ENTRIES = ("model state", "optimizer state", "epoch", "step", "scheduler state", "EMA weights")
"""The entries of the authors' list, in order."""

MINT_TENSORS = ("weight1", "bias1", "weight2", "bias2", "weight3", "bias3", "t")
MASKS = ("mask1", "center_mask1", "mask2", "center_mask2", "mask3", "center_mask3")
BATCH_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
BATCH_NORM_TENSORS = ("weight", "bias", *BATCH_NORM_BUFFERS)
CLASSIFIER_HEAD = {"fc.weight": "head.weight", "fc.bias": "head.bias"}
KINDS = {"mintnet.nn.MintNet": "density", "mintnet.nn.MintClassifier": "classification"}

_LAYER_KEY = re.compile(r"^layers\.\d+\.\d+\.")


# reading the file -----------------------------------------------------------------------------
@dataclass(frozen=True)
class OfficialFile:
    """What an authors' checkpoint holds, with ``module.`` taken off the keys.

    Attributes:
        path: the file.
        kind: ``"density"`` or ``"classification"``, from the keys.
        state: the model's state dict.
        ema: the EMA weights (density runs with EMA on), else ``None``.
        epoch, step: where the run was when it saved the file (``None`` for a bare state dict).
        prefixed: whether the keys carried ``module.`` (so messages quote them as the file has
            them).
    """

    path: Path
    kind: str
    state: dict[str, Tensor]
    ema: dict[str, Tensor] | None
    epoch: int | None
    step: int | None
    prefixed: bool

    def key(self, name: str) -> str:
        """``name`` as the file spells it."""
        return f"{PREFIX}{name}" if self.prefixed else name

    def describe(self) -> str:
        """E.g. ``"the authors' density checkpoint, saved at epoch 599, step 1125000"``."""
        when = (
            "a bare state dict, no epoch or step recorded"
            if self.epoch is None
            else f"saved at epoch {self.epoch}, step {self.step}"
        )
        return f"the authors' {self.kind} checkpoint, {when}"


def looks_official(payload: Any) -> bool:
    """Whether ``payload`` (a loaded file) has the authors' layout: their list, or a state dict
    with keys ``[module.]layers.<i>.<j>....``."""
    if isinstance(payload, list | tuple) and payload:
        payload = payload[0]
    return isinstance(payload, dict) and any(
        isinstance(key, str) and _LAYER_KEY.match(key.removeprefix(PREFIX)) for key in payload
    )


def parse_official(payload: Any, path: Path) -> OfficialFile:
    """Check the authors' list (or a bare model state dict), as :func:`load_file` read it from
    ``path``, and take it apart.

    Raises:
        CheckpointError: naming the file and the entry that is not what the format says.
    """
    if isinstance(payload, dict) and CHECKPOINT_KEY in payload and "state_dict" in payload:
        raise CheckpointError(
            f"checkpoint {path} is already a mintnet checkpoint; use it as it is "
            f"(python -m mintnet.eval ckpt_path={path})"
        )
    epoch = step = ema = None
    if isinstance(payload, list | tuple):
        if not 4 <= len(payload) <= len(ENTRIES):
            raise CheckpointError(
                f"checkpoint {path} is a list of {len(payload)} entries; the authors' checkpoints "
                "are [model state, optimizer state, epoch, step] (classification) or "
                "[model state, optimizer state, epoch, step, scheduler state(, EMA weights)] "
                "(density)"
            )
        for index, entry in enumerate(payload):
            _check_entry(entry, index, path)
        state, epoch, step = payload[0], payload[2], payload[3]
        ema = payload[5] if len(payload) == 6 else None
    elif isinstance(payload, dict) and payload and _is_state_dict(payload):
        state = payload
    else:
        raise CheckpointError(
            f"checkpoint {path} is not in the format of the authors' checkpoints: expected the "
            "list [model state, optimizer state, epoch, step, ...] or a model state dict, got "
            f"{_describe(payload)}"
        )
    state, prefixed = _strip_prefix(state, path, "the model state")
    if ema is not None:
        ema, _ = _strip_prefix(ema, path, "the EMA weights")
    kind = _kind(state)
    if kind is None:
        raise CheckpointError(
            f"checkpoint {path} holds no MintNet layers: no key like {PREFIX}layers.0.0.weight1 "
            f"(first keys: {', '.join(list(state)[:3])})"
        )
    return OfficialFile(Path(path), kind, state, ema, epoch, step, prefixed)


def _describe(value: Any) -> str:
    if isinstance(value, dict | list | tuple):
        n = len(value)
        return f"a {type(value).__name__} of {n} entr{'y' if n == 1 else 'ies'}"
    return f"a {type(value).__name__}"


def _check_entry(entry: Any, index: int, path: Path) -> None:
    """Refuse an entry of the authors' list that is not what its position says."""
    what = f"checkpoint {path}: entry {index} ({ENTRIES[index]})"
    if index in (2, 3):
        if not isinstance(entry, int) or isinstance(entry, bool):
            raise CheckpointError(f"{what} must be an integer, got {_describe(entry)}")
        return
    if not isinstance(entry, dict):
        raise CheckpointError(f"{what} must be a dict, got {_describe(entry)}")
    if index in (0, 5) and not _is_state_dict(entry):
        key, value = next((k, v) for k, v in entry.items() if not _is_state_dict({k: v}))
        raise CheckpointError(
            f"{what} must map names to tensors; its key {key!r} holds {_describe(value)}"
        )


def _is_state_dict(entry: dict) -> bool:
    return all(isinstance(k, str) and isinstance(v, Tensor) for k, v in entry.items())


def _strip_prefix(state: dict[str, Tensor], path: Path, what: str) -> tuple[dict, bool]:
    prefixed = [key.startswith(PREFIX) for key in state]
    if any(prefixed) and not all(prefixed):
        bare = next(key for key, has in zip(state, prefixed, strict=True) if not has)
        raise CheckpointError(
            f"checkpoint {path}: some keys of {what} start with '{PREFIX}' and some do not "
            f"(e.g. {bare!r}); expected all or none"
        )
    if not all(prefixed):
        return dict(state), False
    return {key.removeprefix(PREFIX): value for key, value in state.items()}, True


def _kind(state: Mapping[str, Tensor]) -> str | None:
    if "fc.weight" in state or any(key.endswith(".0.running_mean") for key in state):
        return "classification"
    if any(_LAYER_KEY.match(key) and key.endswith(".weight1") for key in state):
        return "density"
    return None


# the key map --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayoutEntry:
    """One tensor of the authors' state dict: its key in mintnet's state dict, or (``ours`` is
    ``None``) the mask it must equal, as ``(name, k, C, out groups, in groups, kind)``."""

    ours: str | None  # None: a mask, checked then dropped
    shape: tuple[int, ...]  # its shape in the authors' file
    mask: tuple[str, int, int, int, int, str] | None = None  # (name, k, C, out, in groups, kind)


def official_layout(model: torch.nn.Module) -> dict[str, LayoutEntry]:
    """The authors' state dict keys (without ``module.``) for ``model``, in network order.

    ``model`` is, or contains, one :class:`MintNet` or :class:`MintClassifier` (e.g. a
    ``DensityModule``, whose ``flow.net`` it finds); the ``ours`` keys are relative to ``model``.

    Raises:
        ValueError: ``model`` holds neither, or its layers are not in lower/upper pairs.
    """
    prefix, net = _backbone(model)
    layout: dict[str, LayoutEntry] = {}
    norm = "BatchNorm"
    pair = ("lower", "upper") if isinstance(net, MintNet) else (norm, "lower", norm, "upper")
    index, slot = 0, 0  # the authors' layers.{index}.{slot}
    for position, layer in enumerate(net.layers):
        ours = f"{prefix}layers.{position}."
        theirs = f"layers.{index}.{slot}."
        if isinstance(layer, Squeeze) and slot == 0:
            index += 1
            continue
        if isinstance(layer, MintLayer) and layer.kind == pair[slot]:
            layout |= _mint_layer_entries(layer, theirs, ours)
        elif isinstance(layer, torch.nn.BatchNorm2d) and pair[slot] == norm:
            for name in BATCH_NORM_TENSORS:
                layout[theirs + name] = LayoutEntry(ours + name, tuple(getattr(layer, name).shape))
        else:
            raise ValueError(
                f"{ours[:-1]} is a {type(layer).__name__} where the authors' layout has the "
                f"{pair[slot]} layer of a pair"
            )
        slot = (slot + 1) % len(pair)
        index += slot == 0
    if isinstance(net, MintClassifier):
        for theirs, ours in CLASSIFIER_HEAD.items():
            shape = tuple(getattr(net.head, ours.removeprefix("head.")).shape)
            layout[theirs] = LayoutEntry(prefix + ours, shape)
    return layout


def _backbone(model: torch.nn.Module) -> tuple[str, MintNet | MintClassifier]:
    for name, module in model.named_modules():
        if isinstance(module, MintNet | MintClassifier):
            return (f"{name}." if name else ""), module
    raise ValueError(f"{type(model).__name__} holds no MintNet or MintClassifier")


def _mint_layer_entries(layer: MintLayer, theirs: str, ours: str) -> dict[str, LayoutEntry]:
    entries = {}
    for name in MINT_TENSORS:
        shape = tuple(getattr(layer, name).shape)
        entries[theirs + name] = LayoutEntry(ours + name, (1, *shape) if name == "t" else shape)
    k, c, groups = layer.weight1.shape[-1], layer.channels, layer.hidden_groups
    for n, (out_groups, in_groups) in enumerate(((groups, 1), (groups, groups), (1, groups)), 1):
        shape = entries[f"{theirs}weight{n}"].shape
        for name in ("mask", "center_mask"):
            spec = (name, k, c, out_groups, in_groups, layer.kind)
            entries[f"{theirs}{name}{n}"] = LayoutEntry(None, shape, spec)
    return entries


@functools.lru_cache(maxsize=32)
def _authors_mask(name: str, k: int, c: int, out_groups: int, in_groups: int, kind: str) -> Tensor:
    """``maskN`` (the block mask with its diagonal centre taps) or ``center_maskN``."""
    if name == "mask":
        return block_mask(k, c, out_groups, in_groups, kind)
    return diagonal_centre_mask(k, c, out_groups, in_groups)


# the conversion ------------------------------------------------------------------------------
def convert_official_state(
    official: OfficialFile, model: torch.nn.Module, target: str = "the model"
) -> dict[str, Tensor]:
    """``model``'s state dict with every learned tensor taken from ``official.state``.

    Each key of :func:`official_layout` must be in the file with its shape; the masks must equal
    mintnet's; the file must hold no other key. Tensors are cast to ``model``'s dtypes.

    Raises:
        CheckpointError: naming the first key, shape or mask that differs (in network order) and
            how many differences there are in all.
    """
    layout = official_layout(model)
    state = official.state
    problems = []
    for key, entry in layout.items():
        if key not in state:
            problems.append(
                f"has no {official.key(key)} (shape {_shape(entry.shape)}), which {target} has"
            )
        elif tuple(state[key].shape) != entry.shape:
            problems.append(
                f"has {official.key(key)} of shape {_shape(state[key].shape)} where {target} "
                f"has {_shape(entry.shape)}{_kernel_hint(key, state[key].shape, entry.shape)}"
            )
        elif entry.mask is not None and (problem := _mask_problem(state[key], entry.mask)):
            problems.append(f"has a {official.key(key)} that {problem}")
    problems += [
        f"has {official.key(key)}, which {target} does not have"
        for key in sorted(set(state) - set(layout), key=_natural)
    ]
    if problems:
        n = len(problems) - 1
        more = f" (and {n} more difference{'s' * (n > 1)})" if n else ""
        raise CheckpointError(
            f"checkpoint {official.path} is of another architecture than {target}: the file "
            f"{problems[0]}{more}"
        )
    converted = model.state_dict()
    for key, entry in layout.items():
        if entry.ours is not None:
            own = converted[entry.ours]
            converted[entry.ours] = state[key].reshape(own.shape).to(own.dtype)
    return converted


def _mask_problem(mask: Tensor, spec: tuple[str, int, int, int, int, str]) -> str | None:
    expected = _authors_mask(*spec)
    wrong = (mask.to(expected.dtype) != expected).nonzero()
    if not len(wrong):
        return None
    first = tuple(int(i) for i in wrong[0])
    what = f"{spec[5]} block mask" if spec[0] == "mask" else "diagonal centre-tap mask"
    return (
        f"differs from the {what} at {len(wrong)} of {mask.numel()} entries, first at "
        f"{list(first)} (file {float(mask[first]):g}, expected {float(expected[first]):g})"
    )


def _kernel_hint(key: str, found: torch.Size, expected: tuple[int, ...]) -> str:
    """Why a 1x1 middle kernel cannot load: the authors' classifier code built ``weight2`` 1x1
    until a fix of December 2020, and a Mint layer here has one kernel size for all three."""
    if not key.endswith("weight2") or tuple(found[-2:]) != (1, 1) or expected[-1] == 1:
        return ""
    return (
        " (a 1x1 middle convolution, as the authors' classifier code built before December "
        "2020; mintnet's Mint layers use one kernel size for all three convolutions)"
    )


def _shape(shape: tuple[int, ...] | torch.Size) -> str:
    return f"({', '.join(map(str, shape))})"


def _natural(key: str) -> list:
    return [int(part) if part.isdigit() else part for part in key.split(".")]


def with_ema(official: OfficialFile) -> dict[str, Tensor]:
    """``official.state`` with the EMA weights in place of the trained ones.

    Raises:
        CheckpointError: the file has no EMA weights, or they do not cover exactly the model's
            learned tensors (every tensor but the masks and BatchNorm's running statistics).
    """
    if official.ema is None:
        raise CheckpointError(
            f"checkpoint {official.path} has no EMA weights (its run had EMA off: the list has "
            "no sixth entry); leave out --ema"
        )
    state = dict(official.state)
    for key, value in official.ema.items():
        if key not in state or state[key].shape != value.shape:
            found = f"{key} of shape {_shape(value.shape)}"
            raise CheckpointError(
                f"checkpoint {official.path}: the EMA weights have {found}, which the model "
                "state " + ("lacks" if key not in state else f"has as {_shape(state[key].shape)}")
            )
        state[key] = value
    learned = (k for k in state if k.rsplit(".", 1)[-1] not in MASKS + BATCH_NORM_BUFFERS)
    missing = [k for k in learned if k not in official.ema]
    if missing:
        raise CheckpointError(
            f"checkpoint {official.path}: the EMA weights lack {missing[0]}"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
        )
    return state


# the experiment's model ---------------------------------------------------------------------
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
    kind = KINDS.get(cfg.model.net._target_)
    if kind is None:
        raise ConfigError(
            f"experiment {name} builds a {cfg.model.net._target_}, not a MintNet; the authors "
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
