"""Load a mintnet checkpoint safely (``weights_only=True``) and rebuild its model from config."""

from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch

from mintnet.modules.base import CHECKPOINT_KEY

__all__ = ["CheckpointError", "load_module"]


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or not one that mintnet wrote."""


def load_module(path: str | Path) -> pl.LightningModule:
    """Rebuild the LightningModule saved in ``path`` by ``mintnet-train`` (weights loaded, eval mode).

    Raises:
        CheckpointError: naming the file and what is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, foreign pickle, not a torch file at all
        raise CheckpointError(
            f"checkpoint {path} cannot be read as a PyTorch checkpoint "
            f"({type(error).__name__}: {str(error).splitlines()[0][:200]})"
        ) from error
    entry = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    if not isinstance(entry, dict) or not entry.get("model") or "state_dict" not in checkpoint:
        raise CheckpointError(
            f"checkpoint {path} is not a mintnet checkpoint: it lacks the '{CHECKPOINT_KEY}' model "
            "config and 'state_dict' that mintnet-train writes"
        )
    module = hydra.utils.instantiate(entry["model"])
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(
            f"checkpoint {path} does not fit the model its config describes: {error}"
        ) from error
    module.model_config = entry["model"]
    return module.eval()
