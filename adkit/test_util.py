"""autograd.test_util's checks, by its names and calling convention, with adkit's engines
under test and adkit.numeric (Richardson-extrapolated central differences) as referee.

    check_grads(fun, argnum=0, modes=("fwd", "rev"), order=2)(*args, **kwargs)

checks, for the argument(s) at argnum, a random directional derivative ("fwd": the JVP
against the numerical derivative along a random direction) and a random inner
product ("rev": <direction, VJP(cotangent)> against <cotangent, numerical JVP>), then
the same checks on those derivative maps, recursively, to the given order. Random
projections keep each check one numerical derivative, whatever the sizes. A failure
raises AssertionError with both numbers. combo_check(fun, ...)(*value_lists,
**keyword_value_lists) runs check_grads on every combination of the values given.

adkit.check_grads is the fuller check (every mode against every other, whole
Jacobians and Hessians, with a table); this module is for code written for autograd.

>>> import numpy as np
>>> check_grads(lambda x: np.sin(x) * x, modes=["fwd", "rev"], order=2)(np.array([0.3, 0.4]))
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Sequence

import numpy as np

from . import numeric
from .api import jvp, vjp
from .operators import of_argnum
from .pytree import tree_flatten, tree_unflatten

__all__ = ["check_grads", "combo_check", "check_jvp", "check_vjp", "scalar_close"]

TOLERANCE = 1e-6   # absolute or relative, as autograd's test_util

_MODES = ("fwd", "rev")


def scalar_close(a: float, b: float) -> bool:
    """a and b within 1e-6, absolutely or relatively."""
    return bool(abs(a - b) < TOLERANCE or abs(a - b) / abs(a + b) < TOLERANCE)


def check_grads(fun: Callable, argnum: Any = 0, modes: Sequence[str] = _MODES,
                order: int = 2) -> Callable:
    """A function of fun's arguments that checks fun's derivatives at them with respect
    to argument(s) argnum, in the given modes ("fwd", "rev") up to order; AssertionError
    on a disagreement with the numerical derivative."""
    unknown = [m for m in modes if m not in _MODES]
    if isinstance(modes, str) or unknown:
        raise ValueError(f"check_grads: modes are a list of 'fwd' and 'rev', got {modes!r}")
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"check_grads: order must be a positive int, got {order!r}")

    def checked(*args: Any, **kwargs: Any) -> None:
        unary, x = of_argnum(fun, argnum, args, kwargs, "check_grads")
        unary.__name__ = getattr(fun, "__name__", "fun")
        _check(unary, x, modes, order)

    return checked


def _check(f: Callable, x: Any, modes: Sequence[str], order: int) -> None:
    if "fwd" in modes:
        check_jvp(f, x)
        if order > 1:
            def jvp_of_f(x: Any, v: Any) -> Any:
                return jvp(f, (x,), (v,))[1]
            jvp_of_f.__name__ = f"jvp_of_{f.__name__}"
            _check(lambda xv: jvp_of_f(*xv), (x, _random_like(x)), modes, order - 1)
    if "rev" in modes:
        check_vjp(f, x)
        if order > 1:
            def vjp_of_f(x: Any, w: Any) -> Any:
                return vjp(f, x)[1](w)[0]
            vjp_of_f.__name__ = f"vjp_of_{f.__name__}"
            _check(lambda xw: vjp_of_f(*xw), (x, _random_like(f(x))), modes, order - 1)


def check_jvp(f: Callable, x: Any) -> None:
    """f's JVP along a random direction against the numerical directional derivative."""
    v = _random_like(x)
    exact = _real_vector(jvp(f, (x,), (v,))[1])
    approx = _numerical_jvp(f, x, v)
    if exact.shape != approx.shape:
        raise AssertionError(f"JVP of {_name(f)} has {exact.size} real entries, the "
                             f"output {approx.size}")
    w = np.random.randn(*exact.shape)
    if not scalar_close(float(exact @ w), float(approx @ w)):
        raise AssertionError(f"derivative (JVP) check of {_name(f)} failed at {x!r}:\n"
                             f"analytic: {exact}\nnumeric:  {approx}")


