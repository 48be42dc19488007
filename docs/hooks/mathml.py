"""MkDocs hook: typeset the equations at build time, as MathML.

``pymdownx.arithmatex`` (generic mode) wraps each equation of a page or docstring in
``<span class="arithmatex">\\(...\\)</span>`` or ``<div class="arithmatex">\\[...\\]</div>``
and leaves the typesetting to a JavaScript library loaded from the web. Here ``latex2mathml``
turns the TeX into MathML, which browsers render natively: the site needs no script and no
network, and an equation the converter cannot read fails the build instead of showing raw TeX.
"""

import html
import re
from typing import Any

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError

ARITHMATEX = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*(?:\\\(|\\\[|\$\$?)(?P<tex>.*?)(?:\\\)|\\\]|\$\$?)\s*'
    r"</(?P=tag)>",
    flags=re.DOTALL,
)


def _typeset(match: re.Match, where: str) -> str:
    tag, tex = match["tag"], html.unescape(match["tex"]).strip()
    display = "block" if tag == "div" else "inline"
    try:
        mathml = convert(tex, display=display)
    except Exception as error:  # latex2mathml raises a family of its own exception types
        raise PluginError(f"{where}: cannot typeset the equation {tex!r}: {error}") from error
    return f'<{tag} class="arithmatex">{mathml}</{tag}>'


def on_page_content(html_text: str, page: Any, **kwargs: Any) -> str:
    """Replace every arithmatex equation of the page by its MathML."""
    where = page.file.src_uri
    return ARITHMATEX.sub(lambda match: _typeset(match, where), html_text)
