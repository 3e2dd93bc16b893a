"""Shape operations: reshape, transpose, joining and splitting, broadcasting, casting.

All are linear, so a JVP applies the operation itself to the tangent, shifted
past its leading batch axes, and a VJP applies the inverse rearrangement.
Most NumPy spellings (squeeze, ravel, moveaxis, hstack, split, ...) are thin
compositions of a few primitives here, so they need no rules of their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..table import ON_OBJECTS, defnondiff, defprim, handles
from ..tracer import EveryArgument, primal
from .helpers import (batch_ndim, dtype_of, lift, ndim_of, normalize_axis, shape_of, size_of, unbroadcast)


def _shape_tuple(shape: Any) -> tuple:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _resolve(shape: tuple, size: int) -> tuple:
    """A shape with its -1 filled in."""
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        shape = tuple(size // max(known, 1) if s == -1 else s for s in shape)
    return shape


# --- reshape -------------------------------------------------------------------------

def _reshape_impl(x, shape, order="C"):
    return np.reshape(x, shape, order=order)


def _reshape_jvp(g, ans, x, shape, order="C"):
    nb = batch_ndim(g, x)
    batch = shape_of(g)[:nb]
    new = shape_of(ans)
    if order == "C" or nb == 0:
        return np.reshape(g, batch + new, order=order)
    # F order runs the first axis fastest: move the batch axes out of its way
    moved = np.moveaxis(g, tuple(range(nb)), tuple(range(-nb, 0)))
    out = np.reshape(moved, new + batch, order=order)
    return np.moveaxis(out, tuple(range(-nb, 0)), tuple(range(nb)))


reshape = defprim("reshape", _reshape_impl, view=True, sympy=ON_OBJECTS,
                  jvp=_reshape_jvp,
                  vjp=lambda ans, x, shape, order="C":
                      lambda g: np.reshape(g, shape_of(x), order=order))
reshape.writeback = lambda base, new, shape, order="C": np.reshape(new, shape_of(base), order=order)


@handles(np.reshape, via=reshape)
def _np_reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    shape = newshape if shape is None else shape
    if order == "A":
        order = "C"
    out = reshape(a, _resolve(_shape_tuple(shape), size_of(a)), order)
    return np.copy(out) if copy else out


@handles(np.ravel, via=reshape)
def _np_ravel(a, order="C"):
    return reshape(a, (size_of(a),), "C" if order in ("A", "K") else order)


@handles(np.squeeze, via=reshape)
def _np_squeeze(a, axis=None):
    s = shape_of(a)
    if axis is None:
        drop = {i for i, n in enumerate(s) if n == 1}
    else:
        drop = {normalize_axis(ax, len(s)) for ax in (axis if isinstance(axis, tuple) else (axis,))}
        for ax in drop:
            if s[ax] != 1:
                raise ValueError("cannot select an axis to squeeze out which has size "
                                 "not equal to one")
    return reshape(a, tuple(n for i, n in enumerate(s) if i not in drop))


@handles(np.expand_dims, via=reshape)
def _np_expand_dims(a, axis):
    s = list(shape_of(a))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    nd = len(s) + len(axes)
    for ax in sorted(normalize_axis(ax, nd) for ax in axes):
        s.insert(ax, 1)
    return reshape(a, tuple(s))


def _atleast(nd: int):
    def atleast(*arys):
        outs = []
        for a in arys:
            s = shape_of(a)
            if len(s) >= nd:
                outs.append(a)
            elif nd == 1:
                outs.append(reshape(a, (1,)))
            elif nd == 2:
                outs.append(reshape(a, (1,) * (2 - len(s)) + s))
            else:  # NumPy's atleast_3d puts a 1-D array in the middle
                outs.append(reshape(a, {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)]))
        return outs[0] if len(outs) == 1 else tuple(outs)
    return atleast


handles(np.atleast_1d, via=reshape)(_atleast(1))
handles(np.atleast_2d, via=reshape)(_atleast(2))
handles(np.atleast_3d, via=reshape)(_atleast(3))


# --- transpose and friends -------------------------------------------------------------

def _perm(axes: Any, ndim: int) -> tuple:
    if axes is None:
        return tuple(range(ndim))[::-1]
    return tuple(normalize_axis(a, ndim) for a in axes)


def _transpose_jvp(g, ans, x, axes=None):
    nb = batch_ndim(g, x)
    return np.transpose(g, tuple(range(nb)) + tuple(a + nb for a in _perm(axes, ndim_of(x))))


def _transpose_vjp(ans, x, axes=None):
    inverse = tuple(np.argsort(_perm(axes, ndim_of(x))))
    return lambda g: np.transpose(g, inverse)


transpose = defprim("transpose", lambda x, axes=None: np.transpose(x, axes), view=True,
                    sympy=ON_OBJECTS, jvp=_transpose_jvp, vjp=_transpose_vjp)
transpose.writeback = lambda base, new, axes=None: np.transpose(
    new, tuple(np.argsort(_perm(axes, ndim_of(base)))))


@handles(np.transpose, np.permute_dims, via=transpose)
def _np_transpose(a, axes=None):
    if axes is not None and isinstance(axes, (int, np.integer)):
        axes = (axes,)
    return transpose(a, None if axes is None else _perm(axes, ndim_of(a)))


@handles(np.swapaxes, via=transpose)
def _np_swapaxes(a, axis1, axis2):
    perm = list(range(ndim_of(a)))
    i, j = normalize_axis(axis1, len(perm)), normalize_axis(axis2, len(perm))
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(a, tuple(perm))


@handles(np.matrix_transpose, via=transpose)
def _np_matrix_transpose(x):
    if ndim_of(x) < 2:
        raise ValueError("matrix_transpose needs an array of at least 2 dimensions")
    return _np_swapaxes(x, -1, -2)


@handles(np.moveaxis, via=transpose)
def _np_moveaxis(a, source, destination):
    nd = ndim_of(a)
    src = [normalize_axis(s, nd) for s in np.atleast_1d(source)]
    dst = [normalize_axis(d, nd) for d in np.atleast_1d(destination)]
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, tuple(order))


@handles(np.rollaxis, via=transpose)
def _np_rollaxis(a, axis, start=0):
    nd = ndim_of(a)
    axis = normalize_axis(axis, nd)
    start = start + nd if start < 0 else start
    if start > axis:
        start -= 1
    if axis == start:
        return a
    order = [n for n in range(nd) if n != axis]
    order.insert(start, axis)
    return transpose(a, tuple(order))


# --- broadcasting ------------------------------------------------------------------------

def _broadcast_to_jvp(g, ans, x, shape):
    nb = batch_ndim(g, x)
    shape = _shape_tuple(shape)
    g = lift(g, ndim_of(x), len(shape), nb)
    return np.broadcast_to(g, shape_of(g)[:nb] + shape)


broadcast_to = defprim("broadcast_to", lambda x, shape: np.broadcast_to(x, shape), view=True,
                       sympy=ON_OBJECTS,
                       jvp=_broadcast_to_jvp,
                       vjp=lambda ans, x, shape: lambda g: unbroadcast(g, shape_of(x), True))


@handles(np.broadcast_to, via=broadcast_to)
def _np_broadcast_to(array, shape, subok=False):
    return broadcast_to(array, _shape_tuple(shape))


@handles(np.broadcast_arrays, via=broadcast_to)
def _np_broadcast_arrays(*args, subok=False):
    shape = np.broadcast_shapes(*(shape_of(a) for a in args))
    return tuple(broadcast_to(a, shape) if shape_of(a) != shape else a for a in args)


# --- joining -----------------------------------------------------------------------------

def _fill_zeros(tangents: list, values: list) -> tuple[list, int]:
    """Materialise symbolic-zero tangents for the joining operations."""
    nb, batch = 0, ()
    for t, v in zip(tangents, values):
        if t is not None:
            nb = batch_ndim(t, v)
            batch = shape_of(t)[:nb]
            dt = dtype_of(t)
            break
    dt = np.result_type(dt, *[dtype_of(v) for v in values])
    return [np.zeros(batch + shape_of(v), dtype=dt) if t is None else t
            for t, v in zip(tangents, values)], nb


def _concatenate_impl(*arrays, axis=0):
    return np.concatenate(arrays, axis=axis)


def _concatenate_jvp(tangents, ans, *arrays, axis=0):
    ts, nb = _fill_zeros(tangents, list(arrays))
    return np.concatenate(ts, axis=normalize_axis(axis, ndim_of(ans)) + nb)


def _concatenate_vjp(i):
    def maker(ans, *arrays, axis=0):
        axis = normalize_axis(axis, ndim_of(ans))
        start = sum(shape_of(a)[axis] for a in arrays[:i])
        index = (slice(None),) * axis + (slice(start, start + shape_of(arrays[i])[axis]),)
        return lambda g: g[index]
    return maker


concatenate = defprim("concatenate", _concatenate_impl, jvp_joint=_concatenate_jvp, sympy=ON_OBJECTS,
                      vjp=EveryArgument(_concatenate_vjp))


@handles(np.concatenate, np.concat, via=concatenate)
def _np_concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    if out is not None:
        raise TypeError("np.concatenate(..., out=...) is not supported on traced values")
    arrays = [_as_array(a) for a in arrays]
    if axis is None:
        arrays = [np.ravel(a) for a in arrays]
        axis = 0
    out = concatenate(*arrays, axis=axis)
    return out if dtype is None else astype(out, dtype)


def _stack_impl(*arrays, axis=0):
    return np.stack(arrays, axis=axis)


def _stack_jvp(tangents, ans, *arrays, axis=0):
    ts, nb = _fill_zeros(tangents, list(arrays))
    return np.stack(ts, axis=normalize_axis(axis, ndim_of(ans)) + nb)


def _stack_vjp(i):
    def maker(ans, *arrays, axis=0):
        index = (slice(None),) * normalize_axis(axis, ndim_of(ans)) + (i,)
        return lambda g: g[index]
    return maker


stack = defprim("stack", _stack_impl, jvp_joint=_stack_jvp, vjp=EveryArgument(_stack_vjp),
                sympy=ON_OBJECTS)


@handles(np.stack, via=stack)
def _np_stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if out is not None:
        raise TypeError("np.stack(..., out=...) is not supported on traced values")
    arrays = [_as_array(a) for a in arrays]
    shapes = {shape_of(a) for a in arrays}
    if len(shapes) > 1:
        raise ValueError("all input arrays must have the same shape")
    out = stack(*arrays, axis=axis)
    return out if dtype is None else astype(out, dtype)


@handles(np.hstack, via=concatenate)
def _np_hstack(tup, *, dtype=None, casting="same_kind"):
    arrs = [np.atleast_1d(a) for a in tup]
    return _np_concatenate(arrs, 0 if arrs and ndim_of(arrs[0]) == 1 else 1, dtype=dtype)


@handles(np.vstack, via=concatenate)
def _np_vstack(tup, *, dtype=None, casting="same_kind"):
    return _np_concatenate([np.atleast_2d(a) for a in tup], 0, dtype=dtype)


@handles(np.dstack, via=concatenate)
def _np_dstack(tup):
    return _np_concatenate([np.atleast_3d(a) for a in tup], 2)


@handles(np.column_stack, via=concatenate)
def _np_column_stack(tup):
    cols = [a if ndim_of(a) >= 2 else reshape(a, (size_of(a), 1))
            for a in (_as_array(t) for t in tup)]
    return _np_concatenate(cols, 1)


@handles(np.append, via=concatenate)
def _np_append(arr, values, axis=None):
    # a list holding traced values reaches here when `values` is traced and np.append
    # was bound before the differentiation started (so adkit.scope's swap missed it)
    arr, values = _as_array(arr), _as_array(values)
    if axis is None:
        return _np_concatenate([np.ravel(arr), np.ravel(values)], 0)
    return _np_concatenate([arr, values], axis)


# --- splitting ---------------------------------------------------------------------------

def _split_points(n: int, indices_or_sections: Any, even: bool) -> list:
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.")
        if even and n % sections:
            raise ValueError("array split does not result in an equal division")
        each, extra = divmod(n, sections)
        sizes = [each + 1] * extra + [each] * (sections - extra)
        return list(np.cumsum([0] + sizes))
    return [0] + [int(i) for i in indices_or_sections] + [n]


def _split(ary, indices_or_sections, axis=0, even=True):
    axis = normalize_axis(axis, ndim_of(ary))
    points = _split_points(shape_of(ary)[axis], indices_or_sections, even)
    lead = (slice(None),) * axis
    return [ary[lead + (slice(a, b),)] for a, b in zip(points[:-1], points[1:])]


@handles(np.split, via=())
def _np_split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, even=True)


@handles(np.array_split, via=())
def _np_array_split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, even=False)


@handles(np.hsplit, via=())
def _np_hsplit(ary, indices_or_sections):
    return _split(ary, indices_or_sections, 0 if ndim_of(ary) == 1 else 1)


@handles(np.vsplit, via=())
def _np_vsplit(ary, indices_or_sections):
    return _split(ary, indices_or_sections, 0)


@handles(np.dsplit, via=())
def _np_dsplit(ary, indices_or_sections):
    return _split(ary, indices_or_sections, 2)


# --- copies and casts ---------------------------------------------------------------------

copy = defprim("copy", lambda x: np.array(x, copy=True), sympy=ON_OBJECTS,
               jvp=lambda g, ans, x: g, vjp=lambda ans, x: lambda g: g)


@handles(np.copy, np.ascontiguousarray, np.asfortranarray, via=copy)
def _np_copy(a, order="K", subok=False, *, dtype=None, like=None):
    out = copy(a)
    return out if dtype is None else astype(out, dtype)


def _cast_impl(x, dtype):
    return np.asarray(x).astype(dtype)[()] if not isinstance(x, np.ndarray) else x.astype(dtype)


def _real_if_real(g: Any, dtype: Any) -> Any:
    """A complex (co)tangent of a real value is its real part, as astype(real) takes it."""
    return np.real(g) if np.dtype(dtype).kind != "c" and dtype_of(g).kind == "c" else g


def _cast_jvp(g, ans, x, dtype):
    g = _real_if_real(g, dtype)
    return g.astype(dtype) if hasattr(g, "astype") else np.asarray(g, dtype=dtype)[()]


def _cast_vjp(ans, x, dtype):
    to = dtype_of(x)
    return lambda g: astype(_real_if_real(g, to), to)


cast = defprim("cast", _cast_impl, sympy=lambda sp, at, x, dtype: x,  # exact: no rounding
               jvp=_cast_jvp, vjp=_cast_vjp)
_plain_cast = defnondiff("cast_to_discrete", lambda x, dtype: np.asarray(x).astype(dtype))


def astype(x: Any, dtype: Any, copy: bool = True) -> Any:
    """x.astype(dtype): a derivative survives casts between floating types only."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "fc":
        return _plain_cast(x, dtype)
    if dtype == dtype_of(x) and not copy:
        return x
    return cast(x, dtype)


