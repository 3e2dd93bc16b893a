"""Normalisation layers, Keras 3 semantics: BatchNormalization (Ioffe & Szegedy 2015),
LayerNormalization (Ba et al. 2016), RMSNormalization (Zhang & Sennrich 2019),
GroupNormalization (Wu & He 2018) and UnitNormalization.

Keras counts `axis` over the whole input, the batch axis included (axis=1 is the first
axis of an example; -1 the last), and so do these layers, though adkit's shapes leave the
batch axis out.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

import adkit

from .base import Context, Layer, Shape


def full_axes(axis: int | Sequence[int], input_shape: Shape, who: str) -> tuple[int, ...]:
    """Keras's axis (an int or a list, counted over the input with its batch axis) as
    sorted non-negative axes of that full input; ValueError for the batch axis, an axis
    out of range or a repeated one.

    >>> full_axes(-1, (4, 5), "layer"), full_axes([1, -1], (4, 5), "layer")
    ((2,), (1, 2))
    """
    rank = len(input_shape) + 1
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -rank <= a < rank:
            raise ValueError(f"{who}: axis {a!r} is out of bounds for input shape "
                             f"{(None, *input_shape)} (batch axis first); use 1..{rank - 1} "
                             "or -1 for the last")
        a = int(a) % rank
        if a == 0:
            raise ValueError(f"{who}: axis 0 is the batch axis, which this layer does not "
                             f"normalise over; use axes 1..{rank - 1} (or -1 for the last)")
        out.append(a)
    if len(set(out)) != len(out) or not out:
        raise ValueError(f"{who}: axis {axis!r} names an axis twice, or none")
    return tuple(sorted(out))


def standardise(x: Any, axes: tuple[int, ...], epsilon: float) -> Any:
    """(x - mean) / sqrt(variance + epsilon), mean and (biased) variance over `axes`.

    >>> standardise(np.array([[1.0, 3.0]]), (1,), 0.0)
    array([[-1.,  1.]])
    """
    centred = x - np.mean(x, axis=axes, keepdims=True)
    var = np.mean(centred * centred, axis=axes, keepdims=True)
    return centred / np.sqrt(var + epsilon)


def axis_argument(axis: Any, who: str, name: str = "axis") -> int | list[int]:
    """axis as Keras keeps it (an int, or a list of ints), TypeError naming the argument
    (`name`) for anything else.

    >>> axis_argument((1, 2), "layer"), axis_argument(-1, "layer")
    ([1, 2], -1)
    """
    if isinstance(axis, (list, tuple)) and all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis):
        return [int(a) for a in axis]
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return int(axis)
    raise TypeError(f"{who}: {name} must be an int or a list of ints, got {axis!r}")


class _ScaleAndShift(Layer):
    """gamma and beta weights, Keras's options for them, and their config."""

    def _set_scale_and_shift(self, center: bool, scale: bool, beta_initializer: Any,
                             gamma_initializer: Any, beta_regularizer: Any,
                             gamma_regularizer: Any, beta_constraint: Any,
                             gamma_constraint: Any) -> None:
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        if self.scale:
            self._set_kernel_options(gamma_regularizer, gamma_constraint, names=("gamma",))
        if self.center:
            self._set_kernel_options(beta_regularizer, beta_constraint, names=("beta",))

    def _scale_and_shift_params(self, rng: np.random.Generator, shape: tuple) -> dict:
        params = {}   # Keras's weight order: gamma, then beta
        if self.scale:
            params["gamma"] = self._weight(rng, self.gamma_initializer, shape)
        if self.center:
            params["beta"] = self._weight(rng, self.beta_initializer, shape)
        return params

    def _scale_and_shift(self, params: dict, y: Any, where: tuple) -> Any:
        """y * gamma + beta, each reshaped to `where` (1s on the axes it broadcasts over)."""
        if self.scale:
            y = y * np.reshape(params["gamma"], where)
        if self.center:
            y = y + np.reshape(params["beta"], where)
        return y

    def _scale_and_shift_config(self) -> dict:
        config = {"center": self.center, "scale": self.scale,
                  "beta_initializer": self.beta_initializer,
                  "gamma_initializer": self.gamma_initializer}
        for weight in ("beta", "gamma"):
            options = self._kernel_options_config(weight)
            config[f"{weight}_regularizer"] = options["kernel_regularizer"]
            config[f"{weight}_constraint"] = options["kernel_constraint"]
        return config


