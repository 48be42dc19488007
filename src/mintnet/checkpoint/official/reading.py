"""Reading the authors' file: their list ``[model state, optimizer state, epoch, step, ...]`` (or a
bare state dict), checked entry by entry, ``module.`` taken off the keys, the EMA weights if any."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from mintnet.checkpoint.io import CheckpointError
from mintnet.checkpoint.official.layouts import BATCH_NORM_BUFFERS, LAYER_KEY, MASKS, PREFIX
from mintnet.modules.base import CHECKPOINT_KEY

__all__ = ["ENTRIES", "OfficialFile", "looks_official", "parse_official", "with_ema"]

ENTRIES = ("model state", "optimizer state", "epoch", "step", "scheduler state", "EMA weights")
"""The entries of the authors' list, in order."""


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
        isinstance(key, str) and LAYER_KEY.match(key.removeprefix(PREFIX)) for key in payload
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
    if any(LAYER_KEY.match(key) and key.endswith(".weight1") for key in state):
        return "density"
    return None


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
            found = f"{key} of shape {_shape_of(value.shape)}"
            raise CheckpointError(
                f"checkpoint {official.path}: the EMA weights have {found}, which the model "
                "state "
                + ("lacks" if key not in state else f"has as {_shape_of(state[key].shape)}")
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


def _shape_of(shape: Any) -> str:
    return f"({', '.join(map(str, shape))})"
