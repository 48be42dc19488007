"""Expected failures of the command lines: one line on stderr and exit status 1."""

import contextlib
import logging
import sys
from collections.abc import Iterator

from mintnet.errors import MintNetError
from mintnet.run_log import say

__all__ = ["reported_errors"]


@contextlib.contextmanager
def reported_errors(program: str) -> Iterator[None]:
    """Turn a :class:`~mintnet.errors.MintNetError` into ``<program>: error: <message>`` on stderr
    and exit status 1; anything else propagates with its traceback (and also exits non-zero)."""
    try:
        yield
    except MintNetError as error:
        say(f"{program}: error: {error}", logging.ERROR, sys.stderr)
        raise SystemExit(1) from error
