"""What makes a traced value look like an ndarray: operators, methods, attributes,
and NumPy's dispatch protocols, all routed into the primitive table.

Every NumPy spelling either reaches a rule or raises: `w.T.dot(x)`,
`x.sum(axis=0)`, `np.sum(x)` and `x @ y` record the same primitives, and
anything that would turn a traced value into a plain number or array (float(x),
np.asarray outside a transform, writing it into a plain array) raises an error
that names the working spelling instead of silently dropping the derivative.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dispatch
from .errors import TracedConversionError, traced_conversion
from .rules.elementwise import add, divide, multiply, negative, positive, power, subtract
from .rules.helpers import FLOAT32, FLOAT64, NDARRAY
from .rules.products import matmul as _matmul
from .table import UFUNCS
from .tracer import BoxBase, primal

_ = dispatch.FUNCTIONS  # the table must be loaded before any box is used
__all__ = ["ArrayBox", "Indexable", "box_class", "TracedConversionError"]


def _conversion_error(box: "ArrayBox", what: str) -> TracedConversionError:
    return traced_conversion(what, box._kind, box.shape)


#: one-argument elementwise ufuncs, for the shortest path from np.sin(x) to the trace
_SIMPLE_UNARY = {uf: p for uf, p in UFUNCS.items() if p.simple and uf.nin == 1}


def _binary_operator(prim):
    """x (op) o and o (op) x: straight to the trace when no other trace is involved.

    Operators are most of what scalar code does, so they skip the search for the
    innermost trace when the other operand is plain or belongs to the same trace.
    """
    def op(self, o):
        if isinstance(o, BoxBase) and o._trace is not self._trace:
            return prim(self, o)
        return self._trace.binary(prim, self, o)

    def rop(self, o):
        if isinstance(o, BoxBase) and o._trace is not self._trace:
            return prim(o, self)
        return self._trace.binary(prim, o, self)
    return op, rop


def _finished(box: BoxBase) -> bool:
    """Whether every differentiation holding this value is over (nothing can be lost)."""
    while isinstance(box, BoxBase):
        if box._trace.active:
            return False
        box = box._value
    return True


def _fn(np_func):
    """A method that forwards to the table's handler for a NumPy function (not a ufunc)."""
    def method(self, *args, **kwargs):
        return dispatch.call(np_func, (self,) + args, kwargs)
    method.__name__ = np_func.__name__
    method.__doc__ = f"Traced counterpart of ndarray.{np_func.__name__} (see np.{np_func.__name__})."
    return method


def _shape_args(args: tuple) -> Any:
    """x.reshape(2, 3) and x.reshape((2, 3)) alike."""
    if len(args) == 1 and (args[0] is None or isinstance(args[0], (tuple, list))):
        return args[0]
    return args