class BatchNormalization(_ScaleAndShift):
    """Normalise each feature of `axis` (the last, channels, by default; counted with the
    batch axis, as in Keras) over the batch and every other axis.

    Training uses the batch statistics and moves the moving averages towards them by
    1 - `momentum`; inference uses the moving averages. Weights in Keras's order:
    gamma, beta (trainable), moving_mean, moving_variance (state).

    >>> BatchNormalization(axis=1).compute_output_shape((3, 8, 8))
    (3, 8, 8)
    """

    has_state = True

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", moving_mean_initializer: Any = "zeros",
                 moving_variance_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, synchronized: bool = False,
                 renorm: bool = False, renorm_clipping: Any = None,
                 renorm_momentum: float = 0.99, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"BatchNormalization {self.name!r}"
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{who}: axis must be an int (the features axis), got {axis!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"{who}: momentum must be in [0, 1), got {momentum!r}")
        if not epsilon > 0:
            raise ValueError(f"{who}: epsilon must be > 0, got {epsilon!r}")
        if synchronized:
            raise ValueError(f"{who}: synchronized=True (Keras: TensorFlow's distributed "
                             "batch statistics) is not supported; each batch is normalised "
                             "by its own statistics")
        if renorm or renorm_clipping is not None:
            raise ValueError(f"{who}: batch renormalisation (renorm=True, renorm_clipping) "
                             "is not supported")
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self._set_scale_and_shift(center, scale, beta_initializer, gamma_initializer,
                                  beta_regularizer, gamma_regularizer, beta_constraint,
                                  gamma_constraint)

    def _features_axis(self, input_shape: Shape) -> int:
        """The normalised axis of the full input (batch first), its length known."""
        (axis,) = full_axes(self.axis, input_shape, f"BatchNormalization {self.name!r}")
        if input_shape[axis - 1] is None:
            raise self.shape_error(input_shape, f"with a known length on axis {self.axis}")
        return axis

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._features_axis(input_shape)
        return input_shape

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        n = input_shape[self._features_axis(input_shape) - 1]
        return self._scale_and_shift_params(rng, (n,))

    def init_state(self, input_shape: Shape) -> dict:
        n = input_shape[self._features_axis(input_shape) - 1]
        rng = np.random.default_rng(0)   # (the usual zeros and ones draw nothing)
        return {"moving_mean": self._weight(rng, self.moving_mean_initializer, (n,)),
                "moving_variance": self._weight(rng, self.moving_variance_initializer, (n,))}

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        state = ctx.state[self.name]
        axis = self._features_axis(np.shape(x)[1:])
        where = _broadcast_shape(x, (axis,))
        if ctx.training:
            axes = tuple(a for a in range(np.ndim(x)) if a != axis)
            mean = np.mean(x, axis=axes, keepdims=True)
            centred = x - mean
            var = np.mean(centred * centred, axis=axes, keepdims=True)
            m = self.momentum
            ctx.new_state[self.name] = {
                "moving_mean": (m * state["moving_mean"] + (1 - m) * np.reshape(
                    adkit.stop_gradient(mean), (-1,))).astype(self.dtype),
                "moving_variance": (m * state["moving_variance"] + (1 - m) * np.reshape(
                    adkit.stop_gradient(var), (-1,))).astype(self.dtype)}
            y = centred / np.sqrt(var + self.epsilon)
        else:
            y = (x - np.reshape(state["moving_mean"], where)) / np.sqrt(
                np.reshape(state["moving_variance"], where) + self.epsilon)
        return self._scale_and_shift(params, y, where)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, **self._scale_and_shift_config(),
                "moving_mean_initializer": self.moving_mean_initializer,
                "moving_variance_initializer": self.moving_variance_initializer,
                "synchronized": False}


