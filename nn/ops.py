"""Keras 3's `keras.ops`, for layers written with it: `import adkit.nn as keras` then
`keras.ops.matmul(x, self.w)`, `keras.ops.softmax(x)`, `keras.ops.top_k(x, 3)`.

adkit differentiates NumPy itself, so an op here is the NumPy function under Keras's
name, argument names and defaults (max(x, axis=None, keepdims=False, initial=None),
transpose(x, axes=None), clip(x, x_min, x_max), ...) and return conventions (shape()
is a tuple, top_k gives (values, int32 indices), argmax is int32, new arrays are float32
as Keras's floatx), on plain arrays and traced values alike. The ones NumPy lacks
(top_k, one_hot, segment_sum, moments, normalize, the control flow) are written with
NumPy operations, so their derivatives come from adkit's rules; the neural-network ops
are adkit.nn's activations and losses. Control flow (cond, while_loop, fori_loop, scan,
map, switch) is plain Python: adkit traces Python, so a branch on a value just runs.

An op Keras has and adkit does not (conv_transpose, ctc_loss, stft, ...) is absent:
`keras.ops.stft` raises AttributeError naming it.

>>> import numpy as np
>>> from adkit.nn import ops
>>> values, indices = ops.top_k(np.array([[1.0, 5.0, 3.0]]), 2)
>>> values, indices, ops.shape(np.zeros((2, 3))), ops.one_hot(np.array([2, 0]), 3)[0]
(array([[5., 3.]]), array([[1, 2]], dtype=int32), (2, 3), array([0., 0., 1.], dtype=float32))
"""

from __future__ import annotations

import builtins as _builtins
import functools
import collections
import inspect
import math
from typing import Any, Callable, Sequence

import numpy as np

import adkit
from adkit.pytree import tree_flatten, tree_unflatten

from . import scipy_lazy
from . import activations as _activations
from . import backend as _backend
from . import losses as _losses
from . import ops_linalg as linalg
from .backend_compat import epsilon as _epsilon
from .backend_compat import floatx as _floatx
from .layers.core import Lambda as _Lambda
from .layers import nodes as _nodes
from .layers.nodes import KerasTensor
from .layers.subclassing import Variable
from .ops_linalg import cholesky, cholesky_inverse, det, eig, eigh, inv, logdet, lstsq, \
    matrix_rank, norm, pinv, qr, slogdet, solve, solve_triangular, svd



# --- tensors, dtypes and shapes ---------------------------------------------------------------


def _standard_dtype(dtype: Any) -> np.dtype:
    """A Keras dtype name ("float32", "int32", "bool", ...) or NumPy dtype, checked."""
    if dtype is None:
        raise TypeError("dtype must be a dtype name such as 'float32', got None")
    try:
        return np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"unknown dtype {dtype!r}: use a name such as 'float32', 'int32' or "
                        "'bool'") from err


def _is_array(x: Any) -> bool:
    """True for what NumPy functions take as an array without copying it to a plain
    ndarray: ndarrays, NumPy scalars and adkit's traced values."""
    return isinstance(x, (np.ndarray, np.generic)) or hasattr(x, "_trace")


def _inferred(x: Any) -> np.ndarray:
    """Python data as Keras converts it: floats to float32, ints to int32, bools to bool."""
    array = np.asarray(x)
    if array.dtype == np.float64:
        return array.astype(_floatx())
    if array.dtype.kind in "iu" and array.dtype.itemsize == 8:
        return array.astype(np.int32)
    return array


def convert_to_tensor(x: Any, dtype: Any = None, sparse: Any = None, ragged: Any = None) -> Any:
    """x as an array (Keras's tensor): Python floats become float32 and ints int32, as Keras
    does; arrays and traced values keep their dtype unless `dtype` is given.

    >>> convert_to_tensor([1.0, 2.0]).dtype, convert_to_tensor(3).dtype
    (dtype('float32'), dtype('int32'))
    """
    if type(x) is np.ndarray and dtype is None and not (sparse or ragged):
        return x   # the common case, first
    if sparse or ragged:
        raise ValueError("convert_to_tensor: adkit has no sparse or ragged tensors; pass "
                         "sparse=None and ragged=None (dense arrays)")
    if isinstance(x, Variable):   # a weight of a subclassed layer, outside its call
        x = x.value
    if not _is_array(x):
        x = _inferred(x)
    return x if dtype is None else _cast(x, dtype)


#: the unwrapped function, for this module's own calls (the public name also takes
#: KerasTensors, see the end of the module)
_tensor = convert_to_tensor


def convert_to_numpy(x: Any) -> np.ndarray:
    """x as a plain NumPy array (the value, outside differentiation)."""
    if hasattr(x, "_trace"):
        raise TypeError("convert_to_numpy: x is a traced value (this code is being "
                        "differentiated or compiled); keep it a tensor with "
                        "ops.convert_to_tensor, or take ops.stop_gradient(x) first")
    return np.array(_tensor(x))


def is_tensor(x: Any) -> bool:
    """True for arrays and traced values (what Keras calls a backend tensor)."""
    return isinstance(x, np.ndarray) or hasattr(x, "_trace")


def cast(x: Any, dtype: Any) -> Any:
    """x converted to dtype (Keras's name or a NumPy dtype); traced values stay traced.

    >>> cast(np.array([1.7, -1.7]), "int32")
    array([ 1, -1], dtype=int32)
    """
    dtype = _standard_dtype(dtype)
    if not _is_array(x):
        x = np.asarray(x)
    return x if x.dtype == dtype else x.astype(dtype)


_cast = cast


def saturate_cast(x: Any, dtype: Any) -> Any:
    """cast, with values first clipped to the range dtype can hold."""
    dtype = _standard_dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        x = np.clip(x, info.min, info.max)
    return _cast(x, dtype)


def dtype(x: Any) -> str:
    """The dtype's name, as Keras's standardized dtype strings ("float32")."""
    return np.dtype(getattr(x, "dtype", None) or _tensor(x).dtype).name


def ndim(x: Any) -> int:
    """The number of axes."""
    return len(np.shape(x))


def size(x: Any) -> int:
    """The number of elements."""
    return int(np.prod(np.shape(x), dtype=np.int64))


def stop_gradient(variable: Any) -> Any:
    """variable, through which no derivative flows (adkit.stop_gradient)."""
    return adkit.stop_gradient(variable)


def copy(x: Any) -> Any:
    """A copy of x."""
    return x.copy() if _is_array(x) else np.array(x)


def array(x: Any, dtype: Any = None) -> Any:
    """x as an array (Keras infers dtypes as convert_to_tensor does)."""
    return _tensor(x, dtype)


def get_item(x: Any, key: Any) -> Any:
    """x[key]."""
    return x[key]


# --- creation: Keras makes floatx (float32) arrays unless told ------------------------------


def _float_default(dtype: Any) -> np.dtype:
    return np.dtype(_floatx() if dtype is None else _standard_dtype(dtype))


def zeros(shape: Any, dtype: Any = None) -> np.ndarray:
    """An array of zeros, float32 unless dtype is given."""
    return np.zeros(shape, _float_default(dtype))


def ones(shape: Any, dtype: Any = None) -> np.ndarray:
    """An array of ones, float32 unless dtype is given."""
    return np.ones(shape, _float_default(dtype))


def empty(shape: Any, dtype: Any = None) -> np.ndarray:
    """An array of the shape (Keras fills it with zeros; so does adkit)."""
    return np.zeros(shape, _float_default(dtype))


def full(shape: Any, fill_value: Any, dtype: Any = None) -> Any:
    """An array of fill_value (keras.config.floatx(), float32, unless dtype is given, as Keras)."""
    return np.full(shape, _tensor(fill_value), dtype=_float_default(dtype))


def zeros_like(x: Any, dtype: Any = None) -> np.ndarray:
    """Zeros of x's shape and dtype (or dtype)."""
    return np.zeros(np.shape(x), np.dtype(dtype) if dtype is not None else _dtype_of(x))


def ones_like(x: Any, dtype: Any = None) -> np.ndarray:
    """Ones of x's shape and dtype (or dtype)."""
    return np.ones(np.shape(x), np.dtype(dtype) if dtype is not None else _dtype_of(x))


def empty_like(x: Any, dtype: Any = None) -> np.ndarray:
    """An array of x's shape and dtype (zeros)."""
    return zeros_like(x, dtype)


def full_like(x: Any, fill_value: Any, dtype: Any = None) -> np.ndarray:
    """fill_value in x's shape, of x's dtype (or dtype)."""
    return np.full(np.shape(x), fill_value, np.dtype(dtype) if dtype is not None
                   else _dtype_of(x))


