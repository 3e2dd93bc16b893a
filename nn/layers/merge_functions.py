"""Keras's functional spellings of the merge layers: `layers.add([a, b])` is
`layers.Add()([a, b])`, and so on, as Keras code writes them (the functional API
guide's `layers.add`, `layers.concatenate`, `layers.average`).

>>> from adkit.nn import Input
>>> from adkit.nn.layers import concatenate
>>> a, b = Input(shape=(3,)), Input(shape=(2,))
>>> concatenate([a, b]).shape
(None, 5)
"""

from __future__ import annotations

from typing import Any

from .merge import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract

__all__ = ["add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate",
           "dot"]


def add(inputs: list, **kwargs: Any) -> Any:
    """`Add(**kwargs)(inputs)`: the elementwise sum of the inputs."""
    return Add(**kwargs)(inputs)


def subtract(inputs: list, **kwargs: Any) -> Any:
    """`Subtract(**kwargs)(inputs)`: the first of two inputs minus the second."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs: list, **kwargs: Any) -> Any:
    """`Multiply(**kwargs)(inputs)`: the elementwise product of the inputs."""
    return Multiply(**kwargs)(inputs)


def average(inputs: list, **kwargs: Any) -> Any:
    """`Average(**kwargs)(inputs)`: the elementwise mean of the inputs."""
    return Average(**kwargs)(inputs)


def maximum(inputs: list, **kwargs: Any) -> Any:
    """`Maximum(**kwargs)(inputs)`: the elementwise maximum of the inputs."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs: list, **kwargs: Any) -> Any:
    """`Minimum(**kwargs)(inputs)`: the elementwise minimum of the inputs."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs: list, axis: int = -1, **kwargs: Any) -> Any:
    """`Concatenate(axis, **kwargs)(inputs)`: the inputs joined along `axis`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs: list, axes: int | tuple[int, int], normalize: bool = False,
        **kwargs: Any) -> Any:
    """`Dot(axes, normalize, **kwargs)(inputs)`: the dot product of two inputs along `axes`."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
