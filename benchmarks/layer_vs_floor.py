"""Benchmark 1: one Mint layer (forward + log-det + backward) against its convolution floor.

The floor is the same three convolutions with unmasked weights, ELU between them and the ``t * x``
skip, without masks, slopes or the Jacobian diagonal: the least any layer of this width must cost.

A layer with ``thin_convolutions`` (few image channels, many hidden groups) computes its thin
convolutions as matrix products (``mintnet.nn.thin_convolutions``), faster than ``F.conv2d``; for
those rows a second floor computes its unmasked convolutions the same way, so
``ratio_vs_same_convs_floor`` shows what the masks and the log-det cost with like convolutions.
"""

import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.common import format_table, round_robin, write_result
from mintnet.nn import MintLayer
from mintnet.nn.thin_convolutions import (
    conv_from_channel,
    conv_from_few_channels,
    conv_kept_rows,
    conv_to_channel,
    conv_to_few_channels,
    pixel_rows,
)

NAME = "layer_vs_floor"
COLUMNS = [
    "model",
    "C",
    "K",
    "H",
    "batch",
    "floor_ms",
    "layer_ms",
    "ratio_wall",
    "ratio_cpu",
    "same_convs_floor_ms",
    "ratio_vs_same_convs_floor",
    "compiled_ms",
    "ratio_compiled_wall",
    "compiled_floor_ms",
    "ratio_compiled_vs_compiled_floor",
]

# (model, C, K, H=W, batch): the paper's stage shapes at its density-model batch of 32.
FULL = [
    ("mnist", 1, 45, 28, 32),
    ("mnist", 4, 11, 14, 32),
    ("mnist", 16, 2, 7, 32),
    ("cifar", 3, 85, 32, 32),
    ("cifar", 12, 21, 16, 32),
    ("cifar", 48, 5, 8, 32),
]
QUICK = [("tiny", 1, 18, 8, 4), ("tiny", 4, 2, 4, 4), ("tiny", 2, 18, 4, 4)]
SLOW_STEP_S = 0.5
"""Shapes whose floor step takes longer than this get a third of the repetitions (CIFAR 32x32
takes over a second per step on the 2-core CPU machine)."""


class ConvolutionFloor(torch.nn.Module):
    """The layer's three convolutions with its raw (unmasked) weights, ELU between them and the
    ``t * x`` skip: ``(B, C, H, W) -> (B, C, H, W)``, no masks, slopes or Jacobian diagonal.

    ``same_convs=True`` (layers with ``thin_convolutions``) computes the convolutions as the layer
    does: the thin ones as matrix products (for ``C = 1`` over pixel rows, the middle one
    channels-last), all ``k x k`` taps (an unmasked weight has no empty rows to skip)."""

    def __init__(self, layer: MintLayer, same_convs: bool = False) -> None:
        super().__init__()
        if same_convs and not layer.thin_convolutions:
            raise ValueError(
                f"same_convs needs a layer with thin_convolutions, got {layer.extra_repr()}: "
                "it uses F.conv2d like the plain floor"
            )
        self.layer, self.same_convs = layer, same_convs
        self.w1, self.w2, self.w3 = (
            torch.nn.Parameter(w.detach().clone())
            for w in (layer.weight1, layer.weight2, layer.weight3)
        )

    def forward(self, x: Tensor) -> Tensor:
        weights = (self.w1, self.w2, self.w3, self.layer.t)
        return convolutions(self.layer, x, weights, self.same_convs)


