"""The documentation site builds without a warning: every page, link, anchor, cross-reference,
equation and API page (``mkdocs build --strict``, as ``make docs`` runs it)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    site = tmp_path_factory.mktemp("site")
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert "No module named mkdocs" not in output, (
        "install the docs tools: pip install -e '.[docs]'"
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{output}"
    return site, output


def test_the_site_builds_strictly_without_warnings(built_site):
    _, output = built_site
    warnings = [line for line in output.splitlines() if "WARNING" in line or "ERROR" in line]
    assert not warnings, "\n".join(warnings)


@pytest.mark.parametrize(
    "package", ["nn", "modules", "data", "analysis", "callbacks", "checkpoint"]
)
def test_every_api_page_renders_its_package(built_site, package):
    site, _ = built_site
    page = (site / "api" / f"{package}.html").read_text()
    assert f'id="mintnet.{package}' in page, f"the API page of mintnet.{package} documents nothing"


def test_equations_are_typeset_and_no_rst_is_left(built_site):
    site, _ = built_site
    assert "<math" in (site / "api" / "nn.html").read_text()  # MathML, written at build time
    for page in sorted((site / "api").glob("*.html")):
        html = page.read_text()
        for leftover in (":math:`", ":class:`", ":func:`", ".. math::", "``"):
            assert leftover not in html, f"{page.name} shows {leftover!r}: a docstring misparsed"


def test_the_configuration_page_lists_every_config_option(built_site):
    site, _ = built_site
    page = (site / "configuration.html").read_text()
    conf = ROOT / "src" / "mintnet" / "conf"
    for path in conf.rglob("*.yaml"):
        if path.parent == conf:
            assert f"<code>{path.name}</code>" in page
            continue
        group = path.parent.relative_to(conf).as_posix()
        assert f"<code>{group}={path.stem}</code>" in page, f"{group}/{path.name} is not listed"
