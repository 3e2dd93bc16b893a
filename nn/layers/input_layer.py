"""Where a functional graph starts: `Input(shape=...)` and the `InputLayer` it makes.

>>> from adkit.nn.layers import Input
>>> Input(shape=(3,), name="features").shape
(None, 3)
"""

from __future__ import annotations

from typing import Any

from .base import Layer, _as_shape, unique_name
from .nodes import KerasTensor, Node


class InputLayer(Layer):
    """The source of a graph's input: what `Input(shape=...)` makes (no weights)."""

    runs_on_device = True

    def __init__(self, shape: Any = None, name: str | None = None, dtype: str = "float32",
                 **kwargs: Any) -> None:
        keras2_shape = kwargs.pop("input_shape", None)   # Keras 2: InputLayer(input_shape=)
        shape = keras2_shape if shape is None else shape
        if isinstance(dtype, str) and dtype == "string":   # Keras's strings: Python objects
            dtype = "object"
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype, **kwargs)
        if shape is None:
            raise TypeError("Input needs shape=, the shape of one example without the batch "
                            "axis, e.g. Input(shape=(28, 28, 1))")
        self.shape = _as_shape(shape, self.name)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return self.shape

    def call(self, params: dict, x: Any, ctx: Any) -> Any:
        return x

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype.name, "shape": list(self.shape)}


def Input(shape: Any = None, name: str | None = None, dtype: str = "float32",
          batch_size: int | None = None) -> KerasTensor:
    """A symbolic input of `shape` (one example, batch axis excluded), Keras's Input.
    batch_size is accepted for Keras's signature; the batch axis stays dynamic.

    >>> from adkit.nn import Input
    >>> Input(shape=(28, 28, 1), name="image")
    <KerasTensor shape=(None, 28, 28, 1), dtype=float32, name='image'>
    """
    if isinstance(shape, str):
        raise TypeError(f"Input shape must be a tuple of ints, got {shape!r}")
    return input_tensor(InputLayer(shape=shape, name=name, dtype=dtype))


def input_tensor(layer: InputLayer) -> KerasTensor:
    """The KerasTensor an InputLayer gives: the start of a graph."""
    node = Node(layer, [])
    node.outputs = [KerasTensor(layer.shape, layer.dtype, node)]
    return node.outputs[0]