def _dtype_of(x: Any) -> np.dtype:
    return np.dtype(getattr(x, "dtype", None) or _tensor(x).dtype)


def arange(start: Any, stop: Any = None, step: Any = None, dtype: Any = None) -> np.ndarray:
    """Evenly spaced values in [start, stop): int32 for int arguments, float32 otherwise."""
    bounds = [v for v in (start, stop, step) if v is not None]
    if dtype is None:
        dtype = _floatx() if _builtins.any(isinstance(v, float) or np.asarray(v).dtype.kind == "f"
                              for v in bounds) else "int32"
    return np.arange(start, stop, 1 if step is None else step, dtype=_standard_dtype(dtype))


def linspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True,
             retstep: bool = False, dtype: Any = None, axis: int = 0) -> Any:
    """num evenly spaced values from start to stop (float32 unless dtype is given)."""
    out = np.linspace(start, stop, num, endpoint=endpoint, retstep=retstep, axis=axis)
    if retstep:
        return out[0].astype(_float_default(dtype)), out[1]
    return out.astype(_float_default(dtype))


def logspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, base: float = 10,
             dtype: Any = None, axis: int = 0) -> np.ndarray:
    """base ** linspace(start, stop, num) (float32 unless dtype is given)."""
    return np.logspace(start, stop, num, endpoint=endpoint, base=base,
                       axis=axis).astype(_float_default(dtype))


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> np.ndarray:  # noqa: N803
    """The N x M matrix with ones on diagonal k (float32 unless dtype is given)."""
    return np.eye(N, M, k, dtype=_float_default(dtype))


def identity(n: int, dtype: Any = None) -> np.ndarray:
    """The n x n identity (float32 unless dtype is given)."""
    return np.eye(n, dtype=_float_default(dtype))


