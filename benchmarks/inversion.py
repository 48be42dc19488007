"""Benchmark 3: sampling-time inversion of a trained model, tolerance stop against the paper's
fixed schedule.

A small MintNet is trained for a few hundred Adam steps on scikit-learn's 8x8 digits (values 0..16,
so ``x = v / 16`` and 17 grey levels). Held-out digits are encoded, ``z = f(v)``, and inverted back
with Algorithm 1 under several settings; the error is ``max |v_hat - v|`` in logit space (the
network's input), in float32. The paper's schedule is a fixed 100 iterations per Mint layer at
``alpha = 1 / 3.5`` (its MNIST ``newton_lr``), or at ``alpha = 1``.
"""

import warnings
from pathlib import Path
from typing import Any

import torch
from sklearn.datasets import load_digits

from benchmarks.common import format_table, round_robin, write_result
from mintnet.nn import ImageFlow, InverseSettings, InversionWarning, MintNet

NAME = "inversion"
COLUMNS = ["method", "alpha", "tol", "max_iter", "ms", "layer_evals", "max_error", "time_vs_paper"]
TARGET_ERROR = 1e-5
PAPER_ALPHA = 1 / 3.5
FIXED = 1e-45  # a tolerance no float32 residual meets short of 0: the loop runs max_iter times


def digits() -> torch.Tensor:
    """scikit-learn's digits as ``(1797, 1, 8, 8)`` floats in ``[0, 1]`` on 17 levels."""
    images = torch.as_tensor(load_digits().images, dtype=torch.float32)
    return (images / 16.0).unsqueeze(1)


def train(flow: ImageFlow, data: torch.Tensor, steps: int, batch: int, seed: int = 0) -> float:
    """Plain Adam on bits/dim; return the mean loss of the last 20 steps."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-3, amsgrad=True, eps=1e-4)
    losses = []
    for _ in range(steps):
        index = torch.randint(0, data.shape[0], (batch,), generator=generator)
        loss = flow(data[index]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return sum(losses[-20:]) / len(losses[-20:])


def run(
    quick: bool = False, reps: int | None = None, out_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Train, then time each inversion setting; write ``<out_dir>/inversion.json``."""
    reps = reps or (1 if quick else 5)
    steps, batch, n_test = (20, 16, 8) if quick else (400, 64, 128)
    torch.manual_seed(0)
    data = digits()
    train_set, test_set = data[:1500], data[1500 : 1500 + n_test]
    flow = ImageFlow(MintNet((1, 8, 8), n_layers=4, n_squeezes=1, hidden_groups=8), 17, 0.05)
    bpd = train(flow, train_set, steps, batch)
    flow.eval()
    with torch.no_grad():
        levels = torch.round(test_set * 16)
        v, _ = flow.logit((levels + 0.5) / 17)
        z, _ = flow.net(v)

    tolerances = (1e-5, 3e-6, 1e-6, 3e-7)
    methods = {
        f"tolerance stop (tol {tol:g})": InverseSettings(1.0, 100, tol) for tol in tolerances
    }
    methods |= {
        "paper: 100 iterations, alpha 1/3.5": InverseSettings(PAPER_ALPHA, 100, FIXED),
        "100 iterations, alpha 1": InverseSettings(1.0, 100, FIXED),
        "tolerance stop, alpha 1/3.5 (tol 1e-6)": InverseSettings(PAPER_ALPHA, 300, 1e-6),
    }
    outcome: dict[str, dict[str, float]] = {}

    def invert(settings: InverseSettings, name: str) -> Any:
        def go() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InversionWarning)
                v_hat, reports = flow.net.inverse_with_report(z, settings)
            outcome[name] = {
                "layer_evals": sum(r.evaluations for r in reports),
                "max_error": float((v_hat - v).abs().max()),
            }

        return go

    times = round_robin({n: invert(s, n) for n, s in methods.items()}, reps)
    paper = times["paper: 100 iterations, alpha 1/3.5"].wall
    rows = [
        {
            "method": name,
            "alpha": s.alpha,
            "tol": None if s.tol == FIXED else s.tol,
            "max_iter": s.max_iter,
            "ms": 1e3 * times[name].wall,
            "layer_evals": outcome[name]["layer_evals"],
            "max_error": outcome[name]["max_error"],
            "time_vs_paper": times[name].wall / paper,
            "meets_target": outcome[name]["max_error"] <= TARGET_ERROR,
        }
        for name, s in methods.items()
    ]
    settings = {
        "quick": quick,
        "reps": reps,
        "train_steps": steps,
        "train_batch": batch,
        "final_train_bpd": bpd,
        "n_images": n_test,
        "model": "MintNet((1, 8, 8), n_layers=4, n_squeezes=1, hidden_groups=8), logit lam 0.05",
        "target_error": TARGET_ERROR,
        "dtype": "float32",
    }
    write_result(NAME, rows, settings, out_dir or Path(__file__).parent / "results")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    return format_table(rows, COLUMNS)
