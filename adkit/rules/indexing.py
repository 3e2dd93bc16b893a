"""Indexing and selection: x[i], writes into arrays, where, clip, take, sort, flips.

Four primitives carry the rules and are each other's transposes:
getitem (gather) <-> untake (scatter-add into zeros), and index_update /
index_add (the functional forms of `x[i] = v` and np.add.at). Everything that
only moves or repeats elements (roll, tile, repeat, pad, delete, ...) is a
gather: apply NumPy's own function to the element positions 0..size-1, then
index the flattened array with the result, so its derivative is exact by
construction and every mode and order comes for free.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any, Callable

import numpy as np

from ..inplace import assign
from ..table import ON_OBJECTS, defprim, handles
from ..tracer import BoxBase, primal
from .helpers import batch_ndim, dtype_of, lift, ndim_of, normalize_axis, shape_of, size_of, unbroadcast


def as_index_tuple(index: Any) -> tuple:
    return index if isinstance(index, tuple) else (index,)


def is_basic(index: Any) -> bool:
    """Basic indexing (ints, slices, None, ...): a view, each element selected once."""
    for i in as_index_tuple(index):
        if isinstance(i, (bool, np.bool_)):
            return False
        if i is None or i is Ellipsis or isinstance(i, (slice, numbers.Integral)):
            continue
        return False
    return True


def check_index(index: Any) -> Any:
    for i in as_index_tuple(index):
        if isinstance(i, BoxBase):
            raise TypeError("an index is a traced value; indices must be integers, slices "
                            "or boolean masks (use adkit.stop_gradient(i).astype(int))")
        if isinstance(i, list):
            return tuple(np.asarray(j) if isinstance(j, list) else j
                         for j in as_index_tuple(index)) if isinstance(index, tuple) \
                else np.asarray(index)
    return index


def positions(shape: tuple, index: Any) -> np.ndarray:
    """Flat positions of the elements x[index] selects."""
    return np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)[index]


def _batched_index(index: Any, nb: int) -> tuple:
    return (slice(None),) * nb + as_index_tuple(index)


# --- getitem and its transpose --------------------------------------------------------------

def _getitem_jvp(g, ans, x, index):
    nb = batch_ndim(g, x)
    if nb == 0:
        return g[index]
    if is_basic(index):
        return g[_batched_index(index, nb)]
    batch = shape_of(g)[:nb]
    return np.reshape(g, batch + (-1,))[_batched_index(positions(shape_of(x), index), nb)]


getitem = defprim("getitem", operator.getitem, view=True, sympy=ON_OBJECTS,
                  jvp=(_getitem_jvp, None),
                  vjp=(lambda ans, x, index: lambda g: untake(g, index, shape_of(x)), None))


def _untake_impl(g, index, shape):
    out = np.zeros(shape, dtype=np.result_type(g))
    if is_basic(index) or all(getattr(i, "dtype", None) == bool for i in as_index_tuple(index)):
        out[index] = g  # each position selected at most once
    else:
        np.add.at(out, _integer_index(index), g)  # repeated positions accumulate
    return out


def _integer_index(index: Any) -> tuple:
    """Boolean masks as integer arrays (np.add.at takes integers and slices)."""
    out = []
    for i in as_index_tuple(index):
        if getattr(i, "dtype", None) == bool:
            out.extend(np.nonzero(i))
        else:
            out.append(i)
    return tuple(out)


def _untake_jvp(t, ans, g, index, shape):
    nb = batch_ndim(t, g)
    if nb == 0:
        return untake(t, index, shape)
    batch = shape_of(t)[:nb]
    if is_basic(index):
        return untake(t, _batched_index(index, nb), batch + tuple(shape))
    pos = positions(shape, index)
    flat = untake(t, _batched_index(pos, nb), batch + (int(np.prod(shape, dtype=np.int64)),))
    return np.reshape(flat, batch + tuple(shape))


untake = defprim("untake", _untake_impl, jvp=(_untake_jvp, None, None), sympy=ON_OBJECTS,
                 vjp=(lambda ans, g, index, shape: lambda c: c[index], None, None))
getitem.writeback = lambda base, new, index: index_update(base, index, new)


def _getitem(x, index):
    return getitem(x, check_index(index))


# --- functional writes: x[index] = v and np.add.at -------------------------------------------

def _index_update_impl(x, index, v):
    out = np.array(x, copy=True)
    out[index] = v
    return out


def _index_add_impl(x, index, v):
    out = np.array(x, copy=True)
    np.add.at(out, index, v)
    return out


def _on_objects(x, v, index):
    """(x, index, v) for a write on object arrays of expressions; a 0-d v is written as
    its element (an object array would store the 0-d array itself)."""
    v = np.asarray(v, dtype=object)
    return np.asarray(x, dtype=object), index, v[()] if v.ndim == 0 else v


def _write_jvp(write):
    """JVP of index_update / index_add: the same write applied to the tangents."""
    def jvp(tangents, ans, x, index, v):
        tx, tv = tangents[0], tangents[2]
        ref, ref_primal = (tx, x) if tx is not None else (tv, v)
        nb = batch_ndim(ref, ref_primal)
        batch = shape_of(ref)[:nb]
        if tx is None:
            tx = np.zeros(batch + shape_of(x), dtype=dtype_of(ans))
        if tv is None:
            tv = 0.0
        elif nb:
            tv = lift(tv, ndim_of(v), np.ndim(primal(x)[index]), nb)
        if nb == 0:
            return write(tx, index, tv)
        if is_basic(index):
            return write(tx, _batched_index(index, nb), tv)
        pos = positions(shape_of(x), index)
        flat = write(np.reshape(tx, batch + (-1,)), _batched_index(pos, nb), tv)
        return np.reshape(flat, batch + shape_of(x))
    return jvp


def _landed(x_shape: tuple, index: Any) -> np.ndarray:
    """Which writes of x[index] = v survive: with repeated indices NumPy keeps the last."""
    target_shape = np.empty(x_shape, dtype=bool)[index].shape
    ids = np.arange(int(np.prod(target_shape, dtype=np.int64))).reshape(target_shape)
    winner = np.full(x_shape, -1)
    winner[index] = ids
    return winner[index] == ids


def _update_vjp_v(ans, x, index, v):
    if is_basic(index):
        return lambda g: unbroadcast(g[index], shape_of(v), True)
    landed = _landed(shape_of(x), index)
    return lambda g: unbroadcast(np.where(landed, g[index], 0.0), shape_of(v), True)


index_update = defprim("index_update", _index_update_impl, jvp_joint=None,
                       sympy=lambda sp, at, x, index, v:
                       _index_update_impl(*_on_objects(x, v, index)),
                       vjp=(lambda ans, x, index, v: lambda g: index_update(g, index, 0.0),
                            None, _update_vjp_v))
index_update.jvp_joint = _write_jvp(lambda *a: index_update(*a))

index_add = defprim("index_add", _index_add_impl,
                    sympy=lambda sp, at, x, index, v:
                    _index_add_impl(*_on_objects(x, v, index)),
                    vjp=(lambda ans, x, index, v: lambda g: g, None,
                         lambda ans, x, index, v:
                         lambda g: unbroadcast(g[index], shape_of(v), True)))
index_add.jvp_joint = _write_jvp(lambda *a: index_add(*a))


def setitem(box: BoxBase, index: Any, value: Any) -> None:
    """`box[index] = value` on a traced array: index_update, then rebind the box."""
    if not box.shape:
        raise TypeError(f"{box._kind} of shape () does not support item "
                        "assignment (neither does a NumPy scalar)")
    assign(box, index_update(box, index, value))


# --- where and clip ---------------------------------------------------------------------------

where = defprim("where", np.where, elementwise=True, sympy=ON_OBJECTS,
                jvp=(None, lambda g, ans, c, x, y: np.where(c, g, 0.0),
                     lambda g, ans, c, x, y: np.where(c, 0.0, g)),
                vjp=(None, lambda ans, c, x, y: lambda g: np.where(c, g, 0.0),
                     lambda ans, c, x, y: lambda g: np.where(c, 0.0, g)))


@handles(np.where, via=where)
def _np_where(condition, x=None, y=None):
    if x is None and y is None:
        return np.nonzero(primal(condition))
    return where(primal(condition), x, y)


def _clip_selection(ans, lo, hi):
    """Which input each output came from: the bound at and beyond the bound (so
    clip(x, 0, None) has derivative 0 at 0, like relu), else x."""
    ans = primal(ans)
    at_hi = np.zeros(np.shape(ans), bool) if hi is None else ans == primal(hi)
    at_lo = np.zeros(np.shape(ans), bool) if lo is None else (ans == primal(lo)) & ~at_hi
    return ~(at_lo | at_hi), at_lo, at_hi


def _clip_rule(k):
    def jvp(g, ans, x, lo, hi):
        return np.where(_clip_selection(ans, lo, hi)[k], g, 0.0)
    return jvp, (lambda ans, x, lo, hi: lambda g: jvp(g, ans, x, lo, hi))


(_cx, _vx), (_clo, _vlo), (_chi, _vhi) = _clip_rule(0), _clip_rule(1), _clip_rule(2)


def _sym_clip(sp, at, x, lo, hi):
    """The input each output came from, chosen at the point."""
    at.branch("which bound")
    inner, at_lo, at_hi = _clip_selection(at.ans, at.values[1], at.values[2])
    out = np.where(inner, x, 0)
    if lo is not None:
        out = np.where(at_lo, lo, out)
    if hi is not None:
        out = np.where(at_hi, hi, out)
    return out
clip = defprim("clip", lambda x, lo, hi: np.clip(x, lo, hi), elementwise=True, sympy=_sym_clip,
               jvp=(_cx, _clo, _chi), vjp=(_vx, _vlo, _vhi))


@handles(np.clip, via=clip)
def _np_clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue,
             max=np._NoValue, **kwargs):
    lo = a_min if a_min is not np._NoValue else (None if min is np._NoValue else min)
    hi = a_max if a_max is not np._NoValue else (None if max is np._NoValue else max)
    if out is not None:
        raise TypeError("np.clip(..., out=...) is not supported on traced values")
    return clip(a, lo, hi)


# --- take, sort and other selections ------------------------------------------------------------

def _along(axis: int, ndim: int, index: Any) -> tuple:
    return (slice(None),) * axis + (index,)


@handles(np.take, via=getitem)
def _np_take(a, indices, axis=None, out=None, mode="raise"):
    indices = np.asarray(primal(indices))
    n = size_of(a) if axis is None else shape_of(a)[normalize_axis(axis, ndim_of(a))]
    if mode == "wrap":
        indices = np.mod(indices, n)
    elif mode == "clip":
        indices = np.clip(indices, 0, n - 1)
    if axis is None:
        return getitem(np.ravel(a), indices)
    return getitem(a, _along(normalize_axis(axis, ndim_of(a)), ndim_of(a), indices))


def along_axis_index(indices: np.ndarray, axis: int, shape: tuple) -> tuple:
    """The full advanced index that np.take_along_axis uses."""
    nd = len(shape)
    out = []
    for d in range(nd):
        if d == axis:
            out.append(indices)
        else:
            s = [1] * nd
            s[d] = shape[d]
            out.append(np.arange(shape[d]).reshape(s))
    return tuple(out)


@handles(np.take_along_axis, via=getitem)
def _np_take_along_axis(arr, indices, axis=-1):
    indices = np.asarray(primal(indices))
    if axis is None:
        return getitem(np.ravel(arr), indices)
    axis = normalize_axis(axis, ndim_of(arr))
    return getitem(arr, along_axis_index(indices, axis, shape_of(arr)))


@handles(np.put_along_axis, via=index_update)
def _np_put_along_axis(arr, indices, values, axis):
    if not isinstance(arr, BoxBase):
        raise TypeError("np.put_along_axis writes traced values into a plain array; make "
                        "the array traced first, e.g. np.zeros_like(x, shape=...)")
    axis = normalize_axis(axis, ndim_of(arr))
    index = along_axis_index(np.asarray(primal(indices)), axis, shape_of(arr))
    assign(arr, index_update(arr, index, values))


@handles(np.sort, via=getitem)
def _np_sort(a, axis=-1, kind=None, order=None, *, stable=None):
    if axis is None:
        a, axis = np.ravel(a), 0
    order_ = np.argsort(primal(a), axis=axis, kind=kind, stable=stable)
    return _np_take_along_axis(a, order_, axis)


@handles(np.partition, via=getitem)
def _np_partition(a, kth, axis=-1, kind="introselect", order=None):
    if axis is None:
        a, axis = np.ravel(a), 0
    return _np_take_along_axis(a, np.argpartition(primal(a), kth, axis=axis), axis)


@handles(np.compress, via=getitem)
def _np_compress(condition, a, axis=None, out=None):
    picked = np.nonzero(np.asarray(primal(condition)))[0]
    return _np_take(a, picked, axis)


@handles(np.extract, via=getitem)
def _np_extract(condition, arr):
    return getitem(np.ravel(arr), np.nonzero(np.ravel(primal(condition)))[0])


@handles(np.flip, via=getitem)
def _np_flip(m, axis=None):
    nd = ndim_of(m)
    axes = range(nd) if axis is None else [normalize_axis(a, nd) for a in np.atleast_1d(axis)]
    index = [slice(None)] * nd
    for a in axes:
        index[a] = slice(None, None, -1)
    return getitem(m, tuple(index))


@handles(np.flipud, via=getitem)
def _np_flipud(m):
    return _np_flip(m, 0)


@handles(np.fliplr, via=getitem)
def _np_fliplr(m):
    return _np_flip(m, 1)


@handles(np.rot90, via=getitem)
def _np_rot90(m, k=1, axes=(0, 1)):
    nd = ndim_of(m)
    a0, a1 = (normalize_axis(a, nd) for a in axes)
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return _np_flip(_np_flip(m, a0), a1)
    perm = list(range(nd))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return np.transpose(_np_flip(m, a1), perm)
    return _np_flip(np.transpose(m, perm), a1)


# --- diagonals and triangles ------------------------------------------------------------------------

def _diagonal_index(n_rows: int, n_cols: int, offset: int) -> tuple:
    rows = np.arange(max(0, -offset), min(n_rows, n_cols - offset))
    return rows, rows + offset


@handles(np.diagonal, via=getitem)
def _np_diagonal(a, offset=0, axis1=0, axis2=1):
    moved = np.moveaxis(a, (axis1, axis2), (-2, -1))
    rows, cols = _diagonal_index(shape_of(moved)[-2], shape_of(moved)[-1], offset)
    return getitem(moved, (Ellipsis, rows, cols))


@handles(np.diag, via=(getitem, untake))
def _np_diag(v, k=0):
    if ndim_of(v) == 1:
        n = shape_of(v)[0] + abs(k)
        return untake(v, _diagonal_index(n, n, k), (n, n))
    if ndim_of(v) == 2:
        return _np_diagonal(v, k)
    raise ValueError("Input must be 1- or 2-d.")


@handles(np.diagflat, via=untake)
def _np_diagflat(v, k=0):
    return _np_diag(np.ravel(v), k)


@handles(np.trace, via=getitem)
def _np_trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    out_ = np.sum(_np_diagonal(a, offset, axis1, axis2), axis=-1)
    return out_ if dtype is None else out_.astype(dtype)


@handles(np.triu, via=where)
def _np_triu(m, k=0):
    # a 1-D m is a row repeated into a square matrix, as NumPy's tri(*m.shape[-2:])
    return where(~np.tri(*shape_of(m)[-2:], k=k - 1, dtype=bool), m, 0.0)


@handles(np.tril, via=where)
def _np_tril(m, k=0):
    return where(np.tri(*shape_of(m)[-2:], k=k, dtype=bool), m, 0.0)


@handles(np.fill_diagonal, via=index_update)
def _np_fill_diagonal(a, val, wrap=False):
    probe = np.zeros(shape_of(a), dtype=bool)
    np.fill_diagonal(probe, True, wrap=wrap)
    index = np.nonzero(probe)
    values = val if ndim_of(val) == 0 else np.resize(val, len(index[0]))
    assign(a, index_update(a, index, values))


# --- operations that only move or repeat elements: gathers -----------------------------------------

def gather_by(numpy_fn: Callable) -> Callable:
    """A handler for a linear map that only moves or repeats elements."""
    def handler(a, *args, **kwargs):
        args = tuple(_plain_count(v) for v in args)
        kwargs = {k: _plain_count(v) for k, v in kwargs.items()}
        where_from = numpy_fn(_positions_of(a), *args, **kwargs)
        return getitem(np.ravel(a), where_from)
    handler.__name__ = numpy_fn.__name__
    return handler


def _plain_count(v: Any) -> Any:
    """A traced shift, count or index (np.repeat's repeats, np.tile's reps, ...) as the plain
    integers it holds: it only picks positions, so its derivative is 0. A differentiated int
    argument arrives as a float, so whole floats go back to ints."""
    if isinstance(v, (tuple, list)):
        return type(v)(_plain_count(x) for x in v)
    if not isinstance(v, BoxBase):
        return v
    value = primal(v)
    if np.asarray(value).dtype.kind == "f" and np.all(np.mod(value, 1) == 0):
        return np.asarray(value).astype(np.int64)[()]
    return value


def _positions_of(a: Any) -> np.ndarray:
    return np.arange(size_of(a)).reshape(shape_of(a))


for _fn in (np.roll, np.tile, np.repeat, np.delete, np.resize):
    handles(_fn, via=getitem)(gather_by(_fn))


@handles(np.pad, via=(getitem, where))
def _np_pad(array, pad_width, mode="constant", **kwargs):
    if callable(mode) or mode not in ("constant", "edge", "reflect", "symmetric", "wrap", "empty"):
        raise TypeError(f"np.pad(mode={mode!r}) is not supported on traced values; supported "
                        "modes: constant, edge, reflect, symmetric, wrap")
    if mode in ("constant", "empty"):
        where_from = np.pad(_positions_of(array), pad_width, mode="constant", constant_values=-1)
        constants = kwargs.get("constant_values", 0)
        if isinstance(constants, BoxBase):
            raise TypeError("np.pad: traced constant_values are not supported")
        filler = np.pad(np.zeros(shape_of(array), dtype=dtype_of(array)), pad_width,
                        mode="constant", constant_values=constants)
        inside = where_from >= 0
        return where(inside, getitem(np.ravel(array), np.maximum(where_from, 0)), filler)
    where_from = np.pad(_positions_of(array), pad_width, mode=mode, **kwargs)
    return getitem(np.ravel(array), where_from)


@handles(np.select, via=where)
def _np_select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    out = default
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        out = where(primal(cond), choice, out)
    return out


@handles(np.nan_to_num, via=where)
def _np_nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    v = primal(x)
    big = np.finfo(dtype_of(x)).max
    out = where(np.isnan(v), nan, x)
    out = where(np.isposinf(v), big if posinf is None else posinf, out)
    return where(np.isneginf(v), -big if neginf is None else neginf, out)
