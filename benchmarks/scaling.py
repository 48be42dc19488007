"""Benchmark 4: forward + log-det time per image against image size and K.

One lower Mint layer with 3 channels, no gradients. The cost of a layer is ``O(K^2 C^2 k^2)`` per
pixel, so time per image divided by the pixel count should stay flat as the image grows.
"""

from pathlib import Path
from typing import Any

import torch

from benchmarks.common import format_table, round_robin, write_result
from mintnet.nn import MintLayer

NAME = "scaling"
COLUMNS = ["K", "H", "batch", "ms_per_image", "ns_per_pixel", "per_pixel_vs_smallest"]
CHANNELS = 3


def run(
    quick: bool = False, reps: int | None = None, out_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Time each (K, size); write ``<out_dir>/scaling.json``."""
    reps = reps or (2 if quick else 9)
    sizes, groups, pixels_per_batch = (
        ((4, 8), (2,), 2**8) if quick else ((8, 16, 32, 64), (4, 16), 2**15)
    )
    rows = []
    for k in groups:
        fns, batches = {}, {}
        for h in sizes:
            torch.manual_seed(0)
            layer = MintLayer(CHANNELS, h, h, k, "lower")
            batches[h] = max(1, pixels_per_batch // (h * h))  # about the same work per call
            x = torch.randn(batches[h], CHANNELS, h, h)

            def forward(layer: MintLayer = layer, x: torch.Tensor = x) -> None:
                with torch.no_grad():
                    layer(x)

            fns[h] = forward
        times = round_robin(fns, reps)
        base = None
        for h in sizes:
            per_image = times[h].wall / batches[h]
            per_pixel = per_image / (h * h)
            base = base or per_pixel
            rows.append(
                {
                    "K": k,
                    "H": h,
                    "batch": batches[h],
                    "ms_per_image": 1e3 * per_image,
                    "ns_per_pixel": 1e9 * per_pixel,
                    "per_pixel_vs_smallest": per_pixel / base,
                }
            )
    settings = {"quick": quick, "reps": reps, "channels": CHANNELS, "kind": "lower", "grad": False}
    write_result(NAME, rows, settings, out_dir or Path(__file__).parent / "results")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    return format_table(rows, COLUMNS)
