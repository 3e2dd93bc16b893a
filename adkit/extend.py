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

import functools
from typing import Any, Callable, Sequence

import numpy as np

from .errors import NoRuleError, TracedConversionError
from .reverse.api import grad
from .reverse.api import vjp as reverse_vjp
from .rules.helpers import is_duck_array
from .table import PRIMITIVES
from .tracer import EveryArgument, Primitive, UserPrimitive, primal

__all__ = ["primitive", "defjvp", "defvjp", "defjvp_argnum", "defvjp_argnum", "notrace_primitive",
           "UserPrimitive", "is_duck_array"]

# what tracing a rule raises when the rule is not written with NumPy operations
_UNTRACEABLE = (TracedConversionError, NoRuleError)


def primitive(fun: Callable) -> UserPrimitive:
    """Make `fun` one operation of the table; give it rules with defvjp/defjvp."""
    name = getattr(fun, "__qualname__", getattr(fun, "__name__", "primitive"))
    prim = UserPrimitive(fun, name)
    PRIMITIVES.setdefault(f"user:{name}:{id(prim)}", prim)
    return prim


def notrace_primitive(fun: Callable) -> Callable:
    """fun run on the plain values of its arguments, its answer carrying no derivative
    (autograd's notrace_primitive): for functions of types, shapes or integer results."""
    @functools.wraps(fun)
    def on_values(*args: Any, **kwargs: Any) -> Any:
        return fun(*(primal(a) for a in args), **{k: primal(v) for k, v in kwargs.items()})
    return on_values


def defjvp(prim: Primitive, *rules: Callable | str | None,
           argnums: Sequence[int] | None = None) -> Primitive:
    """Forward rules, one per positional argument: rule(g, ans, *args, **kwargs).

    As in autograd, argnums says which arguments the rules are for (default 0, 1, ...),
    and the rule "same" says prim is linear in that argument: its JVP is prim itself
    applied to the tangent in the argument's place. None: no forward rule (one is derived
    from a VJP rule where given).
    """
    _check(prim, "defjvp")
    rules = _by_argument(prim, rules, argnums, "defjvp")
    prim.given_jvps = tuple(_linear(prim, i) if rule == "same" else rule
                            for i, rule in enumerate(rules))
    _fill(prim)
    return prim


def defvjp(prim: Primitive, *makers: Callable | None,
           argnums: Sequence[int] | None = None) -> Primitive:
    """Reverse rules, one per positional argument: maker(ans, *args, **kwargs) -> g -> ...

    argnums, as in autograd, says which arguments the makers are for (default 0, 1, ...).
    None: no reverse rule for that argument (one is derived from a JVP rule where given;
    differentiating with respect to an argument with neither raises, naming it).
    """
    _check(prim, "defvjp")
    prim.given_vjps = _by_argument(prim, makers, argnums, "defvjp")
    _fill(prim)
    return prim


def defjvp_argnum(prim: Primitive, make_jvp: Callable) -> Primitive:
    """One forward rule for every argument: make_jvp(argnum, g, ans, args, kwargs) is the
    JVP for a tangent g of argument argnum (autograd's defjvp_argnum)."""
    _check(prim, "defjvp_argnum")
    prim.given_jvps = EveryArgument(
        lambda i: lambda g, ans, *args, **kwargs: make_jvp(i, g, ans, args, kwargs))
    _fill(prim)
    return prim


def defvjp_argnum(prim: Primitive, make_vjp: Callable) -> Primitive:
    """One reverse rule for every argument: make_vjp(argnum, ans, args, kwargs) returns the
    VJP g -> cotangent of argument argnum (autograd's defvjp_argnum)."""
    _check(prim, "defvjp_argnum")
    prim.given_vjps = EveryArgument(
        lambda i: lambda ans, *args, **kwargs: make_vjp(i, ans, args, kwargs))
    _fill(prim)
    return prim


def _by_argument(prim: Primitive, rules: tuple, argnums: Sequence[int] | None,
                 what: str) -> tuple:
    if argnums is None:
        return rules
    argnums = list(argnums)
    if len(argnums) != len(rules) or any(not isinstance(i, int) or i < 0 for i in argnums):
        raise ValueError(f"{what}({prim.name}): argnums must be one non-negative int per "
                         f"rule; got argnums={argnums} for {len(rules)} rule(s)")
    placed: list = [None] * (max(argnums, default=-1) + 1)
    for i, rule in zip(argnums, rules):
        placed[i] = rule
    return tuple(placed)


def _linear(prim: Primitive, i: int) -> Callable:
    """The JVP of an argument prim is linear in: prim's body with the tangent in its
    place. (The body, not prim: the VJP is derived by tracing this rule, which through
    prim would ask for prim's VJP again.)"""
    def rule(g: Any, ans: Any, *args: Any, **kwargs: Any) -> Any:
        return prim.impl(*args[:i], g, *args[i + 1:], **kwargs)
    return rule


def _check(prim: Any, what: str) -> None:
    if not isinstance(prim, UserPrimitive):
        raise TypeError(f"{what} takes a function made by adkit.primitive, got "
                        f"{type(prim).__name__}; decorate the function with @adkit.primitive")


def _fill(prim: UserPrimitive) -> None:
    """Both modes' rules for every argument: a rule given for one mode, where the other
    has none, gives the other's by transposition."""
    given = (prim.given_jvps, prim.given_vjps)
    if any(isinstance(rules, EveryArgument) for rules in given):
        prim.jvps = EveryArgument(lambda i: _rules_for(prim, i)[0])
        prim.vjps = EveryArgument(lambda i: _rules_for(prim, i)[1])
        return
    pairs = [_rules_for(prim, i) for i in range(max(map(len, given)))]
    prim.jvps, prim.vjps = tuple(j for j, _ in pairs), tuple(v for _, v in pairs)


def _rules_for(prim: UserPrimitive, i: int) -> tuple[Callable | None, Callable | None]:
    def given(rules: Any) -> Callable | None:
        return rules[i] if isinstance(rules, EveryArgument) or i < len(rules) else None
    jvp, vjp = given(prim.given_jvps), given(prim.given_vjps)
    if jvp is None and vjp is not None:
        jvp = _jvp_from_vjp(prim, vjp, i)
    if vjp is None and jvp is not None:
        vjp = _vjp_from_jvp(prim, jvp, i)
    return jvp, vjp


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