@handles(np.real_if_close, via=())
def _np_real_if_close(a, tol=100):
    if dtype_of(a).kind != "c":
        return a
    if np.all(np.abs(primal(np.imag(a))) < tol * np.finfo(dtype_of(a)).eps):
        return np.real(a)
    return a


def _as_array(a: Any) -> Any:
    return a if hasattr(a, "shape") else np.asarray(a)


# --- differences along an axis -------------------------------------------------------------

def _along(a: Any, axis: int, sl: slice) -> Any:
    return a[(slice(None),) * axis + (sl,)]


def _edge_shaped(value: Any, a: Any, axis: int) -> Any:
    """A prepend/append value as np.diff uses it: scalars become a one-thick slab."""
    value = value if hasattr(value, "shape") else np.asarray(value)
    if ndim_of(value) == 0:
        shape = list(shape_of(a))
        shape[axis] = 1
        return np.broadcast_to(value, tuple(shape))
    return value


@handles(np.diff, via=())
def _np_diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    axis = normalize_axis(axis, ndim_of(a))
    parts = [a]
    if prepend is not np._NoValue:
        parts.insert(0, _edge_shaped(prepend, a, axis))
    if append is not np._NoValue:
        parts.append(_edge_shaped(append, a, axis))
    if len(parts) > 1:
        a = np.concatenate(parts, axis=axis)
    for _ in range(n):
        a = _along(a, axis, slice(1, None)) - _along(a, axis, slice(None, -1))
    return a