class _OverAxes(Layer):
    """A layer normalising over Keras's `axis` (an int or a list), with weights of the
    normalised axes' shape."""

    axis: int | list[int]

    def _known_axes(self, input_shape: Shape) -> tuple[int, ...]:
        axes = full_axes(self.axis, input_shape, f"{type(self).__name__} {self.name!r}")
        if any(input_shape[a - 1] is None for a in axes):
            raise self.shape_error(input_shape, f"with known lengths on axes {list(axes)}")
        return axes

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._known_axes(input_shape)
        return input_shape

    def _weight_shape(self, input_shape: Shape) -> tuple:
        return tuple(input_shape[a - 1] for a in self._known_axes(input_shape))

    def _call_axes(self, x: Any) -> tuple[int, ...]:
        return full_axes(self.axis, np.shape(x)[1:], f"{type(self).__name__} {self.name!r}")


def _broadcast_shape(x: Any, axes: tuple[int, ...]) -> tuple:
    """x's shape with 1 on every axis but `axes`: how weights of those axes' shape
    broadcast over x."""
    return tuple(n if a in axes else 1 for a, n in enumerate(np.shape(x)))


class LayerNormalization(_ScaleAndShift, _OverAxes):
    """Normalise each example over `axis` (the last by default, or a list of axes):
    (x - mean) / sqrt(variance + epsilon), then * gamma + beta, gamma and beta of the
    normalised axes' shape. The same in training and inference (no moving statistics).

    >>> from adkit.nn import Sequential, layers
    >>> model = Sequential([layers.LayerNormalization(input_shape=(3,))])
    >>> model.predict(np.array([[1.0, 2.0, 3.0]], np.float32), verbose=0).round(3)
    array([[-1.224,  0.   ,  1.224]], dtype=float32)
    """

    runs_on_device = True

    def __init__(self, axis: int | Sequence[int] = -1, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, rms_scaling: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"LayerNormalization {self.name!r}"
        self.rms_scaling = bool(rms_scaling)
        if self.rms_scaling:
            warnings.warn(f"{who}: rms_scaling=True is deprecated in Keras 3 (it divides by "
                          "the standard deviation without centring, not by the root mean "
                          "square); use RMSNormalization", DeprecationWarning, stacklevel=2)
            center, scale = False, True   # Keras: gamma only, and no centring
        self.axis = axis_argument(axis, who)
        if not epsilon > 0:
            raise ValueError(f"{who}: epsilon must be > 0, got {epsilon!r}")
        self.epsilon = float(epsilon)
        self._set_scale_and_shift(center, scale, beta_initializer, gamma_initializer,
                                  beta_regularizer, gamma_regularizer, beta_constraint,
                                  gamma_constraint)

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        return self._scale_and_shift_params(rng, self._weight_shape(input_shape))

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        axes = self._call_axes(x)
        if self.rms_scaling:   # Keras's deprecated form: x / sqrt(var + epsilon), uncentred
            y = x / np.sqrt(np.var(x, axis=axes, keepdims=True) + self.epsilon)
        else:
            y = standardise(x, axes, self.epsilon)
        return self._scale_and_shift(params, y, _broadcast_shape(x, axes))

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "rms_scaling": self.rms_scaling, **self._scale_and_shift_config()}


