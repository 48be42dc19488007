"""How the C allocator keeps freed memory: activation-sized blocks reused inside the process
instead of handed back to the kernel after every operation (glibc on Linux only).

glibc serves a block above its mmap threshold (128 KiB at the start, raised as large blocks are
freed) with a fresh ``mmap`` and returns it with ``munmap`` when freed, and trims the heap's free
top above 128 KiB. A CPU step of a flow allocates and frees tensors of a few MiB hundreds of times,
so each one costs page faults for zeroed pages: on the digits flow's Figure 4 a third of the wall
time went to the kernel (docs/performance.md, "The allocator"). :func:`keep_freed_memory` raises
both thresholds, so freed blocks stay in the heap for the next tensor of that size. The process's
resident memory then stays near its peak instead of shrinking between steps.
"""

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Mapping

__all__ = ["KEEP_BYTES", "keep_freed_memory"]

KEEP_BYTES = 1 << 30
"""Both thresholds: blocks up to 1 GiB come from the heap, and up to 1 GiB of free heap is kept."""

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def keep_freed_memory(env: Mapping[str, str] | None = None) -> bool:
    """Raise glibc's mmap and trim thresholds to :data:`KEEP_BYTES` with ``mallopt``; returns
    whether it did. Nothing changes off Linux, without glibc, or when the user set one of glibc's
    own ``MALLOC_*_`` variables (theirs wins)."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux") or any(key in env for key in _USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, KEEP_BYTES)
    )
