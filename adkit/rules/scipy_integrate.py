"""scipy.integrate.odeint: derivatives of an ODE solution in the initial state, the
times and the extra arguments, without differentiating through the solver's steps.

Reverse mode is the adjoint method (autograd's odeint is the anchor; Froehlich et al.
2017, sec. 2.4.2): between consecutive output times the augmented state
[y, a, a_t, a_p] runs backwards with d/dt [y, a, a_t, a_p] = [f, -a^T df/dy,
-a^T df/dt, -a^T df/dp], each output time's cotangent added to a on the way.
Forward mode integrates the sensitivity s = dy along with y:
ds/dt = df/dy s + df/dp dp, from s(t0) = dy0 - f(y0, t0) dt0, plus f(y(ti), ti) dti.
Both augmented systems are solved by this same primitive, with right-hand sides that
call adkit.vjp / adkit.jvp of the user's f, so derivatives of any order nest.

The solver's tolerances apply to the augmented systems too: pass rtol= and atol= as
tight as the derivatives need (SciPy's defaults, 1.5e-8, give about 7 digits).
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
from ..tracer import BoxBase
from .helpers import ndim_of, shape_of, size_of
from .scipy_binding import bind, original

_sp_odeint = original(integrate.odeint)
#: odeint options that apply to the augmented systems as well
_SHARED = ("rtol", "atol", "h0", "hmax", "hmin", "mxstep", "mxhnil", "mxordn", "mxords",
           "ixpr", "ml", "mu")


def _odeint_impl(y0, t, p, *, rhs, options, memo):
    return _sp_odeint(rhs, y0, t, args=(p,), **options)


def _augmented_options(options: dict) -> dict:
    return {k: v for k, v in options.items() if k in _SHARED}


def _odeint_vjp_all(ans, y0, t, p, *, rhs, options, memo):
    """Cotangents of y0, t and p from one backward sweep (the adjoint method)."""
    d = shape_of(y0)[0]
    n_times = shape_of(t)[0]
    aug_options = _augmented_options(options)

    def adjoint_rhs(state, s, p_):
        y, a = state[:d], state[d:2 * d]
        dy_dt, pull = vjp(rhs, y, s, p_)
        a_y, a_s, a_p = pull(-a)
        return np.concatenate([dy_dt, a_y, np.reshape(a_s, (1,)), a_p])

    def cotangents(g):
        a = g[-1]
        a_t0 = 0.0
        a_p = np.zeros_like(p)
        time_cotangents = []
        for i in range(n_times - 1, 0, -1):
            moved = np.sum(rhs(ans[i], t[i], p) * g[i])
            time_cotangents.append(moved)
            a_t0 = a_t0 - moved
            state = np.concatenate([ans[i], a, np.reshape(a_t0, (1,)), a_p])
            back = odeint_p(state, np.stack([t[i], t[i - 1]]), p, rhs=adjoint_rhs,
                            options=aug_options, memo={})[1]
            a, a_t0, a_p = back[d:2 * d] + g[i - 1], back[2 * d], back[2 * d + 1:]
        time_cotangents.append(a_t0)
        return a, np.stack(time_cotangents[::-1]), a_p
    return cotangents


def _vjp_for(index: int) -> Callable:
    """One argument's cotangent from the sweep that gives all three: the sweep runs once
    per cotangent g, its result kept in the call's own `memo` for the other arguments."""
    def make(ans, y0, t, p, **kw):
        memo = kw["memo"]

        def vjp_i(g):
            if memo.get("g") is not g:
                memo["g"], memo["out"] = g, _odeint_vjp_all(ans, y0, t, p, **kw)(g)
            return memo["out"][index]
        return vjp_i
    return make


