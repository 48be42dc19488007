"""The numbers of the results page, from the records alone: every value the template names,
computed, rounded and tabulated here, so that the template only speaks. A section whose records
are missing is left out, and the page names the missing runs."""

import csv
import io
import math
import statistics
from collections.abc import Sequence
from typing import Any

from reproduction import metrics
from reproduction.profiles import ABLATIONS, CANDIDATES, MODELS, Profile, Run
from reproduction.records import Record

__all__ = [
    "WITHIN_POINTS",
    "analysis_context",
    "classification",
    "comparison",
    "density",
    "figure4",
]

WITHIN_POINTS = 1.0
"""The page says whether MintNet's mean test accuracy is within this many points of the ResNet's."""


def accuracy(record: Record) -> float:
    """Test accuracy in percent."""
    return 100 * record.test["test/acc"]


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (n - 1; None for one value), min, max and range."""
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values),
        "max": max(values),
        "range": max(values) - min(values),
    }


def relation(gap: float) -> str:
    """Where MintNet stands given ``gap`` = ResNet - MintNet in points."""
    if round(gap, 2) == 0:
        return "level with"
    return f"{abs(gap):.2f} points {'behind' if gap > 0 else 'ahead of'}"


def comparison(mint: Sequence[float], resnet: Sequence[float]) -> dict[str, Any]:
    """The verdict from the seeds' accuracies: the gap of the means, whether it is within
    :data:`WITHIN_POINTS`, and the gap against the spread over seeds (the wider of the two
    min-max ranges, and the larger sample standard deviation)."""
    m, r = spread(mint), spread(resnet)
    gap = r["mean"] - m["mean"]
    widest = max(m["range"], r["range"])
    stdevs = [s["stdev"] for s in (m, r) if s["stdev"] is not None]
    if min(resnet) > max(mint):
        order = "every ResNet seed is above every MintNet seed"
    elif min(mint) > max(resnet):
        order = "every MintNet seed is above every ResNet seed"
    else:
        order = "the two models' ranges over seeds overlap"
    return {
        "n": min(m["n"], r["n"]),
        "mint_mean": m["mean"],
        "resnet_mean": r["mean"],
        "gap": abs(gap),
        "relation": relation(gap),
        "within": abs(gap) <= WITHIN_POINTS,
        "points": WITHIN_POINTS,
        "spread": widest,
        "larger": abs(gap) > widest,
        "stdev": max(stdevs) if stdevs else None,
        "order": order,
    }


def _seconds(values: Sequence[float]) -> str:
    timed = [v for v in values if not math.isnan(v)]
    return f"{statistics.median(timed):.0f} s" if timed else "n/a"


def classification(profile: Profile, runs: Sequence[Run], recs: dict[str, Record]) -> dict:
    """The classification section: per model, the seeds' mean, spread and min-max; the verdict;
    the ablations against the seed-0 MintNet; the longer budget against each seed-0 run."""
    done = [(r, recs[r.name]) for r in runs if r.name in recs and r.model]
    base = {m: [(r, x) for r, x in done if r.model == m and r.kind == "base"] for m in MODELS}
    first = {m: next((x for r, x in base[m] if r.seed == profile.seeds[0]), None) for m in MODELS}
    rows, accuracies = [], {}
    for model, found in base.items():
        if not found:
            continue
        accuracies[model] = [accuracy(x) for _, x in found]
        s = spread(accuracies[model])
        rows.append(
            [
                model,
                ", ".join(str(r.seed) for r, _ in found),
                f"{metrics.params(found[0][1].rows):,}",
                f"{s['mean']:.2f}%",
                "n/a" if s["stdev"] is None else f"{s['stdev']:.2f}",
                f"{s['min']:.2f}% to {s['max']:.2f}%",
                _seconds([metrics.epoch_seconds(x.rows) for _, x in found]),
                f"{statistics.fmean(metrics.fit_seconds(x.rows) for _, x in found) / 60:.1f} min",
            ]
        )
    compared = None
    if len(accuracies) == len(MODELS):
        compared = comparison(accuracies["MintNet"], accuracies["ResNet"])
    ablations, long = [], []
    for run, record in done:
        reference = first[run.model]
        change = "n/a" if reference is None else f"{accuracy(record) - accuracy(reference):+.2f}"
        if run.kind in ABLATIONS:
            words, setting = ABLATIONS[run.kind]
            ablations.append([run.kind, words, f"`{setting}`", f"{accuracy(record):.2f}%", change])
        elif run.kind == "long":
            epochs = profile.epochs * profile.long_factor
            long.append([run.model, str(epochs), f"{accuracy(record):.2f}%", change])
    return {"base_rows": rows, "compared": compared, "ablation_rows": ablations, "long_rows": long}


def density(profile: Profile, recs: dict[str, Record], analysis: dict | None) -> dict:
    """The comparison of the candidates and the long run, as far as they are recorded."""
    compares = {c: recs.get(f"density_compare_{c}") for c in CANDIDATES}
    long = recs.get("density")
    plan = long.plan if long is not None else None
    winner = plan["winner"] if plan else None
    rows = [
        [
            f"**{name}**" if name == winner else name,
            CANDIDATES[name],
            f"{metrics.params(rec.rows):,}",
            metrics.steps(rec.rows),
            f"{metrics.best(rec.rows, 'val/bpd'):.4f}",
            f"{rec.test['test/bpd']:.4f}",
        ]
        for name, rec in compares.items()
        if rec is not None
    ]
    context: dict[str, Any] = {"compare_rows": rows, "plan": plan, "long": None}
    if long is None:
        return context
    first, last = metrics.step_seconds(long.rows)
    baseline = analysis["pixel_baseline_bpd"] if analysis else None
    context["long"] = {
        "description": CANDIDATES[winner] if winner else "?",
        "test_bpd": long.test["test/bpd"],
        "rows": [
            ["test bits/dim", f"{long.test['test/bpd']:.4f}"],
            ["best validation bits/dim", f"{metrics.best(long.rows, 'val/bpd'):.4f}"],
            [
                "independent-pixel baseline, test bits/dim",
                "n/a" if baseline is None else f"{baseline:.4f}",
            ],
            ["parameters", f"{metrics.params(long.rows):,}"],
            ["epochs, steps", f"{metrics.epochs(long.rows)}, {metrics.steps(long.rows)}"],
            [
                "training time (validation included)",
                f"{metrics.fit_seconds(long.rows) / 60:.1f} min",
            ],
            ["time per training step, first and last epoch", f"{first:.2f} s and {last:.2f} s"],
        ],
        "margin": None if baseline is None else baseline - long.test["test/bpd"],
    }
    return context


def residual(stats: dict[str, Any]) -> str:
    """The worst residual ``max |f(x) - z|`` of an inversion against its tolerance."""
    worst, tol = stats["worst_residual"], stats["tol"]
    return f"{worst:.2g} ({'below tol' if stats['converged'] else f'{worst / tol:.3g} x tol'})"


def figure4(csv_text: str) -> dict[str, Any]:
    """Figure 4's table: the mean (largest) error at each T for each solver and alpha."""
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    curves = list(dict.fromkeys((r["method"], float(r["alpha"])) for r in rows))
    cell = {(r["method"], float(r["alpha"]), int(r["iterations"])): r for r in rows}
    iterations = sorted({int(r["iterations"]) for r in rows})
    table = [
        [t]
        + [
            f"{float(c['geo_mean_error']):.2g} ({float(c['max_error']):.2g})"
            if (c := cell.get((*curve, t)))
            else ""
            for curve in curves
        ]
        for t in iterations
    ]
    headers = [f"{m}, alpha = {a:.4g}: mean (largest)" for m, a in curves]
    return {"headers": headers, "rows": table, "iterations": iterations}


def analysis_context(analysis: dict[str, Any]) -> dict[str, Any]:
    """The samples' and Figure 5's inversion statistics."""
    solver = analysis["solver"]
    return {
        "solver": f"`method={solver['method']}`, alpha = {solver['alpha']:.4g}",
        "sample_rows": [
            [t, s["max_iterations"], f"{s['evaluations_per_sample']:.0f}", residual(s)]
            for t, s in sorted(analysis["samples"].items(), key=lambda i: -float(i[0]))
        ],
        "interpolation": residual(analysis["interpolation"]),
    }
