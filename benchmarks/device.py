"""Benchmark 5: the paper's density models on one device (made for a GPU), precision x compile.

For the paper's MNIST and CIFAR-10 density models at batch 64 this measures, on ``--device``:

* a full training step (forward, log-det, bits/dim, backward, Adam), float32 or bf16 autocast
  (the log-det stays float32), eager or compiled: images/s, and the peak CUDA memory of one step.
  "Compiled" is ``model.compile=layers`` (each Mint layer, one graph per stage shape), which
  compiled 3x faster than the whole flow on the CPU, for 94 % of its speed. Two eager A/B rows:
  ``tf32`` lets cuDNN and cuBLAS round float32 operands to TF32 (PyTorch's default for cuDNN;
  every other variant runs with TF32 off), and, where the layers use thin convolutions (matrix
  products; on the CPU only), ``F.conv2d`` turns them off;
* sampling: decoding 64 latents ``z ~ N(0, I)`` with the tolerance stop (alpha 1, tol 1e-5 and
  1e-6) and with the paper's fixed 100 iterations per layer at its step size, with the largest
  round-trip error of each (images on the grey-level grid, encoded then decoded, in logit
  space), and the tolerance stop again with TF32 allowed. The models are freshly initialised
  (near the identity), so the tolerance stop's time is a lower bound; the fixed schedule's does
  not depend on training;
* one Mint layer against its convolution floor at each stage of the two models (batch 64), eager
  and compiled, as in benchmark 1, and eager with ``F.conv2d`` for the layers that use thin
  convolutions.

GPU timings wait for the device (``torch.cuda.synchronize``) at the end of every call. On CPU the
full settings take hours; ``--quick`` runs tiny models and is what the tests use.
"""

import copy
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import format_table, round_robin, write_result
from benchmarks.device_tools import (
    decode_quietly,
    peak_mib,
    round_trip_error,
    tf32,
    timed,
    uses_thin_convolutions,
    with_tf32,
    without_thin_convolutions,
)
from benchmarks.inversion import FIXED, FP
from benchmarks.layer_vs_floor import ConvolutionFloor, floor_step, layer_step
from mintnet.modules.compile import compile_in_place
from mintnet.nn import ImageFlow, InverseSettings, MintLayer, MintNet

NAME = "device"
PARTS = ("train", "sample", "layers")
COLUMNS = [
    "model",
    "what",
    "variant",
    "batch",
    "images_per_s",
    "ms",
    "ratio",
    "peak_MiB",
    "max_error",
]
BATCH = 64
PAPER_STEP = {"paper-mnist": 1 / 3.5, "paper-cifar10": 1 / 1.1}  # the released newton_lr

# name -> (in_shape, n_layers, n_squeezes, K, n_bins, logit_lam)
FULL = {
    "paper-mnist": ((1, 28, 28), 20, 2, 45, 256, 1e-6),
    "paper-cifar10": ((3, 32, 32), 21, 2, 85, 256, 0.05),
}
QUICK = {"tiny": ((1, 8, 8), 2, 1, 18, 17, 0.05)}  # K = 18: thin convolutions on the CPU


def _train_step(flow: torch.nn.Module, x: torch.Tensor, bf16: bool) -> Callable[[], None]:
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-4, amsgrad=True, eps=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = flow(x).mean()
        loss.backward()
        optimizer.step()

    return step


def _train_rows(
    name: str, flow: ImageFlow, batch: int, device: torch.device, reps: int
) -> list[dict[str, Any]]:
    """Train-step rows: float32 / bf16 x eager / compiled (each Mint layer), and the eager A/B
    rows (TF32 on a CUDA device; ``F.conv2d`` where the model has thin convolutions)."""
    n_bins = flow.dequantize.n_bins
    x = (torch.randint(0, n_bins, (batch, *flow.net.in_shape)) / (n_bins - 1)).to(device)
    compiled = copy.deepcopy(flow)
    compile_in_place(compiled, "layers")
    steps = {
        f"{'compiled' if c else 'eager'} {'bf16' if bf16 else 'fp32'}": _train_step(
            compiled if c else flow, x, bf16
        )
        for c in (False, True)
        for bf16 in (False, True)
    }
    if device.type == "cuda":
        steps["eager tf32"] = with_tf32(_train_step(copy.deepcopy(flow), x, False))
    if uses_thin_convolutions(flow, device):
        steps["eager fp32, F.conv2d"] = _train_step(without_thin_convolutions(flow), x, False)
    t = round_robin({v: timed(s, device) for v, s in steps.items()}, reps)
    return [
        {
            "model": name,
            "what": "train step",
            "variant": variant,
            "batch": batch,
            "images_per_s": batch / t[variant].wall,
            "ms": 1e3 * t[variant].wall,
            "ratio": t[variant].wall / t["eager fp32"].wall,
            "peak_MiB": peak_mib(step, device),
        }
        for variant, step in steps.items()
    ]


