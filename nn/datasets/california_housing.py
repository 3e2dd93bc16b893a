"""California housing prices (20,640 districts, 8 features), loaded like
``keras.datasets.california_housing`` from Keras's ``california_housing.npz``
(found or downloaded as keras_npz.py says)."""

from __future__ import annotations

import os

from . import keras_npz

__all__ = ["load_data", "SHA256"]

#: Keras's SHA-256 of california_housing.npz
SHA256 = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"


def load_data(version: str = "large", path: str | os.PathLike | None = "california_housing.npz",
              test_split: float = 0.2, seed: int = 113, *, download: bool = True) -> tuple:
    """``(x_train, y_train), (x_test, y_test)`` as Keras: version "large" (all
    20,640 rows) or "small" (the first 600), shuffled with RandomState(seed), the
    first int(n * (1 - test_split)) for training; y_* house values in dollars.

    >>> (x_train, y_train), _ = load_data(version="small")  # doctest: +SKIP
    """
    keras_npz.check_test_split(test_split)
    if version not in ("small", "large"):
        raise ValueError(f"Argument `version` must be one of 'small', 'large'. Received: "
                         f"version={version}")
    arrays = keras_npz.load("California housing", "california_housing",
                            "california_housing.npz", SHA256, path, download)
    x, y = arrays["x"], arrays["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    return keras_npz.shuffled_split(x, y, test_split, seed)
