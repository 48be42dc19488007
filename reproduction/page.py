"""The numbers of the results page: the finished runs read back (:func:`read_inputs`) and every
value the page's template names (:func:`page_context`), computed, rounded and tabulated here so
that the template only speaks."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reproduction.budget import most_at_once, steps_wall_seconds
from reproduction.classification import MODELS
from reproduction.classification_page import Trained, classification_context
from reproduction.inversion_page import figure4_context, residual, solver_context
from reproduction.pipeline import Pipeline
from reproduction.runs import attempts, read_json, series
from reproduction.summary import RunSummary, summarize

__all__ = [
    "IMAGE_PREFIX",
    "PAPER",
    "Inputs",
    "budget_context",
    "page_context",
    "read_inputs",
]

PAPER = {
    "mnist_bpd": 0.98,
    "mnist_mint": 99.6,
    "mnist_resnet": 99.6,
    "cifar_mint": 91.2,
    "cifar_resnet": 92.6,
}
"""The paper's Table 1 and Table 2 figures quoted beside ours (MNIST and CIFAR-10, not Fashion-MNIST)."""

IMAGE_PREFIX = "fashion_mnist_"


@dataclass(frozen=True)
class Inputs:
    """Everything the page is made from, read from the runs' folder."""

    plan: dict[str, Any]
    baseline_record: dict[str, Any]
    machine: dict[str, Any]
    compare: dict[str, RunSummary]
    density: RunSummary
    density_lr: str
    analysis: dict[str, Any]
    analysis_dir: Path
    classify: list[Trained]  # the finished ones, in training order
    pending: list[str]  # the classification runs not finished yet, in training order


def read_inputs(pipeline: Pipeline) -> Inputs:
    """The finished runs' numbers, or FileNotFoundError naming what has not finished: every run
    but the classification runs after the first seed's pair, which the page lists as pending."""
    out, profile = pipeline.out, pipeline.profile
    baseline_record = read_json(out / "pixel_baseline.json")
    plan = read_json(out / "plan.json")
    if baseline_record is None or plan is None:
        raise FileNotFoundError(f"no finished runs in {out}; run the pipeline first")
    density_run = pipeline.density_run(plan)
    analysis_dir = density_run.folder(out) / "analysis"
    analysis = read_json(analysis_dir / "done.json")
    if analysis is None:
        raise FileNotFoundError(f"the analysis of {density_run.folder(out)} has not finished")
    classify = pipeline.classify_runs()
    first_pair = classify[: len(MODELS)]  # both models with the first seed: the comparison
    finished = first_pair + [c for c in classify[len(MODELS) :] if c.run.done(out) is not None]
    return Inputs(
        plan=plan,
        baseline_record=baseline_record,
        machine=read_json(out / "machine.json") or {},
        compare={c.name: summarize(pipeline.compare_run(c), out) for c in profile.candidates},
        density=summarize(density_run, out),
        density_lr=_learning_rate(density_run.folder(out)),
        analysis=analysis,
        analysis_dir=analysis_dir,
        classify=[Trained(c, summarize(c.run, out)) for c in finished],
        pending=[c.run.name for c in classify if c not in finished],
    )


def page_context(pipeline: Pipeline, inputs: Inputs) -> dict[str, Any]:
    """Every value the template names."""
    profile = pipeline.profile
    quick = profile.name == "quick"
    analysis = inputs.analysis
    some_of = f"on {profile.eval_batches:g} batches of the"
    whole = profile.eval_batches == 1.0
    return {
        "quick": quick,
        "command": "python -m reproduction" + (" --quick" if quick else ""),
        "make": "make results" + (" ARGS=--quick" if quick else ""),
        "out": _relative(pipeline.out),
        "prefix": IMAGE_PREFIX,
        "profile": profile,
        "paper": PAPER,
        "plan": inputs.plan,
        "split": {k: "?" for k in ("train", "val", "test")}
        | inputs.baseline_record.get("split", {}),
        "machine": {
            k: "?" for k in ("cpu", "cpus_available", "threads", "torch", "python", "date")
        }
        | inputs.machine,
        "baseline": inputs.baseline_record["test/pixel_baseline_bpd"],
        "budget": budget_context(pipeline, inputs),
        "whole_test": "on the whole test split" if whole else f"{some_of} test split",
        "whole_val": "on the whole validation split" if whole else f"{some_of} validation split",
        "analysis": analysis,
        "tol": next(iter(analysis["samples"].values()))["tol"],
        "ckpt": _relative(Path(analysis["checkpoint"])),
        "interpolation": analysis["interpolation"],
        "solver": solver_context(analysis["solver"]),
        **density_context(pipeline, inputs),
        **classification_context(profile, inputs.classify),
        "pending": inputs.pending,
        "figure4": figure4_context(Path(analysis["figure4_csv"])),
        "sample_rows": [
            [
                f"{float(t):.1f}",
                s["max_iterations"],
                f"{s['evaluations_per_sample']:.0f}",
                residual(s),
            ]
            for t, s in sorted(analysis["samples"].items(), key=lambda i: -float(i[0]))
        ],
        "tolerance_rows": [
            [
                f"{s.get('method', 'fixed_point')}, {s['alpha']:.4g}",
                s["max_iterations"],
                f"{s['evaluations_per_sample']:.0f}",
                f"{s['geo_mean_error']:.2g}",
                residual(s),
            ]
            for s in analysis["tolerance_stop"]
        ],
    }


