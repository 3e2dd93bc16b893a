"""IMDB movie reviews (25,000 train, 25,000 test, positive/negative), loaded like
``keras.datasets.imdb`` from Keras's ``imdb.npz`` (found or downloaded as
keras_npz.py says), with Keras's word-id preprocessing.
"""

from __future__ import annotations

import os

import numpy as np

from . import keras_npz
from .word_sequences import (as_object_array, drop_long, limit_vocabulary, shift, shuffled,
                             word_index)

__all__ = ["load_data", "get_word_index", "SHA256"]

#: Keras's SHA-256 of imdb.npz
SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"


def load_data(path: str | os.PathLike | None = "imdb.npz", num_words: int | None = None,
              skip_top: int = 0, maxlen: int | None = None, seed: int = 113,
              start_char: int | None = 1, oov_char: int | None = 2, index_from: int = 3,
              *, download: bool = True) -> tuple:
    """``(x_train, y_train), (x_test, y_test)`` as Keras's imdb.load_data: x_* are
    1-D object arrays of lists of word ids (start_char first, ids shifted by
    index_from, ids outside [skip_top, num_words) as oov_char, reviews of maxlen
    words or more dropped), y_* 0/1 labels, each split shuffled with
    RandomState(seed).

    Raises FileNotFoundError naming the places searched and how to get imdb.npz.

    >>> (x_train, y_train), _ = load_data(num_words=10000)  # doctest: +SKIP
    """
    arrays = keras_npz.load("IMDB", "imdb", "imdb.npz", SHA256, path, download)
    rng = np.random.RandomState(seed)
    x_train, y_train = shuffled(rng, arrays["x_train"], arrays["y_train"])
    x_test, y_test = shuffled(rng, arrays["x_test"], arrays["y_test"])
    train, y_train = drop_long(shift(x_train, start_char, index_from), y_train, maxlen)
    test, y_test = drop_long(shift(x_test, start_char, index_from), y_test, maxlen)
    if maxlen and (not train or not test):
        raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no "
                         "sequence was kept. Increase maxlen.")
    xs = limit_vocabulary(train + test, num_words, skip_top, oov_char)
    labels = np.asarray(y_train + y_test, dtype=arrays["y_train"].dtype)
    n = len(train)
    return (as_object_array(xs[:n]), labels[:n]), (as_object_array(xs[n:]), labels[n:])


def get_word_index(path: str | os.PathLike | None = "imdb_word_index.json") -> dict[str, int]:
    """The word -> id dict of Keras's imdb_word_index.json (ids before index_from is
    added), from path, $ADKIT_DATA or ~/.keras/datasets (not downloaded)."""
    return word_index("IMDB", "imdb", "imdb_word_index.json", path)
