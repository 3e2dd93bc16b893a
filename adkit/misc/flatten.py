"""One flat vector from a nest of tuples, lists and dicts of arrays and numbers, and back.

>>> import numpy as np
>>> vector, unflatten = flatten({"w": np.ones((2, 2)), "b": 3.0})
>>> vector
array([3., 1., 1., 1., 1.])
>>> unflatten(vector * 2)["w"]
array([[2., 2.],
       [2., 2.]])

Dict entries go in sorted key order (autograd's and JAX's). Both directions are NumPy
operations, so they differentiate: `grad(lambda v: loss(unflatten(v)))` works.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np

from ..tracer import primal


def flatten(value: Any) -> tuple[Any, Callable[[Any], Any]]:
    """(1-D array of every leaf's entries in order, unflatten) for a nest of tuples,
    lists and dicts with arrays or numbers at the leaves; unflatten(vector) rebuilds the
    nest with each leaf's shape (numbers come back as 0-d entries)."""
    leaves: list = []
    rebuild = _take(value, leaves)
    shapes = [np.shape(primal(leaf)) for leaf in leaves]
    sizes = [int(np.prod(s)) for s in shapes]
    ends = np.cumsum(sizes).tolist()
    pieces = [np.ravel(leaf) for leaf in leaves]
    vector = np.concatenate(pieces) if pieces else np.zeros(0)

    def unflatten(vector: Any) -> Any:
        if np.shape(primal(vector)) != (sum(sizes),):
            raise ValueError(f"unflatten: expected a vector of {sum(sizes)} entries, got "
                             f"shape {np.shape(primal(vector))}")
        parts = [vector[end - size:end] for size, end in zip(sizes, ends)]
        return rebuild(iter([np.reshape(part, shape) for part, shape in zip(parts, shapes)]))

    return vector, unflatten


def _take(value: Any, leaves: list) -> Callable[[Any], Any]:
    """Append value's leaves to leaves (dicts in sorted key order); return the function
    that rebuilds value's nest from an iterator over new leaves."""
    if isinstance(value, (list, tuple)):
        parts = [_take(item, leaves) for item in value]
        kind = type(value)
        if isinstance(value, tuple) and hasattr(value, "_fields"):   # a namedtuple
            return lambda new: kind(*(part(new) for part in parts))
        return lambda new: kind(part(new) for part in parts)
    if isinstance(value, dict):
        keys = sorted(value)
        parts = [_take(value[k], leaves) for k in keys]

        def rebuild(new: Any) -> dict:
            rebuilt = {k: part(new) for k, part in zip(keys, parts)}
            return {k: rebuilt[k] for k in value}     # the caller's key order
        return rebuild
    if not isinstance(primal(value), (np.ndarray, numbers.Number, np.generic)):
        raise TypeError(f"flatten: a leaf of type {type(value).__name__} is neither an "
                        "array nor a number; flatten takes tuples, lists and dicts of "
                        "arrays and numbers")
    leaves.append(value)
    return lambda new: next(new)


def flatten_func(func: Callable, example: Any) -> tuple[Callable, Callable, Any]:
    """func(params, *args) -> nest, as a function of flat vectors: returns (flat_func,
    unflatten, flat example), flat_func(vector, *args) being func's output flattened."""
    flat_example, unflatten = flatten(example)

    def flat_func(vector: Any, *args: Any) -> Any:
        return flatten(func(unflatten(vector), *args))[0]

    return flat_func, unflatten, flat_example
