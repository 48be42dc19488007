"""The results page, made from the runs' files every time: the CSV logs, ``pixel_baseline.json``,
``plan.json``, the analysis' ``done.json`` and ``inversion_accuracy.csv``. :mod:`reproduction.page`
computes the numbers; the words are in ``templates/results.md.j2``, rendered with Jinja2 under
``StrictUndefined``, so that a value the page names and the code does not give is an error, not a
blank. Nothing in the page is typed by hand; rerunning the pipeline rewrites it."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from reproduction.classification_page import group
from reproduction.inversion_page import residual
from reproduction.page import IMAGE_PREFIX, Inputs, page_context, read_inputs
from reproduction.pipeline import Pipeline
from reproduction.plots import (
    image_panel,
    plot_classification,
    plot_comparison,
    plot_inversion,
    plot_learning_curve,
)

__all__ = ["TEMPLATES", "draw_figures", "markdown_table", "render", "write_report"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def draw_figures(pipeline: Pipeline, inputs: Inputs, images: Path) -> list[Path]:
    """Every plot and image panel of the page, into ``images``."""
    profile, analysis = pipeline.profile, inputs.analysis
    temperatures = sorted(analysis["samples"], key=lambda t: -float(t))
    indices = ", ".join(map(str, analysis["interpolation"]["indices"]))
    descriptions = {c.name: c.description for c in profile.candidates}
    return [
        plot_comparison(
            inputs.compare, descriptions, images / f"{IMAGE_PREFIX}density_comparison.png"
        ),
        plot_learning_curve(
            inputs.density,
            inputs.baseline_record["test/pixel_baseline_bpd"],
            images / f"{IMAGE_PREFIX}learning_curve.png",
        ),
        image_panel(
            [
                (f"T = {float(t):.1f}", inputs.analysis_dir / f"samples_T{t}.pt")
                for t in temperatures
            ],
            8,
            images / f"{IMAGE_PREFIX}samples.png",
        ),
        plot_inversion(
            Path(analysis["figure4_csv"]), images / f"{IMAGE_PREFIX}inversion_accuracy.png"
        ),
        image_panel(
            [(f"test images {indices}", inputs.analysis_dir / "interpolation.pt")],
            profile.interpolation_steps,
            images / f"{IMAGE_PREFIX}interpolation.png",
        ),
        _classification_figure(inputs, images / f"{IMAGE_PREFIX}classification.png"),
    ]


def _classification_figure(inputs: Inputs, path: Path) -> Path:
    groups = group(inputs.classify)
    return plot_classification(
        {model: [t.summary for t in runs] for model, runs in groups.base.items()},
        {model: t.summary for model, t in groups.long.items()},
        {t.spec.ablation.name: t.summary for t in groups.ablations if t.spec.ablation},
        path,
    )


def write_report(pipeline: Pipeline, doc: Path) -> list[Path]:
    """Regenerate every plot and table from the runs' files and write ``doc``; images go to
    ``<doc folder>/images/``. Returns the files written."""
    inputs = read_inputs(pipeline)
    written = draw_figures(pipeline, inputs, doc.parent / "images")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(render(page_context(pipeline, inputs)))
    return [*written, doc]


def _duration(seconds: float) -> str:
    value, unit = (seconds / 60, "minute") if seconds >= 60 else (seconds, "second")
    return f"{value:g} {unit}" + ("" if value == 1 else "s")


def _hours(seconds: float) -> str:
    """A measured wall time: ``1 h 05 min``, or ``12.3 min`` under an hour."""
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def render(context: dict[str, Any]) -> str:
    """The page's Markdown: ``templates/results.md.j2`` filled with ``context``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML
    )
    env.filters |= {
        "bpd": lambda v: f"{v:.4f}",
        "pct": lambda v: f"{100 * v:.2f}%",
        "minutes": lambda s: f"{s / 60:.1f} min",
        "duration": _duration,
        "hours": _hours,
        "fmt": format,
        "residual": residual,
    }
    env.globals["table"] = markdown_table
    return env.get_template("results.md.j2").render(context)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table: the header, the separator, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
