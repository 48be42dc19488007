"""The base of every expected failure in mintnet; the command-line tools report these as one line.

This module imports nothing of mintnet, so every package can subclass :class:`MintNetError`
(``mintnet.checkpoint.CheckpointError``, ``mintnet.config.ConfigError``, ...). The command-line
tools (:mod:`mintnet.cli.reporting`) catch the base class: a subclass is an expected failure,
anything else is a bug and keeps its traceback.
"""

__all__ = ["MintNetError"]


class MintNetError(Exception):
    """An expected failure: bad input, a missing or unreadable file, a run that cannot go on.

    Its message alone (no traceback) tells the user what went wrong and what is valid."""
