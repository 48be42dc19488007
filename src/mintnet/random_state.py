"""Every random stream of the training process, as tensors and plain numbers, so it can be saved
in a checkpoint that loads with ``torch.load(weights_only=True)`` and restored on resume."""

import random
from typing import Any

import numpy as np
import torch

__all__ = ["capture", "restore"]


def capture() -> dict[str, Any]:
    """The states of torch's CPU generator, of every CUDA device's generator (when CUDA is
    initialised), of numpy's global generator and of Python's ``random``.

    Returns:
        ``{"torch": ByteTensor, "cuda": [ByteTensor, ...], "numpy": {"keys": uint32 tensor (624,),
        "pos": int, "has_gauss": int, "cached_gaussian": float}, "python": (version, tuple of
        ints, gauss_next)}``.
    """
    _, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": [version, list(internal), gauss_next],
    }


def restore(state: dict[str, Any]) -> None:
    """Set every stream :func:`capture` recorded (a CUDA state only where the device exists)."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    numpy_state = state.get("numpy")
    if numpy_state is not None:
        keys = numpy_state["keys"].numpy().astype(np.uint32)
        np.random.set_state(
            (
                "MT19937",
                keys,
                numpy_state["pos"],
                numpy_state["has_gauss"],
                numpy_state["cached_gaussian"],
            )
        )
    python_state = state.get("python")
    if python_state is not None:
        version, internal, gauss_next = python_state
        random.setstate((version, tuple(internal), gauss_next))
