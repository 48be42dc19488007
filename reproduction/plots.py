"""The plots and image panels of the results page, drawn from the runs' numbers with
matplotlib's object API (no global state, no display); PNGs kept under :data:`MAX_PNG_BYTES`."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from reproduction import metrics

Rows = list[dict[str, float]]
Line = tuple[Rows, str, str, dict[str, Any]]
"""One curve of a plot: the run's rows, the key, the label and matplotlib's line style."""

MAX_PNG_BYTES = 150_000
IMAGE_PREFIX = "fashion_mnist_"
MINUTES = "wall-clock time (min)"


def png(images: Path, name: str) -> Path:
    """The path of the page's image ``name`` in the folder ``images``."""
    return images / f"{IMAGE_PREFIX}{name}.png"


def _save(fig: Figure | None, path: Path) -> Path:
    """Save ``fig`` (None: already saved), re-saved with 256 colours if over :data:`MAX_PNG_BYTES`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig is not None:
        fig.tight_layout()
        fig.savefig(path)
    if path.stat().st_size > MAX_PNG_BYTES:
        with Image.open(path) as image:
            image.convert("RGB").quantize(256).save(path, optimize=True)
    return path


def _smooth(values: np.ndarray, n: int) -> np.ndarray:
    """The running mean of the last ``n`` values (the first repeated before the start)."""
    if len(values) < n:
        return values
    padded = np.concatenate([np.full(n - 1, values[0]), values])
    return np.convolve(padded, np.ones(n) / n, mode="valid")


def _panels(
    lines: Sequence[Line], axes: Sequence[str], ylabel: str, height: float, baseline: Any = None
) -> Figure:
    """One panel per x axis (``step`` or :data:`MINUTES`) side by side, each with ``lines`` and,
    if given, the independent-pixel ``baseline``; the legend in the first."""
    fig = Figure(figsize=(10, height), dpi=100)
    FigureCanvasAgg(fig)
    for i, axis in enumerate(axes):
        ax = fig.add_subplot(1, len(axes), i + 1)
        for rows, key, label, style in lines:
            steps, minutes, values = metrics.curve(rows, key)
            values = _smooth(values, 20) if key == "train/loss" else values
            ax.plot(minutes if axis == MINUTES else steps, values, label=label, **style)
        if baseline is not None:
            ax.axhline(baseline, color="grey", ls="--", lw=1, label="independent pixels (test)")
        ax.set_xlabel(axis)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    fig.axes[0].legend(fontsize=8)
    return fig


def plot_learning_curve(density: Rows, baseline: float, path: Path) -> Path:
    """Bits/dim against step and against wall-clock minutes: training (per batch, smoothed, and
    epoch means) and validation, with the independent-pixel baseline."""
    lines = [
        (density, "train/loss", "train (per batch, smoothed)", {"lw": 0.8, "alpha": 0.6}),
        (density, "train/bpd", "train (epoch mean)", {"marker": ".", "lw": 1}),
        (density, "val/bpd", "validation", {"marker": "o", "ms": 3, "lw": 1.5}),
    ]
    fig = _panels(lines, ("step", MINUTES), "bits/dim", 4, baseline)
    lowest = metrics.best(density, "val/bpd")
    for ax in fig.axes:
        ax.set_ylim(lowest - 0.3, max(baseline + 0.5, lowest + 1.0))
    epochs, steps = metrics.epochs(density), metrics.steps(density)
    fig.suptitle(f"MintNet flow on Fashion-MNIST: {epochs} epochs, {steps} steps")
    return _save(fig, path)


def plot_comparison(runs: dict[str, Rows], descriptions: dict[str, str], path: Path) -> Path:
    """Validation bits/dim of the candidates against wall-clock minutes and against step."""
    style = {"marker": "o", "ms": 3}
    lines = [
        (run, "val/bpd", f"{name}: {descriptions[name]}", style) for name, run in runs.items()
    ]
    return _save(_panels(lines, (MINUTES, "step"), "validation bits/dim", 3.6), path)


def plot_classification(
    base: dict[str, list[Rows]], long: dict[str, Rows], ablations: dict[str, Rows], path: Path
) -> Path:
    """Validation accuracy against epoch: each model's mean over seeds with a band from the
    lowest to the highest seed, its longer budget (dashed), MintNet's ablations (dotted)."""
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for model, runs in base.items():
        if runs:
            curves = [100 * metrics.curve(run, "val/acc")[2] for run in runs]
            stacked = np.stack([c[: min(map(len, curves))] for c in curves])
            epochs = np.arange(1, stacked.shape[1] + 1)
            seeds = "one seed" if len(runs) == 1 else f"mean of {len(runs)} seeds (band: min-max)"
            (line,) = ax.plot(epochs, stacked.mean(0), marker="o", ms=3, label=f"{model}: {seeds}")
            color = line.get_color()
            ax.fill_between(epochs, stacked.min(0), stacked.max(0), color=color, alpha=0.2)
    others = [(f"{m}: longer budget", run, "--") for m, run in long.items()]
    others += [(f"MintNet, {name}", run, ":") for name, run in ablations.items()]
    for label, run, style in others:
        values = 100 * metrics.curve(run, "val/acc")[2]
        ax.plot(np.arange(1, len(values) + 1), values, ls=style, lw=1.2, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_inversion(rows: list[dict[str, Any]], path: Path) -> Path:
    """The paper's Figure 4 from the analysis' rows (:func:`mintnet.analysis.inversion_accuracy`)."""
    from mintnet.analysis import plot_inversion_accuracy

    plot_inversion_accuracy(rows, path, title="Fashion-MNIST flow: Figure 4 (training images)")
    return _save(None, path)


def grey_grid(images: Any, nrow: int, path: Path) -> Path:
    """Tile images in [0, 1] (NaN, from a diverged inversion, black) at twice their size
    (:func:`mintnet.analysis.save_image_grid`) into a greyscale PNG."""
    from mintnet.analysis import save_image_grid

    save_image_grid(images.nan_to_num(0.0).clamp(0, 1), path, nrow, 2 * images.shape[-1])
    with Image.open(path) as image:
        image.convert("L").save(path, optimize=True)
    return path
