"""The NumPy kernels of adkit.nn: plain array functions, nothing differentiable here.

These are the operations a backend provides (nn/backend.py turns them into
differentiable primitives; a future OpenCL backend implements the same names
on device arrays). Layouts follow Keras: images are NHWC (batch, height, width,
channels), convolution kernels are (kh, kw, c_in, c_out), and every function
keeps its inputs' float dtype (float32 in, float32 out).

Windows (convolution and pooling) share one geometry, Keras's, computed in
adkit.kernels.window for this backend, the OpenCL kernels and the layers alike.

    >>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    >>> NumpyBackend().max_pool2d_forward(x, (2, 2), (2, 2), "valid")[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)

Convolutions work through im2col, a few images at a time: the patches of a
chunk of images (with their product, about 1 MB, so they stay in cache) are
copied into one reused buffer, and one matrix product per chunk does the
arithmetic in the BLAS; a bias is added to each chunk's product there and then.
Materialising the patches of a whole batch at once (85 MB for 128 images of
26x26x32 under a 3x3 kernel) measured two to four times slower: the copy and
its page faults, not the products, dominated. Images with few channels (the
first layer's one) take the patches transposed, one long row per window
position (see _narrow). Large batches are split between threads, one per core,
each running its own chunks (see _by_images), and so are the relu and
max-pooling passes between the convolutions (_elementwise).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from adkit.kernels.window import Window, window

from . import blas

__all__ = ["NumpyBackend"]

# Bytes of patches and their product per chunk. One whole-batch im2col measured 2-4x
# slower than chunks of a few images (the copy and its page faults dominated). On a
# Xeon with 2 MB of L2 per core, the value and both gradients of the textbook CNN's two
# convolutions took (CPU time, one thread) 67.6 ms in chunks of 0.25 MB, 69.6 at 1 MB
# and 75 at 4 or 8 MB; below 1 MB the calls per chunk start to count on small images.
CHUNK_BYTES = 1 << 20
#: images with fewer channels than this take transposed patches (see _narrow)
NARROW_CHANNELS = 4


def _per_chunk(per_image_bytes: int) -> int:
    return max(1, CHUNK_BYTES // max(per_image_bytes, 1))


# --- running parts of a batch at once ----------------------------------------------------
#
# A convolution alternates single-threaded NumPy copies (the patches) with BLAS products.
# Left to the BLAS, its idle worker spins through every copy, and on 2 cores the
# value and gradient of a (128, 26, 26, 32) convolution took a median 144 ms (best 53,
# the spread being the spinning). Giving each core its own part of the batch, copies
# and products alike, with the BLAS held to one thread: median 44 ms, best 39. That
# needs the BLAS's thread count to be settable (nn/blas.py); where it is not, the BLAS
# threads itself as before.

#: threads for the parts of a batch; None: as many as the BLAS uses (1 if uncontrollable)
THREADS: int | None = None
#: below this many bytes of patches a convolution runs in the calling thread alone
PARALLEL_BYTES = 2 << 20   # ~0.5 ms of work: a thread hand-off costs ~50 us

_pool: dict[str, Any] = {}
if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads
    os.register_at_fork(after_in_child=_pool.clear)


def _parallel() -> tuple[int, Any]:
    """(threads, executor for all but one of them, or None)."""
    if "threads" not in _pool:
        threads = THREADS or blas.threads() or 1
        if blas.threads() is None:
            threads = 1
        _pool.update(threads=threads, executor=None)
        if threads > 1:
            _pool["executor"] = ThreadPoolExecutor(threads - 1, "adkit-nn")
    return _pool["threads"], _pool["executor"]


def _threaded(work_bytes: int) -> bool:
    """Whether work of this many bytes is split over the backend's threads."""
    return work_bytes >= PARALLEL_BYTES and _parallel()[1] is not None


