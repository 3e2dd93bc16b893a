"""Image files and arrays, as Keras's keras.utils image helpers: `load_img`,
`img_to_array`, `array_to_img`, `save_img`, and `resize_image`, the NumPy resize
that `image_dataset_from_directory` uses (TensorFlow's tf.image.resize rules,
half-pixel centres, no antialiasing).

Reading and writing files needs Pillow (`pip install pillow`), imported on first
use; adkit does not depend on it.

>>> img = np.arange(4.0).reshape(2, 2, 1)
>>> resize_image(img, (4, 4))[..., 0]
array([[0.  , 0.25, 0.75, 1.  ],
       [0.5 , 0.75, 1.25, 1.5 ],
       [1.5 , 1.75, 2.25, 2.5 ],
       [2.  , 2.25, 2.75, 3.  ]], dtype=float32)
"""

from __future__ import annotations

import io
import os
import pathlib
import warnings
from typing import Any

import numpy as np

__all__ = ["load_img", "img_to_array", "array_to_img", "save_img", "resize_image",
           "smart_crop_box", "resize_with_pad", "require_pillow", "RESIZE_METHODS"]

#: the interpolations resize_image implements (TensorFlow's names)
RESIZE_METHODS = ("bilinear", "nearest")
#: TensorFlow's other methods, which Keras's image_dataset_from_directory also takes
_TF_ONLY_METHODS = ("bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")
_PIL_METHODS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def require_pillow(what: str) -> Any:
    """PIL.Image, or an ImportError saying that `what` needs Pillow and how to install it."""
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(f"{what} needs Pillow to read and write image files, which is not "
                          "installed: pip install pillow") from e
    return Image


def _check_data_format(data_format: str | None) -> str:
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got "
                         f"{data_format!r}")
    return data_format


