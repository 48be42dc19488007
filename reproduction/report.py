"""The results page and its plots, from the records alone (no run folder): the numbers from
:mod:`reproduction.page`, the words in ``templates/results.md.j2`` (Jinja2, ``StrictUndefined``:
a value the page names and the code does not give is an error, not a blank). The samples and
Figure 5 are drawn by the analysis itself, which needs the trained flow."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from reproduction import page
from reproduction.plots import (
    IMAGE_PREFIX,
    plot_classification,
    plot_comparison,
    plot_inversion,
    plot_learning_curve,
)
from reproduction.profiles import CANDIDATES, MODELS, Profile
from reproduction.records import Record, load_records

__all__ = ["ANALYSIS", "TEMPLATES", "markdown_table", "render", "write_report"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
ANALYSIS = "analysis"
"""The analysis' record folder, beside the runs' records."""


def read_analysis(records: Path) -> tuple[dict[str, Any] | None, str | None]:
    folder = records / ANALYSIS
    if not (folder / "analysis.json").is_file():
        return None, None
    return json.loads((folder / "analysis.json").read_text()), (
        folder / "inversion_accuracy.csv"
    ).read_text()


def draw_figures(
    profile: Profile,
    recs: dict[str, Record],
    analysis: dict | None,
    fig4: str | None,
    images: Path,
) -> list[Path]:
    """The plots whose records exist, into ``images``."""
    written = []
    compares = {
        c: recs[f"density_compare_{c}"].rows for c in CANDIDATES if f"density_compare_{c}" in recs
    }
    if len(compares) == len(CANDIDATES):
        path = images / f"{IMAGE_PREFIX}density_comparison.png"
        written.append(plot_comparison(compares, CANDIDATES, path))
    if "density" in recs and analysis is not None:
        path = images / f"{IMAGE_PREFIX}learning_curve.png"
        written.append(
            plot_learning_curve(recs["density"].rows, analysis["pixel_baseline_bpd"], path)
        )
    if fig4 is not None:
        written.append(plot_inversion(fig4, images / f"{IMAGE_PREFIX}inversion_accuracy.png"))
    runs = [r for r in profile.runs() if r.model and r.name in recs]
    base = {
        m: [recs[r.name].rows for r in runs if r.model == m and r.kind == "base"] for m in MODELS
    }
    if any(base.values()):
        long = {r.model: recs[r.name].rows for r in runs if r.kind == "long"}
        ablations = {r.kind: recs[r.name].rows for r in runs if r.kind not in ("base", "long")}
        path = images / f"{IMAGE_PREFIX}classification.png"
        written.append(plot_classification(base, long, ablations, path))
    return written


def context(profile: Profile, records: Path, command: str) -> dict[str, Any]:
    """Every value the template names."""
    recs = load_records(records)
    analysis, fig4 = read_analysis(records)
    runs = profile.runs()
    missing = [r for r in runs if r.name not in recs]
    only = 'make results ARGS="--only {}"'
    if profile.name == "quick":
        only = "python -m reproduction --quick --only {}"
    if analysis is None and "density" in recs:
        missing.append(next(r for r in runs if r.name == "density"))
    machines = sorted(
        {
            (m["cpu"], m["threads"], m["torch"], m["python"])
            for m in [r.machine for r in recs.values()]
            + ([analysis["machine"]] if analysis else [])
        }
    )
    return {
        "quick": profile.name == "quick",
        "profile": profile,
        "command": command,
        "records": str(records.relative_to(Path.cwd()))
        if records.is_relative_to(Path.cwd())
        else str(records),
        "prefix": IMAGE_PREFIX,
        "runs": runs,
        "recorded": len(recs),
        "missing": missing,
        "missing_rows": [
            [r.name, f"`{r.experiment}`", r.seed, f"{r.minutes:g}", f"`{only.format(r.name)}`"]
            for r in missing
        ],
        "missing_minutes": sum(r.minutes for r in missing),
        "machines": machines,
        "dates": sorted(r.machine["date"][:10] for r in recs.values()),
        "analysis": analysis,
        "inversion": page.analysis_context(analysis) if analysis else None,
        "figure4": page.figure4(fig4) if fig4 else None,
        **page.density(profile, recs, analysis),
        **page.classification(profile, runs, recs),
    }


def write_report(profile: Profile, records: Path, doc: Path, command: str) -> list[Path]:
    """The plots whose records exist (into ``<doc folder>/images/``) and the page ``doc``."""
    recs = load_records(records)
    analysis, fig4 = read_analysis(records)
    written = draw_figures(profile, recs, analysis, fig4, doc.parent / "images")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(render(context(profile, records, command)))
    return [*written, doc]


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