def _by_images(n: int, work_bytes: int, part: Callable[[int, int], Any],
               uses_blas: bool = True) -> list:
    """[part(start, stop)] over consecutive parts of range(n), one part per thread, with
    the BLAS single-threaded meanwhile (one part, in this thread, when that cannot be).
    Parts that make no BLAS calls (uses_blas=False: NumPy's elementwise loops, which
    release the GIL) skip holding the BLAS to one thread."""
    threads, executor = _parallel()
    parts = min(threads, n) if _threaded(work_bytes) else 1
    if parts <= 1:
        return [part(0, n)]
    bounds = [n * i // parts for i in range(parts + 1)]
    with blas.limited(1) if uses_blas else nullcontext():
        futures = [executor.submit(part, a, b) for a, b in zip(bounds[1:-1], bounds[2:])]
        first = part(bounds[0], bounds[1])
        return [first] + [f.result() for f in futures]


def _elementwise(out: np.ndarray, part: Callable[[slice], Any]) -> np.ndarray:
    """out, after part(rows) has filled out[rows] for parts of its first axis, one per
    thread when out is large: the relu and pooling passes between a CNN's convolutions
    would otherwise run on one core while the convolutions use them all."""
    _by_images(len(out), out.nbytes, lambda a, b: part(slice(a, b)), uses_blas=False)
    return out


class _Padder:
    """Copies chunks of images into a reused buffer with a border of `fill`."""

    def __init__(self, x_shape: tuple, geo: Window, batch: int, dtype: np.dtype,
                 fill: float = 0.0) -> None:
        _, h, w, c = x_shape
        self.geo, self.h, self.w = geo, h, w
        self.buf = np.full((batch, h + geo.top + geo.bottom, w + geo.left + geo.right, c),
                           fill, dtype) if geo.padded else None

    def interior(self, n: int) -> np.ndarray:
        g = self.geo
        return self.buf[:n, g.top:g.top + self.h, g.left:g.left + self.w]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.buf is None:
            return x
        self.interior(len(x))[...] = x  # the border is never written, so it stays `fill`
        return self.buf[:len(x)]


def _patch_view(xp: np.ndarray, geo: Window) -> np.ndarray:
    """Every patch of padded images xp as one read-only strided view (n, ho, wo, kh, kw, C).
    Slice it per chunk rather than making one per chunk: as_strided costs ~10 us, 4 ms
    of a training step whose second convolution goes through 128 one-image chunks 3 times."""
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, (xp.shape[0], geo.ho, geo.wo, geo.kh, geo.kw, xp.shape[3]),
                      (s0, s1 * geo.sh, s2 * geo.sw, s1, s2, s3), writeable=False)


def _patches_into(xp: np.ndarray, geo: Window, cols: np.ndarray,
                  view: np.ndarray | None = None) -> None:
    """im2col of padded images xp into cols (n*ho*wo, kh*kw*C), in place; `view`, if
    given, is _patch_view of xp."""
    n, c = xp.shape[0], xp.shape[3]
    out = cols.reshape(n, geo.ho, geo.wo, geo.kh, geo.kw, c)
    if c >= 4:
        # one strided view of every patch, copied once: measured 3x faster than kh*kw
        # slice copies for 32 channels (NumPy merges the contiguous (kw, C) run), 4x for 4
        np.copyto(out, _patch_view(xp, geo) if view is None else view)
    else:
        # one channel: the view's innermost run is 1 entry; slice copies are 1.7x faster
        for _, i, j in geo.offsets():
            out[:, :, :, i, j, :] = geo.at(xp, i, j)


def _scatter_patches(cols6: np.ndarray, target: np.ndarray, geo: Window) -> None:
    """col2im: add patches (n, ho, wo, kh, kw, C) back onto padded images, in place."""
    for _, i, j in geo.offsets():
        geo.at(target, i, j)[...] += cols6[:, :, :, i, j, :]


def _patch_rows_into(xp: np.ndarray, geo: Window, rows_out: np.ndarray) -> None:
    """The transpose of im2col, (kh*kw*C, n*ho*wo), of padded images xp, in place: each
    window position's C rows are one copy of the images shifted to that position."""
    n, c = xp.shape[0], xp.shape[3]
    out = rows_out.reshape(geo.kh * geo.kw, c, n, geo.ho, geo.wo)
    for k, i, j in geo.offsets():
        np.copyto(out[k], geo.at(xp, i, j).transpose(3, 0, 1, 2))