def tri(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> np.ndarray:  # noqa: N803
    """Ones at and below diagonal k (float32 unless dtype is given)."""
    return np.tri(N, M, k, dtype=_float_default(dtype))


# --- reductions, with Keras's (x, axis=None, keepdims=False) ----------------------------------


def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


def _float_input(x: Any) -> Any:
    """x, with integer and bool arrays made float32 (Keras's mean, var, std of ints)."""
    x = _tensor(x)
    return x.astype(_floatx()) if x.dtype.kind in "biu" else x


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """The sum over axis (an int, a tuple, or None for all)."""
    return np.sum(_tensor(x), axis=_axis(axis), keepdims=keepdims)


def prod(x: Any, axis: Any = None, keepdims: bool = False, dtype: Any = None) -> Any:
    """The product over axis."""
    return np.prod(_tensor(x), axis=_axis(axis), keepdims=keepdims, dtype=dtype)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """The mean over axis (of integers: float32, as Keras)."""
    return np.mean(_float_input(x), axis=_axis(axis), keepdims=keepdims)


def var(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """The (population) variance over axis."""
    return np.var(_float_input(x), axis=_axis(axis), keepdims=keepdims)


def std(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """The (population) standard deviation over axis."""
    return np.std(_float_input(x), axis=_axis(axis), keepdims=keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False, initial: Any = None) -> Any:  # noqa: A001
    """The largest entry over axis; initial: a floor the result never goes below."""
    out = np.max(_tensor(x), axis=_axis(axis), keepdims=keepdims)
    return out if initial is None else np.maximum(out, initial)


def min(x: Any, axis: Any = None, keepdims: bool = False, initial: Any = None) -> Any:  # noqa: A001
    """The smallest entry over axis; initial: a ceiling the result never goes above."""
    out = np.min(_tensor(x), axis=_axis(axis), keepdims=keepdims)
    return out if initial is None else np.minimum(out, initial)


def amax(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """The largest entry over axis."""
    return max(x, axis, keepdims)


def amin(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """The smallest entry over axis."""
    return min(x, axis, keepdims)


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """True where every entry over axis is nonzero."""
    return np.all(_tensor(x), axis=_axis(axis), keepdims=keepdims)


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """True where some entry over axis is nonzero."""
    return np.any(_tensor(x), axis=_axis(axis), keepdims=keepdims)


def median(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """The median over axis (an int, a tuple, or None for all): the middle of the sorted
    values, or the mean of the two middle ones (written with sort, so it differentiates)."""
    return quantile(x, 0.5, axis=axis, keepdims=keepdims)


def quantile(x: Any, q: Any, axis: Any = None, method: str = "linear",
             keepdims: bool = False) -> Any:
    """The q-th quantiles (q in [0, 1], a number or an array: its axes come first) over
    axis. method "linear" interpolates between the sorted values and differentiates
    (written with sort); NumPy's other methods give values only."""
    x = _float_input(x)
    q_array = np.asarray(q, dtype=np.float64)
    if np.any((q_array < 0) | (q_array > 1)):
        raise ValueError(f"quantile: q must be in [0, 1], got {q!r}")
    if method != "linear":
        return np.quantile(x, q_array, axis=_axis(axis), method=method, keepdims=keepdims)
    ndim = np.ndim(x)
    axes = tuple(range(ndim)) if axis is None else tuple(
        a % ndim for a in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    kept = [a for a in range(ndim) if a not in axes]
    flat = np.reshape(np.transpose(x, kept + list(axes)),
                      tuple(np.shape(x)[a] for a in kept) + (-1,))
    ordered = sort(flat, axis=-1)
    position = q_array * (np.shape(ordered)[-1] - 1)
    low = np.floor(position).astype(np.int64)
    high = np.ceil(position).astype(np.int64)
    frac = (position - low).astype(x.dtype)
    out = np.take(ordered, low, axis=-1) * (1 - frac) + np.take(ordered, high, axis=-1) * frac
    out = np.moveaxis(out, tuple(range(out.ndim - q_array.ndim, out.ndim)),
                      tuple(range(q_array.ndim))) if q_array.ndim else out
    if keepdims:
        out = np.reshape(out, q_array.shape + tuple(
            1 if a in axes else np.shape(x)[a] for a in range(ndim)))
    return out


def percentile(x: Any, q: Any, axis: Any = None, method: str = "linear",
               keepdims: bool = False) -> Any:
    """quantile(x, q / 100, ...): q in [0, 100]."""
    return quantile(x, np.asarray(q, dtype=np.float64) / 100.0, axis, method, keepdims)


def trapezoid(y: Any, x: Any = None, dx: float = 1.0, axis: int = -1) -> Any:
    """The integral of y along axis by the trapezoidal rule (samples at x, or dx apart)."""
    y = _float_input(y)
    first = np.take(y, np.arange(np.shape(y)[axis] - 1), axis=axis)
    rest = np.take(y, np.arange(1, np.shape(y)[axis]), axis=axis)
    if x is None:
        return np.sum((first + rest) * (0.5 * dx), axis=axis)
    steps = np.diff(_cast(_tensor(x), y.dtype), axis=-1 if np.ndim(x) == 1 else axis)
    if np.ndim(x) == 1 and np.ndim(y) > 1:
        steps = np.reshape(steps, [-1 if a == axis % np.ndim(y) else 1 for a in range(np.ndim(y))])
    return np.sum((first + rest) * steps * 0.5, axis=axis)


def ptp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """max - min over axis."""
    return max(x, axis, keepdims) - min(x, axis, keepdims)


def count_nonzero(x: Any, axis: Any = None) -> Any:
    """How many entries over axis are nonzero (int32)."""
    return _int32(np.sum(_tensor(x) != 0, axis=_axis(axis)))


def _int32(indices: Any) -> np.ndarray:
    return indices.astype(np.int32) if _is_array(indices) else np.asarray(indices, np.int32)


def _index_array(values: Any) -> Any:
    """values as an array, staged values kept staged: np.asarray would make adkit.compile
    freeze them into the program as constants (guarded, so staged again at every step)."""
    return values if _is_array(values) else np.asarray(values)


def argmax(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """The index of the largest entry along axis (of the flattened x for None), int32."""
    return _int32(np.argmax(_tensor(x), axis=axis, keepdims=keepdims))


def nanargmax(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """argmax ignoring nans (all nan: -1), int32."""
    return _nan_arg(np.nanargmax, x, axis, keepdims)


def nanargmin(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """argmin ignoring nans (all nan: -1), int32."""
    return _nan_arg(np.nanargmin, x, axis, keepdims)


def _nan_arg(fn: Callable, x: Any, axis: Any, keepdims: bool) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind != "f":
        return _int32(fn(x, axis=axis, keepdims=keepdims))
    empty = np.all(np.isnan(x), axis=axis, keepdims=keepdims)
    safe = np.where(np.all(np.isnan(x), axis=axis, keepdims=True), 0.0, x)
    return _int32(np.where(empty, -1, fn(safe, axis=axis, keepdims=keepdims)))


def argmin(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """The index of the smallest entry along axis, int32."""
    return _int32(np.argmin(_tensor(x), axis=axis, keepdims=keepdims))


def argsort(x: Any, axis: int = -1) -> np.ndarray:
    """The indices that sort x along axis (a stable sort), int32."""
    return _int32(np.argsort(_tensor(x), axis=axis, kind="stable"))


def sort(x: Any, axis: int = -1) -> Any:
    """x sorted along axis (its derivative flows through the gather of argsort)."""
    x = _tensor(x)
    last = np.moveaxis(x, axis, -1)   # (gathering along the last axis stages best)
    ordered = _gather_along(last, np.argsort(adkit.stop_gradient(last), axis=-1,
                                             kind="stable"), -1)
    return np.moveaxis(ordered, -1, axis)


def cumsum(x: Any, axis: Any = None, dtype: Any = None) -> Any:
    """Running sums along axis (of the flattened x for None)."""
    return np.cumsum(_tensor(x), axis=axis, dtype=dtype)


def cumprod(x: Any, axis: Any = None, dtype: Any = None) -> Any:
    """Running products along axis."""
    return np.cumprod(_tensor(x), axis=axis, dtype=dtype)


def average(x: Any, axis: Any = None, weights: Any = None) -> Any:
    """The mean along axis, weighted by weights if given (in x's float dtype)."""
    x = _float_input(x)
    if weights is not None:
        weights = _tensor(weights)
        weights = weights.astype(x.dtype) if weights.dtype.kind in "biuf" else weights
    return np.average(x, axis=axis, weights=weights)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) over axis, computed without overflow.

    >>> float(logsumexp(np.array([1000.0, 1000.0])) - 1000.0)
    0.693147
    """
    return scipy_lazy.special().logsumexp(_tensor(x), axis=_axis(axis), keepdims=keepdims)


def moments(x: Any, axes: Any, keepdims: bool = False, synchronized: bool = False
            ) -> tuple[Any, Any]:
    """(mean, variance) of x over axes, as Keras's ops.moments (float16 is computed in
    float32 and cast back)."""
    if synchronized:
        raise ValueError("moments(synchronized=True) all-reduces across devices, which "
                         "adkit does not do; pass synchronized=False")
    x = _tensor(x)
    small = x.dtype in (np.float16,)
    if small:
        x = x.astype(np.float32)
    axes = _axis(axes)
    m = np.mean(x, axis=axes, keepdims=True)
    v = np.var(x, axis=axes, keepdims=True)
    if not keepdims:
        m, v = np.squeeze(m, axis=axes), np.squeeze(v, axis=axes)
    if small:
        m, v = m.astype(np.float16), v.astype(np.float16)
    return m, v


# --- shapes and indexing, with Keras's argument names -----------------------------------------


def reshape(x: Any, newshape: Any) -> Any:
    """x with shape newshape (one entry may be -1)."""
    return np.reshape(_tensor(x), newshape)


def transpose(x: Any, axes: Any = None) -> Any:
    """x with its axes permuted (reversed for None)."""
    return np.transpose(_tensor(x), axes)


def expand_dims(x: Any, axis: Any) -> Any:
    """x with a new axis of length 1 at axis (an int or a tuple)."""
    return np.expand_dims(_tensor(x), _axis(axis))


def squeeze(x: Any, axis: Any = None) -> Any:
    """x without its axes of length 1 (or only those in axis)."""
    return np.squeeze(_tensor(x), axis=_axis(axis))


def ravel(x: Any) -> Any:
    """x flattened."""
    return np.ravel(_tensor(x))


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    """x with two axes exchanged."""
    return np.swapaxes(_tensor(x), axis1, axis2)


def moveaxis(x: Any, source: Any, destination: Any) -> Any:
    """x with axes moved from source to destination."""
    return np.moveaxis(_tensor(x), source, destination)


def broadcast_to(x: Any, shape: Any) -> Any:
    """x broadcast to shape."""
    return np.broadcast_to(_tensor(x), shape)


def concatenate(xs: Sequence[Any], axis: int = 0) -> Any:
    """The arrays joined along axis."""
    return np.concatenate([_tensor(x) for x in xs], axis=axis)


def stack(x: Sequence[Any], axis: int = 0) -> Any:
    """The arrays stacked along a new axis."""
    return np.stack([_tensor(v) for v in x], axis=axis)


def unstack(x: Any, num: int | None = None, axis: int = 0) -> list:
    """The slices of x along axis, as a list (num, if given, must be their number)."""
    x = _tensor(x)
    n = np.shape(x)[axis]
    if num is not None and num != n:
        raise ValueError(f"unstack: num={num} but x has {n} entries along axis {axis}")
    return [np.take(x, i, axis=axis) for i in range(n)]


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list:
    """x split along axis into equal sections (an int) or at the indices (a list)."""
    return list(np.split(_tensor(x), indices_or_sections, axis=axis))


def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list:
    """split, allowing sections of unequal size."""
    return list(np.array_split(_tensor(x), indices_or_sections, axis=axis))


def hstack(xs: Sequence[Any]) -> Any:
    """The arrays joined along their second axis (the first for 1-D)."""
    return np.hstack([_tensor(x) for x in xs])


def vstack(xs: Sequence[Any]) -> Any:
    """The arrays joined along their first axis."""
    return np.vstack([_tensor(x) for x in xs])


def dstack(xs: Sequence[Any]) -> Any:
    """The arrays joined along their third axis."""
    return np.dstack([_tensor(x) for x in xs])


def tile(x: Any, repeats: Any) -> Any:
    """x repeated repeats times along each axis."""
    return np.tile(_tensor(x), repeats)


def repeat(x: Any, repeats: Any, axis: Any = None) -> Any:
    """Each entry of x repeated repeats times along axis (flattened for None)."""
    return np.repeat(_tensor(x), repeats, axis=axis)


def flip(x: Any, axis: Any = None) -> Any:
    """x reversed along axis (all axes for None)."""
    return np.flip(_tensor(x), axis=_axis(axis))


def roll(x: Any, shift: Any, axis: Any = None) -> Any:
    """x rotated by shift along axis."""
    return np.roll(_tensor(x), shift, axis=_axis(axis))


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = None) -> Any:
    """x padded by pad_width ((before, after) per axis)."""
    if constant_values is not None and mode != "constant":
        raise ValueError(f"pad: constant_values goes with mode='constant', not mode={mode!r}")
    if mode == "constant":
        return np.pad(_tensor(x), pad_width, mode="constant",
                      constant_values=0 if constant_values is None else constant_values)
    return np.pad(_tensor(x), pad_width, mode=mode)


def take(x: Any, indices: Any, axis: Any = None) -> Any:
    """The entries of x at indices along axis (of the flattened x for None)."""
    x, indices = _tensor(x), _index_array(indices)
    if axis is None:
        return np.ravel(x)[indices]
    return x[(_builtins.slice(None),) * (axis % np.ndim(x)) + (indices,)]


def take_along_axis(x: Any, indices: Any, axis: Any = None) -> Any:
    """The entries of x at indices, matched along every axis but axis."""
    x = _tensor(x)
    if axis is None:
        x, axis = np.ravel(x), 0
    return _gather_along(x, _index_array(indices), axis)


def _gather_along(x: Any, indices: Any, axis: int) -> Any:
    """take_along_axis written as indexing: adkit.compile keeps indices that change with
    the data as program values there (np.take's and np.sort's derivatives would freeze
    them into the program, staging it again at every step)."""
    ndim = np.ndim(x)
    axis %= ndim
    if np.ndim(indices) != ndim:
        raise ValueError(f"take_along_axis: indices need as many axes as x ({ndim}), got "
                         f"shape {np.shape(indices)}")
    shape = np.broadcast_shapes(tuple(1 if d == axis else n for d, n in enumerate(np.shape(x))),
                                tuple(1 if d == axis else n for d, n in enumerate(np.shape(indices))))
    index = tuple(indices if d == axis else
                  np.arange(shape[d]).reshape([-1 if e == d else 1 for e in range(ndim)])
                  for d in range(ndim))
    return x[index]


def where(condition: Any, x1: Any = None, x2: Any = None) -> Any:
    """x1 where condition holds, else x2; with neither, the indices where it holds."""
    if x1 is None and x2 is None:
        return tuple(_int32(i) for i in np.nonzero(np.asarray(condition)))
    if x1 is None or x2 is None:
        raise ValueError("where: give both x1 and x2, or neither (for the indices where "
                         "condition holds)")
    return np.where(condition, _tensor(x1), _tensor(x2))


def nonzero(x: Any) -> tuple:
    """The indices of the nonzero entries, one int32 array per axis."""
    return tuple(_int32(i) for i in np.nonzero(np.asarray(x)))


def clip(x: Any, x_min: Any, x_max: Any) -> Any:
    """x limited to [x_min, x_max]."""
    return np.clip(_tensor(x), x_min, x_max)


def slice(inputs: Any, start_indices: Any, shape: Any) -> Any:  # noqa: A001
    """The block of inputs of the given shape starting at start_indices.

    >>> slice(np.arange(12).reshape(3, 4), (1, 1), (2, 2))
    array([[ 5,  6],
           [ 9, 10]])
    """
    index = _block(np.shape(inputs), start_indices, shape, "slice")
    return _tensor(inputs)[index]


def _block(full: tuple, start: Any, extent: Any, who: str) -> tuple:
    start = [int(s) for s in np.ravel(np.asarray(start))]
    extent = [int(s) for s in extent]
    if not len(start) == len(extent) == len(full):
        raise ValueError(f"{who}: start_indices ({len(start)}) and shape ({len(extent)}) "
                         f"need one entry per axis of the input (shape {full})")
    for s, n, m in zip(start, extent, full):
        if s < 0 or n < 0 or s + n > m:
            raise ValueError(f"{who}: the block starting at {tuple(start)} of shape "
                             f"{tuple(extent)} does not fit in an input of shape {full}")
    return tuple(_builtins.slice(s, s + n) for s, n in zip(start, extent))


def slice_update(inputs: Any, start_indices: Any, updates: Any) -> Any:
    """inputs with the block at start_indices replaced by updates (a new array).

    >>> slice_update(np.zeros((2, 3)), (1, 1), np.ones((1, 2)))
    array([[0., 0., 0.],
           [0., 1., 1.]])
    """
    full = np.shape(inputs)
    index = _block(full, start_indices, np.shape(updates), "slice_update")
    widths = [(b.start, m - b.stop) for b, m in zip(index, full)]
    inside = np.zeros(full, bool)
    inside[index] = True
    updates = _tensor(updates)
    placed = np.pad(updates.astype(_dtype_of(inputs)), widths)
    return np.where(inside, placed, _tensor(inputs))


def scatter(indices: Any, values: Any, shape: Any) -> Any:
    """An array of zeros of the given shape with values added at indices (each row of
    indices addresses the leading axes; repeated indices add up).

    >>> scatter(np.array([[0, 1], [0, 1], [1, 0]]), np.array([1.0, 2.0, 5.0]), (2, 2))
    array([[0., 3.],
           [5., 0.]])
    """
    indices = np.asarray(indices)
    shape = tuple(int(n) for n in shape)
    depth = indices.shape[-1]
    flat = np.ravel_multi_index(tuple(np.moveaxis(indices.reshape(-1, depth), -1, 0)),
                                shape[:depth])
    values = _tensor(values)
    rows = np.reshape(values, (len(flat), -1))
    total = _segment_sum(rows, flat, int(np.prod(shape[:depth], dtype=np.int64)))
    return np.reshape(total, shape)


def scatter_update(inputs: Any, indices: Any, updates: Any, reduction: str | None = None) -> Any:
    """inputs with the entries (or slices) at indices replaced by updates (a new array;
    where an index repeats, its last update wins, as in NumPy assignment); reduction
    "add" adds the updates instead, repeats summed.

    >>> scatter_update(np.zeros((2, 2)), np.array([[0, 1], [0, 1]]), np.array([1.0, 2.0]))
    array([[0., 2.],
           [0., 0.]])
    """
    if reduction not in (None, "add"):
        raise ValueError(f"scatter_update: reduction must be None or 'add', got {reduction!r}")
    indices = np.asarray(indices)
    full = np.shape(inputs)
    depth = indices.shape[-1]
    inputs, updates = _tensor(inputs), _tensor(updates)
    rows = np.reshape(updates, (-1,) + full[depth:]).astype(_dtype_of(inputs))
    if reduction == "add":
        return inputs + scatter(indices, rows, full)
    flat = np.ravel_multi_index(tuple(indices.reshape(-1, depth).T), full[:depth])
    last = len(flat) - 1 - np.unique(flat[::-1], return_index=True)[1]
    hit = scatter(indices.reshape(-1, depth)[last], np.ones(len(last)), full[:depth]) > 0
    hit = np.reshape(hit, full[:depth] + (1,) * (len(full) - depth))
    placed = scatter(indices.reshape(-1, depth)[last], rows[last], full)
    return np.where(hit, placed, inputs)


# --- segments, top-k, one-hot ---------------------------------------------------------------


def _segment_matrix(segment_ids: np.ndarray, num_segments: int, dtype: Any) -> np.ndarray:
    """(num_segments, n): 1 where example j is in segment i (ids out of range: nowhere)."""
    return (np.arange(num_segments)[:, None] == segment_ids[None, :]).astype(dtype)


def _segment_sum(rows: Any, segment_ids: np.ndarray, num_segments: int) -> Any:
    return _segment_matrix(segment_ids, num_segments, _dtype_of(rows)) @ rows


def _segments(data: Any, segment_ids: Any, num_segments: Any, who: str) -> tuple:
    ids = _index_array(segment_ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ValueError(f"{who}: segment_ids must be a 1-D array of integers, got "
                         f"{ids.dtype} of shape {ids.shape}")
    data = _tensor(data)
    if np.shape(data)[:1] != ids.shape:
        raise ValueError(f"{who}: data has {np.shape(data)[:1]} rows but segment_ids has "
                         f"{len(ids)} entries; give one segment id per row of data")
    n = int(ids.max()) + 1 if num_segments is None and np.shape(ids)[0] else int(num_segments or 0)
    return data, ids, n


def segment_sum(data: Any, segment_ids: Any, num_segments: int | None = None,
                sorted: bool = False) -> Any:  # noqa: A002
    """The sum of the rows of data in each segment: out[i] = sum of data[j] with
    segment_ids[j] == i (num_segments rows, default max(segment_ids) + 1; ids outside
    [0, num_segments) are dropped, as Keras's JAX backend does).

    >>> segment_sum(np.array([1.0, 2.0, 3.0]), np.array([0, 0, 2]))
    array([3., 0., 3.])
    """
    data, ids, n = _segments(data, segment_ids, num_segments, "segment_sum")
    rows = np.reshape(data, (len(ids), -1))
    return np.reshape(_segment_sum(rows, ids, n), (n,) + np.shape(data)[1:])


def segment_max(data: Any, segment_ids: Any, num_segments: int | None = None,
                sorted: bool = False) -> Any:  # noqa: A002
    """The largest row of data in each segment (entrywise); an empty segment gives the
    dtype's lowest value (-inf for floats), as Keras's JAX backend does."""
    dtype = _dtype_of(data)
    lowest = -np.inf if dtype.kind == "f" else np.iinfo(dtype).min
    return _segment_reduce(data, segment_ids, num_segments, "segment_max", np.max, lowest)


def _segment_reduce(data: Any, segment_ids: Any, num_segments: Any, who: str, reduce: Callable,
                    identity: Any) -> Any:
    data, ids, n = _segments(data, segment_ids, num_segments, who)
    dtype = _dtype_of(data)
    member = _segment_matrix(ids, n, bool).reshape((n, len(ids)) + (1,) * (np.ndim(data) - 1))
    if not len(ids):
        return np.full((n,) + np.shape(data)[1:], identity, dtype)
    return reduce(np.where(member, data[None], np.asarray(identity, dtype)), axis=1)


def segment_min(data: Any, segment_ids: Any, num_segments: int | None = None,
                sorted: bool = False) -> Any:  # noqa: A002
    """The smallest row of data in each segment (entrywise); an empty segment gives the
    dtype's largest value (inf for floats)."""
    dtype = _dtype_of(data)
    highest = np.inf if dtype.kind == "f" else np.iinfo(dtype).max
    return _segment_reduce(data, segment_ids, num_segments, "segment_min", np.min, highest)


def segment_prod(data: Any, segment_ids: Any, num_segments: int | None = None,
                 sorted: bool = False) -> Any:  # noqa: A002
    """The product of the rows of data in each segment; an empty segment gives 1."""
    return _segment_reduce(data, segment_ids, num_segments, "segment_prod", np.prod, 1)


def top_k(x: Any, k: int, sorted: bool = True) -> tuple[Any, np.ndarray]:  # noqa: A002
    """(values, indices) of the k largest entries along the last axis, largest first
    (ties: the lower index first); indices are int32. Derivatives flow to the values.

    >>> top_k(np.array([3.0, 1.0, 3.0, 2.0]), 2)
    (array([3., 3.]), array([0, 2], dtype=int32))
    """
    x = _tensor(x)
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= np.shape(x)[-1]:
        raise ValueError(f"top_k: k must be an int from 0 to the last axis's length "
                         f"{np.shape(x)[-1]}, got {k!r}")
    order = np.argsort(-adkit.stop_gradient(x), axis=-1, kind="stable")[..., :k]
    return _gather_along(x, order, -1), _int32(order)


def in_top_k(targets: Any, predictions: Any, k: int) -> np.ndarray:
    """True for each row whose target's prediction is among the k largest (ties with the
    k-th count as in; a nan prediction never does), as Keras's ops.in_top_k."""
    predictions = adkit.stop_gradient(_tensor(predictions))
    at_label = _gather_along(predictions, _index_array(targets)[..., None].astype(np.int64), -1)
    at_label = np.where(np.isnan(at_label), -np.inf, at_label)
    rank = 1 + np.sum(predictions > at_label, axis=-1)
    return rank <= k


def one_hot(x: Any, num_classes: int, axis: int = -1, dtype: Any = None,
            sparse: bool = False) -> np.ndarray:
    """Integer labels as one-hot vectors along a new axis (float32 unless dtype is given;
    a label outside [0, num_classes) gives a row of zeros).

    >>> one_hot(np.array([1, -1]), 3)
    array([[0., 1., 0.],
           [0., 0., 0.]], dtype=float32)
    """
    if sparse:
        raise ValueError("one_hot(sparse=True): adkit has no sparse tensors; pass sparse=False")
    labels = _index_array(x)
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise TypeError(f"one_hot: x must hold integer class labels, got dtype "
                            f"{labels.dtype}")
    out = (labels[..., None] == np.arange(int(num_classes))).astype(_float_default(dtype))
    return np.moveaxis(out, -1, axis) if axis not in (-1, labels.ndim) else out


def multi_hot(inputs: Any, num_classes: int | None = None, axis: int = -1, dtype: Any = None,
              sparse: bool = False, **kwargs: Any) -> np.ndarray:
    """The labels of each row as one vector with ones at every label (for 1-D input, one
    vector for all of it)."""
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if num_classes is None or kwargs:
        raise TypeError("multi_hot needs num_classes (the length of each vector)"
                        + (f"; unexpected arguments {sorted(kwargs)}" if kwargs else ""))
    labels = _index_array(inputs)
    hot = one_hot(labels.astype(np.int64), num_classes, axis=axis, dtype=dtype, sparse=sparse)
    return np.max(hot, axis=1 if labels.ndim > 1 else 0)


# --- elementwise math that NumPy spells differently -------------------------------------------


def rsqrt(x: Any) -> Any:
    """1 / sqrt(x)."""
    return 1.0 / np.sqrt(_float_input(x))


def erf(x: Any) -> Any:
    """The error function."""
    return scipy_lazy.special().erf(_float_input(x))


def erfinv(x: Any) -> Any:
    """The inverse error function."""
    return scipy_lazy.special().erfinv(_float_input(x))


def erfc(x: Any) -> Any:
    """1 - erf(x), accurate for large x."""
    return scipy_lazy.special().erfc(_float_input(x))


def divide_no_nan(x1: Any, x2: Any) -> Any:
    """x1 / x2, and 0 where x2 is 0."""
    zero = np.asarray(x2) == 0 if not hasattr(x2, "_trace") else adkit.stop_gradient(x2) == 0
    safe = np.where(zero, 1.0, x2)
    return np.where(zero, 0.0, x1 / safe)


def power(x1: Any, x2: Any) -> Any:
    """x1 ** x2."""
    return np.power(_tensor(x1), x2)


def round(x: Any, decimals: int = 0) -> Any:  # noqa: A001
    """x rounded to decimals places (halves to even)."""
    return np.round(_tensor(x), decimals)


def normalize(x: Any, axis: Any = -1, order: int = 2, epsilon: float | None = None) -> Any:
    """x divided by its order-norm along axis, the norm floored at epsilon (for order 2,
    x * min(rsqrt(sum(x**2)), 1/epsilon), as Keras).

    >>> normalize(np.array([3.0, 4.0]))
    array([0.6, 0.8])
    """
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"normalize: order must be an int >= 1, got {order!r}")
    x = _tensor(x)
    if np.ndim(x) == 0:
        x = np.expand_dims(x, 0)
    epsilon = _epsilon() if epsilon is None else epsilon
    axis = _axis(axis)
    if order == 2:
        inverse = 1.0 / np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
        return x * np.minimum(inverse, 1.0 / epsilon)
    return x / np.maximum(norm(x, ord=order, axis=axis, keepdims=True), epsilon)


def cdist(x: Any, y: Any) -> Any:
    """The Euclidean distances between the rows of x and of y."""
    diff = _tensor(x)[..., :, None, :] - _tensor(y)[..., None, :, :]
    return np.sqrt(np.sum(diff * diff, axis=-1))


def psnr(x1: Any, x2: Any, max_val: float) -> Any:
    """Peak signal-to-noise ratio of x2 against x1, in dB."""
    mse = np.mean(np.square(_tensor(x1) - _tensor(x2)))
    return float(20.0 * np.log10(max_val)) - 10.0 * np.log10(mse)


def depth_to_space(x: Any, block_size: int, data_format: str = "channels_last") -> Any:
    """Channels of 4-D images moved into block_size x block_size spatial blocks (pixel
    shuffle): (n, h, w, c * b * b) -> (n, h * b, w * b, c), the block offset outermost
    in the channels; channels_first (n, c * b * b, h, w) -> (n, c, h * b, w * b), the
    channel outermost, as Keras."""
    b = _block_size(block_size, "depth_to_space")
    x, first = _four_d(x, data_format, "depth_to_space")
    n, c, h, w = (np.shape(x)[i] for i in ((0, 1, 2, 3) if first else (0, 3, 1, 2)))
    if c % (b * b):
        raise ValueError(f"depth_to_space: the channels ({c}) must be a multiple of "
                         f"block_size**2 ({b * b})")
    if first:
        y = np.transpose(np.reshape(x, (n, c // (b * b), b, b, h, w)), (0, 1, 4, 2, 5, 3))
        return np.reshape(y, (n, c // (b * b), h * b, w * b))
    y = np.transpose(np.reshape(x, (n, h, w, b, b, c // (b * b))), (0, 1, 3, 2, 4, 5))
    return np.reshape(y, (n, h * b, w * b, c // (b * b)))


def space_to_depth(x: Any, block_size: int, data_format: str = "channels_last") -> Any:
    """The inverse of depth_to_space: (n, h * b, w * b, c) -> (n, h, w, c * b * b)."""
    b = _block_size(block_size, "space_to_depth")
    x, first = _four_d(x, data_format, "space_to_depth")
    n, c, h, w = (np.shape(x)[i] for i in ((0, 1, 2, 3) if first else (0, 3, 1, 2)))
    if h % b or w % b:
        raise ValueError(f"space_to_depth: height {h} and width {w} must be multiples of "
                         f"block_size {b}")
    if first:
        y = np.transpose(np.reshape(x, (n, c, h // b, b, w // b, b)), (0, 1, 3, 5, 2, 4))
        return np.reshape(y, (n, c * b * b, h // b, w // b))
    y = np.transpose(np.reshape(x, (n, h // b, b, w // b, b, c)), (0, 1, 3, 2, 4, 5))
    return np.reshape(y, (n, h // b, w // b, c * b * b))


def _four_d(x: Any, data_format: str, who: str) -> tuple[Any, bool]:
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{who}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    if np.ndim(x) != 4:
        raise ValueError(f"{who}: x must be 4-D images, got shape {np.shape(x)}")
    return _tensor(x), data_format == "channels_first"


def _block_size(block_size: Any, who: str) -> int:
    if not isinstance(block_size, (int, np.integer)) or block_size < 2:
        raise ValueError(f"{who}: block_size must be an int >= 2, got {block_size!r}")
    return int(block_size)


def histogram(x: Any, bins: int = 10, range: Any = None) -> tuple:  # noqa: A002
    """(counts, bin_edges) of the values of a 1-D x (NumPy's histogram; both in x's float
    dtype, float32 for integers, as Keras)."""
    if np.ndim(x) != 1:
        raise ValueError(f"histogram: x must be 1-D, got shape {np.shape(x)}; flatten it "
                         "with ops.ravel")
    x = np.asarray(x)
    counts, edges = np.histogram(x, bins=bins, range=range)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(_floatx())   # as Keras's JAX backend
    return counts.astype(dtype), edges.astype(dtype)


def argpartition(x: Any, kth: int, axis: int = -1) -> np.ndarray:
    """Indices that put the kth entry in its sorted place along axis, int32."""
    return _int32(np.argpartition(np.asarray(x), kth, axis))


def unique(x: Any, sorted: bool = True, return_index: bool = False,  # noqa: A002
           return_inverse: bool = False, return_counts: bool = False, axis: Any = None,
           size: Any = None, fill_value: Any = None) -> Any:
    """The distinct values of x, sorted (NumPy's unique; size pads or cuts to that many,
    with fill_value, default the smallest value)."""
    out = np.unique(np.asarray(x), return_index=return_index, return_inverse=return_inverse,
                    return_counts=return_counts, axis=axis)
    if size is None:
        return out
    values = out[0] if isinstance(out, tuple) else out
    fill = values.min() if fill_value is None and len(values) else fill_value
    padded = np.concatenate([values[:size], np.full(_builtins.max(size - len(values), 0),
                                                    fill, values.dtype)])
    return (padded,) + tuple(out[1:]) if isinstance(out, tuple) else padded


def geomspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: Any = None,
              axis: int = 0) -> np.ndarray:
    """num values spaced evenly on a log scale from start to stop (float32 unless dtype)."""
    return np.geomspace(start, stop, num, endpoint=endpoint, axis=axis).astype(
        _float_default(dtype))


def _window(fn: Callable, name: str) -> Callable:
    def window(x: int) -> np.ndarray:
        return fn(int(x)).astype(_floatx())
    window.__name__ = window.__qualname__ = name
    window.__doc__ = f"NumPy's {name} window of x points, float32."
    return window


bartlett, blackman = _window(np.bartlett, "bartlett"), _window(np.blackman, "blackman")
hamming, hanning = _window(np.hamming, "hamming"), _window(np.hanning, "hanning")


def kaiser(x: int, beta: float) -> np.ndarray:
    """NumPy's Kaiser window of x points with shape parameter beta, float32."""
    return np.kaiser(int(x), beta).astype(_floatx())


def polar(abs_: Any, angle: Any) -> Any:
    """abs_ * exp(i angle), the complex number of that magnitude and angle."""
    return abs_ * np.cos(angle) + 1j * (abs_ * np.sin(angle))


def corrcoef(x: Any) -> Any:
    """The correlation coefficients of the rows of x."""
    x = _float_input(x)
    centred = x - np.mean(x, axis=-1, keepdims=True)
    cov = centred @ np.swapaxes(centred, -1, -2)
    d = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    return cov / (d[..., :, None] * d[..., None, :])


def jvp(fun: Callable, primals: Any, tangents: Any, has_aux: bool = False) -> tuple:
    """(fun(*primals), its derivative along tangents) by forward mode (adkit.jvp), with
    the auxiliary output third when has_aux (fun then returns (out, aux))."""
    if not has_aux:
        return adkit.jvp(fun, tuple(primals), tuple(tangents))
    aux_box: list = []

    def main(*args: Any) -> Any:
        out, aux = fun(*args)
        aux_box.append(aux)
        return out
    out, tangent = adkit.jvp(main, tuple(primals), tuple(tangents))
    return out, tangent, adkit.stop_gradient(aux_box[-1])


# --- control flow: plain Python, which adkit traces -------------------------------------------


def cond(pred: Any, true_fn: Callable, false_fn: Callable) -> Any:
    """true_fn() if pred else false_fn()."""
    return true_fn() if pred else false_fn()


def switch(index: Any, branches: Sequence[Callable], *operands: Any) -> Any:
    """branches[index](*operands), index clamped to the branches (as Keras)."""
    i = int(np.clip(int(index), 0, len(branches) - 1))
    return branches[i](*operands)


def while_loop(cond: Callable, body: Callable, loop_vars: Any,  # noqa: F811
               maximum_iterations: int | None = None) -> Any:
    """Run body(*loop_vars) while cond(*loop_vars) (at most maximum_iterations times);
    loop_vars a tuple or list (returned as a tuple) or a single value (returned as is)."""
    many = isinstance(loop_vars, (tuple, list))
    state = tuple(loop_vars) if many else (loop_vars,)
    steps = 0
    while (maximum_iterations is None or steps < maximum_iterations) and cond(*state):
        out = body(*state)
        state = tuple(out) if many and isinstance(out, (tuple, list)) else (out,)
        if len(state) != len(loop_vars if many else (loop_vars,)):
            raise ValueError(f"while_loop: body returned {len(state)} values for "
                             f"{len(loop_vars) if many else 1} loop variables")
        steps += 1
    return state if many else state[0]


def fori_loop(lower: int, upper: int, body_fun: Callable, init_val: Any) -> Any:
    """val = body_fun(i, val) for i in range(lower, upper); the final val."""
    value = init_val
    for i in range(int(lower), int(upper)):
        value = body_fun(i, value)
    return value


def _stacked(outputs: list) -> Any:
    """A list of equally structured pytrees as one pytree of stacked leaves."""
    if not outputs:
        return None
    leaves, treedef = tree_flatten(outputs[0])
    columns = [tree_flatten(o)[0] for o in outputs]
    return tree_unflatten(treedef, [np.stack([c[i] for c in columns])
                                    for i in range(len(leaves))])


def _leading(xs: Any, length: int | None, who: str) -> tuple[list, int]:
    """The slices of every leaf of xs along the first axis, one pytree per step."""
    if xs is None:
        if length is None:
            raise ValueError(f"{who}: give xs or length")
        return [None] * int(length), int(length)
    leaves, treedef = tree_flatten(xs)
    n = np.shape(leaves[0])[0] if leaves else int(length or 0)
    if _builtins.any(np.shape(v)[0] != n for v in leaves) or (length is not None and length != n):
        raise ValueError(f"{who}: every array of xs needs the same first axis "
                         f"(and length, if given)")
    return [tree_unflatten(treedef, [v[i] for v in leaves]) for i in range(n)], n


def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False, unroll: Any = 1) -> tuple[Any, Any]:
    """(carry, ys): carry, y = f(carry, x) for each x of xs along its first axis (in
    reverse order if reverse), the ys stacked, as jax.lax.scan.

    >>> carry, ys = scan(lambda c, x: (c + x, c * x), 0.0, np.array([1.0, 2.0, 3.0]))
    >>> float(carry), ys
    (6.0, array([0., 2., 9.]))
    """
    steps, n = _leading(xs, length, "scan")
    carry, ys = init, [None] * n
    for i in (reversed(range(n)) if reverse else range(n)):
        carry, ys[i] = f(carry, steps[i])
    return carry, (_stacked(ys) if n and ys[0] is not None else None)


def map(f: Callable, xs: Any) -> Any:  # noqa: A001
    """f applied to each slice of xs along its first axis, the results stacked."""
    steps, _ = _leading(xs, None, "map")
    return _stacked([f(x) for x in steps])


def vectorized_map(function: Callable, elements: Any) -> Any:
    """function of each slice of elements along its first axis, the results stacked."""
    return map(function, elements)


def associative_scan(f: Callable, elems: Any, reverse: bool = False, axis: int = 0) -> Any:
    """Running f over elems along axis: out[i] = f(out[i-1], elems[i]), as a prefix scan."""
    leaves, treedef = tree_flatten(elems)
    moved = [np.moveaxis(v, axis, 0) for v in leaves]
    n = np.shape(moved[0])[0]
    order = list(reversed(range(n))) if reverse else list(range(n))
    outs, carry = [None] * n, None
    for i in order:
        item = tree_unflatten(treedef, [v[i] for v in moved])
        carry = item if carry is None else f(carry, item)
        outs[i] = carry
    stacked = _stacked(outs)
    out_leaves, out_def = tree_flatten(stacked)
    return tree_unflatten(out_def, [np.moveaxis(v, 0, axis) for v in out_leaves])


def custom_gradient(f: Callable) -> Callable:
    """f(*args) returning (y, grad_fn): y, whose cotangent g reaches the arguments as
    grad_fn(g) (Keras's and TensorFlow's custom_gradient)."""
    def fwd(*args: Any) -> tuple:
        y, grad_fn = f(*args)
        return y, grad_fn

    def bwd(grad_fn: Callable, g: Any) -> tuple:
        out = grad_fn(g)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)
    return adkit.custom_vjp(fwd, bwd)


# --- neural-network ops: adkit.nn's activations and losses ------------------------------------


def _activation_op(fn: Callable) -> Callable:
    """keras.activations' function as Keras's op of the same name: Python data first
    converted as Keras converts it (floats to float32)."""
    @functools.wraps(fn)
    def op(x: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(_tensor(x), *args, **kwargs)
    return op


relu, relu6, sigmoid, softplus, softsign, silu, log_sigmoid = (_activation_op(f) for f in (
    _activations.relu, _activations.relu6, _activations.sigmoid, _activations.softplus,
    _activations.softsign, _activations.silu, _activations.log_sigmoid))
swish = silu
hard_silu = hard_swish = _activation_op(_activations.hard_silu)
leaky_relu, elu, selu, celu, glu = (_activation_op(f) for f in (
    _activations.leaky_relu, _activations.elu, _activations.selu, _activations.celu,
    _activations.glu))
hard_tanh, tanh_shrink, soft_shrink, hard_shrink, threshold = (_activation_op(f) for f in (
    _activations.hard_tanh, _activations.tanh_shrink, _activations.soft_shrink,
    _activations.hard_shrink, _activations.threshold))
sparse_plus, sparse_sigmoid, squareplus, sparsemax = (_activation_op(f) for f in (
    _activations.sparse_plus, _activations.sparse_sigmoid, _activations.squareplus,
    _activations.sparsemax))


def hard_sigmoid(x: Any) -> Any:
    """Keras 3's piecewise-linear sigmoid: clip(x / 6 + 1/2, 0, 1)."""
    return np.clip(_tensor(x) * (1.0 / 6.0) + 0.5, 0.0, 1.0)


def gelu(x: Any, approximate: bool = True) -> Any:
    """The Gaussian error linear unit; Keras's ops default is the tanh approximation
    (keras.activations.gelu's is the exact one)."""
    return _activations.gelu(_tensor(x), approximate)


def softmax(x: Any, axis: Any = -1) -> Any:
    """exp(x) / sum(exp(x)) along axis (an int or a tuple of axes)."""
    x = _tensor(x)
    if isinstance(axis, (tuple, list)):
        return np.exp(x - scipy_lazy.special().logsumexp(x, axis=tuple(axis), keepdims=True))
    return _activations.softmax(x, axis)


def log_softmax(x: Any, axis: Any = -1) -> Any:
    """x - logsumexp(x) along axis."""
    x = _tensor(x)
    if isinstance(axis, (tuple, list)):
        return x - scipy_lazy.special().logsumexp(x, axis=tuple(axis), keepdims=True)
    return _activations.log_softmax(x, axis)


def binary_crossentropy(target: Any, output: Any, from_logits: bool = False) -> Any:
    """-(t log p + (1 - t) log(1 - p)) for each entry (no mean: Keras's op is
    elementwise), p clipped to [1e-7, 1 - 1e-7]; from_logits: output are logits."""
    target, output = _tensor(target), _tensor(output)
    _same_shapes(target, output, "binary_crossentropy")
    if from_logits:
        return _backend.sigmoid_cross_entropy(output, target)
    p = np.clip(output, _epsilon(), 1.0 - _epsilon())
    return -(target * np.log(p) + (1.0 - target) * np.log(1.0 - p))


def categorical_crossentropy(target: Any, output: Any, from_logits: bool = False,
                             axis: int = -1) -> Any:
    """-sum(t log p) along axis, for one-hot (or soft) targets; output are probabilities
    (renormalised, clipped) or, with from_logits, logits."""
    target, output = _tensor(target), _tensor(output)
    _same_shapes(target, output, "categorical_crossentropy")
    return _losses.categorical_crossentropy(target, output, from_logits=from_logits, axis=axis)


def sparse_categorical_crossentropy(target: Any, output: Any, from_logits: bool = False,
                                    axis: int = -1) -> Any:
    """categorical_crossentropy with integer class labels as targets."""
    return _losses.sparse_categorical_crossentropy(target, _tensor(output),
                                                   from_logits=from_logits, axis=axis)


def _same_shapes(target: Any, output: Any, who: str) -> None:
    if np.shape(target) != np.shape(output):
        raise ValueError(f"{who}: target and output must have the same shape, got "
                         f"{np.shape(target)} and {np.shape(output)}")


def batch_normalization(x: Any, mean: Any, variance: Any, axis: int, offset: Any = None,
                        scale: Any = None, epsilon: float = 1e-3) -> Any:
    """(x - mean) / sqrt(variance + epsilon) * scale + offset, the statistics given per
    entry of axis."""
    x = _tensor(x)
    shaped = [1] * np.ndim(x)
    shaped[axis] = np.shape(mean)[0]

    def along(v: Any) -> Any:
        return np.reshape(_tensor(v), shaped)
    inverse = 1.0 / np.sqrt(along(variance) + epsilon)
    if scale is not None:
        inverse = inverse * along(scale)
    out = (x - along(mean)) * inverse
    return out if offset is None else out + along(offset)


def layer_normalization(x: Any, gamma: Any = None, beta: Any = None, axis: Any = -1,
                        epsilon: float | None = None, rms_scaling: bool = False) -> Any:
    """x standardised over axis (an int or a list: mean 0, variance 1, epsilon 1e-7 by
    default), then * gamma + beta (shaped as the axes, as Keras's ops.layer_normalization);
    rms_scaling: x / sqrt(var + epsilon) * gamma, without centring."""
    x = _float_input(x)
    axes = sorted(a % np.ndim(x) for a in ([axis] if isinstance(axis, int) else axis))
    placed = [np.shape(x)[a] if a in axes else 1 for a in range(np.ndim(x))]

    def along(v: Any) -> Any:
        return None if v is None else np.reshape(_cast(_tensor(v), x.dtype), placed)
    gamma, beta = along(gamma), along(beta)
    eps = _epsilon() if epsilon is None else epsilon
    if rms_scaling:
        out = x / np.sqrt(np.var(x, axis=tuple(axes), keepdims=True) + eps)
        return out if gamma is None else out * gamma
    m, v = moments(x, axes=tuple(axes), keepdims=True)
    inverse = 1.0 / np.sqrt(v + eps)
    if gamma is not None:
        inverse = inverse * gamma
    out = (x - m) * inverse
    return out if beta is None else out + beta


def rms_normalization(x: Any, scale: Any = None, axis: int = -1,
                      epsilon: float | None = None) -> Any:
    """x / sqrt(mean(x^2) + epsilon) over axis, times scale."""
    x = _tensor(x)
    eps = _epsilon() if epsilon is None else epsilon
    out = x / np.sqrt(np.mean(x * x, axis=_axis(axis), keepdims=True) + eps)
    return out if scale is None else out * scale


def dot_product_attention(query: Any, key: Any, value: Any, bias: Any = None, mask: Any = None,
                          scale: float | None = None, is_causal: bool = False,
                          flash_attention: Any = None, attn_logits_soft_cap: Any = None
                          ) -> Any:
    """softmax(q k^T * scale + bias, masked) v for (batch, steps, heads, depth) arrays, as
    Keras's ops.dot_product_attention (scale default 1/sqrt(depth))."""
    if flash_attention or attn_logits_soft_cap is not None:
        raise ValueError("dot_product_attention: flash_attention and attn_logits_soft_cap "
                         "are not supported; leave them at None")
    q, k, v = (_tensor(t) for t in (query, key, value))
    if np.ndim(q) != 4:
        raise ValueError(f"dot_product_attention: query, key and value must be 4-D "
                         f"(batch, steps, heads, depth), got query of shape {np.shape(q)}")
    scale = 1.0 / math.sqrt(np.shape(q)[-1]) if scale is None else float(scale)
    logits = np.einsum("bthd,bshd->bhts", q, k) * scale
    if bias is not None:
        logits = logits + bias
    keep = None if mask is None else _index_array(mask).astype(bool)
    if is_causal:
        t, s = np.shape(logits)[-2:]
        causal = np.tril(np.ones((t, s), bool))
        keep = causal if keep is None else keep & causal
    if keep is not None:
        logits = np.where(keep, logits, np.finfo(np.float32).min * 0.7)
    weights = softmax(logits, axis=-1)
    return np.einsum("bhts,bshd->bthd", weights, v)


# --- convolution and pooling: channels-last 2-D on adkit.nn's backend -------------------------


def _images(inputs: Any, data_format: str | None, who: str) -> tuple[Any, bool]:
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{who}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    if np.ndim(inputs) != 4:
        raise ValueError(f"{who}: adkit's keras.ops.{who} takes 2-D images (a 4-D input, "
                         f"batch, height, width, channels); got shape {np.shape(inputs)}. "
                         "For 1-D or 3-D data use the layers (Conv1D, MaxPooling1D, ...)")
    first = data_format == "channels_first"
    return (np.transpose(_tensor(inputs), (0, 2, 3, 1)) if first
            else _tensor(inputs)), first


def _back(y: Any, first: bool) -> Any:
    return np.transpose(y, (0, 3, 1, 2)) if first else y


def conv(inputs: Any, kernel: Any, strides: Any = 1, padding: str = "valid",
         data_format: str | None = None, dilation_rate: Any = 1) -> Any:
    """2-D convolution (cross-correlation) with a (kh, kw, c_in, c_out) kernel, as
    Keras's ops.conv on 4-D inputs (dilation_rate 1 only)."""
    if dilation_rate not in (1, (1, 1), [1, 1]):
        raise ValueError("conv: adkit's keras.ops.conv takes dilation_rate=1 only; use the "
                         "Conv2D layer for dilated convolutions")
    x, first = _images(inputs, data_format, "conv")
    return _back(_backend.conv2d(x, _tensor(kernel), strides=strides,
                                 padding=padding), first)


def max_pool(inputs: Any, pool_size: Any, strides: Any = None, padding: str = "valid",
             data_format: str | None = None) -> Any:
    """The largest entry of each pool_size window of 4-D images (strides: pool_size)."""
    x, first = _images(inputs, data_format, "max_pool")
    return _back(_backend.max_pool2d(x, pool_size, strides, padding), first)


def average_pool(inputs: Any, pool_size: Any, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None) -> Any:
    """The mean of each pool_size window of 4-D images (strides: pool_size)."""
    x, first = _images(inputs, data_format, "average_pool")
    return _back(_backend.avg_pool2d(x, pool_size, strides, padding), first)


# --- NumPy's own functions, under the names Keras gives them ----------------------------------

abs = absolute = np.absolute  # noqa: A001
fabs = np.fabs
negative, sign, signbit = np.negative, np.sign, np.signbit
add, subtract, multiply = np.add, np.subtract, np.multiply
divide = true_divide = np.true_divide
floor_divide, mod, fmod = np.floor_divide, np.mod, np.fmod
maximum, minimum, fmax, fmin = np.maximum, np.minimum, np.fmax, np.fmin
square, sqrt, cbrt, reciprocal = np.square, np.sqrt, np.cbrt, np.reciprocal
exp, exp2, expm1 = np.exp, np.exp2, np.expm1
log, log2, log10, log1p = np.log, np.log2, np.log10, np.log1p
logaddexp, logaddexp2 = np.logaddexp, np.logaddexp2
sin, cos, tan, arcsin, arccos, arctan, arctan2 = (np.sin, np.cos, np.tan, np.arcsin,
                                                  np.arccos, np.arctan, np.arctan2)
sinh, cosh, tanh, arcsinh, arccosh, arctanh = (np.sinh, np.cosh, np.tanh, np.arcsinh,
                                               np.arccosh, np.arctanh)
hypot, deg2rad, rad2deg, sinc, i0 = np.hypot, np.deg2rad, np.rad2deg, np.sinc, np.i0
floor, ceil, trunc = np.floor, np.ceil, np.trunc
real, imag, conj, conjugate, angle = np.real, np.imag, np.conj, np.conjugate, np.angle
equal, not_equal, less, less_equal, greater, greater_equal = (
    np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal)
logical_and, logical_or, logical_xor, logical_not = (np.logical_and, np.logical_or,
                                                     np.logical_xor, np.logical_not)
isfinite, isinf, isnan, isneginf, isposinf, isreal = (np.isfinite, np.isinf, np.isnan,
                                                      np.isneginf, np.isposinf, np.isreal)
isclose, allclose, isin = np.isclose, np.allclose, np.isin
nan_to_num, heaviside, ldexp, nextafter = np.nan_to_num, np.heaviside, np.ldexp, np.nextafter
gcd, lcm = np.gcd, np.lcm
bitwise_and, bitwise_or, bitwise_xor = np.bitwise_and, np.bitwise_or, np.bitwise_xor
bitwise_not = bitwise_invert = np.invert
bitwise_left_shift = left_shift = np.left_shift
bitwise_right_shift = right_shift = np.right_shift
matmul, dot, tensordot, einsum = np.matmul, np.dot, np.tensordot, np.einsum
inner, outer, vdot, kron, cross = np.inner, np.outer, np.vdot, np.kron, np.cross
trace, diagonal, diag, diagflat = np.trace, np.diagonal, np.diag, np.diagflat
tril, triu, diff = np.tril, np.triu, np.diff
fliplr, flipud, rot90 = np.fliplr, np.flipud, np.rot90
hsplit, vsplit, dsplit = np.hsplit, np.vsplit, np.dsplit
meshgrid, vander, digitize, searchsorted, bincount = (np.meshgrid, np.vander, np.digitize,
                                                      np.searchsorted, np.bincount)
nansum, nanmean, nanmax, nanmin, nanprod, nanstd, nanvar = (
    np.nansum, np.nanmean, np.nanmax, np.nanmin, np.nanprod, np.nanstd, np.nanvar)
correlate = np.correlate
nanmedian, nanquantile, nanpercentile = np.nanmedian, np.nanquantile, np.nanpercentile
nancumsum, nancumprod = np.nancumsum, np.nancumprod
unravel_index, select, append = np.unravel_index, np.select, np.append


# --- ops on a functional model's symbolic tensors ---------------------------------------------

#: ops that are not functions of tensors (control flow, creation, conversion, namespaces)
_NOT_SYMBOLIC = frozenset({
    "cond", "switch", "while_loop", "fori_loop", "scan", "map", "vectorized_map",
    "associative_scan", "custom_gradient", "jvp", "convert_to_numpy", "is_tensor", "shape",
    "ndim", "dtype", "size", "zeros", "ones", "empty", "full", "arange", "linspace", "logspace",
    "geomspace", "eye", "identity", "tri", "bartlett", "blackman", "hamming", "hanning",
    "kaiser", "histogram", "unique", "nonzero", "Variable", "KerasTensor"})


def _any_symbolic(values: Any) -> bool:
    """Whether a KerasTensor is among values (or in the lists and tuples among them)."""
    for v in values:
        if isinstance(v, KerasTensor) or (type(v) in (list, tuple) and _any_symbolic(v)):
            return True
    return False


def _symbolic_leaves(value: Any) -> list:
    if isinstance(value, KerasTensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _symbolic_leaves(v)]
    return []


def _put_back(value: Any, values: Any) -> Any:
    """value with each KerasTensor replaced by the next of values (an iterator)."""
    if isinstance(value, KerasTensor):
        return next(values)
    if isinstance(value, (list, tuple)):
        return type(value)(_put_back(v, values) for v in value)
    return value


def _on_symbolic(op: Callable, name: str) -> Callable:
    """op, which called with a functional model's KerasTensors (keras.Input and the
    layers' outputs) adds itself to the model as a Lambda layer, as Keras 3 records an
    op on symbolic tensors."""
    @functools.wraps(op)
    def run(*args: Any, **kwargs: Any) -> Any:
        if not _any_symbolic(args) and not (kwargs and _any_symbolic(kwargs.values())):
            return op(*args, **kwargs)
        tensors = _symbolic_leaves(args) + _symbolic_leaves(list(kwargs.values()))

        def function(inputs: Any) -> Any:
            values = iter(inputs if len(tensors) > 1 else [inputs])
            given = _put_back(args, values)
            out = op(*given, **{k: _put_back(v, values) for k, v in kwargs.items()})
            if isinstance(out, (tuple, list)):
                raise TypeError(f"keras.ops.{name} gives several arrays, which adkit cannot "
                                "record in a functional model; apply it inside a layer "
                                "(a Lambda or a subclassed Layer's call)")
            return out
        made = _op_layers[name]
        _op_layers[name] += 1
        layer = _Lambda(function, name=name if made == 0 else f"{name}_{made}")
        return layer(tensors if len(tensors) > 1 else tensors[0])
    return run


#: how many layers each op has made, for Keras's names: relu, relu_1, relu_2, ...
_op_layers: collections.Counter = collections.Counter()


def shape(x: Any) -> tuple:
    """The shape as a tuple of ints (for a functional model's symbolic tensor, with None
    for the batch axis, as Keras).

    >>> shape(np.zeros((2, 3)))
    (2, 3)
    """
    if isinstance(x, KerasTensor):
        return x.shape
    return tuple(int(n) for n in np.shape(x))


def get_item(x: Any, key: Any) -> Any:
    """x[key] (what indexing a functional model's symbolic tensor records)."""
    return x[key]


for _name, _value in list(globals().items()):
    if not _name.startswith("_") and _name not in _NOT_SYMBOLIC \
            and (inspect.isfunction(_value) or isinstance(_value, np.ufunc)
                 or type(_value).__name__ == "_ArrayFunctionDispatcher") \
            and _value.__module__ != "typing":
        globals()[_name] = _on_symbolic(_value, _name)
del _name, _value

# Python's operators on KerasTensors record these ops (nn/layers/nodes.py)
_nodes.SYMBOLIC_OPERATORS.update(add=add, subtract=subtract, multiply=multiply, divide=divide,
                                 matmul=matmul, power=power, negative=negative,
                                 get_item=get_item)
