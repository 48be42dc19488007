"""The authors' state-dict layout: which key of their file holds which tensor of a mintnet model
(:func:`official_layout`), and the masks their files carry (checked, then dropped)."""

import functools
import re
from dataclasses import dataclass

import torch
from torch import Tensor

from mintnet.nn.classifier import MintClassifier
from mintnet.nn.masks import block_mask, diagonal_centre_mask
from mintnet.nn.mint_layer import MintLayer
from mintnet.nn.mintnet import MintNet
from mintnet.nn.squeeze import Squeeze

__all__ = [
    "BATCH_NORM_BUFFERS",
    "MASKS",
    "PREFIX",
    "LayoutEntry",
    "authors_mask",
    "channels_first_mask",
    "official_layout",
]

PREFIX = "module."
"""What ``nn.DataParallel`` put before every key of the authors' state dicts."""

MINT_TENSORS = ("weight1", "bias1", "weight2", "bias2", "weight3", "bias3", "t")
MASKS = ("mask1", "center_mask1", "mask2", "center_mask2", "mask3", "center_mask3")
BATCH_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
BATCH_NORM_TENSORS = ("weight", "bias", *BATCH_NORM_BUFFERS)
CLASSIFIER_HEAD = {"fc.weight": "head.weight", "fc.bias": "head.bias"}

LAYER_KEY = re.compile(r"^layers\.\d+\.\d+\.")
"""A key of one of the authors' layers: ``layers.<index>.<slot>.<tensor>``."""


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
def authors_mask(name: str, k: int, c: int, out_groups: int, in_groups: int, kind: str) -> Tensor:
    """``maskN`` (the block mask with its diagonal centre taps) or ``center_maskN``."""
    if name == "mask":
        return block_mask(k, c, out_groups, in_groups, kind)
    return diagonal_centre_mask(k, c, out_groups, in_groups)


@functools.lru_cache(maxsize=32)
def channels_first_mask(k: int, c: int, out_groups: int, in_groups: int, kind: str) -> Tensor:
    """The block mask of the authors' ``rgb_last: false`` variant, which mintnet cannot represent:
    it orders the pixels first and the channels within each pixel (a lower layer's output channel
    ``i`` sees every channel in the rows above, and in its own row the taps left of the centre, the
    centre of channels ``< i`` and of ``i`` itself). Used only to name that variant in a refusal."""
    one = torch.ones(c, c, k, k)
    mid = k // 2
    for i in range(c):
        if kind == "lower":
            one[i, :, mid + 1 :, :] = 0.0
            one[i, : i + 1, mid, mid + 1 :] = 0.0
            one[i, i + 1 :, mid, mid:] = 0.0
        else:
            one[i, :, :mid, :] = 0.0
            one[i, i:, mid, :mid] = 0.0
            one[i, :i, mid, : mid + 1] = 0.0
    return one.repeat(out_groups, in_groups, 1, 1)
