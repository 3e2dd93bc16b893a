"""2-D convolution of NHWC float32 images on an OpenCL device: im2col + GEMM.

Same operations, argument order and Keras geometry as adkit.nn.numpy_backend's
NumpyBackend methods of the same names, with a leading `dev` and pyopencl arrays:
images (N, H, W, C), kernels (kh, kw, C, F), padding "valid" or "same". The
patches (conv.cl) are built a chunk of images at a time, so a batch whose patches
exceed the device's largest allocation is still convolved; the products are
kernels/gemm.py's.

    >>> from adkit.kernels import device
    >>> dev = device()
    >>> x = dev.to_device(np.ones((2, 5, 5, 3), np.float32))
    >>> k = dev.to_device(np.ones((3, 3, 3, 4), np.float32))
    >>> dev.to_host(conv2d(dev, x, k, (1, 1), "same"))[0, 2, 2]   # [27, 27, 27, 27]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .gemm import Tile, _fits, _launch, gemm
from .launch import F32, buffer_args, checked, launch, new
from .runtime import Device
from .window import Window, window

__all__ = ["im2col", "col2im", "conv2d", "conv2d_backprop_input", "conv2d_backprop_kernel"]

#: largest patch buffer per chunk of images, in bytes (also capped by the device's
#: max allocation): enough that the GEMMs are large, small enough for any GPU
CHUNK_BYTES = 256 << 20

#: the GEMM tile for the skinny products of a convolution (one side at most
#: SKINNY_SIDE: F output channels, or K = C input channels): measured on PoCL's CPU
#: device for 128 images of 26x26x32 under 3x3 -> 32, it took 56, 49 and 40 ms for
#: the forward, input- and kernel-gradient products against 103, 129 and 108 with
#: gemm's default (96 x 96) tile, which wastes most of a tile on 32 columns
SKINNY = Tile(32, 32, 32, 4, 16)
SKINNY_SIDE = 64

def _geometry(geo: Window, shape: tuple) -> tuple[int, ...]:
    _, h, w, c = shape
    return (h, w, c, geo.kh, geo.kw, geo.sh, geo.sw, geo.ho, geo.wo, geo.top, geo.left)


def _im2col_into(dev: Device, x: Any, geo: Window, cols: Any) -> None:
    rows = x.shape[0] * geo.ho * geo.wo * geo.kh   # one work-item per (n, ho, wo, i)
    ints = [np.int32(v) for v in (rows,) + _geometry(geo, x.shape)]
    cols.add_event(launch(dev, "conv.cl", "im2col", rows, *ints, *buffer_args(x, cols)))


def _col2im_into(dev: Device, cols: Any, geo: Window, x: Any) -> None:
    pixels = x.shape[0] * x.shape[1] * x.shape[2]   # one work-item per (n, h, w)
    ints = [np.int32(v) for v in (pixels,) + _geometry(geo, x.shape)]
    x.add_event(launch(dev, "conv.cl", "col2im", pixels, *ints, *buffer_args(cols, x)))


def _product(dev: Device, a: Any, b: Any, out: Any, trans_a: bool = False,
             trans_b: bool = False, beta: float = 0.0) -> Any:
    """gemm into out, with the SKINNY tile where one side of the product is narrow."""
    m, n = out.shape
    k = a.shape[0] if trans_a else a.shape[1]
    if min(m, n, k) <= SKINNY_SIDE and _fits(dev, SKINNY):
        try:
            return _launch(dev, a, b, out, m, n, k, trans_a, trans_b, 1.0, beta, SKINNY)
        except RuntimeError:   # the compiled kernel allows fewer work-items: use the default
            pass
    return gemm(dev, a, b, trans_a=trans_a, trans_b=trans_b, beta=beta, out=out)


def _chunks(dev: Device, n: int, per_image_bytes: int) -> list[tuple[int, int]]:
    """[(start, stop)] over the batch, each chunk's patches within CHUNK_BYTES and the
    device's max allocation; ValueError naming the limit when one image's do not fit."""
    limit = min(CHUNK_BYTES, int(dev.info.max_allocation))
    if per_image_bytes > int(dev.info.max_allocation):
        raise ValueError(f"the patches of one image need {per_image_bytes} bytes, more than "
                         f"{dev.info.name!r} allows in one allocation (max_allocation "
                         f"{dev.info.max_allocation}); use a smaller image or kernel")
    b = max(1, min(n, limit // max(per_image_bytes, 1)))
    return [(s, min(s + b, n)) for s in range(0, n, b)]


def im2col(dev: Device, x: Any, kernel_size: tuple, strides: tuple, padding: str) -> Any:
    """Patches of x (N, H, W, C) as rows: (N*Ho*Wo, kh*kw*C), columns ordered (kh, kw, C).

        >>> cols = im2col(dev, x, (3, 3), (1, 1), "valid")
        >>> cols.shape                       # (2*3*3, 27) for x of shape (2, 5, 5, 3)
    """
    x = checked(dev, x, "x", "im2col", 4)
    geo = window(x.shape, kernel_size, strides, padding)
    cols = new(dev, (x.shape[0] * geo.ho * geo.wo, geo.kh * geo.kw * x.shape[3]), "im2col")
    if cols.size:
        _im2col_into(dev, x, geo, cols)
    return cols


def col2im(dev: Device, cols: Any, x_shape: tuple, kernel_size: tuple, strides: tuple,
           padding: str) -> Any:
    """The adjoint of im2col: each patch entry added back where it came from, (N, H, W, C).

        >>> dx = col2im(dev, cols, (2, 5, 5, 3), (3, 3), (1, 1), "valid")
    """
    cols = checked(dev, cols, "cols", "col2im", 2)
    x_shape = tuple(int(s) for s in x_shape)
    geo = window(x_shape, kernel_size, strides, padding)
    want = (x_shape[0] * geo.ho * geo.wo, geo.kh * geo.kw * x_shape[3])
    if cols.shape != want:
        raise ValueError(f"col2im: cols has shape {cols.shape}, but the patches of an input "
                         f"{x_shape} under {kernel_size} windows, strides {strides}, "
                         f"{padding!r} padding have shape {want}")
    x = new(dev, x_shape, "col2im")
    if x.size:
        _col2im_into(dev, cols, geo, x)
    return x


def conv2d(dev: Device, x: Any, kernel: Any, strides: tuple, padding: str) -> Any:
    """Cross-correlation of x (N, H, W, C) with kernel (kh, kw, C, F) -> (N, Ho, Wo, F).

        >>> y = conv2d(dev, x, k, (2, 2), "same")
        >>> y.shape                          # (2, 3, 3, 4)
    """
    where = "conv2d"
    x = checked(dev, x, "x", where, 4)
    kernel = checked(dev, kernel, "kernel", where, 4)
    kh, kw, c, f = kernel.shape
    if x.shape[3] != c:
        raise ValueError(f"{where}: x has {x.shape[3]} channels (shape {x.shape}) but the "
                         f"kernel {kernel.shape} expects {c}")
    geo = window(x.shape, (kh, kw), strides, padding)
    n, rows, k = x.shape[0], geo.ho * geo.wo, kh * kw * c
    y = new(dev, (n * rows, f), where)
    k2 = kernel.reshape(k, f)
    for s, e in _chunks(dev, n, rows * k * 4):
        cols = dev.empty(((e - s) * rows, k), F32)
        _im2col_into(dev, x[s:e], geo, cols)
        _product(dev, cols, k2, y[s * rows:e * rows])
    return y.reshape(n, geo.ho, geo.wo, f)


def _gradient(dev: Device, g: Any, x_shape: tuple, kernel_shape: tuple, geo: Window,
              where: str) -> Any:
    g = checked(dev, g, "g", where, 4)
    want = (x_shape[0], geo.ho, geo.wo, kernel_shape[3])
    if g.shape != want:
        raise ValueError(f"{where}: g has shape {g.shape}, but the convolution of an input "
                         f"{x_shape} with a kernel {kernel_shape} has shape {want}")
    return g


def conv2d_backprop_input(dev: Device, g: Any, kernel: Any, x_shape: tuple, strides: tuple,
                          padding: str) -> Any:
    """d<conv2d(x, kernel), g>/dx: col2im(g @ kernel^T), shape x_shape.

        >>> dx = conv2d_backprop_input(dev, y, k, x.shape, (2, 2), "same")
    """
    where = "conv2d_backprop_input"
    kernel = checked(dev, kernel, "kernel", where, 4)
    kh, kw, c, f = kernel.shape
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4 or x_shape[3] != c:
        raise ValueError(f"{where}: x_shape {x_shape} must be (N, H, W, {c}) for a kernel "
                         f"of shape {kernel.shape}")
    geo = window(x_shape, (kh, kw), strides, padding)
    g = _gradient(dev, g, x_shape, kernel.shape, geo, where)
    n, rows, k = x_shape[0], geo.ho * geo.wo, kh * kw * c
    dx = new(dev, x_shape, where)
    g2, k2 = g.reshape(n * rows, f), kernel.reshape(k, f)
    for s, e in _chunks(dev, n, rows * k * 4):
        dcols = dev.empty(((e - s) * rows, k), F32)
        _product(dev, g2[s * rows:e * rows], k2, dcols, trans_b=True)
        _col2im_into(dev, dcols, geo, dx[s:e])
    return dx


def conv2d_backprop_kernel(dev: Device, x: Any, g: Any, kernel_shape: tuple, strides: tuple,
                           padding: str) -> Any:
    """d<conv2d(x, kernel), g>/dkernel: im2col(x)^T @ g, summed over chunks of images.

        >>> dk = conv2d_backprop_kernel(dev, x, y, (3, 3, 3, 4), (2, 2), "same")
    """
    where = "conv2d_backprop_kernel"
    x = checked(dev, x, "x", where, 4)
    kernel_shape = tuple(int(s) for s in kernel_shape)
    kh, kw, c, f = kernel_shape
    if x.shape[3] != c:
        raise ValueError(f"{where}: x has {x.shape[3]} channels (shape {x.shape}) but "
                         f"kernel_shape {kernel_shape} expects {c}")
    geo = window(x.shape, (kh, kw), strides, padding)
    g = _gradient(dev, g, x.shape, kernel_shape, geo, where)
    n, rows, k = x.shape[0], geo.ho * geo.wo, kh * kw * c
    dk = new(dev, (k, f), where, zero=True)
    g2 = g.reshape(n * rows, f)
    for s, e in _chunks(dev, n, rows * k * 4):
        cols = dev.empty(((e - s) * rows, k), F32)
        _im2col_into(dev, x[s:e], geo, cols)
        _product(dev, cols, g2[s * rows:e * rows], dk, trans_a=True, beta=1.0)
    return dk.reshape(kernel_shape)
