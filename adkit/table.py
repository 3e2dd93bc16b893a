"""The primitive table: every differentiable NumPy operation, found by the NumPy
function or ufunc a user calls.

Rules live in adkit/rules/*.py, one entry per operation (JVP, VJP, SymPy slot
side by side). This module holds the registries and the decorators that fill
them; boxes dispatch through them from __array_ufunc__/__array_function__.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable

import numpy as np

from .errors import NoRuleError, no_rule  # noqa: F401  (re-exported: adkit.table.no_rule)
from .tracer import EveryArgument, NondiffPrimitive, Primitive

#: every primitive by name
PRIMITIVES: dict[str, Primitive] = {}
#: ufunc -> primitive, for __array_ufunc__ (method "__call__")
UFUNCS: dict[np.ufunc, Primitive] = {}
#: ufunc -> handler for ufuncs that are compositions of primitives (np.vecdot)
UFUNC_HANDLERS: dict[np.ufunc, Callable] = {}
#: NumPy function -> handler taking NumPy's signature, for __array_function__
FUNCTIONS: dict[Callable, Callable] = {}
#: public NumPy name -> primitives its handler uses (for docs/coverage.md)
COVERAGE: dict[str, tuple[Primitive, ...]] = {}


class NoSympy:
    """The SymPy slot of a primitive that has no exact symbolic counterpart.

    The reason is shown in docs/coverage.md and in the error adkit.symbolic
    raises when a traced function reaches the primitive.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"NoSympy({self.reason!r})"


class PerElement:
    """SymPy slot of an elementwise primitive: fn(sp, *elements) for one element."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable) -> None:
        self.fn = fn


#: SymPy slot: the primitive's NumPy implementation runs unchanged on object
#: arrays of SymPy expressions (reshape, indexing, sums, products, arithmetic)
ON_OBJECTS = "same NumPy code on object arrays"


def public_name(fn: Any) -> str:
    module = getattr(fn, "__module__", None) or "numpy"
    name = getattr(fn, "__name__", repr(fn))
    if isinstance(fn, np.ufunc) or module.startswith("numpy") and "." not in name:
        for prefix, mod in (("np.linalg.", np.linalg), ("np.fft.", np.fft)):
            if getattr(mod, name, None) is fn:
                return prefix + name
        if getattr(np, name, None) is fn:
            return "np." + name
    special = sys.modules.get("scipy.special")  # never imported here: only named if loaded
    if special is not None:
        if getattr(special, name, None) is fn:
            return "scipy.special." + name
        if getattr(sys.modules.get("scipy.special._ufuncs"), name, None) is fn:
            return "scipy.special._ufuncs." + name
    return f"{module}.{name}"


def defprim(name: str, impl: Callable, *, jvp: Any = None, vjp: Any = None,
            jvp_joint: Callable | None = None, sympy: Any = None,
            elementwise: bool = False, view: bool = False, batch_aware: bool = True,
            numpy: Iterable[Callable] | Callable | None = None) -> Primitive:
    """Add one entry to the table.

    sympy: how adkit.symbolic evaluates the primitive on SymPy expressions:
    the name of a SymPy function applied elementwise ("exp"), PerElement(fn),
    ON_OBJECTS, a callable rule(sp, at, *args, **kwargs) (sp: the sympy
    module; at: the numeric point, see adkit.symbolic.At, for value-dependent
    choices; args: object arrays of expressions, or plain values for constant
    arguments) returning an object array of the answer's shape, or
    NoSympy(reason).
    jvp/vjp: a rule for a one-argument primitive, or a tuple with one rule per
    positional argument (None where the argument is not differentiable).
    jvp="linear": the operation is linear and elementwise, its JVP is itself.
    numpy: the NumPy functions/ufuncs that dispatch straight to this primitive.
    """
    if name in PRIMITIVES:
        raise ValueError(f"primitive {name!r} is registered twice")
    prim = Primitive(name, impl, elementwise=elementwise, view=view,
                     batch_aware=batch_aware, sympy=sympy)
    if jvp == "linear":
        jvp = lambda g, ans, *args, **kw: impl(g, *args[1:], **kw)  # noqa: E731
    if jvp is not None:
        prim.jvps = jvp if isinstance(jvp, (tuple, EveryArgument)) else (jvp,)
    if vjp is not None:
        prim.vjps = vjp if isinstance(vjp, (tuple, EveryArgument)) else (vjp,)
    prim.jvp_joint = jvp_joint
    prim.simple = elementwise and not view and jvp_joint is None and batch_aware
    PRIMITIVES[name] = prim
    for fn in _as_tuple(numpy):
        _register(fn, prim, (prim,))
    return prim


def defnondiff(name: str, impl: Callable, *, numpy: Iterable[Callable] | Callable | None = None,
               sympy: Any = None, cls: type = NondiffPrimitive) -> Primitive:
    """An operation with no derivative: runs on plain values, returns plain values
    (cls: a NondiffPrimitive subclass, for one that is differentiable in some cases)."""
    if name in PRIMITIVES:
        raise ValueError(f"primitive {name!r} is registered twice")
    prim = cls(name, impl, sympy=sympy)
    PRIMITIVES[name] = prim
    for fn in _as_tuple(numpy):
        _register(fn, prim, (prim,))
    return prim


def handles(*numpy_fns: Callable, via: Iterable[Primitive] | Primitive) -> Callable:
    """Register an adapter from NumPy's signature to primitives (decorator)."""
    prims = tuple(_as_tuple(via))

    def register(handler: Callable) -> Callable:
        for fn in numpy_fns:
            _register(fn, handler, prims)
        return handler
    return register


def _register(fn: Callable, handler: Callable, prims: tuple) -> None:
    if isinstance(fn, np.ufunc):
        if isinstance(handler, Primitive):
            UFUNCS[fn] = handler
        else:
            UFUNC_HANDLERS[fn] = handler
    else:
        FUNCTIONS[fn] = handler
    COVERAGE[public_name(fn)] = prims


def _as_tuple(x: Any) -> tuple:
    if x is None:
        return ()
    if isinstance(x, (tuple, list)):
        return tuple(x)
    return (x,)
