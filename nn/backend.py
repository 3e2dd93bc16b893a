"""The heavy operations of adkit.nn as differentiable primitives, run by a backend's kernels.

This is the one place where kernel operations become differentiable: each
function below is an `adkit.primitive` (one node on the tape) whose rules call
other primitives of this module, so every derivative is differentiable again
(Hessian-vector products through a CNN work). The arithmetic is done by the
active backend (`set_backend`, `get_backend`); "numpy" (nn/numpy_backend.py)
and "opencl" (nn/opencl_backend.py, the project's OpenCL kernels on DeviceArrays)
are the two so far, and a backend is any object with NumpyBackend's methods.

    >>> x = np.ones((1, 4, 4, 1), np.float32); k = np.ones((3, 3, 1, 2), np.float32)
    >>> conv2d(x, k, padding="same")[0, :, :, 0]
    array([[4., 6., 6., 4.],
           [6., 9., 9., 6.],
           [6., 9., 9., 6.],
           [4., 6., 6., 4.]], dtype=float32)

Convolution is bilinear, y = B(x, kernel), so its derivatives are three
kernels closed under differentiation (as in TensorFlow and JAX): conv2d, its
adjoint in x (`conv2d_backprop_input`, the transposed convolution) and its
adjoint in the kernel (`conv2d_backprop_kernel`); the VJPs and JVPs of each
are the others. conv2d is one primitive rather than im2col followed by a
traced matmul, because its kernels then work a few images at a time with the
patches in cache, and on one core each: measured for a (128, 26, 26, 32) input
and 32 3x3 filters, the value and gradient took a median 51 ms this way against
146 ms for the composition (2 cores), whose 85 MB patch matrix and its col2im
dominated. im2col and col2im remain available as a pair of primitives, each the
other's VJP.

Layouts are Keras's: NHWC images, (kh, kw, c_in, c_out) kernels; padding is
"valid" or "same" with Keras's geometry; dtypes are preserved.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np

from adkit import defjvp, defvjp, primitive, stop_gradient
from adkit.extend import is_duck_array
from adkit.kernels.window import check_fits, padding_mode, window, window_pair

from .numpy_backend import NumpyBackend
from .backend_compat import (backend, clear_session, epsilon, floatx, get_value,  # noqa: F401
                             image_data_format, set_epsilon, set_floatx,
                             set_image_data_format, set_value)   # Keras's keras.backend calls

__all__ = ["conv2d", "conv2d_transpose", "bias_add", "max_pool2d", "avg_pool2d", "relu", "softmax", "log_softmax",
           "softmax_cross_entropy", "sparse_softmax_cross_entropy", "sigmoid_cross_entropy",
           "dropout", "im2col", "col2im", "set_backend", "get_backend", "backends",
           "register_backend", "activate"]

# --- which backend ------------------------------------------------------------------------

def _opencl() -> Any:
    from .opencl_backend import OpenCLBackend   # imports pyopencl: only when asked for
    return OpenCLBackend()


_FACTORIES: dict[str, Callable[[], Any]] = {"numpy": NumpyBackend, "opencl": _opencl}
_active: Any = NumpyBackend()


def backends() -> tuple[str, ...]:
    """The names set_backend accepts."""
    return tuple(_FACTORIES)


def register_backend(name: str, factory: Callable[[], Any]) -> None:
    """Make `factory()` (an object with NumpyBackend's methods) available as `name`."""
    _FACTORIES[name] = factory


def set_backend(name: str) -> Any:
    """Run the kernels of backend `name` from now on; returns the backend.

    >>> set_backend("numpy").name
    'numpy'
    """
    global _active
    if name not in _FACTORIES:
        raise ValueError(f"unknown backend {name!r}; the backends are "
                         f"{', '.join(map(repr, _FACTORIES))}")
    if getattr(_active, "name", None) != name:
        _active = _FACTORIES[name]()
    return _active


def get_backend() -> Any:
    """The active backend (its kernels are methods: conv2d, max_pool2d_forward, ...)."""
    return _active


@contextmanager
def activate(instance: Any) -> Iterator[Any]:
    """Run the kernels of `instance` (a backend object) inside the block, then the
    previous backend's again: how a model compiled for a device runs its steps."""
    global _active
    before, _active = _active, instance
    try:
        yield instance
    finally:
        _active = before


# --- argument checks -------------------------------------------------------------------------


def _shape(x: Any) -> tuple:
    return np.shape(stop_gradient(x))


def _floating(x: Any, like: Any = None) -> Any:
    """x itself if it holds floats (traced values and device arrays always do), else x
    as floats: of like's dtype (so integer one-hot targets keep float32 logits float32),
    or float64."""
    v = stop_gradient(x)
    # anything with a float dtype stays as it is: arrays, device arrays, and the values
    # adkit.compile stages (np.asarray would cut them off the tape)
    if getattr(v, "dtype", None) is not None and v.dtype.kind in "fc":
        return x
    dtype = getattr(stop_gradient(like), "dtype", None) if like is not None else None
    return np.asarray(v, dtype=dtype if dtype is not None and dtype.kind == "f" else np.float64)


def _images(x: Any, who: str) -> tuple:
    shape = _shape(x)
    if len(shape) != 4:
        raise ValueError(f"{who}: x must be a batch of images (batch, height, width, channels), "
                         f"channels last as in Keras; got shape {shape}. Add the missing axes "
                         "(e.g. x[..., None] for one channel, x[None] for one image)")
    return shape


# --- convolution ---------------------------------------------------------------------------


def conv2d(x: Any, kernel: Any, strides: Any = (1, 1), padding: str = "valid",
           bias: Any = None, activation: str | None = None) -> Any:
    """2-D cross-correlation of NHWC images with a (kh, kw, c_in, c_out) kernel, as Keras's
    Conv2D computes it: (N, H, W, c_in) -> (N, Ho, Wo, c_out), plus `bias` (one entry per
    output channel) if given, added while each chunk of the output is still in cache;
    activation="relu" applies max(., 0) in that same pass (None: no activation).

    >>> x = np.ones((2, 5, 5, 3), np.float32); k = np.ones((3, 3, 3, 4), np.float32)
    >>> conv2d(x, k, strides=2).shape, conv2d(x, k, padding="same").dtype
    ((2, 2, 2, 4), dtype('float32'))
    >>> conv2d(x, k, bias=np.arange(4, dtype=np.float32))[0, 0, 0]
    array([27., 28., 29., 30.], dtype=float32)
    >>> conv2d(x, -k, bias=np.array([0, 27, 28, 29], np.float32), activation="relu")[0, 0, 0]
    array([0., 0., 1., 2.], dtype=float32)
    """
    if activation not in (None, "relu"):
        raise ValueError(f"conv2d: activation must be None or 'relu', got {activation!r}; "
                         "apply any other activation to conv2d's result")
    strides = window_pair(strides, "strides", "conv2d")
    padding = padding_mode(padding, "conv2d")
    xs = _images(x, "conv2d")
    ks = _shape(kernel)
    if len(ks) != 4:
        raise ValueError(f"conv2d: kernel must have shape (kh, kw, c_in, c_out) as in Keras, "
                         f"got shape {ks}")
    if ks[2] != xs[3]:
        raise ValueError(
            f"conv2d: the kernel of shape {ks} expects c_in={ks[2]} input channels but x of "
            f"shape {xs} has {xs[3]} (channels are the last axis, NHWC). Make the kernel "
            f"(kh, kw, {xs[3]}, c_out), or transpose x to channels-last if it is NCHW")
    check_fits(xs, ks[:2], padding, "conv2d", "kernel")
    x, kernel = _floating(x), _floating(kernel)
    if bias is None:
        y = _conv2d(x, kernel, strides=strides, padding=padding)
        return y if activation is None else _relu(y)
    if _shape(bias) != ks[3:]:
        raise ValueError(f"conv2d: bias must have one entry per output channel, shape "
                         f"{ks[3:]} for a kernel of shape {ks}; got shape {_shape(bias)}")
    op = _conv2d_bias if activation is None else _conv2d_bias_relu
    return op(x, kernel, _floating(bias, like=kernel), strides=strides, padding=padding)


@primitive
def _conv2d(x, kernel, *, strides, padding):
    return _active.conv2d(x, kernel, strides, padding)


@primitive
def _conv2d_backprop_input(g, kernel, *, x_shape, strides, padding):
    return _active.conv2d_backprop_input(g, kernel, x_shape, strides, padding)


@primitive
def _conv2d_backprop_kernel(x, g, *, kernel_shape, strides, padding):
    return _active.conv2d_backprop_kernel(x, g, kernel_shape, strides, padding)


# conv2d is bilinear, B(x, k). Its adjoints: I(g, k) = B_x^T g (backprop_input) and
# K(x, g) = B_k^T g (backprop_kernel). From <B(x, k), g> = <x, I(g, k)> = <k, K(x, g)>:
# VJPs of B: I, K; of I(g, k) with cotangent h: B(h, k), K(h, g); of K(x, g) with
# cotangent H: I(g, H), B(x, H). Linear in each argument, each JVP is the op itself.

def _conv_vjp_x(ans, x, kernel, **geo):
    x_shape = _shape(x)
    return lambda g: _conv2d_backprop_input(g, kernel, x_shape=x_shape, **geo)


def _conv_vjp_kernel(ans, x, kernel, **geo):
    kernel_shape = _shape(kernel)
    return lambda g: _conv2d_backprop_kernel(x, g, kernel_shape=kernel_shape, **geo)


defvjp(_conv2d, _conv_vjp_x, _conv_vjp_kernel)
defjvp(_conv2d,
       lambda t, ans, x, kernel, **geo: _conv2d(t, kernel, **geo),
       lambda t, ans, x, kernel, **geo: _conv2d(x, t, **geo))


@primitive
def _conv2d_bias(x, kernel, bias, *, strides, padding):
    return _active.conv2d_bias(x, kernel, bias, strides, padding)


# conv2d(x, k) + bias: conv2d's rules in x and k, bias_add's in the bias
_CONV_BIAS_VJPS = (
    lambda ans, x, kernel, bias, **geo: _conv_vjp_x(ans, x, kernel, **geo),
    lambda ans, x, kernel, bias, **geo: _conv_vjp_kernel(ans, x, kernel, **geo),
    lambda ans, x, kernel, bias, **geo: lambda g: _bias_grad(g))
_CONV_BIAS_JVPS = (
    lambda t, ans, x, kernel, bias, **geo: _conv2d(t, kernel, **geo),
    lambda t, ans, x, kernel, bias, **geo: _conv2d(x, t, **geo),
    lambda t, ans, x, kernel, bias, **geo: _broadcast_bias(t, x_shape=_shape(ans)))
defvjp(_conv2d_bias, *_CONV_BIAS_VJPS)
defjvp(_conv2d_bias, *_CONV_BIAS_JVPS)


@primitive
def _conv2d_bias_relu(x, kernel, bias, *, strides, padding):
    return _active.conv2d_bias_relu(x, kernel, bias, strides, padding)


# relu(conv2d(x, k) + bias): conv2d_bias's rules behind the relu's derivative, which
# needs only the output (y > 0 where the pre-activation is). Each argument's VJP masks
# g itself; adkit.compile merges those equal masks into one step.
def _behind_relu_vjp(maker):
    def relu_maker(ans, *args, **geo):
        y, pull = stop_gradient(ans), maker(ans, *args, **geo)
        return lambda g: pull(_relu_backward(g, y))
    return relu_maker


def _behind_relu_jvp(rule):
    return lambda t, ans, *args, **geo: _relu_backward(rule(t, ans, *args, **geo),
                                                       stop_gradient(ans))


defvjp(_conv2d_bias_relu, *map(_behind_relu_vjp, _CONV_BIAS_VJPS))
defjvp(_conv2d_bias_relu, *map(_behind_relu_jvp, _CONV_BIAS_JVPS))


def _input_vjp_g(ans, g, kernel, *, x_shape, **geo):
    return lambda h: _conv2d(h, kernel, **geo)


def _input_vjp_kernel(ans, g, kernel, *, x_shape, **geo):
    kernel_shape = _shape(kernel)
    return lambda h: _conv2d_backprop_kernel(h, g, kernel_shape=kernel_shape, **geo)


defvjp(_conv2d_backprop_input, _input_vjp_g, _input_vjp_kernel)
defjvp(_conv2d_backprop_input,
       lambda t, ans, g, kernel, **kw: _conv2d_backprop_input(t, kernel, **kw),
       lambda t, ans, g, kernel, **kw: _conv2d_backprop_input(g, t, **kw))


def _kernel_vjp_x(ans, x, g, *, kernel_shape, **geo):
    x_shape = _shape(x)
    return lambda h: _conv2d_backprop_input(g, h, x_shape=x_shape, **geo)


def _kernel_vjp_g(ans, x, g, *, kernel_shape, **geo):
    return lambda h: _conv2d(x, h, **geo)


defvjp(_conv2d_backprop_kernel, _kernel_vjp_x, _kernel_vjp_g)
defjvp(_conv2d_backprop_kernel,
       lambda t, ans, x, g, **kw: _conv2d_backprop_kernel(t, g, **kw),
       lambda t, ans, x, g, **kw: _conv2d_backprop_kernel(x, t, **kw))


def conv2d_transpose(x: Any, kernel: Any, output_shape: tuple, strides: Any = (1, 1),
                     padding: str = "valid") -> Any:
    """The transposed convolution: the adjoint of conv2d(., kernel) for inputs of
    output_shape, applied to x. Each x[n, i, j] adds x[n, i, j] @ kernel[a, b].T onto the
    output window at (i * sh + a, j * sw + b), the window placed as conv2d places it on an
    image of output_shape. The kernel is (kh, kw, c_out, c_in), Keras's Conv2DTranspose
    layout; the output's rows no window reaches are zero.

    >>> x = np.ones((1, 2, 2, 1), np.float32); k = np.ones((2, 2, 1, 1), np.float32)
    >>> conv2d_transpose(x, k, (1, 3, 3, 1))[0, :, :, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]], dtype=float32)
    """
    strides = window_pair(strides, "strides", "conv2d_transpose")
    padding = padding_mode(padding, "conv2d_transpose")
    xs, ks = _images(x, "conv2d_transpose"), _shape(kernel)
    output_shape = tuple(int(d) for d in output_shape)
    if len(ks) != 4 or ks[3] != xs[3]:
        raise ValueError(f"conv2d_transpose: kernel must have shape (kh, kw, c_out, c_in) with "
                         f"c_in={xs[3]}, the channels of x of shape {xs}; got shape {ks}")
    if len(output_shape) != 4 or output_shape[0] != xs[0] or output_shape[3] != ks[2]:
        raise ValueError(f"conv2d_transpose: output_shape must be (batch={xs[0]}, height, "
                         f"width, c_out={ks[2]}), got {output_shape}")
    check_fits(output_shape, ks[:2], padding, "conv2d_transpose", "kernel")
    geo = window(output_shape, ks[:2], strides, padding)
    if (geo.ho, geo.wo) != xs[1:3]:
        raise ValueError(f"conv2d_transpose: conv2d of an image of output_shape {output_shape} "
                         f"with this kernel, strides {strides} and padding {padding!r} gives "
                         f"{geo.ho}x{geo.wo} positions, but x has {xs[1]}x{xs[2]}; choose an "
                         "output_shape whose convolution has x's height and width")
    return _conv2d_backprop_input(_floating(x), _floating(kernel), x_shape=output_shape,
                                  strides=strides, padding=padding)


def im2col(x: Any, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid") -> Any:
    """The patches of NHWC images as rows, (N*Ho*Wo, kh*kw*C), each ordered (kh, kw, C) so
    that im2col(x, ...) @ kernel.reshape(-1, c_out) is the convolution.

    >>> im2col(np.arange(9.0).reshape(1, 3, 3, 1), (2, 2))
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    kernel_size = window_pair(kernel_size, "kernel_size", "im2col")
    strides = window_pair(strides, "strides", "im2col")
    padding = padding_mode(padding, "im2col")
    xs = _images(x, "im2col")
    check_fits(xs, kernel_size, padding, "im2col", "kernel")
    return _im2col(_floating(x), kernel_size=kernel_size, strides=strides, padding=padding)


def col2im(cols: Any, x_shape: tuple, kernel_size: Any, strides: Any = (1, 1),
           padding: str = "valid") -> Any:
    """The adjoint of im2col: every patch entry added back onto an image of x_shape.

    >>> col2im(np.ones((4, 4)), (1, 3, 3, 1), (2, 2))[0, :, :, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    kernel_size = window_pair(kernel_size, "kernel_size", "col2im")
    strides = window_pair(strides, "strides", "col2im")
    padding = padding_mode(padding, "col2im")
    x_shape = tuple(int(d) for d in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"col2im: x_shape must be (batch, height, width, channels), got "
                         f"{x_shape}")
    check_fits(x_shape, kernel_size, padding, "col2im", "kernel")
    geo = window(x_shape, kernel_size, strides, padding)
    want = (x_shape[0] * geo.ho * geo.wo, kernel_size[0] * kernel_size[1] * x_shape[3])
    if _shape(cols) != want:
        raise ValueError(f"col2im: cols must have shape {want} for x_shape {x_shape} and a "
                         f"{kernel_size} kernel, got {_shape(cols)}")
    return _col2im(_floating(cols), x_shape=x_shape, kernel_size=kernel_size,
                   strides=strides, padding=padding)


@primitive
def _im2col(x, *, kernel_size, strides, padding):
    return _active.im2col(x, kernel_size, strides, padding)


@primitive
def _col2im(cols, *, x_shape, kernel_size, strides, padding):
    return _active.col2im(cols, x_shape, kernel_size, strides, padding)


def _adjoint_pair(op: Any, adjoint: Any) -> None:
    """Rules for a linear op and its transpose (which takes x_shape=): each one's VJP
    is the other, and each one's JVP is itself, so the pair is closed under
    differentiation."""
    def op_vjp(ans, x, **geo):
        x_shape = _shape(x)
        return lambda g: adjoint(g, x_shape=x_shape, **geo)

    defvjp(op, op_vjp)
    defjvp(op, lambda t, ans, x, **geo: op(t, **geo))
    defvjp(adjoint, lambda ans, g, *, x_shape, **geo: lambda h: op(h, **geo))
    defjvp(adjoint, lambda t, ans, g, **kw: adjoint(t, **kw))


_adjoint_pair(_im2col, _col2im)


# --- pooling ---------------------------------------------------------------------------


def _pool_args(x: Any, pool_size: Any, strides: Any, padding: str, who: str) -> dict:
    pool_size = window_pair(pool_size, "pool_size", who)
    strides = pool_size if strides is None else window_pair(strides, "strides", who)
    padding = padding_mode(padding, who)
    check_fits(_images(x, who), pool_size, padding, who, "pool")
    return {"pool_size": pool_size, "strides": strides, "padding": padding}


def max_pool2d(x: Any, pool_size: Any = (2, 2), strides: Any = None,
               padding: str = "valid") -> Any:
    """The largest entry of each pool_size window of NHWC images, as Keras's MaxPooling2D
    (strides default to pool_size). The gradient of a window goes to its first largest
    entry (row-major), not split among ties.

    >>> max_pool2d(np.arange(16.0).reshape(1, 4, 4, 1))[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    geo = _pool_args(x, pool_size, strides, padding, "max_pool2d")
    return _max_pool2d(_floating(x), **geo)


@primitive
def _max_pool2d(x, *, pool_size, strides, padding):
    return _active.max_pool2d_forward(x, pool_size, strides, padding)


# argmax (an array) is a positional, non-differentiable argument, not a keyword parameter:
# adkit.compile stages it as a program value
@primitive
def _scatter_to_argmax(g, argmax, *, x_shape, pool_size, strides, padding):
    return _active.max_pool2d_backward(g, argmax, x_shape, pool_size, strides, padding)


@primitive
def _gather_at_argmax(h, argmax, *, pool_size, strides, padding):
    return _active.max_pool2d_gather(h, argmax, pool_size, strides, padding)


def _argmax(ans, x, geo):
    # which entry won is piecewise constant in x: no derivative flows through it
    return _pool_argmax(stop_gradient(x), stop_gradient(ans), **geo)


@primitive
def _pool_argmax(x, ans, *, pool_size, strides, padding):
    # a primitive (with no rules: its inputs carry no derivative), so adkit.compile records
    # it as one step instead of tracing its body, which writes into scratch buffers
    return _active.max_pool2d_argmax(x, ans, pool_size, strides, padding)


def _max_pool_vjp(ans, x, **geo):
    argmax, x_shape = _argmax(ans, x, geo), _shape(x)
    return lambda g: _scatter_to_argmax(g, argmax, x_shape=x_shape, **geo)


defvjp(_max_pool2d, _max_pool_vjp)
defjvp(_max_pool2d,
       lambda t, ans, x, **geo: _gather_at_argmax(t, _argmax(ans, x, geo), **geo))
defvjp(_scatter_to_argmax,
       lambda ans, g, argmax, *, x_shape, **geo:
       lambda h: _gather_at_argmax(h, argmax, **geo), None)
defjvp(_scatter_to_argmax,
       lambda t, ans, g, argmax, **kw: _scatter_to_argmax(t, argmax, **kw), None)


def _gather_vjp(ans, h, argmax, **geo):
    x_shape = _shape(h)
    return lambda g: _scatter_to_argmax(g, argmax, x_shape=x_shape, **geo)


defvjp(_gather_at_argmax, _gather_vjp, None)
defjvp(_gather_at_argmax, lambda t, ans, h, argmax, **kw: _gather_at_argmax(t, argmax, **kw),
       None)


def avg_pool2d(x: Any, pool_size: Any = (2, 2), strides: Any = None,
               padding: str = "valid") -> Any:
    """The mean of each pool_size window of NHWC images, as Keras's AveragePooling2D
    (with padding="same", windows average only their real entries).

    >>> avg_pool2d(np.arange(16.0).reshape(1, 4, 4, 1))[0, :, :, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    geo = _pool_args(x, pool_size, strides, padding, "avg_pool2d")
    return _avg_pool2d(_floating(x), **geo)


@primitive
def _avg_pool2d(x, *, pool_size, strides, padding):
    return _active.avg_pool2d_forward(x, pool_size, strides, padding)


@primitive
def _avg_pool2d_transpose(g, *, x_shape, pool_size, strides, padding):
    return _active.avg_pool2d_backward(g, x_shape, pool_size, strides, padding)


_adjoint_pair(_avg_pool2d, _avg_pool2d_transpose)


# --- bias ----------------------------------------------------------------------------------


def bias_add(y: Any, bias: Any) -> Any:
    """y + bias, the bias (one entry per channel) added along y's last axis, as Keras's
    bias_add. One tape node whose bias cotangent, the sum of g over every other axis,
    is the backend's `bias_grad` (one BLAS product on the NumPy backend).

    >>> bias_add(np.zeros((2, 2, 3)), np.array([1.0, 2.0, 3.0]))[1, 1]
    array([1., 2., 3.])
    """
    ys, bs = _shape(y), _shape(bias)
    if len(ys) < 1 or bs != ys[-1:]:
        raise ValueError(f"bias_add: bias must have one entry per channel (the last axis of "
                         f"y), shape {ys[-1:]} for y of shape {ys}; got shape {bs}")
    y = _floating(y)
    return _bias_add(y, _floating(bias, like=y))


@primitive
def _bias_add(y, bias):
    return _active.bias_add(y, bias)


@primitive
def _bias_grad(g):
    return _active.bias_grad(g)


@primitive
def _broadcast_bias(h, *, x_shape):
    return _active.broadcast_bias(h, x_shape)


defvjp(_bias_add, lambda ans, y, bias: lambda g: g,
       lambda ans, y, bias: lambda g: _bias_grad(g))
defjvp(_bias_add, lambda t, ans, y, bias: t,
       lambda t, ans, y, bias: _broadcast_bias(t, x_shape=_shape(ans)))
_adjoint_pair(_bias_grad, _broadcast_bias)


# --- activations -----------------------------------------------------------------------


def relu(x: Any) -> Any:
    """max(x, 0); its derivative is 1 where x > 0 and 0 elsewhere, at 0 too (as in Keras,
    PyTorch and JAX), where np.maximum(x, 0) would give 0.5. One tape node, and the
    backward pass keeps only the output.

    >>> relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """
    return _relu(x)


@primitive
def _relu(x):
    return _active.relu(x)


@primitive
def _relu_backward(g, y):   # y positional: adkit.compile stages it as a program value
    return _active.relu_backward(g, y)


def _relu_vjp(ans, x):
    y = stop_gradient(ans)
    return lambda g: _relu_backward(g, y)


defvjp(_relu, _relu_vjp)
defjvp(_relu, lambda t, ans, x: _relu_backward(t, stop_gradient(ans)))
# relu'' is 0 almost everywhere: y enters as a constant, so only g is differentiated
defvjp(_relu_backward, lambda ans, g, y: lambda h: _relu_backward(h, y), None)
defjvp(_relu_backward, lambda t, ans, g, y: _relu_backward(t, y), None)


def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along axis, without overflow.

    >>> softmax(np.array([0.0, 1e4]))
    array([0., 1.])
    """
    return _softmax(_floating(x), axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) along axis, without overflow or cancellation.

    >>> log_softmax(np.array([0.0, 1e4]))
    array([-10000.,      0.])
    """
    return _log_softmax(_floating(x), axis=axis)


@primitive
def _softmax(x, *, axis):
    return _active.softmax(x, axis)


@primitive
def _log_softmax(x, *, axis):
    return _active.log_softmax(x, axis)


# The rules are NumPy operations on the (possibly traced) answer, so they are
# differentiable again.
defvjp(_softmax, lambda ans, x, *, axis:
       lambda g: ans * (g - np.sum(g * ans, axis=axis, keepdims=True)))
defjvp(_softmax, lambda t, ans, x, *, axis:
       ans * (t - np.sum(t * ans, axis=axis, keepdims=True)))
defvjp(_log_softmax, lambda ans, x, *, axis:
       lambda g: g - np.exp(ans) * np.sum(g, axis=axis, keepdims=True))
defjvp(_log_softmax, lambda t, ans, x, *, axis:
       t - np.sum(np.exp(ans) * t, axis=axis, keepdims=True))


# --- losses: one value per example ----------------------------------------------------------


def _logits_and(logits: Any, other: Any, who: str, what: str) -> None:
    ls, os_ = _shape(logits), _shape(other)
    if len(ls) < 1:
        raise ValueError(f"{who}: logits must have a class axis (last), got shape {ls}")
    if ls != os_:
        raise ValueError(f"{who}: {what} of shape {os_} do not match logits of shape {ls}; "
                         f"give one {what[:-1]} row per logits row, e.g. one-hot encoded")


def softmax_cross_entropy(logits: Any, targets: Any) -> Any:
    """-sum(targets * log_softmax(logits), axis=-1): the categorical cross-entropy of
    one-hot or probability targets, computed from the logits (stable at any size).

    >>> softmax_cross_entropy(np.array([[1e4, 0.0], [0.0, 0.0]]), np.eye(2))
    array([0.        , 0.69314718])
    """
    _logits_and(logits, targets, "softmax_cross_entropy", "targets")
    logits = _floating(logits)
    return _softmax_cross_entropy(logits, _floating(targets, like=logits))


@primitive
def _softmax_cross_entropy(logits, targets):
    return _active.softmax_cross_entropy(logits, targets)


def _ce_slope(logits, targets):
    # d/dlogits of -sum(t * log_softmax(z)) = softmax(z) * sum(t) - t
    return _softmax(logits, axis=-1) * np.sum(targets, axis=-1, keepdims=True) - targets


defvjp(_softmax_cross_entropy,
       lambda ans, logits, targets: lambda g: np.expand_dims(g, -1) * _ce_slope(logits, targets),
       lambda ans, logits, targets:
       lambda g: -np.expand_dims(g, -1) * _log_softmax(logits, axis=-1))
defjvp(_softmax_cross_entropy,
       lambda t, ans, logits, targets: np.sum(t * _ce_slope(logits, targets), axis=-1),
       lambda t, ans, logits, targets: -np.sum(t * _log_softmax(logits, axis=-1), axis=-1))


def sparse_softmax_cross_entropy(logits: Any, labels: Any) -> Any:
    """-log_softmax(logits)[label] per row: the cross-entropy of integer class labels.

    >>> sparse_softmax_cross_entropy(np.array([[1e4, 0.0], [0.0, 0.0]]), np.array([0, 1]))
    array([0.        , 0.69314718])
    """
    ls = _shape(logits)
    labels = stop_gradient(labels)
    who = "sparse_softmax_cross_entropy"
    if is_duck_array(labels):   # checked on the host before it went up (Model.fit does)
        if labels.shape != ls[:-1]:
            raise ValueError(f"{who}: labels of shape {labels.shape} do not match logits of "
                             f"shape {ls}; give one integer class per logits row")
        return _sparse_softmax_cross_entropy(_floating(logits), labels)
    if getattr(labels, "dtype", None) is None:   # arrays and staged values are kept as they are
        labels = np.asarray(labels)
    if len(ls) < 1:
        raise ValueError(f"{who}: logits must have a class axis (last), got shape {ls}")
    if labels.shape == ls[:-1] + (1,):  # Keras allows (batch, 1)
        labels = labels[..., 0]
    if labels.shape != ls[:-1]:
        raise ValueError(f"{who}: labels of shape {labels.shape} do not match logits of shape "
                         f"{ls}; give one integer class per logits row, shape {ls[:-1]}")
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind != "f" or not np.all(labels == np.round(labels)):
            raise ValueError(f"{who}: labels must be integer class indices, got dtype "
                             f"{labels.dtype}; for one-hot targets use softmax_cross_entropy")
        labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= ls[-1]):
        raise ValueError(f"{who}: labels must lie in [0, {ls[-1]}) for {ls[-1]} classes, got "
                         f"values from {labels.min()} to {labels.max()}")
    return _sparse_softmax_cross_entropy(_floating(logits), labels)


@primitive
def _sparse_softmax_cross_entropy(logits, labels):
    # labels positional, not a keyword parameter: adkit.compile stages them as an input
    return _active.sparse_softmax_cross_entropy(logits, labels)


def _sparse_slope(logits, labels):
    p = _softmax(logits, axis=-1)
    return p - _active.one_hot(labels, _shape(logits)[-1], stop_gradient(p).dtype)


defvjp(_sparse_softmax_cross_entropy,
       lambda ans, logits, labels:
       lambda g: np.expand_dims(g, -1) * _sparse_slope(logits, labels), None)
defjvp(_sparse_softmax_cross_entropy,
       lambda t, ans, logits, labels: np.sum(t * _sparse_slope(logits, labels), axis=-1), None)


def sigmoid_cross_entropy(logits: Any, targets: Any) -> Any:
    """Elementwise binary cross-entropy of targets in [0, 1] given logits z:
    max(z, 0) - z * t + log1p(exp(-|z|)), which neither overflows nor cancels.

    >>> sigmoid_cross_entropy(np.array([1e4, -1e4, 0.0]), np.array([1.0, 0.0, 1.0]))
    array([0.        , 0.        , 0.69314718])
    """
    _logits_and(logits, targets, "sigmoid_cross_entropy", "targets")
    logits = _floating(logits)
    return _sigmoid_cross_entropy(logits, _floating(targets, like=logits))


@primitive
def _sigmoid_cross_entropy(logits, targets):
    return _active.sigmoid_cross_entropy(logits, targets)


def _sigmoid(z):
    # the tanh form is smooth and overflow-free, so its own derivatives are exact everywhere
    return 0.5 * np.tanh(0.5 * z) + 0.5


defvjp(_sigmoid_cross_entropy,
       lambda ans, logits, targets: lambda g: g * (_sigmoid(logits) - targets),
       lambda ans, logits, targets: lambda g: -g * logits)
defjvp(_sigmoid_cross_entropy,
       lambda t, ans, logits, targets: t * (_sigmoid(logits) - targets),
       lambda t, ans, logits, targets: -t * logits)


# --- dropout ---------------------------------------------------------------------------------


def dropout(x: Any, rate: float, rng: np.random.Generator) -> Any:
    """x with a fraction `rate` of its entries zeroed and the rest scaled by 1 / (1 - rate)
    (inverted dropout, as Keras's Dropout in training); the mask comes from `rng`.

    >>> dropout(np.ones(4, np.float32), 0.5, np.random.default_rng(0))
    array([2., 2., 2., 0.], dtype=float32)
    """
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate!r}")
    if rate == 0:
        return x
    v = stop_gradient(x)
    dtype = v.dtype if getattr(v, "dtype", np.dtype(float)).kind == "f" else np.dtype(float)
    return x * _active.dropout_mask(np.shape(v), rate, rng, dtype)
