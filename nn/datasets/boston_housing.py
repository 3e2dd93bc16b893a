"""Boston housing prices (506 houses, 13 features), loaded like
``keras.datasets.boston_housing`` from Keras's ``boston_housing.npz`` (found or
downloaded as keras_npz.py says)."""

from __future__ import annotations

import os

from . import keras_npz

__all__ = ["load_data", "SHA256"]

#: Keras's SHA-256 of boston_housing.npz
SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path: str | os.PathLike | None = "boston_housing.npz", test_split: float = 0.2,
              seed: int = 113, *, download: bool = True) -> tuple:
    """``(x_train, y_train), (x_test, y_test)`` as Keras: the rows shuffled with
    RandomState(seed), the first int(n * (1 - test_split)) for training; x_* of
    shape (n, 13), y_* prices in thousands of dollars.

    >>> (x_train, y_train), _ = load_data()  # doctest: +SKIP
    """
    keras_npz.check_test_split(test_split)
    arrays = keras_npz.load("Boston housing", "boston_housing", "boston_housing.npz", SHA256,
                            path, download)
    return keras_npz.shuffled_split(arrays["x"], arrays["y"], test_split, seed)
