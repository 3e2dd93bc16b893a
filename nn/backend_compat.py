"""Keras's `keras.backend` configuration calls, so `from keras import backend as K`
ports as `from adkit.nn import backend as K` (nn/backend.py re-exports these).

adkit.nn has one layout and one float type, Keras's defaults: images are NHWC
("channels_last") and weights float32. The setters accept those values and refuse
any other with the reason, instead of silently building a model Keras would not.

>>> image_data_format(), floatx(), epsilon()
('channels_last', 'float32', 1e-07)
"""

from __future__ import annotations

#: Keras's fuzz factor: the cross-entropies clip probabilities to [EPSILON, 1 - EPSILON]
EPSILON = 1e-7

__all__ = ["image_data_format", "set_image_data_format", "floatx", "set_floatx", "epsilon",
           "clear_session"]


def image_data_format() -> str:
    """"channels_last": adkit.nn's images are (batch, height, width, channels), Keras's
    default, so scripts that branch on `K.image_data_format()` take that branch."""
    return "channels_last"


def set_image_data_format(data_format: str) -> None:
    """Accepts "channels_last" (the only layout adkit.nn's layers run); refuses the rest.

    >>> set_image_data_format("channels_first")
    Traceback (most recent call last):
    ...
    ValueError: adkit.nn lays images out channels_last (batch, height, width, channels) \
only; got data_format='channels_first': transpose the data with np.moveaxis(x, 1, -1) instead
    """
    if data_format != "channels_last":
        raise ValueError("adkit.nn lays images out channels_last (batch, height, width, "
                         f"channels) only; got data_format={data_format!r}: transpose the "
                         "data with np.moveaxis(x, 1, -1) instead")


def floatx() -> str:
    """"float32": the dtype of the weights layers create, as Keras's default."""
    return "float32"


def set_floatx(value: str) -> None:
    """Accepts "float32" (the dtype adkit.nn's layers create); refuses the rest, naming
    the per-layer alternative."""
    if value != "float32":
        raise ValueError(f"adkit.nn builds float32 weights; got floatx {value!r}: give a "
                         "layer dtype=... to compute one layer in another type")


def epsilon() -> float:
    """The fuzz factor Keras's losses clip probabilities by (1e-7), the one adkit's use."""
    return EPSILON


def clear_session() -> None:
    """What Keras's clear_session does that applies here: automatic layer names start
    again at `dense`, `conv2d`, ... (adkit keeps no global graph to free)."""
    # imported here: nn/backend.py loads this module, and adkit.nn.layers loads nn/backend.py
    from .layers.base import reset_names
    reset_names()
