"""Conv2DTranspose: the transposed convolution ("deconvolution") of Keras 3, with its
kernel layout (kh, kw, filters, channels_in) and its output sizes:

- padding="valid": (in - 1) * s + k + output_padding, or (in - 1) * s + max(k, s)
  without one;
- padding="same": in * s without output_padding, else (in - 1) * s + k % 2 + output_padding;

k being the dilated kernel's span. Each input position adds its kernel-weighted copy
onto the output (nn/backend.py's conv2d_transpose, the adjoint of conv2d), the copies
placed where JAX's conv_transpose with Keras's padding puts them. When that placement
is not one a conv2d geometry gives (output_padding, some even kernels), the whole
transposed convolution is computed and cropped (or zero-extended) to Keras's window.

>>> import numpy as np
>>> from adkit.nn import Sequential
>>> from adkit.nn.layers import Conv2DTranspose
>>> model = Sequential([Conv2DTranspose(1, 2, strides=2, kernel_initializer="ones",
...                                     input_shape=(1, 2, 1))])
>>> model.predict(np.array([[[[1.0], [2.0]]]]))[0, :, :, 0]
array([[1., 1., 2., 2.],
       [1., 1., 2., 2.]], dtype=float32)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from adkit import stop_gradient
from adkit.kernels.window import padding_mode, window

from .. import backend
from .base import Shape, ShapeError, check_channels_last
from .conv import _Convolution
from .conv_options import (check_strides_with_dilation, dilate_kernel, effective_size, int_tuple,
                           refuse_activity_regularizer, refuse_groups)

__all__ = ["Conv1DTranspose", "Conv2DTranspose", "TransposeGeometry", "transpose_length"]


def transpose_length(size: int | None, span: int, stride: int, padding: str,
                     output_padding: int | None) -> int | None:
    """Keras's output length of a transposed convolution along one axis.

    >>> transpose_length(5, 3, 2, "valid", None), transpose_length(5, 3, 2, "same", None)
    (11, 10)
    >>> transpose_length(5, 3, 2, "same", 1)
    10
    """
    if size is None:
        return None
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return (size - 1) * stride + span + extra
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + span % 2 + output_padding


def _left_padding(span: int, stride: int, padding: str, output_padding: int | None) -> int:
    """How far left of the full transposed convolution Keras's output starts, as the
    padding JAX's conv_transpose is given (keras.src.backend.common.backend_utils):
    the output starts span - 1 - this into the full one."""
    if padding == "valid":
        return span - 1
    total = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    return min(total // 2 + total % 2, span - 1)


class TransposeGeometry(NamedTuple):
    """Where a transposed convolution puts its copies, per spatial axis (height, width)."""

    kernel_size: tuple
    strides: tuple
    padding: str
    output_padding: tuple | None
    dilation_rate: tuple

    @property
    def span(self) -> tuple[int, ...]:
        """The dilated kernel's extent along each axis."""
        return effective_size(self.kernel_size, self.dilation_rate)

    def lengths(self, sizes: tuple) -> tuple:
        """Keras's output lengths for inputs of `sizes` (None stays None)."""
        ops = self.output_padding or (None,) * len(sizes)
        return tuple(transpose_length(n, k, s, self.padding, op)
                     for n, k, s, op in zip(sizes, self.span, self.strides, ops))

    def starts(self) -> list[int]:
        """Where Keras's output starts inside the full transposed convolution, per axis."""
        ops = self.output_padding or (None,) * len(self.strides)
        return [k - 1 - _left_padding(k, s, self.padding, op)
                for k, s, op in zip(self.span, self.strides, ops)]

    def apply(self, x: Any, kernel: Any, filters: int) -> Any:
        """The transposed convolution of NHWC x with kernel (kh, kw, filters, channels)."""
        n, h, w, _ = np.shape(stop_gradient(x))
        out = (n,) + self.lengths((h, w)) + (filters,)
        kernel = dilate_kernel(kernel, self.dilation_rate)
        direct = self._direct_padding(out, (h, w))
        if direct is not None:
            return backend.conv2d_transpose(x, kernel, out, self.strides, direct)
        return self._cropped(x, kernel, out, (h, w))

    def _direct_padding(self, out: tuple, size: tuple) -> str | None:
        """The conv2d padding whose adjoint puts the copies where Keras does, if any."""
        span = self.span
        for padding in ("valid", "same"):
            if padding == "valid" and (out[1] < span[0] or out[2] < span[1]):
                continue
            geo = window(out, span, self.strides, padding)
            if (geo.ho, geo.wo) == size and [geo.top, geo.left] == self.starts():
                return padding
        return None

    def _cropped(self, x: Any, kernel: Any, out: tuple, size: tuple) -> Any:
        """The full transposed convolution, cut (or zero-extended) to Keras's window."""
        full = tuple((n - 1) * s + k for n, s, k in zip(size, self.strides, self.span))
        y = backend.conv2d_transpose(x, kernel, (out[0],) + full + (out[3],), self.strides,
                                     "valid")
        starts = self.starts()
        extend = [max(start + n - f, 0) for start, n, f in zip(starts, out[1:3], full)]
        if any(extend):
            y = np.pad(y, ((0, 0), (0, extend[0]), (0, extend[1]), (0, 0)))
        return y[:, starts[0]:starts[0] + out[1], starts[1]:starts[1] + out[2], :]