def check_vjp(f: Callable, x: Any) -> None:
    """<v, VJP(w)> against <w, numerical JVP along v> for random v and w."""
    y, pull = vjp(f, x)
    v, w = _random_like(x), _random_like(y)
    cotangent = _conjugate(pull(_conjugate(w))[0])
    _check_same_structure(cotangent, x, _name(f))
    exact = _inner(v, cotangent)
    approx = float(_real_vector(w) @ _numerical_jvp(f, x, v))
    if not scalar_close(exact, approx):
        raise AssertionError(f"derivative (VJP) check of {_name(f)} failed at {x!r}:\n"
                             f"analytic: {exact}\nnumeric:  {approx}")


def combo_check(fun: Callable, *check_args: Any, **check_kwargs: Any) -> Callable:
    """check_grads(fun, *check_args, **check_kwargs) at every combination of the values:
    combo_check(f, [0])([x1, x2], [y1], axis=[0, 1]) checks f(x, y, axis=a) for each."""
    def combos(*value_lists: Sequence, **keyword_lists: Sequence) -> None:
        keyword_items = [[(k, v) for v in values] for k, values in keyword_lists.items()]
        for args in itertools.product(*value_lists):
            for kwargs in itertools.product(*keyword_items):
                check_grads(fun, *check_args, **check_kwargs)(*args, **dict(kwargs))
    return combos


# --- values as real vectors -------------------------------------------------------------------


def _name(f: Callable) -> str:
    return getattr(f, "__name__", "fun")


def _random_like(tree: Any) -> Any:
    """A standard normal draw shaped like each leaf (complex leaves get complex draws)."""
    leaves, treedef = tree_flatten(tree)
    out = []
    for leaf in leaves:
        shape = np.shape(leaf)
        draw = np.random.randn(*shape)     # a float for shape ()
        if np.iscomplexobj(leaf):
            draw = draw + 1j * np.random.randn(*shape)
        out.append(draw)
    return tree_unflatten(treedef, out)


def _real_vector(tree: Any) -> np.ndarray:
    """Every leaf's entries in one real vector, a complex entry as its real then its
    imaginary part."""
    parts = []
    for leaf in tree_flatten(tree)[0]:
        flat = np.ravel(np.asarray(leaf))
        parts.append(np.real(flat).astype(float))
        if np.iscomplexobj(flat):
            parts.append(np.imag(flat).astype(float))
    return np.concatenate(parts) if parts else np.zeros(0)


def _numerical_jvp(f: Callable, x: Any, v: Any) -> np.ndarray:
    """d/dt f(x + t v) at t = 0 by adkit.numeric, as a real vector."""
    x_leaves, treedef = tree_flatten(x)
    v_leaves = tree_flatten(v)[0]

    def along(t: float) -> np.ndarray:
        moved = [np.asarray(a) + t * np.asarray(b) if np.ndim(a) else a + t * b
                 for a, b in zip(x_leaves, v_leaves)]
        return _real_vector(f(tree_unflatten(treedef, moved)))

    return np.asarray(numeric.derivative(along, 0.0))


def _conjugate(tree: Any) -> Any:
    leaves, treedef = tree_flatten(tree)
    return tree_unflatten(treedef, [np.conj(leaf) for leaf in leaves])


def _inner(a: Any, b: Any) -> float:
    return float(sum(np.real(np.vdot(np.ravel(p), np.ravel(q)))
                     for p, q in zip(tree_flatten(a)[0], tree_flatten(b)[0])))


def _check_same_structure(got: Any, want: Any, name: str) -> None:
    got_leaves, want_leaves = tree_flatten(got)[0], tree_flatten(want)[0]
    if len(got_leaves) != len(want_leaves):
        raise AssertionError(f"VJP of {name} has {len(got_leaves)} leaves, its argument "
                             f"{len(want_leaves)}")
    for g, w in zip(got_leaves, want_leaves):
        if np.shape(g) != np.shape(w) or np.iscomplexobj(g) != np.iscomplexobj(w):
            raise AssertionError(f"VJP of {name} has a leaf of shape {np.shape(g)} "
                                 f"{'complex' if np.iscomplexobj(g) else 'real'} for an "
                                 f"argument leaf of shape {np.shape(w)} "
                                 f"{'complex' if np.iscomplexobj(w) else 'real'}")
