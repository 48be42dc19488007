"""Reader for the IDX format of MNIST and Fashion-MNIST, plain or gzipped."""

import gzip
import zlib
from pathlib import Path

import numpy as np

from mintnet.data.errors import corrupt

__all__ = ["read_idx"]

IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""The type byte of the magic number -> element type (IDX stores big-endian)."""


def read_idx(path: Path, ndim: int, dataset: str) -> np.ndarray:
    """Read the IDX file ``path`` (gzipped if it ends in ``.gz``) holding a uint8 array.

    The header is the magic ``0x00 0x00 <type> <ndim>`` then ``ndim`` big-endian uint32 sizes;
    the data follows in C order. Raises :class:`DatasetCorruptError` naming the file unless the
    file is a complete uint8 array with ``ndim`` dimensions.
    """
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise corrupt(dataset, path, f"cannot decompress or read it ({error})") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise corrupt(dataset, path, f"bad IDX magic number {raw[:4].hex() or '(empty)'}")
    dtype, file_ndim = IDX_DTYPES[raw[2]], raw[3]
    if dtype != np.uint8 or file_ndim != ndim:
        raise corrupt(
            dataset, path, f"expected a {ndim}-d uint8 array, got a {file_ndim}-d {dtype} one"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise corrupt(dataset, path, f"header cut short at {len(raw)} bytes")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise corrupt(
            dataset, path, f"shape {shape} needs {expected} bytes, the file has {len(raw)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