class _ConvTranspose(_Convolution):
    """What Conv1DTranspose and Conv2DTranspose share: argument checks, the kernel's
    (..., filters, channels) layout, output_padding in the config."""

    runs_on_device = True
    rank: int
    output_padding: tuple | None

    def _set_transpose(self, kernel_size: Any, strides: Any, padding: str, output_padding: Any,
                       data_format: Any, dilation_rate: Any, groups: Any,
                       activity_regularizer: Any) -> None:
        who = f"{type(self).__name__} {self.name!r}"
        check_channels_last(data_format, who)
        refuse_groups(groups, who)
        refuse_activity_regularizer(activity_regularizer, who)
        self.kernel_size = int_tuple(kernel_size, self.rank, "kernel_size", who)
        self.strides = int_tuple(strides, self.rank, "strides", who)
        self.padding = padding_mode(padding, who)
        self.dilation_rate = int_tuple(dilation_rate, self.rank, "dilation_rate", who)
        check_strides_with_dilation(self.strides, self.dilation_rate, who)
        self.output_padding = None if output_padding is None else _output_padding(
            output_padding, self.strides, who)
        if self.output_padding is not None or max(self.dilation_rate) > 1:
            self.runs_on_device = False   # cropping and the dilated kernel run on the host

    def _kernel_shape(self, channels: int) -> tuple:
        return self.kernel_size + (self.filters, channels)   # Keras's transposed layout

    def _empty_error(self, input_shape: Shape, lengths: tuple) -> ShapeError:
        return ShapeError(f"layer {self.name!r} ({type(self).__name__}): input of shape "
                          f"{tuple(input_shape)} gives an empty output, of lengths {lengths}, "
                          f"with padding={self.padding!r} and output_padding="
                          f"{self.output_padding}; give a larger output_padding or "
                          "padding='valid'")

    def _finish(self, y: Any, params: dict, activation: str | None) -> Any:
        if self.use_bias:
            y = backend.bias_add(y, params["bias"])
        return y if activation is None else backend.relu(y)

    def get_config(self) -> dict:
        return {**super().get_config(), "output_padding": None if self.output_padding is None
                else list(self.output_padding)}


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution of (batch, height, width, channels) with a kernel of shape
    (kh, kw, filters, channels), as Keras's Conv2DTranspose: strides s multiply the
    height and width by about s."""

    rank = 2

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", output_padding: Any = None,
                 data_format: str | None = None, dilation_rate: Any = (1, 1),
                 activation: Any = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, groups: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._set_transpose(kernel_size, strides, padding, output_padding, data_format,
                            dilation_rate, groups, activity_regularizer)
        self._set_filters_and_weights(filters, activation, use_bias, kernel_initializer,
                                      bias_initializer, kernel_regularizer, bias_regularizer,
                                      kernel_constraint, bias_constraint)

    @property
    def geometry(self) -> TransposeGeometry:
        """Where this layer's transposed convolution puts its copies."""
        return TransposeGeometry(self.kernel_size, self.strides, self.padding,
                                 self.output_padding, self.dilation_rate)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3 or input_shape[2] is None:
            raise self.shape_error(input_shape, "(height, width, channels) with known channels")
        lengths = self.geometry.lengths(tuple(input_shape[:2]))
        if any(n is not None and n < 1 for n in lengths):
            raise self._empty_error(input_shape, lengths)
        return lengths + (self.filters,)

    def convolve(self, params: dict, x: Any, activation: str | None = None) -> Any:
        """The transposed convolution plus bias, then `activation` (None or "relu")."""
        shape = np.shape(stop_gradient(x))
        if len(shape) != 4:
            raise self.shape_error(shape[1:], "(height, width, channels)")
        return self._finish(self.geometry.apply(x, params["kernel"], self.filters), params,
                            activation)


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution of (batch, steps, channels) with a kernel of shape
    (kernel_size, filters, channels), as Keras's Conv1DTranspose: the 2-D one on the
    sequence seen as images one row high."""

    rank = 1

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 output_padding: Any = None, data_format: str | None = None,
                 dilation_rate: Any = 1, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, groups: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._set_transpose(kernel_size, strides, padding, output_padding, data_format,
                            dilation_rate, groups, activity_regularizer)
        self._set_filters_and_weights(filters, activation, use_bias, kernel_initializer,
                                      bias_initializer, kernel_regularizer, bias_regularizer,
                                      kernel_constraint, bias_constraint)

    @property
    def geometry(self) -> TransposeGeometry:
        """The 2-D geometry on one-row images: a unit window and stride in height."""
        return TransposeGeometry((1,) + self.kernel_size, (1,) + self.strides, self.padding,
                                 None if self.output_padding is None
                                 else (0,) + self.output_padding, (1,) + self.dilation_rate)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 2 or input_shape[1] is None:
            raise self.shape_error(input_shape, "(steps, channels) with known channels")
        (steps,) = self.geometry.lengths((1, input_shape[0]))[1:]
        if steps is not None and steps < 1:
            raise self._empty_error(input_shape, (steps,))
        return (steps, self.filters)

    def convolve(self, params: dict, x: Any, activation: str | None = None) -> Any:
        """The transposed convolution plus bias, then `activation` (None or "relu")."""
        shape = np.shape(stop_gradient(x))
        if len(shape) != 3:
            raise self.shape_error(shape[1:], "(steps, channels)")
        n, steps, channels = shape
        rows = np.reshape(x, (n, 1, steps, channels))
        kernel = params["kernel"]
        kernel = np.reshape(kernel, (1,) + np.shape(stop_gradient(kernel)))
        y = self.geometry.apply(rows, kernel, self.filters)
        y = np.reshape(y, (n, np.shape(stop_gradient(y))[2], self.filters))
        return self._finish(y, params, activation)


def _output_padding(value: Any, strides: tuple, who: str) -> tuple[int, ...]:
    """output_padding as one int in [0, stride) per axis, as Keras requires."""
    rank = len(strides)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values: tuple = (value,) * rank
    else:
        values = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(values) != rank or not all(isinstance(v, (int, np.integer))
                                      and not isinstance(v, bool) and 0 <= v < s
                                      for v, s in zip(values, strides)):
        raise ValueError(f"{who}: output_padding must be None, or an int or {rank} ints each "
                         f"at least 0 and less than the strides {strides} along its axis, "
                         f"got {value!r}")
    return tuple(int(v) for v in values)
