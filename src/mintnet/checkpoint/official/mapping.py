"""Mapping the authors' tensors onto a mintnet model: every key of the layout present with its
shape, every mask equal to mintnet's, no key left over; otherwise a refusal naming the first
difference and, where one is known, the authors' variant it comes from."""

import torch
from torch import Tensor

from mintnet.checkpoint.io import CheckpointError
from mintnet.checkpoint.official.layouts import (
    authors_mask,
    channels_first_mask,
    official_layout,
)
from mintnet.checkpoint.official.reading import OfficialFile

__all__ = ["convert_official_state"]


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
    expected = authors_mask(*spec)
    wrong = (mask.to(expected.dtype) != expected).nonzero()
    if not len(wrong):
        return None
    first = tuple(int(i) for i in wrong[0])
    what = f"{spec[5]} block mask" if spec[0] == "mask" else "diagonal centre-tap mask"
    variant = ""
    if spec[0] == "mask" and torch.equal(mask.to(expected.dtype), channels_first_mask(*spec[1:])):
        variant = (
            ": it is the mask of the authors' `rgb_last: false` variant (channels ordered within "
            "each pixel), which mintnet's Mint layers cannot represent; they follow "
            "`rgb_last: true`, the setting of every released config"
        )
    return (
        f"differs from the {what} at {len(wrong)} of {mask.numel()} entries, first at "
        f"{list(first)} (file {float(mask[first]):g}, expected {float(expected[first]):g})"
        + variant
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
