"""TimeDistributed: one layer applied to every time step of a sequence, Keras's wrapper.

The time axis is folded into the batch axis, the wrapped layer runs once on
(batch * timesteps, ...), and the result is unfolded again (Keras 2's way; Keras 3
calls the layer once per step, which gives the same values for every layer whose
output for one example depends on that example alone). The weights are the wrapped
layer's own parameter dict, so get_weights, regularizers and constraints are the
wrapped layer's, and Keras's `.weights.h5` keeps them in the wrapper's `layer`
group (nn/keras_weights.py).

>>> import numpy as np
>>> from adkit.nn.layers import Context, Dense, TimeDistributed
>>> layer = TimeDistributed(Dense(3))
>>> params = layer.init_params(np.random.default_rng(0), (5, 4))
>>> layer.call(params, np.ones((2, 5, 4), np.float32), Context()).shape
(2, 5, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Context, Layer, Shape, ShapeError, deserialize, serialize


class TimeDistributed(Layer):
    """Applies `layer` to every slice x[:, t] of inputs (batch, timesteps, ...): the
    output is (batch, timesteps, *layer's output for one step). The wrapped layer's
    weights are shared by every step."""

    def __init__(self, layer: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = deserialize(layer)
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed {self.name!r} wraps a layer instance, e.g. "
                            f"TimeDistributed(Dense(8)), got {layer!r}")
        self.layer = layer
        # the wrapped layer's weights are this layer's: so are their penalties and bounds
        self.regularizers = layer.regularizers
        self.constraints = layer.constraints
        self.has_state = layer.has_state
        self.batch_parallel = layer.batch_parallel

    def _step_shape(self, input_shape: Any) -> Shape:
        if isinstance(input_shape, list):
            raise ShapeError(f"layer {self.name!r} (TimeDistributed) takes one tensor of shape "
                             f"(batch, timesteps, ...), got a list of {len(input_shape)}")
        if len(input_shape) < 2:
            raise self.shape_error(input_shape, "(timesteps, ...): at least 3 axes with the "
                                   "batch axis, e.g. (batch, timesteps, features); a 2-D input "
                                   "has no time axis to distribute over")
        return tuple(input_shape[1:])

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        step = self.layer.compute_output_shape(self._step_shape(input_shape))
        if isinstance(step, list):
            raise ShapeError(f"layer {self.name!r} (TimeDistributed) wraps a layer with one "
                             f"output; {self.layer.name!r} gives {len(step)}")
        return (input_shape[0],) + tuple(step)

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        return self.layer.init_params(rng, self._step_shape(input_shape))

    def init_state(self, input_shape: Shape) -> dict:
        return self.layer.init_state(self._step_shape(input_shape))

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        if not hasattr(x, "shape"):
            x = np.asarray(x)
        if x.ndim < 3:
            raise self.shape_error(x.shape[1:], "(timesteps, ...): the input must be (batch, "
                                   "timesteps, ...) with at least 3 axes")
        n, steps = x.shape[0], x.shape[1]
        folded = np.reshape(x, (n * steps,) + tuple(x.shape[2:]))
        inner = ctx
        if self.has_state:
            # the wrapped layer reads and writes its state under its own name
            inner = Context(training=ctx.training, rng=ctx.rng,
                            state={self.layer.name: ctx.state.get(self.name, {})})
        y = self.layer.call(params, folded, inner)
        if self.has_state and self.layer.name in inner.new_state:
            ctx.new_state[self.name] = inner.new_state[self.layer.name]
        return np.reshape(y, (n, steps) + tuple(y.shape[1:]))

    def get_config(self) -> dict:
        return {**super().get_config(), "layer": serialize(self.layer)}
