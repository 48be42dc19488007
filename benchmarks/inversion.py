"""Benchmark 3: sampling-time inversion of a trained model, tolerance stop against the paper's
fixed schedule.

A small MintNet is trained with a few hundred Adam steps on Fashion-MNIST when its IDX files are
present (looked up by :class:`mintnet.data.FashionMNISTDataModule`: ``<data root>/FashionMNIST/raw``,
then, for the default root, Debian's ``/usr/share/datasets/fashion-mnist``), otherwise on
scikit-learn's 8x8 digits:

* Fashion-MNIST: 28x28, 256 grey levels, the paper's MNIST logit ``lambda = 1e-6``; the held-out
  images are the first ones of the official test file.
* digits: values 0..16, so 17 grey levels, ``lambda = 0.05``; the held-out images are the digits
  after the first 1500.

Both go through one code path: grey levels ``k`` become ``x = k / (n_bins - 1)``, the network input
is the centre of each level's bin, ``v = logit((k + 1/2) / n_bins)``, and ``z = f(v)``. Each ``z``
is inverted back with Algorithm 1 under several settings; the error is ``max |v_hat - v|`` in logit
space (the network's input), in float32. The paper's schedule is a fixed 100 iterations per Mint
layer at ``alpha = 1 / 3.5`` (its MNIST ``newton_lr``), or at ``alpha = 1``. The result's settings
and every row name the dataset that ran.
"""

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sklearn.datasets import load_digits

from benchmarks.common import format_table, round_robin, write_result
from mintnet.data import DatasetNotFoundError, FashionMNISTDataModule
from mintnet.nn import ImageFlow, InverseSettings, InversionWarning, MintNet

NAME = "inversion"
COLUMNS = ["method", "alpha", "tol", "max_iter", "ms", "layer_evals", "max_error", "time_vs_paper"]
TARGET_ERROR = 1e-5
PAPER_ALPHA = 1 / 3.5
PAPER_SCHEDULE = "paper: 100 iterations, alpha 1/3.5"
FIXED = 1e-45  # a tolerance no float32 residual meets short of 0: the loop runs max_iter times
FP = "fixed_point"  # every schedule here is the paper's Algorithm 1 (the solvers benchmark: the rest)
N_LAYERS, N_SQUEEZES, HIDDEN_GROUPS = 4, 1, 8
REPOSITORY_DATA = Path(__file__).resolve().parents[1] / "data"
DATA_ROOT = Path(os.environ.get("MINTNET_DATA_DIR", REPOSITORY_DATA))
"""Where Fashion-MNIST is looked for by default: ``$MINTNET_DATA_DIR``, else the repository's
``data/``, as ``conf/paths/default.yaml`` has it for a run from the repository root."""


@dataclass(frozen=True)
class TrainingData:
    """Integer grey levels ``0..n_bins-1`` as uint8 tensors ``(N, 1, H, W)``, and the model's
    ``logit_lam``."""

    name: str
    train: torch.Tensor
    test: torch.Tensor
    n_bins: int
    logit_lam: float


def fashion_mnist(data_root: Path) -> TrainingData | None:
    """Fashion-MNIST's train and test images, or None when the data module finds no files.

    Corrupt files raise :class:`mintnet.data.DatasetCorruptError` rather than falling back.
    """
    system_copy = Path(data_root).resolve() == REPOSITORY_DATA  # an explicit root: that one only
    module = FashionMNISTDataModule(str(data_root), system_copy=system_copy)
    try:
        module.check()
    except DatasetNotFoundError:
        return None
    module.setup()
    # copies: the arrays are read-only views of the file's bytes
    train, test = (torch.tensor(module.datasets[s].data.images) for s in ("train", "test"))
    return TrainingData("fashion_mnist", train, test, FashionMNISTDataModule.n_bins, 1e-6)


def digits() -> TrainingData:
    """scikit-learn's 1797 digits ``(1, 8, 8)`` on 17 levels: 1500 to train, the rest held out."""
    levels = torch.as_tensor(load_digits().images, dtype=torch.uint8).unsqueeze(1)
    return TrainingData("digits", levels[:1500], levels[1500:], 17, 0.05)


