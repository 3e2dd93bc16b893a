"""The extent of a differentiation: while one runs, np.array and np.asarray accept
traced values.

NumPy's array constructors are not dispatched through __array_function__, so
`np.array([x, y])` or `np.full(3, x)` on traced values cannot reach the table
by NumPy's own protocols. While at least one trace is active, adkit swaps
numpy.array, numpy.asarray, numpy.asanyarray and numpy.full for thin
wrappers that call the originals and, only when a traced value is found (the
original raises TracedConversionError), build the array with the table's
stack/copy/astype.
Outside traces the originals are back in place; code that bound the function
before (`from numpy import array`) keeps the original and gets the error that
names the working spelling.

Reductions given a Python list of traced values (np.mean([x, y])), np.append,
np.linalg.norm, np.r_ and np.c_ are swapped the same way (adkit/rules/lists.py).

SciPy's Python functions (scipy.special.logsumexp, scipy.stats, scipy.linalg,
...) do not reach NumPy's protocols either. When a differentiation starts, the
rules of every SciPy module loaded by then are bound to SciPy's function objects
once and for all (adkit/rules/scipy_binding.py), whatever the import order;
SciPy itself is never imported here.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import numpy as np

from .errors import TracedConversionError
from .rules import scipy_binding
from .rules.lists import SWAPS as LIST_SWAPS
from .table import COVERAGE
from .tracer import BoxBase, Trace

_lock = threading.Lock()
_depth = 0
_original_array = np.array
_original_asarray = np.asarray
_original_asanyarray = np.asanyarray
_original_full = np.full
COVERAGE.update({"np.array": (), "np.asarray": (), "np.asanyarray": (), "np.full": ()})


def _namespace_swaps() -> list[tuple[dict, dict, dict]]:
    """(module namespace, its entries while tracing, NumPy's own entries), one per module.

    Each is written with one dict.update, as setattr on a module would write it: this
    runs at the start and end of every outermost differentiation.
    """
    swaps: dict[int, tuple[dict, dict, dict]] = {}
    entries = [(vars(np), "array", _array, _original_array),
               (vars(np), "asarray", _asarray, _original_asarray),
               (vars(np), "asanyarray", _asarray, _original_asanyarray),
               (vars(np), "full", _full, _original_full), *LIST_SWAPS]
    for namespace, name, replacement, numpy_own in entries:
        _, tracing_entries, own_entries = swaps.setdefault(id(namespace), (namespace, {}, {}))
        tracing_entries[name] = replacement
        own_entries[name] = numpy_own
    return list(swaps.values())


class tracing:  # noqa: N801 - used as a function: `with tracing(trace):`
    """Run a differentiation: the trace is live inside, finished after.

    A class rather than a generator-based context manager: it runs twice per
    Hessian and once per gradient, and costs a third of one.
    """

    __slots__ = ("trace",)

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def __enter__(self) -> Trace:
        global _depth
        with _lock:
            if _depth == 0:
                scipy_binding.bind_loaded()
                for namespace, tracing_entries, _ in _SWAPS:
                    namespace.update(tracing_entries)
            _depth += 1
        return self.trace

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        global _depth
        self.trace.active = False
        with _lock:
            _depth -= 1
            if _depth == 0:
                for namespace, _, own_entries in _SWAPS:
                    namespace.update(own_entries)
        if isinstance(exc, Exception):
            explained = scipy_binding.explain(exc)  # a traced value failed inside SciPy
            if explained is not exc:
                raise explained


class collector_paused:  # noqa: N801 - used as a function: `with collector_paused():`
    """No cyclic garbage collection while a tape is recorded, run backwards and freed.

    A tape holds no reference cycles (nodes point only to earlier nodes), so the
    collector would only scan it in vain: on scalar code that scanning was a
    fifth of the time of a gradient. The collector runs again right after, so
    cyclic garbage the user's function makes is collected late, not never.
    """

    __slots__ = ("paused",)

    def __enter__(self) -> None:
        self.paused = gc.isenabled()
        if self.paused:
            gc.disable()

    def __exit__(self, *exc: Any) -> None:
        if self.paused:
            gc.enable()


def _array(obj: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return _original_array(obj, *args, **kwargs)
    except TracedConversionError:
        dtype = args[0] if args else kwargs.get("dtype")
        out = _build(obj, copy=kwargs.get("copy", True))
        return _finish(out, dtype, kwargs.get("ndmin", 0))


def _asarray(obj: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return _original_asarray(obj, *args, **kwargs)
    except TracedConversionError:
        dtype = args[0] if args else kwargs.get("dtype")
        return _finish(_build(obj, copy=False), dtype, 0)


def _full(shape: Any, fill_value: Any, *args: Any, **kwargs: Any) -> Any:
    if not isinstance(fill_value, BoxBase):
        return _original_full(shape, fill_value, *args, **kwargs)
    dtype = args[0] if args else kwargs.get("dtype")
    zeros = np.zeros(shape, dtype=dtype if dtype is not None else fill_value.dtype)
    return zeros + fill_value


def _build(obj: Any, copy: Any) -> Any:
    if isinstance(obj, BoxBase):
        # np.array's copy: True/ALWAYS copies; False/None/IF_NEEDED may return obj itself
        always = copy is True or getattr(copy, "name", None) == "ALWAYS"
        return np.copy(obj) if always else obj
    if isinstance(obj, (list, tuple)):
        items = [_build(item, copy=False) if _holds_box(item) else _original_asarray(item)
                 for item in obj]
        return np.stack(items)
    raise TypeError(f"cannot build an array from {type(obj).__name__} holding traced values")


def _holds_box(obj: Any) -> bool:
    if isinstance(obj, BoxBase):
        return True
    if isinstance(obj, (list, tuple)):
        return any(_holds_box(item) for item in obj)
    return False


def _finish(out: Any, dtype: Any, ndmin: int) -> Any:
    if dtype is not None:
        out = out.astype(dtype, copy=False)
    if ndmin and out.ndim < ndmin:
        out = np.reshape(out, (1,) * (ndmin - out.ndim) + out.shape)
    return out


#: the swaps tracing() makes, per module namespace (built once the wrappers above exist)
_SWAPS = _namespace_swaps()
