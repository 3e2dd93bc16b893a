"""Merge layers, Keras names: layers called on a list of tensors that give one.

Add, Subtract, Multiply, Average, Maximum and Minimum combine tensors of one shape
elementwise; Concatenate joins them along an axis; Dot takes dot products of two
tensors along given axes (cosine similarities with normalize=True). None has
weights. Shapes exclude the batch axis; an `axis` counts it, as in Keras (axis=1
is the first axis of each example, -1 the last).

>>> import numpy as np
>>> from adkit.nn.layers import Add
>>> Add()([np.ones((2, 3)), np.full((2, 3), 2.0)])[0]
array([3., 3., 3.])
"""

from __future__ import annotations

from functools import reduce
from typing import Any

import numpy as np

from .base import Context, Layer, Shape, ShapeError


class _Merge(Layer):
    """Takes a list of at least `min_inputs` tensors (at most `max_inputs`)."""

    min_inputs = 2
    max_inputs: int | None = None

    def _check_inputs(self, input_shapes: Any) -> list[Shape]:
        kind = type(self).__name__
        if not isinstance(input_shapes, list):
            raise ShapeError(f"layer {self.name!r} ({kind}) merges a list of tensors; call it "
                             f"on a list, e.g. {kind}()([a, b])")
        n = len(input_shapes)
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            wanted = self.min_inputs if self.max_inputs == self.min_inputs else \
                f"at least {self.min_inputs}"
            raise ShapeError(f"layer {self.name!r} ({kind}) takes {wanted} tensors, got {n}")
        return [tuple(s) for s in input_shapes]

    def _as_list(self, x: Any) -> list:
        if not isinstance(x, (list, tuple)):
            raise ShapeError(f"layer {self.name!r} ({type(self).__name__}) merges a list of "
                             "tensors; call it on a list")
        return list(x)


class _Elementwise(_Merge):
    """Tensors of one shape combined elementwise by `combine`."""

    runs_on_device = True   # +, -, * and np.maximum/minimum work on DeviceArrays

    def compute_output_shape(self, input_shapes: Any) -> Shape:
        shapes = self._check_inputs(input_shapes)
        first = shapes[0]
        for i, s in enumerate(shapes[1:], 1):
            if len(s) != len(first) or any(a is not None and b is not None and a != b
                                           for a, b in zip(first, s)):
                raise ShapeError(
                    f"layer {self.name!r} ({type(self).__name__}) combines tensors of one "
                    f"shape, but input 0 has shape {(None,) + first} and input {i} has shape "
                    f"{(None,) + s}; make them equal (e.g. with a Dense or Reshape layer)")
        return tuple(next((v for v in dims if v is not None), None) for dims in zip(*shapes))

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        xs = self._as_list(x)
        if len({np.shape(a) for a in xs}) > 1:
            raise ShapeError(f"layer {self.name!r} ({type(self).__name__}) combines tensors "
                             f"of one shape, got shapes {[np.shape(a) for a in xs]}")
        return self.combine(xs)

    def combine(self, xs: list) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define combine(xs): one "
                                  "tensor from the list of its inputs (all of one shape)")


class Add(_Elementwise):
    """The sum of its inputs: Add()([a, b, ...])."""

    def combine(self, xs: list) -> Any:
        return reduce(lambda a, b: a + b, xs)


class Subtract(_Elementwise):
    """The difference of exactly two inputs: Subtract()([a, b]) is a - b."""

    max_inputs = 2

    def combine(self, xs: list) -> Any:
        return xs[0] - xs[1]


class Multiply(_Elementwise):
    """The elementwise product of its inputs."""

    def combine(self, xs: list) -> Any:
        return reduce(lambda a, b: a * b, xs)


class Average(_Elementwise):
    """The elementwise mean of its inputs."""

    def combine(self, xs: list) -> Any:
        return reduce(lambda a, b: a + b, xs) * (1.0 / len(xs))


class Maximum(_Elementwise):
    """The elementwise maximum of its inputs."""

    def combine(self, xs: list) -> Any:
        return reduce(np.maximum, xs)


class Minimum(_Elementwise):
    """The elementwise minimum of its inputs."""

    def combine(self, xs: list) -> Any:
        return reduce(np.minimum, xs)


