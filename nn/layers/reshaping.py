"""Layers that rearrange their input without weights, as Keras's layers of these names:
ZeroPadding2D, Cropping2D, UpSampling2D (nearest), Permute, RepeatVector, and
Rescaling (x * scale + offset). Images are channels_last (batch, height, width,
channels). Each is NumPy indexing, padding or repetition of its input, which adkit
differentiates like any other code.

>>> import numpy as np
>>> from adkit.nn.layers import UpSampling2D
>>> UpSampling2D(2).compute_output_shape((3, 4, 1))
(6, 8, 1)
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import Context, Layer, Shape, check_channels_last


def _pairs(value: Any, who: str, what: str) -> tuple:
    """Keras's padding/cropping argument: n, (rows, cols) or ((top, bottom), (left, right))
    -> ((top, bottom), (left, right)) of non-negative ints."""
    try:
        if isinstance(value, (int, np.integer)):
            pairs = ((int(value),) * 2,) * 2
        elif len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
            pairs = ((int(value[0]),) * 2, (int(value[1]),) * 2)
        elif len(value) == 2 and all(len(v) == 2 for v in value):
            pairs = tuple(tuple(int(x) for x in v) for v in value)
        else:
            raise TypeError
    except TypeError:
        raise ValueError(f"{who}: {what} must be an int, a pair of ints or a pair of pairs "
                         f"((top, bottom), (left, right)); got {value!r}") from None
    if any(x < 0 for v in pairs for x in v):
        raise ValueError(f"{who}: {what} must not be negative; got {value!r}")
    return pairs


class _Borders2D(Layer):
    """What ZeroPadding2D and Cropping2D share: rows and columns at each image's borders,
    ((top, bottom), (left, right)), added (sign +1) or cut off (sign -1)."""

    sign: ClassVar[int]
    argument: ClassVar[str]   # the keyword Keras names them by

    def __init__(self, borders: Any, data_format: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"{type(self).__name__} {self.name!r}"
        check_channels_last(data_format, who)
        self.borders = _pairs(borders, who, self.argument)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise self.shape_error(input_shape, "(height, width, channels)")
        (h, w, c), ((t, b), (left, r)) = input_shape, self.borders
        if self.sign < 0 and ((h is not None and t + b >= h) or (w is not None and left + r >= w)):
            raise self.shape_error(input_shape, f"larger than the cropping {self.borders}")
        return (None if h is None else h + self.sign * (t + b),
                None if w is None else w + self.sign * (left + r), c)

    def get_config(self) -> dict:
        return {**super().get_config(), self.argument: [list(p) for p in self.borders]}


class ZeroPadding2D(_Borders2D):
    """Rows and columns of zeros around each image: padding as in Keras (an int, (rows,
    cols) or ((top, bottom), (left, right)))."""

    sign, argument = 1, "padding"

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(padding, data_format, **kwargs)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return np.pad(x, ((0, 0),) + self.borders + ((0, 0),))


class Cropping2D(_Borders2D):
    """Rows and columns cut from each image's borders: cropping as in Keras (an int,
    (rows, cols) or ((top, bottom), (left, right)))."""

    sign, argument = -1, "cropping"

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(cropping, data_format, **kwargs)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        (t, b), (left, r) = self.borders
        return x[:, t:x.shape[1] - b, left:x.shape[2] - r, :]


class UpSampling2D(Layer):
    """Each pixel repeated size[0] times down and size[1] times across (Keras's
    interpolation="nearest"; "bilinear" is not implemented)."""

    def __init__(self, size: Any = (2, 2), data_format: str | None = None,
                 interpolation: str = "nearest", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_channels_last(data_format, f"UpSampling2D {self.name!r}")
        if interpolation != "nearest":
            raise ValueError(f"UpSampling2D {self.name!r}: interpolation {interpolation!r} is "
                             "not implemented; use 'nearest'")
        size = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in size):
            raise ValueError(f"UpSampling2D {self.name!r}: size must be a positive int or a "
                             f"pair of them; got {size!r}")
        self.size = (int(size[0]), int(size[1]))
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise self.shape_error(input_shape, "(height, width, channels)")
        h, w, c = input_shape
        return (None if h is None else h * self.size[0],
                None if w is None else w * self.size[1], c)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return np.repeat(np.repeat(x, self.size[0], axis=1), self.size[1], axis=2)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": list(self.size),
                "interpolation": self.interpolation}


class Permute(Layer):
    """The non-batch axes reordered: dims is a permutation of 1..n (Keras counts from 1,
    the batch axis being 0)."""

    def __init__(self, dims: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        dims = tuple(int(d) for d in dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute {self.name!r}: dims must be a permutation of 1..n "
                             f"(the batch axis is 0 and stays first); got {dims!r}")
        self.dims = dims

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != len(self.dims):
            raise self.shape_error(input_shape, f"of {len(self.dims)} dimensions, as dims")
        return tuple(input_shape[d - 1] for d in self.dims)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return np.transpose(x, (0,) + self.dims)

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features): the input repeated n times."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ValueError(f"RepeatVector {self.name!r}: n must be a positive int; got {n!r}")
        self.n = int(n)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise self.shape_error(input_shape, "(features,)")
        return (self.n,) + tuple(input_shape)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return np.repeat(np.expand_dims(x, 1), self.n, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}


class Rescaling(Layer):
    """x * scale + offset in the layer's dtype (Keras's preprocessing layer:
    Rescaling(1 / 255) on uint8 images gives float32)."""

    def __init__(self, scale: float, offset: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale, self.offset = float(scale), float(offset)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        dtype = self.dtype
        if getattr(x, "dtype", None) != dtype:
            x = x.astype(dtype)
        return x * dtype.type(self.scale) + dtype.type(self.offset)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
