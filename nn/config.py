"""Keras 3's `keras.config`: the settings adkit.nn runs with, read from one place
(nn/backend_compat.py, which `keras.backend` also exports).

adkit.nn has Keras's defaults and only those: channels_last images, float32
weights, epsilon 1e-7; the setters accept them and refuse the rest with the
reason. `backend()` is "numpy", the array library adkit.nn computes with.

>>> backend(), floatx(), image_data_format(), epsilon()
('numpy', 'float32', 'channels_last', 1e-07)
"""

from __future__ import annotations

from .backend_compat import (backend, epsilon, floatx, image_data_format, set_epsilon,
                             set_floatx, set_image_data_format)
from .mixed_precision import dtype_policy, set_dtype_policy

__all__ = ["backend", "epsilon", "floatx", "image_data_format", "set_epsilon", "set_floatx",
           "set_image_data_format", "enable_unsafe_deserialization", "dtype_policy",
           "set_dtype_policy"]


def enable_unsafe_deserialization() -> None:
    """Keras's switch that lets loading run code from a file (lambdas); a no-op here:
    adkit.nn's model files hold JSON and arrays, and loading never executes code from
    them, so there is nothing unsafe to enable."""