class ArrayBox(BoxBase):
    """Base of forward.Dual and reverse.Var: the ndarray interface of a traced value."""

    __slots__ = ()
    __array_priority__ = 1000.0
    __hash__ = None  # type: ignore[assignment]  # == is elementwise, as for ndarrays

    # --- NumPy protocols --------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        prim = _SIMPLE_UNARY.get(ufunc)
        if prim is not None and method == "__call__" and not kwargs:
            return self._trace.unary(prim, self)  # np.sin(x): the one input is this box
        return dispatch.ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return dispatch.call(func, args, kwargs)

    def __array__(self, dtype=None, copy=None):
        raise _conversion_error(self, "Converting to a plain NumPy array")

    # --- attributes -------------------------------------------------------------------
    @property
    def value(self) -> Any:
        """The value one level down (a plain array, or a box of an outer trace)."""
        return self._value

    @property
    def shape(self) -> tuple:
        return getattr(self._value, "shape", ())

    @property
    def ndim(self) -> int:
        return getattr(self._value, "ndim", 0)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def dtype(self) -> np.dtype:
        v = self._value
        return v.dtype if hasattr(v, "dtype") else np.result_type(v)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def T(self):
        return dispatch.call(np.transpose, (self,), {})

    @property
    def mT(self):
        return dispatch.call(np.swapaxes, (self, -1, -2), {})

    @property
    def real(self):
        return np.real(self)

    @real.setter
    def real(self, v):
        dispatch.assign(self, np.imag(self) * 1j + v if np.iscomplexobj(self) else
                        np.broadcast_to(v, self.shape) + 0.0 * self)

    @property
    def imag(self):
        return np.imag(self)

    @property
    def flat(self):
        raise _conversion_error(self, "x.flat (a plain iterator over elements)")

    # --- conversions ------------------------------------------------------------------
    def __float__(self):
        if _finished(self):
            return float(primal(self))
        raise _conversion_error(self, "float()")

    def __complex__(self):
        if _finished(self):
            return complex(primal(self))
        raise _conversion_error(self, "complex()")

    def item(self, *args):
        raise _conversion_error(self, "x.item()")

    def tolist(self):
        raise _conversion_error(self, "x.tolist()")

    def __int__(self) -> int:
        # int() is piecewise constant: its derivative is zero wherever it exists
        return int(primal(self))

    def __bool__(self) -> bool:
        return bool(primal(self))

    def __format__(self, spec: str) -> str:
        return format(primal(self), spec)

    def __round__(self, ndigits=None):
        return np.round(self, ndigits or 0)

    def __reduce__(self):
        raise TypeError("traced values cannot be pickled; save adkit.stop_gradient(x) "
                        "or the result of the transform instead")

    def __copy__(self):
        return dispatch.call(np.copy, (self,), {})

    def __deepcopy__(self, memo):
        return dispatch.call(np.copy, (self,), {})

    # --- operators --------------------------------------------------------------------
    __add__, __radd__ = _binary_operator(add)
    __sub__, __rsub__ = _binary_operator(subtract)
    __mul__, __rmul__ = _binary_operator(multiply)
    __truediv__, __rtruediv__ = _binary_operator(divide)
    __pow__, __rpow__ = _binary_operator(power)
    def __matmul__(self, o): return _matmul(self, o if hasattr(o, "shape") else np.asarray(o))
    def __rmatmul__(self, o): return _matmul(o if hasattr(o, "shape") else np.asarray(o), self)
    def __mod__(self, o): return dispatch.ufunc(np.remainder, "__call__", (self, o), {})
    def __rmod__(self, o): return dispatch.ufunc(np.remainder, "__call__", (o, self), {})
    def __floordiv__(self, o): return np.floor_divide(self, o)
    def __rfloordiv__(self, o): return np.floor_divide(o, self)
    def __neg__(self): return self._trace.unary(negative, self)
    def __pos__(self): return self._trace.unary(positive, self)
    def __abs__(self): return dispatch.ufunc(np.absolute, "__call__", (self,), {})
    def __invert__(self): return np.invert(self)
    def __eq__(self, o): return np.equal(self, o)  # type: ignore[override]
    def __ne__(self, o): return np.not_equal(self, o)  # type: ignore[override]
    def __lt__(self, o): return np.less(self, o)
    def __le__(self, o): return np.less_equal(self, o)
    def __gt__(self, o): return np.greater(self, o)
    def __ge__(self, o): return np.greater_equal(self, o)
    def __and__(self, o): return np.bitwise_and(self, o)
    def __or__(self, o): return np.bitwise_or(self, o)
    def __xor__(self, o): return np.bitwise_xor(self, o)

    # in-place operators rebind this box, as NumPy writes the array in place
    def __iadd__(self, o): return dispatch.assign(self, add(self, o))
    def __isub__(self, o): return dispatch.assign(self, subtract(self, o))
    def __imul__(self, o): return dispatch.assign(self, multiply(self, o))
    def __itruediv__(self, o): return dispatch.assign(self, divide(self, o))
    def __ipow__(self, o): return dispatch.assign(self, power(self, o))
    def __imod__(self, o): return dispatch.assign(self, self % o)
    def __imatmul__(self, o): return dispatch.assign(self, self @ o)

    # --- methods ----------------------------------------------------------------------
    sum = _fn(np.sum)
    mean = _fn(np.mean)
    prod = _fn(np.prod)
    max = _fn(np.max)
    min = _fn(np.min)
    var = _fn(np.var)
    std = _fn(np.std)
    cumsum = _fn(np.cumsum)
    cumprod = _fn(np.cumprod)
    dot = _fn(np.dot)
    clip = _fn(np.clip)
    round = _fn(np.round)
    def conjugate(self):
        return np.conjugate(self)  # a ufunc: through __array_ufunc__, not the functions table

    conj = conjugate
    diagonal = _fn(np.diagonal)
    trace = _fn(np.trace)
    swapaxes = _fn(np.swapaxes)
    squeeze = _fn(np.squeeze)
    ravel = _fn(np.ravel)
    repeat = _fn(np.repeat)
    take = _fn(np.take)
    compress = _fn(np.compress)
    choose = _fn(np.choose)
    all = _fn(np.all)
    any = _fn(np.any)
    argmax = _fn(np.argmax)
    argmin = _fn(np.argmin)
    argsort = _fn(np.argsort)
    argpartition = _fn(np.argpartition)
    nonzero = _fn(np.nonzero)
    searchsorted = _fn(np.searchsorted)

    def reshape(self, *shape, order="C"):
        return dispatch.call(np.reshape, (self, _shape_args(shape)), {"order": order})

    def transpose(self, *axes):
        return dispatch.call(np.transpose, (self, _shape_args(axes) if axes else None), {})

    def flatten(self, order="C"):
        return np.copy(dispatch.call(np.ravel, (self,), {"order": order}))

    def copy(self, order="C"):
        return dispatch.call(np.copy, (self,), {})

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        return dispatch.astype(self, dtype, copy=copy)

    def view(self, *args, **kwargs):
        raise NotImplementedError("x.view() reinterprets memory and has no derivative; "
                                  "use x.astype(dtype) to convert values")

    # in-place methods rebind this box
    def sort(self, axis=-1, kind=None, order=None):
        dispatch.assign(self, np.sort(self, axis=axis, kind=kind))

    def partition(self, kth, axis=-1, kind="introselect", order=None):
        dispatch.assign(self, np.partition(self, kth, axis=axis))

    def fill(self, value):
        dispatch.setitem(self, Ellipsis, value)

    def put(self, indices, values, mode="raise"):
        flat = np.ravel(self).copy()
        flat[np.ravel(indices)] = values
        dispatch.assign(self, np.reshape(flat, self.shape))

    def __repr__(self) -> str:
        return f"{self._kind}({primal(self)!r})"

    __str__ = __repr__

    _kind = "ArrayBox"


class Indexable:
    """Indexing, len() and iteration: only for boxes of at least one dimension.

    A 0-d box must not look like a sequence to NumPy: `y[0] = x` on a plain
    array would then fail with NumPy's "setting an array element with a
    sequence" instead of adkit's message that names the working spelling.
    """

    __slots__ = ()

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self):
        for i in range(self.shape[0]):
            yield self[i]

    def __getitem__(self, index):
        return dispatch.getitem(self, index)

    def __setitem__(self, index, value):
        dispatch.setitem(self, index, value)


def box_class(value, scalar_class, array_class):
    """The box class for a value: the indexable one unless the value is 0-d."""
    t = type(value)
    if t is NDARRAY:
        return array_class if value.ndim else scalar_class
    if t is float or t is FLOAT64 or t is FLOAT32:
        return scalar_class
    return array_class if getattr(value, "ndim", 0) else scalar_class
