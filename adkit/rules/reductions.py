"""Reductions: sum, prod, max/min and cumulative sums and products, with axis/keepdims.

mean, var, std, ptp, average and the nan-reductions are compositions of these.
Ties in max/min share the derivative evenly among the maximal elements.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..table import ON_OBJECTS, defnondiff, defprim, handles
from ..tracer import primal
from .helpers import (batch_axes, batch_ndim, dtype_of, ndim_of, normalize_axes,
                      normalize_axis, shape_of)


def _keepdims_shape(x_shape: tuple, axis: Any) -> tuple:
    axes = normalize_axes(axis, len(x_shape))
    return tuple(1 if i in axes else n for i, n in enumerate(x_shape))


def expand_back(g: Any, x_shape: tuple, axis: Any, keepdims: bool) -> Any:
    """A reduced cotangent broadcast back over the reduced axes."""
    if not keepdims:
        g = g.reshape(_keepdims_shape(x_shape, axis)) if hasattr(g, "reshape") else \
            np.reshape(g, _keepdims_shape(x_shape, axis))
    return np.broadcast_to(g, x_shape)


def _no_extras(name: str, out: Any, kwargs: dict) -> None:
    if out is not None:
        raise TypeError(f"np.{name}(..., out=...) is not supported on traced values; "
                        "use the returned value")
    for key, value in kwargs.items():
        if not (value is np._NoValue or value is True and key == "where"):
            raise TypeError(
                f"np.{name}(..., {key}=...) is not supported on traced values; "
                + ("select first with np.where(mask, x, neutral)" if key == "where"
                   else "apply it to the result"))


def _with_dtype(out: Any, dtype: Any) -> Any:
    return out if dtype is None else out.astype(dtype)


# --- sum ---------------------------------------------------------------------------------------

def _reducer(method: str, fn: Any):
    """x.sum(...) on plain arrays (a C method; np.sum adds a Python wrapper), fn otherwise."""
    def impl(x, axis=None, keepdims=False):
        if type(x) is np.ndarray:
            return getattr(x, method)(axis=axis, keepdims=keepdims)
        return fn(x, axis=axis, keepdims=keepdims)
    return impl


sum_ = defprim("sum", _reducer("sum", np.sum),
               sympy=ON_OBJECTS,
               jvp=lambda g, ans, x, axis=None, keepdims=False:
                   np.sum(g, axis=batch_axes(axis, np.ndim(x), batch_ndim(g, x)),
                          keepdims=keepdims),
               vjp=lambda ans, x, axis=None, keepdims=False:
                   lambda g: expand_back(g, shape_of(x), axis, keepdims))


@handles(np.sum, via=sum_)
def _np_sum(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    _no_extras("sum", out, kwargs)
    return _with_dtype(sum_(a, _axis(axis), bool(keepdims)), dtype)


@handles(np.mean, via=sum_)
def _np_mean(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    _no_extras("mean", out, kwargs)
    n = _count(shape_of(a), axis)
    total = sum_(a, _axis(axis), bool(keepdims))
    return _with_dtype(total / n if n else total * np.nan, dtype)


@handles(np.average, via=sum_)
def _np_average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    if weights is None:
        avg = _np_mean(a, axis, keepdims=keepdims)
        scale = float(_count(shape_of(a), axis))
    else:
        w = weights
        if shape_of(w) != shape_of(a):
            if axis is None or ndim_of(w) != 1:
                raise TypeError("Axis must be specified when shapes of a and weights differ.")
            ax = normalize_axis(axis, len(shape_of(a)))
            shape = [1] * len(shape_of(a))
            shape[ax] = shape_of(w)[0]
            w = np.reshape(w, tuple(shape))
        scale = np.sum(w * np.ones_like(primal(a)), axis=axis, keepdims=keepdims)
        avg = np.sum(a * w, axis=axis, keepdims=keepdims) / scale
    return (avg, scale) if returned else avg


def _count(shape: tuple, axis: Any) -> int:
    return int(np.prod([shape[i] for i in normalize_axes(axis, len(shape))], dtype=np.int64))


def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


# --- product ------------------------------------------------------------------------------------

def _moved_flat(x: Any, axis: Any) -> tuple[Any, tuple, list]:
    """x with the reduced axes moved last and flattened into one."""
    nd = ndim_of(x)
    axes = list(normalize_axes(axis, nd))
    keep = [i for i in range(nd) if i not in axes]
    moved = np.transpose(x, keep + axes)
    kept_shape = tuple(shape_of(x)[i] for i in keep)
    return np.reshape(moved, kept_shape + (-1,)), kept_shape, keep + axes


def _others_product(x: Any, axis: Any) -> Any:
    """For each element, the product of the other elements in its reduction; exact with zeros."""
    flat, kept_shape, perm = _moved_flat(x, axis)
    ones = np.ones_like(primal(flat)[..., :1])
    before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = np.flip(np.cumprod(np.flip(np.concatenate([flat[..., 1:], ones], axis=-1), -1),
                               axis=-1), -1)
    others = before * after
    moved_shape = tuple(shape_of(x)[i] for i in perm)
    return np.transpose(np.reshape(others, moved_shape), tuple(np.argsort(perm)))


def _prod_partials(ans: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    if np.all(primal(x) != 0):
        return expand_back(ans, shape_of(x), axis, keepdims) / x
    return _others_product(x, axis)


prod = defprim("prod", lambda x, axis=None, keepdims=False: np.prod(x, axis=axis, keepdims=keepdims),
               sympy=ON_OBJECTS,
               jvp=lambda g, ans, x, axis=None, keepdims=False:
                   np.sum(g * _prod_partials(ans, x, axis, keepdims),
                          axis=batch_axes(axis, np.ndim(x), batch_ndim(g, x)), keepdims=keepdims),
               vjp=lambda ans, x, axis=None, keepdims=False:
                   lambda g: expand_back(g, shape_of(x), axis, keepdims)
                   * _prod_partials(ans, x, axis, keepdims))


@handles(np.prod, via=prod)
def _np_prod(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    _no_extras("prod", out, kwargs)
    return _with_dtype(prod(a, _axis(axis), bool(keepdims)), dtype)


# --- max and min ----------------------------------------------------------------------------------

def _extremum_share(ans: Any, x: Any, axis: Any, keepdims: bool) -> np.ndarray:
    """Each element's share of the derivative of max/min: 1/count at the extremum."""
    ans_, x_ = primal(ans), primal(x)
    hit = x_ == np.broadcast_to(np.reshape(ans_, _keepdims_shape(np.shape(x_), axis))
                                if not keepdims else ans_, np.shape(x_))
    count = np.sum(hit, axis=axis, keepdims=True)
    dt = np.result_type(dtype_of(ans_), np.float32)
    return (hit / count).astype(dt, copy=False)


