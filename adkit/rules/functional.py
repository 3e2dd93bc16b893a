"""NumPy functions that call the user's functions: np.piecewise, np.apply_along_axis and
np.apply_over_axes, on traced values.

They are no primitives of their own: each one is what NumPy does, written with
operations the table has (indexing, a functional `y[cond] = v`, stack, moveaxis),
so the user's functions are traced like any other code and every engine
differentiates the result. NumPy would instead turn a traced array into a plain
one (losing the derivative), which adkit refuses.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np

from ..table import handles
from .indexing import getitem, index_update
from .shapes import stack, transpose


@handles(np.piecewise, via=(getitem, index_update))
def _np_piecewise(x: Any, condlist: Any, funclist: list, *args: Any, **kw: Any) -> Any:
    """NumPy's piecewise: y[cond_k] = f_k(x[cond_k]) in order (a later condition wins
    where several hold), a constant where f_k is not callable, 0 where none holds; one
    more function than conditions is the value where no condition holds."""
    # as NumPy reads condlist: one condition, unless its first entry is a list or an array
    first = condlist[0] if np.ndim(condlist) > 0 or isinstance(condlist, (list, tuple)) \
        else None
    if first is None or (np.ndim(first) == 0 and not isinstance(first, list)
                         and np.ndim(x) != 0):
        conditions = [condlist]
    else:
        conditions = [condlist[k] for k in range(len(condlist))]
    if len(funclist) not in (len(conditions), len(conditions) + 1):
        raise ValueError(f"np.piecewise: with {len(conditions)} condition(s), funclist must "
                         f"have {len(conditions)} or {len(conditions) + 1} entries, got "
                         f"{len(funclist)}")
    conditions = [np.broadcast_to(np.asarray(c) if not hasattr(c, "shape") else c,
                                  np.shape(x)) for c in conditions]
    if len(funclist) == len(conditions) + 1:
        otherwise = np.logical_not(np.any(np.stack(conditions), axis=0))
        conditions.append(otherwise)
    y = np.zeros_like(x)
    for condition, function in zip(conditions, funclist):
        if callable(function):
            values = x[condition]
            if np.size(values) == 0:
                continue
            y = index_update(y, condition, function(values, *args, **kw))
        else:
            y = index_update(y, condition, function)
    return y


@handles(np.apply_along_axis, via=(getitem, stack, transpose))
def _np_apply_along_axis(func1d: Callable, axis: int, arr: Any, *args: Any, **kw: Any) -> Any:
    """NumPy's apply_along_axis: func1d on every 1-D slice along axis, its results
    stacked where that axis was (their own axes, if any, in its place)."""
    nd = np.ndim(arr)
    if nd == 0:
        raise ValueError("np.apply_along_axis needs an array of at least one dimension")
    if not -nd <= axis < nd:
        raise np.exceptions.AxisError(axis, nd)
    axis %= nd
    moved = np.moveaxis(arr, axis, -1)
    outer = np.shape(moved)[:-1]
    if 0 in outer:
        raise ValueError("np.apply_along_axis cannot apply a function to 0 slices")
    results = [func1d(moved[index], *args, **kw) for index in itertools.product(
        *(range(n) for n in outer))]
    shapes = {np.shape(r) for r in results}
    if len(shapes) != 1:
        raise ValueError(f"np.apply_along_axis: the function returned results of different "
                         f"shapes {sorted(shapes)}")
    (inner,) = shapes
    out = np.reshape(np.stack(results), outer + inner)
    # the result's own axes go where the slices' axis was
    k = len(outer)
    return np.moveaxis(out, list(range(k, k + len(inner))), list(range(axis, axis + len(inner))))


@handles(np.apply_over_axes, via=(stack,))
def _np_apply_over_axes(func: Callable, a: Any, axes: Any) -> Any:
    """NumPy's apply_over_axes: a = func(a, axis) for each axis in turn, a reduced axis
    put back as a length-1 one."""
    for axis in np.atleast_1d(axes).tolist():
        axis = int(axis) % np.ndim(a) if np.ndim(a) else int(axis)
        result = func(a, axis)
        if np.ndim(result) == np.ndim(a):
            a = result
        elif np.ndim(result) == np.ndim(a) - 1:
            a = np.expand_dims(result, axis)
        else:
            raise ValueError("np.apply_over_axes: the function must return an array of the "
                             "same number of dimensions, or one fewer")
    return a
