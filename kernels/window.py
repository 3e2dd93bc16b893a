"""Where the windows of a convolution or pooling lie on NHWC images: Keras's geometry.

One module for every implementation (NumPy backend, OpenCL kernels) and for the
layers' shape inference, so they agree on output sizes and padding, and the
arguments are checked in one place. Plain Python and NumPy: no device needed.

With "valid" padding an axis of size H gives floor((H - k) / s) + 1 outputs,
and trailing rows that no window reaches are ignored; with "same" it gives
ceil(H / s) outputs and max((ceil(H / s) - 1) * s + k - H, 0) rows of padding,
the odd one at the bottom (right).

    >>> window((1, 5, 5, 1), (3, 3), (2, 2), "same")
    Window(kh=3, kw=3, sh=2, sw=2, ho=3, wo=3, top=1, bottom=1, left=1, right=1)
    >>> output_length(28, 3, 1, "valid"), output_length(28, 3, 2, "same")
    (26, 14)
"""

from __future__ import annotations

from typing import Any, Iterator, NamedTuple

import numpy as np

__all__ = ["PADDINGS", "Window", "window", "output_length", "padding_mode", "window_pair",
           "check_fits"]

#: the paddings Keras knows, in the spelling this module returns
PADDINGS = ("valid", "same")


class Window(NamedTuple):
    """Where the windows of a convolution or pooling lie on an (N, H, W, C) input."""

    kh: int
    kw: int
    sh: int
    sw: int
    ho: int      # output rows
    wo: int      # output columns
    top: int     # padding rows above (and below: bottom) the input
    bottom: int
    left: int
    right: int

    @property
    def padded(self) -> bool:
        """Whether any side has padding."""
        return bool(self.top or self.bottom or self.left or self.right)

    def offsets(self) -> Iterator[tuple[int, int, int]]:
        """(k, i, j): each position in the window, row-major, k = i * kw + j."""
        for i in range(self.kh):
            for j in range(self.kw):
                yield i * self.kw + j, i, j

    def at(self, xp: np.ndarray, i: int, j: int) -> np.ndarray:
        """The (n, ho, wo, C) view of padded xp at window position (i, j)."""
        return xp[:, i:i + self.sh * (self.ho - 1) + 1:self.sh,
                  j:j + self.sw * (self.wo - 1) + 1:self.sw, :]


def padding_mode(padding: Any, who: str = "") -> str:
    """The padding as "valid" or "same" (any letter case, as Keras accepts); else a
    ValueError naming `who` (the layer or function that was given it)."""
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in PADDINGS:
        prefix = f"{who}: " if who else ""
        raise ValueError(f"{prefix}padding must be 'valid' or 'same' (as in Keras), got "
                         f"{padding!r}")
    return p


def window_pair(value: Any, what: str, who: str) -> tuple[int, int]:
    """A window size or strides as (rows, columns): an int means both."""
    if isinstance(value, (int, np.integer)):
        pair: tuple = (value, value)
    else:
        pair = tuple(value) if isinstance(value, (tuple, list, np.ndarray)) else ()
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                 and v > 0 for v in pair):
        raise ValueError(f"{who}: {what} must be a positive int or a pair (rows, columns) of "
                         f"them, got {value!r}")
    return int(pair[0]), int(pair[1])


def output_length(size: int, k: int, stride: int, padding: str) -> int:
    """Output positions along one axis of `size` for windows of k (Keras's conv_output_length)."""
    return _length(size, k, stride, padding_mode(padding))[0]


def _length(size: int, k: int, s: int, padding: str) -> tuple[int, int, int]:
    """(outputs, padding before, padding after) along one axis."""
    if padding == "same":
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        return out, total // 2, total - total // 2
    return (size - k) // s + 1, 0, 0


def check_fits(x_shape: tuple, size: tuple, padding: str, who: str = "",
               what: str = "window") -> None:
    """A ValueError unless a size[0] x size[1] `what` fits in NHWC x_shape under `padding`
    ("same" always fits: the input is padded)."""
    if padding == "valid" and (x_shape[1] < size[0] or x_shape[2] < size[1]):
        prefix = f"{who}: " if who else ""
        raise ValueError(
            f"{prefix}a {size[0]}x{size[1]} {what} does not fit in x of shape {x_shape} "
            f"({x_shape[1]}x{x_shape[2]} in height x width) with padding='valid'; use "
            f"padding='same' or a {what} of at most {x_shape[1]}x{x_shape[2]}")


def window(x_shape: tuple, kernel_size: tuple, strides: tuple, padding: str) -> Window:
    """The geometry of kernel_size windows moved by strides over an NHWC x_shape.

    >>> window((1, 6, 4, 1), (2, 2), (2, 2), "valid").ho
    3
    """
    padding = padding_mode(padding)
    check_fits(x_shape, kernel_size, padding)
    (kh, kw), (sh, sw) = kernel_size, strides
    ho, top, bottom = _length(x_shape[1], kh, sh, padding)
    wo, left, right = _length(x_shape[2], kw, sw, padding)
    return Window(kh, kw, sh, sw, ho, wo, top, bottom, left, right)
