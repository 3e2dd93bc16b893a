"""Keras 3's regularisation layers that add noise in training: GaussianNoise,
GaussianDropout, AlphaDropout, SpatialDropout1D/2D/3D; and ActivityRegularization.

Like Dropout, each acts only when the forward pass trains (identity in predict
and evaluate) and draws its numbers from the step's generator (`ctx.random`),
seeded by the model's seed and the step. A compiled training step learns which
draws the layers make and makes them afresh on the host every step
(nn/compiled_step.py), so it draws the same numbers as the eager step, and new
ones each step. A layer's `seed=` is Keras's argument, kept in its config; the
numbers come from the model's generator (Sequential(seed=...)). On an OpenCL device
the Gaussian noise and AlphaDropout's mask are drawn on the host, as on the CPU, and
go up in one counted transfer each; SpatialDropout's mask is the device's own dropout
kernel, as Dropout's.

    >>> from adkit.nn.layers import Context
    >>> x = np.ones((2, 3), np.float32)
    >>> GaussianNoise(0.1).call({}, x, Context(training=False)) is x
    True
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from adkit import stop_gradient

from .. import activations, backend
from .base import Context, Layer, Shape, check_channels_last, check_seed


def _rate(value: Any, name: str, who: str, high: float = 1.0, closed: bool = False) -> float:
    inside = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool) and (0 <= value <= high if closed else 0 <= value < high)
    if not inside:
        interval = f"[0, {high:g}]" if closed else f"[0, {high:g})"
        raise ValueError(f"{who}: {name} must be a number in {interval}, got {value!r}")
    return float(value)


def _float_dtype(x: Any) -> np.dtype:
    v = stop_gradient(x)
    dtype = np.dtype(getattr(v, "dtype", np.float64))
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


class _Noise(Layer):
    """A layer that changes its input only in training, with numbers from the step's
    generator; `active(ctx)` says whether this pass draws."""

    seed: int | None

    def active(self, ctx: Context) -> bool:
        return bool(ctx.training) and self._strength() > 0

    def _strength(self) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define _strength(): the "
                                  "rate or stddev that is 0 when the layer does nothing")

    def _generator(self, ctx: Context) -> Any:
        return ctx.random(f"{type(self).__name__} {self.name!r}")

    def _standard_normal(self, ctx: Context, x: Any) -> np.ndarray:
        """Standard normal draws of x's shape and float dtype, from the step's generator."""
        return self._generator(ctx).standard_normal(np.shape(stop_gradient(x)),
                                                    dtype=_float_dtype(x))

    @staticmethod
    def _where_x_is(noise: np.ndarray) -> Any:
        """noise drawn on the host, on the device the step runs on (a counted transfer;
        the numbers are the host's, so a device step draws what a CPU step draws)."""
        to_device = getattr(backend.get_backend(), "to_device", None)
        return noise if to_device is None else to_device(noise)


class GaussianNoise(_Noise):
    """x + noise of mean 0 and standard deviation `stddev` in training (Keras takes
    stddev in [0, 1]); x unchanged in inference."""

    runs_on_device = True

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"GaussianNoise {self.name!r}"
        self.stddev = _rate(stddev, "stddev", who, closed=True)
        self.seed = check_seed(seed, who)

    def _strength(self) -> float:
        return self.stddev

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        if not self.active(ctx):
            return x
        noise = self._standard_normal(ctx, x)
        return x + self._where_x_is(noise.dtype.type(self.stddev) * noise)

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_Noise):
    """x times noise of mean 1 and standard deviation sqrt(rate / (1 - rate)) in
    training (multiplicative Gaussian dropout, Srivastava et al. 2014); x unchanged in
    inference."""

    runs_on_device = True

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"GaussianDropout {self.name!r}"
        self.rate = _rate(rate, "rate", who)
        self.seed = check_seed(seed, who)

    def _strength(self) -> float:
        return self.rate

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        if not self.active(ctx):
            return x
        noise = self._standard_normal(ctx, x)
        stddev = noise.dtype.type(math.sqrt(self.rate / (1.0 - self.rate)))
        return x * self._where_x_is(noise * stddev + noise.dtype.type(1.0))

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def _noise_shape(noise_shape: Any, x_shape: tuple, who: str) -> tuple:
    """Keras's noise_shape (batch axis first, None for the input's length) made concrete
    for an input of x_shape; each length 1 or the input's."""
    if noise_shape is None:
        return tuple(x_shape)
    if len(noise_shape) != len(x_shape):
        raise ValueError(f"{who}: noise_shape {tuple(noise_shape)} needs one entry per axis "
                         f"of the input (batch first), which has shape {x_shape}")
    shape = tuple(int(d) if n is None else int(n) for n, d in zip(noise_shape, x_shape))
    if any(n not in (1, d) for n, d in zip(shape, x_shape)):
        raise ValueError(f"{who}: noise_shape {tuple(noise_shape)} must have 1 or the "
                         f"input's length on each axis; the input has shape {x_shape}")
    return shape


