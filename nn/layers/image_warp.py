"""Sampling images at moved pixel positions: the one helper every geometric image layer
(RandomTranslation, RandomRotation, RandomZoom, Resizing, RandomCrop, CenterCrop) shares.

`sample` reads a batch of channels_last images (batch, height, width, channels) at
real-valued (row, column) positions, with bilinear weights or the nearest pixel, and
extends the image beyond its border by a fill mode, as Keras 3's
`keras.ops.image.affine_transform` does (pixel centres at integer positions):

- "reflect":  (d c b a | a b c d | d c b a), reflected about the edge of the last pixel
- "wrap":     (a b c d | a b c d | a b c d)
- "nearest":  (a a a a | a b c d | d d d d)
- "constant": (k k k k | a b c d | k k k k), k = fill_value

It is NumPy indexing (a gather) and weighted sums, which adkit differentiates, so the
gradient reaches the input image; the positions themselves are constants of the step.

    >>> import numpy as np
    >>> image = np.arange(4.0).reshape(1, 2, 2, 1)
    >>> float(sample(image, np.array([[[0.5]]]), np.array([[[0.5]]]))[0, 0, 0, 0])
    1.5
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adkit import stop_gradient

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


def check_fill_mode(fill_mode: Any, who: str) -> str:
    """fill_mode, or a ValueError naming `who` and the modes there are."""
    if fill_mode not in FILL_MODES:
        raise ValueError(f"{who}: unknown fill_mode {fill_mode!r}; use one of "
                         f"{', '.join(map(repr, FILL_MODES))}")
    return fill_mode


def check_interpolation(interpolation: Any, who: str) -> str:
    """interpolation, or a ValueError naming `who` and the ones there are."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{who}: unknown interpolation {interpolation!r}; use one of "
                         f"{', '.join(map(repr, INTERPOLATIONS))}")
    return interpolation


def _fixed_index(index: Any, size: int, fill_mode: str) -> tuple[Any, Any]:
    """(index inside [0, size), whether the original index was inside) for integer
    positions `index`, extending the image by `fill_mode`."""
    inside = (index >= 0) & (index < size)
    if fill_mode == "wrap":
        return index % size, inside
    if fill_mode == "reflect":
        folded = index % (2 * size)
        return np.where(folded >= size, 2 * size - 1 - folded, folded), inside
    return np.clip(index, 0, size - 1), inside   # "nearest", and "constant" masks it


def _gather(images: Any, rows: Any, cols: Any, fill_mode: str, fill_value: float) -> Any:
    """images[b, rows[b, i, j], cols[b, i, j], :] with integer rows/cols extended by
    fill_mode: shape (batch, out_height, out_width, channels)."""
    _, height, width, _ = np.shape(images)
    r, r_inside = _fixed_index(rows, height, fill_mode)
    c, c_inside = _fixed_index(cols, width, fill_mode)
    batch = np.arange(np.shape(rows)[0]).reshape(-1, 1, 1)
    values = images[batch, r, c]
    if fill_mode != "constant":
        return values
    inside = (r_inside & c_inside)[..., None]
    return np.where(inside, values, np.asarray(fill_value, dtype=values.dtype))


def sample(images: Any, rows: Any, cols: Any, *, interpolation: str = "bilinear",
           fill_mode: str = "constant", fill_value: float = 0.0) -> Any:
    """The images (batch, height, width, channels) read at real positions rows, cols
    (each (batch, out_height, out_width); pixel centres at integers), with bilinear
    weights or the nearest pixel, outside the image extended by fill_mode.

        >>> float(sample(np.ones((1, 2, 2, 1)), np.zeros((1, 1, 1)) - 5,
        ...              np.zeros((1, 1, 1)), fill_value=7.0)[0, 0, 0, 0])
        7.0
    """
    if interpolation == "nearest":
        # scipy.ndimage's order=0 (Keras's NumPy backend) rounds halves up
        return _gather(images, np.floor(rows + 0.5).astype(np.int64),
                       np.floor(cols + 0.5).astype(np.int64), fill_mode, fill_value)
    dtype = np.result_type(np.asarray(stop_gradient(images)).dtype, np.float32)
    top, left = np.floor(rows), np.floor(cols)
    down = (rows - top).astype(dtype)[..., None]
    right = (cols - left).astype(dtype)[..., None]
    top, left = top.astype(np.int64), left.astype(np.int64)

    def at(r: Any, c: Any) -> Any:
        return _gather(images, r, c, fill_mode, fill_value)

    one = dtype.type(1)
    upper = at(top, left) * (one - right) + at(top, left + 1) * right
    lower = at(top + 1, left) * (one - right) + at(top + 1, left + 1) * right
    return upper * (one - down) + lower * down


