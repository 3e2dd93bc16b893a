"""From NumPy's protocols to the table: which primitive a call on a traced value reaches."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import rules  # noqa: F401  (fills the table)
from .inplace import assign  # noqa: F401  (re-exported for arraybox)
from .rules.indexing import getitem, index_add, setitem  # noqa: F401  (getitem, setitem: for arraybox)
from .rules.shapes import astype  # noqa: F401
from .table import FUNCTIONS, UFUNC_HANDLERS, UFUNCS, no_rule, public_name
from .tracer import BoxBase


def call(func: Callable, args: tuple, kwargs: dict) -> Any:
    """A NumPy function called with a traced argument (via __array_function__)."""
    handler = FUNCTIONS.get(func)
    if handler is None:
        handler = _lazy_handler(func)
        if handler is None:
            raise no_rule(public_name(func))
    return handler(*args, **kwargs)


def ufunc(uf: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """A ufunc called with a traced argument (via __array_ufunc__)."""
    if method != "__call__":
        return _ufunc_method(uf, method, inputs, kwargs)
    prim = UFUNCS.get(uf)
    if prim is None:
        handler = UFUNC_HANDLERS.get(uf)
        if handler is not None:
            return handler(*inputs, **kwargs)
        prim = _lazy_ufunc(uf)
        if prim is None:
            raise no_rule(public_name(uf))
    for a in inputs:
        if type(a) is list or type(a) is tuple:
            inputs = tuple(np.asarray(a) if type(a) in (list, tuple) else a for a in inputs)
            break
    if not kwargs:
        return prim(*inputs)
    return _ufunc_with_kwargs(uf, prim, inputs, dict(kwargs))


def _ufunc_with_kwargs(uf, prim, inputs, kwargs):
    out = kwargs.pop("out", None)
    dtype = kwargs.pop("dtype", None)
    where = kwargs.pop("where", True)
    for key in ("casting", "order", "subok"):
        kwargs.pop(key, None)
    if where is not True or kwargs:
        bad = ", ".join(["where"] * (where is not True) + sorted(kwargs))
        raise TypeError(
            f"{public_name(uf)}(..., {bad}=...) is not supported on traced values; "
            "compute the full result and select with np.where(mask, result, other)")
    if dtype is not None:
        inputs = tuple(astype(a, dtype) if isinstance(a, BoxBase) else a for a in inputs)
    result = prim(*inputs)
    if out is None:
        return result
    outs = out if isinstance(out, tuple) else (out,)
    if len(outs) != 1:
        raise TypeError(f"{public_name(uf)} has one output, got out={out!r}")
    target = outs[0]
    if isinstance(target, BoxBase):
        return assign(target, result)
    if isinstance(result, BoxBase):
        raise TypeError(
            f"{public_name(uf)}(..., out=a plain array) would store a traced result "
            "without its derivative; drop out= and use the returned value, or make the "
            "target traced (e.g. np.zeros_like(x, shape=...))")
    np.copyto(target, result)
    return target


def _ufunc_method(uf, method, inputs, kwargs):
    name = public_name(uf)
    if method == "reduce":
        reducer = {np.add: np.sum, np.multiply: np.prod, np.maximum: np.max,
                   np.minimum: np.min, np.fmax: np.nanmax, np.fmin: np.nanmin}.get(uf)
        if reducer is None:
            raise no_rule(f"{name}.reduce")
        kwargs.setdefault("axis", 0)
        return call(reducer, inputs, kwargs)
    if method == "accumulate":
        acc = {np.add: np.cumsum, np.multiply: np.cumprod}.get(uf)
        if acc is None:
            raise no_rule(f"{name}.accumulate")
        kwargs.setdefault("axis", 0)
        return call(acc, inputs, kwargs)
    if method == "outer":
        a, b = inputs
        a = np.reshape(a, np.shape(a) + (1,) * np.ndim(b))
        return ufunc(uf, "__call__", (a, b), kwargs)
    if method == "at" and uf is np.add:
        target, index, values = (inputs + (None,))[:3]
        if not isinstance(target, BoxBase):
            raise TypeError("np.add.at into a plain array cannot carry the derivative of "
                            "traced values; make the target traced, e.g. "
                            "np.zeros_like(x, shape=...)")
        return assign(target, index_add(target, index, values))
    raise no_rule(f"{name}.{method}")


def _lazy_ufunc(uf: np.ufunc):
    """Rules for SciPy's ufuncs are loaded on first use, so `import adkit` stays light."""
    if "scipy" in type(uf).__module__ or _is_scipy(uf):
        from .rules import special  # noqa: F401
        return UFUNCS.get(uf)
    return None


def _lazy_handler(func: Callable):
    if _is_scipy(func):
        from .rules import special  # noqa: F401
        return FUNCTIONS.get(func)
    return None


def _is_scipy(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    if module.startswith("scipy"):
        return True
    import sys
    name = getattr(obj, "__name__", "")
    # public functions, and private ufuncs that public Python functions call
    # (scipy.special.zeta calls scipy.special._ufuncs._zeta)
    return any(getattr(sys.modules.get(m), name, None) is obj
               for m in ("scipy.special", "scipy.special._ufuncs"))