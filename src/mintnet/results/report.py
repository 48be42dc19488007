"""Plots, tables and the document of the results pipeline, made from the runs' files every time:
the CSV logs (``runs/<name>/csv/version_*/metrics.csv``), ``pixel_baseline.json``, ``plan.json``,
the analysis' ``done.json`` and ``inversion_accuracy.csv``. Nothing in the document is typed by
hand; rerunning the pipeline rewrites it."""

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from mintnet.results.runs import Row, Run, final_values, read_json, read_metrics, series
from mintnet.results.timing import ELAPSED, EPOCH_END, EPOCH_TIME, PARAMS

if TYPE_CHECKING:
    from mintnet.results.pipeline import Pipeline

__all__ = ["RunSummary", "summarize", "write_report"]

PAPER = {
    "mnist_bpd": 0.98,
    "mnist_mint": 99.6,
    "mnist_resnet": 99.6,
    "cifar_mint": 91.2,
    "cifar_resnet": 92.6,
}
"""The paper's Table 1 and Table 2 figures quoted beside ours (MNIST and CIFAR-10, not Fashion-MNIST)."""

PARITY_POINTS = 1.4
"""The largest MintNet-to-ResNet gap in the paper's Table 1 (CIFAR-10: 91.2% against 92.6%)."""

IMAGE_PREFIX = "fashion_mnist_"
MAX_PNG_BYTES = 150_000


