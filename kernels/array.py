"""DeviceArray: a float32 array on an OpenCL device that plain NumPy code can use.

NumPy hands ufuncs and functions called on a DeviceArray to it (the protocols
of NEP 13 and NEP 18), and it runs them on its device, so the same layer code,
`x @ W + b`, runs on NumPy arrays and on device arrays, and adkit's tape
records either. What it supports is what training a network needs:

- ufuncs, with NumPy broadcasting: + - * / ** maximum minimum logaddexp negative
  exp log log1p expm1 tanh sqrt square abs sign reciprocal sin cos, and matmul;
- tests and masks: == != < <= > >= isfinite isnan isinf give float32 masks (1 or
  0: there is no boolean dtype), which & | ~ and logical_and/or/not combine
  (nonzero is true), np.where selects with and np.clip limits;
- reductions: sum, mean, max (any axes, keepdims);
- shapes: reshape, expand_dims, squeeze, transpose / swapaxes (a 2-D transpose
  is a flag that matmul hands to the GEMM as trans_a / trans_b, not a copy),
  broadcast_to, ones_like / zeros_like / full_like / empty_like, copy, astype.

Anything else raises NotImplementedError naming the function. Values stay on
the device: data crosses only through `to_device` (up) and `get()`,
`np.asarray(a)` or `float(a)` (down), each counted in the Device's
bytes_to_device / bytes_from_device. Combining a DeviceArray with a host array
that is not a scalar, or with an array of another device, is a TypeError or
ValueError that says how to move it: never a silent transfer.

Arithmetic is float32: Python and NumPy scalars are used at float32 precision
(a float64 scalar does not promote the result, as it would in NumPy).

    >>> from adkit.kernels import device, to_device
    >>> dev = device()
    >>> x = to_device(np.arange(6, dtype=np.float32).reshape(2, 3), dev)
    >>> np.asarray(np.sum(x * 2 + 1, axis=0))
    array([ 8., 12., 16.], dtype=float32)
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any, Callable

import numpy as np

from .elementwise import reduce_max, reduce_sum
from .gemm import gemm
from .launch import F32, elementwise
from .runtime import Device

__all__ = ["DeviceArray", "to_device", "contiguous"]

# ufunc -> C expression of a (and b), evaluated in float
_UNARY: dict[np.ufunc, str] = {
    np.negative: "-a", np.positive: "a", np.exp: "exp(a)", np.log: "log(a)",
    np.log1p: "log1p(a)", np.expm1: "expm1(a)", np.tanh: "tanh(a)", np.sqrt: "sqrt(a)",
    np.square: "a * a", np.absolute: "fabs(a)", np.reciprocal: "1.0f / a",
    np.sign: "(a > 0.0f ? 1.0f : (a < 0.0f ? -1.0f : a))", np.sin: "sin(a)", np.cos: "cos(a)",
    # tests give float32 masks, 1 or 0 (DeviceArray has no boolean dtype)
    np.isfinite: "(isfinite(a) ? 1.0f : 0.0f)", np.isnan: "(isnan(a) ? 1.0f : 0.0f)",
    np.isinf: "(isinf(a) ? 1.0f : 0.0f)",
    # logic on masks: nonzero is true
    np.logical_not: "(a == 0.0f ? 1.0f : 0.0f)", np.invert: "(a == 0.0f ? 1.0f : 0.0f)",
}
_BINARY: dict[np.ufunc, str] = {
    np.add: "a + b", np.subtract: "a - b", np.multiply: "a * b", np.true_divide: "a / b",
    np.power: "pow(a, b)",
    # NaN propagates from either side, as in np.maximum / np.minimum
    np.maximum: "(a >= b || isnan(a)) ? a : b", np.minimum: "(a <= b || isnan(a)) ? a : b",
    np.equal: "(a == b ? 1.0f : 0.0f)", np.not_equal: "(a != b ? 1.0f : 0.0f)",
    np.less: "(a < b ? 1.0f : 0.0f)", np.less_equal: "(a <= b ? 1.0f : 0.0f)",
    np.greater: "(a > b ? 1.0f : 0.0f)", np.greater_equal: "(a >= b ? 1.0f : 0.0f)",
    np.logical_and: "(a != 0.0f && b != 0.0f ? 1.0f : 0.0f)",
    np.logical_or: "(a != 0.0f || b != 0.0f ? 1.0f : 0.0f)",
    np.bitwise_and: "(a != 0.0f && b != 0.0f ? 1.0f : 0.0f)",
    np.bitwise_or: "(a != 0.0f || b != 0.0f ? 1.0f : 0.0f)",
    # log(e^a + e^b) without overflow; equal infinities stay themselves
    np.logaddexp: "(a == b ? a + 0.693147180559945f : fmax(a, b) + log1p(exp(-fabs(a - b))))",
}
#: the broadcasting kernels index up to this many axes (after merging adjacent ones)
MAX_AXES = 4


def to_device(host: Any, device: Device) -> "DeviceArray":
    """host as a DeviceArray on `device` (one counted transfer). Floats become float32
    (float64 with a warning); integer arrays keep an integer dtype (int32 when they
    fit), for labels; booleans become float32 0/1.

        >>> to_device(np.ones(3), dev).dtype
        dtype('float32')
    """
    host = np.asarray(host)
    if host.dtype.kind == "f" and host.dtype != F32:
        if host.dtype.itemsize > 4:
            warnings.warn(f"to_device: {host.dtype} data is stored as float32 on the device "
                          "(the kernels are float32); convert it with .astype(np.float32) "
                          "to silence this", stacklevel=2)
        host = host.astype(F32)
    elif host.dtype.kind in "iu":
        host = host.astype(np.int32) if host.size == 0 or (
            host.min() >= -2**31 and host.max() < 2**31) else host.astype(np.int64)
    elif host.dtype.kind == "b":
        host = host.astype(F32)
    elif host.dtype.kind != "f":
        raise TypeError(f"to_device: arrays of dtype {host.dtype} cannot go to an OpenCL "
                        "device; convert to float32 (or integer labels) first")
    return DeviceArray(device.to_device(host), device)


def _operators(ufunc: np.ufunc) -> tuple[Callable, Callable]:
    """a (op) o and o (op) a; NotImplemented for an adkit box, whose own operator then
    records the operation."""
    return (lambda self, o: _op(ufunc, self, o)), (lambda self, o: _op(ufunc, o, self))


class DeviceArray:
    """An array on an OpenCL device: a C-contiguous pyopencl array (`data`), its Device,
    and, for 2-D arrays, whether it stands for the transpose of `data`."""

    __slots__ = ("data", "device", "transposed")
    __array_priority__ = 100.0   # below adkit's boxes (1000), which wrap device arrays
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, data: Any, device: Device, transposed: bool = False) -> None:
        self.data = data
        self.device = device
        self.transposed = transposed

    # --- attributes -------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        s = self.data.shape
        return s[::-1] if self.transposed else s

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return len(self.data.shape)

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def T(self) -> "DeviceArray":
        return transpose(self)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d DeviceArray")
        return self.shape[0]

    def __repr__(self) -> str:
        return (f"DeviceArray(shape={self.shape}, dtype={self.dtype}, "
                f"device={self.device.info.name.strip()!r})")

    # --- leaving the device (counted) -------------------------------------------------
    def get(self) -> np.ndarray:
        """A NumPy copy of this array (a counted transfer from the device)."""
        host = self.device.to_host(self.data)
        return host.T if self.transposed else host

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        host = self.get()
        return host if dtype is None else host.astype(dtype)

    def __float__(self) -> float:
        if self.size != 1:
            raise TypeError(f"only a DeviceArray of one element converts to float, this one "
                            f"has shape {self.shape}")
        return float(self.get().reshape(()))

    def __int__(self) -> int:
        return int(float(self))

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(f"the truth value of a DeviceArray of shape {self.shape} is "
                             "ambiguous (as for NumPy arrays); reduce it first")
        return bool(float(self))

    def item(self) -> float:
        return float(self)

    # --- methods ----------------------------------------------------------------------
    def reshape(self, *shape: Any) -> "DeviceArray":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return reshape(self, shape)

    def sum(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> "DeviceArray":
        return _sum(self, axis=axis, keepdims=keepdims, **kw)

    def mean(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> "DeviceArray":
        return _mean(self, axis=axis, keepdims=keepdims, **kw)

    def max(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> "DeviceArray":
        return _max(self, axis=axis, keepdims=keepdims, **kw)

    def copy(self) -> "DeviceArray":
        return DeviceArray(contiguous(self).copy(), self.device)

    def astype(self, dtype: Any, copy: bool = True) -> "DeviceArray":
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self.copy() if copy else self
        return DeviceArray(contiguous(self).astype(dtype), self.device)

    def squeeze(self, axis: Any = None) -> "DeviceArray":
        return squeeze(self, axis)

    def swapaxes(self, a: int, b: int) -> "DeviceArray":
        return swapaxes(self, a, b)

    def transpose(self, *axes: Any) -> "DeviceArray":
        return transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def fill(self, value: float) -> "DeviceArray":
        self.data = contiguous(self)
        self.transposed = False
        _fill(self.device, self.data, value)
        return self

    def __getitem__(self, key: Any) -> "DeviceArray":
        """Rows by a slice of the first axis (a view): a[i:j] or a[i:j, ...]."""
        rows = key[0] if isinstance(key, tuple) and all(k is Ellipsis for k in key[1:]) \
            else key
        if isinstance(rows, slice) and rows.step in (None, 1) and not self.transposed \
                and self.ndim:
            # pyopencl takes a[4:2] as two rows from offset 4: clamp as Python does
            start, stop, _ = rows.indices(self.shape[0])
            return DeviceArray(self.data[start:max(start, stop)], self.device)
        raise NotImplementedError(
            f"DeviceArray indexing supports row slices a[i:j] only, got {key!r}; bring the "
            "array to the host with np.asarray(a) for other indexing")

    # --- NumPy protocols --------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if any(_foreign(a) for a in inputs):
            return NotImplemented   # an adkit box (or another array type) takes over
        if method != "__call__":
            raise NotImplementedError(f"{ufunc.__name__}.{method} is not implemented for "
                                      "DeviceArray; use the function form (np.sum, ...)")
        out = kwargs.pop("out", None)
        dtype = kwargs.pop("dtype", None)
        if kwargs or (dtype is not None and np.dtype(dtype) != F32):
            raise NotImplementedError(f"np.{ufunc.__name__} on a DeviceArray takes no "
                                      f"keyword arguments but out=; got {sorted(kwargs)}")
        if ufunc is np.matmul:
            result = matmul(*inputs)
        elif ufunc in _UNARY:
            result = _unary(ufunc, inputs[0])
        elif ufunc in _BINARY:
            result = _binary(ufunc, inputs[0], inputs[1])
        else:
            raise NotImplementedError(
                f"np.{ufunc.__name__} is not implemented for DeviceArray (on the device: "
                f"{', '.join(sorted(u.__name__ for u in [*_UNARY, *_BINARY, np.matmul]))}); "
                "bring the array to the host with np.asarray(a) (a counted transfer)")
        if out is None:
            return result
        target = out[0] if isinstance(out, tuple) else out
        if not isinstance(target, DeviceArray) or target.shape != result.shape:
            raise TypeError("out= must be a DeviceArray of the result's shape")
        target.data, target.transposed = result.data, result.transposed
        return target

    def __array_function__(self, func: Callable, types: tuple, args: tuple, kwargs: dict) -> Any:
        if any(not issubclass(t, (DeviceArray, np.ndarray)) for t in types):
            return NotImplemented   # an adkit box among the arguments takes over
        handler = FUNCTIONS.get(func)
        if handler is None:
            raise NotImplementedError(
                f"np.{func.__name__} is not implemented for DeviceArray (supported: "
                f"{', '.join(sorted(f.__name__ for f in FUNCTIONS))}); bring the array to the "
                "host with np.asarray(a) (a counted transfer)")
        return handler(*args, **kwargs)

    # --- operators --------------------------------------------------------------------
    __add__, __radd__ = _operators(np.add)
    __sub__, __rsub__ = _operators(np.subtract)
    __mul__, __rmul__ = _operators(np.multiply)
    __truediv__, __rtruediv__ = _operators(np.true_divide)
    __pow__, __rpow__ = _operators(np.power)
    __matmul__, __rmatmul__ = _operators(np.matmul)
    __and__, __rand__ = _operators(np.bitwise_and)
    __or__, __ror__ = _operators(np.bitwise_or)

    def __invert__(self) -> "DeviceArray":
        return _unary(np.invert, self)

    # comparisons give float32 masks; Python reflects a < b to b > a by itself
    __eq__ = _operators(np.equal)[0]
    __ne__ = _operators(np.not_equal)[0]
    __lt__ = _operators(np.less)[0]
    __le__ = _operators(np.less_equal)[0]
    __gt__ = _operators(np.greater)[0]
    __ge__ = _operators(np.greater_equal)[0]

    def __neg__(self) -> "DeviceArray":
        return _unary(np.negative, self)

    def __pos__(self) -> "DeviceArray":
        return self

    def __abs__(self) -> "DeviceArray":
        return _unary(np.absolute, self)


def _foreign(x: Any) -> bool:
    """An operand this module does not handle but another type might (an adkit box)."""
    return not isinstance(x, (DeviceArray, np.ndarray, numbers.Number, np.generic, list, tuple))


def _op(ufunc: np.ufunc, a: Any, b: Any) -> Any:
    if _foreign(a) or _foreign(b):
        return NotImplemented
    return ufunc(a, b)


# --- operands ----------------------------------------------------------------------------

# Copies (transposes, gathers) move bits, so an unsigned type of the element's width
# carries every dtype exactly: float64 and int32 arrays as well as float32.
_BITS = {1: "uchar", 2: "ushort", 4: "uint", 8: "ulong"}


def _bits(dtype: np.dtype) -> tuple[str, str]:
    """(kernel-name suffix, C element type) for copying elements of `dtype`."""
    size = np.dtype(dtype).itemsize
    if size not in _BITS:
        raise NotImplementedError(f"DeviceArray cannot copy elements of dtype {dtype} on the "
                                  "device; use float32")
    return f"{8 * size}", _BITS[size]


def contiguous(x: DeviceArray) -> Any:
    """x's data as a C-contiguous pyopencl array in the layout of x.shape (a transposed
    2-D array is copied; otherwise x.data itself, no copy). For code that hands a
    DeviceArray to its own kernels."""
    if not x.transposed:
        return x.data
    rows, cols = x.data.shape            # x is data.T: (cols, rows)
    out = x.device.empty((cols, rows), x.dtype)
    if out.size:
        bits, ctype = _bits(x.dtype)
        elementwise(x.device, f"transpose{bits}",
                    f"{ctype} *out, const {ctype} *x, long rows, long cols",
                    "out[i] = x[(i % rows) * cols + i / rows]")(
            out, x.data, np.int64(rows), np.int64(cols), queue=x.device.queue)
    return out


def _scalar(x: Any) -> Any:
    """x as a float32 if it is a number or a 0-d host array, else None."""
    if isinstance(x, (numbers.Number, np.generic)) or (isinstance(x, np.ndarray) and x.ndim == 0):
        if np.iscomplexobj(x):
            raise TypeError("DeviceArray arithmetic is real float32; got a complex scalar")
        return np.float32(x)
    return None


def _device_of(arrays: list, what: str) -> Device:
    dev = arrays[0].device
    for a in arrays[1:]:
        if a.device is not dev:
            raise ValueError(
                f"{what}: DeviceArrays on different devices ({dev.info.spec} "
                f"{dev.info.name.strip()!r} and {a.device.info.spec} "
                f"{a.device.info.name.strip()!r}); move one explicitly: "
                "to_device(np.asarray(a), other_device)")
    return dev


def _host_error(what: str, x: Any) -> TypeError:
    return TypeError(
        f"{what}: a host array of shape {np.shape(x)} met a DeviceArray; data never moves "
        "implicitly. Move it with adkit.kernels.to_device(x, device) (counted), or bring the "
        "device array home with np.asarray(a)")


def _float32(x: DeviceArray, what: str) -> None:
    if x.dtype != F32:
        raise TypeError(f"{what}: the device kernels are float32, got a DeviceArray of dtype "
                        f"{x.dtype}; convert it with a.astype(np.float32)")


def _unary(ufunc: np.ufunc, x: Any) -> DeviceArray:
    what = f"np.{ufunc.__name__}"
    if not isinstance(x, DeviceArray):
        raise _host_error(what, x)
    _float32(x, what)
    data = contiguous(x)
    out = x.device.empty(data.shape, F32)
    if out.size:
        elementwise(x.device, f"u_{ufunc.__name__}", "float *out, const float *x",
            f"float a = x[i]; out[i] = {_UNARY[ufunc]}")(out, data, queue=x.device.queue)
    return DeviceArray(out, x.device)


def _binary(ufunc: np.ufunc, a: Any, b: Any) -> DeviceArray:
    what = f"np.{ufunc.__name__}"
    expr = _BINARY[ufunc]
    sa, sb = _scalar(a), _scalar(b)
    if sa is not None and sb is not None:
        raise TypeError(f"{what}: no DeviceArray among the operands")
    for x, s in ((a, sa), (b, sb)):
        if s is None and not isinstance(x, DeviceArray):
            raise _host_error(what, x)
        if s is None:
            _float32(x, what)
    if sb is not None or sa is not None:
        arr = a if sa is None else b
        dev, data = arr.device, contiguous(arr)
        out = dev.empty(data.shape, F32)
        side = "b" if sb is not None else "a"
        other = "a" if side == "b" else "b"
        if out.size:
            elementwise(dev, f"s{side}_{ufunc.__name__}", "float *out, const float *x, float s",
                f"float {other} = x[i]; float {side} = s; out[i] = {expr}")(
                out, data, sb if sb is not None else sa, queue=dev.queue)
        return DeviceArray(out, dev)
    dev = _device_of([a, b], what)
    shape = _broadcast_shape(a.shape, b.shape, what)
    if a.shape == b.shape:
        out = dev.empty(shape, F32)
        if out.size:
            elementwise(dev, f"e_{ufunc.__name__}", "float *out, const float *x, const float *y",
                f"float a = x[i]; float b = y[i]; out[i] = {expr}")(
                out, contiguous(a), contiguous(b), queue=dev.queue)
        return DeviceArray(out, dev)
    dims, (st_a, st_b) = _merged(shape, [_strides(a, shape), _strides(b, shape)], what)
    out = dev.empty(shape, F32)
    if out.size and dims[:2] == [1, 1] and _along_rows(dims, st_a, st_b):
        # (m, n) with one side repeated down the rows or across the columns (a bias, a
        # per-row scale): one index division instead of the general four-axis decode
        n = dims[3]
        (ka, ia), (kb, ib) = (_ROW_READS[(st[2] // n, st[3])] for st in (st_a, st_b))
        elementwise(dev, f"r{ka}{kb}_{ufunc.__name__}",
                    "float *out, const float *x, const float *y, long n",
                    f"float a = x[{ia}]; float b = y[{ib}]; out[i] = {expr}")(
            out, a.data, b.data, np.int64(n), queue=dev.queue)
        return DeviceArray(out, dev)
    if out.size:
        elementwise(dev, f"b_{ufunc.__name__}",
            "float *out, const float *x, const float *y, " + _INDEX_ARGS,
            _INDEX + "float a = x[ia]; float b = y[ib]; out[i] = " + expr)(
            out, a.data, b.data, *_index_values(dims, st_a, st_b),
            queue=dev.queue)
    return DeviceArray(out, dev)


# Up to MAX_AXES axes: d0..d3 the output's, a0..a3 / b0..b3 the operands' element strides
# (0 along a broadcast axis).
_INDEX_ARGS = ", ".join(f"long d{k}" for k in range(1, MAX_AXES)) + ", " + ", ".join(
    f"long {o}{k}" for o in "ab" for k in range(MAX_AXES))
_DECODE = ("long r = i; long i3 = r % d3; r /= d3; long i2 = r % d2; r /= d2; "
           "long i1 = r % d1; long i0 = r / d1; ")
_INDEX = (_DECODE +
          "long ia = i0 * a0 + i1 * a1 + i2 * a2 + i3 * a3; "
          "long ib = i0 * b0 + i1 * b1 + i2 * b2 + i3 * b3; ")


#: how an operand of an (m, n) result is read, by its (row stride // n, column stride):
#: all of it, a row repeated down the rows, or a column repeated across them
_ROW_READS = {(1, 1): ("e", "i"), (0, 1): ("r", "i % n"), (0, 0): ("c", "i / n")}


def _along_rows(dims: list, st_a: list, st_b: list) -> bool:
    """Whether two merged operands of an (m, n) result are each contiguous (n, 1), a row
    repeated (0, 1), or a column repeated (1, 0)."""
    n = dims[3]
    return all((s[2], s[3]) in ((n, 1), (0, 1), (1, 0)) for s in (st_a, st_b))


def _index_values(dims: list, st_a: list, st_b: list) -> list:
    return [np.int64(d) for d in dims[1:]] + [np.int64(s) for s in st_a + st_b]


def _broadcast_shape(sa: tuple, sb: tuple, what: str) -> tuple:
    try:
        return tuple(np.broadcast_shapes(sa, sb))
    except ValueError:
        raise ValueError(f"{what}: operands could not be broadcast together with shapes "
                         f"{sa} {sb}") from None


def _strides(x: DeviceArray, shape: tuple) -> list[int]:
    """The element strides into x.data (as stored, untransposed) of x broadcast to
    `shape`: 0 on broadcast axes."""
    own = list(x.shape)
    data_strides, step = [], 1
    for n in reversed(x.data.shape):
        data_strides.append(step)
        step *= n
    data_strides.reverse()
    st = data_strides[::-1] if x.transposed else data_strides
    lead = len(shape) - len(own)
    return [0] * lead + [0 if n == 1 and m != 1 else s for n, m, s in zip(own, shape[lead:], st)]


def _merged(shape: tuple, strides: list[list[int]], what: str) -> tuple[list, list]:
    """shape and strides with adjacent axes merged where every operand allows it, padded
    in front to MAX_AXES axes."""
    dims, sts = [], [[] for _ in strides]
    for k, n in enumerate(shape):
        if n == 1:
            continue
        if dims and all(s[-1] == st[k] * n for s, st in zip(sts, strides)):
            dims[-1] *= n
            for s, st in zip(sts, strides):
                s[-1] = st[k]
            continue
        dims.append(n)
        for s, st in zip(sts, strides):
            s.append(st[k])
    if len(dims) > MAX_AXES:
        raise NotImplementedError(f"{what}: broadcasting over {len(dims)} separate axes; the "
                                  f"device kernels handle up to {MAX_AXES}")
    pad = MAX_AXES - len(dims)
    return [1] * pad + dims, [[0] * pad + s for s in sts]


# --- shapes ----------------------------------------------------------------------------------

def _resolved(size: int, shape: Any) -> tuple:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise ValueError("can only specify one unknown dimension (-1)")
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape an array of size {size} into shape {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if math.prod(shape) != size:
        raise ValueError(f"cannot reshape an array of size {size} into shape {shape}")
    return shape


def reshape(a: DeviceArray, newshape: Any = None, order: str = "C", *, shape: Any = None
            ) -> DeviceArray:
    if order != "C":
        raise NotImplementedError("DeviceArray reshapes in C order only")
    target = _resolved(a.size, shape if shape is not None else newshape)
    if target == a.shape:
        return a
    return DeviceArray(contiguous(a).reshape(target), a.device)


def transpose(a: DeviceArray, axes: Any = None) -> DeviceArray:
    nd = a.ndim
    if axes is not None:
        axes = tuple(int(k) % nd for k in axes)
    if nd < 2 or axes == tuple(range(nd)):
        return a
    if nd == 2:
        return DeviceArray(a.data, a.device, not a.transposed)
    perm = tuple(reversed(range(nd))) if axes is None else axes
    return _permuted(a, perm)


def _permuted(a: DeviceArray, perm: tuple) -> DeviceArray:
    if a.ndim > MAX_AXES:
        raise NotImplementedError(f"transposing a {a.ndim}-D DeviceArray; the device kernels "
                                  f"handle up to {MAX_AXES} axes")
    src = _strides(a, a.shape)
    shape = tuple(a.shape[k] for k in perm)
    pad = MAX_AXES - len(shape)
    dims = [1] * pad + list(shape)
    st = [0] * pad + [src[k] for k in perm]
    out = a.device.empty(shape, a.dtype)
    if out.size:
        _gather(a, out, dims, st)
    return DeviceArray(out, a.device)


def _gather(a: DeviceArray, out: Any, dims: list, st: list) -> None:
    """out[i] = a.data[ia] over the (padded) dims with a's strides st, any dtype."""
    bits, ctype = _bits(a.dtype)
    elementwise(a.device, f"gather4_{bits}", f"{ctype} *out, const {ctype} *x, " + _INDEX_ARGS,
                _INDEX + "out[i] = x[ia]")(out, a.data, *_index_values(dims, st, [0] * 4),
                                           queue=a.device.queue)