def _narrow(channels: int) -> bool:
    """Whether images of this many channels take transposed patches (_patch_rows_into).

    With few channels a patch row is short (9 entries for one channel under 3x3), and
    the product of the tall, narrow patch matrix ran at a third of the BLAS's speed; its
    transpose, kh*kw*C long rows, each one slice copy, is both cheaper to fill and a
    better operand. For a (128, 28, 28, 1) input and 32 3x3 filters (one core): forward
    4.9 -> 1.0 ms, kernel gradient 4.4 -> 1.5 ms."""
    return channels < NARROW_CHANNELS


def _patch_chunks(x: np.ndarray, geo: Window, f: int
                  ) -> Iterator[tuple[int, int, np.ndarray]]:
    """(start, stop, patches of images x[start:stop]) for chunks of a few images, sized
    so that the patches and the chunk's f-channel product stay in cache; the patches live
    in one buffer that the next chunk overwrites. They are im2col's (rows, kh*kw*C), or
    its transpose for narrow inputs (see _narrow)."""
    n, _, _, c = x.shape
    rows, width = geo.ho * geo.wo, geo.kh * geo.kw * c
    b = min(n, _per_chunk(x.itemsize * (width + f) * rows))
    narrow = _narrow(c)
    buf = np.empty((width, b * rows) if narrow else (b * rows, width), x.dtype)
    pad = _Padder(x.shape, geo, b, x.dtype)
    view = None if narrow else _patch_view(x if pad.buf is None else pad.buf, geo)
    for s in range(0, n, b):
        e = min(s + b, n)
        if narrow:
            cols = buf[:, :(e - s) * rows]
            _patch_rows_into(pad(x[s:e]), geo, cols)
        else:
            cols = buf[:(e - s) * rows]
            # the padder's buffer holds this chunk from its first image on
            _patches_into(pad(x[s:e]), geo, cols, view[s:e] if pad.buf is None else view[:e - s])
        yield s, e, cols


def _correlate(x: np.ndarray, k2: np.ndarray, geo: Window,
               bias: np.ndarray | None = None, relu: bool = False) -> np.ndarray:
    """x (N, H, W, C) correlated with k2 (kh*kw*C, F) over the windows geo: (N, Ho, Wo, F),
    plus bias (F,) if given, then max(., 0) if relu, each on a chunk's product while it
    is in cache."""
    dtype = _float_dtype(x, k2)
    x, k2 = x.astype(dtype, copy=False), _matrix(k2, dtype)
    rows, f = geo.ho * geo.wo, k2.shape[1]
    out = np.empty((x.shape[0] * rows, f), dtype)
    narrow = _narrow(x.shape[3])

    def part(a: int, b: int) -> None:
        for s, e, cols in _patch_chunks(x[a:b], geo, f):
            product = out[(a + s) * rows:(a + e) * rows]
            np.matmul(cols.T if narrow else cols, k2, out=product)
            if bias is not None:
                product += bias
            if relu:
                np.maximum(product, 0, out=product)

    _by_images(x.shape[0], out.shape[0] * k2.shape[0] * dtype.itemsize, part)
    return out.reshape(x.shape[0], geo.ho, geo.wo, f)


def _conv_bias(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, strides: tuple,
               padding: str, relu: bool = False) -> np.ndarray:
    """conv2d(x, kernel) + bias, then max(., 0) if relu, in the product's chunk pass."""
    kh, kw, c, f = kernel.shape
    geo = window(x.shape, (kh, kw), strides, padding)
    dtype = _float_dtype(x, kernel, bias)   # as conv2d + bias would promote
    return _correlate(x, kernel.reshape(-1, f).astype(dtype, copy=False), geo,
                      bias.astype(dtype, copy=False), relu)


