"""Small data helpers with Keras names."""

from __future__ import annotations

import numpy as np


def to_categorical(y: np.ndarray, num_classes: int | None = None,
                   dtype: str = "float32") -> np.ndarray:
    """Integer class ids -> one-hot rows: to_categorical([0, 2], 3) -> [[1,0,0],[0,0,1]]."""
    y = np.asarray(y)
    if y.ndim >= 2 and y.shape[-1] == 1:   # (N, 1) column of ids; a batch of one stays (1,)
        y = y[..., 0]
    if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("to_categorical needs integer class ids; got fractional values")
    ids = y.astype(np.int64)
    if num_classes is None:
        num_classes = int(ids.max()) + 1 if ids.size else 0
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
        raise ValueError(f"class ids must be in [0, {num_classes}), got range "
                         f"[{ids.min()}, {ids.max()}]")
    out = np.zeros(ids.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, ids[..., None], 1, axis=-1)
    return out


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
