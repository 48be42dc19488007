"""Load a mintnet checkpoint safely (``weights_only=True``) and rebuild its model from config."""

from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch

from mintnet.modules.base import CHECKPOINT_KEY

__all__ = ["CheckpointError", "check_checkpoint", "load_file", "load_module", "read_checkpoint"]


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or not one that mintnet wrote."""


def load_file(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, or a :class:`CheckpointError` naming the
    file when it is missing or cannot be read (truncated, a foreign pickle, not a torch file)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"checkpoint {path} cannot be read as a PyTorch checkpoint "
            f"({type(error).__name__}: {str(error).splitlines()[0][:200]})"
        ) from error


def read_checkpoint(path: str | Path) -> dict:
    """``torch.load(path, weights_only=True)`` of a checkpoint that ``mintnet-train`` wrote.

    Raises:
        CheckpointError: naming the file and what is wrong with it (missing, unreadable or
            truncated, or written by something else).
    """
    checkpoint = load_file(path)
    entry = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    if not isinstance(entry, dict) or not entry.get("model") or "state_dict" not in checkpoint:
        raise CheckpointError(
            f"checkpoint {path} is not a mintnet checkpoint: it lacks the '{CHECKPOINT_KEY}' model "
            "config and 'state_dict' that mintnet-train writes"
        )
    return checkpoint


def check_checkpoint(path: str | Path, module: torch.nn.Module) -> None:
    """Refuse a checkpoint whose weights do not fit ``module`` (another model, other sizes),
    naming the file and the first mismatches."""
    state = read_checkpoint(path)["state_dict"]
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


def load_module(path: str | Path) -> pl.LightningModule:
    """Rebuild the LightningModule saved in ``path`` by ``mintnet-train`` (weights loaded, eval mode).

    Raises:
        CheckpointError: naming the file and what is wrong with it.
    """
    checkpoint = read_checkpoint(path)
    config = checkpoint[CHECKPOINT_KEY]["model"]
    module = hydra.utils.instantiate(config)
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(
            f"checkpoint {path} does not fit the model its config describes: {error}"
        ) from error
    module.model_config = config
    return module.eval()
