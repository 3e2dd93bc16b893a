"""Integer categories as one-hot, multi-hot or count vectors: Keras 3's CategoryEncoding,
and the encoding (`encode_categorical`) that Discretization and the lookup layers share.

Keras's rule for the output shape: "one_hot" gives each integer its own vector (an input
whose last axis has length 1 loses that axis); "multi_hot" and "count" pool the integers
of an example (axis 1 of the input, or the whole input when it has one axis).

>>> encode_categorical(np.array([[0, 1], [2, 2]]), "count", 3, np.float32)
array([[1., 1., 0.],
       [0., 0., 2.]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Context, Layer, Shape

OUTPUT_MODES = ("one_hot", "multi_hot", "count")


def encode_categorical(indices: np.ndarray, output_mode: str, depth: int, dtype: Any,
                       count_weights: Any = None, ignore_out_of_range: bool = False,
                       who: str = "encode_categorical") -> np.ndarray:
    """`indices` (integers in [0, depth)) encoded as Keras's output_mode "int",
    "one_hot", "multi_hot" or "count". Out-of-range integers raise a ValueError naming
    `who`, unless `ignore_out_of_range` (then they count for nothing, as Keras's mask
    token in the lookup layers).

    >>> encode_categorical(np.array([2, 0]), "one_hot", 3, np.float32)
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    indices = np.asarray(indices)
    if output_mode == "int":
        return indices.astype(dtype)
    if indices.ndim == 0:
        indices = indices[None]
    if indices.dtype.kind not in "iub":
        if indices.dtype.kind != "f" or np.any(indices != np.round(indices)):
            raise TypeError(f"{who}: inputs must be integer category indices, got dtype "
                            f"{indices.dtype}")
        indices = indices.astype(np.int64)
    valid = (indices >= 0) & (indices < depth)
    if not ignore_out_of_range and not np.all(valid):
        bad = np.unique(indices[~valid])[:5].tolist()
        raise ValueError(f"{who}: inputs must lie in [0, {depth}) for {depth} tokens, got "
                         f"{bad}; raise num_tokens, or map the values first (IntegerLookup)")
    if output_mode == "one_hot" and indices.ndim > 1 and indices.shape[-1] == 1:
        indices, valid = indices[..., 0], valid[..., 0]
    hot = (indices[..., None] == np.arange(depth)) & valid[..., None]
    if output_mode == "one_hot":
        return hot.astype(dtype)
    axis = 1 if indices.ndim > 1 else 0
    if output_mode == "multi_hot":
        return np.any(hot, axis=axis).astype(dtype)
    if count_weights is not None:
        weights = np.asarray(count_weights)
        return np.sum(hot * weights[..., None], axis=axis).astype(weights.dtype)
    return np.sum(hot, axis=axis).astype(dtype)


def encoded_shape(input_shape: Shape, output_mode: str, depth: int) -> Shape:
    """Keras's output shape (batch axis excluded) of `encode_categorical`.

    >>> encoded_shape((1,), "one_hot", 4), encoded_shape((5,), "multi_hot", 4)
    ((4,), (4,))
    """
    if output_mode == "int":
        return tuple(input_shape)
    if output_mode == "one_hot":
        shape = tuple(input_shape[:-1]) if input_shape and input_shape[-1] == 1 \
            else tuple(input_shape)
        return shape + (depth,)
    return tuple(input_shape[1:]) + (depth,)


def check_output_mode(output_mode: Any, allowed: tuple, who: str) -> str:
    """output_mode, Keras's deprecated spellings ("binary", "tf-idf") mapped to today's;
    ValueError naming the choices for anything else."""
    mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
    if mode not in allowed:
        raise ValueError(f"{who}: unknown output_mode {output_mode!r}; use one of "
                         f"{', '.join(map(repr, allowed))}")
    return mode


class CategoryEncoding(Layer):
    """Integer categories in [0, num_tokens) as "multi_hot" (the default), "one_hot" or
    "count" vectors of length num_tokens (Keras 3's CategoryEncoding); no weights.

    >>> CategoryEncoding(num_tokens=4, output_mode="one_hot")(np.array([3, 0]))
    array([[0., 0., 0., 1.],
           [1., 0., 0., 0.]], dtype=float32)
    """

    #: computed with NumPy on concrete arrays (no derivative): a model holding the layer
    #: trains with eager steps (nn/compiled_step.py), and it may take strings or integers
    preprocesses_on_host = True

    def __init__(self, num_tokens: int | None = None, output_mode: str = "multi_hot",
                 sparse: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"CategoryEncoding {self.name!r}"
        self.output_mode = check_output_mode(output_mode, OUTPUT_MODES, who)
        if num_tokens is None or isinstance(num_tokens, bool) \
                or not isinstance(num_tokens, (int, np.integer)) or num_tokens < 1:
            raise ValueError(f"{who}: num_tokens must be an int >= 1 (the number of "
                             f"categories), got {num_tokens!r}; if it is not known, use "
                             "IntegerLookup, which learns it with adapt()")
        if sparse:
            raise ValueError(f"{who}: sparse=True is not supported; adkit.nn's arrays are "
                             "dense (leave sparse=False)")
        self.num_tokens = int(num_tokens)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def call(self, params: dict, x: Any, ctx: Context, count_weights: Any = None) -> Any:
        if count_weights is not None and self.output_mode != "count":
            raise ValueError(f"CategoryEncoding {self.name!r}: count_weights goes with "
                             f"output_mode='count', not {self.output_mode!r}")
        return encode_categorical(np.asarray(x), self.output_mode, self.num_tokens,
                                  self.dtype, count_weights,
                                  who=f"CategoryEncoding {self.name!r}")

    def get_config(self) -> dict:
        return {**super().get_config(), "num_tokens": self.num_tokens,
                "output_mode": self.output_mode, "sparse": False}
