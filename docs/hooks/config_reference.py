"""MkDocs hook: the configuration reference, generated from ``src/mintnet/conf/`` at build time.

``docs/configuration.md`` holds the prose and a marker line, ``<!-- config-reference -->``; this
hook replaces the marker with

- the top-level configs (``train.yaml``, ``eval.yaml``): their leading comment, the option each
  group defaults to, and the file itself;
- every config group, found by walking the folder (so a group or option added there shows up at
  the next build): a table of its options with the first sentence of each one's leading comment,
  then each option's whole comment and its keys and defaults, as the file has them.

An option's *leading comment* is the block of ``#`` lines at the top of its file (Hydra's
``# @package`` line aside): write there what the option is for. The git-ignored ``local/`` group
is listed when it exists, without its values.
"""

import html
import re
from pathlib import Path
from typing import Any

import yaml
from mkdocs.exceptions import PluginError

MARKER = "<!-- config-reference -->"
PAGE = "configuration.md"
CONF = Path("src/mintnet/conf")  # relative to mkdocs.yml
TOP_LEVEL = {"train.yaml": "python -m mintnet.train", "eval.yaml": "python -m mintnet.eval"}
GROUP_ORDER = ["data", "model", "trainer", "callbacks", "logger", "paths", "hydra", "experiment"]
GROUP_SUMMARY = {
    "data": "the dataset: a LightningDataModule, its files, splits, batch size and augmentation",
    "model": "the LightningModule and the network, optimiser and schedule it trains",
    "trainer": "the Lightning Trainer: device, precision, epochs, distributed strategy",
    "callbacks": "the Lightning callbacks: checkpoints, sample grids, inversion error, guards",
    "logger": "where metrics go: W&B, CSV files or nowhere",
    "paths": "where data is read from and runs are written to",
    "hydra": "Hydra's own settings: the run and sweep folders",
    "hydra/launcher": "how the jobs of a multirun (`-m`) are started: as local background "
    "processes or as Slurm jobs (without a choice, Hydra's basic launcher runs them one after "
    "another in this process)",
    "experiment": "a whole run (data, model and schedule), as overrides of the defaults",
    "hparams_search": "an Optuna hyper-parameter search (a multirun)",
    "debug": "short runs for finding faults",
    "local": "this machine's own settings (git-ignored, optional)",
}
PRIVATE_GROUPS = {"local"}  # machine-specific and git-ignored: list the options, not their values
PACKAGE_LINE = re.compile(r"^#\s*@package\b")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`])")


def _split(path: Path) -> tuple[list[str], str]:
    """The leading comment of a config file (as text lines) and the rest of the file."""
    lines = path.read_text().splitlines()
    comment: list[str] = []
    body_start = 0
    for index, line in enumerate(lines):
        if not line.startswith("#"):
            break
        body_start = index + 1
        if not PACKAGE_LINE.match(line):
            comment.append(line[1:].removeprefix(" "))
    package = [line for line in lines[:body_start] if PACKAGE_LINE.match(line)]
    return comment, "\n".join(package + lines[body_start:]).strip("\n")


def _inline(text: str) -> str:
    """Markdown-escape ``text`` outside its backtick code spans."""
    parts = re.split(r"(`[^`]*`)", text)
    for index in range(0, len(parts), 2):
        part = html.escape(parts[index], quote=False)
        parts[index] = re.sub(r"([*_\[\]\\|])", r"\\\1", part)
    return "".join(parts)


def _prose(comment: list[str]) -> str:
    """A leading comment as Markdown: paragraphs, with indented lines as shell code blocks."""
    out: list[str] = []
    code: list[str] = []
    for line in [*comment, ""]:
        if line.startswith("  ") and line.strip():
            code.append(line.strip())
            continue
        if code:
            out += ["", "```bash", *code, "```", ""]
            code = []
        out.append(_inline(line) if line.strip() else "")
    return "\n".join(out).strip()


def _first_sentence(comment: list[str]) -> str:
    prose: list[str] = []
    for line in comment:
        if line.startswith("  ") or not line.strip():  # a command line or a paragraph ends it
            break
        prose.append(line.strip())
    text = " ".join(prose)
    sentence = SENTENCE_END.split(text, maxsplit=1)[0].strip() if text else ""
    return _inline(sentence.rstrip(":")) if sentence else ""


def _defaults(path: Path) -> dict[str, str | None]:
    """``group -> option`` from the ``defaults`` list of a top-level config."""
    choices: dict[str, str | None] = {}
    for entry in (yaml.safe_load(path.read_text()) or {}).get("defaults", []):
        if isinstance(entry, dict):
            for key, value in entry.items():
                group = key.removeprefix("optional ").removeprefix("override ").lstrip("/")
                choices[group] = value if value is None else str(value)
    return choices