def _transpose_correlate(g: np.ndarray, kernel: np.ndarray, x_shape: tuple,
                         geo: Window) -> np.ndarray:
    """The adjoint of _correlate in x, for any strides: per chunk, g @ kernel[i, j]^T for
    every window position (one batched product, each result contiguous), added back
    onto the (padded) images where that position's entries came from."""
    kh, kw, c, f = kernel.shape
    dtype = _float_dtype(g, kernel)
    n, h, w, _ = x_shape
    rows = geo.ho * geo.wo
    g2 = _matrix(g.reshape(-1, f), dtype)
    kt = kernel.reshape(kh * kw, c, f).transpose(0, 2, 1).astype(dtype)  # (kh*kw, f, c)
    per_image = dtype.itemsize * kh * kw * c * rows
    dx = np.empty(x_shape, dtype)

    def part(a: int, z: int) -> None:
        b = min(z - a, _per_chunk(per_image))
        buf = np.empty((kh * kw, b * rows, c), dtype)
        pad = _Padder(x_shape, geo, b, dtype)
        for s in range(a, z, b):
            e = min(s + b, z)
            products = buf[:, :(e - s) * rows]
            np.matmul(g2[s * rows:e * rows], kt, out=products)
            into = pad.buf[:e - s] if geo.padded else dx[s:e]
            into[...] = 0
            for k, i, j in geo.offsets():
                geo.at(into, i, j)[...] += products[k].reshape(e - s, geo.ho, geo.wo, c)
            if geo.padded:
                dx[s:e] = pad.interior(e - s)

    _by_images(n, n * per_image, part)
    return dx


