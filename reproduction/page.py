"""The results page and its plots, from the records alone (no run folder): every value the
template ``templates/results.md.j2`` names is computed, rounded and tabulated here, so that the
template only speaks (Jinja2, ``StrictUndefined``: a value it names and the code does not give is
an error, not a blank), and each section draws its plot into the page's images folder. A section
whose records are missing is left out, and the page names the missing runs. The samples and
Figure 5 are drawn by the analysis itself, which needs the trained flow."""

import csv
import math
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from mintnet.callbacks.wall_clock import EPOCH_TIME
from reproduction import metrics, plots
from reproduction.plots import IMAGE_PREFIX, png
from reproduction.profiles import ABLATIONS, CANDIDATES, MODELS, Profile
from reproduction.records import ANALYSIS, Record, load_records, read_json

__all__ = ["TEMPLATES", "WITHIN_POINTS", "comparison", "markdown_table", "write_report"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
WITHIN_POINTS = 1.0
"""The page says whether MintNet's mean test accuracy is within this many points of the ResNet's."""


def accuracy(record: Record) -> float:
    """Test accuracy in percent."""
    return 100 * record.test["test/acc"]


def stdev(values: Sequence[float]) -> float | None:
    """The sample standard deviation (n - 1); None for one value."""
    return statistics.stdev(values) if len(values) > 1 else None


def comparison(mint: Sequence[float], resnet: Sequence[float]) -> dict[str, Any]:
    """The verdict from the seeds' accuracies: the gap of the means, whether it is within
    :data:`WITHIN_POINTS`, and the gap against the spread over seeds (the wider of the two
    min-max ranges, and the larger sample standard deviation)."""
    means = statistics.fmean(mint), statistics.fmean(resnet)
    gap = means[1] - means[0]
    if round(gap, 2) == 0:
        relation = "level with"
    else:
        relation = f"{abs(gap):.2f} points {'behind' if gap > 0 else 'ahead of'}"
    if min(resnet) > max(mint):
        order = "every ResNet seed is above every MintNet seed"
    elif min(mint) > max(resnet):
        order = "every MintNet seed is above every ResNet seed"
    else:
        order = "the two models' ranges over seeds overlap"
    stdevs = [s for s in map(stdev, (mint, resnet)) if s is not None]
    widest = max(max(v) - min(v) for v in (mint, resnet))
    counts = len(mint), len(resnet)
    if counts[0] != counts[1]:
        seeds = f"over {counts[0]} MintNet and {counts[1]} ResNet seeds"
    else:
        seeds = "with one seed" if counts[0] == 1 else f"over {counts[0]} seeds"
    return {
        "n": min(counts),
        "seeds": seeds,
        "counts": "per model" if counts[0] == counts[1] else "for the model with fewer",
        "mint_mean": means[0],
        "resnet_mean": means[1],
        "gap": abs(gap),
        "relation": relation,
        "within": abs(gap) <= WITHIN_POINTS,
        "points": WITHIN_POINTS,
        "spread": widest,
        "larger": abs(gap) > widest,
        "stdev": max(stdevs) if stdevs else None,
        "order": order,
    }


def _base_row(model: str, seeds: list[int], records: list[Record]) -> list[Any]:
    """A model's row of the seeds' table: test accuracy over seeds, parameters and times."""
    accs = [accuracy(x) for x in records]
    deviation = stdev(accs)
    epoch = [t for x in records if not math.isnan(t := metrics.median(x.rows, EPOCH_TIME))]
    fit = statistics.fmean(metrics.fit_seconds(x.rows) for x in records)
    return [
        model,
        ", ".join(map(str, seeds)),
        f"{metrics.params(records[0].rows):,}",
        f"{statistics.fmean(accs):.2f}%",
        "n/a" if deviation is None else f"{deviation:.2f}",
        f"{min(accs):.2f}% to {max(accs):.2f}%",
        f"{statistics.median(epoch):.0f} s" if epoch else "n/a",
        f"{fit / 60:.1f} min",
    ]


def classification(profile: Profile, recs: dict[str, Record], images: Path) -> dict[str, Any]:
    """The classification section: per model, the seeds' mean, spread and min-max; the verdict;
    the ablations against the seed-0 MintNet; the longer budget against each seed-0 run."""
    done = [(r, recs[r.name]) for r in profile.runs() if r.model and r.name in recs]
    base = {m: [(r, x) for r, x in done if r.model == m and r.kind == "base"] for m in MODELS}
    seed0 = {r.model: x for r, x in done if r.kind == "base" and r.seed == profile.seeds[0]}
    rows = [_base_row(m, [r.seed for r, _ in b], [x for _, x in b]) for m, b in base.items() if b]
    both = all(base.values())
    accs = {m: [accuracy(x) for _, x in b] for m, b in base.items()}
    ablations, long = [], []
    for run, x in done:
        reference = seed0.get(run.model)
        change = "n/a" if reference is None else f"{accuracy(x) - accuracy(reference):+.2f}"
        if run.kind in ABLATIONS:
            words, setting = ABLATIONS[run.kind]
            ablations.append([run.kind, words, f"`{setting}`", f"{accuracy(x):.2f}%", change])
        elif run.kind == "long":
            epochs = str(profile.epochs * profile.long_factor)
            long.append([run.model, epochs, f"{accuracy(x):.2f}%", change])
    if rows:
        curves = {m: [x.rows for _, x in b] for m, b in base.items()}
        longer = {r.model: x.rows for r, x in done if r.kind == "long"}
        changed = {r.kind: x.rows for r, x in done if r.kind in ABLATIONS}
        plots.plot_classification(curves, longer, changed, png(images, "classification"))
    return {
        "base_rows": rows,
        "compared": comparison(accs["MintNet"], accs["ResNet"]) if both else None,
        "ablation_rows": ablations,
        "long_rows": long,
    }


def density(recs: dict[str, Record], analysis: dict | None, images: Path) -> dict[str, Any]:
    """The comparison of the candidates and the long run, as far as they are recorded."""
    compares = {c: recs[n] for c in CANDIDATES if (n := f"density_compare_{c}") in recs}
    long = recs.get("density")
    plan = long.plan if long is not None else None
    winner = plan["winner"] if plan else None
    rows = [
        [f"**{c}**" if c == winner else c, CANDIDATES[c], f"{metrics.params(x.rows):,}"]
        + [metrics.steps(x.rows), f"{metrics.best(x.rows, 'val/bpd'):.4f}"]
        + [f"{x.test['test/bpd']:.4f}"]
        for c, x in compares.items()
    ]
    if len(compares) == len(CANDIDATES):
        runs = {c: x.rows for c, x in compares.items()}
        plots.plot_comparison(runs, CANDIDATES, png(images, "density_comparison"))
    if long is None:
        return {"compare_rows": rows, "plan": plan, "long": None}
    baseline = analysis["pixel_baseline_bpd"] if analysis else None
    if baseline is not None:
        plots.plot_learning_curve(long.rows, baseline, png(images, "learning_curve"))
    first, last = metrics.step_seconds(long.rows)
    bpd, history = long.test["test/bpd"], long.rows
    table = [
        ["test bits/dim", f"{bpd:.4f}"],
        ["best validation bits/dim", f"{metrics.best(history, 'val/bpd'):.4f}"],
        ["independent-pixel baseline, test bits/dim", f"{baseline:.4f}" if baseline else "n/a"],
        ["parameters", f"{metrics.params(history):,}"],
        ["epochs, steps", f"{metrics.epochs(history)}, {metrics.steps(history)}"],
        ["training time (validation included)", f"{metrics.fit_seconds(history) / 60:.1f} min"],
        ["time per training step, first and last epoch", f"{first:.2f} s and {last:.2f} s"],
    ]
    description = CANDIDATES[winner] if winner else "?"
    margin = None if baseline is None else baseline - bpd
    long_run = {"description": description, "rows": table, "margin": margin}
    return {"compare_rows": rows, "plan": plan, "long": long_run}


def residual(stats: dict[str, Any]) -> str:
    """The worst residual ``max |f(x) - z|`` of an inversion against its tolerance."""
    worst, tol = stats["worst_residual"], stats["tol"]
    return f"{worst:.2g} ({'below tol' if stats['converged'] else f'{worst / tol:.3g} x tol'})"


def inversion(
    analysis: dict[str, Any], fig4: list[dict[str, Any]], images: Path
) -> dict[str, Any]:
    """The samples' and Figure 5's inversion statistics, and Figure 4: its table (the mean and
    largest error at each T for each solver and alpha) and its plot."""
    plots.plot_inversion(fig4, png(images, "inversion_accuracy"))
    curves = list(dict.fromkeys((r["method"], r["alpha"]) for r in fig4))
    cell = {
        (
            r["method"],
            r["alpha"],
            r["iterations"],
        ): f"{r['geo_mean_error']:.2g} ({r['max_error']:.2g})"
        for r in fig4
    }
    iterations = sorted({r["iterations"] for r in fig4})
    table = [[t] + [cell.get((*k, t), "") for k in curves] for t in iterations]
    solver, samples = analysis["solver"], analysis["samples"]
    return {
        "solver": f"`method={solver['method']}`, alpha = {solver['alpha']:.4g}",
        "sample_rows": [
            [t, s["max_iterations"], f"{s['evaluations_per_sample']:.0f}", residual(s)]
            for t, s in sorted(samples.items(), key=lambda i: -float(i[0]))
        ],
        "interpolation": residual(analysis["interpolation"]),
        "figure4_headers": [f"{m}, alpha = {a:.4g}: mean (largest)" for m, a in curves],
        "figure4_rows": table,
    }


def read_analysis(records: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The analysis' numbers (None if not recorded) and Figure 4's rows, typed as
    :func:`mintnet.analysis.inversion_accuracy` returns them."""
    folder = records / ANALYSIS
    if (analysis := read_json(folder / "analysis.json")) is None:
        return None, []
    with (folder / "inversion_accuracy.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    typed = {"method": str, "iterations": int}
    return analysis, [{k: typed.get(k, float)(v) for k, v in row.items()} for row in rows]


def write_report(profile: Profile, records: Path, doc: Path, command: str) -> Path:
    """Write the page ``doc`` and the plots whose records exist (into ``<doc folder>/images/``)."""
    recs = load_records(records)
    analysis, fig4 = read_analysis(records)
    runs, images = profile.runs(), doc.parent / "images"
    missing = [r for r in runs if r.name not in recs or (r.name == "density" and not analysis)]
    quick = profile.name == "quick"
    only = "python -m reproduction --quick --only {}" if quick else 'make results ARGS="--only {}"'
    measured = [r.machine for r in recs.values()] + ([analysis["machine"]] if analysis else [])
    values = {
        "quick": quick,
        "profile": profile,
        "command": command,
        "records": os.path.relpath(records) if records.is_relative_to(Path.cwd()) else records,
        "prefix": IMAGE_PREFIX,
        "runs": runs,
        "recorded": len(recs),
        "missing": missing,
        "missing_rows": [
            [r.name, f"`{r.experiment}`", r.seed, f"{r.minutes:g}", f"`{only.format(r.name)}`"]
            for r in missing
        ],
        "missing_minutes": sum(r.minutes for r in missing),
        "machines": sorted({(m["cpu"], m["threads"], m["torch"], m["python"]) for m in measured}),
        "dates": sorted(m["date"][:10] for m in measured),
        "analysis": analysis,
        "inversion": inversion(analysis, fig4, images) if analysis else None,
        **density(recs, analysis, images),
        **classification(profile, recs, images),
    }
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(render(values))
    return doc


def render(values: dict[str, Any]) -> str:
    """The page's Markdown: ``templates/results.md.j2`` filled with ``values``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML
    )
    env.filters |= {"fmt": format}
    env.globals["table"] = markdown_table
    return env.get_template("results.md.j2").render(values)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table: the header, the separator, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