def _sym_extremum(arg: Any):
    """The element the extremum is at the point (SymPy's Max of many arguments is far
    too slow to build); ties are where the derivative does not exist."""
    def rule(sp, at, x, axis=None, keepdims=False):
        at.branch("which element is the extremum")
        x = np.asarray(x, dtype=object)
        v = np.asarray(at.values[0])
        axes = normalize_axes(axis, x.ndim)
        kept = [d for d in range(x.ndim) if d not in axes]
        order = kept + list(axes)
        rows_shape = [x.shape[d] for d in kept] + [-1]
        rows = np.transpose(x, order).reshape(rows_shape)
        where = arg(np.transpose(v, order).reshape(rows_shape), axis=-1)
        picked = np.take_along_axis(rows, where[..., None], axis=-1)
        return picked.reshape(np.shape(at.ans))
    return rule


def _extremum(name: str, fn: Any):
    return defprim(
        name, _reducer(name, fn),
        sympy=_sym_extremum(np.argmax if name == "max" else np.argmin),
        jvp=lambda g, ans, x, axis=None, keepdims=False:
            np.sum(g * _extremum_share(ans, x, axis, keepdims),
                   axis=batch_axes(axis, np.ndim(x), batch_ndim(g, x)), keepdims=keepdims),
        vjp=lambda ans, x, axis=None, keepdims=False:
            lambda g: expand_back(g, shape_of(x), axis, keepdims)
            * _extremum_share(ans, x, axis, keepdims))


max_ = _extremum("max", np.max)
min_ = _extremum("min", np.min)


@handles(np.max, np.amax, via=max_)
def _np_max(a, axis=None, out=None, keepdims=False, **kwargs):
    _no_extras("max", out, kwargs)
    return max_(a, _axis(axis), bool(keepdims))


@handles(np.min, np.amin, via=min_)
def _np_min(a, axis=None, out=None, keepdims=False, **kwargs):
    _no_extras("min", out, kwargs)
    return min_(a, _axis(axis), bool(keepdims))


