"""Small helpers the rules share: shapes, broadcasting, batch axes, zero-safe products.

Everything here works on plain arrays and on boxes alike (rules run on boxes
when derivatives are nested), so it is written with NumPy calls only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tracer import BoxBase, primal

# NumPy's module defines __getattr__, so CPython 3.11 never specialises an `np.<name>`
# look-up: each one searches the module type and dict (~500 instructions per look-up,
# measured with callgrind). Code that runs once per primitive compares types with these
# module-level names instead.
NDARRAY, FLOAT64, FLOAT32 = np.ndarray, np.float64, np.float32
_OWN_ARRAYS = (np.ndarray, BoxBase)  # the arrays is_duck_array rules out


def shape_of(x: Any) -> tuple:
    """np.shape without its cost on Python scalars (1.4 us on this machine)."""
    return getattr(x, "shape", ())


def ndim_of(x: Any) -> int:
    return getattr(x, "ndim", 0)


def size_of(x: Any) -> int:
    return math.prod(shape_of(x))


def dtype_of(x: Any) -> np.dtype:
    dt = getattr(x, "dtype", None)
    if dt is not None:
        return dt
    return np.result_type(x)


def is_duck_array(x: Any) -> bool:
    """Whether x is another library's array that takes NumPy calls itself (NEP 18), such as
    adkit.kernels' DeviceArray: it flows through the engines untouched, never converted
    to a NumPy array (which would move a device array to the host)."""
    return not isinstance(x, _OWN_ARRAYS) and hasattr(x, "__array_function__")


def is_complex(x: Any) -> bool:
    return dtype_of(x).kind == "c"


def unbroadcast(g: Any, shape: tuple, complex_target: bool = False) -> Any:
    """Sum a cotangent back to the shape an argument had before broadcasting.

    The one place where reverse mode undoes NumPy broadcasting. A complex
    cotangent reaching a real argument keeps its real part (see docs/complex).
    Methods, not np.sum/np.reshape: on plain arrays they skip NumPy's Python
    wrappers, and boxes have them too.
    """
    gshape = shape_of(g)
    if gshape != shape:
        lead = len(gshape) - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1)
        if axes:
            g = g.sum(axis=axes, keepdims=True)
        if lead or shape_of(g) != shape:
            g = g.reshape(shape)
    if not complex_target and is_complex(g):
        g = np.real(g)
    return g


def batch_ndim(tangent: Any, x: Any) -> int:
    """How many leading batch axes a tangent carries on top of its primal's shape."""
    return ndim_of(tangent) - ndim_of(x)


def lift(tangent: Any, x_ndim: int, out_ndim: int, nb: int) -> Any:
    """Insert axes after the batch axes so a batched tangent broadcasts like its primal.

    A primal of shape (3,) broadcasts against (2, 3) from the right; its batched
    tangent (B, 3) would not (B would meet the 2), so it becomes (B, 1, 3).
    """
    if nb == 0 or x_ndim >= out_ndim:
        return tangent
    s = shape_of(tangent)
    return np.reshape(tangent, s[:nb] + (1,) * (out_ndim - x_ndim) + s[nb:])


def batch_axes(axis: Any, ndim: int, nb: int) -> Any:
    """Translate a NumPy `axis` argument for an array with nb leading batch axes."""
    if axis is None:
        return tuple(range(nb, nb + ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(normalize_axis(a, ndim) + nb for a in axis)
    return normalize_axis(axis, ndim) + nb


def normalize_axis(axis: int, ndim: int) -> int:
    axis = int(axis)
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise np.exceptions.AxisError(axis, ndim)
    return axis % max(ndim, 1)


def normalize_axes(axis: Any, ndim: int) -> tuple:
    """A NumPy axis argument as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(sorted(normalize_axis(a, ndim) for a in axis))
    return (normalize_axis(axis, ndim),)


def all_finite(x: Any) -> bool:
    x = primal(x)
    if type(x) is float or type(x) is FLOAT64 or type(x) is FLOAT32:
        return math.isfinite(x)
    return bool(np.isfinite(x).all())


def times(g: Any, d: Any) -> Any:
    """g * d, where a zero (co)tangent stays zero even if the local derivative d
    is infinite or NaN there.

    This is adkit's inf*0 convention: a zero (co)tangent means "no dependence
    along this path", so it contributes nothing. It is why the gradient of
    np.where(x > 0, np.sqrt(x), 0.0) at x = 0 is 0 rather than NaN.
    """
    if is_duck_array(primal(d)):   # deciding would bring d to the host: mask on the device
        return np.where(g == 0, 0.0, g * d)
    if all_finite(d):
        return g * d
    with np.errstate(invalid="ignore"):
        r = g * d
    return np.where(g == 0, 0.0, r)


# np.errstate used as a decorator sets the error state for each call (per thread, undone
# after) through NumPy's public API; a `with np.errstate(...)` block per call would cost
# a new errstate object each time (an errstate object can be entered only once)
@np.errstate(all="ignore")
def quietly(fn: Any, *args: Any) -> Any:
    """fn(*args) without NumPy's divide-by-zero/invalid warnings.

    Forming a local derivative may divide by zero where the derivative is
    infinite; `times` then handles it, so a warning would only be noise.
    """
    try:
        return fn(*args)
    except ZeroDivisionError:  # Python floats raise where NumPy gives inf or nan
        return fn(*[np.float64(a) if type(a) is float else a for a in args])
