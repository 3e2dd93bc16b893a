"""DepthwiseConv2D, SeparableConv2D and their 1-D forms DepthwiseConv1D, SeparableConv1D,
as Keras 3's layers of those names.

A depthwise convolution filters each input channel on its own: a kernel of shape
(kh, kw, channels, depth_multiplier) gives channels * depth_multiplier outputs, output
c * depth_multiplier + m being channel c under filter m (Keras's order). It is computed as
kh * kw shifted views of the (padded) images, each times its tap's weights, summed: about
kh * kw * depth_multiplier multiply-adds per input value, no patch matrix, and dilation
only shifts the views further. SeparableConv2D follows it with a 1x1 convolution (its
pointwise kernel, (1, 1, channels * depth_multiplier, filters)) and the bias. The 1-D
layers run the same on a sequence seen as images one row high.

>>> import numpy as np
>>> from adkit.nn import Sequential
>>> from adkit.nn.layers import DepthwiseConv2D
>>> model = Sequential([DepthwiseConv2D(2, depthwise_initializer="ones", input_shape=(3, 3, 2))])
>>> model.predict(np.arange(18.0).reshape(1, 3, 3, 2))[0, 0, 0]
array([16., 20.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adkit import stop_gradient
from adkit.kernels.window import padding_mode, window

from .. import activations, backend
from .base import Context, Shape, check_channels_last
from .conv import _ConvOptions, _Spatial
from .conv1d import _from_rows, _Sequence
from .conv_options import effective_size, int_tuple, refuse_activity_regularizer
from .core import _Activated

__all__ = ["DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
           "depthwise_conv2d"]


def depthwise_conv2d(x: Any, kernel: Any, strides: tuple = (1, 1), padding: str = "valid",
                     dilation_rate: tuple = (1, 1)) -> Any:
    """Each channel of NHWC images x correlated with its own filters, kernel
    (kh, kw, C, M): (N, Ho, Wo, C * M), output channel c * M + m. Differentiable.

    >>> depthwise_conv2d(np.ones((1, 3, 3, 2)), np.ones((2, 2, 2, 1)))[0, :, :, 0]
    array([[4., 4.],
           [4., 4.]])
    """
    kh, kw, channels, multiplier = np.shape(stop_gradient(kernel))
    n = np.shape(stop_gradient(x))[0]
    (dh, dw) = dilation_rate
    geo = window(np.shape(stop_gradient(x)), effective_size((kh, kw), dilation_rate), strides,
                 padding)
    if geo.padded:
        x = np.pad(x, ((0, 0), (geo.top, geo.bottom), (geo.left, geo.right), (0, 0)))
    total = None
    for a in range(kh):
        for b in range(kw):
            view = x[:, a * dh:a * dh + geo.sh * (geo.ho - 1) + 1:geo.sh,
                     b * dw:b * dw + geo.sw * (geo.wo - 1) + 1:geo.sw, :, None]
            term = view * kernel[a, b]          # (N, Ho, Wo, C, 1) * (C, M)
            total = term if total is None else total + term
    return np.reshape(total, (n, geo.ho, geo.wo, channels * multiplier))


def _depth_multiplier(value: Any, who: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{who}: depth_multiplier must be a positive int, got {value!r}")
    return int(value)


class _Depthwise(_ConvOptions, _Activated):
    """The geometry and depthwise kernel the depthwise and separable layers share; a
    sequence is computed as images one row high (_Planes1D), images as they are."""

    rank: int

    def _set_geometry(self, kernel_size: Any, strides: Any, padding: str, data_format: Any,
                      dilation_rate: Any, depth_multiplier: Any,
                      activity_regularizer: Any) -> None:
        who = f"{type(self).__name__} {self.name!r}"
        check_channels_last(data_format, who)
        refuse_activity_regularizer(activity_regularizer, who)
        self.kernel_size = int_tuple(kernel_size, self.rank, "kernel_size", who)
        self.strides = int_tuple(strides, self.rank, "strides", who)
        self.padding = padding_mode(padding, who)
        self.dilation_rate = int_tuple(dilation_rate, self.rank, "dilation_rate", who)
        self.depth_multiplier = _depth_multiplier(depth_multiplier, who)

    def _as_plane_kernel(self, kernel: Any) -> Any:
        """A kernel with unit leading window axes up to two (a sequence's one-row window)."""
        if self.rank == 2:
            return kernel
        return np.reshape(kernel, (1,) * (2 - self.rank) + np.shape(stop_gradient(kernel)))

    def _depthwise(self, kernel: Any, planes: Any) -> Any:
        lead = (1,) * (2 - self.rank)
        return depthwise_conv2d(planes, self._as_plane_kernel(kernel), lead + self.strides,
                                self.padding, lead + self.dilation_rate)

    def _geometry_config(self) -> dict:
        return {"kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "depth_multiplier": self.depth_multiplier,
                "dilation_rate": list(self.dilation_rate),
                "activation": activations.name_of(self.activation), "use_bias": self.use_bias}


class _Planes2D(_Spatial):
    """Images (batch, height, width, channels) as they are."""

    rank = 2

    def _output(self: Any, input_shape: Shape, channels: Any) -> Shape:
        span = effective_size(self.kernel_size, self.dilation_rate)
        return self._spatial_output(input_shape, span, self.strides, channels)

    def _to_planes(self: Any, x: Any) -> Any:
        shape = np.shape(stop_gradient(x))
        if len(shape) != 4:
            raise self.shape_error(shape[1:], "(height, width, channels)")
        return x

    def _from_planes(self: Any, y: Any) -> Any:
        return y


class _Planes1D(_Sequence):
    """Sequences (batch, steps, channels) as images one row high."""

    rank = 1

    def _output(self: Any, input_shape: Shape, channels: Any) -> Shape:
        span = effective_size(self.kernel_size, self.dilation_rate)[0]
        return self._sequence_output(input_shape, span, self.strides[0], channels)

    def _to_planes(self: Any, x: Any) -> Any:
        return self._as_rows(x)

    def _from_planes(self: Any, y: Any) -> Any:
        return _from_rows(y)


class _DepthwiseConv(_Depthwise):
    """Each input channel convolved with its own depth_multiplier filters: kernel
    (*kernel_size, channels, depth_multiplier), bias (channels * depth_multiplier,)."""

    def __init__(self, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 depth_multiplier: int = 1, data_format: str | None = None,
                 dilation_rate: Any = 1, activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 depthwise_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, depthwise_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._set_geometry(kernel_size, strides, padding, data_format, dilation_rate,
                           depth_multiplier, activity_regularizer)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.depthwise_initializer, self.bias_initializer = depthwise_initializer, bias_initializer
        self._set_kernel_options(depthwise_regularizer, depthwise_constraint)
        self._set_bias_options(bias_regularizer, bias_constraint)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        channels = input_shape[-1] * self.depth_multiplier if len(input_shape) == self.rank + 1 \
            and input_shape[-1] is not None else None
        return self._output(input_shape, channels)

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        shape = self.kernel_size + (input_shape[-1], self.depth_multiplier)
        params = {"kernel": self._weight(rng, self.depthwise_initializer, shape)}
        if self.use_bias:
            params["bias"] = self._weight(rng, self.bias_initializer,
                                          (input_shape[-1] * self.depth_multiplier,))
        return params

    def pre_activation(self, params: dict, x: Any, ctx: Context) -> Any:
        y = self._from_planes(self._depthwise(params["kernel"], self._to_planes(x)))
        return backend.bias_add(y, params["bias"]) if self.use_bias else y

    def get_config(self) -> dict:
        return {**super().get_config(), **self._geometry_config(),
                "depthwise_initializer": self.depthwise_initializer,
                "bias_initializer": self.bias_initializer,
                **self._weight_options_config("kernel", "depthwise"),
                **self._bias_options_config()}


class DepthwiseConv2D(_Planes2D, _DepthwiseConv):
    """Each input channel convolved with its own depth_multiplier filters: kernel
    (kh, kw, channels, depth_multiplier), bias (channels * depth_multiplier,)."""


class DepthwiseConv1D(_Planes1D, _DepthwiseConv):
    """DepthwiseConv2D over the steps of (batch, steps, channels): kernel
    (k, channels, depth_multiplier), bias (channels * depth_multiplier,)."""


class _SeparableConv(_Depthwise):
    """A depthwise convolution, then a pointwise (size-1 window) convolution to `filters`
    channels: weights depthwise_kernel, pointwise_kernel and bias, in Keras's order."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1,
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = 1, depth_multiplier: int = 1, activation: Any = None,
                 use_bias: bool = True, depthwise_initializer: str = "glorot_uniform",
                 pointwise_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 depthwise_regularizer: Any = None, pointwise_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None,
                 depthwise_constraint: Any = None, pointwise_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"{type(self).__name__} {self.name!r}"
        if not isinstance(filters, (int, np.integer)) or isinstance(filters, bool) or filters <= 0:
            raise ValueError(f"{who}: filters must be a positive int, got {filters!r}")
        self.filters = int(filters)
        self._set_geometry(kernel_size, strides, padding, data_format, dilation_rate,
                           depth_multiplier, activity_regularizer)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer
        self.bias_initializer = bias_initializer
        self._set_kernel_options(depthwise_regularizer, depthwise_constraint,
                                 names=("depthwise_kernel",))
        self._set_kernel_options(pointwise_regularizer, pointwise_constraint,
                                 names=("pointwise_kernel",))
        self._set_bias_options(bias_regularizer, bias_constraint)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return self._output(input_shape, self.filters)

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        channels = input_shape[-1]
        params = {
            "depthwise_kernel": self._weight(rng, self.depthwise_initializer, self.kernel_size
                                             + (channels, self.depth_multiplier)),
            "pointwise_kernel": self._weight(rng, self.pointwise_initializer,
                                             (1,) * self.rank
                                             + (channels * self.depth_multiplier, self.filters))}
        if self.use_bias:
            params["bias"] = self._weight(rng, self.bias_initializer, (self.filters,))
        return params

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        # relu in the pointwise convolution's own pass, as Conv2D does
        if self.activation is activations.relu \
                and type(self).pre_activation is _SeparableConv.pre_activation:
            return self._pointwise(params, x, "relu")
        return super().call(params, x, ctx)

    def pre_activation(self, params: dict, x: Any, ctx: Context) -> Any:
        return self._pointwise(params, x, None)

    def _pointwise(self, params: dict, x: Any, activation: str | None) -> Any:
        depthwise = self._depthwise(params["depthwise_kernel"], self._to_planes(x))
        return self._from_planes(backend.conv2d(
            depthwise, self._as_plane_kernel(params["pointwise_kernel"]),
            bias=params["bias"] if self.use_bias else None, activation=activation))

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, **self._geometry_config(),
                "depthwise_initializer": self.depthwise_initializer,
                "pointwise_initializer": self.pointwise_initializer,
                "bias_initializer": self.bias_initializer,
                **self._weight_options_config("depthwise_kernel", "depthwise"),
                **self._weight_options_config("pointwise_kernel", "pointwise"),
                **self._bias_options_config()}


class SeparableConv2D(_Planes2D, _SeparableConv):
    """A depthwise convolution, then a 1x1 convolution to `filters` channels: weights
    depthwise_kernel (kh, kw, channels, depth_multiplier), pointwise_kernel
    (1, 1, channels * depth_multiplier, filters) and bias (filters,), in Keras's order."""


class SeparableConv1D(_Planes1D, _SeparableConv):
    """SeparableConv2D over the steps of (batch, steps, channels): depthwise_kernel
    (k, channels, depth_multiplier), pointwise_kernel (1, channels * depth_multiplier,
    filters) and bias (filters,)."""
