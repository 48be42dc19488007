"""A briefly trained tiny flow and its checkpoint in the plain format, for the checkpoint tests."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from mintnet.checkpoint import save_flow
from mintnet.nn import ImageFlow
from tests.analysis.helpers import single_thread, trained_tiny_flow


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with single_thread():
        yield


@pytest.fixture(scope="session")
def trained_flow() -> ImageFlow:
    """Trained once per session (about a second); tests must not modify it."""
    with single_thread():
        return trained_tiny_flow()


@pytest.fixture(scope="session")
def flow_ckpt(trained_flow: ImageFlow, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<run_dir>/checkpoints/last.ckpt`` in the plain ``save_flow`` format."""
    run_dir = tmp_path_factory.mktemp("run")
    return save_flow(trained_flow, run_dir / "checkpoints" / "last.ckpt")
