"""Checkpoints of mintnet models: read, check against a model, rebuild, resume from.

Two formats, both read through :func:`mintnet.checkpoint.io.load_file` (``weights_only=True``):

* a **mintnet-train checkpoint**: Lightning's checkpoint dict with ``"state_dict"`` (the
  LightningModule's) and ``"mintnet": {"model": <resolved model config>}``, which rebuilds the
  module with ``hydra.utils.instantiate``. A file without ``"optimizer_states"`` holds weights
  only (e.g. one written by ``mintnet-import-official``): it is evaluated and sampled like any
  other, and training from it starts with a fresh optimizer (:func:`prepare_resume`);
* the **plain flow format** of :func:`save_flow`: ``{"mintnet_flow": {"config": ..., "state_dict":
  ...}}``, an :class:`ImageFlow` alone, with its constructor arguments from :func:`flow_config`.
"""

import dataclasses
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info

from mintnet.checkpoint.io import CheckpointError, load_file, save_file
from mintnet.checkpoint.official import looks_official
from mintnet.modules.base import CHECKPOINT_KEY, ConfiguredModule
from mintnet.nn.image_flow import ImageFlow
from mintnet.nn.inverse import InverseSettings
from mintnet.nn.mint_layer import MintLayer
from mintnet.nn.mintnet import MintNet, squeeze_positions
from mintnet.nn.squeeze import Squeeze

__all__ = [
    "FLOW_KEY",
    "check_checkpoint",
    "flow_config",
    "flow_from_config",
    "load_flow_from_checkpoint",
    "load_module",
    "model_config",
    "prepare_resume",
    "read_checkpoint",
    "resume_checkpoint",
    "save_flow",
]

FLOW_KEY = "mintnet_flow"
"""Top-level key of the plain format written by :func:`save_flow`."""
SOLVER_OF_OLDER_FILES = {"method": "fixed_point", "anderson_memory": 10}
"""The solver of a file whose inversion settings predate ``InverseSettings.method``: the paper's
Algorithm 1, the only one then (not today's default)."""


def _with_solver(inversion: dict[str, Any]) -> dict[str, Any]:
    """``inversion`` with :data:`SOLVER_OF_OLDER_FILES` filled in where it names no method."""
    return inversion if "method" in inversion else {**SOLVER_OF_OLDER_FILES, **inversion}


# mintnet-train checkpoints ------------------------------------------------------------------------
def read_checkpoint(path: str | Path, lazy: bool = False) -> dict:
    """The dict of a checkpoint that ``mintnet-train`` (or ``mintnet-import-official``) wrote;
    ``lazy``: its tensors mapped from the file, not read (see :func:`load_file`).

    Raises:
        CheckpointError: naming the file and what is wrong with it (missing, unreadable or
            truncated, holding pickled objects, in the authors' format, or written by something
            else).
    """
    return _mintnet_checkpoint(load_file(path, lazy), path)


def _mintnet_checkpoint(checkpoint: Any, path: str | Path) -> dict:
    if looks_official(checkpoint):
        raise CheckpointError(
            f"checkpoint {path} is in the format of the MintNet authors' released checkpoints; "
            f"convert it first: mintnet-import-official {path} --experiment <name>"
        )
    entry = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    if not isinstance(entry, dict) or not entry.get("model") or "state_dict" not in checkpoint:
        raise CheckpointError(
            f"checkpoint {path} is not a mintnet checkpoint: it lacks the '{CHECKPOINT_KEY}' model "
            "config and 'state_dict' that mintnet-train writes"
        )
    return checkpoint


def check_checkpoint(path: str | Path, module: torch.nn.Module) -> dict:
    """Refuse a checkpoint whose weights do not fit ``module`` (another model, other sizes),
    naming the file and the first mismatches; return the checkpoint dict."""
    checkpoint = read_checkpoint(path)
    state = checkpoint["state_dict"]
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    resized = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or resized:
        detail = "; ".join(
            f"{what}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for what, keys in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("other shape", resized),
            )
            if keys
        )
        raise CheckpointError(
            f"checkpoint {path} is of another model than this config builds ({detail})"
        )
    return checkpoint


RESUME_AUTO = "auto"
"""The ``ckpt_path`` that continues a run folder's own ``checkpoints/last.ckpt`` when it has one."""
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
"""Where a run folder keeps the state to continue from (every epoch's end, and the stop step of a
pre-empted run), relative to the folder."""