def _matrix(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """a as an operand the BLAS takes: a cotangent is often a broadcast view (the
    gradient of a sum), whose zero strides would send np.matmul to its slow loops."""
    return np.ascontiguousarray(a, dtype=dtype)


def _float_dtype(*arrays: np.ndarray) -> np.dtype:
    dt = np.result_type(*arrays)
    return dt if dt.kind in "fc" else np.dtype(np.float64)


class NumpyBackend:
    """The kernels on NumPy arrays (CPU; the BLAS does the matrix products).

    Every method takes and returns NumPy arrays; shapes are checked by the
    caller (nn/backend.py), so these assume well-formed input.
    """

    name = "numpy"

    @contextmanager
    def thread_limit(self, n: int) -> Iterator[None]:
        """Use at most n threads (the BLAS's and this backend's own) inside the block:
        for MPI ranks that share a machine's cores."""
        global THREADS
        before = THREADS
        with blas.limited(n):
            THREADS = min(n, THREADS or n)
            _pool.clear()
            try:
                yield
            finally:
                THREADS = before
                _pool.clear()

    def step_scope(self, batch_parallel: bool) -> Any:
        """The context a training step runs in. When the step's heavy kernels split
        batches over this backend's threads, the BLAS stays single-threaded for the
        whole step: a BLAS worker still spinning after a multi-threaded product (a
        Dense layer's) took a core from the convolution after it, doubling its time."""
        threads, executor = _parallel()
        return blas.limited(1) if batch_parallel and executor is not None else nullcontext()

    # --- convolution -------------------------------------------------------------------

    def im2col(self, x: np.ndarray, kernel_size: tuple, strides: tuple,
               padding: str) -> np.ndarray:
        """Patches of x (N, H, W, C) as rows: (N*Ho*Wo, kh*kw*C), ordered (kh, kw, C)."""
        geo = window(x.shape, kernel_size, strides, padding)
        n, _, _, c = x.shape
        rows = geo.ho * geo.wo
        cols = np.empty((n * rows, geo.kh * geo.kw * c), x.dtype)
        b = _per_chunk(cols.itemsize * cols.shape[1] * rows)
        pad = _Padder(x.shape, geo, min(b, n), x.dtype)
        for s in range(0, n, b):
            e = min(s + b, n)
            _patches_into(pad(x[s:e]), geo, cols[s * rows:e * rows])
        return cols

    def col2im(self, cols: np.ndarray, x_shape: tuple, kernel_size: tuple, strides: tuple,
               padding: str) -> np.ndarray:
        """The adjoint of im2col: each patch entry added back where it came from."""
        geo = window(x_shape, kernel_size, strides, padding)
        n, h, w, c = x_shape
        rows = geo.ho * geo.wo
        cols6 = cols.reshape(n, geo.ho, geo.wo, geo.kh, geo.kw, c)
        if not geo.padded:
            dx = np.zeros(x_shape, cols.dtype)
            _scatter_patches(cols6, dx, geo)
            return dx
        dx = np.empty(x_shape, cols.dtype)
        b = _per_chunk(cols.itemsize * cols.shape[1] * rows)
        pad = _Padder(x_shape, geo, min(b, n), cols.dtype)
        for s in range(0, n, b):
            e = min(s + b, n)
            pad.buf[:e - s] = 0
            _scatter_patches(cols6[s:e], pad.buf[:e - s], geo)
            dx[s:e] = pad.interior(e - s)
        return dx

    def conv2d(self, x: np.ndarray, kernel: np.ndarray, strides: tuple,
               padding: str) -> np.ndarray:
        """Cross-correlation of x (N, H, W, C) with kernel (kh, kw, C, F) -> (N, Ho, Wo, F)."""
        kh, kw, c, f = kernel.shape
        geo = window(x.shape, (kh, kw), strides, padding)
        return _correlate(x, kernel.reshape(-1, f), geo)

    def conv2d_bias(self, x: np.ndarray, kernel: np.ndarray, bias: np.ndarray,
                    strides: tuple, padding: str) -> np.ndarray:
        """conv2d(x, kernel) + bias (F,), the bias added to each chunk of the product while
        it is in cache: a separate pass over a (128, 26, 26, 32) float32 output took 2 ms.
        A backend that brings its own conv2d (a subclass) gets its conv2d, then bias_add."""
        if type(self).conv2d is not NumpyBackend.conv2d:
            return self.bias_add(self.conv2d(x, kernel, strides, padding), bias)
        return _conv_bias(x, kernel, bias, strides, padding)

    def conv2d_bias_relu(self, x: np.ndarray, kernel: np.ndarray, bias: np.ndarray,
                         strides: tuple, padding: str) -> np.ndarray:
        """max(conv2d(x, kernel) + bias, 0), both in the product's chunk pass (Conv2D with
        a relu; a separate relu over (128, 26, 26, 32) float32 took 0.7-1.9 ms). A
        backend that brings its own conv2d (a subclass) gets conv2d_bias, then relu."""
        if type(self).conv2d is not NumpyBackend.conv2d:
            return self.relu(self.conv2d_bias(x, kernel, bias, strides, padding))
        return _conv_bias(x, kernel, bias, strides, padding, relu=True)

    def conv2d_backprop_input(self, g: np.ndarray, kernel: np.ndarray, x_shape: tuple,
                              strides: tuple, padding: str) -> np.ndarray:
        """d<conv2d(x, kernel), g>/dx, the transposed convolution of g (N, Ho, Wo, F)."""
        kh, kw, c, f = kernel.shape
        geo = window(x_shape, (kh, kw), strides, padding)
        n, h, w, _ = x_shape
        if geo.sh == geo.sw == 1 and f <= c:
            # With unit strides the adjoint is itself a correlation: of g, zero-padded by
            # kh-1 minus the forward padding, with the kernel flipped and c/f swapped.
            # Its patches have f channels where the scatter's have c: with f = c = 32
            # (26x26, 3x3) it measured 1.1-1.2x faster; with c = 1, f = 32, 4x slower.
            full = Window(kh, kw, 1, 1, h, w, kh - 1 - geo.top, h + geo.top - geo.ho,
                          kw - 1 - geo.left, w + geo.left - geo.wo)
            flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2).reshape(-1, c)
            return _correlate(g, flipped, full)
        return _transpose_correlate(g, kernel, x_shape, geo)

    def conv2d_backprop_kernel(self, x: np.ndarray, g: np.ndarray, kernel_shape: tuple,
                               strides: tuple, padding: str) -> np.ndarray:
        """d<conv2d(x, kernel), g>/dkernel: patches^T @ g, summed over chunks."""
        kh, kw, c, f = kernel_shape
        geo = window(x.shape, (kh, kw), strides, padding)
        dtype = _float_dtype(x, g)
        g2 = _matrix(g.reshape(-1, f), dtype)
        x = x.astype(dtype, copy=False)
        rows = geo.ho * geo.wo
        narrow = _narrow(c)

        def part(a: int, b: int) -> np.ndarray:
            acc = np.zeros((kh * kw * c, f), dtype)
            product = np.empty_like(acc)
            for s, e, cols in _patch_chunks(x[a:b], geo, f):
                g_chunk = g2[(a + s) * rows:(a + e) * rows]
                # patches^T @ g (narrow patches come transposed already): with OpenBLAS
                # 0.3.31 on an AVX-512 Xeon, one core, (128, 26, 26, 32) images and 32
                # 3x3 filters took 18.0-18.9 ms against 20.7-27 for (g^T @ patches)^T
                np.matmul(cols if narrow else cols.T, g_chunk, out=product)
                acc += product
            return acc

        acc = sum(_by_images(x.shape[0], g2.shape[0] * kh * kw * c * dtype.itemsize, part))
        return acc.reshape(kernel_shape)

    # --- bias ------------------------------------------------------------------------

    def bias_add(self, y: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """y + bias, bias broadcast along the last axis."""
        return y + bias

    def bias_grad(self, g: np.ndarray) -> np.ndarray:
        """The sum of g over every axis but the last (bias_add's bias cotangent).

        As one BLAS product, ones @ g.reshape(-1, C): for a (128, 26, 26, 32) float32 g,
        0.45 ms against 1.9 for g.sum(axis=(0, 1, 2)), whose strided reduction NumPy does
        one row at a time."""
        if not isinstance(g, np.ndarray):   # a device array (a subclass's arrays): its sum
            return g.sum(axis=tuple(range(g.ndim - 1)))
        g2 = _matrix(g.reshape(-1, g.shape[-1]), _float_dtype(g))
        return np.ones(g2.shape[0], g2.dtype) @ g2

    def broadcast_bias(self, h: np.ndarray, shape: tuple) -> np.ndarray:
        """h (C,) repeated over every position of shape (..., C): bias_grad's adjoint."""
        return np.broadcast_to(h, shape).copy()

    # --- pooling ---------------------------------------------------------------------

    def max_pool2d_forward(self, x: np.ndarray, pool_size: tuple, strides: tuple,
                           padding: str) -> np.ndarray:
        """The largest entry of each window (padding never wins: it is -inf)."""
        geo = window(x.shape, pool_size, strides, padding)
        y = np.empty((x.shape[0], geo.ho, geo.wo, x.shape[3]), x.dtype)

        def part(rows: slice) -> None:
            xp = _Padder(x.shape, geo, len(y[rows]), x.dtype, -np.inf)(x[rows])
            # one strided slice per window position serves every case (overlapping, padded,
            # cropped); for 2x2 it measured 1.6x faster than the non-overlapping special
            # case x.reshape(N, Ho, 2, Wo, 2, C).max(axis=(2, 4))
            views = [geo.at(xp, i, j) for _, i, j in geo.offsets()]
            if len(views) == 1:
                np.copyto(y[rows], views[0])
            else:   # the first two positions straight into y: no copy first
                np.maximum(views[0], views[1], out=y[rows])
            for v in views[2:]:
                np.maximum(y[rows], v, out=y[rows])

        return _elementwise(y, part)

    def max_pool2d_argmax(self, x: np.ndarray, y: np.ndarray, pool_size: tuple,
                          strides: tuple, padding: str) -> np.ndarray:
        """Which window position k = i * kw + j holds each maximum y (the first, row-major,
        on ties), as an int8 (int32 for windows over 127) array shaped like y."""
        geo = window(x.shape, pool_size, strides, padding)
        offsets = list(geo.offsets())
        idx = np.zeros(y.shape, np.int8 if len(offsets) < 128 else np.int32)

        def part(rows: slice) -> None:
            xp = _Padder(x.shape, geo, len(idx[rows]), x.dtype, -np.inf)(x[rows])
            into, differs = idx[rows], np.empty(idx[rows].shape, bool)
            # with d_k = (x_k != y), the first equal position is Horner's
            # d_0 (1 + d_1 (1 + ... d_{K-2})), taken from the inside out (K-1 when none of
            # the first K-1 equals y): one comparison and two int8 steps per position,
            # 2x2 over (128, 24, 24, 32) float32 in 1.27 ms against 1.44 for
            # idx -= (idx - k) * (x_k == y) from the last position to the first
            for k, i, j in reversed(offsets[:-1]):
                np.not_equal(geo.at(xp, i, j), y[rows], out=differs)
                if k < len(offsets) - 2:
                    into += 1
                    into *= differs
                else:
                    np.copyto(into, differs)

        return _elementwise(idx, part)

    def max_pool2d_backward(self, g: np.ndarray, argmax: np.ndarray, x_shape: tuple,
                            pool_size: tuple, strides: tuple, padding: str) -> np.ndarray:
        """Each window's cotangent g sent to its argmax position (summed where windows
        overlap)."""
        geo = window(x_shape, pool_size, strides, padding)
        n, h, w, c = x_shape
        dxp = np.empty((n, h + geo.top + geo.bottom, w + geo.left + geo.right, c), g.dtype)
        disjoint = geo.sh >= geo.kh and geo.sw >= geo.kw
        # windows that tile the padded images exactly write every entry: no zeros first
        # (2x2 over (128, 24, 24, 32) float32, one core: 2.5 -> 2.05 ms)
        tiled = (geo.sh == geo.kh and geo.sw == geo.kw and dxp.shape[1] == geo.ho * geo.kh
                 and dxp.shape[2] == geo.wo * geo.kw)

        def part(rows: slice) -> None:
            into, g_part, argmax_part = dxp[rows], g[rows], argmax[rows]
            if not tiled:
                into[...] = 0
            for k, i, j in geo.offsets():
                target = geo.at(into, i, j)
                if disjoint:  # each input entry is in one window at most: write, not add
                    # g * mask straight into the strided target: 3x faster than
                    # np.copyto(where=)
                    np.multiply(g_part, argmax_part == k, out=target)
                else:
                    target += g_part * (argmax_part == k)

        return self._unpad(_elementwise(dxp, part), geo, h, w)

    def max_pool2d_gather(self, h: np.ndarray, argmax: np.ndarray, pool_size: tuple,
                          strides: tuple, padding: str) -> np.ndarray:
        """The adjoint of max_pool2d_backward: each window reads h at its argmax."""
        geo = window(h.shape, pool_size, strides, padding)
        hp = _Padder(h.shape, geo, h.shape[0], h.dtype)(h)
        out = np.zeros(argmax.shape, h.dtype)
        for k, i, j in geo.offsets():
            out = np.where(argmax == k, geo.at(hp, i, j), out)
        return out

    def _avg_counts(self, x_shape: tuple, geo: Window, dtype: np.dtype) -> np.ndarray:
        """How many real (unpadded) entries each window averages: Keras leaves padding out."""
        if not geo.padded:
            return np.asarray(geo.kh * geo.kw, dtype)
        ones = _Padder((1,) + tuple(x_shape[1:3]) + (1,), geo, 1, dtype)(
            np.ones((1,) + tuple(x_shape[1:3]) + (1,), dtype))
        return sum(geo.at(ones, i, j) for _, i, j in geo.offsets())

    def avg_pool2d_forward(self, x: np.ndarray, pool_size: tuple, strides: tuple,
                           padding: str) -> np.ndarray:
        """The mean of each window's real entries."""
        geo = window(x.shape, pool_size, strides, padding)
        xp = _Padder(x.shape, geo, x.shape[0], x.dtype)(x)
        offsets = geo.offsets()
        _, i, j = next(offsets)
        y = geo.at(xp, i, j).copy()
        for _, i, j in offsets:
            y += geo.at(xp, i, j)
        y /= self._avg_counts(x.shape, geo, x.dtype)
        return y

    def avg_pool2d_backward(self, g: np.ndarray, x_shape: tuple, pool_size: tuple,
                            strides: tuple, padding: str) -> np.ndarray:
        """The adjoint of avg_pool2d_forward: g / count spread over each window."""
        geo = window(x_shape, pool_size, strides, padding)
        n, h, w, c = x_shape
        share = g / self._avg_counts(x_shape, geo, g.dtype)
        dxp = np.zeros((n, h + geo.top + geo.bottom, w + geo.left + geo.right, c), g.dtype)
        for _, i, j in geo.offsets():
            geo.at(dxp, i, j)[...] += share
        return self._unpad(dxp, geo, h, w)

    @staticmethod
    def _unpad(xp: np.ndarray, geo: Window, h: int, w: int) -> np.ndarray:
        if not geo.padded:
            return xp
        return np.ascontiguousarray(xp[:, geo.top:geo.top + h, geo.left:geo.left + w])

    # --- activations ----------------------------------------------------------------

    def relu(self, x: np.ndarray) -> np.ndarray:
        """max(x, 0), in parts of the batch on this backend's threads when x is large."""
        if not (type(x) is np.ndarray and x.ndim and x.dtype.kind == "f"):
            return np.maximum(x, 0)
        out = np.empty_like(x)
        return _elementwise(out, lambda r: np.maximum(x[r], 0, out=out[r]))

    def relu_backward(self, g: np.ndarray, y: np.ndarray) -> np.ndarray:
        """g where relu's output is positive, 0 elsewhere (the derivative at 0 is 0)."""
        if not (type(g) is np.ndarray and type(y) is np.ndarray and g.ndim
                and g.shape == y.shape and g.dtype.kind == "f" and _threaded(g.nbytes)):
            # in one piece NumPy's own output measured 0.3 ms faster than out= for 11 MB
            return np.multiply(g, y > 0)
        out = np.empty(g.shape, g.dtype)
        return _elementwise(out, lambda r: np.multiply(g[r], y[r] > 0, out=out[r]))

    def one_hot(self, labels: np.ndarray, classes: int, dtype: np.dtype) -> np.ndarray:
        """Rows of the identity picked by integer labels, (..., classes), of dtype."""
        return (labels[..., None] == np.arange(classes)).astype(dtype)

    def dropout_mask(self, shape: tuple, rate: float, rng: np.random.Generator,
                     dtype: np.dtype) -> np.ndarray:
        """1 / (1 - rate) where a uniform draw from rng is >= rate, else 0 (inverted
        dropout), of dtype."""
        keep = rng.random(shape, dtype=np.float32) >= rate
        return keep * np.dtype(dtype).type(1.0 / (1.0 - rate))

    def logsumexp(self, x: np.ndarray, axis: int = -1) -> np.ndarray:
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))

    def log_softmax(self, x: np.ndarray, axis: int = -1) -> np.ndarray:
        shifted = x - np.max(x, axis=axis, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))

    def softmax(self, x: np.ndarray, axis: int = -1) -> np.ndarray:
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)

    # --- losses (per example; the mean over the batch is the caller's) ------------

    def softmax_cross_entropy(self, logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """-sum(targets * log_softmax(logits)) over the last axis.

        From log_softmax rather than logsumexp - sum(targets * logits), which loses
        everything to cancellation when the right logit is huge (1e4 - 1e4)."""
        return -np.sum(targets * self.log_softmax(logits), axis=-1)

    def sparse_softmax_cross_entropy(self, logits: np.ndarray,
                                     labels: np.ndarray) -> np.ndarray:
        """-log_softmax(logits)[label] for each row."""
        ls = self.log_softmax(logits)
        return -np.take_along_axis(ls, labels[..., None], axis=-1)[..., 0]

    def sigmoid_cross_entropy(self, logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """-t log(sigmoid(z)) - (1 - t) log(1 - sigmoid(z)), elementwise, in the form
        that neither overflows nor cancels: max(z, 0) - z t + log1p(exp(-|z|))."""
        z = logits
        return np.maximum(z, 0) - z * targets + np.log1p(np.exp(-np.abs(z)))
