"""GlobalMaxPooling2D and GlobalAveragePooling2D: one value per channel, the maximum or
mean over each image's whole height and width, as Keras's layers of those names; and
GlobalMaxPooling1D and GlobalAveragePooling1D, the same over the steps of a sequence.

Each is the windowed pooling of nn/backend.py with one window the size of the image
(a sequence is an image one row high), so it runs on the same kernels (host and
OpenCL) and differentiates as they do.

>>> import numpy as np
>>> from adkit.nn import Sequential
>>> from adkit.nn.layers import GlobalAveragePooling2D
>>> model = Sequential([GlobalAveragePooling2D(input_shape=(2, 2, 3))])
>>> model.predict(np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3))
array([[4.5, 5.5, 6.5]], dtype=float32)
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from adkit import stop_gradient

from .. import backend
from .base import Context, Layer, Shape, check_channels_last


class _GlobalPooling(Layer):
    """The options of every global pooling: channels last, and keepdims (keep the pooled
    axes, each of length 1)."""

    runs_on_device = True
    #: backend.max_pool2d or backend.avg_pool2d
    pool: Callable[..., Any]

    def __init__(self, data_format: str | None = None, keepdims: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_channels_last(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def get_config(self) -> dict:
        return {**super().get_config(), "keepdims": self.keepdims}


class _GlobalPooling2D(_GlobalPooling):
    """The pooling of a whole (height, width) plane per channel; keepdims=True keeps the
    output (1, 1, channels) instead of (channels,)."""

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3 or any(s is None for s in input_shape):
            raise self.shape_error(input_shape, "(height, width, channels), all known")
        return (1, 1, input_shape[2]) if self.keepdims else (input_shape[2],)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        plane = (int(x.shape[1]), int(x.shape[2]))
        pooled = type(self).pool(x, plane, plane, "valid")   # (batch, 1, 1, channels)
        return pooled if self.keepdims else np.reshape(pooled, (x.shape[0], x.shape[3]))


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum of each channel over the whole image: (h, w, c) -> (c,)."""

    pool = staticmethod(backend.max_pool2d)


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean of each channel over the whole image: (h, w, c) -> (c,)."""

    pool = staticmethod(backend.avg_pool2d)


class _GlobalPooling1D(_GlobalPooling):
    """The pooling of all steps of (batch, steps, channels) per channel; keepdims=True
    keeps the output (1, channels) instead of (channels,). The steps may be unknown
    (None) when the model is built: each batch is pooled over its own length."""

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 2 or input_shape[1] is None:
            raise self.shape_error(input_shape, "(steps, channels) with known channels")
        return (1, input_shape[1]) if self.keepdims else (input_shape[1],)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        shape = np.shape(stop_gradient(x))
        if len(shape) != 3:
            raise self.shape_error(shape[1:], "(steps, channels)")
        n, steps, channels = shape
        rows = np.reshape(x, (n, 1, steps, channels))
        pooled = type(self).pool(rows, (1, steps), (1, steps), "valid")   # (n, 1, 1, channels)
        return np.reshape(pooled, (n, 1, channels) if self.keepdims else (n, channels))


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The maximum of each channel over all steps: (steps, c) -> (c,)."""

    pool = staticmethod(backend.max_pool2d)


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean of each channel over all steps: (steps, c) -> (c,). With a Keras mask
    (Embedding(mask_zero=True), Masking; nn/layers/masking.py) the mean of the unmasked
    steps, as Keras computes it."""

    pool = staticmethod(backend.avg_pool2d)
    takes_mask = True

    def call(self, params: dict, x: Any, ctx: Context, mask: Any = None) -> Any:
        if mask is None:
            return super().call(params, x, ctx)
        weights = np.expand_dims(mask, -1).astype(x.dtype)
        total = np.sum(x * weights, axis=1, keepdims=self.keepdims)
        return total / np.sum(weights, axis=1, keepdims=self.keepdims)