def resume_checkpoint(ckpt_path: str | Path | None, run_dir: str | Path) -> str | None:
    """The checkpoint a run in ``run_dir`` continues from, given its ``ckpt_path`` setting.

    * ``"auto"`` (the default of ``mintnet-train``): ``<run_dir>/checkpoints/last.ckpt`` if that
      file exists (a requeued Slurm job, a sweep run again in the same ``hydra.sweep.dir``, a
      run started again with the same ``hydra.run.dir``), else ``None``: a fresh start. A run
      never continues from another folder's files this way.
    * ``None``, ``""`` or ``"never"``: ``None``, a fresh start.
    * any other value: that file, which must exist.

    Raises:
        CheckpointError: an explicit path that is not a file, naming it and the alternatives.
    """
    if ckpt_path is None or str(ckpt_path) in ("", "never"):
        return None
    if str(ckpt_path) == RESUME_AUTO:
        last = Path(run_dir) / LAST_CHECKPOINT
        return str(last) if last.is_file() else None
    if not Path(ckpt_path).is_file():
        raise CheckpointError(
            f"ckpt_path={ckpt_path}: no such file; give an existing checkpoint, "
            f"ckpt_path={RESUME_AUTO} (this run folder's {LAST_CHECKPOINT} if there is one) "
            "or ckpt_path=null (start afresh)"
        )
    return str(ckpt_path)


def prepare_resume(path: str | Path | None, module: torch.nn.Module) -> str | None:
    """Get ``module`` ready to train from the checkpoint ``path``; return what to give Lightning's
    ``trainer.fit(ckpt_path=...)``.

    A full training checkpoint is checked against ``module`` (:func:`check_checkpoint`) and its
    path returned, so Lightning restores weights, optimizer, scheduler and loop state. A
    weights-only checkpoint (no ``"optimizer_states"``: an imported one, or one saved with
    ``save_weights_only``) is checked, its weights are loaded into
    ``module`` here, a note says that the optimizer starts afresh, and ``None`` is returned.
    No path (``None`` or ``""``) returns ``None``.

    Raises:
        CheckpointError: the file is unusable or of another model (see :func:`check_checkpoint`).
    """
    if not path:
        return None
    checkpoint = check_checkpoint(path, module)
    if "optimizer_states" in checkpoint:  # a full training checkpoint
        return str(path)
    module.load_state_dict(checkpoint["state_dict"])
    origin = checkpoint[CHECKPOINT_KEY].get("imported")
    source = f" (imported from {origin['file']}, {_when(origin)})" if origin else ""
    rank_zero_info(
        f"Checkpoint {path} holds weights only{source}: training starts from these weights with "
        "a fresh optimizer, learning-rate schedule and step count"
    )
    return None


def _when(origin: dict[str, Any]) -> str:
    epoch, step = origin.get("epoch"), origin.get("step")
    saved = "no epoch or step recorded" if epoch is None else f"epoch {epoch}, step {step}"
    return f"{saved}{', EMA weights' if origin.get('ema') else ''}"


def model_config(checkpoint: dict) -> dict[str, Any]:
    """A mintnet-train checkpoint's model config in today's layout (``upgrade_config`` of its
    module class), its inversion settings given :data:`SOLVER_OF_OLDER_FILES` if they name none."""
    config = checkpoint[CHECKPOINT_KEY]["model"]
    module_class = hydra.utils.get_class(config["_target_"]) if "_target_" in config else None
    if isinstance(module_class, type) and issubclass(module_class, ConfiguredModule):
        config = module_class.upgrade_config(config)
    net = (config.get("flow") or {}).get("net")
    if isinstance(net, dict) and isinstance(net.get("inversion"), dict):
        net = {**net, "inversion": _with_solver(net["inversion"])}
        config = {**config, "flow": {**config["flow"], "net": net}}
    return config


def load_module(path: str | Path) -> pl.LightningModule:
    """Rebuild the LightningModule saved in ``path`` by ``mintnet-train`` or
    ``mintnet-import-official`` (weights loaded, eval mode, on the CPU).

    Raises:
        CheckpointError: naming the file and what is wrong with it.
    """
    return _rebuild(read_checkpoint(path), path)


