"""The word-id preprocessing Keras applies to IMDB and Reuters (imdb.py and
reuters.py share it), in Keras's order: `shift` ids by index_from and prepend
start_char, `drop_long` sequences of maxlen or more words, then `limit_vocabulary`:
ids outside [skip_top, num_words) become oov_char (or are dropped when oov_char is
None).

>>> xs = shift([np.array([1, 5, 9]), np.array([2])], start_char=1, index_from=3)
>>> xs, labels = drop_long(xs, [1, 0], maxlen=3)
>>> limit_vocabulary(xs, num_words=5, skip_top=0, oov_char=2), labels
([[1, 2]], [0])
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from . import sources
from .keras_npz import KERAS_CACHE, locate_keras_file

__all__ = ["shift", "drop_long", "limit_vocabulary", "shuffled", "as_object_array", "word_index"]


def shuffled(rng: np.random.RandomState, xs: np.ndarray, labels: np.ndarray) -> tuple:
    """xs and labels in the order of one rng.shuffle of their indices (Keras's)."""
    order = np.arange(len(xs))
    rng.shuffle(order)
    return xs[order], labels[order]


def shift(xs: Any, start_char: int | None, index_from: int) -> list[list[int]]:
    """Each sequence as a list of ints, ids plus index_from, start_char first."""
    head = [] if start_char is None else [start_char]
    return [head + [int(w) + index_from for w in x] for x in xs]


def drop_long(xs: list[list[int]], labels: Any, maxlen: int | None) -> tuple[list, list]:
    """The sequences shorter than maxlen and their labels (all without maxlen)."""
    labels = list(labels)
    if not maxlen:
        return xs, labels
    kept = [i for i, x in enumerate(xs) if len(x) < maxlen]
    return [xs[i] for i in kept], [labels[i] for i in kept]


def limit_vocabulary(xs: list[list[int]], num_words: int | None, skip_top: int,
                     oov_char: int | None) -> list[list[int]]:
    """Ids outside [skip_top, num_words) replaced by oov_char, or dropped if it is None;
    num_words defaults to the largest id (which is then itself out of range, as Keras)."""
    if not num_words:
        num_words = max(max(x) for x in xs if x)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def as_object_array(sequences: list[list[int]]) -> np.ndarray:
    """A 1-D object array of lists (np.array would make a 2-D int array of equal lengths)."""
    out = np.empty(len(sequences), dtype=object)
    out[:] = sequences
    return out


def word_index(title: str, subdir: str, filename: str, path: Any) -> dict[str, int]:
    """The word -> id dict in Keras's JSON file, looked for in path (a directory or the
    file), $ADKIT_DATA and Keras's cache; adkit does not download it."""
    found = locate_keras_file(
        f"{title} word index", subdir, filename, path, None,
        f"adkit does not download it: get {filename} from "
        f"https://storage.googleapis.com/tensorflow/tf-keras-datasets/{filename} and put "
        f"it in a directory named by the path argument or ${sources.ENV_VAR}, or in "
        f"{KERAS_CACHE}.")
    with open(found, encoding="utf-8") as f:
        return json.load(f)