def _sample_rows(
    name: str, flow: ImageFlow, batch: int, device: torch.device, reps: int
) -> list[dict[str, Any]]:
    """Decoding ``batch`` latents: the tolerance stop against the paper's fixed schedule, and the
    tolerance stop with TF32 allowed (on a CUDA device)."""
    flow.eval()
    tolerance = InverseSettings(1.0, 100, 1e-5, method=FP)
    schedules = {
        "tolerance stop (alpha 1, tol 1e-5)": (tolerance, False),
        "tolerance stop (alpha 1, tol 1e-6)": (InverseSettings(1.0, 100, 1e-6, method=FP), False),
        "paper: 100 iterations per layer": (
            InverseSettings(PAPER_STEP.get(name, 1.0), 100, FIXED, method=FP),
            False,
        ),
    }
    if device.type == "cuda":
        schedules["tolerance stop, tf32"] = (tolerance, True)
    z = torch.randn(batch, *flow.net.latent_shape, device=device)
    n_bins = flow.dequantize.n_bins
    images = (torch.randint(0, n_bins, (batch, *flow.net.in_shape)) / (n_bins - 1)).to(device)
    sampling, errors = {}, {}
    for label, (settings, allow) in schedules.items():
        decode = partial(decode_quietly, flow, z, settings)
        sampling[label] = with_tf32(decode) if allow else decode
        with tf32(allow):
            errors[label] = round_trip_error(flow, images, settings)
    # no warm-up decode: the round-trip errors above already ran each schedule once, and a paper
    # schedule decode of the CIFAR-10 model takes many seconds
    calls = {v: timed(f, device) for v, f in sampling.items()}
    t = round_robin(calls, max(1, reps // 5), warmup=0)
    flow.train()
    paper = t["paper: 100 iterations per layer"].wall
    return [
        {
            "model": name,
            "what": f"sample {batch} images",
            "variant": variant,
            "batch": batch,
            "images_per_s": batch / t[variant].wall,
            "ms": 1e3 * t[variant].wall,
            "ratio": t[variant].wall / paper,
            "max_error": errors[variant],
        }
        for variant in sampling
    ]


def _layer_rows(
    name: str, flow: ImageFlow, batch: int, device: torch.device, reps: int
) -> list[dict[str, Any]]:
    """Layer against floor, eager and compiled (and eager with ``F.conv2d`` where the layer has
    thin convolutions), at the first layer of each stage of ``flow``'s network."""
    rows, seen = [], set()
    for layer in flow.net.layers:
        if not isinstance(layer, MintLayer) or layer.shape in seen:
            continue
        seen.add(layer.shape)
        probe = MintLayer(*layer.shape, layer.hidden_groups, "lower").to(device)
        floor = ConvolutionFloor(probe)
        x = torch.randn(batch, *layer.shape, device=device)

        steps = {
            "floor": floor_step(floor, x),
            "eager": layer_step(probe, x),
            "compiled_floor": floor_step(torch.compile(floor, fullgraph=True), x),
            "compiled": layer_step(torch.compile(probe, fullgraph=True), x),
        }
        if probe.uses_thin_convolutions(device):
            plain = copy.deepcopy(probe)
            plain.thin_convolutions = False
            steps["eager, F.conv2d"] = layer_step(plain, x)
        t = round_robin({k: timed(v, device) for k, v in steps.items()}, reps)
        c, h, _ = layer.shape
        for variant in [v for v in steps if "floor" not in v]:
            reference = "compiled_floor" if variant == "compiled" else "floor"
            measured = t[variant].wall
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
    parts: tuple[str, ...] = PARTS,
    names: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Measure the models on ``device``; return the rows and write ``<out_dir>/device.json``.

    ``parts`` picks among ``train``, ``sample`` and ``layers`` (each compiles its own graphs, which
    is most of the time a run takes), ``names`` among the models (default: all)."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"--parts: unknown {sorted(unknown)}; choose from {' '.join(PARTS)}")
    reps = reps or (2 if quick else 10)
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            f"--device {device}: this machine has no CUDA device (torch.cuda.is_available() is "
            "False); run it on a GPU machine, or pass --device cpu --quick for a small CPU run"
        )
    batch = 4 if quick else BATCH
    # every Mint layer (and every floor) shares one forward code object: allow a graph per
    # shape, precision and mode of both models, or dynamo would stop compiling after 8
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    rows: list[dict[str, Any]] = []
    settings = {
        "quick": quick,
        "reps": reps,
        "device": str(dev),
        "batch": batch,
        "parts": list(parts),
        "compiled": "each Mint layer (model.compile=layers)",
        "tf32": "off, except in the rows named tf32",
    }
    models = QUICK if quick else FULL
    if names:
        unknown = set(names) - set(models)
        if unknown:
            raise SystemExit(
                f"--models: unknown {sorted(unknown)}; choose from {' '.join(models)}"
            )
        models = {n: models[n] for n in names}
    measure = {"train": _train_rows, "sample": _sample_rows, "layers": _layer_rows}
    with tf32(False):
        for name, (shape, n_layers, n_squeezes, k, n_bins, lam) in models.items():
            torch.manual_seed(0)
            flow = ImageFlow(MintNet(shape, n_layers, n_squeezes, k), n_bins, lam).to(dev)
            for part in parts:
                rows += measure[part](name, flow, batch, dev, reps)
                # written after each part, so a run stopped part-way keeps what it measured
                write_result(NAME, rows, settings, out_dir or Path(__file__).parent / "results")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    return format_table(rows, COLUMNS)