def density_context(pipeline: Pipeline, inputs: Inputs) -> dict[str, Any]:
    """The architecture comparison and the long run."""
    candidates = {c.name: c for c in pipeline.profile.candidates}
    winner, density = inputs.plan["winner"], inputs.density
    first, last = density.step_seconds()
    common = common_validation(inputs.compare)
    return {
        "compare": [{"name": n, "command": r.command} for n, r in inputs.compare.items()],
        "compare_rows": [
            [
                f"**{name}**" if name == winner else name,
                candidates[name].description,
                f"{run.params:,}",
                run.steps,
                " and ".join(f"{t:.2f} s" for t in run.step_seconds()),
                f"{run.best('val/bpd'):.4f}",
                f"{run.test('bpd'):.4f}",
            ]
            for name, run in inputs.compare.items()
        ],
        "common_validation": None
        if common is None
        else {
            "step": common[0],
            "text": ", ".join(f"{name} {v:.4f}" for name, v in common[1].items()),
        },
        "density": {
            "description": candidates[winner].description,
            "lr": inputs.density_lr,
            "command": density.command,
            "test_bpd": density.test("bpd"),
            "best_val_bpd": density.best("val/bpd"),
            "params": f"{density.params:,}",
            "epochs": density.epochs,
            "steps": density.steps,
            "fit_seconds": density.fit_seconds,
            "epoch_seconds": density.epoch_seconds,
            "first_step": first,
            "last_step": last,
            "step_times": f"{first:.2f} s and {last:.2f} s",
            "margin": inputs.baseline_record["test/pixel_baseline_bpd"] - density.test("bpd"),
        },
    }


def budget_context(pipeline: Pipeline, inputs: Inputs) -> dict[str, Any]:
    """Training minutes summed over the runs (from their CSV logs), and the wall time of the steps
    (the training processes from their ``wall.json``, concurrent ones counted once, plus the
    baseline and the analysis)."""
    summaries = [
        *inputs.compare.values(),
        inputs.density,
        *(t.summary for t in inputs.classify),
    ]
    folders = [pipeline.out / "runs" / s.name for s in summaries]
    classify = [t.spec.run.folder(pipeline.out) for t in inputs.classify]
    other = inputs.baseline_record.get("seconds", 0.0) + inputs.analysis["seconds"]
    return {
        "fit_seconds": sum(s.fit_seconds for s in summaries),
        "n_runs": len(summaries),
        "wall_seconds": steps_wall_seconds(folders, other),
        "at_once": max(1, most_at_once([a for f in folders for a in attempts(f)])),
        "classify_at_once": max(1, most_at_once([a for f in classify for a in attempts(f)])),
    }


def common_validation(runs: dict[str, RunSummary]) -> tuple[float, dict[str, float]] | None:
    """The last step at which every run logged ``val/bpd``, and their values there."""
    curves = {name: dict(series(run.rows, "val/bpd")) for name, run in runs.items()}
    steps = set.intersection(*(set(c) for c in curves.values())) if curves else set()
    if not steps:
        return None
    step = max(steps)
    return step, {name: curve[step] for name, curve in curves.items()}


def _relative(path: Path) -> str:
    """``path`` relative to the working directory if it lies inside it, else absolute."""
    path = Path(os.path.abspath(path))
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _learning_rate(run_folder: Path) -> str:
    """The run's learning rate, from the config Hydra saved in its folder."""
    from omegaconf import OmegaConf

    config = OmegaConf.load(run_folder / ".hydra" / "config.yaml")
    return f"{float(config.model.optimizer.lr):g}"
