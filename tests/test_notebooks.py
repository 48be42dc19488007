"""The notebooks in ``notebooks/`` run end to end on the venv's kernel, and are committed clean."""

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300  # a generous cap; each notebook takes well under a minute


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    """Run every cell in a fresh ``python3`` kernel started in ``cwd``, as Jupyter would."""
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    return client.execute()


def test_there_are_notebooks():
    names = [path.stem for path in NOTEBOOKS]
    assert names == [
        "01_quickstart",
        "02_inversion_accuracy",
        "03_interpolation",
        "04_classification",
    ], names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_define_no_logic_of_their_own(path):
    """Notebooks import from the package; functions and classes belong in ``src/mintnet``."""
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    defined = [
        line for src in code for line in src.splitlines() if line.startswith(("def ", "class "))
    ]
    assert not defined, f"{path.name} defines {defined}"


def test_the_python3_kernel_is_this_interpreter(tmp_path):
    """nbclient starts the ``python3`` kernelspec; it must resolve to the venv's python, where
    mintnet is installed, not to another python on PATH."""
    nb = new_notebook(cells=[new_code_cell("import sys, mintnet\nprint(sys.executable)")])
    out = execute(nb, tmp_path)
    printed = out.cells[0].outputs[0]["text"].strip()
    assert Path(printed).resolve() == Path(sys.executable).resolve()


@pytest.fixture(scope="module")
def notebook_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One output folder for all notebooks, so 02 and 03 reuse the checkpoint that 01 trains."""
    return tmp_path_factory.mktemp("notebook_outputs")


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_end_to_end(path, notebook_out, monkeypatch):
    monkeypatch.setenv("MINTNET_NOTEBOOK_OUT", str(notebook_out))  # the kernel inherits it
    monkeypatch.setenv("WANDB_MODE", "offline")
    # One OpenMP thread: on a busy 2-core machine torch's spinning threads run ~20x slower.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = execute(nbformat.read(path, as_version=4), NOTEBOOK_DIR)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    images = [
        o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    if not path.stem.startswith("04"):
        assert images, f"{path.name} displayed no image"