def train(flow: ImageFlow, levels: torch.Tensor, steps: int, batch: int, seed: int = 0) -> float:
    """Plain Adam on bits/dim over integer images ``levels``; return the mean loss of the last 20
    steps."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-3, amsgrad=True, eps=1e-4)
    scale = float(flow.dequantize.n_bins - 1)
    losses = []
    for _ in range(steps):
        index = torch.randint(0, levels.shape[0], (batch,), generator=generator)
        loss = flow(levels[index].float() / scale).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return sum(losses[-20:]) / len(losses[-20:])


def trained_model(data: TrainingData, quick: bool) -> tuple[ImageFlow, dict[str, Any]]:
    """The benchmark's small flow after plain Adam on ``data``, in eval mode, and what it was."""
    if data.name == "digits":
        steps, batch, n_test = (20, 16, 8) if quick else (400, 64, 128)
    else:
        steps, batch, n_test = (20, 16, 8) if quick else (300, 32, 32)
    shape = tuple(data.train.shape[1:])
    net = MintNet(shape, n_layers=N_LAYERS, n_squeezes=N_SQUEEZES, hidden_groups=HIDDEN_GROUPS)
    flow = ImageFlow(net, data.n_bins, data.logit_lam)
    bpd = train(flow, data.train, steps, batch)
    about = {
        "model": f"MintNet({shape}, n_layers={N_LAYERS}, n_squeezes={N_SQUEEZES}, "
        f"hidden_groups={HIDDEN_GROUPS}), {data.n_bins} levels, logit lam {data.logit_lam:g}",
        "train_steps": steps,
        "train_batch": batch,
        "final_train_bpd": bpd,
        "n_images": n_test,
    }
    return flow.eval(), about


def inversion_settings() -> dict[str, InverseSettings]:
    """The schedules compared: tolerance stops at alpha 1, the paper's fixed 100 iterations."""
    methods = {
        f"tolerance stop (tol {tol:g})": InverseSettings(1.0, 100, tol, method=FP)
        for tol in (1e-5, 3e-6, 1e-6, 3e-7)
    }
    return methods | {
        PAPER_SCHEDULE: InverseSettings(PAPER_ALPHA, 100, FIXED, method=FP),
        "100 iterations, alpha 1": InverseSettings(1.0, 100, FIXED, method=FP),
        "tolerance stop, alpha 1/3.5 (tol 1e-6)": InverseSettings(
            PAPER_ALPHA, 300, 1e-6, method=FP
        ),
    }


def time_inversions(
    flow: ImageFlow, v: torch.Tensor, methods: dict[str, InverseSettings], reps: int
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Invert ``z = f(v)`` with every setting, ``reps`` times interleaved; the median timings
    and, per setting, the layer evaluations and the largest error ``max |v_hat - v|``."""
    with torch.no_grad():
        z, _ = flow.net(v)
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

    return round_robin({n: invert(s, n) for n, s in methods.items()}, reps), outcome


def run(
    quick: bool = False,
    reps: int | None = None,
    out_dir: Path | None = None,
    data_root: Path | None = None,
) -> list[dict[str, Any]]:
    """Train, then time each inversion setting; write ``<out_dir>/inversion.json``.

    ``data_root`` is where Fashion-MNIST is looked for (None: :data:`DATA_ROOT`); without its
    files there or in Debian's directory, the model is trained on digits.
    """
    reps = reps or (1 if quick else 5)
    torch.manual_seed(0)
    data_root = DATA_ROOT if data_root is None else data_root
    data = fashion_mnist(data_root) or digits()
    flow, about = trained_model(data, quick)
    with torch.no_grad():
        v = flow.centre_logits(data.test[: about["n_images"]].float() / (data.n_bins - 1))
    methods = inversion_settings()
    times, outcome = time_inversions(flow, v, methods, reps)
    paper = times[PAPER_SCHEDULE].wall
    rows = [
        {
            "dataset": data.name,
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
        "dataset": data.name,
        "data_root": str(data_root),
        "n_bins": data.n_bins,
        "logit_lam": data.logit_lam,
        **about,
        "target_error": TARGET_ERROR,
        "dtype": "float32",
    }
    write_result(NAME, rows, settings, out_dir or Path(__file__).parent / "results")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as Markdown, under a line naming the dataset the model was trained on."""
    dataset = rows[0]["dataset"] if rows else "?"
    return f"trained on: {dataset}\n\n" + format_table(rows, COLUMNS)
