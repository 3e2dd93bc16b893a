"""Conv2D and 2-D pooling, channels-last (batch, height, width, channels) as in Keras."""

from __future__ import annotations

from typing import Any

import numpy as np

from adkit.kernels.window import output_length, padding_mode, window_pair

from .. import activations, backend
from .base import Context, Layer, Shape, check_channels_last
from .conv_options import (check_strides_with_dilation, dilate_kernel, effective_size, int_tuple,
                           refuse_activity_regularizer, refuse_groups)
from .core import _Activated


class _Spatial:
    """Shape checking shared by convolution and pooling."""

    batch_parallel = True

    def _spatial_output(self: Any, input_shape: Shape, window: tuple, strides: tuple,
                        channels: int) -> Shape:
        if len(input_shape) != 3 or None in input_shape:
            raise self.shape_error(input_shape, "(height, width, channels)")
        h, w = input_shape[0], input_shape[1]
        if self.padding == "valid" and (h < window[0] or w < window[1]):
            raise self.shape_error(input_shape, f"at least {window[0]}x{window[1]} in height x width "
                                   f"for a {window[0]}x{window[1]} window with 'valid' padding")
        return (output_length(h, window[0], strides[0], self.padding),
                output_length(w, window[1], strides[1], self.padding), channels)


class _ConvOptions:
    """What Keras's convolution layers share beyond their geometry: the bias's
    regularizer and constraint, next to the kernel's (Layer._set_kernel_options)."""

    use_bias: bool

    def _set_bias_options(self: Any, bias_regularizer: Any, bias_constraint: Any) -> None:
        if self.use_bias:   # with no bias there is nothing to regularize or constrain
            self._set_kernel_options(bias_regularizer, bias_constraint, names=("bias",))

    def _bias_options_config(self: Any) -> dict:
        return self._weight_options_config("bias", "bias")

    def _weight_options_config(self: Any, param: str, prefix: str) -> dict:
        """{prefix}_regularizer and {prefix}_constraint of parameter `param`, as Keras
        spells them in a config (depthwise_regularizer for the kernel of DepthwiseConv2D)."""
        options = self._kernel_options_config(param)
        return {f"{prefix}_regularizer": options["kernel_regularizer"],
                f"{prefix}_constraint": options["kernel_constraint"]}


class _Convolution(_ConvOptions, _Activated):
    """What Conv1D, Conv2D and Conv2DTranspose share: `filters`, a kernel and a bias with
    their initializers, regularizers and constraints, an activation (relu applied in the
    convolution's own pass over its output), and their config. A subclass sets
    kernel_size, strides, padding and dilation_rate, and defines convolve()."""

    kernel_size: tuple
    strides: tuple
    padding: str
    dilation_rate: tuple

    def _set_filters_and_weights(self, filters: Any, activation: Any, use_bias: bool,
                                 kernel_initializer: Any, bias_initializer: Any,
                                 kernel_regularizer: Any, bias_regularizer: Any,
                                 kernel_constraint: Any, bias_constraint: Any) -> None:
        if not isinstance(filters, (int, np.integer)) or isinstance(filters, bool) or filters <= 0:
            raise ValueError(f"{type(self).__name__} {self.name!r}: filters must be a positive "
                             f"int, got {filters!r}")
        self.filters = int(filters)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self._set_kernel_options(kernel_regularizer, kernel_constraint)
        self._set_bias_options(bias_regularizer, bias_constraint)

    def _kernel_shape(self, channels: int) -> tuple:
        return self.kernel_size + (channels, self.filters)

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        params = {"kernel": self._weight(rng, self.kernel_initializer,
                                         self._kernel_shape(input_shape[-1]))}
        if self.use_bias:
            params["bias"] = self._weight(rng, self.bias_initializer, (self.filters,))
        return params

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        # relu in the convolution's output pass (unless a subclass changes the
        # pre-activation: then relu of its own)
        if self.activation is activations.relu \
                and type(self).pre_activation is _Convolution.pre_activation:
            return self.convolve(params, x, activation="relu")
        return super().call(params, x, ctx)

    def pre_activation(self, params: dict, x: Any, ctx: Context) -> Any:
        return self.convolve(params, x)

    def convolve(self, params: dict, x: Any, activation: str | None = None) -> Any:
        """The convolution plus bias, then `activation` (None or "relu") in the same pass
        over the output, whatever this layer's own activation is."""
        raise NotImplementedError(f"{type(self).__name__} must define convolve(params, x, "
                                  "activation)")

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "dilation_rate": list(self.dilation_rate),
                "activation": activations.name_of(self.activation),
                "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer, **self._kernel_options_config(),
                **self._bias_options_config()}


class Conv2D(_Spatial, _Convolution):
    """2-D convolution (cross-correlation, as in every DL library) with a kernel
    of shape (kh, kw, c_in, filters); dilation_rate d spreads its taps d apart."""

    runs_on_device = True

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = (1, 1), groups: int = 1, activation: Any = None,
                 use_bias: bool = True, kernel_initializer: str = "glorot_uniform",
                 bias_initializer: str = "zeros", kernel_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"Conv2D {self.name!r}"
        check_channels_last(data_format, who)
        refuse_groups(groups, who)
        refuse_activity_regularizer(activity_regularizer, who)
        self.kernel_size = window_pair(kernel_size, "kernel_size", who)
        self.strides = window_pair(strides, "strides", who)
        self.padding = padding_mode(padding, who)
        self.dilation_rate = int_tuple(dilation_rate, 2, "dilation_rate", who)
        check_strides_with_dilation(self.strides, self.dilation_rate, who)
        if self.dilation_rate != (1, 1):
            self.runs_on_device = False   # the dilated kernel is built on the host
        self._set_filters_and_weights(filters, activation, use_bias, kernel_initializer,
                                      bias_initializer, kernel_regularizer, bias_regularizer,
                                      kernel_constraint, bias_constraint)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return self._spatial_output(input_shape, effective_size(self.kernel_size,
                                                                self.dilation_rate),
                                    self.strides, self.filters)

    def convolve(self, params: dict, x: Any, activation: str | None = None) -> Any:
        """The convolution plus bias, then `activation` (None or "relu") in the same pass
        over the output, whatever this layer's own activation is."""
        kernel = dilate_kernel(params["kernel"], self.dilation_rate)
        return backend.conv2d(x, kernel, strides=self.strides, padding=self.padding,
                              bias=params["bias"] if self.use_bias else None,
                              activation=activation)


class _Pooling2D(_Spatial, Layer):
    op: Any = None

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"{type(self).__name__} {self.name!r}"
        check_channels_last(data_format, who)
        self.pool_size = window_pair(pool_size, "pool_size", who)
        self.strides = self.pool_size if strides is None else window_pair(strides, "strides", who)
        self.padding = padding_mode(padding, who)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return self._spatial_output(input_shape, self.pool_size, self.strides, input_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding}


class MaxPooling2D(_Pooling2D):
    """The maximum over each pool_size window."""

    runs_on_device = True

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return backend.max_pool2d(x, self.pool_size, self.strides, self.padding)


class AveragePooling2D(_Pooling2D):
    """The mean over each pool_size window (padding excluded from the count)."""

    runs_on_device = True

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return backend.avg_pool2d(x, self.pool_size, self.strides, self.padding)
