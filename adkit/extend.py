"""Users' own primitives: a function adkit treats as one operation, with rules.

    >>> @primitive
    ... def logsumexp(x):
    ...     m = np.max(x)
    ...     return m + np.log(np.sum(np.exp(x - m)))
    >>> _ = defvjp(logsumexp, lambda ans, x: lambda g: g * np.exp(x - ans))
    >>> adkit.grad(logsumexp)(np.zeros(2))
    array([0.5, 0.5])

The body runs on plain NumPy values (never on traced ones). A rule given for
one mode serves the other too: a JVP is linear in its tangent, so reverse mode
transposes it by tracing it; a VJP is linear in its cotangent, so forward mode
transposes it the same way. Either needs the rule to be written with NumPy
operations; otherwise the error says which rule to add.

`is_duck_array` tells code built on adkit (adkit.nn, for one) whether a value is
another library's array that the engines carry untouched, such as
adkit.kernels' DeviceArray.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .errors import NoRuleError, TracedConversionError
from .reverse.api import grad
from .reverse.api import vjp as reverse_vjp
from .rules.helpers import is_duck_array
from .table import PRIMITIVES
from .tracer import Primitive, UserPrimitive, primal

__all__ = ["primitive", "defjvp", "defvjp", "UserPrimitive", "is_duck_array"]

# what tracing a rule raises when the rule is not written with NumPy operations
_UNTRACEABLE = (TracedConversionError, NoRuleError)


def primitive(fun: Callable) -> UserPrimitive:
    """Make `fun` one operation of the table; give it rules with defvjp/defjvp."""
    name = getattr(fun, "__qualname__", getattr(fun, "__name__", "primitive"))
    prim = UserPrimitive(fun, name)
    PRIMITIVES.setdefault(f"user:{name}:{id(prim)}", prim)
    return prim


def defjvp(prim: Primitive, *rules: Callable | None) -> Primitive:
    """Forward rules, one per positional argument: rule(g, ans, *args, **kwargs)."""
    _check(prim, "defjvp")
    prim.given_jvps = rules
    _fill(prim)
    return prim


def defvjp(prim: Primitive, *makers: Callable | None) -> Primitive:
    """Reverse rules, one per positional argument: maker(ans, *args, **kwargs) -> g -> ..."""
    _check(prim, "defvjp")
    prim.given_vjps = makers
    _fill(prim)
    return prim


def _check(prim: Any, what: str) -> None:
    if not isinstance(prim, UserPrimitive):
        raise TypeError(f"{what} takes a function made by adkit.primitive, got "
                        f"{type(prim).__name__}; decorate the function with @adkit.primitive")


def _fill(prim: UserPrimitive) -> None:
    n = max(len(prim.given_jvps), len(prim.given_vjps))
    jvps, vjps = list(prim.given_jvps) + [None] * n, list(prim.given_vjps) + [None] * n
    for i in range(n):
        if jvps[i] is None and vjps[i] is not None:
            jvps[i] = _jvp_from_vjp(prim, vjps[i], i)
        if vjps[i] is None and jvps[i] is not None:
            vjps[i] = _vjp_from_jvp(prim, jvps[i], i)
    prim.jvps, prim.vjps = tuple(jvps[:n]), tuple(vjps[:n])


def _vjp_from_jvp(prim: Primitive, rule: Callable, i: int) -> Callable:
    def maker(ans: Any, *args: Any, **kwargs: Any) -> Callable:
        def vjp(g: Any) -> Any:
            zero = np.zeros_like(primal(args[i]), dtype=float)
            try:
                _, pull = reverse_vjp(lambda t: rule(t, ans, *args, **kwargs), zero)
                return pull(g)[0]
            except _UNTRACEABLE as e:
                raise _cannot(prim, "VJP", "JVP", i, e) from e
        return vjp
    return maker


def _jvp_from_vjp(prim: Primitive, maker: Callable, i: int) -> Callable:
    def rule(t: Any, ans: Any, *args: Any, **kwargs: Any) -> Any:
        pull = maker(ans, *args, **kwargs)
        zero = np.zeros_like(primal(ans), dtype=float)
        try:
            return grad(lambda g: np.sum(pull(g) * t))(zero)
        except _UNTRACEABLE as e:
            raise _cannot(prim, "JVP", "VJP", i, e) from e
    return rule


def _cannot(prim: Primitive, want: str, have: str, i: int, err: Exception) -> TypeError:
    return TypeError(
        f"{prim.name} has a {have} rule but no {want} rule for argument {i}, and the "
        f"{have} rule could not be traced to derive one ({err}). Give the {want} rule "
        f"explicitly with adkit.def{want.lower()}({prim.name}, ...).")