@handles(np.ediff1d, via=())
def _np_ediff1d(ary, to_end=None, to_begin=None):
    flat = np.ravel(ary)
    out = flat[1:] - flat[:-1]
    pieces = [np.ravel(np.asarray(to_begin) if not hasattr(to_begin, "shape") else to_begin)
              ] if to_begin is not None else []
    pieces.append(out)
    if to_end is not None:
        pieces.append(np.ravel(to_end if hasattr(to_end, "shape") else np.asarray(to_end)))
    return np.concatenate(pieces) if len(pieces) > 1 else out


def trapezoid_parts(y: Any, x: Any, dx: Any, axis: int) -> tuple:
    """(spacing, later, earlier) of the trapezoid rule along axis, from x (1-D, or y's shape)
    or the constant dx, with NumPy's and SciPy's checks: sum or cumsum d * (later + earlier)/2."""
    y = _as_array(y)
    axis = normalize_axis(axis, ndim_of(y))
    n = shape_of(y)[axis]
    if x is None:
        d = dx
    else:
        x = _as_array(x)
        if ndim_of(x) == 1:
            shape = [1] * ndim_of(y)
            shape[axis] = -1
            d = np.reshape(np.diff(x), tuple(shape))
        elif ndim_of(x) != ndim_of(y):
            raise ValueError("If given, shape of x must be 1-D or the same as y.")
        else:
            d = np.diff(x, axis=axis)
        if shape_of(d)[axis] != max(n - 1, 0):
            raise ValueError("If given, length of x along axis must be the same as y.")
    return d, _along(y, axis, slice(1, None)), _along(y, axis, slice(None, -1))


