"""Keras 2's `keras.utils.np_utils`, where early Keras scripts found `to_categorical`:
`from adkit.nn.utils import np_utils` then `np_utils.to_categorical(y, num_classes)`;
`adkit.nn.utils.to_categorical` is the same function.

>>> from adkit.nn.utils import np_utils
>>> np_utils.to_categorical([2, 0], 3)
array([[0., 0., 1.],
       [1., 0., 0.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

__all__ = ["to_categorical"]


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
