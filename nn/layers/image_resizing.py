"""Keras 3's image resizing layers, active in training and inference alike: Resizing
(bilinear or nearest, half-pixel centres, optionally cropping to the target's aspect
ratio first) and CenterCrop (the centred window; images smaller than the window are
cropped to its aspect ratio and resized, as Keras's smart_resize). Channels_last.

    >>> import numpy as np
    >>> Resizing(4, 6).compute_output_shape((8, 8, 3))
    (4, 6, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adkit import stop_gradient

from .base import Context
from .image_preprocessing import _FixedSize
from .image_warp import check_interpolation, resize, smart_resize


class Resizing(_FixedSize):
    """Resizes images to (height, width) with interpolation "bilinear" or "nearest"
    (half-pixel centres, no antialiasing: Keras 3's keras.ops.image.resize);
    crop_to_aspect_ratio=True first crops the centred box of the target's aspect
    ratio, so the image is not stretched."""

    def __init__(self, height: int, width: int, interpolation: str = "bilinear",
                 crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False,
                 fill_mode: str = "constant", fill_value: float = 0.0,
                 antialias: bool = False, data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self._set_size(height, width)
        self.interpolation = check_interpolation(interpolation, self.who)
        if pad_to_aspect_ratio:
            raise ValueError(f"{self.who}: pad_to_aspect_ratio=True is not implemented; "
                             "use crop_to_aspect_ratio=True or ZeroPadding2D before it")
        if antialias:
            raise ValueError(f"{self.who}: antialias=True is not implemented; use "
                             "antialias=False (Keras's default)")
        if fill_mode != "constant":
            raise ValueError(f"{self.who}: fill_mode applies only with pad_to_aspect_ratio, "
                             f"which is not implemented; leave fill_mode='constant'")
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.fill_value = float(fill_value)

    def transform(self, images: Any, ctx: Context) -> Any:
        if self.crop_to_aspect_ratio:
            return smart_resize(images, self.height, self.width, self.interpolation)
        return resize(images, self.height, self.width, self.interpolation)

    def get_config(self) -> dict:
        return {**super().get_config(), "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": False, "fill_mode": "constant",
                "fill_value": self.fill_value, "antialias": False}


class CenterCrop(_FixedSize):
    """The centred (height, width) window of each image; an image smaller than the
    window in either direction is cropped to the window's aspect ratio and resized
    (bilinear), as Keras."""

    def __init__(self, height: int, width: int, data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self._set_size(height, width)

    def transform(self, images: Any, ctx: Context) -> Any:
        _, height, width, _ = np.shape(stop_gradient(images))
        if height < self.height or width < self.width:
            return smart_resize(images, self.height, self.width)
        top, left = (height - self.height) // 2, (width - self.width) // 2
        return images[:, top:top + self.height, left:left + self.width, :]
