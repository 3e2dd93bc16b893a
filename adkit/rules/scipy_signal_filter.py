"""scipy.signal.lfilter(b, a, x): an IIR filter, differentiable in x, b and a.

With A(z) Y = B(z) X (a[0] included, as SciPy normalises by it), the filter is linear in
x and its derivatives in the coefficients are filters again:
    dy = lfilter(b, a, dx) + lfilter(db, a, x) - lfilter(da, a, y).
The filter is a causal linear map (a lower-triangular Toeplitz matrix along the axis); its
transpose is the same filter run backwards in time, so with flip along the axis
    x-bar = flip(lfilter(b, a, flip(g))),   w = flip(lfilter([1], a, flip(g))),
    b-bar[k] = sum_n w[n] x[n-k],           a-bar[k] = -sum_n w[n] y[n-k]
(w is the cotangent pulled back through 1/A; the sums run over every other axis too, as
the coefficients are shared by every signal). Each rule is made of this primitive and
NumPy operations, so derivatives of any order nest. The SymPy counterpart runs the
difference equation itself on expressions.

Initial conditions (zi=) are refused by name: the filter's response to them is not
implemented.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.signal as signal

from ..table import NoRuleError, defprim
from .helpers import ndim_of, normalize_axis, shape_of
from .scipy_binding import bind, original

_sp_lfilter = original(signal.lfilter)


def _flip(x: Any, axis: int) -> Any:
    return np.flip(x, axis)


def _lag_sums(w: Any, v: Any, count: int, axis: int) -> Any:
    """[sum_n w[n] v[n-k] for k < count], summed over every axis (n runs along axis)."""
    w, v = np.moveaxis(w, axis, -1), np.moveaxis(v, axis, -1)
    n = shape_of(w)[-1]
    sums = [np.sum(w[..., k:] * v[..., :n - k]) if k < n else np.sum(w[..., :0])
            for k in range(count)]
    return np.stack(sums)


def _jvp(tangents, ans, b, a, x, axis):
    tb, ta, tx = tangents
    terms = ([] if tx is None else [lfilter_p(b, a, tx, axis=axis)]) + \
        ([] if tb is None else [lfilter_p(tb, a, x, axis=axis)]) + \
        ([] if ta is None else [-lfilter_p(ta, a, ans, axis=axis)])
    return sum(terms[1:], terms[0])


def _through_inverse_a(a: Any, g: Any, axis: int) -> Any:
    """The cotangent g pulled back through the all-pole part 1/A (run backwards in time)."""
    return _flip(lfilter_p(np.ones(1), a, _flip(g, axis), axis=axis), axis)


def _sympy_lfilter(sy, at, b, a, x, axis):
    """The difference equation a0 y[n] = sum_k b[k] x[n-k] - sum_{k>=1} a[k] y[n-k]."""
    xs = np.moveaxis(np.asarray(x, dtype=object), axis, -1)
    y = np.zeros(xs.shape, dtype=object)
    for n in range(xs.shape[-1]):
        acc = sum((b[k] * xs[..., n - k] for k in range(min(len(b), n + 1))),
                  np.zeros(xs.shape[:-1], dtype=object))
        acc = acc - sum((a[k] * y[..., n - k] for k in range(1, min(len(a), n + 1))),
                        np.zeros(xs.shape[:-1], dtype=object))
        y[..., n] = acc / a[0]
    return np.moveaxis(y, -1, axis)


lfilter_p = defprim(
    "scipy.signal.lfilter", lambda b, a, x, axis: _sp_lfilter(b, a, x, axis=axis),
    batch_aware=False, jvp_joint=_jvp, sympy=_sympy_lfilter,
    vjp=(lambda ans, b, a, x, axis: lambda g: _lag_sums(_through_inverse_a(a, g, axis), x,
                                                        shape_of(b)[0], axis),
         lambda ans, b, a, x, axis: lambda g: -_lag_sums(_through_inverse_a(a, g, axis), ans,
                                                         shape_of(a)[0], axis),
         lambda ans, b, a, x, axis: lambda g: _flip(lfilter_p(b, a, _flip(g, axis), axis=axis),
                                                    axis)))


def _coefficients(name: str, c: Any) -> Any:
    c = c if hasattr(c, "shape") else np.asarray(c)
    c = np.reshape(c, (1,)) if ndim_of(c) == 0 else c
    if ndim_of(c) != 1 or shape_of(c)[0] == 0:
        raise ValueError(f"scipy.signal.lfilter: {name} must be a non-empty 1-D array of "
                         f"coefficients, got shape {shape_of(c)}")
    return c * 1.0


def _lfilter(b, a, x, axis=-1, zi=None):
    if zi is not None:
        raise NoRuleError("scipy.signal.lfilter(..., zi=...) is not differentiable in adkit "
                          "(the response to initial conditions is not implemented); filter "
                          "without zi, e.g. after prepending the samples the state stands for")
    x = x if hasattr(x, "shape") else np.asarray(x)
    if ndim_of(x) == 0:
        raise ValueError("scipy.signal.lfilter: x must be an array with at least one axis")
    b, a = _coefficients("b", b), _coefficients("a", a)
    return lfilter_p(b, a, x * 1.0, axis=normalize_axis(axis, ndim_of(x)))


bind(signal.lfilter, _lfilter, "scipy.signal.lfilter", via=(lfilter_p,))
