"""ZeroPadding1D, Cropping1D and UpSampling1D: the 1-D reshaping layers that go with Conv1D,
as Keras's layers of those names, on sequences (batch, steps, features). Each is NumPy
padding, slicing or repetition along the steps, which adkit differentiates as any code.

>>> import numpy as np
>>> UpSampling1D(3).call({}, np.array([[[1.0], [2.0]]]), None)[0, :, 0]
array([1., 1., 1., 2., 2., 2.])
>>> ZeroPadding1D((1, 2)).compute_output_shape((4, 3))
(7, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adkit import stop_gradient

from .base import Context, Layer, Shape, check_channels_last

__all__ = ["ZeroPadding1D", "Cropping1D", "UpSampling1D"]


def _ends(value: Any, who: str, what: str) -> tuple[int, int]:
    """Keras's 1-D padding/cropping: n (both ends) or (start, end), ints >= 0."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair: tuple = (value, value)
    else:
        pair = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                 and v >= 0 for v in pair):
        raise ValueError(f"{who}: {what} must be an int or a pair (start, end) of ints, none "
                         f"negative; got {value!r}")
    return int(pair[0]), int(pair[1])


class _Sequence1D(Layer):
    """Input (steps, features): the steps may be unknown (None)."""

    def _steps(self, input_shape: Shape) -> Any:
        if len(input_shape) != 2:
            raise self.shape_error(input_shape, "(steps, features)")
        return input_shape[0]


class ZeroPadding1D(_Sequence1D):
    """Steps of zeros at the start and end of each sequence: padding n (both ends) or
    (start, end), as in Keras."""

    def __init__(self, padding: Any = 1, data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_channels_last(data_format, f"ZeroPadding1D {self.name!r}")
        self.padding = _ends(padding, f"ZeroPadding1D {self.name!r}", "padding")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        steps = self._steps(input_shape)
        return (None if steps is None else steps + sum(self.padding), input_shape[1])

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return np.pad(x, ((0, 0), self.padding, (0, 0)))

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": list(self.padding)}


class Cropping1D(_Sequence1D):
    """Steps cut from the start and end of each sequence: cropping n (both ends) or
    (start, end), as in Keras."""

    def __init__(self, cropping: Any = (1, 1), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cropping = _ends(cropping, f"Cropping1D {self.name!r}", "cropping")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        steps = self._steps(input_shape)
        if steps is not None and sum(self.cropping) >= steps:
            raise self.shape_error(input_shape, f"more than {sum(self.cropping)} steps, the "
                                   f"cropping {self.cropping}")
        return (None if steps is None else steps - sum(self.cropping), input_shape[1])

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        steps = np.shape(stop_gradient(x))[1]
        start, end = self.cropping
        if start + end >= steps:
            raise self.shape_error(np.shape(stop_gradient(x))[1:],
                                   f"more than {start + end} steps, the cropping {self.cropping}")
        return x[:, start:steps - end, :]

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": list(self.cropping)}


class UpSampling1D(_Sequence1D):
    """Each step repeated `size` times, as in Keras."""

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise ValueError(f"UpSampling1D {self.name!r}: size must be a positive int, got "
                             f"{size!r}")
        self.size = int(size)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        steps = self._steps(input_shape)
        return (None if steps is None else steps * self.size, input_shape[1])

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return np.repeat(x, self.size, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size}
