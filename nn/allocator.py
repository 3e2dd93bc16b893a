"""Keep freed memory for reuse while training (glibc only; opt-in).

A training step allocates the same large temporaries every time (a CNN's
im2col matrix is 85 MB per batch). glibc serves blocks above its mmap threshold
(at most 32 MB) with fresh mmaps and returns them to the kernel on free, so
every step pays for faulting tens of thousands of zeroed pages in again; on the
textbook CNN that was nearly half of the step time. Raising the mmap and trim
thresholds makes glibc keep and reuse those blocks, as PyTorch's caching
allocator does for its tensors. Resident memory then stays at the step's peak
instead of rising and falling every step.

That is a setting of the whole process, so adkit changes it only when asked:
`adkit.nn.tune(malloc=True)` (or ADKIT_MALLOC_TUNING=1 in the environment), and
then only while `fit` runs. When fit ends the thresholds go back to glibc's
documented defaults (128 KiB) and the kept memory is returned to the kernel
(malloc_trim). glibc cannot switch its *dynamic* mmap threshold back on once a
threshold was set, so after a tuned fit the thresholds stay at those fixed
defaults. Elsewhere than glibc nothing is changed.

>>> from adkit import nn
>>> before = nn.tune(malloc=True)     # fits from now on reuse freed memory
>>> nn.tune(**before)["malloc"]       # and back: returns the settings it replaced
True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from contextlib import contextmanager
from typing import Any, Iterator

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
_MMAP_LIMIT = 1 << 30   # blocks up to 1 GiB come from the reusable heap
_TRIM_LIMIT = 1 << 31   # return memory to the kernel only past 2 GiB free at the top
GLIBC_DEFAULT_THRESHOLD = 128 * 1024   # M_MMAP_THRESHOLD and M_TRIM_THRESHOLD (mallopt(3))

_settings = {"malloc": os.environ.get("ADKIT_MALLOC_TUNING", "0") == "1"}
_depth = 0          # reuse_freed_memory() blocks open (a fit inside a callback nests)
_in_effect = False  # whether the outermost one changed the thresholds


def tune(*, malloc: bool | None = None) -> dict[str, Any]:
    """Opt in to (or out of) process-wide tuning that `fit` applies while it runs and
    undoes when it ends. malloc=True: glibc keeps freed blocks for reuse (see
    adkit.nn.allocator); None leaves a setting as it is. Returns the settings it
    replaced, so `tune(**previous)` restores them."""
    previous = dict(_settings)
    if malloc is not None:
        if not isinstance(malloc, bool):
            raise TypeError(f"tune(malloc=) takes True or False, got {malloc!r}")
        _settings["malloc"] = malloc
    return previous


def _libc() -> Any:
    """glibc's mallopt and malloc_trim, or None elsewhere."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


@contextmanager
def reuse_freed_memory() -> Iterator[bool]:
    """Inside the block glibc keeps freed blocks for reuse; at its end the thresholds
    are glibc's defaults again and the kept memory is trimmed. Yields whether the
    settings are in effect (False off glibc). Nested blocks keep the outer one's."""
    global _depth, _in_effect
    libc = _libc() if _depth == 0 else None
    if libc is not None:
        _in_effect = bool(libc.mallopt(M_MMAP_THRESHOLD, _MMAP_LIMIT)) \
            and bool(libc.mallopt(M_TRIM_THRESHOLD, _TRIM_LIMIT))
    _depth += 1
    try:
        yield _in_effect
    finally:
        _depth -= 1
        if libc is not None:
            libc.mallopt(M_MMAP_THRESHOLD, GLIBC_DEFAULT_THRESHOLD)
            libc.mallopt(M_TRIM_THRESHOLD, GLIBC_DEFAULT_THRESHOLD)
            libc.malloc_trim(0)
            _in_effect = False


@contextmanager
def tuned_for_training() -> Iterator[None]:
    """What fit runs inside: reuse_freed_memory() if tune(malloc=True) asked for it."""
    if not _settings["malloc"]:
        yield
        return
    with reuse_freed_memory():
        yield
