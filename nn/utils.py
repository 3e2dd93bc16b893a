"""Small data helpers with Keras names (`keras.utils`)."""

from __future__ import annotations

import random
from typing import Any, Sequence as SequenceType

import numpy as np

from . import np_utils  # Keras 2's keras.utils.np_utils
from .backend_compat import clear_session
from .custom_objects import (CustomObjectScope, custom_object_scope, get_custom_objects,
                             get_registered_name, get_registered_object,
                             register_keras_serializable)
from .data_adapters import unpack_batch
from .dataset import Dataset
from .dataset_utils import split_dataset, timeseries_dataset_from_array
from .directory_datasets import (audio_dataset_from_directory, image_dataset_from_directory,
                                 text_dataset_from_directory)
from .file_utils import get_file
from .image_utils import array_to_img, img_to_array, load_img, save_img
from .model_plot import model_to_dot, plot_model
from .np_utils import to_categorical
from .progbar import Progbar
from .seeding import set_global_seed

__all__ = ["to_categorical", "normalize", "pad_sequences", "set_random_seed", "Sequence",
           "PyDataset", "np_utils", "Dataset", "timeseries_dataset_from_array",
           "image_dataset_from_directory", "text_dataset_from_directory",
           "audio_dataset_from_directory", "split_dataset",
           "load_img", "img_to_array", "array_to_img", "save_img", "plot_model", "model_to_dot",
           "get_file", "pack_x_y_sample_weight", "unpack_x_y_sample_weight", "Progbar",
           "register_keras_serializable", "get_custom_objects", "custom_object_scope",
           "CustomObjectScope", "get_registered_name", "get_registered_object", "clear_session"]


def unpack_x_y_sample_weight(data: Any) -> tuple[Any, Any, Any]:
    """(x, y, sample_weight) from a batch `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`
    (a list counts as a tuple), missing parts None, as Keras's
    keras.utils.unpack_x_y_sample_weight (for a custom train_step).

    >>> unpack_x_y_sample_weight((1, 2))
    (1, 2, None)
    """
    return unpack_batch(data, "unpack_x_y_sample_weight", needs_y=False)


