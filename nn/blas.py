"""How many threads the BLAS uses, read and limited for a block, through threadpoolctl.

The NumPy backend splits a convolution's batch between its own threads, one
per core, and needs the BLAS single-threaded meanwhile: an OpenBLAS worker left
over from a multi-threaded product keeps spinning for a while after it, and on
two cores that halved the speed of the convolution that came next.
threadpoolctl finds the BLAS libraries loaded in the process (OpenBLAS, MKL,
BLIS; on Linux, macOS and Windows) and sets their thread counts; `limited` puts
the previous counts back when its block ends. Without a controllable BLAS,
`threads()` is None and nothing is changed.

>>> with limited(1):
...     inside = threads()
>>> inside in (1, None)
True
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np  # noqa: F401  (NumPy must have loaded its BLAS before we look)
from threadpoolctl import ThreadpoolController

_controller: list = []   # found once: looking through the loaded libraries takes ~10 ms


def _blas() -> Any:
    """threadpoolctl's controller of the BLAS libraries loaded when first asked."""
    if not _controller:
        _controller.append(ThreadpoolController().select(user_api="blas"))
    return _controller[0]


def threads() -> int | None:
    """The BLAS's thread count (the largest, if several are loaded), or None when
    there is no BLAS threadpoolctl can control."""
    counts = [lib["num_threads"] for lib in _blas().info()]
    return max(counts) if counts else None


@contextmanager
def limited(n: int) -> Iterator[None]:
    """Run the block with the BLAS on at most n threads, and its previous counts
    after it (a no-op when it uses n or fewer, or cannot be controlled)."""
    before = threads()
    if before is None or before <= n:
        yield
        return
    with _blas().limit(limits=n):
        yield
