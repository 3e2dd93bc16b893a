"""BatchNormalization (Ioffe & Szegedy 2015), Keras semantics."""

from __future__ import annotations

from typing import Any

import numpy as np

import adkit

from .base import Context, Layer, Shape


class BatchNormalization(Layer):
    """Normalise over the batch (and spatial axes) per feature on the last axis.

    Training uses the batch statistics and updates the moving averages with
    `momentum`; inference uses the moving averages.
    """

    has_state = True

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if axis != -1:
            raise ValueError("BatchNormalization normalises the last (channels) axis only; "
                             f"got axis={axis!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"BatchNormalization momentum must be in [0, 1), got {momentum!r}")
        if not epsilon > 0:
            raise ValueError(f"BatchNormalization epsilon must be > 0, got {epsilon!r}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = center, scale

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if not input_shape or input_shape[-1] is None:
            raise self.shape_error(input_shape, "(..., features) with known features")
        return input_shape

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        n = input_shape[-1]
        params = {}
        if self.scale:
            params["gamma"] = np.ones(n, self.dtype)
        if self.center:
            params["beta"] = np.zeros(n, self.dtype)
        return params

    def init_state(self, input_shape: Shape) -> dict:
        n = input_shape[-1]
        return {"moving_mean": np.zeros(n, self.dtype), "moving_variance": np.ones(n, self.dtype)}

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        state = ctx.state[self.name]
        if ctx.training:
            axes = tuple(range(np.ndim(x) - 1))
            mean = np.mean(x, axis=axes)
            centred = x - mean
            var = np.mean(centred * centred, axis=axes)
            m = self.momentum
            ctx.new_state[self.name] = {
                "moving_mean": (m * state["moving_mean"]
                                + (1 - m) * adkit.stop_gradient(mean)).astype(self.dtype),
                "moving_variance": (m * state["moving_variance"]
                                    + (1 - m) * adkit.stop_gradient(var)).astype(self.dtype)}
            y = centred / np.sqrt(var + self.epsilon)
        else:
            y = (x - state["moving_mean"]) / np.sqrt(state["moving_variance"] + self.epsilon)
        if self.scale:
            y = y * params["gamma"]
        if self.center:
            y = y + params["beta"]
        return y

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}
