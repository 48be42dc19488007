"""The run's log file (``<run folder>/train.log``, Hydra's job log): lines that a command
prints for a person also go there, so the file tells the whole story of the run."""

import logging
import sys
import warnings
from typing import TextIO

__all__ = ["keep_warnings", "say", "to_log_files"]

log = logging.getLogger("mintnet")


def to_log_files(line: str, level: int = logging.INFO) -> None:
    """Write ``line`` to the log files of the root logger (the run's ``train.log``) only, not
    to its console."""
    record = log.makeRecord(log.name, level, __file__, 0, line, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and record.levelno >= handler.level:
            handler.handle(record)


def say(line: str, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Print ``line`` (to standard output, or ``stream``) and write it to the run's log file:
    the line is shown once and kept."""
    print(line, file=stream or sys.stdout, flush=True)
    to_log_files(line, level)


def keep_warnings() -> None:
    """Show warnings as Python does (on stderr) and also write them to the run's log file."""
    shown = warnings.showwarning
    if getattr(shown, "keeps_to_log", False):
        return

    def show_and_keep(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        shown(message, category, filename, lineno, file, line)
        to_log_files(
            warnings.formatwarning(message, category, filename, lineno, line).strip(),
            logging.WARNING,
        )

    show_and_keep.keeps_to_log = True
    warnings.showwarning = show_and_keep