def swapaxes(a: DeviceArray, axis1: int, axis2: int) -> DeviceArray:
    nd = a.ndim
    i, j = int(axis1) % nd, int(axis2) % nd
    perm = list(range(nd))
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(a, perm)


def moveaxis(a: DeviceArray, source: int, destination: int) -> DeviceArray:
    nd = a.ndim
    perm = [k for k in range(nd) if k != int(source) % nd]
    perm.insert(int(destination) % nd, int(source) % nd)
    return transpose(a, perm)


def expand_dims(a: DeviceArray, axis: Any) -> DeviceArray:
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    nd = a.ndim + len(axes)
    axes = sorted(int(k) % nd for k in axes)
    shape = list(a.shape)
    for k in axes:
        shape.insert(k, 1)
    return reshape(a, tuple(shape))


def squeeze(a: DeviceArray, axis: Any = None) -> DeviceArray:
    if axis is None:
        return reshape(a, tuple(n for n in a.shape if n != 1))
    axes = {int(k) % a.ndim for k in ((axis,) if isinstance(axis, (int, np.integer)) else axis)}
    if any(a.shape[k] != 1 for k in axes):
        raise ValueError(f"cannot squeeze an axis of length other than 1 (shape {a.shape})")
    return reshape(a, tuple(n for k, n in enumerate(a.shape) if k not in axes))