class Concatenate(_Merge):
    """Joins its inputs along `axis` (default -1, the last); the other axes must agree."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"Concatenate axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def _example_axis(self, rank: int) -> int:
        """The axis within an example (the batch axis is 0 in Keras's count)."""
        k = _example_axis(self.axis, rank)
        if k is None:
            raise ShapeError(f"layer {self.name!r} (Concatenate): axis {self.axis} is not an "
                             f"axis of inputs with {rank} axes per example (the batch axis, "
                             "0, cannot be joined)")
        return k

    def compute_output_shape(self, input_shapes: Any) -> Shape:
        shapes = self._check_inputs(input_shapes)
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ShapeError(f"layer {self.name!r} (Concatenate) joins tensors with the same "
                             f"number of axes, got shapes {[(None,) + s for s in shapes]}")
        axis = self._example_axis(rank)
        out = list(shapes[0])
        for i, s in enumerate(shapes[1:], 1):
            for d in range(rank):
                if d != axis and s[d] != shapes[0][d]:
                    raise ShapeError(
                        f"layer {self.name!r} (Concatenate) joins along axis {self.axis}, so "
                        "the other axes must agree, but input 0 has shape "
                        f"{(None,) + shapes[0]} and input {i} has shape {(None,) + s}")
            out[axis] = None if out[axis] is None or s[axis] is None else out[axis] + s[axis]
        return tuple(out)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        xs = self._as_list(x)
        axis = self._example_axis(np.ndim(xs[0]) - 1) + 1
        return np.concatenate(xs, axis=axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class Dot(_Merge):
    """Dot products of two inputs along `axes` (an int for both, or a pair; the batch
    axis is 0): inputs (batch, n) and (batch, n) with axes=1 give (batch, 1).
    normalize=True divides each input by its L2 norm along its axis first, so the
    result is the cosine similarity."""

    max_inputs = 2

    def __init__(self, axes: int | tuple[int, int], normalize: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pair = (axes, axes) if isinstance(axes, (int, np.integer)) else tuple(axes)
        if len(pair) != 2 or any(isinstance(a, bool) or not isinstance(a, (int, np.integer))
                                 for a in pair):
            raise TypeError(f"Dot axes must be an int or a pair of ints, got {axes!r}")
        self.axes = tuple(int(a) for a in pair)
        self.normalize = bool(normalize)

    def _example_axes(self, shapes: list[Shape]) -> tuple[int, int]:
        found = []
        for i, (axis, s) in enumerate(zip(self.axes, shapes)):
            k = _example_axis(axis, len(s))
            if k is None:
                raise ShapeError(f"layer {self.name!r} (Dot): axis {axis} is not an axis of "
                                 f"input {i}, of shape {(None,) + s} (the batch axis, 0, "
                                 "cannot be contracted)")
            found.append(k)
        return found[0], found[1]

    def compute_output_shape(self, input_shapes: Any) -> Shape:
        shapes = self._check_inputs(input_shapes)
        a, b = self._example_axes(shapes)
        if shapes[0][a] != shapes[1][b]:
            raise ShapeError(
                f"layer {self.name!r} (Dot) contracts axis {self.axes[0]} of input 0 (shape "
                f"{(None,) + shapes[0]}) with axis {self.axes[1]} of input 1 (shape "
                f"{(None,) + shapes[1]}): sizes {shapes[0][a]} and {shapes[1][b]} differ")
        rest = shapes[0][:a] + shapes[0][a + 1:] + shapes[1][:b] + shapes[1][b + 1:]
        return rest or (1,)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        u, v = self._as_list(x)
        a, b = self._example_axes([np.shape(u)[1:], np.shape(v)[1:]])
        if self.normalize:
            u, v = _l2_normalized(u, a + 1), _l2_normalized(v, b + 1)
        u = np.moveaxis(u, a + 1, -1)                        # (batch, *u_rest, n)
        v = np.moveaxis(v, b + 1, 1)                         # (batch, n, *v_rest)
        batch, n = u.shape[0], u.shape[-1]
        u_rest, v_rest = tuple(u.shape[1:-1]), tuple(v.shape[2:])
        out = np.reshape(u, (batch, -1, n)) @ np.reshape(v, (batch, n, -1))
        return np.reshape(out, (batch,) + (u_rest + v_rest or (1,)))

    def get_config(self) -> dict:
        return {**super().get_config(), "axes": list(self.axes), "normalize": self.normalize}

    @classmethod
    def from_config(cls, config: dict) -> "Dot":
        return cls(**{**config, "axes": tuple(config["axes"])})


def _example_axis(axis: int, rank: int) -> int | None:
    """The axis within an example of `rank` axes that Keras's `axis` (counting the batch
    axis as 0) names, or None for the batch axis or an axis out of range."""
    k = axis - 1 if axis > 0 else rank + axis
    return k if axis != 0 and 0 <= k < rank else None


def _l2_normalized(x: Any, axis: int) -> Any:
    """x / ||x|| along axis, with the norm floored at 1e-6 as Keras's l2_normalize
    floors the squared norm at 1e-12."""
    return x / np.sqrt(np.maximum(np.sum(x * x, axis=axis, keepdims=True), 1e-12))