@handles(np.ptp, via=(max_, min_))
def _np_ptp(a, axis=None, out=None, keepdims=False):
    return _np_max(a, axis, keepdims=keepdims) - _np_min(a, axis, keepdims=keepdims)


# --- variance and standard deviation -------------------------------------------------------------

@handles(np.var, via=sum_)
def _np_var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, mean=np._NoValue,
            correction=np._NoValue, **kwargs):
    _no_extras("var", out, kwargs)
    if correction is not np._NoValue:
        ddof = correction
    axis = _axis(axis)
    centre = _np_mean(a, axis, keepdims=True) if mean is np._NoValue else mean
    d = a - centre
    sq = np.real(d * np.conj(d)) if dtype_of(a).kind == "c" else d * d
    return _with_dtype(_per_degree_of_freedom(np.sum(sq, axis=axis, keepdims=keepdims),
                                              _count(shape_of(a), axis) - ddof), dtype)


def _per_degree_of_freedom(total: Any, dof: Any) -> Any:
    """total / dof, NumPy's value (inf, or nan for 0/0) where dof <= 0 too.

    There a division would meet inf * 0 differently in the two modes (forward keeps
    a zero tangent zero, reverse sends an infinite cotangent into the centred values);
    multiplying by the constant 1/dof gives nan in both, as the value is.
    """
    if type(dof) is int or type(dof) is float:  # np.var's count - ddof: no array test
        return total / dof if dof > 0 else total * math.inf
    if np.all(dof > 0):
        return total / dof
    if np.ndim(dof) == 0:
        return total * math.inf   # a Python float keeps total's dtype
    with np.errstate(divide="ignore"):
        return total * np.divide(1.0, np.maximum(dof, 0))


def _std_of(var: Any) -> Any:
    """sqrt(var), with derivative 0 where var is 0.

    A variance is 0 where the elements it reduces are all equal: over one element it
    is constant (std's derivative is exactly 0), over several it is a norm at 0 (a
    kink; 0 is its subgradient, as |x|' = 0 at 0). sqrt's infinite slope at 0 would
    otherwise meet var's zero cotangent as inf * 0 = nan in reverse mode. Where var
    is 0 the square root runs on 1 instead, and the branch that answers is constant.
    """
    zero = primal(var) == 0
    if not np.any(zero):
        return np.sqrt(var)
    if np.all(zero):
        return var * 0.0   # keeps var's type and dtype (a NumPy scalar stays one)
    return np.where(zero, 0.0, np.sqrt(np.where(zero, 1.0, var)))


@handles(np.std, via=sum_)
def _np_std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    return _std_of(_np_var(a, axis, dtype, out, ddof, keepdims, **kwargs))


# --- cumulative sums and products ----------------------------------------------------------------

cumsum = defprim("cumsum", lambda x, axis: np.cumsum(x, axis=axis), sympy=ON_OBJECTS,
                 jvp=lambda g, ans, x, axis: np.cumsum(
                     g, axis=normalize_axis(axis, np.ndim(x)) + batch_ndim(g, x)),
                 vjp=lambda ans, x, axis: lambda g: np.flip(np.cumsum(np.flip(g, axis), axis), axis))


def _cumulative(prim, name: str, identity: float):
    """The handler of np.cumsum / np.cumprod (and np.cumulative_sum / _prod)."""
    def handler(a, axis=None, dtype=None, out=None, *, include_initial=False):
        if out is not None:
            raise TypeError(f"np.{name}(..., out=...) is not supported on traced values")
        if axis is None or ndim_of(a) == 0:  # NumPy treats a 0-d array as 1-d here
            axis = 0 if axis is None else normalize_axis(axis, 0)
            a = np.ravel(a)
        result = prim(a, normalize_axis(axis, ndim_of(a)))
        if include_initial:
            start = np.full_like(primal(np.take(result, [0], axis=axis)), identity)
            result = np.concatenate([start, result], axis=axis)
        return _with_dtype(result, dtype)
    return handler


_np_cumsum = handles(np.cumsum, np.cumulative_sum, via=cumsum)(_cumulative(cumsum, "cumsum", 0.0))


def _cumprod_partials(x: Any, axis: int) -> Any:
    """P[..., i, j] = d cumprod(x)[j] / d x[i] along `axis` (moved last); exact with zeros."""
    moved = np.moveaxis(x, axis, -1)
    n = shape_of(moved)[-1]
    eye = np.eye(n, dtype=bool)
    # row i: x with x[i] replaced by 1, so its running product skips x[i]
    rows = np.where(eye, 1.0, np.expand_dims(moved, -2))
    return np.where(np.triu(np.ones((n, n), dtype=bool)), np.cumprod(rows, axis=-1), 0.0)


