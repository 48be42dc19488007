"""Expected failures of the command-line tools: reported as one line on stderr, exit status 1."""

import contextlib
import sys
from collections.abc import Iterator

from mintnet.callbacks.non_finite_guard import NonFiniteLossError
from mintnet.checkpoint import CheckpointError
from mintnet.config import ConfigError
from mintnet.data.errors import DatasetCorruptError, DatasetNotFoundError

__all__ = ["EXPECTED_ERRORS", "reported_errors"]

EXPECTED_ERRORS = (
    CheckpointError,
    ConfigError,
    DatasetCorruptError,
    DatasetNotFoundError,
    NonFiniteLossError,
)


@contextlib.contextmanager
def reported_errors(program: str) -> Iterator[None]:
    """Turn an expected error into ``<program>: error: <message>`` on stderr and exit status 1;
    anything else propagates with its traceback (and also exits non-zero)."""
    try:
        yield
    except EXPECTED_ERRORS as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        raise SystemExit(1) from error
