"""The two ways a dataset on disk can fail: files missing, or files present but unreadable."""

from collections.abc import Sequence
from pathlib import Path

from mintnet.errors import MintNetError

__all__ = ["DatasetCorruptError", "DatasetNotFoundError", "corrupt", "not_found"]


class DatasetNotFoundError(MintNetError, FileNotFoundError):
    """A dataset's files are not where the data module looks; build it with :func:`not_found`."""


class DatasetCorruptError(MintNetError, ValueError):
    """A dataset file exists but cannot be read as its format; build it with :func:`corrupt`."""


def not_found(
    dataset: str,
    searched: Sequence[Path],
    expected: Sequence[str],
    missing: Sequence[str],
    hint: str,
) -> DatasetNotFoundError:
    """Return one error that says which dataset, where we looked, what we wanted and how to get it."""
    lines = [
        f"{dataset}: dataset files not found.",
        f"  looked in: {', '.join(str(p) for p in searched)}",
        f"  expected:  {', '.join(expected)}",
        f"  missing:   {', '.join(missing)} (from {searched[0]})",
        f"  to get it: {hint}",
    ]
    return DatasetNotFoundError("\n".join(lines))


def corrupt(dataset: str, path: Path, problem: str) -> DatasetCorruptError:
    """Return an error naming the unreadable file and what is wrong with it."""
    return DatasetCorruptError(
        f"{dataset}: cannot read {path}: {problem}. "
        "The file is truncated or not in the expected format; delete it and fetch it again."
    )
