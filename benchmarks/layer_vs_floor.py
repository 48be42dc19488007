"""Benchmark 1: one Mint layer (forward + log-det + backward) against its convolution floor.

The floor is the same three convolutions with unmasked weights, ELU between them and the ``t * x``
skip, without masks, slopes or the Jacobian diagonal: the least any layer of this width must cost.
"""

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.common import format_table, round_robin, write_result
from mintnet.nn import MintLayer

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
    "compiled_ms",
    "ratio_compiled_wall",
]

# (model, C, K, H=W, batch): the paper's stage shapes; CIFAR uses batch 8 on CPU (32 is slow).
FULL = [
    ("mnist", 1, 45, 28, 32),
    ("mnist", 4, 11, 14, 32),
    ("mnist", 16, 2, 7, 32),
    ("cifar", 3, 85, 32, 8),
    ("cifar", 12, 21, 16, 8),
    ("cifar", 48, 5, 8, 8),
]
QUICK = [("tiny", 1, 4, 8, 4), ("tiny", 4, 2, 4, 4)]


def _floor_step(layer: MintLayer, x: Tensor) -> Any:
    """Forward + backward of the unmasked convolutions with the layer's raw weights."""
    w1, w2, w3 = (
        w.detach().clone().requires_grad_() for w in (layer.weight1, layer.weight2, layer.weight3)
    )
    pad = layer.padding

    def step() -> None:
        a1 = F.elu(F.conv2d(x, w1, layer.bias1, padding=pad))
        a2 = F.elu(F.conv2d(a1, w2, layer.bias2, padding=pad))
        y = F.conv2d(a2, w3, layer.bias3, padding=pad) + layer.t * x
        y.sum().backward()

    return step


def _layer_step(layer: torch.nn.Module, x: Tensor) -> Any:
    def step() -> None:
        y, logdet = layer(x)
        (y.sum() + logdet.sum()).backward()

    return step


def run(
    quick: bool = False, reps: int | None = None, out_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Measure every shape; return the rows and write ``<out_dir>/layer_vs_floor.json``.

    Full runs also time the layer under ``torch.compile(fullgraph=True)`` (the floor stays eager:
    its three convolutions are single library calls already); quick runs skip the compile."""
    reps = reps or (2 if quick else 15)
    rows = []
    for model, c, k, h, batch in QUICK if quick else FULL:
        torch.manual_seed(0)
        layer = MintLayer(c, h, h, k, "lower")
        x = torch.randn(batch, c, h, h)
        steps = {"floor": _floor_step(layer, x), "layer": _layer_step(layer, x)}
        if not quick:
            steps["compiled"] = _layer_step(torch.compile(layer, fullgraph=True), x)
        t = round_robin(steps, reps)
        compiled = t.get("compiled")
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
                "compiled_ms": 1e3 * compiled.wall if compiled else None,
                "ratio_compiled_wall": compiled.wall / t["floor"].wall if compiled else None,
            }
        )
    settings = {"quick": quick, "reps": reps, "kind": "lower", "kernel_size": 3}
    write_result(NAME, rows, settings, out_dir or Path(__file__).parent / "results")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    return format_table(rows, COLUMNS)
