"""Save and load a trained :class:`ImageFlow` for the analysis tools.

Two formats are read:

* a checkpoint of a density model written by ``mintnet-train`` (read by
  :func:`mintnet.checkpoint.load_module`; its ``.flow`` is taken);
* the plain format written by :func:`save_flow`: ``{"mintnet_flow": {"config": ..., "state_dict":
  ...}}``, holding only tensors, dicts, lists, numbers and strings so that it loads with
  ``torch.load(..., weights_only=True)``.
"""

import dataclasses
from pathlib import Path
from typing import Any

import torch

from mintnet.checkpoint import CheckpointError, load_file, load_module
from mintnet.nn.image_flow import ImageFlow
from mintnet.nn.inverse import InverseSettings
from mintnet.nn.mint_layer import MintLayer
from mintnet.nn.mintnet import MintNet
from mintnet.nn.squeeze import Squeeze

__all__ = [
    "FLOW_KEY",
    "CheckpointError",
    "flow_config",
    "flow_from_config",
    "load_flow_from_checkpoint",
    "save_flow",
]

FLOW_KEY = "mintnet_flow"
"""Top-level key of the plain format written by :func:`save_flow`."""


def flow_config(flow: ImageFlow) -> dict[str, Any]:
    """The constructor arguments that rebuild ``flow``'s architecture (not its weights).

    Returns:
        ``{"image_flow": {"n_bins", "logit_lam"}, "mintnet": {"in_shape", "n_layers",
        "n_squeezes", "hidden_groups" (one K per scale), "kernel_size", "activation",
        "inversion"}, "dtype"}``, built from plain Python values only.
    """
    net = flow.net
    mint_layers = [layer for layer in net.layers if isinstance(layer, MintLayer)]
    n_squeezes = sum(isinstance(layer, Squeeze) for layer in net.layers)
    groups: list[int] = []  # one K per scale, read off the first layer after each squeeze
    new_scale = True
    for layer in net.layers:
        if isinstance(layer, Squeeze):
            new_scale = True
        elif isinstance(layer, MintLayer) and new_scale:
            groups.append(int(layer.hidden_groups))
            new_scale = False
    first = mint_layers[0]
    return {
        "image_flow": {"n_bins": int(flow.dequantize.n_bins), "logit_lam": float(flow.logit.lam)},
        "mintnet": {
            "in_shape": [int(s) for s in net.in_shape],
            "n_layers": len(mint_layers) // 2,
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
    net_args["inversion"] = InverseSettings(**net_args["inversion"])
    net = MintNet(init_gain=None, **net_args)
    flow = ImageFlow(net, **config["image_flow"])
    return flow.to(getattr(torch, config.get("dtype", "float32")))


def save_flow(flow: ImageFlow, path: str | Path) -> Path:
    """Write ``flow``'s architecture and weights to ``path`` (parents created) in the plain format
    that :func:`load_flow_from_checkpoint` reads; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu() for key, value in flow.state_dict().items()}
    torch.save({FLOW_KEY: {"config": flow_config(flow), "state_dict": state}}, path)
    return path


def load_flow_from_checkpoint(path: str | Path) -> ImageFlow:
    """Load the :class:`ImageFlow` of a checkpoint onto the CPU, in eval mode.

    Accepts a file written by :func:`save_flow`, or a ``mintnet-train`` checkpoint of a density
    model (rebuilt by :func:`mintnet.checkpoint.load_module`, whose ``flow`` is returned). Both are
    read with ``torch.load(..., weights_only=True)``.

    Raises:
        CheckpointError: the file is missing, is not a PyTorch file, holds something else, or holds
            a model without an :class:`ImageFlow` (e.g. a classifier).
    """
    path = Path(path)
    payload = load_file(path)
    if isinstance(payload, dict) and FLOW_KEY in payload:
        return _flow_from_payload(payload[FLOW_KEY], path)
    flow = getattr(load_module(path), "flow", None)  # raises CheckpointError for foreign files
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
