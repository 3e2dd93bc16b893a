"""Max- and average-pooling of NHWC float32 images on an OpenCL device (pool.cl).

Same semantics as adkit.nn.numpy_backend.NumpyBackend's methods of the same names,
with a leading `dev` and pyopencl arrays: Keras's "valid"/"same" geometry, padding
never wins a max, the gradient of a max goes to the first maximum of its window,
and an average over a padded window counts only the real entries. The one
difference: max_pool2d_forward returns (y, argmax) together, argmax being int32
window positions k = i * pool_w + j (NumpyBackend computes them separately, as int8).

    >>> from adkit.kernels import device
    >>> dev = device()
    >>> x = dev.to_device(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
    >>> y, arg = max_pool2d_forward(dev, x, (2, 2), (2, 2), "valid")
    >>> dev.to_host(y)[0, :, :, 0]                       # [[5, 7], [13, 15]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .launch import buffer_args, checked, launch, new
from .runtime import Device
from .window import Window, window

__all__ = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
           "avg_pool2d_backward"]

_I32 = np.dtype(np.int32)


def _ints(total: int, geo: Window, shape: tuple) -> list:
    _, h, w, c = shape
    return [np.int32(v) for v in (total, h, w, c, geo.kh, geo.kw, geo.sh, geo.sw, geo.ho,
                                  geo.wo, geo.top, geo.left)]


def _out_shape(shape: tuple, geo: Window) -> tuple:
    return (shape[0], geo.ho, geo.wo, shape[3])


def _g(dev: Device, g: Any, x_shape: tuple, geo: Window, where: str) -> Any:
    g = checked(dev, g, "g", where, 4)
    if g.shape != _out_shape(x_shape, geo):
        raise ValueError(f"{where}: g has shape {g.shape}, but pooling an input {x_shape} "
                         f"gives {_out_shape(x_shape, geo)}")
    return g


def max_pool2d_forward(dev: Device, x: Any, pool_size: tuple, strides: tuple,
                       padding: str) -> tuple[Any, Any]:
    """(y, argmax): each window's largest entry, and the position k = i * pool_w + j of
    the first one (int32), both (N, Ho, Wo, C).

        >>> y, arg = max_pool2d_forward(dev, x, (3, 3), (2, 2), "same")
    """
    where = "max_pool2d_forward"
    x = checked(dev, x, "x", where, 4)
    geo = window(x.shape, pool_size, strides, padding)
    shape = _out_shape(x.shape, geo)
    y, arg = new(dev, shape, where), new(dev, shape, where, _I32)
    if y.size:
        evt = launch(dev, "pool.cl", "max_pool_forward", y.size, *_ints(y.size, geo, x.shape),
                     *buffer_args(x, y, arg))
        y.add_event(evt)
        arg.add_event(evt)
    return y, arg


def max_pool2d_backward(dev: Device, g: Any, argmax: Any, x_shape: tuple, pool_size: tuple,
                        strides: tuple, padding: str) -> Any:
    """Each window's cotangent g sent to its argmax position (summed where windows
    overlap), shape x_shape.

        >>> dx = max_pool2d_backward(dev, g, arg, x.shape, (3, 3), (2, 2), "same")
    """
    where = "max_pool2d_backward"
    x_shape = tuple(int(s) for s in x_shape)
    geo = window(x_shape, pool_size, strides, padding)
    g = _g(dev, g, x_shape, geo, where)
    argmax = checked(dev, argmax, "argmax", where, 4, _I32)
    if argmax.shape != g.shape:
        raise ValueError(f"{where}: argmax has shape {argmax.shape} but g has {g.shape}; "
                         f"pass the argmax that max_pool2d_forward returned with y")
    disjoint = geo.sh >= geo.kh and geo.sw >= geo.kw
    # the windows cover every input entry: nothing is left for a zero fill to write
    tiled = disjoint and (geo.sh, geo.sw) == (geo.kh, geo.kw) and not geo.padded and \
        geo.ho * geo.sh == x_shape[1] and geo.wo * geo.sw == x_shape[2]
    dx = new(dev, x_shape, where, zero=disjoint and not tiled)
    if dx.size and disjoint:
        if g.size:
            dx.add_event(launch(dev, "pool.cl", "max_pool_backward_disjoint", g.size,
                                *_ints(g.size, geo, x_shape), *buffer_args(g, argmax, dx)))
    elif dx.size:
        dx.add_event(launch(dev, "pool.cl", "max_pool_backward", dx.size,
                            *_ints(dx.size, geo, x_shape), *buffer_args(g, argmax, dx)))
    return dx


def avg_pool2d_forward(dev: Device, x: Any, pool_size: tuple, strides: tuple,
                       padding: str) -> Any:
    """The mean of each window's real entries, (N, Ho, Wo, C).

        >>> y = avg_pool2d_forward(dev, x, (2, 2), (2, 2), "same")
    """
    where = "avg_pool2d_forward"
    x = checked(dev, x, "x", where, 4)
    geo = window(x.shape, pool_size, strides, padding)
    y = new(dev, _out_shape(x.shape, geo), where)
    if y.size:
        y.add_event(launch(dev, "pool.cl", "avg_pool_forward", y.size,
                           *_ints(y.size, geo, x.shape), *buffer_args(x, y)))
    return y


def avg_pool2d_backward(dev: Device, g: Any, x_shape: tuple, pool_size: tuple,
                        strides: tuple, padding: str) -> Any:
    """The adjoint of avg_pool2d_forward: g / count spread over each window.

        >>> dx = avg_pool2d_backward(dev, g, x.shape, (2, 2), (2, 2), "same")
    """
    where = "avg_pool2d_backward"
    x_shape = tuple(int(s) for s in x_shape)
    geo = window(x_shape, pool_size, strides, padding)
    g = _g(dev, g, x_shape, geo, where)
    dx = new(dev, x_shape, where)
    if dx.size:
        dx.add_event(launch(dev, "pool.cl", "avg_pool_backward", dx.size,
                            *_ints(dx.size, geo, x_shape), *buffer_args(g, dx)))
    return dx