def _rebuild(checkpoint: dict, path: str | Path) -> pl.LightningModule:
    config = model_config(checkpoint)
    module = hydra.utils.instantiate(config)
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(
            f"checkpoint {path} does not fit the model its config describes: {error}"
        ) from error
    module.model_config = config
    return module.eval()


# the plain flow format ---------------------------------------------------------------------------
def flow_config(flow: ImageFlow) -> dict[str, Any]:
    """The constructor arguments that rebuild ``flow``'s architecture (not its weights).

    Returns:
        ``{"image_flow": {"n_bins", "logit_lam"}, "mintnet": {"in_shape", "n_layers",
        "n_squeezes", "hidden_groups" (one K per scale), "kernel_size", "activation",
        "inversion"}, "dtype"}``, built from plain Python values only.
    """
    net = flow.net
    mint_layers = [layer for layer in net.layers if isinstance(layer, MintLayer)]
    n_layers = len(mint_layers) // 2
    n_squeezes = sum(isinstance(layer, Squeeze) for layer in net.layers)
    # one K per scale, read off the first pair of each scale (where MintNet puts its squeezes)
    first_pairs = (0, *squeeze_positions(n_layers, n_squeezes))
    groups = [int(mint_layers[2 * pair].hidden_groups) for pair in first_pairs]
    first = mint_layers[0]
    return {
        "image_flow": {"n_bins": int(flow.dequantize.n_bins), "logit_lam": float(flow.logit.lam)},
        "mintnet": {
            "in_shape": [int(s) for s in net.in_shape],
            "n_layers": n_layers,
            "n_squeezes": n_squeezes,
            "hidden_groups": groups,
            "kernel_size": int(first.weight1.shape[-1]),
            "activation": str(first.activation.name),
            "inversion": dataclasses.asdict(first.inversion),
        },
        "dtype": str(net.param_dtype).removeprefix("torch."),
    }


def flow_from_config(config: dict[str, Any]) -> ImageFlow:
    """Build an untrained :class:`ImageFlow` from :func:`flow_config`'s output."""
    net_args = dict(config["mintnet"])
    net_args["inversion"] = InverseSettings(**_with_solver(net_args["inversion"]))
    net = MintNet(init_gain=None, **net_args)
    flow = ImageFlow(net, **config["image_flow"])
    return flow.to(getattr(torch, config.get("dtype", "float32")))


def save_flow(flow: ImageFlow, path: str | Path) -> Path:
    """Write ``flow``'s architecture and weights to ``path`` (parents created, atomically) in the
    plain format that :func:`load_flow_from_checkpoint` reads; returns the path."""
    state = {key: value.detach().cpu() for key, value in flow.state_dict().items()}
    return save_file({FLOW_KEY: {"config": flow_config(flow), "state_dict": state}}, path)


def load_flow_from_checkpoint(path: str | Path) -> ImageFlow:
    """Load the :class:`ImageFlow` of a checkpoint onto the CPU, in eval mode.

    Accepts a file written by :func:`save_flow`, or a ``mintnet-train`` /
    ``mintnet-import-official`` checkpoint of a density model (rebuilt by :func:`load_module`,
    whose ``flow`` is returned).

    Raises:
        CheckpointError: the file is missing, is not a PyTorch file, holds something else, or holds
            a model without an :class:`ImageFlow` (e.g. a classifier).
    """
    path = Path(path)
    payload = load_file(path)
    if isinstance(payload, dict) and FLOW_KEY in payload:
        return _flow_from_payload(payload[FLOW_KEY], path)
    flow = getattr(_rebuild(_mintnet_checkpoint(payload, path), path), "flow", None)
    if not isinstance(flow, ImageFlow):
        raise CheckpointError(
            f"checkpoint {path} holds a model without an ImageFlow at .flow (got "
            f"{type(flow).__name__}); the analysis tools need a density model"
        )
    return flow.eval()


def _flow_from_payload(payload: Any, path: Path) -> ImageFlow:
    if not isinstance(payload, dict) or not {"config", "state_dict"} <= set(payload):
        raise CheckpointError(
            f"checkpoint {path}: the {FLOW_KEY!r} entry must be a dict with 'config' and "
            f"'state_dict', got {type(payload).__name__}"
        )
    try:
        flow = flow_from_config(payload["config"])
        flow.load_state_dict(payload["state_dict"])
    except (AttributeError, KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"checkpoint {path}: cannot rebuild the flow ({error})") from error
    return flow.eval()