def affine_warp(images: Any, transforms: Any, *, interpolation: str = "bilinear",
                fill_mode: str = "reflect", fill_value: float = 0.0) -> Any:
    """Each image moved by its affine map, Keras's (TensorFlow's) convention: transforms
    (batch, 6) rows [a0, a1, a2, b0, b1, b2] send output pixel (row y, column x) to
    input position (column a0*x + a1*y + a2, row b0*x + b1*y + b2).

        >>> image = np.arange(4.0).reshape(1, 2, 2, 1)
        >>> affine_warp(image, np.array([[1.0, 0, 1, 0, 1, 0]]), fill_mode="wrap")[0, :, :, 0]
        array([[1., 0.],
               [3., 2.]])
    """
    _, height, width, _ = np.shape(images)
    ys, xs = np.meshgrid(np.arange(height, dtype=np.float64),
                         np.arange(width, dtype=np.float64), indexing="ij")
    t = [transforms[:, k].reshape(-1, 1, 1) for k in range(6)]
    cols = t[0] * xs + t[1] * ys + t[2]
    rows = t[3] * xs + t[4] * ys + t[5]
    return sample(images, rows, cols, interpolation=interpolation, fill_mode=fill_mode,
                  fill_value=fill_value)


def resize(images: Any, height: int, width: int, interpolation: str = "bilinear") -> Any:
    """The images resized to (height, width) with half-pixel centres and no antialiasing
    (Keras 3's `keras.ops.image.resize`): output pixel i reads input position
    (i + 0.5) * in / out - 0.5, clamped to the image.

        >>> resize(np.arange(2.0).reshape(1, 1, 2, 1), 1, 4)[0, 0, :, 0]
        array([0.  , 0.25, 0.75, 1.  ])
    """
    batch, in_height, in_width, _ = np.shape(images)
    if (in_height, in_width) == (height, width):
        return images

    def positions(out: int, size: int) -> np.ndarray:
        centres = (np.arange(out, dtype=np.float64) + 0.5) * (size / out)
        if interpolation == "nearest":   # the input pixel whose cell holds the centre
            return np.minimum(np.floor(centres), size - 1.0)
        return np.clip(centres - 0.5, 0.0, size - 1.0)

    rows, cols = np.meshgrid(positions(height, in_height), positions(width, in_width),
                             indexing="ij")
    rows = np.broadcast_to(rows, (batch, height, width))
    cols = np.broadcast_to(cols, (batch, height, width))
    return sample(images, rows, cols, interpolation=interpolation, fill_mode="nearest")


def aspect_crop_box(height: int, width: int, target_height: int,
                    target_width: int) -> tuple[int, int, int, int]:
    """(top, left, crop_height, crop_width) of the centred box of the target's aspect
    ratio, as large as fits (Keras's smart_resize and crop_to_aspect_ratio).

        >>> aspect_crop_box(4, 8, 2, 2)
        (0, 2, 4, 4)
    """
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    return (int(float(height - crop_height) / 2), int(float(width - crop_width) / 2),
            crop_height, crop_width)


def smart_resize(images: Any, height: int, width: int,
                 interpolation: str = "bilinear") -> Any:
    """The centred crop of the target's aspect ratio, resized to (height, width)."""
    _, in_height, in_width, _ = np.shape(images)
    top, left, h, w = aspect_crop_box(in_height, in_width, height, width)
    return resize(images[:, top:top + h, left:left + w, :], height, width, interpolation)
