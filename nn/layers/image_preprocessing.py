"""Keras 3's image augmentation layers: RandomFlip, RandomTranslation, RandomRotation,
RandomZoom, RandomContrast, RandomBrightness and RandomCrop, for channels_last images
(batch, height, width, channels).

Each changes its input only when the forward pass trains (identity in predict and
evaluate, as in Keras; RandomCrop then centre-crops and resizes instead, so its output
has the shape it declares) and draws one transformation per image from the step's
generator (`ctx.random`, as Dropout does): an eager step and a compiled step
(nn/compiled_step.py makes the draws on the host) see fresh draws every step. A
layer's `seed=` is Keras's argument, kept in its config; the numbers come from the
model's generator (Sequential(seed=...)).

The geometric layers move pixels with one affine warp (image_warp.affine_warp):
bilinear or nearest sampling, the outside filled by "reflect", "wrap", "constant" or
"nearest", written as gathers and weighted sums, so gradients reach the input.

    >>> import numpy as np
    >>> from adkit.nn.layers import Context
    >>> x = np.ones((2, 4, 4, 3), np.float32)
    >>> RandomRotation(0.1).call({}, x, Context(training=False)) is x
    True
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from adkit import stop_gradient

from .base import Context, Layer, Shape, check_channels_last, check_seed
from .image_warp import (affine_warp, check_fill_mode, check_interpolation, sample,
                         smart_resize)

_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool)


def factor_range(value: Any, name: str, who: str, bounds: tuple = (-1.0, 1.0),
                 open_below: bool = False) -> tuple[float, float]:
    """Keras's factor argument as (lower, upper): a number f means [-f, f] (cut at the
    lower bound), a pair is (lower, upper) in either order; both inside `bounds`."""
    low, high = bounds
    interval = f"{'(' if open_below else '['}{low:g}, {high:g}]"
    problem = (f"{who}: {name} must be a number or a pair of numbers (lower, upper) in "
               f"{interval}; got {value!r}")
    if _is_number(value):
        pair = (max(-abs(float(value)), low), abs(float(value)))
        given = [float(value)]
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_number, value)):
        pair = tuple(sorted(float(v) for v in value))
        given = list(pair)
    else:
        raise ValueError(problem)
    if any(v > high or v < low or (open_below and v <= low) for v in given):
        raise ValueError(problem)
    return pair


def _config_factor(value: Any) -> Any:
    """A factor as JSON keeps it: a number, or a pair as a list."""
    return [float(v) for v in value] if isinstance(value, (tuple, list)) else float(value)


class _ImageLayer(Layer):
    """Channels_last images (height, width, channels) in, the same layout out."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_channels_last(data_format, self.who)

    @property
    def who(self) -> str:
        """How errors name this layer: its class and name."""
        return f"{type(self).__name__} {self.name!r}"

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise self.shape_error(input_shape, "(height, width, channels)")
        return tuple(input_shape)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        if np.ndim(stop_gradient(x)) == 3:   # one image, as Keras takes it
            return self.call(params, x[None], ctx)[0]
        if np.ndim(stop_gradient(x)) != 4:
            raise ValueError(f"{self.who}: expects images (batch, height, width, channels), "
                             f"got an array of shape {np.shape(stop_gradient(x))}")
        return self.transform(x, ctx)

    def transform(self, images: Any, ctx: Context) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.transform")

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": "channels_last"}


class _RandomImageLayer(_ImageLayer):
    """An augmentation: changes the images only in training, with numbers drawn from
    the step's generator. Called alone on arrays with no training argument, it
    augments, as Keras 3's (its call's default is training=True): layer(images) in a
    data pipeline; model.predict and model(x) do not."""

    seed: int | None
    #: layer(x) on arrays without training=... trains (nodes.call_layer reads it)
    training_by_default: ClassVar[bool] = True

    def transform(self, images: Any, ctx: Context) -> Any:
        return self.augment(images, ctx) if ctx.training else images

    def augment(self, images: Any, ctx: Context) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.augment")

    def uniform(self, ctx: Context, low: float, high: float, size: int) -> Any:
        """`size` numbers uniform in [low, high) from the step's generator."""
        return ctx.random(self.who).uniform(float(low), float(high), (int(size),))

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


class RandomFlip(_RandomImageLayer):
    """Flips each image with probability 1/2 in training: mode "horizontal" (left-right),
    "vertical" (up-down) or "horizontal_and_vertical" (Keras's default: one draw per
    image flips both axes or neither)."""

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        if mode not in _MODES:
            raise ValueError(f"{self.who}: unknown mode {mode!r}; use one of "
                             f"{', '.join(map(repr, _MODES))}")
        self.mode = mode
        self.seed = check_seed(seed, self.who)

    def augment(self, images: Any, ctx: Context) -> Any:
        flips = (self.uniform(ctx, 0.0, 1.0, np.shape(stop_gradient(images))[0])
                 <= 0.5).reshape(-1, 1, 1, 1)
        out = images
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            out = np.where(flips, out[:, :, ::-1, :], out)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            out = np.where(flips, out[:, ::-1, :, :], out)
        return out

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


