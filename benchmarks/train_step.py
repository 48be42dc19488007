"""Benchmark 2: images per second of a full density-model training step, and its memory.

A step is forward, log-det, bits/dim loss, backward and an Adam update of an :class:`ImageFlow`.
The baseline runs the same step with the log-det work removed: only the masked convolutions and
the ``t * x`` skip of every layer, scored by the prior alone. Memory on CPU is the size of the
tensors autograd saves for backward (``saved_tensors_hooks``, each storage counted once), which is
what activation checkpointing reduces; on a GPU the CUDA peak is reported as well.
"""

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from benchmarks.common import format_table, round_robin, write_result
from benchmarks.layer_vs_floor import convolutions
from mintnet.nn import ImageFlow, MintLayer, MintNet, bits_per_dim, standard_normal_log_prob

NAME = "train_step"
COLUMNS = [
    "model",
    "batch",
    "variant",
    "images_per_s",
    "step_ms",
    "vs_no_logdet_wall",
    "vs_no_logdet_cpu",
    "saved_MiB",
]

# (name, in_shape, n_layers, n_squeezes, K, n_bins, logit_lam, batch)
FULL = [
    ("paper-mnist", (1, 28, 28), 20, 2, 45, 256, 1e-6, 32),
    ("small-digits", (1, 8, 8), 4, 1, 8, 17, 0.05, 32),
]
QUICK = [("tiny", (1, 8, 8), 2, 1, 2, 17, 0.05, 4)]


def _convolutions_only(flow: ImageFlow, x: Tensor) -> Tensor:
    """The loss without any log-det: dequantise, logit, then each layer's masked convolutions,
    computed as the layer computes them (thin convolutions as matrix products)."""
    y, _ = flow.dequantize(x)
    v, _ = flow.logit(y)
    for layer in flow.net.layers:
        if not isinstance(layer, MintLayer):
            v, _ = layer(v)
            continue
        w, thin = layer.masked_weights(), layer.uses_thin_convolutions(v.device)
        weights = (w.w1, w.w2, w.w3, w.t)
        v = convolutions(
            layer, v, weights, same_convs=thin, kept_rows=thin and layer.channels == 1
        )
    return bits_per_dim(standard_normal_log_prob(v), flow.num_dims, flow.dequantize.n_bins).mean()


def _step(flow: ImageFlow, x: Tensor, full: bool) -> Any:
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-4, amsgrad=True, eps=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = flow(x).mean() if full else _convolutions_only(flow, x)
        loss.backward()
        optimizer.step()

    return step


def saved_bytes(loss_fn: Any) -> int:
    """Bytes of the distinct storages autograd saves for backward while ``loss_fn()`` runs."""
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_fn()
    loss.backward()
    return sum(storages.values())


def run(
    quick: bool = False, reps: int | None = None, out_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Measure every model; return the rows and write ``<out_dir>/train_step.json``."""
    reps = reps or (2 if quick else 7)
    rows = []
    for name, shape, n_layers, n_squeezes, k, n_bins, lam, batch in QUICK if quick else FULL:
        torch.manual_seed(0)
        flows = {
            ckpt: ImageFlow(
                MintNet(shape, n_layers, n_squeezes, k, checkpoint_layers=ckpt), n_bins, lam
            )
            for ckpt in (False, True)
        }
        flows[True].load_state_dict(flows[False].state_dict())
        x = torch.randint(0, n_bins, (batch, *shape)) / (n_bins - 1)
        fns = {
            "full": _step(flows[False], x, True),
            "checkpointed": _step(flows[True], x, True),
            "no_logdet": _step(flows[False], x, False),
        }
        t = round_robin(fns, reps)
        plain, ckpt = flows[False], flows[True]
        memory = {
            "full": saved_bytes(lambda f=plain, x=x: f(x).mean()),
            "checkpointed": saved_bytes(lambda f=ckpt, x=x: f(x).mean()),
            "no_logdet": saved_bytes(lambda f=plain, x=x: _convolutions_only(f, x)),
        }
        for variant in fns:
            rows.append(
                {
                    "model": name,
                    "batch": batch,
                    "variant": variant,
                    "images_per_s": batch / t[variant].wall,
                    "step_ms": 1e3 * t[variant].wall,
                    "vs_no_logdet_wall": t[variant].wall / t["no_logdet"].wall,
                    "vs_no_logdet_cpu": t[variant].cpu / t["no_logdet"].cpu,
                    "saved_MiB": memory[variant] / 2**20,
                    "cuda_peak_MiB": None,  # CPU run: no CUDA allocator to ask
                }
            )
    settings = {"quick": quick, "reps": reps, "optimizer": "Adam(amsgrad, eps=1e-4)"}
    write_result(NAME, rows, settings, out_dir or Path(__file__).parent / "results")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    return format_table(rows, COLUMNS)
