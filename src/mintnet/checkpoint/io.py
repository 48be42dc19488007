"""Reading and writing checkpoint files: tensors and plain containers only, never half a file.

Every checkpoint mintnet opens is read by :func:`load_file`, with ``torch.load(weights_only=True)``:
the unpickler then builds tensors, numbers, strings, lists, tuples and dicts (and the few other
plain types PyTorch allows, e.g. ``collections.Counter`` in a scheduler's state), and refuses any
other object, since unpickling an arbitrary object can run arbitrary code.
"""

import os
import pickle
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from mintnet.errors import MintNetError

__all__ = ["AtomicCheckpointIO", "CheckpointError", "load_file", "save_file"]


class CheckpointError(MintNetError, ValueError):
    """A checkpoint file is missing, unreadable, or not one that mintnet can use."""


_FOREIGN_OBJECT = re.compile(r"(?:GLOBAL|unrecognized function|Unsupported class) ([\w.<>]+)")
"""How ``torch.load(weights_only=True)`` names the object it refused to build."""


def load_file(path: str | Path, lazy: bool = False) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``, the one way mintnet reads files.

    ``lazy=True`` maps the tensors from the file instead of reading them (``mmap=True``; files in
    torch's older, non-zip format are read whole): a check of the file's structure then costs
    little however large the checkpoint.

    Raises:
        CheckpointError: naming the file when it is missing, cannot be read (truncated, not a
            PyTorch file), or holds pickled objects other than tensors and plain containers.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        if lazy and zipfile.is_zipfile(path):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" not in str(error) and "Weights only" not in str(error):
            raise _unreadable(path, error) from error
        raise CheckpointError(_foreign_object_message(path, str(error))) from error
    except Exception as error:
        raise _unreadable(path, error) from error


def _unreadable(path: Path, error: Exception) -> CheckpointError:
    return CheckpointError(
        f"checkpoint {path} cannot be read as a PyTorch checkpoint "
        f"({type(error).__name__}: {' '.join(str(error).split())})"
    )


def _foreign_object_message(path: Path, torch_message: str) -> str:
    found = _FOREIGN_OBJECT.search(torch_message)
    what = f"a pickled Python object ({found.group(1)})" if found else "pickled Python objects"
    return (
        f"checkpoint {path} holds {what} besides tensors, numbers, strings and plain containers. "
        "Unpickling such an object can run code, and mintnet never unpickles code: it reads "
        "checkpoints with torch.load(weights_only=True) only. If you trust the file's source, "
        "load it yourself in Python and save its tensors alone (a state dict, e.g. "
        "torch.save(model.state_dict(), 'weights.pth')), then give mintnet that file"
    )


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_file(payload: Any, path: str | Path) -> Path:
    """``torch.save(payload, path)`` atomically (parents created): the payload goes to a temporary
    file in the same folder, is flushed to disk, then ``os.replace``-d over ``path``, so a crash
    mid-write leaves the previous file intact. The file gets the permissions the umask gives a new
    file (``-rw-r--r--`` under the usual 022, group-readable in a shared project folder under
    002). Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0600
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer with :func:`save_file`: a crash mid-write never leaves a
    truncated checkpoint behind (the trainer plugin of ``conf/trainer/default.yaml``)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                f"AtomicCheckpointIO takes no storage_options, got {storage_options!r}"
            )
        save_file(checkpoint, path)
