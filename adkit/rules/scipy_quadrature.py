"""scipy.integrate.quad and cumulative_trapezoid on traced values.

quad(func, a, b, args=...) is differentiable in the finite limits and in the float leaves of
args (which may nest, as odeint's). With I(a, b, p) = integral from a to b of f(x, p) dx,
the Leibniz rule gives
    dI = f(b, p) db - f(a, p) da + integral from a to b of (df/dp)(x, p) dp dx,
and the cotangent of p is the integral of g * grad_p f(x, p), a vector integrand
(scipy.integrate.quad_vec). Each derivative is an integral computed by the same
primitive, whose integrand calls adkit.jvp / adkit.vjp of the user's f, so derivatives
of any order nest. The value is SciPy's quad itself; abserr (and full_output's extras) are
SciPy's numbers for the value, with no derivative. Tolerances (epsabs, epsrel), limit and
points apply to the derivative integrals too.

A func that closes over a traced value (instead of taking it through args=) cannot be
seen: SciPy's code then converts the traced value and adkit's error says to pass args=.
weight= (a weighted integrand) and complex_func=True are refused by name.

cumulative_trapezoid: SciPy's code asks array-api-compat for the namespace of its input,
which knows NumPy, CuPy, PyTorch, JAX and dask arrays and objects with
`__array_namespace__`, and raises "VarArray is not a supported array type" for anything
else, before NumPy's dispatch could see it. Here it is the same formula (a cumsum of
trapezoids) on NumPy entries the table has.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import scipy.integrate as integrate

from ..forward.api import jvp
from ..pytree import tree_flatten, tree_unflatten
from ..reverse.api import vjp
from ..table import NoRuleError, NoSympy, defprim
from ..tracer import BoxBase, primal
from .helpers import ndim_of, normalize_axis, shape_of, size_of
from .scipy_binding import bind, original
from .shapes import trapezoid_parts

_sp_quad = original(integrate.quad)
_sp_quad_vec = original(integrate.quad_vec)
#: quad options that apply to the derivative integrals as well
_SHARED = ("epsabs", "epsrel", "limit", "points")


def _integrate(a, b, p, *, integrand, options, vector, memo):
    """integral from a to b of integrand(x, p): quad for a scalar integrand (memo keeps
    SciPy's whole result, for abserr), quad_vec for an array-valued one."""
    if not vector:
        result = _sp_quad(lambda x: float(integrand(x, p)), a, b, **options)
        memo.setdefault("result", result)
        return np.float64(result[0])
    vec_options = {k: v for k, v in options.items() if k in ("epsabs", "epsrel", "points")}
    return np.asarray(_sp_quad_vec(lambda x: np.asarray(integrand(x, p), dtype=float), a, b,
                                   **vec_options)[0])


def _at_limit(integrand: Callable, x: Any, p: Any, which: str) -> Any:
    if not np.isfinite(primal(x)):
        raise NoRuleError(f"scipy.integrate.quad: the {which} limit is infinite and traced; "
                          "a derivative in an infinite limit is not taken (pass it as a "
                          "plain float, np.inf)")
    return integrand(x, p)


def _jvp(tangents, ans, a, b, p, *, integrand, options, vector, memo):
    ta, tb, tp = tangents
    terms = []
    if tb is not None:
        terms.append(tb * _at_limit(integrand, b, p, "upper"))
    if ta is not None:
        terms.append(-(ta * _at_limit(integrand, a, p, "lower")))
    if tp is not None:
        k = size_of(p)

        def directional(x, p_and_dp):
            return jvp(lambda q: integrand(x, q), (p_and_dp[:k],), (p_and_dp[k:],))[1]
        terms.append(integral_p(a, b, np.concatenate([p, tp]), integrand=directional,
                                options=options, vector=vector, memo={}))
    return sum(terms[1:], terms[0])


def _vjp_p(ans, a, b, p, *, integrand, options, vector, memo):
    k = size_of(p)
    out_shape = shape_of(ans)

    def pull(g):
        if k == 0:
            return np.zeros(0)

        def weighted_gradient(x, p_and_g):
            _, back = vjp(lambda q: integrand(x, q), p_and_g[:k])
            return back(np.reshape(p_and_g[k:], out_shape))[0]
        return integral_p(a, b, np.concatenate([p, np.reshape(g, (-1,))]),
                          integrand=weighted_gradient, options=options, vector=True,
                          memo={})
    return pull


integral_p = defprim(
    "scipy.integrate.quad", _integrate, jvp_joint=_jvp, batch_aware=False,
    vjp=(lambda ans, a, b, p, *, integrand, options, vector, memo:
         lambda g: -np.sum(g * _at_limit(integrand, a, p, "lower")),
         lambda ans, a, b, p, *, integrand, options, vector, memo:
         lambda g: np.sum(g * _at_limit(integrand, b, p, "upper")),
         _vjp_p),
    sympy=NoSympy("a numerical integral has no closed form in general"))


def _is_parameter(leaf: Any) -> bool:
    if isinstance(leaf, (BoxBase, float, np.floating)):
        return True
    return isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f"


def flat_parameters(args: Any) -> tuple[Any, Callable]:
    """(the float leaves of args as one vector p, rebuild(p) -> args with them put back):
    every other leaf (an int, a flag, a function) reaches the user's function untouched."""
    args = args if isinstance(args, tuple) else (args,)
    leaves, structure = tree_flatten(args)
    in_p = [i for i, leaf in enumerate(leaves) if _is_parameter(leaf)]
    shapes = [shape_of(leaves[i]) for i in in_p]
    sizes = [math.prod(s) for s in shapes]
    p = np.concatenate([np.ravel(leaves[i]) * 1.0 for i in in_p]) if in_p else np.zeros(0)

    def rebuild(flat):
        parts, start = list(leaves), 0
        for i, shape, size in zip(in_p, shapes, sizes):
            parts[i] = np.reshape(flat[start:start + size], shape)
            start += size
        return tree_unflatten(structure, parts)
    return p, rebuild


def _quad(func, a, b, args=(), full_output=0, epsabs=1.49e-08, epsrel=1.49e-08, limit=50,
          points=None, weight=None, wvar=None, wopts=None, maxp1=50, limlst=50,
          complex_func=False):
    if weight is not None:
        raise NoRuleError("scipy.integrate.quad(..., weight=...) is not differentiable in "
                          "adkit; multiply the weight into func instead")
    if complex_func:
        raise NoRuleError("scipy.integrate.quad(..., complex_func=True) is not "
                          "differentiable in adkit; integrate the real and imaginary parts "
                          "as two real quads")
    for name, limit_value in (("a", a), ("b", b)):
        if ndim_of(limit_value) != 0:
            raise ValueError(f"scipy.integrate.quad: the limit {name} must be a scalar, got "
                             f"shape {shape_of(limit_value)}")
    p, rebuild = flat_parameters(args)

    def integrand(x, flat):
        return func(x, *rebuild(flat))

    options = {k: v for k, v in dict(epsabs=epsabs, epsrel=epsrel, limit=limit,
                                     points=points).items() if v is not None}
    memo: dict = {}
    value = integral_p(a * 1.0, b * 1.0, p, integrand=integrand,
                       options=dict(options, full_output=full_output), vector=False,
                       memo=memo)
    return (value,) + tuple(memo["result"][1:])


# --- cumulative_trapezoid ----------------------------------------------------------------------


def _cumulative_trapezoid(y, x=None, dx=1.0, axis=-1, initial=None):
    y = y if hasattr(y, "shape") else np.asarray(y)
    axis = normalize_axis(axis, ndim_of(y))
    if shape_of(y)[axis] == 0:
        raise ValueError("At least one point is required along `axis`.")
    d, later, earlier = trapezoid_parts(y, x, dx, axis)
    res = np.cumsum(d * (later + earlier) / 2.0, axis=axis)
    if initial is not None:
        if primal(initial) != 0:
            raise ValueError("`initial` must be `None` or `0`.")
        if not np.isscalar(primal(initial)):
            raise ValueError("`initial` parameter should be a scalar.")
        shape = list(shape_of(res))
        shape[axis] = 1
        res = np.concatenate([np.zeros(tuple(shape)), res], axis=axis)
    return res


bind(integrate.quad, _quad, "scipy.integrate.quad", via=(integral_p,))
bind(integrate.cumulative_trapezoid, _cumulative_trapezoid,
     "scipy.integrate.cumulative_trapezoid", via=())
