"""How many threads NumPy's OpenBLAS uses, read and set at run time.

The NumPy backend splits a convolution's batch between its own threads, one
per core, and needs the BLAS single-threaded meanwhile: an OpenBLAS worker left
over from a multi-threaded product keeps spinning for a while after it, and on
two cores that halved the speed of the convolution that came next. OpenBLAS
exports set/get functions; this finds the OpenBLAS that NumPy loaded (Linux:
from /proc/self/maps) and calls them through ctypes. Elsewhere, or with another
BLAS, `threads()` is None and nothing is changed.
"""

from __future__ import annotations

import ctypes
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np  # noqa: F401  (NumPy must have loaded its BLAS before we look)

_SUFFIXES = ("scipy_openblas_{}64_", "openblas_{}64_", "scipy_openblas_{}", "openblas_{}")
_found: list = []


def _openblas() -> tuple[Any, Any] | None:
    """(set_num_threads, get_num_threads) of the loaded OpenBLAS, or None."""
    if _found:
        return _found[0]
    result = None
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps
                            if "openblas" in line.lower() and "/" in line})
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pattern in _SUFFIXES:
            setter = getattr(lib, pattern.format("set_num_threads"), None)
            getter = getattr(lib, pattern.format("get_num_threads"), None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                result = (setter, getter)
                break
        if result:
            break
    _found.append(result)
    return result


def threads() -> int | None:
    """The BLAS's thread count, or None when it cannot be controlled."""
    blas = _openblas()
    return None if blas is None else int(blas[1]())


@contextmanager
def limited(n: int) -> Iterator[None]:
    """Run the block with the BLAS on at most n threads (a no-op when uncontrollable)."""
    blas = _openblas()
    before = None if blas is None else blas[1]()
    if before is None or before <= n:
        yield
        return
    blas[0](n)
    try:
        yield
    finally:
        blas[0](before)