def load_img(path: Any, color_mode: str = "rgb", target_size: tuple[int, int] | None = None,
             interpolation: str = "nearest", keep_aspect_ratio: bool = False) -> Any:
    """The image file at `path` (or an io.BytesIO) as a PIL Image, converted to
    color_mode ("rgb", "rgba" or "grayscale") and resized by Pillow to target_size
    (height, width), cropped to the target's aspect ratio first if keep_aspect_ratio,
    as Keras's keras.utils.load_img."""
    Image = require_pillow("load_img")
    if isinstance(path, io.BytesIO):
        img = Image.open(path)
    elif isinstance(path, (pathlib.Path, bytes, str)):
        with open(path, "rb") as f:
            img = Image.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode in ("rgb", "rgba"):
        if img.mode != color_mode.upper():
            img = img.convert(color_mode.upper())
    else:
        raise ValueError(f'color_mode must be "grayscale", "rgb", or "rgba", got {color_mode!r}')
    if target_size is None:
        return img
    width_height = (int(target_size[1]), int(target_size[0]))
    if img.size == width_height:
        return img
    if interpolation not in _PIL_METHODS:
        raise ValueError(f"Invalid interpolation method {interpolation} specified. Supported "
                         f"methods are {', '.join(_PIL_METHODS)}")
    resample = getattr(getattr(Image, "Resampling", Image), interpolation.upper())
    if not keep_aspect_ratio:
        return img.resize(width_height, resample)
    width, height = img.size
    crop_height = min(height, (width * width_height[1]) // width_height[0])
    crop_width = min(width, (height * width_height[0]) // width_height[1])
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return img.resize(width_height, resample,
                      box=[left, top, left + crop_width, top + crop_height])


def img_to_array(img: Any, data_format: str | None = None, dtype: Any = None) -> np.ndarray:
    """A PIL Image as a float32 (or dtype) array of shape (height, width, channels)
    (channels first with data_format="channels_first"), as Keras."""
    data_format = _check_data_format(data_format)
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim != 3:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    return x.transpose(2, 0, 1) if data_format == "channels_first" else x


def array_to_img(x: Any, data_format: str | None = None, scale: bool = True,
                 dtype: Any = None) -> Any:
    """A (height, width, 1|3|4) array as a PIL Image ("L"/"I", "RGB", "RGBA"); with
    scale (the default) the values are first stretched to 0..255, as Keras."""
    Image = require_pillow("array_to_img")
    data_format = _check_data_format(data_format)
    x = np.array(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"Expected image array to have rank 3 (single image). Got array with "
                         f"shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels in (3, 4):
        return Image.fromarray(x.astype("uint8"), "RGB" if channels == 3 else "RGBA")
    if channels == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {channels}")


def save_img(path: Any, x: Any, data_format: str | None = None, file_format: str | None = None,
             scale: bool = True, **kwargs: Any) -> None:
    """Write the array x as an image file (format from file_format or the path's
    suffix; an RGBA image saved as JPEG loses its alpha, with a warning), as Keras."""
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.")
        img = img.convert("RGB")
    img.save(os.fspath(path) if isinstance(path, pathlib.Path) else path,
             format=file_format, **kwargs)


def _axis_weights(n_in: int, n_out: int, method: str) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
    """(lower index, upper index, weight of upper) per output position along one axis,
    with half-pixel centres as tf.image.resize."""
    scale = n_in / n_out
    centre = (np.arange(n_out) + 0.5) * scale
    if method == "nearest":
        index = np.minimum(np.floor(centre).astype(np.int64), n_in - 1)
        return index, index, np.zeros(n_out, np.float32)
    position = centre - 0.5
    floor = np.floor(position)
    lower = np.clip(floor, 0, n_in - 1).astype(np.int64)
    upper = np.clip(np.ceil(position), 0, n_in - 1).astype(np.int64)
    return lower, upper, (position - floor).astype(np.float32)


def resize_image(image: Any, size: tuple[int, int], interpolation: str = "bilinear") -> np.ndarray:
    """A (height, width, channels) image resized to size = (height, width) as float32,
    by tf.image.resize's "bilinear" or "nearest" rule (what Keras's
    image_dataset_from_directory applies)."""
    if interpolation not in RESIZE_METHODS:
        other = " (a TensorFlow method adkit does not implement)" \
            if interpolation in _TF_ONLY_METHODS else ""
        raise ValueError(f"interpolation={interpolation!r} is not supported{other}; adkit.nn "
                         f"resizes images with {' or '.join(map(repr, RESIZE_METHODS))}")
    image = np.asarray(image, dtype=np.float32)
    (rows_lo, rows_hi, row_w), (cols_lo, cols_hi, col_w) = (
        _axis_weights(image.shape[0], int(size[0]), interpolation),
        _axis_weights(image.shape[1], int(size[1]), interpolation))
    row_w, col_w = row_w[:, None, None], col_w[None, :, None]
    top = image[rows_lo] * (1 - row_w) + image[rows_hi] * row_w
    return (top[:, cols_lo] * (1 - col_w) + top[:, cols_hi] * col_w).astype(np.float32)


def smart_crop_box(height: int, width: int, size: tuple[int, int]) -> tuple[slice, slice]:
    """The centred (rows, columns) window of an image with the aspect ratio of size,
    as Keras's smart_resize crops before resizing."""
    target_h, target_w = size
    crop_h = min(height, int(float(width * target_h) / target_w))
    crop_w = min(width, int(float(height * target_w) / target_h))
    top, left = int(float(height - crop_h) / 2), int(float(width - crop_w) / 2)
    return slice(top, top + crop_h), slice(left, left + crop_w)


def resize_with_pad(image: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    """The image scaled to fit size without distortion and centred on zeros, as
    tf.image.resize_with_pad."""
    height, width = image.shape[:2]
    target_h, target_w = size
    ratio = max(width / target_w, height / target_h)
    new_h, new_w = int(np.floor(height / ratio)), int(np.floor(width / ratio))
    top = max(0, int((target_h - new_h) / 2))
    left = max(0, int((target_w - new_w) / 2))
    out = np.zeros((target_h, target_w, image.shape[2]), np.float32)
    out[top:top + new_h, left:left + new_w] = resize_image(image, (new_h, new_w), interpolation)
    return out