def pack_x_y_sample_weight(x: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """The batch tuple of x, y and sample_weight, shortest first: x alone (wrapped as
    (x,) when it is itself a tuple or list), (x, y) or (x, y, sample_weight), as Keras's
    keras.utils.pack_x_y_sample_weight.

    >>> pack_x_y_sample_weight(1), pack_x_y_sample_weight([1]), pack_x_y_sample_weight(1, 2)
    (1, ([1],), (1, 2))
    """
    if y is None:
        return (x,) if isinstance(x, (tuple, list)) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def set_random_seed(seed: int) -> None:
    """Seed Python's `random`, NumPy's global generator and the seeds adkit.nn draws for
    models, layers and SeedGenerators built without `seed=`, as Keras's
    keras.utils.set_random_seed: the same script then builds and trains the same models.

    >>> from adkit.nn import Sequential, utils
    >>> from adkit.nn.layers import Dense
    >>> utils.set_random_seed(7); a = Sequential([Dense(2, input_shape=(3,))])
    >>> utils.set_random_seed(7); b = Sequential([Dense(2, input_shape=(3,))])
    >>> bool(np.all(a.get_weights()[0] == b.get_weights()[0]))
    True
    >>> from adkit.nn.seeding import set_global_seed; set_global_seed(None)  # unseeded again
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"set_random_seed: expected seed to be an integer, got {seed!r} "
                         f"(of type {type(seed).__name__})")
    if not 0 <= seed < 2**32:
        raise ValueError(f"set_random_seed: seed must be in [0, 2**32) (NumPy's range), got "
                         f"{seed}")
    random.seed(int(seed))
    np.random.seed(int(seed))
    set_global_seed(int(seed))


def pad_sequences(sequences: SequenceType, maxlen: int | None = None, dtype: Any = "int32",
                  padding: str = "pre", truncating: str = "pre",
                  value: Any = 0.0) -> np.ndarray:
    """Sequences of different lengths as one array of shape (len(sequences), maxlen,
    *item shape), as Keras's keras.utils.pad_sequences: longer ones lose items at the
    start ("pre", the default) or the end ("post"), shorter ones get `value` before
    ("pre") or after ("post"); maxlen defaults to the longest sequence.

    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
    array([[2, 3],
           [0, 4]], dtype=int32)
    >>> pad_sequences([[1, 2, 3], [4]], padding="post", truncating="post", maxlen=2)
    array([[1, 2],
           [4, 0]], dtype=int32)
    """
    for name, given in (("padding", padding), ("truncating", truncating)):
        if given not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {name} must be 'pre' or 'post', got {given!r}")
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: sequences must be a list of sequences, got "
                         f"{type(sequences).__name__}")
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer))
                               or maxlen < 1):
        raise ValueError(f"pad_sequences: maxlen must be a positive int or None, got {maxlen!r}")
    lengths, item_shape = [], None
    for i, seq in enumerate(sequences):
        try:
            lengths.append(len(seq))
        except TypeError:
            raise ValueError(f"pad_sequences: sequences must be a list of sequences; item {i} "
                             f"is {seq!r}") from None
        if item_shape is None and len(seq):
            item_shape = np.asarray(seq).shape[1:]
    item_shape = item_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    text = np.issubdtype(np.dtype(dtype), np.str_) or np.issubdtype(np.dtype(dtype), np.bytes_)
    if isinstance(value, str) and np.dtype(dtype) != object and not text:
        raise ValueError(f"pad_sequences: dtype {dtype} cannot hold the padding value "
                         f"{value!r}; use dtype=object for strings")
    out = np.full((len(lengths), maxlen) + tuple(item_shape), value, dtype=dtype)
    for i, seq in enumerate(sequences):
        if not len(seq):
            continue
        kept = np.asarray(seq[-maxlen:] if truncating == "pre" else seq[:maxlen], dtype=dtype)
        if kept.shape[1:] != tuple(item_shape):
            raise ValueError(f"pad_sequences: the items of sequence {i} have shape "
                             f"{kept.shape[1:]}, those before it {tuple(item_shape)}")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out


def normalize(x: Any, axis: int = -1, order: int = 2) -> np.ndarray:
    """x divided by its `order`-norm along `axis` (zero vectors stay zero), as Keras's
    keras.utils.normalize (whose NumPy branch reads axis=0 as -1; here 0 is axis 0).

    >>> normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]])
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"normalize needs numbers, got dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError("normalize needs an array with at least one axis, got a scalar")
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


class Sequence:
    """Base class for a dataset that hands `fit` one batch at a time by index, as
    Keras's `keras.utils.Sequence` (Keras 3: `PyDataset`).

    Subclasses define `__len__` (batches per epoch) and `__getitem__(index)` (batch
    `index`: a tuple `(x, y)` or `(x, y, sample_weight)`; for `predict`, `x` alone
    will do), and may override `on_epoch_end`, which fit calls after every epoch
    (to reshuffle, say). With `fit(shuffle=True)` the batches of each epoch are
    visited in a new random order of their indices.

    >>> class Halves(Sequence):
    ...     def __len__(self): return 2
    ...     def __getitem__(self, i): return np.full((3, 1), i, np.float32), np.zeros(3)
    >>> [len(x) for x, y in Halves()]
    [3, 3]
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__: the number of "
                                  "batches in an epoch")

    def __getitem__(self, index: int) -> tuple:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index): "
                                  "batch `index` as (x, y) or (x, y, sample_weight)")

    def on_epoch_end(self) -> None:
        """Called by fit after each epoch; does nothing unless overridden."""

    def __iter__(self):  # noqa: ANN204 -- a plain generator of batches
        for i in range(len(self)):
            yield self[i]


#: Keras 3's name for the same base class
PyDataset = Sequence