def broadcast_to(a: Any, shape: Any, subok: bool = False) -> DeviceArray:
    """a repeated to `shape` (a new array: device arrays have no zero-stride views)."""
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(map(int, shape))
    if a.shape == shape:
        return a
    _broadcast_shape(a.shape, shape, "np.broadcast_to")
    dims, (st, _) = _merged(shape, [_strides(a, shape), [0] * len(shape)], "np.broadcast_to")
    out = a.device.empty(shape, a.dtype)
    if out.size:
        _gather(a, out, dims, st)
    return DeviceArray(out, a.device)


# --- creation -----------------------------------------------------------------------------

def full_like(a: DeviceArray, fill_value: Any, dtype: Any = None, order: str = "K",
              subok: bool = True, shape: Any = None) -> DeviceArray:
    shape = a.shape if shape is None else ((shape,) if isinstance(shape, (int, np.integer))
                                           else tuple(shape))
    out = a.device.empty(shape, np.dtype(dtype) if dtype is not None else a.dtype)
    _fill(a.device, out, fill_value)
    return DeviceArray(out, a.device)


def _fill(dev: Device, out: Any, value: Any) -> None:
    if not out.size:
        return
    if out.dtype != F32:
        out.fill(value)
        return
    elementwise(dev, "fill", "float *out, float v", "out[i] = v")(out, np.float32(value),
                                                                  queue=dev.queue)


