"""Keras's `keras.backend` configuration calls, so `from keras import backend as K`
ports as `from adkit.nn import backend as K` (nn/backend.py re-exports these).

adkit.nn has one layout and one float type, Keras's defaults: images are NHWC
("channels_last") and weights float32. The setters accept those values and refuse
any other with the reason, instead of silently building a model Keras would not.

>>> image_data_format(), floatx(), epsilon()
('channels_last', 'float32', 1e-07)
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

#: Keras's fuzz factor: the cross-entropies clip probabilities to [EPSILON, 1 - EPSILON]
EPSILON = 1e-7

__all__ = ["image_data_format", "set_image_data_format", "floatx", "set_floatx", "epsilon",
           "set_epsilon", "backend", "clear_session", "set_value", "get_value", "ScalarVariable"]


def image_data_format() -> str:
    """"channels_last": adkit.nn's images are (batch, height, width, channels), Keras's
    default, so scripts that branch on `K.image_data_format()` take that branch."""
    return "channels_last"


def set_image_data_format(data_format: str) -> None:
    """Accepts "channels_last" (the only layout adkit.nn's layers run); refuses the rest.

    >>> set_image_data_format("channels_first")
    Traceback (most recent call last):
    ...
    ValueError: adkit.nn lays images out channels_last (batch, height, width, channels) \
only; got data_format='channels_first': transpose the data with np.moveaxis(x, 1, -1) instead
    """
    if data_format != "channels_last":
        raise ValueError("adkit.nn lays images out channels_last (batch, height, width, "
                         f"channels) only; got data_format={data_format!r}: transpose the "
                         "data with np.moveaxis(x, 1, -1) instead")


def floatx() -> str:
    """"float32": the dtype of the weights layers create, as Keras's default."""
    return "float32"


def set_floatx(value: str) -> None:
    """Accepts "float32" (the dtype adkit.nn's layers create); refuses the rest, naming
    the per-layer alternative."""
    if value != "float32":
        raise ValueError(f"adkit.nn builds float32 weights; got floatx {value!r}: give a "
                         "layer dtype=... to compute one layer in another type")


def epsilon() -> float:
    """The fuzz factor Keras's losses clip probabilities by (1e-7), the one adkit's use."""
    return EPSILON


def set_epsilon(value: float) -> None:
    """Accepts Keras's default 1e-7, the fuzz factor adkit.nn's losses and constraints
    are built with (a compiled training step holds it as a constant); refuses another.

    >>> set_epsilon(1e-3)
    Traceback (most recent call last):
    ...
    ValueError: adkit.nn's losses clip by Keras's default epsilon 1e-07 only; got 0.001: \
clip y_pred yourself (np.clip) in a custom loss instead
    """
    if not isinstance(value, (int, float, np.floating)) or isinstance(value, bool):
        raise TypeError(f"set_epsilon takes a float, got {value!r}")
    if float(value) != EPSILON:
        raise ValueError(f"adkit.nn's losses clip by Keras's default epsilon {EPSILON} only; got "
                         f"{value!r}: clip y_pred yourself (np.clip) in a custom loss instead")


def backend() -> str:
    """"numpy": the name of the array library adkit.nn computes with, one of Keras 3's
    backend names (Keras's own "numpy" backend is NumPy too), so scripts that branch on
    `keras.backend.backend()` take neither the TensorFlow, JAX nor PyTorch branch."""
    return "numpy"


class ScalarVariable(float):
    """A float that also answers Keras's variable calls, which is what Keras's
    `optimizer.learning_rate` is: `assign(v)` (and `keras.backend.set_value`) sets the
    value where it lives, `numpy()` reads it. The float itself is the value when it was
    read; read the attribute again after assigning.

    >>> box = {"lr": 0.1}
    >>> lr = ScalarVariable(box["lr"], lambda: box["lr"], lambda v: box.update(lr=float(v)))
    >>> lr * 10, lr.assign(0.5), float(lr.numpy())
    (1.0, None, 0.5)
    """

    __slots__ = ("_read", "_write")

    def __new__(cls, value: float, read: Callable[[], float] | None = None,
                write: Callable[[float], None] | None = None) -> "ScalarVariable":
        self = super().__new__(cls, value)
        self._read, self._write = read, write
        return self

    def assign(self, value: Any) -> None:
        """Set the value where it lives (an optimizer's learning rate)."""
        if self._write is None:
            raise TypeError("this value is a copy; assign to the attribute it came from")
        self._write(float(np.asarray(value)))

    def numpy(self) -> np.float32:
        """The current value, as Keras's float32 variable gives it."""
        return np.float32(self if self._read is None else self._read())

    @property
    def value(self) -> np.float32:
        """The current value (Keras's variable.value)."""
        return self.numpy()

    dtype = "float32"
    shape = ()

    def __reduce__(self) -> tuple:   # copies are plain floats
        return float, (float(self),)


def set_value(x: Any, value: Any) -> None:
    """Keras's keras.backend.set_value: x.assign(value) for a variable (the learning-rate
    idiom `set_value(model.optimizer.learning_rate, 1e-4)`), or write value into an array
    in place (a weight from `model.weights`), its shape checked.

    >>> w = np.zeros(2, np.float32); set_value(w, [1, 2]); w
    array([1., 2.], dtype=float32)
    """
    if hasattr(x, "assign"):
        x.assign(value)
        return
    if isinstance(x, np.ndarray):
        value = np.asarray(value)
        if value.shape != x.shape:
            raise ValueError(f"set_value: the array has shape {x.shape}, the value {value.shape}")
        np.copyto(x, value, casting="same_kind")
        return
    raise TypeError(f"set_value sets a variable or an array in place; {type(x).__name__} "
                    f"{x!r} cannot change (for a learning rate, pass "
                    "model.optimizer.learning_rate, or set model.optimizer.learning_rate = v)")


def get_value(x: Any) -> Any:
    """Keras's keras.backend.get_value: the value of a variable or an array, as NumPy."""
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def clear_session() -> None:
    """What Keras's clear_session does that applies here: automatic layer names start
    again at `dense`, `conv2d`, ... (adkit keeps no global graph to free)."""
    # imported here: nn/backend.py loads this module, and adkit.nn.layers loads nn/backend.py
    from .layers.base import reset_names
    reset_names()
