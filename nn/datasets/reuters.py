"""Reuters newswire topics (11,228 wires, 46 topics), loaded like
``keras.datasets.reuters`` from Keras's ``reuters.npz`` (found or downloaded as
keras_npz.py says), with Keras's word-id preprocessing and train/test split.
"""

from __future__ import annotations

import os

import numpy as np

from . import keras_npz
from .word_sequences import (as_object_array, drop_long, limit_vocabulary, shift, shuffled,
                             word_index)

__all__ = ["load_data", "get_word_index", "get_label_names", "SHA256"]

#: Keras's SHA-256 of reuters.npz
SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"

#: topic i is LABEL_NAMES[i] (Keras's reuters.get_label_names())
LABEL_NAMES: tuple[str, ...] = (
    'cocoa', 'grain', 'veg-oil', 'earn', 'acq', 'wheat', 'copper', 'housing', 'money-supply',
    'coffee', 'sugar', 'trade', 'reserves', 'ship', 'cotton', 'carcass', 'crude', 'nat-gas',
    'cpi', 'money-fx', 'interest', 'gnp', 'meal-feed', 'alum', 'oilseed', 'gold', 'tin',
    'strategic-metal', 'livestock', 'retail', 'ipi', 'iron-steel', 'rubber', 'heat', 'jobs',
    'lei', 'bop', 'zinc', 'orange', 'pet-chem', 'dlr', 'gas', 'silver', 'wpi', 'hog', 'lead',
)


def load_data(path: str | os.PathLike | None = "reuters.npz", num_words: int | None = None,
              skip_top: int = 0, maxlen: int | None = None, test_split: float = 0.2,
              seed: int = 113, start_char: int | None = 1, oov_char: int | None = 2,
              index_from: int = 3, *, download: bool = True) -> tuple:
    """``(x_train, y_train), (x_test, y_test)`` as Keras's reuters.load_data: the
    wires shuffled with RandomState(seed), preprocessed as imdb.load_data, and the
    first int(n * (1 - test_split)) kept for training. x_* are 1-D object arrays of
    lists of word ids, y_* topic ids in 0..45.

    Raises FileNotFoundError naming the places searched and how to get reuters.npz.

    >>> (x_train, y_train), _ = load_data(num_words=10000)  # doctest: +SKIP
    """
    arrays = keras_npz.load("Reuters", "reuters", "reuters.npz", SHA256, path, download)
    xs, labels = shuffled(np.random.RandomState(seed), arrays["x"], arrays["y"])
    xs, labels = drop_long(shift(xs, start_char, index_from), labels, maxlen)
    xs = limit_vocabulary(xs, num_words, skip_top, oov_char)
    labels = np.asarray(labels, dtype=arrays["y"].dtype)
    cut = int(len(xs) * (1 - test_split))
    return (as_object_array(xs[:cut]), labels[:cut]), (as_object_array(xs[cut:]), labels[cut:])


def get_word_index(path: str | os.PathLike | None = "reuters_word_index.json") -> dict[str, int]:
    """The word -> id dict of Keras's reuters_word_index.json, from path, $ADKIT_DATA
    or ~/.keras/datasets (not downloaded)."""
    return word_index("Reuters", "reuters", "reuters_word_index.json", path)


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, topic i first at index i.

    >>> get_label_names()[:3]
    ('cocoa', 'grain', 'veg-oil')
    """
    return LABEL_NAMES