def _odeint_jvp(tangents, ans, y0, t, p, *, rhs, options, memo):
    """The sensitivity equations, solved along with y by this primitive."""
    d = shape_of(y0)[0]
    gy0, gt, gp = tangents
    dp = np.zeros_like(p) if gp is None else gp
    s0 = np.zeros_like(y0) if gy0 is None else gy0
    if gt is not None:
        s0 = s0 - rhs(y0, t[0], p) * gt[0]

    def sensitivity_rhs(state, s, p_and_dp):
        y, sens = state[:d], state[d:]
        p_, dp_ = p_and_dp[:size_of(p)], p_and_dp[size_of(p):]
        return np.concatenate(jvp(lambda y_, q: rhs(y_, s, q), (y, p_), (sens, dp_)))

    out = odeint_p(np.concatenate([y0, s0]), t, np.concatenate([p, dp]), rhs=sensitivity_rhs,
                   options=_augmented_options(options), memo={})[:, d:]
    if gt is not None:
        out = out + np.stack([rhs(ans[i], t[i], p) for i in range(shape_of(t)[0])]) * \
            np.reshape(gt, (-1, 1))
    return out


odeint_p = defprim(
    "scipy.integrate.odeint", _odeint_impl, jvp_joint=_odeint_jvp, batch_aware=False,
    vjp=(_vjp_for(0), _vjp_for(1), _vjp_for(2)),
    sympy=NoSympy("an ODE solution has no closed form in general"))


def _is_parameter(leaf: Any) -> bool:
    """Whether an args leaf rides in p. Plain float leaves too, not only traced ones: the
    augmented state (and so the solver's steps) must not depend on which leaves a trace
    happens to hold, or adkit.compile's replay (which stages captured numbers) would differ
    from the eager derivative by the solver's tolerance."""
    if isinstance(leaf, (BoxBase, float, np.floating)):
        return True
    return isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f"


def _odeint(func, y0, t, args=(), Dfun=None, col_deriv=0, full_output=0, ml=None, mu=None,
            rtol=None, atol=None, tcrit=None, h0=0.0, hmax=0.0, hmin=0.0, ixpr=0, mxstep=0,
            mxhnil=0, mxordn=12, mxords=5, printmessg=0, tfirst=False):
    if full_output:
        raise NoRuleError("scipy.integrate.odeint(..., full_output=True) is not "
                          "differentiable in adkit; drop full_output (the solver's "
                          "diagnostics carry no derivative)")
    if tcrit is not None:
        raise NoRuleError("scipy.integrate.odeint(..., tcrit=...) is not differentiable in "
                          "adkit; split the time grid at the critical points instead")
    if ndim_of(y0) > 1 or ndim_of(t) != 1:
        raise ValueError("odeint takes a 1-D initial state y0 (or a scalar) and a 1-D "
                         f"array of times t; got shapes {shape_of(y0)} and {shape_of(t)}")
    args = args if isinstance(args, tuple) else (args,)
    # args may nest (autograd's ode_net passes a list of (W, b) pairs): the float leaves
    # travel flattened in p; every other leaf (a flag, a count, a function) reaches func as
    # the caller gave it, as SciPy passes args
    leaves, structure = tree_flatten(args)
    in_p = [i for i, leaf in enumerate(leaves) if _is_parameter(leaf)]
    shapes = [shape_of(leaves[i]) for i in in_p]
    sizes = [math.prod(s) for s in shapes]
    p = np.concatenate([np.ravel(leaves[i]) * 1.0 for i in in_p]) if in_p else np.zeros(0)
    scalar_state = ndim_of(y0) == 0
    y0 = np.reshape(y0, (1,)) * 1.0 if scalar_state else y0 * 1.0
    t = t * 1.0

    def rhs(y, s, flat):
        parts, start = list(leaves), 0
        for i, shape, size in zip(in_p, shapes, sizes):
            parts[i] = np.reshape(flat[start:start + size], shape)
            start += size
        user_args = tree_unflatten(structure, parts)
        y_user = y[0] if scalar_state else y
        dy = func(s, y_user, *user_args) if tfirst else func(y_user, s, *user_args)
        return np.reshape(dy, (-1,)) * 1.0

    options = {k: v for k, v in dict(rtol=rtol, atol=atol, h0=h0, hmax=hmax, hmin=hmin,
                                     ixpr=ixpr, mxstep=mxstep, mxhnil=mxhnil, mxordn=mxordn,
                                     mxords=mxords, ml=ml, mu=mu).items() if v is not None}
    # memo: this call's own store, so its three cotangents share one backward sweep
    out = odeint_p(y0, t, p, rhs=rhs, options=options, memo={})
    return out


bind(integrate.odeint, _odeint, "scipy.integrate.odeint", via=(odeint_p,))