class RMSNormalization(_OverAxes):
    """x / sqrt(mean(x^2) + epsilon) over `axis` (the last by default, or a list), times
    a learned `scale` of the normalised axes' shape (initialised to ones): layer
    normalisation without centring.

    >>> RMSNormalization().compute_output_shape((7, 4))
    (7, 4)
    """

    runs_on_device = True

    def __init__(self, axis: int | Sequence[int] = -1, epsilon: float = 1e-6,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"RMSNormalization {self.name!r}"
        self.axis = axis_argument(axis, who)
        if not epsilon > 0:
            raise ValueError(f"{who}: epsilon must be > 0, got {epsilon!r}")
        self.epsilon = float(epsilon)

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        return {"scale": self._weight(rng, "ones", self._weight_shape(input_shape))}

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        axes = self._call_axes(x)
        y = x / np.sqrt(np.mean(x * x, axis=axes, keepdims=True) + self.epsilon)
        return y * np.reshape(params["scale"], _broadcast_shape(x, axes))

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


class GroupNormalization(_ScaleAndShift):
    """Split the channels (`axis`, the last by default) into `groups` groups and
    normalise each example's group over its channels and every other axis but the batch
    (groups=-1: one group per channel, instance normalisation; groups=1: layer
    normalisation over the whole example); then * gamma + beta per channel.

    >>> GroupNormalization(groups=2).compute_output_shape((5, 5, 4))
    (5, 5, 4)
    """

    runs_on_device = True

    def __init__(self, groups: int = 32, axis: int = -1, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"GroupNormalization {self.name!r}"
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or (
                groups <= 0 and groups != -1):
            raise ValueError(f"{who}: groups must be a positive int (or -1 for instance "
                             f"normalisation), got {groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{who}: axis must be an int (the channels axis), got {axis!r}")
        if not epsilon > 0:
            raise ValueError(f"{who}: epsilon must be > 0, got {epsilon!r}")
        self.groups, self.axis, self.epsilon = int(groups), int(axis), float(epsilon)
        self._set_scale_and_shift(center, scale, beta_initializer, gamma_initializer,
                                  beta_regularizer, gamma_regularizer, beta_constraint,
                                  gamma_constraint)

    def _geometry(self, input_shape: Shape) -> tuple[int, int, int]:
        """(channels axis of the full input, channels, groups), checked."""
        who = f"GroupNormalization {self.name!r}"
        (axis,) = full_axes(self.axis, input_shape, who)
        channels = input_shape[axis - 1]
        if channels is None:
            raise self.shape_error(input_shape, f"with a known length on axis {self.axis}")
        groups = channels if self.groups == -1 else self.groups
        if groups > channels or channels % groups:
            raise ValueError(f"{who}: {channels} channels (axis {self.axis}) cannot be split "
                             f"into {groups} equal groups; pick groups dividing {channels}")
        return axis, channels, groups

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._geometry(input_shape)
        return input_shape

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        return self._scale_and_shift_params(rng, (self._geometry(input_shape)[1],))

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        shape = tuple(np.shape(x))
        axis, channels, groups = self._geometry(shape[1:])
        grouped = np.reshape(x, shape[:axis] + (groups, channels // groups) + shape[axis + 1:])
        axes = tuple(a for a in range(1, len(shape) + 1) if a != axis)
        y = np.reshape(standardise(grouped, axes, self.epsilon), shape)
        return self._scale_and_shift(params, y, _broadcast_shape(x, (axis,)))

    def get_config(self) -> dict:
        return {**super().get_config(), "groups": self.groups, "axis": self.axis,
                "epsilon": self.epsilon, **self._scale_and_shift_config()}


class UnitNormalization(Layer):
    """Scale each example to unit L2 norm over `axis` (the last by default, or a list):
    x / max(||x||, 1e-12), as Keras (an all-zero slice stays zero). No weights.

    >>> UnitNormalization().call({}, np.array([[3.0, 4.0]]), None)
    array([[0.6, 0.8]])
    """

    runs_on_device = True

    def __init__(self, axis: int | Sequence[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis_argument(axis, f"UnitNormalization {self.name!r}")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        full_axes(self.axis, input_shape, f"UnitNormalization {self.name!r}")
        return input_shape

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        axes = full_axes(self.axis, np.shape(x)[1:], f"UnitNormalization {self.name!r}")
        squares = np.sum(x * x, axis=axes, keepdims=True)
        # Keras: x * min(rsqrt(sum x^2), 1e12); through maximum the derivative at 0 stays finite
        return x / np.sqrt(np.maximum(squares, 1e-24))

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}
