"""Small data helpers with Keras names."""

from __future__ import annotations

import numpy as np

from . import np_utils  # Keras 2's keras.utils.np_utils
from .np_utils import to_categorical


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
