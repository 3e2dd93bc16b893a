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
                 batch_size: int | None = None, batch_shape: Any = None,
                 **kwargs: Any) -> None:
        keras2_shape = kwargs.pop("input_shape", None)   # Keras 2: InputLayer(input_shape=)
        shape = keras2_shape if shape is None else shape
        keras2_batch_shape = kwargs.pop("batch_input_shape", None)   # Keras 2's configs
        batch_shape = keras2_batch_shape if batch_shape is None else batch_shape
        for option, off in (("sparse", False), ("ragged", False), ("optional", False),
                            ("input_tensor", None)):
            value = kwargs.pop(option, off)
            if value not in (off, None):
                raise ValueError(f"Input {option}={value!r} is not supported: adkit.nn's "
                                 "inputs are dense arrays, always given")
        if batch_shape is not None:   # Keras 3: (batch, *shape); a stateful RNN needs the batch
            if shape is not None or isinstance(batch_shape, (int, str)) or not batch_shape:
                raise TypeError(f"Input takes shape= or batch_shape=(batch, *shape), not both; "
                                f"got shape={shape!r}, batch_shape={batch_shape!r}")
            batch_size, shape = batch_shape[0], tuple(batch_shape)[1:]
        if isinstance(dtype, str) and dtype == "string":   # Keras's strings: Python objects
            dtype = "object"
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype, **kwargs)
        if shape is None:
            raise TypeError("Input needs shape=, the shape of one example without the batch "
                            "axis, e.g. Input(shape=(28, 28, 1))")
        self.shape = _as_shape(shape, self.name)
        if batch_size is not None and (isinstance(batch_size, bool) or
                                       not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"Input batch_size must be a positive int or None, got "
                             f"{batch_size!r}")
        #: the fixed batch size Input(batch_size=) / batch_shape= declares (None: any);
        #: stateful recurrent layers need one (nn/layers/stateful_rnn.py)
        self.batch_size = batch_size

    @property
    def batch_shape(self) -> tuple:
        """Keras's InputLayer.batch_shape: (batch size or None, *shape)."""
        return (self.batch_size,) + tuple(self.shape)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return self.shape

    def call(self, params: dict, x: Any, ctx: Any) -> Any:
        return x

    def get_config(self) -> dict:
        config = {"name": self.name, "dtype": self.dtype.name, "shape": list(self.shape)}
        if self.batch_size is not None:
            config["batch_size"] = self.batch_size
        return config


def Input(shape: Any = None, name: str | None = None, dtype: str = "float32",
          batch_size: int | None = None, batch_shape: Any = None) -> KerasTensor:
    """A symbolic input of `shape` (one example, batch axis excluded), Keras's Input.
    batch_size (or batch_shape=(batch, *shape)) fixes the batch size a stateful
    recurrent layer downstream keeps its states for; the tensors' batch axis stays None.

    >>> from adkit.nn import Input
    >>> Input(shape=(28, 28, 1), name="image")
    <KerasTensor shape=(None, 28, 28, 1), dtype=float32, name='image'>
    """
    if isinstance(shape, str):
        raise TypeError(f"Input shape must be a tuple of ints, got {shape!r}")
    return input_tensor(InputLayer(shape=shape, name=name, dtype=dtype, batch_size=batch_size,
                                   batch_shape=batch_shape))


def input_tensor(layer: InputLayer) -> KerasTensor:
    """The KerasTensor an InputLayer gives: the start of a graph."""
    node = Node(layer, [])
    node.outputs = [KerasTensor(layer.shape, layer.dtype, node)]
    return node.outputs[0]