def zeros_like(a: DeviceArray, dtype: Any = None, order: str = "K", subok: bool = True,
               shape: Any = None) -> DeviceArray:
    return full_like(a, 0, dtype, order, subok, shape)


def ones_like(a: DeviceArray, dtype: Any = None, order: str = "K", subok: bool = True,
              shape: Any = None) -> DeviceArray:
    return full_like(a, 1, dtype, order, subok, shape)


def empty_like(a: DeviceArray, dtype: Any = None, order: str = "K", subok: bool = True,
               shape: Any = None) -> DeviceArray:
    shape = a.shape if shape is None else shape
    return DeviceArray(a.device.empty(shape, np.dtype(dtype) if dtype else a.dtype), a.device)


# --- products -----------------------------------------------------------------------------

def matmul(a: Any, b: Any) -> DeviceArray:
    """a @ b as one GEMM: 2-D operands (a transposed one is read in place), a stack of rows
    times a matrix (x of shape (..., k) @ W), and 1-D operands promoted as NumPy does."""
    for x in (a, b):
        if not isinstance(x, DeviceArray):
            raise _host_error("np.matmul", x)
        _float32(x, "np.matmul")
    dev = _device_of([a, b], "np.matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: input operand does not have enough dimensions (a scalar)")
    shape_a, shape_b = a.shape, b.shape
    if b.ndim > 2:
        raise NotImplementedError(f"matmul of shapes {shape_a} and {shape_b}: the device "
                                  "multiplies matrices and stacks of rows by a matrix only")
    if shape_a[-1] != shape_b[0]:
        raise ValueError(f"matmul: the inner dimensions of shapes {shape_a} and {shape_b} "
                         f"differ ({shape_a[-1]} != {shape_b[0]})")
    # the row count spelled out: -1 cannot be resolved when k == 0
    a2 = a if a.ndim == 2 else reshape(a, (math.prod(shape_a[:-1]), shape_a[-1]))
    b2 = b if b.ndim == 2 else reshape(b, (shape_b[0], 1))
    c = gemm(dev, a2.data, b2.data, trans_a=a2.transposed, trans_b=b2.transposed)
    out_shape = shape_a[:-1] + shape_b[1:]
    out = DeviceArray(c, dev)
    return out if out.shape == out_shape else reshape(out, out_shape)


