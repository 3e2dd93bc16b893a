"""scipy.signal's convolutions: N-dimensional, every mode, in both arguments.

One primitive, the full convolution (adkit.rules.products.make_convolution: bilinear,
its cotangents are convolutions with the other argument flipped, so every order
works); 'same' and 'valid' are windows of it, cut as SciPy cuts them. `method`
only changes how SciPy computes the value and is passed through.

fftconvolve and oaconvolve compute the same values as convolve (by FFTs), so they are
convolve here (over every axis; axes= that leaves an axis out is refused by name).
convolve2d is convolve on 2-D arrays; correlate2d is the full convolution with in2
flipped and conjugated, its 'same' window starting at in2.shape // 2 (SciPy's own
centring, which differs from scipy.signal.correlate's for some shapes). Both take
boundary='fill' with fillvalue=0 only (zero padding, which the windows of the full
convolution are); 'wrap', 'symm' and other fill values are refused by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.signal as signal

from ..table import NoRuleError
from .helpers import is_complex, ndim_of, shape_of
from .products import _centered, make_convolution, mode_window
from ..tracer import BoxBase, primal
from .scipy_binding import bind, original

_sp_convolve = original(signal.convolve)


def _direct_full(a: Any, v: Any) -> Any:
    """The full convolution as a sum of shifted copies: runs on object arrays of SymPy
    expressions (adkit.symbolic), which SciPy's compiled convolution refuses."""
    a, v = np.asarray(a, dtype=object), np.asarray(v, dtype=object)
    out = np.zeros(tuple(p + q - 1 for p, q in zip(a.shape, v.shape)), dtype=object)
    for index in np.ndindex(v.shape):
        out[tuple(slice(i, i + n) for i, n in zip(index, a.shape))] += v[index] * a
    return out


convolve_nd = make_convolution("scipy.signal.convolve",
                               lambda a, v: _sp_convolve(a, v, mode="full"),
                               sympy=lambda sy, at, a, v: _direct_full(a, v))


def _convolve(in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Any:
    in1 = in1 if hasattr(in1, "shape") else np.asarray(in1)
    in2 = in2 if hasattr(in2, "shape") else np.asarray(in2)
    s1, s2 = shape_of(in1), shape_of(in2)
    if ndim_of(in1) != ndim_of(in2):
        raise ValueError("in1 and in2 should have the same dimensionality")
    if ndim_of(in1) == 0:
        return in1 * in2
    if mode == "valid" and not (all(a >= b for a, b in zip(s1, s2))
                                or all(a <= b for a, b in zip(s1, s2))):
        raise ValueError("For 'valid' mode, one must be at least as large as the other in "
                         "every dimension")
    start, size = mode_window(mode, s1, s2, same_as_first=True)
    return _centered(convolve_nd(in1, in2), start, size)


def _fft_convolve(name: str) -> Any:
    def handler(in1: Any, in2: Any, mode: str = "full", axes: Any = None) -> Any:
        if axes is not None:
            every = set(range(ndim_of(in1)))
            given = {a % max(ndim_of(in1), 1) for a in np.atleast_1d(axes).tolist()}
            if given != every:
                raise NoRuleError(f"scipy.signal.{name}(..., axes={axes!r}) convolves along "
                                  "some axes only, which adkit does not differentiate; "
                                  "leave axes unset (every axis), or loop over the others")
        return _convolve(in1, in2, mode)
    return handler


def _two_d(name: str, in1: Any, in2: Any, boundary: str, fillvalue: Any) -> tuple:
    if boundary not in ("fill", "pad"):
        raise NoRuleError(f"scipy.signal.{name}(..., boundary={boundary!r}) is not "
                          "differentiable in adkit: only boundary='fill' with fillvalue=0 "
                          "is; pad in1 yourself (np.pad(in1, ..., mode='wrap' or "
                          "'symmetric'), which adkit differentiates) and use mode='valid'")
    if isinstance(fillvalue, BoxBase) or np.any(np.asarray(fillvalue) != 0):
        raise NoRuleError(f"scipy.signal.{name}(..., fillvalue={primal(fillvalue)!r}) is "
                          "not differentiable in adkit: only fillvalue=0 is; pad in1 with "
                          "np.pad(in1, ..., constant_values=v) and use mode='valid'")
    in1 = in1 if hasattr(in1, "shape") else np.asarray(in1)
    in2 = in2 if hasattr(in2, "shape") else np.asarray(in2)
    if ndim_of(in1) != 2 or ndim_of(in2) != 2:
        raise ValueError(f"{name} inputs must both be 2-D arrays")
    return in1, in2


def _convolve2d(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill",
                fillvalue: Any = 0) -> Any:
    in1, in2 = _two_d("convolve2d", in1, in2, boundary, fillvalue)
    return _convolve(in1, in2, mode)


def _correlate2d(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill",
                 fillvalue: Any = 0) -> Any:
    in1, in2 = _two_d("correlate2d", in1, in2, boundary, fillvalue)
    flipped = in2[::-1, ::-1]
    flipped = np.conj(flipped) if is_complex(flipped) else flipped
    if mode != "same":
        return _convolve(in1, flipped, mode)
    return _centered(convolve_nd(in1, flipped), tuple(n // 2 for n in shape_of(in2)),
                     shape_of(in1))


bind(signal.convolve, _convolve, "scipy.signal.convolve", via=(convolve_nd,))
for _fn, _handler in ((signal.fftconvolve, _fft_convolve("fftconvolve")),
                      (signal.oaconvolve, _fft_convolve("oaconvolve")),
                      (signal.convolve2d, _convolve2d), (signal.correlate2d, _correlate2d)):
    bind(_fn, _handler, "scipy.signal." + _fn.__name__, via=(convolve_nd,))

# the recursive filter: adkit/rules/scipy_signal_filter.py
from . import scipy_signal_filter  # noqa: E402,F401
