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

With initial delays zi (SciPy's transposed direct form II) the output gains the free
response to them, the all-pole filter 1/A applied to zi padded with zeros, and the final
delays zf are sums of the last samples of x and y (see _with_initial_state): both are
differentiable in b, a, x and zi, so scipy.signal.filtfilt (which calls lfilter with
zi = lfilter_zi(b, a) * x[0]) differentiates too, in b and a through lfilter_zi (a
linear solve with the companion matrix of a).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.signal as signal

from ..table import defprim
from ..tracer import primal
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
    x = x if hasattr(x, "shape") else np.asarray(x)
    if ndim_of(x) == 0:
        raise ValueError("scipy.signal.lfilter: x must be an array with at least one axis")
    b, a = _coefficients("b", b), _coefficients("a", a)
    axis = normalize_axis(axis, ndim_of(x))
    y = lfilter_p(b, a, x * 1.0, axis=axis)
    if zi is None:
        return y
    return _with_initial_state(b, a, x, y, zi, axis)


def _with_initial_state(b: Any, a: Any, x: Any, y: Any, zi: Any, axis: int) -> tuple:
    """(y, zf) for SciPy's initial delays zi (transposed direct form II, with b and a
    normalised by a[0]). By linearity y gains the free response to zi, which is the all-pole
    filter 1/A applied to zi padded with zeros; the final delays are
    zf[i] = sum_m (b[i+1+m] x[N-1-m] - a[i+1+m] y[N-1-m]) (+ zi[i+N] while N < K)."""
    order = max(shape_of(a)[0], shape_of(b)[0]) - 1
    expected = shape_of(x)[:axis] + (order,) + shape_of(x)[axis + 1:]
    zi = zi if hasattr(zi, "shape") else np.asarray(zi)
    if shape_of(zi) != expected:
        try:
            zi = np.broadcast_to(zi, expected)
        except ValueError:
            raise ValueError(f"Unexpected shape for zi: expected {expected}, found "
                             f"{shape_of(zi)}.") from None
    zi = np.moveaxis(zi * 1.0, axis, -1)
    n = shape_of(x)[axis]
    kept = min(n, order)
    padded = np.concatenate([zi[..., :kept], np.zeros(shape_of(zi)[:-1] + (n - kept,))],
                            axis=-1)
    y = y + np.moveaxis(lfilter_p(a[:1], a, padded, axis=ndim_of(padded) - 1), -1, axis)
    bn = np.concatenate([b, np.zeros(order + 1 - shape_of(b)[0])]) / a[0]
    an = np.concatenate([a, np.zeros(order + 1 - shape_of(a)[0])]) / a[0]
    xs, ys = np.moveaxis(x * 1.0, axis, -1), np.moveaxis(y, axis, -1)
    delays = []
    for i in range(order):
        terms = [bn[i + 1 + m] * xs[..., n - 1 - m] - an[i + 1 + m] * ys[..., n - 1 - m]
                 for m in range(order - i) if n - 1 - m >= 0]
        if i + n < order:
            terms.append(zi[..., i + n])
        delays.append(sum(terms[1:], terms[0]))
    zf = np.stack(delays, axis=-1) if delays else zi
    return y, np.moveaxis(zf, -1, axis)


def _lfilter_zi(b, a):
    """SciPy's steady-state delays for a unit step: zi = (I - companion(a)^T)^-1 (b[1:] -
    a[1:] b[0]), with a's leading zeros dropped and both normalised by a[0]."""
    b = _coefficients("b", b)
    a = a if hasattr(a, "shape") else np.asarray(a)
    a = np.reshape(a, (1,)) if ndim_of(a) == 0 else a
    if ndim_of(a) != 1:
        raise ValueError("Denominator a must be 1-D.")
    leading = 0
    while shape_of(a)[0] - leading > 1 and primal(a)[leading] == 0.0:
        leading += 1
    a = a[leading:] * 1.0
    if shape_of(a)[0] < 1:
        raise ValueError("There must be at least one nonzero `a` coefficient.")
    b, a = b / a[0], a / a[0]
    n = max(shape_of(a)[0], shape_of(b)[0])
    a = np.concatenate([a, np.zeros(n - shape_of(a)[0])])
    b = np.concatenate([b, np.zeros(n - shape_of(b)[0])])
    i_minus_a = np.eye(n - 1) - np.transpose(_companion(a))
    return np.linalg.solve(i_minus_a, b[1:] - a[1:] * b[0])


def _companion(a: Any) -> Any:
    """scipy.linalg.companion of a normalised 1-D a (a[0] = 1)."""
    n = shape_of(a)[0]
    return np.concatenate([-a[None, 1:], np.eye(n - 2, n - 1)], axis=0)


def _sosfilt(sos, x, axis=-1, zi=None):
    """SciPy's cascade of second-order sections: lfilter of each row (b0 b1 b2 1 a1 a2) in
    turn, each with its own delays zi[i] (the final ones stacked, as SciPy's)."""
    sos = sos if hasattr(sos, "shape") else np.asarray(sos)
    plain = np.asarray(primal(sos))
    if plain.ndim != 2 or plain.shape[1] != 6:
        raise ValueError("sos array must be shape (n_sections, 6)")
    if not np.all(plain[:, 3] == 1):
        raise ValueError("sos[:, 3] should be all ones")
    y, final = x, []
    for i in range(plain.shape[0]):
        if zi is None:
            y = signal.lfilter(sos[i, :3], sos[i, 3:], y, axis=axis)
        else:
            y, zf = signal.lfilter(sos[i, :3], sos[i, 3:], y, axis=axis, zi=zi[i])
            final.append(zf)
    return y if zi is None else (y, np.stack(final))


bind(signal.lfilter, _lfilter, "scipy.signal.lfilter", via=(lfilter_p,))
bind(signal.sosfilt, _sosfilt, "scipy.signal.sosfilt", via=())
bind(signal.lfilter_zi, _lfilter_zi, "scipy.signal.lfilter_zi", via=())
