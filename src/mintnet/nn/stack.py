"""The stack of Mint layers that the flow and the classifier share: lower/upper pairs across
scales, with 2x2 squeezes evenly spaced between them."""

from collections.abc import Callable, Sequence

import torch

from mintnet.nn.masks import MaskKind
from mintnet.nn.squeeze import Squeeze

__all__ = [
    "K_SHRINK_PER_SQUEEZE",
    "LayerFactory",
    "hidden_groups_per_scale",
    "mint_stack",
    "squeeze_positions",
]

K_SHRINK_PER_SQUEEZE = 4
"""A squeeze multiplies the channels by 4, so K is divided by 4 to keep the hidden width ~constant."""

LayerFactory = Callable[[int, int, int, int, MaskKind], list[torch.nn.Module]]
"""``(C, H, W, K, kind) -> modules``: what the stack holds for one Mint layer of that shape (the
Mint layer, and for the classifier the batch norm before it)."""


def squeeze_positions(n_layers: int, n_squeezes: int) -> list[int]:
    """Pair indices before which a squeeze goes: ``gap * s`` for ``s = 1..n_squeezes``, with
    ``gap = n_layers // (n_squeezes + 1)`` (paper's MNIST model: 20 pairs, 2 squeezes -> [6, 12])."""
    if n_layers < 1:
        raise ValueError(f"n_layers (number of lower/upper pairs) must be >= 1, got {n_layers}")
    if n_squeezes < 0:
        raise ValueError(f"n_squeezes must be >= 0, got {n_squeezes}")
    gap = n_layers // (n_squeezes + 1)
    if n_squeezes and gap == 0:
        raise ValueError(
            f"n_layers={n_layers} pairs cannot hold n_squeezes={n_squeezes} evenly spaced squeezes; "
            f"use n_layers >= {n_squeezes + 1} or fewer squeezes"
        )
    return [gap * s for s in range(1, n_squeezes + 1)]


def hidden_groups_per_scale(hidden_groups: int | Sequence[int], n_squeezes: int) -> list[int]:
    """K at each scale, the one meaning of ``hidden_groups``: an int ``K`` is K at the first scale,
    divided by 4 at each squeeze and at least 1 (``max(1, K // 4**s)``; paper MNIST: 45, 11, 2;
    the paper's classifier: 1, 1, 1); a sequence gives one K per scale explicitly."""
    if isinstance(hidden_groups, int):
        if hidden_groups < 1:
            raise ValueError(f"hidden_groups (K) must be >= 1, got {hidden_groups}")
        return [max(1, hidden_groups // K_SHRINK_PER_SQUEEZE**s) for s in range(n_squeezes + 1)]
    groups = [int(k) for k in hidden_groups]
    if len(groups) != n_squeezes + 1 or min(groups, default=0) < 1:
        raise ValueError(
            f"hidden_groups must be an int >= 1 or {n_squeezes + 1} ints >= 1 (one per scale), "
            f"got {list(hidden_groups)}"
        )
    return groups


def mint_stack(
    in_shape: tuple[int, int, int],
    n_layers: int,
    n_squeezes: int,
    hidden_groups: int | Sequence[int],
    make_layer: LayerFactory,
) -> tuple[list[torch.nn.Module], tuple[int, int, int]]:
    """Build ``n_layers`` lower/upper pairs with ``n_squeezes`` squeezes evenly spaced before them
    (:func:`squeeze_positions`), K per scale from ``hidden_groups``
    (:func:`hidden_groups_per_scale`).

    Arguments:
        in_shape: ``(C, H, W)`` entering the stack; ``H`` and ``W`` must halve ``n_squeezes``
            times.
        make_layer: the modules of one Mint layer (:data:`LayerFactory`).

    Returns:
        The modules in order (squeezes between the pairs' modules) and the ``(C, H, W)`` leaving
        the stack.
    """
    c, h, w = in_shape
    scale = 2**n_squeezes
    if n_squeezes < 0 or h % scale or w % scale:
        raise ValueError(
            f"image size {h}x{w} cannot be halved n_squeezes={n_squeezes} times; "
            f"H and W must be multiples of {scale}"
        )
    positions = squeeze_positions(n_layers, n_squeezes)
    groups = hidden_groups_per_scale(hidden_groups, n_squeezes)
    layers: list[torch.nn.Module] = []
    for pair in range(n_layers):
        if pair in positions:
            layers.append(Squeeze())
            c, h, w = 4 * c, h // 2, w // 2
        k = groups[sum(pair >= p for p in positions)]  # the scale this pair is at
        for kind in ("lower", "upper"):
            layers += make_layer(c, h, w, k, kind)
    return layers, (c, h, w)