def dot(a: Any, b: Any, out: Any = None) -> DeviceArray:
    if out is not None:
        raise NotImplementedError("np.dot(..., out=) on DeviceArray")
    if _scalar(a) is not None or _scalar(b) is not None or 0 in (np.ndim(a), np.ndim(b)):
        return np.multiply(a, b)     # NumPy: a dot with a scalar (0-d) is a product
    return matmul(a, b)


# --- reductions -----------------------------------------------------------------------------

def _axes(x: DeviceArray, axis: Any) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for k in axes:
        if not -x.ndim <= int(k) < x.ndim:
            raise ValueError(f"axis {k} is out of bounds for a DeviceArray of {x.ndim} axes")
        out.append(int(k) % x.ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate value in 'axis' ({axis!r}), as NumPy says")
    return tuple(sorted(out))


def _reduced(x: DeviceArray, axis: Any, keepdims: bool, reducer: Callable, what: str,
             kw: dict) -> DeviceArray:
    for key, value in kw.items():
        if value is not None and not (key == "dtype" and np.dtype(value) == F32):
            raise NotImplementedError(f"{what}(..., {key}=) is not implemented for DeviceArray")
    _float32(x, what)
    axes = _axes(x, axis)
    shape = x.shape
    kept = tuple(1 if k in axes else n for k, n in enumerate(shape)) if keepdims else \
        tuple(n for k, n in enumerate(shape) if k not in axes)
    if not axes:
        return reshape(x, kept)
    data = contiguous(x)
    # reduce each run of adjacent axes in one pass, the last run first (indices stay valid)
    runs: list[list[int]] = []
    for k in axes:
        if runs and runs[-1][-1] == k - 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    current = list(shape)
    for run in reversed(runs):
        lo, hi = run[0], run[-1] + 1
        pre, k, post = math.prod(current[:lo]), math.prod(current[lo:hi]), \
            math.prod(current[hi:])
        data = reducer(x.device, data.reshape(pre, k, post), 1)
        current = current[:lo] + current[hi:]
        data = data.reshape(tuple(current))
    return DeviceArray(data.reshape(kept), x.device)


def _sum(a: DeviceArray, axis: Any = None, dtype: Any = None, out: Any = None,
         keepdims: bool = False, **kw: Any) -> DeviceArray:
    return _reduced(a, axis, keepdims, reduce_sum, "np.sum", {"dtype": dtype, "out": out, **kw})


def _max(a: DeviceArray, axis: Any = None, out: Any = None, keepdims: bool = False,
         **kw: Any) -> DeviceArray:
    # NumPy refuses an empty reduced axis even when the result is empty too ((0, 0) over
    # axis 0); the kernel only refuses when there is a result to fill
    if any(a.shape[k] == 0 for k in _axes(a, axis)):
        raise ValueError(f"np.max over an empty axis (shape {a.shape}, axis {axis!r}): a "
                         "maximum of nothing is undefined, as in NumPy")
    return _reduced(a, axis, keepdims, reduce_max, "np.max", {"out": out, **kw})


def _mean(a: DeviceArray, axis: Any = None, dtype: Any = None, out: Any = None,
          keepdims: bool = False, **kw: Any) -> DeviceArray:
    total = _sum(a, axis, dtype, out, keepdims, **kw)
    count = math.prod(a.shape[k] for k in _axes(a, axis))
    return total * (1.0 / count) if count else total * np.float32(np.nan)


def clip(a: Any, a_min: Any, a_max: Any, out: Any = None, **kwargs: Any) -> DeviceArray:
    """a limited to [a_min, a_max] (either bound None), as np.clip."""
    if out is not None or kwargs:
        raise NotImplementedError("np.clip(..., out=) on DeviceArray")
    if a_min is not None:
        a = _binary(np.maximum, a, a_min)
    return a if a_max is None else _binary(np.minimum, a, a_max)


def where(condition: Any, x: Any, y: Any) -> DeviceArray:
    """x where condition is nonzero, else y, broadcast together (scalars allowed)."""
    operands = [condition, x, y]
    scalars = [_scalar(v) for v in operands]
    arrays = [v for v, s in zip(operands, scalars) if s is None]
    for v in arrays:
        if not isinstance(v, DeviceArray):
            raise _host_error("np.where", v)
        _float32(v, "np.where")
    if not arrays:
        raise TypeError("np.where: no DeviceArray among the operands")
    dev = _device_of(arrays, "np.where")
    shape = tuple(np.broadcast_shapes(*(v.shape for v in arrays)))
    strides = [_strides(v, shape) if s is None else [0] * len(shape)
               for v, s in zip(operands, scalars)]
    dims, merged = _merged(shape, strides, "np.where")
    out = dev.empty(shape, F32)
    if out.size:
        # per operand, a buffer read at its strides or a scalar kernel argument
        args, values, reads = ["float *out"], [out], []
        for name, v, sv, st in zip("cxy", operands, scalars, merged):
            if sv is None:
                args += [f"const float *{name}"] + [f"long {name}{k}" for k in range(MAX_AXES)]
                values += [v.data] + [np.int64(t) for t in st]
                reads.append(f"{name}[" + " + ".join(f"i{k} * {name}{k}"
                                                     for k in range(MAX_AXES)) + "]")
            else:
                args.append(f"float {name}")
                values.append(sv)
                reads.append(name)
        args += [f"long d{k}" for k in range(1, MAX_AXES)]
        values += [np.int64(d) for d in dims[1:]]
        key = "where_" + "".join("s" if sv is not None else "a" for sv in scalars)
        elementwise(dev, key, ", ".join(args),
                    _DECODE + f"out[i] = {reads[0]} != 0.0f ? {reads[1]} : {reads[2]}")(
            *values, queue=dev.queue)
    return DeviceArray(out, dev)


# --- the NEP 18 table --------------------------------------------------------------------------

FUNCTIONS: dict[Callable, Callable] = {
    np.sum: _sum, np.mean: _mean, np.max: _max, np.amax: _max,
    np.reshape: reshape, np.transpose: transpose, np.swapaxes: swapaxes,
    np.moveaxis: moveaxis, np.expand_dims: expand_dims, np.squeeze: squeeze,
    np.broadcast_to: broadcast_to, np.full_like: full_like, np.zeros_like: zeros_like,
    np.ones_like: ones_like, np.empty_like: empty_like, np.dot: dot,
    np.copy: lambda a, order="K", subok=False: a.copy(),
    np.shape: lambda a: a.shape, np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
    # device arrays are real
    np.iscomplexobj: lambda a: False, np.isrealobj: lambda a: True, np.real: lambda a: a,
    np.where: where, np.clip: clip,
}
