"""scipy.signal.convolve: N-dimensional convolution, every mode, in both arguments.

One primitive, the full convolution (adkit.rules.products.make_convolution: bilinear,
its cotangents are convolutions with the other argument flipped, so every order
works); 'same' and 'valid' are windows of it, cut as SciPy cuts them. `method`
only changes how SciPy computes the value and is passed through.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.signal as signal

from .helpers import ndim_of, shape_of
from .products import _centered, make_convolution, mode_window
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


bind(signal.convolve, _convolve, "scipy.signal.convolve", via=(convolve_nd,))