def _cumprod_jvp(g, ans, x, axis):
    nb = batch_ndim(g, x)
    axis = normalize_axis(axis, np.ndim(x))
    if np.all(primal(x) != 0):
        return np.cumsum(g / x, axis=axis + nb) * ans
    p = _cumprod_partials(x, axis)
    gm = np.moveaxis(g, axis + nb, -1)
    return np.moveaxis(np.sum(np.expand_dims(gm, -1) * p, axis=-2), -1, axis + nb)


def _cumprod_vjp(ans, x, axis):
    axis = normalize_axis(axis, np.ndim(x))

    def vjp(g):
        if np.all(primal(x) != 0):
            return np.flip(np.cumsum(np.flip(g * ans, axis), axis), axis) / x
        p = _cumprod_partials(x, axis)
        gm = np.moveaxis(g, axis, -1)
        return np.moveaxis(np.sum(p * np.expand_dims(gm, -2), axis=-1), -1, axis)
    return vjp


cumprod = defprim("cumprod", lambda x, axis: np.cumprod(x, axis=axis), sympy=ON_OBJECTS,
                  jvp=_cumprod_jvp, vjp=_cumprod_vjp)


_np_cumprod = handles(np.cumprod, np.cumulative_prod, via=cumprod)(
    _cumulative(cumprod, "cumprod", 1.0))


# --- NaN-ignoring reductions: the same, with NaNs replaced by the neutral element ------------------

def _without_nans(a: Any, neutral: float) -> Any:
    return np.where(np.isnan(primal(a)), neutral, a)


@handles(np.nansum, via=sum_)
def _np_nansum(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    return _np_sum(_without_nans(a, 0.0), axis, dtype, out, keepdims, **kwargs)


@handles(np.nanprod, via=prod)
def _np_nanprod(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    return _np_prod(_without_nans(a, 1.0), axis, dtype, out, keepdims, **kwargs)


@handles(np.nanmean, via=sum_)
def _np_nanmean(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    count = np.sum(~np.isnan(primal(a)), axis=axis, keepdims=keepdims).astype(dtype_of(a))
    return _with_dtype(_np_nansum(a, axis, keepdims=keepdims) / count, dtype)


@handles(np.nanvar, via=sum_)
def _np_nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    valid = ~np.isnan(primal(a))
    count = np.sum(valid, axis=axis, keepdims=keepdims).astype(dtype_of(a))
    centre = _np_nanmean(a, axis, keepdims=True)
    d = np.where(valid, a - centre, 0.0)
    return _with_dtype(_per_degree_of_freedom(np.sum(d * d, axis=axis, keepdims=keepdims),
                                              count - ddof), dtype)


@handles(np.nanstd, via=sum_)
def _np_nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    return _std_of(_np_nanvar(a, axis, dtype, out, ddof, keepdims))


@handles(np.nanmax, via=max_)
def _np_nanmax(a, axis=None, out=None, keepdims=False, **kwargs):
    out_ = _np_max(_without_nans(a, -np.inf), axis, keepdims=keepdims)
    all_nan = np.all(np.isnan(primal(a)), axis=axis, keepdims=keepdims)
    return np.where(all_nan, np.nan, out_) if np.any(all_nan) else out_


@handles(np.nanmin, via=min_)
def _np_nanmin(a, axis=None, out=None, keepdims=False, **kwargs):
    out_ = _np_min(_without_nans(a, np.inf), axis, keepdims=keepdims)
    all_nan = np.all(np.isnan(primal(a)), axis=axis, keepdims=keepdims)
    return np.where(all_nan, np.nan, out_) if np.any(all_nan) else out_


@handles(np.nancumsum, via=cumsum)
def _np_nancumsum(a, axis=None, dtype=None, out=None):
    return _np_cumsum(_without_nans(a, 0.0), axis, dtype)


@handles(np.nancumprod, via=cumprod)
def _np_nancumprod(a, axis=None, dtype=None, out=None):
    return _np_cumprod(_without_nans(a, 1.0), axis, dtype)


# --- reductions without a derivative ----------------------------------------------------------------

for _fn in (np.argmax, np.argmin, np.nanargmax, np.nanargmin, np.all, np.any,
            np.count_nonzero, np.argsort, np.argpartition, np.searchsorted):
    defnondiff(_fn.__name__, _fn, numpy=_fn)
