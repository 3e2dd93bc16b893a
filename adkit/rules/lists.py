"""NumPy calls given Python lists of traced values, and np.r_ / np.c_ on traced values.

`np.mean([x, y])` never reaches NumPy's dispatch protocols: NumPy looks for
__array_function__ on its arguments, and a list has none, so it converts the list
to a plain array, which a traced value refuses. Likewise np.r_[...] and np.c_[...]
build plain arrays. While a differentiation runs, adkit.scope puts the versions
below in numpy's namespace (as it does for np.array): they build a traced array
from the list and call NumPy's function on it, which then dispatches to the table.
Outside differentiations NumPy's own functions are in place; a name bound before
(`from numpy import mean`) keeps NumPy's and gets the conversion error that names
the working spelling.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ..table import COVERAGE, FUNCTIONS
from ..tracer import BoxBase
from .scipy_binding import holds_traced

#: numpy attributes whose first argument may be a list holding traced values
_REDUCTIONS = ("sum", "prod", "mean", "std", "var", "max", "min", "average", "cumsum")


def _as_array(a: Any) -> Any:
    """A list or tuple holding traced values as a traced array (np.asarray is adkit.scope's
    traced-aware version while a differentiation runs); anything else as is."""
    if type(a) in (list, tuple) and holds_traced(a):
        return np.asarray(a)
    return a


def _first_argument_as_array(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def call(a: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs and type(kwargs.get("weights")) in (list, tuple):  # np.average
            kwargs["weights"] = np.asarray(kwargs["weights"])
        if isinstance(a, BoxBase):
            # where NumPy's dispatch would send it (a box's __array_function__ is called
            # first, and passes the call to the table), without NumPy's dispatch
            handler = FUNCTIONS.get(fn)
            if handler is not None:
                return handler(a, *args, **kwargs)
        return fn(_as_array(a), *args, **kwargs)
    return call


def _append(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def call(arr: Any, values: Any, axis: Any = None) -> Any:
        return fn(_as_array(arr), _as_array(values), axis=axis)
    return call


def _concatenator(original: Any) -> Any:
    """np.r_ or np.c_, building traced arrays when an item is traced."""
    base = type(original)

    class TracedAware(base):  # type: ignore[misc, valid-type]
        __doc__ = base.__doc__
        __slots__ = ()

        def __getitem__(self, key: Any) -> Any:
            items = key if isinstance(key, tuple) else (key,)
            if not holds_traced(items):
                return original[key]
            if any(isinstance(item, str) for item in items):
                raise TypeError(f"np.{name}[...] with a string directive is not supported on "
                                "traced values; use np.concatenate or np.stack with axis=")
            return np.concatenate([self._part(item) for item in items], axis=self.axis)

        def _part(self, item: Any) -> Any:
            if isinstance(item, slice):
                return original[item]
            item = _as_array(item) if type(item) in (list, tuple) else item
            nd = np.ndim(item)
            if nd >= self.ndmin:
                return item
            if nd == 0:
                return np.reshape(item, (1,) * self.ndmin)
            # a 1-D item in np.c_ (trans1d=0) becomes a column
            shape = np.shape(item) + (1,) * (self.ndmin - nd)
            return np.reshape(item, shape if self.trans1d == 0 else (1,) * (self.ndmin - nd)
                              + np.shape(item))

    name = "r_" if base.__name__ == "RClass" else "c_"
    return TracedAware()


def _swaps() -> tuple:
    out = [(vars(np), name, _first_argument_as_array(getattr(np, name)), getattr(np, name))
           for name in _REDUCTIONS]
    out.append((vars(np.linalg), "norm", _first_argument_as_array(np.linalg.norm),
                np.linalg.norm))
    out.append((vars(np), "append", _append(np.append), np.append))
    out += [(vars(np), name, _concatenator(getattr(np, name)), getattr(np, name))
            for name in ("r_", "c_")]
    return tuple(out)


#: (module namespace, name, replacement while tracing, NumPy's own), for adkit.scope: the
#: namespaces are written directly, as setattr on a module does, at a third of its cost
SWAPS = _swaps()

COVERAGE.update({"np.r_": (), "np.c_": ()})  # listed in docs/coverage.md, as compositions
# code that looks a function up while tracing (np.add.reduce finds np.sum) and hands it to
# adkit's dispatch gets the replacement: it reaches the same handler as NumPy's own
FUNCTIONS.update({new: FUNCTIONS[own] for _, _, new, own in SWAPS if own in FUNCTIONS})