class AlphaDropout(_Noise):
    """Dropout for self-normalising (selu) networks (Klambauer et al. 2017): dropped
    units are set to selu's negative saturation, -alpha * scale, and an affine map
    a x + b keeps the mean and variance of unit-Gaussian inputs. Identity in inference.
    noise_shape (batch axis first, None for the input's length) shares the mask along
    axes of length 1."""

    runs_on_device = True

    def __init__(self, rate: float, noise_shape: Sequence[int | None] | None = None,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"AlphaDropout {self.name!r}"
        self.rate = _rate(rate, "rate", who)
        self.seed = check_seed(seed, who)
        if noise_shape is not None and (isinstance(noise_shape, (str, int)) or not all(
                n is None or (isinstance(n, (int, np.integer)) and n > 0) for n in noise_shape)):
            raise TypeError(f"{who}: noise_shape must be a tuple of positive ints or None, "
                            f"got {noise_shape!r}")
        self.noise_shape = None if noise_shape is None else [
            None if n is None else int(n) for n in noise_shape]

    def _strength(self) -> float:
        return self.rate

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.noise_shape is not None:
            if len(self.noise_shape) != len(input_shape) + 1:
                raise ValueError(f"AlphaDropout {self.name!r}: noise_shape "
                                 f"{tuple(self.noise_shape)} needs one entry per axis of the "
                                 f"input (batch first), which has shape "
                                 f"{(None, *input_shape)}")
            for n, d in zip(self.noise_shape[1:], input_shape):
                if n not in (None, 1, d):
                    raise ValueError(f"AlphaDropout {self.name!r}: noise_shape "
                                     f"{tuple(self.noise_shape)} must have 1, None or the "
                                     f"input's length on each axis; the input has shape "
                                     f"{(None, *input_shape)}")
        return input_shape

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        if not self.active(ctx):
            return x
        dtype = _float_dtype(x)
        shape = _noise_shape(self.noise_shape, np.shape(stop_gradient(x)),
                             f"AlphaDropout {self.name!r}")
        kept = (self._generator(ctx).random(shape, dtype=np.float32) >= self.rate).astype(dtype)
        alpha_p = -activations.SELU_ALPHA * activations.SELU_SCALE
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        # a (x kept + alpha_p dropped) + b, with the constants folded per entry
        scale = self._where_x_is(kept * dtype.type(a))
        shift = self._where_x_is((1 - kept) * dtype.type(a * alpha_p + b) + kept * dtype.type(b))
        return x * scale + shift

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape,
                "seed": self.seed}


class _SpatialDropout(_Noise):
    """Dropout of whole feature maps: one keep-or-drop per example and channel, shared
    over the other axes (Tompson et al. 2015), scaled by 1 / (1 - rate) as Dropout."""

    runs_on_device = True
    #: the input's rank with the batch axis
    rank: int

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"{type(self).__name__} {self.name!r}"
        self.rate = _rate(rate, "rate", who)
        self.seed = check_seed(seed, who)
        check_channels_last(data_format, who)

    def _strength(self) -> float:
        return self.rate

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != self.rank - 1:
            axes = {3: "(steps, channels)", 4: "(height, width, channels)",
                    5: "(depth, height, width, channels)"}[self.rank]
            raise self.shape_error(input_shape, axes)
        return input_shape

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        if not self.active(ctx):
            return x
        shape = np.shape(stop_gradient(x))
        if len(shape) != self.rank:
            raise self.shape_error(shape[1:], f"of rank {self.rank - 1}")
        noise = (shape[0],) + (1,) * (self.rank - 2) + (shape[-1],)
        mask = backend.get_backend().dropout_mask(noise, self.rate, self._generator(ctx),
                                                  _float_dtype(x))
        return x * mask

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of (batch, steps, channels) sequences in training."""

    rank = 3

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(rate, seed=seed, **kwargs)


class SpatialDropout2D(_SpatialDropout):
    """Drops whole channels of (batch, height, width, channels) images in training."""

    rank = 4

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": "channels_last"}


class SpatialDropout3D(_SpatialDropout):
    """Drops whole channels of (batch, depth, height, width, channels) volumes in training."""

    rank = 5

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": "channels_last"}


class ActivityRegularization(Layer):
    """Its input unchanged, adding Keras's activity penalty
    (l1 sum|x| + l2 sum x^2) / batch size to the loss of the pass (fit's and evaluate's,
    as in Keras), through the add_loss protocol the models read (Layer.penalty).

    >>> from adkit.nn.layers import Context
    >>> layer = ActivityRegularization(l1=0.5)
    >>> y = layer.call({}, np.array([[1.0, -3.0], [0.0, 2.0]]), Context())
    >>> float(layer.penalty({}))       # 0.5 * (1 + 3 + 0 + 2) / 2
    1.5
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"ActivityRegularization {self.name!r}"
        self.l1 = _rate(l1, "l1", who, high=math.inf, closed=True)
        self.l2 = _rate(l2, "l2", who, high=math.inf, closed=True)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        # this pass's penalty, read by penalty() when the model adds up the loss (the
        # list itself is kept: a compiled step's key watches attributes by identity)
        self.__dict__.setdefault("_call_losses", []).clear()
        if self.l1 or self.l2:
            self.add_loss(self._activity_penalty(x))
        return x

    def _activity_penalty(self, x: Any) -> Any:
        total = 0.0
        if self.l1:
            total = total + self.l1 * np.sum(np.abs(x))
        if self.l2:
            total = total + self.l2 * np.sum(x * x)
        return total / np.shape(stop_gradient(x))[0]

    def add_loss(self, loss: Any) -> None:
        """Keras's add_loss: a term for the loss of this pass."""
        self.__dict__.setdefault("_call_losses", []).append(loss)

    @property
    def losses(self) -> list:
        """The terms the last pass added (Keras's layer.losses)."""
        return list(self.__dict__.get("_call_losses", []))

    def penalty(self, params: dict) -> Any:
        """The weight penalties (none) plus the last pass's activity penalty."""
        total = super().penalty(params)
        for loss in self.__dict__.get("_call_losses", []):
            total = total + loss
        return total

    def get_config(self) -> dict:
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}


class Identity(Layer):
    """Its input, unchanged (Keras's placeholder layer)."""

    runs_on_device = True

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return x