def convolutions(
    layer: MintLayer,
    x: Tensor,
    weights: tuple[Tensor, Tensor, Tensor, Tensor],
    same_convs: bool = False,
    kept_rows: bool = False,
) -> Tensor:
    """``conv3(elu(conv2(elu(conv1(x))))) + t * x`` with ``layer``'s biases and the given weights
    ``(w1, w2, w3, t)``, by ``F.conv2d``, or (``same_convs``) as a Mint layer with
    ``thin_convolutions`` computes them; ``kept_rows`` (``C = 1``) convolves only the middle
    weight's rows a single-channel mask keeps (right for masked weights only)."""
    w1, w2, w3, t = weights
    pad = layer.padding
    if not same_convs:
        a1 = F.elu(F.conv2d(x, w1, layer.bias1, padding=pad))
        a2 = F.elu(F.conv2d(a1, w2, layer.bias2, padding=pad))
        return torch.addcmul(F.conv2d(a2, w3, layer.bias3, padding=pad), t, x)
    if layer.channels > 1:
        a1 = F.elu(conv_from_few_channels(x, w1, layer.bias1))
        a2 = F.elu(F.conv2d(a1, w2, layer.bias2, padding=pad))
        return torch.addcmul(conv_to_few_channels(a2, w3, layer.bias3), t, x)
    b, _, h, w = x.shape
    a1 = F.elu(conv_from_channel(x, w1, layer.bias1)).view(b, h, w, -1).permute(0, 3, 1, 2)
    if kept_rows:
        a2 = F.elu(conv_kept_rows(a1, w2, layer.bias2, layer.kind))
    else:
        a2 = F.elu(F.conv2d(a1, w2, layer.bias2, padding=pad))
    return torch.addcmul(conv_to_channel(pixel_rows(a2), w3, layer.bias3, (h, w)), t, x)


def floor_step(floor: torch.nn.Module, x: Tensor) -> Any:
    """Forward + backward of the convolution floor."""

    def step() -> None:
        floor(x).sum().backward()

    return step


def layer_step(layer: torch.nn.Module, x: Tensor) -> Any:
    def step() -> None:
        y, logdet = layer(x)
        (y.sum() + logdet.sum()).backward()

    return step


def run(
    quick: bool = False, reps: int | None = None, out_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Measure every shape; return the rows and write ``<out_dir>/layer_vs_floor.json``.

    Full runs also time the layer and the floor under ``torch.compile(fullgraph=True)``; quick
    runs skip the compile. ``ratio_compiled_wall`` divides the compiled layer by the eager floor
    (the stricter figure); ``ratio_compiled_vs_compiled_floor`` divides it by the compiled floor,
    which carries the same fixed cost of entering a compiled graph."""
    reps = reps or (2 if quick else 15)
    rows = []
    for model, c, k, h, batch in QUICK if quick else FULL:
        torch.manual_seed(0)
        layer = MintLayer(c, h, h, k, "lower")
        floor = ConvolutionFloor(layer)
        x = torch.randn(batch, c, h, h)
        steps = {"floor": floor_step(floor, x), "layer": layer_step(layer, x)}
        if layer.thin_convolutions:
            steps["same_convs_floor"] = floor_step(ConvolutionFloor(layer, same_convs=True), x)
        if not quick:
            steps["compiled"] = layer_step(torch.compile(layer, fullgraph=True), x)
            steps["compiled_floor"] = floor_step(torch.compile(floor, fullgraph=True), x)
        row_reps = reps
        if not quick and _seconds(steps["floor"]) > SLOW_STEP_S:
            row_reps = max(3, reps // 3)
        t = round_robin(steps, row_reps)
        compiled, compiled_floor = t.get("compiled"), t.get("compiled_floor")
        same = t.get("same_convs_floor")
        rows.append(
            {
                "model": model,
                "C": c,
                "K": k,
                "H": h,
                "batch": batch,
                "floor_ms": 1e3 * t["floor"].wall,
                "layer_ms": 1e3 * t["layer"].wall,
                "ratio_wall": t["layer"].wall / t["floor"].wall,
                "ratio_cpu": t["layer"].cpu / t["floor"].cpu,
                "same_convs_floor_ms": 1e3 * same.wall if same else None,
                "ratio_vs_same_convs_floor": t["layer"].wall / same.wall if same else None,
                "compiled_ms": 1e3 * compiled.wall if compiled else None,
                "ratio_compiled_wall": compiled.wall / t["floor"].wall if compiled else None,
                "compiled_floor_ms": 1e3 * compiled_floor.wall if compiled_floor else None,
                "ratio_compiled_vs_compiled_floor": (
                    compiled.wall / compiled_floor.wall if compiled and compiled_floor else None
                ),
                "reps": row_reps,
            }
        )
    settings = {"quick": quick, "reps": reps, "kind": "lower", "kernel_size": 3}
    write_result(NAME, rows, settings, out_dir or Path(__file__).parent / "results")
    return rows


def _seconds(step: Any) -> float:
    """Wall time of one call (after one warm-up call)."""
    step()
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def table(rows: list[dict[str, Any]]) -> str:
    return format_table(rows, COLUMNS)
