"""Arrays made from traced values, and questions about them.

np.zeros_like(x) of a traced x is itself traced (with a zero derivative), so
`y = np.zeros_like(x, shape=(3,)); y[0] = x` records the write. Queries whose
answers are shapes, integers or booleans (np.shape, np.isclose, np.unique's
counts, ...) carry no derivative and return plain values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..inplace import assign
from ..table import ON_OBJECTS, defnondiff, defprim, handles
from ..tracer import BoxBase, primal
from .helpers import dtype_of, shape_of
from .indexing import index_add


def _no_derivative(*args: Any, **kwargs: Any) -> None:
    return None


def _like_impl(fill: float):
    def impl(x, dtype=None, shape=None):
        dt = dtype_of(x) if dtype is None else np.dtype(dtype)
        return np.full(shape_of(x) if shape is None else shape, fill, dtype=dt)
    return impl


# outputs that do not depend on x but stay traced, so in-place writes into them are recorded
zeros_like = defprim("zeros_like", _like_impl(0.0), jvp=_no_derivative,
                     vjp=lambda ans, *a, **k: None, sympy=ON_OBJECTS)
ones_like = defprim("ones_like", _like_impl(1.0), jvp=_no_derivative,
                    vjp=lambda ans, *a, **k: None, sympy=ON_OBJECTS)


def _discrete(dtype: Any) -> bool:
    return dtype is not None and np.dtype(dtype).kind not in "fc"


@handles(np.zeros_like, np.empty_like, via=zeros_like)
def _np_zeros_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    if _discrete(dtype):
        return np.zeros(shape_of(a) if shape is None else shape, dtype=dtype)
    return zeros_like(a, dtype, shape)


@handles(np.ones_like, via=ones_like)
def _np_ones_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    if _discrete(dtype):
        return np.ones(shape_of(a) if shape is None else shape, dtype=dtype)
    return ones_like(a, dtype, shape)


@handles(np.full_like, via=zeros_like)
def _np_full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    if _discrete(dtype):
        return np.full(shape_of(a) if shape is None else shape, primal(fill_value), dtype=dtype)
    base = _np_zeros_like(a, dtype, shape=shape) if isinstance(a, BoxBase) else \
        np.zeros(shape_of(a) if shape is None else shape, dtype=dtype or dtype_of(a))
    return base + fill_value


@handles(np.copyto, via=())
def _np_copyto(dst, src, casting="same_kind", where=True):
    if not isinstance(dst, BoxBase):
        raise TypeError(
            "a traced value is being copied into a plain array (np.copyto, or np.full with a "
            "traced fill value), which would drop its derivative; make the destination "
            "traced instead, e.g. np.zeros_like(x, shape=...) + value")
    new = np.broadcast_to(src, shape_of(dst)) if shape_of(src) != shape_of(dst) else src
    assign(dst, new if where is True else np.where(primal(where), new, dst))


@handles(np.linspace, via=())
def _np_linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *,
                 device=None):
    num = int(num)
    div = (num - 1) if endpoint else num
    span = stop - start
    dt = np.result_type(dtype_of(start), dtype_of(stop), 1.0)  # as np.linspace: floats stay
    steps = np.arange(num, dtype=dt)
    shape = np.broadcast_shapes(shape_of(start), shape_of(stop))
    steps = np.reshape(steps, (num,) + (1,) * len(shape))
    step = span / div if div > 0 else span * np.nan
    out = start + steps * step if div > 0 else start + steps * span
    if endpoint and num > 1:
        out = np.concatenate([out[:-1], np.expand_dims(stop + 0.0 * start, 0)], axis=0)
    if axis != 0:
        out = np.moveaxis(out, 0, axis)
    if dtype is not None:
        out = out.astype(dtype)
    return (out, step) if retstep else out


@handles(np.meshgrid, via=())
def _np_meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    nd = len(xi)
    outs = []
    for i, x in enumerate(xi):
        shape = [1] * nd
        shape[i] = -1
        outs.append(np.reshape(x, tuple(shape)))
    if indexing == "xy" and nd > 1:
        outs = [np.swapaxes(o, 0, 1) for o in outs]
    if not sparse:
        outs = list(np.broadcast_arrays(*outs))
    return tuple(outs) if not copy else tuple(np.copy(o) for o in outs)


@handles(np.unique, via=())
def _np_unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None,
               *, equal_nan=True, sorted=True):
    if axis is not None:
        raise TypeError("np.unique(..., axis=...) is not supported on traced values")
    values, index, inverse, counts = np.unique(primal(ar), True, True, True, equal_nan=equal_nan)
    out = (np.ravel(ar)[index],)
    if return_index:
        out += (index,)
    if return_inverse:
        out += (inverse.reshape(shape_of(ar)),)
    if return_counts:
        out += (counts,)
    return out[0] if len(out) == 1 else out


@handles(np.bincount, via=())
def _np_bincount(x, weights=None, minlength=0):
    x = np.asarray(primal(x))
    if weights is None or not isinstance(weights, BoxBase):
        return np.bincount(x, primal(weights) if weights is not None else None, minlength)
    n = max(int(x.max()) + 1 if x.size else 0, minlength)
    zeros = np.zeros(n, dtype=np.result_type(dtype_of(weights), np.float64))
    return index_add(zeros, x, weights)


@handles(np.interp, via=())
def _np_interp(x, xp, fp, left=None, right=None, period=None):
    if period is not None:
        raise TypeError("np.interp(..., period=...) is not supported on traced values")
    xp = xp if isinstance(xp, BoxBase) else np.asarray(xp, dtype=float)
    fp = fp if isinstance(fp, BoxBase) else np.asarray(fp, dtype=float)
    xp_, x_ = np.asarray(primal(xp)), np.asarray(primal(x))
    n = xp_.shape[0]
    i = np.clip(np.searchsorted(xp_, x_, side="right") - 1, 0, n - 2)
    x0, x1 = xp[i], xp[i + 1]
    f0, f1 = fp[i], fp[i + 1]
    w = (x - x0) / (x1 - x0)
    out = f0 + w * (f1 - f0)
    lo = fp[0] if left is None else left
    hi = fp[-1] if right is None else right
    out = np.where(x_ < xp_[0], lo, out)
    out = np.where(x_ > xp_[-1], hi, out)
    return np.where(x_ == xp_[-1], fp[-1], out) if n > 1 else out


def _query(fn):
    return defnondiff(fn.__name__, fn, numpy=fn)


for _fn in (np.shape, np.ndim, np.size, np.isclose, np.allclose, np.array_equal,
            np.array_equiv, np.isreal, np.iscomplex, np.iscomplexobj, np.isrealobj,
            np.isneginf, np.isposinf, np.nonzero, np.argwhere, np.flatnonzero, np.round,
            np.around, np.fix, np.digitize, np.may_share_memory, np.shares_memory,
            np.result_type, np.lexsort):
    _query(_fn)