@dataclass
class RunSummary:
    """The numbers of one run, all read from its CSV log."""

    name: str
    rows: list[Row]
    command: str

    @property
    def final(self) -> dict[str, float]:
        return final_values(self.rows)

    def test(self, key: str) -> float:
        return self.final[f"test/{key}"]

    @property
    def params(self) -> int:
        return int(self.final.get(PARAMS, 0))

    @property
    def steps(self) -> int:
        """Training steps (optimizer updates)."""
        return int(max((row["step"] for row in self.rows if ELAPSED in row), default=-1)) + 1

    @property
    def epochs(self) -> int:
        return int(max((row["epoch"] for row in self.rows if EPOCH_END in row), default=-1)) + 1

    @property
    def fit_seconds(self) -> float:
        times = [row[k] for row in self.rows for k in (ELAPSED, EPOCH_END) if k in row]
        return max(times, default=0.0)

    @property
    def epoch_seconds(self) -> float:
        """Median seconds of a whole epoch (training and validation)."""
        return float(
            np.median([v for _, v in series(self.rows, EPOCH_TIME, "epoch")] or [math.nan])
        )

    def step_seconds(self) -> tuple[float, float]:
        """Seconds per training step within the first and the last epoch (validation excluded),
        from the clock logged with the steps."""
        by_epoch: dict[float, list[tuple[float, float]]] = {}
        for row in self.rows:
            if ELAPSED in row and "step" in row and "epoch" in row:
                by_epoch.setdefault(row["epoch"], []).append((row["step"], row[ELAPSED]))
        rates = [
            (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])
            for _, points in sorted(by_epoch.items())
            if len(points) > 1 and points[-1][0] > points[0][0]
        ]
        return (rates[0], rates[-1]) if rates else (math.nan, math.nan)

    def best(self, key: str, mode: str = "min") -> float:
        values = [v for _, v in series(self.rows, key)]
        return (min if mode == "min" else max)(values) if values else math.nan

    def curve(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(steps, minutes, values)`` of ``key``; minutes interpolated from the logged clock."""
        points = series(self.rows, key)
        steps = np.array([s for s, _ in points], dtype=float)
        values = np.array([v for _, v in points], dtype=float)
        clock = sorted(
            {(row["step"], row[k]) for row in self.rows for k in (ELAPSED, EPOCH_END) if k in row}
        )
        if clock:
            xs, ts = zip(*clock, strict=True)
            minutes = np.interp(steps, xs, ts) / 60
        else:
            minutes = np.full_like(steps, np.nan)
        return steps, minutes, values


def summarize(run: Run, out: Path) -> RunSummary:
    """A run's numbers, or FileNotFoundError if it has not finished."""
    record = run.done(out)
    if record is None:
        raise FileNotFoundError(
            f"run {run.name} has not finished ({run.folder(out)}); run the pipeline first"
        )
    return RunSummary(run.name, read_metrics(run.folder(out)), record["command"])


# -- plots ---------------------------------------------------------------------------------------


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


def plot_learning_curve(density: RunSummary, baseline: float, path: Path) -> Path:
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
            steps, minutes, values = density.curve(key)
            if key == "train/loss":
                values = _smooth(values, 20)
            ax.plot(steps if i == 0 else minutes, values, label=label, **style)
        ax.axhline(baseline, color="grey", ls="--", lw=1, label="independent pixels (test)")
        ax.set_xlabel(axis)
        ax.set_ylabel("bits/dim")
        top = max(baseline + 0.5, density.best("val/bpd") + 1.0)
        ax.set_ylim(density.best("val/bpd") - 0.3, top)
        ax.grid(True, alpha=0.3)
        if i == 0:
            ax.legend(fontsize=8)
    fig.suptitle(f"MintNet flow on Fashion-MNIST: {density.epochs} epochs, {density.steps} steps")
    return _save(fig, path)


def plot_comparison(runs: dict[str, RunSummary], descriptions: dict[str, str], path: Path) -> Path:
    """Validation bits/dim of the candidates against wall-clock minutes and against step."""
    fig = _figure(10, 3.6)
    for i, axis in enumerate(("wall-clock time (min)", "step")):
        ax = fig.add_subplot(1, 2, i + 1)
        for name, run in runs.items():
            steps, minutes, values = run.curve("val/bpd")
            (line,) = ax.plot(minutes if i == 0 else steps, values, marker="o", ms=3)
            line.set_label(f"{name}: {descriptions[name]}")
        ax.set_xlabel(axis)
        ax.set_ylabel("validation bits/dim")
        ax.grid(True, alpha=0.3)
        if i == 0:
            ax.legend(fontsize=8)
    return _save(fig, path)


def plot_classification(runs: dict[str, RunSummary], path: Path) -> Path:
    """Validation accuracy of both classifiers against epoch and wall-clock minutes."""
    fig = _figure(10, 3.6)
    for i, axis in enumerate(("epoch", "wall-clock time (min)")):
        ax = fig.add_subplot(1, 2, i + 1)
        for name, run in runs.items():
            _, minutes, values = run.curve("val/acc")
            epochs = np.arange(1, len(values) + 1)
            (line,) = ax.plot(epochs if i == 0 else minutes, 100 * values, marker="o", ms=3)
            line.set_label(name)
        ax.set_xlabel(axis)
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_inversion(csv_path: Path, path: Path) -> Path:
    """The paper's Figure 4 from the analysis' CSV."""
    from mintnet.analysis import plot_inversion_accuracy

    with csv_path.open(newline="") as file:
        rows = [
            {k: float(v) if k != "iterations" else int(v) for k, v in row.items()}
            for row in csv.DictReader(file)
        ]
    plot_inversion_accuracy(rows, path, title="Fashion-MNIST flow: Figure 4 (training images)")
    _shrink(path)
    return path


def image_panel(panels: Sequence[tuple[str, Path]], nrow: int, path: Path) -> Path:
    """Tile each saved image tensor (2x nearest upscale) and place the panels side by side under
    their titles; greyscale PNG."""
    import torch

    from mintnet.analysis import make_image_grid
    from mintnet.results.analysis import load_saved_images

    grids = []
    for _, source in panels:
        images = load_saved_images(source)
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


# -- tables and the document ---------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _bpd(value: float) -> str:
    return f"{value:.4f}"


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _code(command: str) -> str:
    return f"`{command}`"


def write_report(pipeline: "Pipeline", doc: Path) -> list[Path]:
    """Regenerate every plot and table from the runs' files and write ``doc``; images go to
    ``<doc folder>/images/``. Returns the files written."""
    out, profile = pipeline.out, pipeline.profile
    images = doc.parent / "images"
    baseline_record = read_json(out / "pixel_baseline.json")
    plan = read_json(out / "plan.json")
    if baseline_record is None or plan is None:
        raise FileNotFoundError(f"no finished runs in {out}; run the pipeline first")
    baseline = baseline_record["test/pixel_baseline_bpd"]
    machine = read_json(out / "machine.json") or {}
    candidates = {c.name: c for c in profile.candidates}
    compare = {name: summarize(pipeline.compare_run(c), out) for name, c in candidates.items()}
    density_run = pipeline.density_run(plan)
    density = summarize(density_run, out)
    analysis = read_json(density_run.folder(out) / "analysis" / "done.json")
    if analysis is None:
        raise FileNotFoundError(f"the analysis of {density_run.folder(out)} has not finished")
    mint_run, resnet_run = pipeline.classify_runs()
    classify = {"MintNet": summarize(mint_run, out), "ResNet": summarize(resnet_run, out)}
    analysis_dir = density_run.folder(out) / "analysis"

    written = [
        plot_comparison(
            compare,
            {k: c.description for k, c in candidates.items()},
            images / f"{IMAGE_PREFIX}density_comparison.png",
        ),
        plot_learning_curve(density, baseline, images / f"{IMAGE_PREFIX}learning_curve.png"),
        image_panel(
            [
                (f"T = {float(t):.1f}", analysis_dir / f"samples_T{t}.pt")
                for t in sorted(analysis["samples"], key=lambda t: -float(t))
            ],
            8,
            images / f"{IMAGE_PREFIX}samples.png",
        ),
        plot_inversion(
            Path(analysis["figure4_csv"]), images / f"{IMAGE_PREFIX}inversion_accuracy.png"
        ),
        image_panel(
            [
                (
                    "test images " + ", ".join(map(str, analysis["interpolation"]["indices"])),
                    analysis_dir / "interpolation.pt",
                )
            ],
            profile.interpolation_steps,
            images / f"{IMAGE_PREFIX}interpolation.png",
        ),
        plot_classification(classify, images / f"{IMAGE_PREFIX}classification.png"),
    ]
    lr = _learning_rate(density_run, out)
    text = render(
        pipeline, plan, baseline_record, machine, compare, density, analysis, classify, lr
    )
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
    return [*written, doc]


def _relative(path: Path) -> str:
    """``path`` relative to the working directory if it lies inside it, else absolute."""
    path = Path(os.path.abspath(path))
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _duration(seconds: float) -> str:
    value, unit = (seconds / 60, "minute") if seconds >= 60 else (seconds, "second")
    return f"{value:g} {unit}" + ("" if value == 1 else "s")


def _learning_rate(run: Run, out: Path) -> str:
    """The run's learning rate, from the config Hydra saved in its folder."""
    from omegaconf import OmegaConf

    config = OmegaConf.load(run.folder(out) / ".hydra" / "config.yaml")
    return f"{float(config.model.optimizer.lr):g}"


def render(
    pipeline: "Pipeline",
    plan: dict[str, Any],
    baseline_record: dict[str, Any],
    machine: dict[str, Any],
    compare: dict[str, RunSummary],
    density: RunSummary,
    analysis: dict[str, Any],
    classify: dict[str, RunSummary],
    density_lr: str,
) -> str:
    """The document's Markdown."""
    profile, out = pipeline.profile, pipeline.out
    quick = profile.name == "quick"
    command = "python -m mintnet.results" + (" --quick" if quick else "")
    make = "make results" + (" ARGS=--quick" if quick else "")
    baseline = baseline_record["test/pixel_baseline_bpd"]
    split = baseline_record.get("split", {})
    winner = plan["winner"]
    candidates = {c.name: c for c in profile.candidates}
    mint, resnet = classify["MintNet"], classify["ResNet"]
    gap = 100 * (resnet.test("acc") - mint.test("acc"))
    holds = gap <= PARITY_POINTS
    analysis_time = analysis["seconds"]
    all_runs = [*compare.values(), density, *classify.values()]
    fit_total = sum(r.fit_seconds for r in all_runs)
    tol = next(iter(analysis["samples"].values()))["tol"]
    if profile.eval_batches == 1.0:
        whole_test, whole_val = "on the whole test split", "on the whole validation split"
    else:
        whole_test = f"on {profile.eval_batches:g} batches of the test split"
        whole_val = f"on {profile.eval_batches:g} batches of the validation split"
    lines: list[str] = []
    add = lines.append

    add("# Results on Fashion-MNIST")
    add("")
    add(
        f"<!-- Written by `{command}` from the runs' logs in {_relative(out)}/; "
        "edits by hand are overwritten. -->"
    )
    add("")
    if quick:
        add(
            "**Quick mode:** tiny models trained for two batches, on whatever data the pipeline "
            "was given. These numbers only show that the pipeline works; they say nothing about "
            "MintNet."
        )
        add("")
    add(
        "MintNet (Song, Meng & Ermon, NeurIPS 2019, arXiv:1907.07945) on real images: "
        "Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017), 28x28 grey images of clothes in 10 "
        f"classes. The official 60k training images are split by a fixed seed into "
        f"{split.get('train', '?')} for training and {split.get('val', '?')} for validation; the "
        f"test split is the official {split.get('test', '?')}."
    )
    add("")
    add(
        f"Every number below was measured by `{make}` (`{command}`) and is read from the runs' "
        f"CSV logs by code. Machine: {machine.get('cpu', '?')}, "
        f"{machine.get('cpus_available', '?')} CPUs available, {machine.get('threads', '?')} "
        f"thread per training process (`OMP_NUM_THREADS`), no GPU; PyTorch "
        f"{machine.get('torch', '?')}, Python {machine.get('python', '?')}; "
        f"{machine.get('date', '?')}. Budget used: {_minutes(fit_total)} of training "
        f"(fitting with validation, {len(all_runs)} runs, from their logs) and "
        f"{_minutes(analysis_time)} of analysis (sampling, Figures 4 and 5); other jobs were "
        "sharing the machine, so the times are upper bounds."
    )
    add("")
    add("To reproduce everything, or to finish an interrupted run:")
    add("")
    add("```bash")
    add("apt-get install -y dataset-fashion-mnist   # the data, once (or: --download)")
    add(f"{make}                               # = {command}; finished runs are skipped")
    add("```")
    add("")
    add(
        f"Runs go to `{_relative(out)}/runs/<name>/` (config, checkpoints, CSV log); an "
        "interrupted run resumes from its `checkpoints/last.ckpt`. "
        "`--report-only` redraws the plots and rewrites this page from the logs."
    )
    add("")

    add("## Summary")
    add("")
    add(
        table(
            ["", "Fashion-MNIST, measured here", "the paper (other datasets)"],
            [
                [
                    "MintNet flow, test bits/dim",
                    _bpd(density.test("bpd")),
                    f"{PAPER['mnist_bpd']} (MNIST, Table 2)",
                ],
                ["independent pixels, test bits/dim", _bpd(baseline), ""],
                [
                    "MintNet classifier, test accuracy",
                    _pct(mint.test("acc")),
                    f"{PAPER['mnist_mint']}% MNIST, {PAPER['cifar_mint']}% CIFAR-10 (Table 1)",
                ],
                [
                    "ResNet, test accuracy",
                    _pct(resnet.test("acc")),
                    f"{PAPER['mnist_resnet']}% MNIST, {PAPER['cifar_resnet']}% CIFAR-10 (Table 1)",
                ],
            ],
        )
    )
    add("")
    add(
        "The paper has no Fashion-MNIST results; its MNIST and CIFAR-10 figures, from hundreds "
        "of epochs on GPUs, are there for scale. Fashion-MNIST is harder to model than MNIST, "
        "and these runs are minutes on one CPU thread."
    )
    add("")

    add("## How the pipeline works")
    add("")
    add(
        "Each training is one `python -m mintnet.train` process with a fixed seed, the CSV "
        "logger and its own folder under `runs/`; a callback adds the wall-clock time to the "
        "log. A run is finished once its test metrics are in its log (`done.json` marks it); "
        "the pipeline skips finished runs and restarts an unfinished one from its "
        "`checkpoints/last.ckpt`, which SIGTERM also writes. The choice of architecture and the "
        "long run's epochs are kept in `plan.json`. The plots, the tables and this page are "
        "made from those files every time."
    )
    add("")
    add(
        "Not measured here: the same runs with `trainer=gpu` at the paper's model sizes (no GPU "
        "was available)."
    )
    add("")

    add("## 1. Density estimation")
    add("")
    add("### Choosing the architecture")
    add("")
    add(
        f"Two flows with two squeezes, lambda 1e-6 and the paper's MNIST step size alpha = 1/3.5 "
        f"(`experiment=fashion_mnist_density`), each trained for "
        f"{_duration(profile.compare_seconds)} at a constant learning rate of {density_lr} "
        f"(batch {profile.density_batch}, validation {whole_val} every "
        f"{profile.compare_batches} steps). The lower best validation bits/dim wins the long run."
    )
    add("")
    rows = []
    for name, run in compare.items():
        rows.append(
            [
                f"**{name}**" if name == winner else name,
                candidates[name].description,
                f"{run.params:,}",
                run.steps,
                " and ".join(f"{t:.2f} s" for t in run.step_seconds()),
                _bpd(run.best("val/bpd")),
                _bpd(run.test("bpd")),
            ]
        )
    add(
        table(
            [
                "candidate",
                "architecture",
                "parameters",
                "steps",
                "time per step, first and last epoch",
                "best val bits/dim",
                "test bits/dim",
            ],
            rows,
        )
    )
    add("")
    add(f"![validation bits/dim of the candidates](images/{IMAGE_PREFIX}density_comparison.png)")
    add("")
    common = _common_validation(compare)
    if common is not None:
        step, values = common
        add(
            f"At equal steps too: after step {step:.0f}, the last that both validated, "
            + ", ".join(f"{name} {_bpd(v)}" for name, v in values.items())
            + " validation bits/dim. A step's time varies with the other jobs on the machine "
            "(first and last epoch above)."
        )
        add("")
    for name, run in compare.items():
        add(f"- {name}: {_code(run.command)}")
    add("")

    add("### The long run")
    add("")
    add(
        f"**{winner}**, {candidates[winner].description}, for {plan['epochs']} epochs of "
        f"{profile.density_batches} batches of {profile.density_batch}, cosine annealing of the "
        f"learning rate from {density_lr} to 0: the budget of "
        f"{_duration(profile.density_seconds)} divided by the "
        f"{plan['estimated_epoch_seconds']:.0f} s per epoch that the comparison measured (at "
        f"most {profile.density_max_epochs} epochs; a stop at twice the budget guards against a "
        "slower machine). The test bits/dim is of the checkpoint with the best validation "
        f"bits/dim, {whole_test}."
    )
    add("")
    add(
        table(
            ["", "value"],
            [
                ["test bits/dim", _bpd(density.test("bpd"))],
                ["independent-pixel baseline, test bits/dim", _bpd(baseline)],
                ["best validation bits/dim", _bpd(density.best("val/bpd"))],
                ["parameters", f"{density.params:,}"],
                ["epochs, steps", f"{density.epochs}, {density.steps}"],
                ["training time (validation included)", _minutes(density.fit_seconds)],
                ["time per epoch (median)", f"{density.epoch_seconds:.0f} s"],
                [
                    "time per training step, first and last epoch",
                    " and ".join(f"{t:.2f} s" for t in density.step_seconds()),
                ],
            ],
        )
    )
    add("")
    first, last = density.step_seconds()
    add(
        f"Budget: planned {_duration(profile.density_seconds)}, used "
        f"{_minutes(density.fit_seconds)} of training; a step took {first:.2f} s in the first "
        f"epoch and {last:.2f} s in the last, as the machine's other load changed."
    )
    add("")
    margin = baseline - density.test("bpd")
    add(
        "The independent-pixel model is a histogram per pixel fitted on the training split. The "
        + (
            f"flow beats it by {margin:.2f} bits/dim."
            if margin > 0
            else f"flow does not beat it: it is {-margin:.2f} bits/dim worse."
        )
    )
    add("")
    add(f"Command: {_code(density.command)}")
    add("")
    add(f"![learning curve](images/{IMAGE_PREFIX}learning_curve.png)")
    add("")

    add("### Samples")
    add("")
    add(
        f"{profile.n_samples} samples at temperatures 1.0 and 0.8, inverted with alpha = 1/3.5 "
        f"and the tolerance stop (tol {tol:.0e}, at most {profile.sample_max_iter} iterations per "
        "Mint layer)."
    )
    add("")
    add(f"![samples at T = 1.0 and T = 0.8](images/{IMAGE_PREFIX}samples.png)")
    add("")
    add(
        table(
            [
                "temperature",
                "most iterations in a layer",
                "evaluations per sample (all layers)",
                "worst residual",
            ],
            [
                [
                    f"{float(t):.1f}",
                    s["max_iterations"],
                    f"{s['evaluations_per_sample']:.0f}",
                    _residual(s),
                ]
                for t, s in sorted(analysis["samples"].items(), key=lambda i: -float(i[0]))
            ],
        )
    )
    add("")
    ckpt = _relative(Path(analysis["checkpoint"]))
    add(
        "With the CLI, the same settings: "
        f"`mintnet-sample --ckpt {ckpt} --n {profile.n_samples} --temperature 0.8 "
        f"--alpha {analysis['alpha']:.6g} --max-iter {profile.sample_max_iter}`."
    )
    add("")

    add("## 2. Classification")
    add("")
    add(
        f"The MintNet classifier and the ResNet baseline with one recipe: batch "
        f"{profile.classify_batch}, {profile.classify_epochs} epochs of "
        f"{profile.classify_batches} batches, random crops (padding 2) and horizontal flips, "
        "inputs standardised with 0.5/0.5, the paper's Adam (lr 1e-3, amsgrad, eps 1e-4, "
        "weight decay 1e-4) with cosine annealing to 0, seed 0. The ResNet has one residual "
        "block per Mint layer at the same widths, as the paper's baseline does. Test accuracy "
        f"is of the checkpoint with the best validation accuracy, {whole_test}. An epoch's time "
        "includes its validation."
    )
    add("")
    add(
        table(
            [
                "model",
                "architecture",
                "parameters",
                "test accuracy",
                "best val accuracy",
                "time per epoch (median)",
                "training time",
            ],
            [
                [
                    name,
                    description,
                    f"{run.params:,}",
                    _pct(run.test("acc")),
                    _pct(run.best("val/acc", "max")),
                    f"{run.epoch_seconds:.0f} s",
                    _minutes(run.fit_seconds),
                ]
                for (name, run), description in zip(
                    classify.items(),
                    (profile.mint_description, profile.resnet_description),
                    strict=True,
                )
            ],
        )
    )
    add("")
    if holds:
        where = (
            f"{gap:.2f} points behind"
            if gap > 0
            else (f"{-gap:.2f} points ahead of" if gap < 0 else "level with")
        )
        claim = (
            f"**The paper's claim holds here:** MintNet is {where} the ResNet, within the "
            f"{PARITY_POINTS} points of its CIFAR-10 gap"
        )
    else:
        claim = (
            f"**The paper's claim does not hold here:** MintNet is {gap:.2f} points behind the "
            f"ResNet, more than the {PARITY_POINTS} points of its CIFAR-10 gap"
        )
    add(
        claim
        + f" (Table 1: parity on MNIST, {PAPER['cifar_mint']}% against {PAPER['cifar_resnet']}% "
        f"on CIFAR-10). One seed each: the difference between two runs of one model is not "
        "measured here."
    )
    add("")
    for name, run in classify.items():
        add(f"- {name}: {_code(run.command)}")
    add("")
    add(f"![validation accuracy](images/{IMAGE_PREFIX}classification.png)")
    add("")

    add("## 3. Figures 4 and 5 on the trained flow")
    add("")
    fig4 = _read_rows(Path(analysis["figure4_csv"]))
    alphas = list(dict.fromkeys(r["alpha"] for r in fig4))  # as run: the paper's first
    add(
        f"**Figure 4.** The first {analysis['figure4_images']} training images are mapped to "
        "their latents and back with exactly T fixed-point iterations per Mint layer; the error "
        "is the normalised L2 distance in logit space, geometric mean over the images (band: "
        "one standard deviation of the log). alpha = 1/3.5 is the paper's step size for MNIST's "
        "lambda; alpha = 1 is shown beside it."
    )
    add("")
    add(f"![Figure 4](images/{IMAGE_PREFIX}inversion_accuracy.png)")
    add("")
    iterations = sorted({int(r["iterations"]) for r in fig4})
    add(
        table(
            ["T", *(f"alpha = {a:.4g}: mean (largest)" for a in alphas)],
            [[t, *(_err(fig4, a, t) for a in alphas)] for t in iterations],
        )
    )
    add("")
    add(_figure4_reading(fig4, alphas[0], iterations[-1]))
    add("")
    add(
        "With the tolerance stop instead (the same images, each image stopping once its largest "
        f"residual `max |f(x) - z|` is below tol = {tol:.0e}, at most {profile.sample_max_iter} "
        "iterations per layer; the error as above):"
    )
    add("")
    add(
        table(
            [
                "alpha",
                "most iterations in a layer",
                "evaluations per image (all layers)",
                "error (geometric mean)",
                "worst residual",
            ],
            [
                [
                    f"{s['alpha']:.4g}",
                    s["max_iterations"],
                    f"{s['evaluations_per_sample']:.0f}",
                    f"{s['geo_mean_error']:.2g}",
                    _residual(s),
                ]
                for s in analysis["tolerance_stop"]
            ],
        )
    )
    add("")
    add(
        "With the CLI, the same settings: "
        f"`mintnet-inversion-accuracy --ckpt {ckpt} --n-images {analysis['figure4_images']} "
        f"--iterations {' '.join(map(str, iterations))} --alphas "
        f"{' '.join(f'{a:.6g}' for a in alphas)}`."
    )
    add("")
    interp = analysis["interpolation"]
    indices = " ".join(map(str, interp["indices"]))
    add(
        f"**Figure 5.** Test images {', '.join(map(str, interp['indices']))} at the corners; "
        "between them, latents on the paper's circular interpolation, inverted with "
        f"alpha = 1/3.5 and the tolerance stop ({interp['max_iterations']} iterations at most in "
        f"a layer; worst residual {_residual(interp)})."
    )
    add("")
    add(f"![Figure 5](images/{IMAGE_PREFIX}interpolation.png)")
    add("")
    add(
        "With the CLI, the same settings: "
        f"`mintnet-interpolate --ckpt {ckpt} --split test --indices {indices} "
        f"--alpha {analysis['alpha']:.6g} --max-iter {profile.sample_max_iter}`."
    )
    add("")
    return "\n".join(lines)


def _common_validation(runs: dict[str, RunSummary]) -> tuple[float, dict[str, float]] | None:
    """The last step at which every run logged ``val/bpd``, and their values there."""
    curves = {name: dict(series(run.rows, "val/bpd")) for name, run in runs.items()}
    steps = set.intersection(*(set(c) for c in curves.values())) if curves else set()
    if not steps:
        return None
    step = max(steps)
    return step, {name: curve[step] for name, curve in curves.items()}


def _figure4_reading(rows: list[dict[str, float]], paper_alpha: float, last: int) -> str:
    """What the Figure 4 table says at its last T, for the paper's step size against the others."""
    at = {r["alpha"]: r for r in rows if int(r["iterations"]) == last}
    paper = at[paper_alpha]
    parts = [
        f"At T = {last}, the paper's alpha = {paper_alpha:.4g} brings every image to an error "
        f"of at most {paper['max_error']:.2g}."
    ]
    for alpha, row in at.items():
        if alpha == paper_alpha:
            continue
        faster = row["geo_mean_error"] < paper["geo_mean_error"]
        if row["max_error"] > 10 * paper["max_error"]:
            parts.append(
                f"With alpha = {alpha:.4g} the mean is {'lower' if faster else 'not lower'} "
                f"({row['geo_mean_error']:.2g}), but the worst image stays at "
                f"{row['max_error']:.2g}."
            )
        else:
            parts.append(
                f"With alpha = {alpha:.4g} the mean is {row['geo_mean_error']:.2g} and the worst "
                f"image {row['max_error']:.2g}."
            )
    return " ".join(parts)


def _residual(stats: dict[str, Any]) -> str:
    """The worst residual ``max |f(x) - z|`` of an inversion against its tolerance."""
    worst, tol = stats["worst_residual"], stats["tol"]
    where = "below tol" if stats["converged"] else f"{worst / tol:.3g} x tol"
    return f"{worst:.2g} ({where})"


def _read_rows(path: Path) -> list[dict[str, float]]:
    with path.open(newline="") as file:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]


def _err(rows: list[dict[str, float]], alpha: float, t: int) -> str:
    """``geometric mean (largest)`` of the errors at ``alpha`` and ``T = t``."""
    match = [r for r in rows if r["alpha"] == alpha and int(r["iterations"]) == t]
    if not match:
        return ""
    return f"{match[0]['geo_mean_error']:.2g} ({match[0]['max_error']:.2g})"
