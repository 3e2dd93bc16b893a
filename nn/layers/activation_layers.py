"""Keras 3's activation layers: ReLU, LeakyReLU, PReLU, ELU and Softmax.

Each is its activation function (nn/activations.py) as a layer, with Keras's
arguments, defaults and checks; PReLU learns its negative slopes. Axes are
Keras's, counted with the batch axis (Softmax(axis=-1) is over the features,
PReLU(shared_axes=[1, 2]) shares one slope per channel of an image).

    >>> ReLU(max_value=6.0).call({}, np.array([-1.0, 3.0, 9.0]), None)
    array([0., 3., 6.])
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Sequence

import numpy as np

from .. import activations, backend
from .base import Context, Layer, Shape, deserialize, serialize
from .core import _Activated
from .normalization import axis_argument, full_axes


def _non_negative(value: Any, name: str, who: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not value >= 0:
        raise ValueError(f"{who}: {name} must be a number >= 0{' or None' if optional else ''}"
                         f", got {value!r}")
    return float(value)


class ReLU(Layer):
    """max(x, 0), or with Keras's arguments: x above `threshold` (else 0), capped at
    `max_value`, and negative_slope * (x - threshold) below the threshold."""

    runs_on_device = True

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"ReLU {self.name!r}"
        self.max_value = _non_negative(max_value, "max_value", who, optional=True)
        self.negative_slope = _non_negative(negative_slope, "negative_slope", who)
        self.threshold = _non_negative(threshold, "threshold", who)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return activations.relu(x, negative_slope=self.negative_slope,
                                max_value=self.max_value, threshold=self.threshold)

    def get_config(self) -> dict:
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Layer):
    """x for x >= 0, negative_slope * x below; Keras 3's default slope is 0.3 (Keras 2's
    alpha= is accepted with a DeprecationWarning)."""

    runs_on_device = True

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            alpha = kwargs.pop("alpha")
            if negative_slope != 0.3:
                raise TypeError("LeakyReLU: pass negative_slope= (Keras 3's name) or alpha= "
                                "(Keras 2's), not both")
            warnings.warn("LeakyReLU: alpha= is Keras 2's spelling; use negative_slope=",
                          DeprecationWarning, stacklevel=2)
            negative_slope = alpha
        super().__init__(**kwargs)
        self.negative_slope = _non_negative(negative_slope, "negative_slope",
                                            f"LeakyReLU {self.name!r}")

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return activations.leaky_relu(x, negative_slope=self.negative_slope)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    """x for x > 0, alpha (e^x - 1) otherwise."""

    runs_on_device = True

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer,
                                                             np.floating)):
            raise TypeError(f"ELU {self.name!r}: alpha must be a number, got {alpha!r}")
        self.alpha = float(alpha)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return activations.elu(x, alpha=self.alpha)

    def get_config(self) -> dict:
        # (Keras 3's own ELU leaves alpha out of its config; it belongs there)
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """relu(x) - alpha * relu(-x) with a learned slope alpha per input entry, shared
    along `shared_axes` (counted with the batch axis, as in Keras: shared_axes=[1, 2]
    gives one slope per channel of an image). alpha starts at zeros, as in Keras."""

    runs_on_device = True

    def __init__(self, alpha_initializer: Any = "Zeros", alpha_regularizer: Any = None,
                 alpha_constraint: Any = None, shared_axes: int | Sequence[int] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"PReLU {self.name!r}"
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = axis_argument(shared_axes, who, "shared_axes")
            self.shared_axes = axes if isinstance(axes, list) else [axes]
        self.alpha_initializer = alpha_initializer
        self._set_kernel_options(alpha_regularizer, alpha_constraint, names=("alpha",))

    def _alpha_shape(self, input_shape: Shape) -> tuple:
        shared = () if self.shared_axes is None else full_axes(
            self.shared_axes, input_shape, f"PReLU {self.name!r} shared_axes")
        shape = tuple(1 if i + 1 in shared else d for i, d in enumerate(input_shape))
        if any(d is None for d in shape):
            raise self.shape_error(input_shape, "with every dimension known, or share the "
                                   "unknown ones with shared_axes=")
        return shape

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._alpha_shape(input_shape)
        return input_shape

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        return {"alpha": self._weight(rng, self.alpha_initializer, self._alpha_shape(input_shape))}

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return backend.relu(x) - params["alpha"] * backend.relu(-x)

    def get_config(self) -> dict:
        options = self._kernel_options_config("alpha")
        return {**super().get_config(), "alpha_initializer": self.alpha_initializer,
                "alpha_regularizer": options["kernel_regularizer"],
                "alpha_constraint": options["kernel_constraint"],
                "shared_axes": self.shared_axes}


class Softmax(_Activated):
    """softmax over `axis` (the last by default; a list normalises over several axes
    together). Over the last axis it is the softmax activation itself, so a model ending
    in it trains on the logits with categorical cross-entropy, as with
    Activation("softmax")."""

    runs_on_device = True

    def __init__(self, axis: int | Sequence[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis = axis_argument(axis, f"Softmax {self.name!r}")
        last = axis == -1 or axis == [-1]
        self.activation = activations.softmax if last else functools.partial(
            _softmax_over, axis=axis, who=f"Softmax {self.name!r}")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        full_axes(self.axis, input_shape, f"Softmax {self.name!r}")
        return input_shape

    def pre_activation(self, params: dict, x: Any, ctx: Context) -> Any:
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def _softmax_over(x: Any, axis: int | list, who: str) -> Any:
    axes = full_axes(axis, np.shape(x)[1:], who)
    return backend.softmax(x, axis=axes[0] if len(axes) == 1 else axes)


class _LayersAsActivations(activations.LayerCodec):
    """Weightless layers as activations (Keras: Dense(activation=LeakyReLU(0.2))), saved
    as their {"class_name", "config"}; a layer with weights (PReLU) is refused, since
    the weights of an activation would belong to no model."""

    def serialize(self, layer: Any) -> dict | None:
        if not isinstance(layer, Layer) or not _weightless(layer):
            return None
        return serialize(layer)

    def deserialize(self, config: Any) -> Layer:
        layer = deserialize(dict(config))
        if not _weightless(layer):
            raise ValueError(f"activation {config.get('class_name')!r}: a layer used as an "
                             "activation must have no weights; add it as a layer instead")
        return layer


def _weightless(layer: Layer) -> bool:
    return type(layer).init_params is Layer.init_params and not layer.has_state


activations.use_layers(_LayersAsActivations())
