"""Benchmark 5: the inverse's solvers on trained flows, against the paper's Algorithm 1.

Two flows are trained here with plain Adam on bits/dim: the digits flow of the ``inversion``
benchmark (8x8, 4 lower/upper pairs, K = 8) and, when its IDX files are found, a Fashion-MNIST
flow (28x28, 6 pairs around 2 squeezes, K = 16, 4, 1; the shape of
``experiment=fashion_mnist_density``). For 64 test images (``z = f(v)`` of the logits at the
centre of each grey level's bin) and 64 prior samples at temperature 1, each solver inverts every
Mint layer down to the dtype's default tolerance on ``max |f(x) - z|`` (1e-5 in float32, 1e-10 in
float64), at most ``MAX_ITER`` updates per layer:

* the paper's iteration with its MNIST step size ``alpha = 1/3.5`` and the tolerance stop (the
  reference every ratio is taken against), and with ``alpha = 1``;
* ``damped`` from ``alpha = 1/3.5``, and ``anderson`` on the map with ``alpha = 1``, memory 10 and
  5 (the default), and memory 5 without the float64 refinement of the samples left above tol.

Every row says what fraction of the inputs ended within tol in every layer, the layer evaluations
per input (all layers), the median wall time, and both as ratios to the reference measured in the
same process; ``refined`` counts the float64 second solves per input, summed over the layers.
"""

import warnings
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import format_table, round_robin, write_result
from benchmarks.inversion import DATA_ROOT, PAPER_ALPHA, TrainingData, digits, fashion_mnist
from mintnet.checkpoint import load_flow_from_checkpoint
from mintnet.nn import (
    ImageFlow,
    InverseSettings,
    InversionWarning,
    MintLayer,
    MintNet,
    unconverged,
)

NAME = "solvers"
COLUMNS = [
    "dataset",
    "dtype",
    "inputs",
    "method",
    "converged",
    "layer_evals",
    "evals_vs_paper",
    "ms",
    "time_vs_paper",
    "worst_residual",
    "refined",
]
MAX_ITER = 500
PAPER = "fixed_point, alpha 1/3.5"
SOLVERS = {
    PAPER: ("fixed_point", PAPER_ALPHA, 10, False),
    "fixed_point, alpha 1": ("fixed_point", 1.0, 10, False),
    "damped, alpha 1/3.5": ("damped", PAPER_ALPHA, 10, False),
    "anderson, alpha 1, m 10": ("anderson", 1.0, 10, True),
    "anderson, alpha 1, m 5 (the default)": ("anderson", 1.0, 5, True),
    "anderson, alpha 1, m 5, no float64": ("anderson", 1.0, 5, False),
}
"""Row name -> ``(method, alpha, anderson_memory, refine_in_float64)``; the last two matter to
``anderson`` only."""
ARCHITECTURES = {"digits": (4, 1, 8, 1e-3), "fashion_mnist": (6, 2, 16, 3e-3)}
"""Per dataset: lower/upper pairs, squeezes, K at the first scale, Adam's learning rate."""


def trained_flow(data: TrainingData, steps: int, seed: int = 0) -> ImageFlow:
    """A flow of :data:`ARCHITECTURES` after ``steps`` Adam steps on batches of 64, eval mode."""
    pairs, squeezes, k, lr = ARCHITECTURES[data.name]
    torch.manual_seed(seed)
    net = MintNet(
        tuple(data.train.shape[1:]), n_layers=pairs, n_squeezes=squeezes, hidden_groups=k
    )
    flow = ImageFlow(net, data.n_bins, data.logit_lam)
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr, amsgrad=True, eps=1e-4)
    scale = float(data.n_bins - 1)
    for _ in range(steps):
        index = torch.randint(0, data.train.shape[0], (64,))
        loss = flow(data.train[index].float() / scale).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return flow.eval()


def measure(
    flow: ImageFlow, targets: dict[str, torch.Tensor], reps: int, dtype: torch.dtype
) -> list[dict[str, Any]]:
    """Invert every target with every solver; one row per (inputs, solver)."""
    outcome: dict[tuple[str, str], dict[str, Any]] = {}

    def invert(inputs: str, solver: str) -> Any:
        method, alpha, memory, refine = SOLVERS[solver]
        settings = InverseSettings(alpha, MAX_ITER, None, "warn", method, memory, refine)

        def go() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InversionWarning)
                _, reports = flow.net.inverse_with_report(targets[inputs], settings)
            within = torch.ones(len(targets[inputs]), dtype=torch.bool)
            for report in reports:
                within &= report.residual <= report.tol
            outcome[inputs, solver] = {
                "converged": float(within.float().mean()),
                "layer_evals": sum(r.evaluations for r in reports),
                "worst_residual": max(r.max_residual for r in reports),
                "refined": sum(r.refined for r in reports) / len(targets[inputs]),
                "failing_layers": [name for name, _ in unconverged(reports)],
            }

        return go

    jobs = {(i, s): invert(i, s) for i in targets for s in SOLVERS}
    times = round_robin(jobs, reps, warmup=0)
    rows = []
    for (inputs, solver), timing in times.items():
        paper, result = outcome[inputs, PAPER], outcome[inputs, solver]
        rows.append(
            {
                "dtype": str(dtype).removeprefix("torch."),
                "inputs": inputs,
                "method": solver,
                **result,
                "evals_vs_paper": result["layer_evals"] / paper["layer_evals"],
                "ms": 1e3 * timing.wall,
                "time_vs_paper": timing.wall / times[inputs, PAPER].wall,
            }
        )
    return rows


