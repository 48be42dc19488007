"""Griffe extension: the reStructuredText bits of mintnet's docstrings, as Markdown.

The docstrings are Google style (``Arguments:``, ``Returns:``, ``Raises:``) with a few Sphinx
constructs that Markdown does not know. Before mkdocstrings parses a docstring, this rewrites

- ``.. math:: ...`` (with its indented continuation lines) into a ``$$ ... $$`` block and
  ``:math:`...``` into ``\\( ... \\)``, which ``pymdownx.arithmatex`` picks up;
- ``:class:`X```, ``:func:``, ``:meth:``, ``:attr:``, ``:data:``, ``:mod:`` into an optional
  cross-reference: a link when ``X`` is documented on the site, plain code otherwise. ``X`` is
  resolved in the docstring's scope as Python would (imports, members, enclosing class and
  module); ``~a.b.c`` shows ``c``.

The source keeps reading well in a terminal and in an editor; only the site sees the Markdown.
"""

import re
from typing import Any

from griffe import Extension, GriffeLoader, Object

__all__ = ["RstToMarkdown", "rst_to_markdown"]

MATH_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)$")
MATH_ROLE = re.compile(r":math:`(?P<tex>[^`]+)`")
XREF_ROLE = re.compile(r":(?P<role>class|func|meth|attr|data|mod|obj|exc):`(?P<target>[^`]+)`")
CALLABLE_ROLES = {"func", "meth"}


def _math_blocks(lines: list[str]) -> list[str]:
    """Replace every ``.. math::`` directive and its indented body by a ``$$`` block."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = MATH_DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent = len(match["indent"])
        body = [match["first"].strip()] if match["first"].strip() else []
        i += 1
        while i < len(lines) and (
            not lines[i].strip()
            and not body
            or lines[i].strip()
            and len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            if lines[i].strip():
                body.append(lines[i].strip())
            i += 1
        pad = match["indent"]
        if out and out[-1].strip():
            out.append("")
        out += [f"{pad}$$", *(f"{pad}{line}" for line in body), f"{pad}$$"]
        if i < len(lines) and lines[i].strip():
            out.append("")
    return out


def _resolve(obj: Object | None, target: str) -> str:
    """The full path of ``target`` as seen from ``obj``'s scope, or ``target`` unchanged."""
    if obj is None or target.startswith("mintnet."):
        return target
    head, _, rest = target.partition(".")
    scope: Any = obj
    while scope is not None:
        try:
            resolved = scope.resolve(head)
        except Exception:  # noqa: BLE001 - griffe raises NameResolutionError or alias errors
            scope = scope.parent
            continue
        return f"{resolved}.{rest}" if rest else resolved
    return target


def _xref(match: re.Match, obj: Object | None) -> str:
    role, target = match["role"], match["target"].strip()
    short = target.startswith("~")
    target = target.lstrip("~.").removesuffix("()")
    title = target.rsplit(".", 1)[-1] if short else target
    if role in CALLABLE_ROLES:
        title += "()"
    identifier = _resolve(obj, target)
    return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'


def rst_to_markdown(text: str, obj: Object | None = None) -> str:
    """Rewrite the reStructuredText constructs of one docstring as Markdown (see the module)."""
    text = "\n".join(_math_blocks(text.splitlines()))
    text = MATH_ROLE.sub(lambda m: rf"\({m['tex']}\)", text)
    return XREF_ROLE.sub(lambda m: _xref(m, obj), text)


class RstToMarkdown(Extension):
    """Apply :func:`rst_to_markdown` to every docstring once the package is loaded."""

    def on_object(self, *, obj: Object, loader: GriffeLoader, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value, obj)
