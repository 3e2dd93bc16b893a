"""Float32 matrix products on an OpenCL device: C = alpha * op(A) @ op(B) + beta * C.

The kernels live in gemm.cl: `gemm_tiled` (local-memory tiles and a register
block per work-item; the one to use) and `gemm_naive` (one work-item per
element, the baseline). Arrays are row-major, C-contiguous pyopencl arrays of
one device; a transposed operand is asked for with trans_a/trans_b instead of
being copied.

    >>> from adkit.kernels import device
    >>> dev = device()
    >>> a = dev.to_device(np.ones((3, 4), np.float32))
    >>> b = dev.to_device(np.ones((4, 2), np.float32))
    >>> dev.to_host(gemm(dev, a, b))        # [[4, 4], [4, 4], [4, 4]], float32
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .launch import F32, checked
from .runtime import Device

try:
    import pyopencl as cl
    import pyopencl.array as cla
except ImportError:  # then there is no Device to pass either: device() says how to fix it
    cl = cla = None  # type: ignore[assignment]

__all__ = ["gemm", "gemm_naive", "Tile"]


class Tile(NamedTuple):
    """Compile-time shape of gemm_tiled: a TSM x TSN block of C per work-group,
    TSK along K per step, WPTM x WPTN elements of C per work-item (WPTN and the
    tile sides multiples of the vector width min(8, WPTN); gemm.cl checks)."""

    tsm: int
    tsn: int
    tsk: int
    wptm: int
    wptn: int

    @property
    def local(self) -> tuple[int, int]:
        return (self.tsn // self.wptn, self.tsm // self.wptm)

    @property
    def local_bytes(self) -> int:
        return 2 * 4 * self.tsk * (self.tsm + self.tsn)  # double-buffered

    def options(self) -> tuple[str, ...]:
        return (f"-DTSM={self.tsm}", f"-DTSN={self.tsn}", f"-DTSK={self.tsk}",
                f"-DWPTM={self.wptm}", f"-DWPTN={self.wptn}", f"-DVW={min(8, self.wptn)}")


#: Preferred first (measurements in gemm.cl); the later ones need fewer work-items
#: and less local memory, for devices that cannot take the first.
TILES = (Tile(96, 96, 64, 4, 24), Tile(64, 64, 64, 4, 16), Tile(64, 64, 32, 4, 16),
         Tile(32, 32, 32, 4, 16), Tile(16, 16, 16, 2, 8), Tile(8, 8, 8, 1, 8))


# (id(dev), trans_a, trans_b, tile or None) -> (dev, tile, kernel). The device is kept
# alive in the value so its id cannot be reused by another while the entry exists.
_KERNELS: dict[tuple, tuple[Any, Tile, cl.Kernel]] = {}


def _fits(dev: Device, tile: Tile) -> bool:
    info = dev.info
    wg = tile.local[0] * tile.local[1]
    return wg <= int(info.max_work_group_size) and tile.local_bytes <= int(info.local_mem_size)


def _tiled_kernel(dev: Device, trans_a: bool, trans_b: bool,
                  tile: Tile | None = None) -> tuple[Tile, cl.Kernel]:
    key = (id(dev), trans_a, trans_b, tile)
    hit = _KERNELS.get(key)
    if hit is not None and hit[0] is dev:
        return hit[1], hit[2]
    candidates = (tile,) if tile is not None else TILES
    why = []
    for t in candidates:
        if not _fits(dev, t):
            why.append(f"{t}: needs {t.local[0] * t.local[1]} work-items and "
                       f"{t.local_bytes} bytes of local memory")
            continue
        prg = dev.program("gemm.cl", options=t.options()
                          + (f"-DTRANS_A={int(trans_a)}", f"-DTRANS_B={int(trans_b)}"))
        knl = cl.Kernel(prg, "gemm_tiled")
        # the compiler may allow fewer work-items than the device does (register pressure)
        limit = knl.get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE,
                                        dev.queue.device)
        if t.local[0] * t.local[1] > limit:
            why.append(f"{t}: the compiled kernel allows only {limit} work-items")
            continue
        knl.set_scalar_arg_dtypes([np.int32, np.int32, np.int32, np.float32, np.float32,
                                   None, np.int32, None, np.int32, None, np.int32])
        _KERNELS[key] = (dev, t, knl)
        return t, knl
    raise RuntimeError("gemm: no tile shape fits this OpenCL device (max work-group size "
                       f"{dev.info.max_work_group_size}, local memory "
                       f"{dev.info.local_mem_size} bytes): " + "; ".join(why))


def _operand(dev: Device, x: Any, name: str) -> cla.Array:
    return checked(dev, x, name, "gemm", ndim=2, fix="pass the untransposed array with "
                   "trans_a/trans_b, or copy it")


def _shapes(a: cla.Array, b: cla.Array, trans_a: bool, trans_b: bool) -> tuple[int, int, int]:
    m, ka = a.shape[::-1] if trans_a else a.shape
    kb, n = b.shape[::-1] if trans_b else b.shape
    if ka != kb:
        raise ValueError(
            f"gemm: inner dimensions differ: op(a) is {m}x{ka} (a has shape {a.shape}"
            f"{', transposed' if trans_a else ''}) and op(b) is {kb}x{n} (b has shape "
            f"{b.shape}{', transposed' if trans_b else ''})")
    return m, n, ka


def gemm(dev: Device, a: cla.Array, b: cla.Array, *, trans_a: bool = False,
         trans_b: bool = False, alpha: float = 1.0, beta: float = 0.0,
         out: cla.Array | None = None) -> cla.Array:
    """alpha * op(a) @ op(b) + beta * out, float32, computed on the device into out.

    op(x) is x, or x.T when trans_x. With beta == 0 the old contents of out are
    not read (as in BLAS); beta != 0 needs out. Returns out (a new array if None).

        >>> c = gemm(dev, a, b)                                  # a @ b
        >>> gemm(dev, a, c, trans_a=True, alpha=2.0, beta=1.0, out=d)   # d = 2 a.T @ c + d
        >>> dev.queue.finish()                                   # launches are asynchronous
    """
    a = _operand(dev, a, "a")
    b = _operand(dev, b, "b")
    m, n, k = _shapes(a, b, trans_a, trans_b)
    if out is None:
        if beta != 0.0:
            raise ValueError(f"gemm: beta={beta} scales an existing C, but out is None; "
                             "pass out= (the C to add to) or beta=0")
        out = dev.empty((m, n), F32)
    else:
        out = _operand(dev, out, "out")
        if out.shape != (m, n):
            raise ValueError(f"gemm: out has shape {out.shape}, but op(a) @ op(b) of a "
                             f"{a.shape} and b {b.shape} is {(m, n)}")
    return _launch(dev, a, b, out, m, n, k, trans_a, trans_b, alpha, beta, None)


def _launch(dev: Device, a: cla.Array, b: cla.Array, out: cla.Array, m: int, n: int, k: int,
            trans_a: bool, trans_b: bool, alpha: float, beta: float,
            tile: Tile | None) -> cla.Array:
    if m == 0 or n == 0:
        return out
    tile, knl = _tiled_kernel(dev, bool(trans_a), bool(trans_b), tile)
    lx, ly = tile.local
    gsize = (-(-n // tile.tsn) * lx, -(-m // tile.tsm) * ly)
    evt = knl(dev.queue, gsize, (lx, ly), m, n, k, alpha, beta,
              a.base_data, a.offset // 4, b.base_data, b.offset // 4,
              out.base_data, out.offset // 4)
    out.add_event(evt)
    return out


def gemm_naive(dev: Device, a: cla.Array, b: cla.Array) -> cla.Array:
    """a @ b by the textbook kernel (one work-item per element of C): the baseline.

        >>> c = gemm_naive(dev, a, b)
        >>> np.allclose(dev.to_host(c), dev.to_host(a) @ dev.to_host(b), rtol=1e-5)
        True
    """
    a = _operand(dev, a, "a")
    b = _operand(dev, b, "b")
    m, n, k = _shapes(a, b, False, False)
    out = dev.empty((m, n), F32)
    if m == 0 or n == 0:
        return out
    if a.offset or b.offset:  # the baseline kernel keeps the textbook's argument list
        a, b = a.copy(), b.copy()
    key = (id(dev), "naive")
    hit = _KERNELS.get(key)
    if hit is None or hit[0] is not dev:
        knl = cl.Kernel(dev.program("gemm.cl"), "gemm_naive")
        knl.set_scalar_arg_dtypes([np.int32, np.int32, np.int32, None, None, None])
        hit = _KERNELS[key] = (dev, None, knl)  # type: ignore[assignment]
    # A fixed work-group (the textbook's 16 x 16) rather than the driver's choice:
    # PoCL compiles a kernel once per local size, and would recompile per shape.
    s = 16
    while s * s > int(dev.info.max_work_group_size):
        s //= 2
    gsize = (-(-n // s) * s, -(-m // s) * s)
    evt = hit[2](dev.queue, gsize, (s, s), m, n, k, a.base_data, b.base_data, out.base_data)
    out.add_event(evt)
    return out