@torch.no_grad()
def coupling(flow: ImageFlow, v: torch.Tensor, powers: int = 12) -> list[dict[str, Any]]:
    r"""Why a layer is hard to invert, at the exact solution of the first input of ``v``
    (float64): per Mint layer the smallest ``t`` and Jacobian diagonal ``D``, the off-diagonal
    coupling :math:`N = D^{-1}(J - D)` (strictly triangular, so nilpotent) through
    :math:`\max_k \lVert N^k \rVert_\infty` for ``k <= powers`` (above 1: the error of the
    iteration with ``alpha = 1``, :math:`e_{t+1} = -N e_t` to first order, grows before it dies),
    and the float32 error of evaluating the layer at the solution (the residual no float32 solver
    can go below)."""
    flow = flow.to(torch.float64)
    x = v[:1].to(torch.float64)
    rows = []
    for layer in flow.net.layers:
        if isinstance(layer, MintLayer):
            w = layer.masked_weights()
            y, diag = layer.value_and_diagonal(x, w)
            with torch.enable_grad():
                jac = torch.autograd.functional.jacobian(
                    lambda a, layer=layer, x=x: layer(a.view_as(x))[0].flatten(), x.flatten()
                )
            d = jac.diagonal()
            n = (jac - torch.diag(d)) / d[:, None]
            power, growth = torch.eye(len(d), dtype=d.dtype), 0.0
            for _ in range(powers):
                power = power @ n
                growth = max(growth, float(power.abs().sum(dim=1).max()))
            y32, _ = layer.float()(x.float())
            layer.double()
            rows.append(
                {
                    "layer": layer.name,
                    "t_min": float(w.t.min()),
                    "diag_min": float(diag.min()),
                    "coupling_max_power_norm": growth,
                    "float32_evaluation_error": float((y32.double() - y).abs().max()),
                    "z_max": float(y.abs().max()),
                }
            )
        x = layer(x)[0]
    return rows


def measure_both_dtypes(
    flow: ImageFlow, images: torch.Tensor, n_bins: int, label: str, reps: int
) -> list[dict[str, Any]]:
    """Every solver on ``z = f(v)`` of ``images`` (grey levels, ``(N, C, H, W)``) and on as many
    prior samples at temperature 1, in float32 and float64; ``label`` names the images."""
    rows = []
    for dtype in (torch.float32, torch.float64):
        flow = flow.to(dtype)
        with torch.no_grad():
            v = flow.centre_logits(images.to(dtype) / (n_bins - 1))
            generator = torch.Generator().manual_seed(0)
            shape = (len(images), *flow.net.latent_shape)
            prior = torch.randn(shape, generator=generator, dtype=dtype)
            targets = {label: flow.net(v)[0], "prior, T = 1": prior}
        rows += measure(flow, targets, reps, dtype)
    return rows


def run(
    quick: bool = False,
    reps: int | None = None,
    out_dir: Path | None = None,
    data_root: Path | None = None,
    checkpoint: Path | None = None,
    flows: tuple[str, ...] = tuple(ARCHITECTURES),
) -> list[dict[str, Any]]:
    """Train the flows named in ``flows`` (or load ``checkpoint``'s), time every solver; write
    ``<out_dir>/solvers.json``.

    With ``checkpoint`` (a density run's ``.ckpt`` or a saved flow, e.g. the results pipeline's
    Fashion-MNIST flow) nothing is trained: its flow inverts the first 64 images of the training
    file and 64 prior samples."""
    reps = reps or (1 if quick else 2)
    n = 8 if quick else 64
    found = fashion_mnist(DATA_ROOT if data_root is None else data_root)
    if checkpoint is not None:
        if found is None:
            raise FileNotFoundError("--checkpoint needs Fashion-MNIST's files (see --data-root)")
        flow = load_flow_from_checkpoint(checkpoint).eval()
        rows = measure_both_dtypes(flow, found.train[:n], found.n_bins, "training images", reps)
        rows = [{"dataset": f"checkpoint {checkpoint.name}", **r} for r in rows]
        settings = {
            "quick": quick,
            "reps": reps,
            "max_iter": MAX_ITER,
            "checkpoint": str(checkpoint),
        }
        write_result(NAME, rows, settings, out_dir or Path(__file__).parent / "results")
        return rows
    datasets = [digits()] + ([found] if found is not None else [])
    datasets = [data for data in datasets if data.name in flows]
    steps = {"digits": 20 if quick else 400, "fashion_mnist": 20 if quick else 3000}
    rows, trained, layers = [], {}, {}
    for data in datasets:
        flow = trained_flow(data, steps[data.name])
        trained[data.name] = steps[data.name]
        v = flow.centre_logits(data.test[:1].double() / (data.n_bins - 1))
        layers[data.name] = coupling(flow, v)
        measured = measure_both_dtypes(flow, data.test[:n], data.n_bins, "test images", reps)
        rows += [{"dataset": data.name, **r} for r in measured]
    settings = {
        "quick": quick,
        "reps": reps,
        "max_iter": MAX_ITER,
        "train_steps": trained,
        "coupling": layers,
    }
    write_result(NAME, rows, settings, out_dir or Path(__file__).parent / "results")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    return format_table(rows, COLUMNS)


def coupling_table(path: Path) -> str:
    """The per-layer analysis a ``solvers.json`` holds, as Markdown, one table per dataset."""
    import json

    layers = json.loads(path.read_text())["settings"]["coupling"]
    columns = list(next(iter(layers.values()))[0])
    return "\n\n".join(f"{name}\n\n{format_table(rows, columns)}" for name, rows in layers.items())