def _groups(conf: Path) -> list[str]:
    found = {
        path.parent.relative_to(conf).as_posix()
        for path in conf.rglob("*.yaml")
        if path.parent != conf
    }
    known = [group for group in GROUP_ORDER if group in found]
    rest = sorted(found - set(known), key=lambda group: (group in PRIVATE_GROUPS, group))
    # a nested group follows its parent (hydra, then hydra/launcher)
    ordered: list[str] = []
    for group in known + rest:
        if group in ordered:
            continue
        ordered.append(group)
        ordered += sorted(g for g in found if g.startswith(group + "/") and g not in ordered)
    return ordered


def _yaml_block(body: str) -> list[str]:
    return ["```yaml", body, "```"] if body else ["*(empty: selects nothing)*"]


def _top_level(conf: Path) -> list[str]:
    out = ["## Top-level configs", ""]
    for name, command in TOP_LEVEL.items():
        path = conf / name
        if not path.is_file():
            continue
        comment, body = _split(path)
        out += [f"### `{name}`", "", f"Composed by `{command}`.", "", _prose(comment), ""]
        defaults = _defaults(path)
        if defaults:
            present = set(_groups(conf))
            out += ["| group | default option |", "| --- | --- |"]
            for group, option in defaults.items():
                shown = f"`{option}`" if option is not None else "none (`null`)"
                # an optional group may be absent (local/ is git-ignored): no section to link to
                name = f"[`{group}`](#{_anchor(group)})" if group in present else f"`{group}`"
                out.append(f"| {name} | {shown} |")
            out.append("")
        out += _yaml_block(body) + [""]
    return out


def _anchor(group: str) -> str:
    return "group-" + group.replace("/", "-").replace("_", "-")


def _group(conf: Path, group: str, defaults: dict[str, dict[str, str | None]]) -> list[str]:
    folder = conf / group
    options = sorted(folder.glob("*.yaml"))
    private = group.split("/")[0] in PRIVATE_GROUPS
    out = [f"### `{group}` {{#{_anchor(group)}}}", ""]
    if group in GROUP_SUMMARY:
        out += [GROUP_SUMMARY[group][0].upper() + GROUP_SUMMARY[group][1:] + ".", ""]
    by_option: dict[str | None, list[str]] = {}
    for top, choices in defaults.items():
        if group in choices:
            by_option.setdefault(choices[group], []).append(f"`{top}`")
    chosen = [
        (f"`{option}`" if option is not None else "none") + f" in {' and '.join(tops)}"
        for option, tops in by_option.items()
    ]
    select = f"Select an option with `{group}=<option>`."
    out += [select + (f" Default: {'; '.join(chosen)}." if chosen else ""), ""]
    if private:
        out += ["Git-ignored, machine-specific: its values are not copied into this page.", ""]
    out += ["| option | what it is |", "| --- | --- |"]
    for path in options:
        comment, _ = _split(path)
        anchor = f"{_anchor(group)}-{path.stem.replace('_', '-')}"
        out.append(f"| [`{path.stem}`](#{anchor}) | {_first_sentence(comment)} |")
    out.append("")
    for path in options:
        comment, body = _split(path)
        anchor = f"{_anchor(group)}-{path.stem.replace('_', '-')}"
        out += [f"#### `{group}={path.stem}` {{#{anchor}}}", ""]
        if comment:
            out += [_prose(comment), ""]
        if not private:
            out += _yaml_block(body) + [""]
    return out


def reference(conf: Path) -> str:
    """The generated Markdown for the config folder ``conf``."""
    if not (conf / "train.yaml").is_file():
        raise PluginError(f"config reference: {conf}/train.yaml not found")
    defaults = {name: _defaults(conf / name) for name in TOP_LEVEL if (conf / name).is_file()}
    out = _top_level(conf) + ["## Config groups", ""]
    out += ["| group | what it chooses |", "| --- | --- |"]
    groups = _groups(conf)
    for group in groups:
        out.append(f"| [`{group}`](#{_anchor(group)}) | {GROUP_SUMMARY.get(group, '')} |")
    out.append("")
    for group in groups:
        out += _group(conf, group, defaults)
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    """Put the generated reference in place of the marker on the configuration page."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"{PAGE} lacks the line {MARKER} where the config reference goes")
    conf = Path(config.config_file_path).parent / CONF
    return markdown.replace(MARKER, reference(conf))
