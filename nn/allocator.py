"""Keep freed memory for reuse during training (glibc only).

A training step allocates the same large temporaries every time (a CNN's
im2col matrix is 85 MB per batch). glibc serves blocks above its mmap threshold
(at most 32 MB) with fresh mmaps and returns them to the kernel on free, so
every step pays for faulting tens of thousands of zeroed pages in again; on the
textbook CNN that was nearly half of the step time. Raising the mmap and trim
thresholds makes glibc keep and reuse those blocks, as PyTorch's caching
allocator does for its tensors. Resident memory then stays at the step's peak
instead of rising and falling every step.

`fit` calls `reuse_freed_memory()` once per process; set ADKIT_MALLOC_TUNING=0
to leave malloc alone. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
_MMAP_LIMIT = 1 << 30   # blocks up to 1 GiB come from the reusable heap
_TRIM_LIMIT = 1 << 31   # return memory to the kernel only past 2 GiB free at the top

_done: bool | None = None


def reuse_freed_memory() -> bool:
    """Ask glibc to keep freed blocks for reuse; True if the settings took effect."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("ADKIT_MALLOC_TUNING", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, _MMAP_LIMIT)) and bool(mallopt(M_TRIM_THRESHOLD, _TRIM_LIMIT))
    return _done
