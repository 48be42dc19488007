"""Benchmark 5: the paper's density models on one device (made for a GPU), precision x compile.

For the paper's MNIST and CIFAR-10 density models at batch 64 this measures, on ``--device``:

* a full training step (forward, log-det, bits/dim, backward, Adam) in four variants, float32 or
  bf16 autocast (the log-det stays float32), eager or ``torch.compile``: images/s, and the peak
  CUDA memory of one step;
* sampling: decoding 64 latents ``z ~ N(0, I)`` with the tolerance stop (alpha 1, tol 1e-5) and
  with the paper's fixed 100 iterations per layer at its step size. The models are freshly
  initialised (near the identity), so the tolerance stop's time is a lower bound; the fixed
  schedule's time does not depend on training;
* one Mint layer against its convolution floor at each stage of the two models (batch 64), eager
  and compiled, as in benchmark 1.

GPU timings wait for the device (``torch.cuda.synchronize``) at the end of every call. On CPU the
full settings take hours; ``--quick`` runs tiny models and is what the tests use.
"""

import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import format_table, round_robin, write_result
from benchmarks.inversion import FIXED
from benchmarks.layer_vs_floor import ConvolutionFloor, floor_step, layer_step
from mintnet.nn import ImageFlow, InverseSettings, InversionWarning, MintLayer, MintNet

NAME = "device"
COLUMNS = ["model", "what", "variant", "batch", "images_per_s", "ms", "ratio", "peak_MiB"]
BATCH = 64
PAPER_STEP = {"paper-mnist": 1 / 3.5, "paper-cifar10": 1 / 1.1}  # the released newton_lr

# name -> (in_shape, n_layers, n_squeezes, K, n_bins, logit_lam)
FULL = {
    "paper-mnist": ((1, 28, 28), 20, 2, 45, 256, 1e-6),
    "paper-cifar10": ((3, 32, 32), 21, 2, 85, 256, 0.05),
}
QUICK = {"tiny": ((1, 8, 8), 2, 1, 2, 17, 0.05)}


def _timed(fn: Callable[[], Any], device: torch.device) -> Callable[[], None]:
    """``fn`` followed by a wait for the device, so wall time covers the work queued."""

    def call() -> None:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return call


def _peak_mib(fn: Callable[[], Any], device: torch.device) -> float | None:
    """Peak CUDA memory of one call of ``fn``, or None off CUDA."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


def _decode(flow: ImageFlow, z: torch.Tensor, settings: InverseSettings) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InversionWarning)  # the fixed schedule never "converges"
        flow.decode(z, settings)


def _train_step(flow: torch.nn.Module, x: torch.Tensor, bf16: bool) -> Callable[[], None]:
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-4, amsgrad=True, eps=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = flow(x).mean()
        loss.backward()
        optimizer.step()

    return step


def _layer_rows(
    name: str, net: MintNet, batch: int, device: torch.device, reps: int
) -> list[dict[str, Any]]:
    """Layer against floor, eager and compiled, at the first layer of each stage of ``net``."""
    rows, seen = [], set()
    for layer in net.layers:
        if not isinstance(layer, MintLayer) or layer.shape in seen:
            continue
        seen.add(layer.shape)
        probe = MintLayer(*layer.shape, layer.hidden_groups, "lower").to(device)
        floor = ConvolutionFloor(probe)
        x = torch.randn(batch, *layer.shape, device=device)

        steps = {
            "floor": floor_step(floor, x),
            "layer": layer_step(probe, x),
            "compiled_floor": floor_step(torch.compile(floor, fullgraph=True), x),
            "compiled_layer": layer_step(torch.compile(probe, fullgraph=True), x),
        }
        t = round_robin({k: _timed(v, device) for k, v in steps.items()}, reps)
        c, h, _ = layer.shape
        for variant, reference in (("eager", "floor"), ("compiled", "compiled_floor")):
            measured = t["layer" if variant == "eager" else "compiled_layer"].wall
            rows.append(
                {
                    "model": name,
                    "what": f"layer C={c} K={layer.hidden_groups} {h}x{h}",
                    "variant": variant,
                    "batch": batch,
                    "ms": 1e3 * measured,
                    "ratio": measured / t[reference].wall,
                }
            )
    return rows


def run(
    quick: bool = False,
    reps: int | None = None,
    out_dir: Path | None = None,
    device: str = "cuda",
) -> list[dict[str, Any]]:
    """Measure both models on ``device``; return the rows and write ``<out_dir>/device.json``."""
    reps = reps or (2 if quick else 10)
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            f"--device {device}: this machine has no CUDA device (torch.cuda.is_available() is "
            "False); run it on a GPU machine, or pass --device cpu --quick for a small CPU run"
        )
    batch = 4 if quick else BATCH
    rows: list[dict[str, Any]] = []
    for name, (shape, n_layers, n_squeezes, k, n_bins, lam) in (QUICK if quick else FULL).items():
        torch.manual_seed(0)
        flow = ImageFlow(MintNet(shape, n_layers, n_squeezes, k), n_bins, lam).to(dev)
        x = (torch.randint(0, n_bins, (batch, *shape)) / (n_bins - 1)).to(dev)
        compiled = torch.compile(flow)
        steps = {
            f"{'compiled' if c else 'eager'} {'bf16' if bf16 else 'fp32'}": _train_step(
                compiled if c else flow, x, bf16
            )
            for c in (False, True)
            for bf16 in (False, True)
        }
        t = round_robin({v: _timed(s, dev) for v, s in steps.items()}, reps)
        for variant, step in steps.items():
            rows.append(
                {
                    "model": name,
                    "what": "train step",
                    "variant": variant,
                    "batch": batch,
                    "images_per_s": batch / t[variant].wall,
                    "ms": 1e3 * t[variant].wall,
                    "ratio": t[variant].wall / t["eager fp32"].wall,
                    "peak_MiB": _peak_mib(step, dev),
                }
            )

        flow.eval()
        schedules = {
            "tolerance stop (alpha 1, tol 1e-5)": InverseSettings(1.0, 100, 1e-5),
            "paper: 100 iterations per layer": InverseSettings(
                PAPER_STEP.get(name, 1.0), 100, FIXED
            ),
        }
        z = torch.randn(batch, *flow.net.latent_shape, device=dev)
        sampling = {label: partial(_decode, flow, z, s) for label, s in schedules.items()}
        t = round_robin({v: _timed(f, dev) for v, f in sampling.items()}, max(1, reps // 5))
        paper = t["paper: 100 iterations per layer"].wall
        for variant in sampling:
            rows.append(
                {
                    "model": name,
                    "what": f"sample {batch} images",
                    "variant": variant,
                    "batch": batch,
                    "images_per_s": batch / t[variant].wall,
                    "ms": 1e3 * t[variant].wall,
                    "ratio": t[variant].wall / paper,
                }
            )
        flow.train()
        rows += _layer_rows(name, flow.net, batch, dev, reps)
    settings = {"quick": quick, "reps": reps, "device": str(dev), "batch": batch}
    write_result(NAME, rows, settings, out_dir or Path(__file__).parent / "results")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    return format_table(rows, COLUMNS)