class _RandomWarp(_RandomImageLayer):
    """A random affine map per image (`transforms`), applied by image_warp.affine_warp."""

    def _set_sampling(self, fill_mode: str, interpolation: str, fill_value: float) -> None:
        self.fill_mode = check_fill_mode(fill_mode, self.who)
        self.interpolation = check_interpolation(interpolation, self.who)
        if not _is_number(fill_value):
            raise ValueError(f"{self.who}: fill_value must be a number, got {fill_value!r}")
        self.fill_value = float(fill_value)

    def transforms(self, ctx: Context, batch: int, height: int, width: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.transforms")

    def augment(self, images: Any, ctx: Context) -> Any:
        batch, height, width, _ = np.shape(stop_gradient(images))
        return affine_warp(images, self.transforms(ctx, batch, height, width),
                           interpolation=self.interpolation, fill_mode=self.fill_mode,
                           fill_value=self.fill_value)

    def get_config(self) -> dict:
        return {**super().get_config(), "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


def _stack_transforms(*columns: Any) -> Any:
    """(batch, 6) rows [a0, a1, a2, b0, b1, b2] from six per-image columns."""
    return np.stack(columns, axis=1)


class RandomTranslation(_RandomWarp):
    """Shifts each image in training by a random fraction of its height and width:
    height_factor f means a shift drawn from [-f, f] * height (a pair: [lower, upper]),
    positive = down; width_factor likewise, positive = right. Factors in [-1, 1]."""

    def __init__(self, height_factor: Any, width_factor: Any, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = factor_range(height_factor, "height_factor", self.who)
        self.width_range = factor_range(width_factor, "width_factor", self.who)
        self._set_sampling(fill_mode, interpolation, fill_value)
        self.seed = check_seed(seed, self.who)

    def transforms(self, ctx: Context, batch: int, height: int, width: int) -> Any:
        down = self.uniform(ctx, *self.height_range, batch) * height
        right = self.uniform(ctx, *self.width_range, batch) * width
        ones, zeros = np.ones(batch), np.zeros(batch)
        return _stack_transforms(ones, zeros, -right, zeros, ones, -down)

    def get_config(self) -> dict:
        return {**super().get_config(), "height_factor": _config_factor(self.height_factor),
                "width_factor": _config_factor(self.width_factor)}


class RandomRotation(_RandomWarp):
    """Rotates each image in training about its centre by a random angle: factor f means
    an angle drawn from [-f, f] * 2 pi (a pair: [lower, upper] * 2 pi), positive =
    counter-clockwise. Factor in [-1, 1]."""

    def __init__(self, factor: Any, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self.factor = factor_range(factor, "factor", self.who)
        self._set_sampling(fill_mode, interpolation, fill_value)
        self.seed = check_seed(seed, self.who)

    def transforms(self, ctx: Context, batch: int, height: int, width: int) -> Any:
        lower, upper = self.factor
        angle = self.uniform(ctx, lower * 360.0, upper * 360.0, batch) * (math.pi / 180.0)
        return rotation_transforms(angle, height, width)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": list(self.factor)}


def rotation_transforms(angle: Any, height: int, width: int) -> Any:
    """(batch, 6) affine rows rotating images by `angle` (radians, one per image) about
    their centre ((width - 1) / 2, (height - 1) / 2), as Keras's RandomRotation."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    cos, sin = np.cos(angle), np.sin(angle)
    return _stack_transforms(cos, -sin, cx - cx * cos + cy * sin,
                             sin, cos, cy - cx * sin - cy * cos)


class RandomZoom(_RandomWarp):
    """Zooms each image in training about its centre: height_factor f means a zoom drawn
    from [-f, f] (positive = out, the image shown smaller; a pair: [lower, upper]), each
    factor in (-1, 1]; width_factor None keeps the aspect ratio (one draw for both)."""

    def __init__(self, height_factor: Any, width_factor: Any = None,
                 fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = factor_range(height_factor, "height_factor", self.who,
                                         open_below=True)
        self.width_range = None if width_factor is None else factor_range(
            width_factor, "width_factor", self.who, open_below=True)
        self._set_sampling(fill_mode, interpolation, fill_value)
        self.seed = check_seed(seed, self.who)

    def transforms(self, ctx: Context, batch: int, height: int, width: int) -> Any:
        lower, upper = self.height_range
        zoom_y = self.uniform(ctx, 1.0 + lower, 1.0 + upper, batch)
        zoom_x = zoom_y
        if self.width_range is not None:
            zoom_x = self.uniform(ctx, 1.0 + self.width_range[0], 1.0 + self.width_range[1],
                                  batch)
        zeros = np.zeros(batch)
        return _stack_transforms(zoom_x, zeros, (width - 1) / 2.0 * (1.0 - zoom_x),
                                 zeros, zoom_y, (height - 1) / 2.0 * (1.0 - zoom_y))

    def get_config(self) -> dict:
        return {**super().get_config(), "height_factor": _config_factor(self.height_factor),
                "width_factor": None if self.width_factor is None
                else _config_factor(self.width_factor)}


def _value_range(value: Any, who: str) -> tuple[float, float]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2
            and all(map(_is_number, value))):
        raise ValueError(f"{who}: value_range must be a pair of numbers (low, high), e.g. "
                         f"(0, 255) or (0, 1); got {value!r}")
    low, high = sorted(float(v) for v in value)
    return low, high


def _dtype_of(images: Any) -> np.dtype:
    dtype = np.asarray(stop_gradient(images)).dtype
    return dtype if dtype.kind == "f" else np.dtype(np.float32)


class RandomContrast(_RandomImageLayer):
    """Scales each image's deviation from its per-channel mean by a random factor in
    training, then clips to value_range. As Keras 3 (its factor bounds are [0, 1]),
    factor f draws the contrast factor from [1 - max(-f, 0), 1 + f] = [1, 1 + f]; a pair
    (lower, upper) from [1 - lower, 1 + upper]."""

    def __init__(self, factor: Any, value_range: Any = (0, 255), seed: int | None = None,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self.factor = factor_range(factor, "factor", self.who, bounds=(0.0, 1.0))
        self.value_range = _value_range(value_range, self.who)
        self.seed = check_seed(seed, self.who)

    def augment(self, images: Any, ctx: Context) -> Any:
        dtype = _dtype_of(images)
        contrast = self.uniform(ctx, 1.0 - self.factor[0], 1.0 + self.factor[1],
                                np.shape(stop_gradient(images))[0])
        contrast = contrast.astype(dtype).reshape(-1, 1, 1, 1)
        mean = np.mean(images, axis=(1, 2), keepdims=True)
        low, high = (dtype.type(v) for v in self.value_range)
        return np.clip((images - mean) * contrast + mean, low, high)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": list(self.factor),
                "value_range": list(self.value_range)}


class RandomBrightness(_RandomImageLayer):
    """Adds a random amount to each image in training, then clips to value_range: factor
    f draws it from [-f, f] * (high - low) of value_range (a pair: [lower, upper]),
    factors in [-1, 1]."""

    def __init__(self, factor: Any, value_range: Any = (0, 255), seed: int | None = None,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self.factor = factor_range(factor, "factor", self.who)
        self.value_range = _value_range(value_range, self.who)
        self.seed = check_seed(seed, self.who)

    def augment(self, images: Any, ctx: Context) -> Any:
        dtype = _dtype_of(images)
        low, high = self.value_range
        delta = self.uniform(ctx, *self.factor, np.shape(stop_gradient(images))[0]) * (
            high - low)
        delta = delta.astype(dtype).reshape(-1, 1, 1, 1)
        return np.clip(images + delta, dtype.type(low), dtype.type(high))

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": list(self.factor),
                "value_range": list(self.value_range)}


class _FixedSize(_ImageLayer):
    """A layer whose images come out (height, width, channels)."""

    def _set_size(self, height: Any, width: Any) -> None:
        for what, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{self.who}: {what} must be a positive int, got {value!r}")
        self.height, self.width = int(height), int(width)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (self.height, self.width, super().compute_output_shape(input_shape)[2])

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width}


class RandomCrop(_FixedSize, _RandomImageLayer):
    """Crops a random (height, width) window in training (one window for the batch, as
    Keras); in inference, and in training when the images are not larger than the
    window in both directions, crops the centred box of the window's aspect ratio and
    resizes it to (height, width) (bilinear). Keras 3.15 returns the input unchanged
    in inference, which contradicts the output shape it declares; this follows the
    rule Keras 2 and Keras 3's own training branch use instead."""

    def __init__(self, height: int, width: int, seed: int | None = None,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self._set_size(height, width)
        self.seed = check_seed(seed, self.who)

    def transform(self, images: Any, ctx: Context) -> Any:
        batch, height, width, _ = np.shape(stop_gradient(images))
        if not (ctx.training and height > self.height and width > self.width):
            return smart_resize(images, self.height, self.width)
        top = np.floor(self.uniform(ctx, 0.0, float(height - self.height + 1), 1))
        left = np.floor(self.uniform(ctx, 0.0, float(width - self.width + 1), 1))
        # a gather at integer positions, not a slice, so the offsets may be traced values
        rows, cols = np.meshgrid(np.arange(self.height, dtype=np.float64),
                                 np.arange(self.width, dtype=np.float64), indexing="ij")
        rows = np.broadcast_to(rows + top, (batch, self.height, self.width))
        cols = np.broadcast_to(cols + left, (batch, self.height, self.width))
        return sample(images, rows, cols, interpolation="nearest", fill_mode="nearest")
