"""Conv1D, MaxPooling1D and AveragePooling1D on sequences (batch, steps, channels), as Keras's
layers of those names.

Each runs the 2-D kernels of nn/backend.py on the sequence seen as images one row high,
(batch, 1, steps, channels), with a (1, k) window: the same speed, and derivatives of
every order, as Conv2D and 2-D pooling. Conv1D's padding="causal" pads the start of the
sequence by (k - 1) * dilation_rate, so that output t sees inputs up to t only.

>>> import numpy as np
>>> from adkit.nn import Sequential
>>> from adkit.nn.layers import Conv1D
>>> model = Sequential([Conv1D(1, 2, kernel_initializer="ones", input_shape=(4, 1))])
>>> model.predict(np.arange(4.0).reshape(1, 4, 1))[0, :, 0]
array([1., 3., 5.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adkit import stop_gradient
from adkit.kernels.window import output_length, padding_mode

from .. import backend
from .base import Context, Layer, Shape, check_channels_last
from .conv import _Convolution
from .conv_options import (check_strides_with_dilation, dilate_kernel, effective_size, int_tuple,
                           refuse_activity_regularizer, refuse_groups)

__all__ = ["Conv1D", "MaxPooling1D", "AveragePooling1D"]


def _sequence_padding(padding: Any, who: str, causal: bool) -> str:
    """"valid", "same" or (for a convolution) "causal", in any letter case, as Keras."""
    p = padding.lower() if isinstance(padding, str) else padding
    if causal and p == "causal":
        return p
    try:
        return padding_mode(p, who)
    except ValueError:
        allowed = "'valid', 'same' or 'causal'" if causal else "'valid' or 'same'"
        raise ValueError(f"{who}: padding must be {allowed} (as in Keras), got "
                         f"{padding!r}") from None


class _Sequence:
    """Shape checks and the (batch, 1, steps, channels) view shared by the 1-D layers."""

    padding: str

    def _sequence_output(self: Any, input_shape: Shape, span: int, stride: int,
                         channels: int) -> Shape:
        if len(input_shape) != 2 or input_shape[1] is None:
            raise self.shape_error(input_shape, "(steps, channels) with known channels")
        steps = input_shape[0]
        if steps is None:
            return (None, channels)
        if self.padding == "valid" and steps < span:
            raise self.shape_error(input_shape, f"at least {span} steps for a window of "
                                   f"{span} with padding='valid' (use padding='same')")
        padding = "same" if self.padding == "causal" else self.padding
        return (output_length(steps, span, stride, padding), channels)

    def _as_rows(self: Any, x: Any) -> Any:
        """x (batch, steps, channels) as images one row high."""
        shape = np.shape(stop_gradient(x))
        if len(shape) != 3:
            raise self.shape_error(shape[1:], "(steps, channels)")
        return np.reshape(x, (shape[0], 1, shape[1], shape[2]))


def _from_rows(y: Any) -> Any:
    shape = np.shape(stop_gradient(y))
    return np.reshape(y, (shape[0], shape[2], shape[3]))


class Conv1D(_Sequence, _Convolution):
    """1-D convolution (cross-correlation) over the steps of (batch, steps, channels), with
    a kernel of shape (kernel_size, channels, filters), as Keras's Conv1D; padding is
    "valid", "same" or "causal"."""

    runs_on_device = True

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate: Any = 1, groups: int = 1,
                 activation: Any = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"Conv1D {self.name!r}"
        check_channels_last(data_format, who)
        refuse_groups(groups, who)
        refuse_activity_regularizer(activity_regularizer, who)
        self.kernel_size = int_tuple(kernel_size, 1, "kernel_size", who)
        self.strides = int_tuple(strides, 1, "strides", who)
        self.padding = _sequence_padding(padding, who, causal=True)
        self.dilation_rate = int_tuple(dilation_rate, 1, "dilation_rate", who)
        check_strides_with_dilation(self.strides, self.dilation_rate, who)
        if self.padding == "causal" or self.dilation_rate != (1,):
            self.runs_on_device = False   # np.pad and the dilated kernel run on the host
        self._set_filters_and_weights(filters, activation, use_bias, kernel_initializer,
                                      bias_initializer, kernel_regularizer, bias_regularizer,
                                      kernel_constraint, bias_constraint)

    @property
    def _span(self) -> int:
        return effective_size(self.kernel_size, self.dilation_rate)[0]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return self._sequence_output(input_shape, self._span, self.strides[0], self.filters)

    def convolve(self, params: dict, x: Any, activation: str | None = None) -> Any:
        """The convolution plus bias, then `activation` (None or "relu") in the same pass."""
        rows = self._as_rows(x)
        padding = self.padding
        if padding == "causal":
            rows = np.pad(rows, ((0, 0), (0, 0), (self._span - 1, 0), (0, 0)))
            padding = "valid"
        kernel = dilate_kernel(params["kernel"], self.dilation_rate)
        kernel = np.reshape(kernel, (1,) + np.shape(stop_gradient(kernel)))
        return _from_rows(backend.conv2d(rows, kernel, strides=(1, self.strides[0]),
                                         padding=padding,
                                         bias=params["bias"] if self.use_bias else None,
                                         activation=activation))


class _Pooling1D(_Sequence, Layer):
    runs_on_device = True

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"{type(self).__name__} {self.name!r}"
        check_channels_last(data_format, who)
        self.pool_size = int_tuple(pool_size, 1, "pool_size", who)
        self.strides = self.pool_size if strides is None else int_tuple(strides, 1, "strides", who)
        self.padding = _sequence_padding(padding, who, causal=False)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        channels = input_shape[-1] if len(input_shape) == 2 else None
        return self._sequence_output(input_shape, self.pool_size[0], self.strides[0], channels)

    def pool(self, x: Any, op: Any) -> Any:
        return _from_rows(op(self._as_rows(x), (1, self.pool_size[0]), (1, self.strides[0]),
                             self.padding))

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding}


class MaxPooling1D(_Pooling1D):
    """The maximum over each pool_size window of steps (strides default to pool_size)."""

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return self.pool(x, backend.max_pool2d)


class AveragePooling1D(_Pooling1D):
    """The mean over each pool_size window of steps (padding excluded from the count)."""

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return self.pool(x, backend.avg_pool2d)
