"""The results page and its plots, from the records alone (no run folder): the sections of
:mod:`reproduction.page`, the words in ``templates/results.md.j2`` (Jinja2, ``StrictUndefined``:
a value the page names and the code does not give is an error, not a blank). The samples and
Figure 5 are drawn by the analysis itself, which needs the trained flow."""

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from reproduction import page
from reproduction.plots import IMAGE_PREFIX
from reproduction.profiles import Profile
from reproduction.records import ANALYSIS, load_records, read_json

__all__ = ["TEMPLATES", "markdown_table", "render", "write_report"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


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


def write_report(profile: Profile, records: Path, doc: Path, command: str) -> list[Path]:
    """The plots whose records exist (into ``<doc folder>/images/``) and the page ``doc``."""
    recs = load_records(records)
    analysis, fig4 = read_analysis(records)
    runs, images, written = profile.runs(), doc.parent / "images", []
    missing = [r for r in runs if r.name not in recs or (r.name == "density" and not analysis)]
    only = (
        "python -m reproduction --quick --only {}"
        if profile.name == "quick"
        else ('make results ARGS="--only {}"')
    )
    measured = [r.machine for r in recs.values()] + ([analysis["machine"]] if analysis else [])
    values = {
        "quick": profile.name == "quick",
        "profile": profile,
        "command": command,
        "records": str(
            records.relative_to(Path.cwd()) if records.is_relative_to(Path.cwd()) else records
        ),
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
        "dates": sorted(r.machine["date"][:10] for r in recs.values()),
        "analysis": analysis,
        "inversion": page.inversion(analysis, fig4, images, written) if analysis else None,
        **page.density(recs, analysis, images, written),
        **page.classification(profile, recs, images, written),
    }
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(render(values))
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