@handles(np.trapezoid, via=())
def _np_trapezoid(y, x=None, dx=1.0, axis=-1):
    d, later, earlier = trapezoid_parts(y, x, dx, axis)
    return np.sum(d * (later + earlier) / 2.0, axis=normalize_axis(axis, ndim_of(later)))


@handles(np.gradient, via=())
def _np_gradient(f, *varargs, axis=None, edge_order=1):
    """np.gradient: second-order central differences inside, one-sided at the edges."""
    nd = ndim_of(f)
    axes = tuple(range(nd)) if axis is None else tuple(
        normalize_axis(a, nd) for a in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    if not varargs:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1 and ndim_of(varargs[0]) == 0:
        spacing = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacing = list(varargs)
    else:
        raise TypeError("invalid number of arguments")
    outs = []
    for ax, h in zip(axes, spacing):
        h = primal(h)
        n = shape_of(f)[ax]
        if n < edge_order + 1:
            raise ValueError("Shape of array too small to calculate a numerical gradient, "
                             "at least (edge_order + 1) elements are required.")
        s = lambda sl: _along(f, ax, sl)  # noqa: E731
        if np.ndim(h) == 0:
            inner = (s(slice(2, None)) - s(slice(None, -2))) / (2.0 * h)
            if edge_order == 1:
                first = (s(slice(1, 2)) - s(slice(0, 1))) / h
                last = (s(slice(-1, None)) - s(slice(-2, -1))) / h
            else:
                first = (-1.5 * s(slice(0, 1)) + 2.0 * s(slice(1, 2)) - 0.5 * s(slice(2, 3))) / h
                last = (0.5 * s(slice(-3, -2)) - 2.0 * s(slice(-2, -1)) + 1.5 * s(slice(-1, None))) / h
        else:
            x = np.asarray(h, dtype=float)
            dx = np.diff(x)
            shape = [1] * nd
            shape[ax] = -1
            d1, d2 = dx[:-1].reshape(shape), dx[1:].reshape(shape)
            a_, b_, c_ = -d2 / (d1 * (d1 + d2)), (d2 - d1) / (d1 * d2), d1 / (d2 * (d1 + d2))
            inner = a_ * s(slice(None, -2)) + b_ * s(slice(1, -1)) + c_ * s(slice(2, None))
            if edge_order == 1:
                first = (s(slice(1, 2)) - s(slice(0, 1))) / dx[0]
                last = (s(slice(-1, None)) - s(slice(-2, -1))) / dx[-1]
            else:
                h1, h2 = dx[0], dx[1]
                first = (-(2 * h1 + h2) / (h1 * (h1 + h2)) * s(slice(0, 1))
                         + (h1 + h2) / (h1 * h2) * s(slice(1, 2))
                         - h1 / (h2 * (h1 + h2)) * s(slice(2, 3)))
                h1, h2 = dx[-1], dx[-2]
                last = (h1 / (h2 * (h1 + h2)) * s(slice(-3, -2))
                        - (h2 + h1) / (h1 * h2) * s(slice(-2, -1))
                        + (2 * h1 + h2) / (h1 * (h1 + h2)) * s(slice(-1, None)))
        outs.append(np.concatenate([first, inner, last], axis=ax) if n > 2 else
                    np.concatenate([first, last], axis=ax))
    return outs[0] if len(outs) == 1 else tuple(outs)
