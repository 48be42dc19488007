"""The plots and image panels of the results page, drawn from the runs' numbers with
matplotlib's object API (no global state, no display); PNGs kept under :data:`MAX_PNG_BYTES`."""

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from reproduction import metrics

Rows = list[dict[str, float]]

__all__ = [
    "IMAGE_PREFIX",
    "MAX_PNG_BYTES",
    "image_panel",
    "plot_classification",
    "plot_comparison",
    "plot_inversion",
    "plot_learning_curve",
]

MAX_PNG_BYTES = 150_000
IMAGE_PREFIX = "fashion_mnist_"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _smooth(values: np.ndarray, n: int) -> np.ndarray:
    if len(values) < n or n < 2:
        return values
    kernel = np.ones(n) / n
    padded = np.concatenate([np.full(n - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    _shrink(path)
    return path


def _shrink(path: Path) -> None:
    """Re-save with a 256-colour palette if the PNG is over :data:`MAX_PNG_BYTES`."""
    if path.stat().st_size <= MAX_PNG_BYTES:
        return
    with Image.open(path) as image:
        image.convert("RGB").quantize(256).save(path, optimize=True)


def plot_learning_curve(density: Rows, baseline: float, path: Path) -> Path:
    """Bits/dim against step and against wall-clock minutes: training (per batch, smoothed, and
    epoch means) and validation, with the independent-pixel baseline."""
    fig = _figure(10, 4)
    for i, axis in enumerate(("step", "wall-clock time (min)")):
        ax = fig.add_subplot(1, 2, i + 1)
        for key, label, style in (
            ("train/loss", "train (per batch, smoothed)", {"lw": 0.8, "alpha": 0.6}),
            ("train/bpd", "train (epoch mean)", {"marker": ".", "lw": 1}),
            ("val/bpd", "validation", {"marker": "o", "ms": 3, "lw": 1.5}),
        ):
            steps, minutes, values = metrics.curve(density, key)
            if key == "train/loss":
                values = _smooth(values, 20)
            ax.plot(steps if i == 0 else minutes, values, label=label, **style)
        ax.axhline(baseline, color="grey", ls="--", lw=1, label="independent pixels (test)")
        ax.set_xlabel(axis)
        ax.set_ylabel("bits/dim")
        lowest = metrics.best(density, "val/bpd")
        ax.set_ylim(lowest - 0.3, max(baseline + 0.5, lowest + 1.0))
        ax.grid(True, alpha=0.3)
        if i == 0:
            ax.legend(fontsize=8)
    epochs, steps = metrics.epochs(density), metrics.steps(density)
    fig.suptitle(f"MintNet flow on Fashion-MNIST: {epochs} epochs, {steps} steps")
    return _save(fig, path)


def plot_comparison(runs: dict[str, Rows], descriptions: dict[str, str], path: Path) -> Path:
    """Validation bits/dim of the candidates against wall-clock minutes and against step."""
    fig = _figure(10, 3.6)
    for i, axis in enumerate(("wall-clock time (min)", "step")):
        ax = fig.add_subplot(1, 2, i + 1)
        for name, run in runs.items():
            steps, minutes, values = metrics.curve(run, "val/bpd")
            (line,) = ax.plot(minutes if i == 0 else steps, values, marker="o", ms=3)
            line.set_label(f"{name}: {descriptions[name]}")
        ax.set_xlabel(axis)
        ax.set_ylabel("validation bits/dim")
        ax.grid(True, alpha=0.3)
        if i == 0:
            ax.legend(fontsize=8)
    return _save(fig, path)


def _val_acc(run: Rows) -> np.ndarray:
    """Validation accuracy (percent) after each epoch."""
    return 100 * metrics.curve(run, "val/acc")[2]


def _seed_band(ax: Any, runs: Sequence[Rows], label: str) -> None:
    """The mean over ``runs`` of validation accuracy per epoch, and a band from the lowest to the
    highest."""
    curves = [_val_acc(run) for run in runs]
    n = min(len(c) for c in curves)
    stacked = np.stack([c[:n] for c in curves])
    epochs = np.arange(1, n + 1)
    (line,) = ax.plot(epochs, stacked.mean(0), marker="o", ms=3, label=label)
    ax.fill_between(epochs, stacked.min(0), stacked.max(0), color=line.get_color(), alpha=0.2)


def plot_classification(
    base: dict[str, list[Rows]], long: dict[str, Rows], ablations: dict[str, Rows], path: Path
) -> Path:
    """Validation accuracy against epoch: each model's mean over seeds with a band from the
    lowest to the highest seed, its longer budget (dashed), MintNet's ablations (dotted)."""
    fig = _figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    others = [(f"{m}: longer budget", run, "--") for m, run in long.items()]
    others += [(f"MintNet, {name}", run, ":") for name, run in ablations.items()]
    for model, runs in base.items():
        if runs:
            seeds = "one seed" if len(runs) == 1 else f"mean of {len(runs)} seeds (band: min-max)"
            _seed_band(ax, runs, f"{model}: {seeds}")
    for label, run, style in others:
        values = _val_acc(run)
        ax.plot(np.arange(1, len(values) + 1), values, ls=style, lw=1.2, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_inversion(csv_text: str, path: Path) -> Path:
    """The paper's Figure 4 from the analysis' CSV."""
    from mintnet.analysis import plot_inversion_accuracy

    rows = [
        {
            k: v if k == "method" else int(v) if k == "iterations" else float(v)
            for k, v in r.items()
        }
        for r in csv.DictReader(io.StringIO(csv_text))
    ]
    plot_inversion_accuracy(rows, path, title="Fashion-MNIST flow: Figure 4 (training images)")
    _shrink(path)
    return path


def image_panel(panels: Sequence[tuple[str, Any]], nrow: int, path: Path) -> Path:
    """Tile each batch of images in [0, 1] (2x nearest upscale) and place the panels side by side
    under their titles; greyscale PNG."""
    import torch

    from mintnet.analysis import make_image_grid

    grids = []
    for _, images in panels:
        images = images.clamp(0, 1).cpu()
        scale = 2 * images.shape[-1]
        grid = make_image_grid(images, nrow, min_tile=scale)[0]  # (H, W), grey
        grids.append((grid * 255).round().to(torch.uint8).numpy())
    height = max(g.shape[0] for g in grids)
    fig = _figure(sum(g.shape[1] for g in grids) / 100 + 0.3 * len(grids), height / 100 + 0.4)
    for i, ((title, _), grid) in enumerate(zip(panels, grids, strict=True)):
        ax = fig.add_subplot(1, len(grids), i + 1)
        ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92, wspace=0.04)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    with Image.open(path) as image:
        image.convert("L").save(path, optimize=True)
    return path
