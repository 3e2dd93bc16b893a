"""scipy.integrate.odeint and solve_ivp: derivatives of an ODE solution in the initial
state, the times (odeint) and the extra arguments, without differentiating through the
solver's steps.

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

solve_ivp(fun, t_span, y0, t_eval=..., args=...) is a second primitive with the same rules
(ode_primitive), whose systems are all solved by solve_ivp with the caller's method and
options (those about the caller's own system, jac= and the like, stay with it). It is
differentiable in y0 and args=, at the dense output times t_eval (required); times that
are traced, dense_output= and events= are refused by name (odeint differentiates in its
times). The result is SciPy's OdeResult, with y traced and the solver's counts and message
from the caller's own solve.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.integrate as integrate

from ..forward.api import jvp
from ..reverse.api import vjp
from ..table import NoRuleError, NoSympy, defprim
from ..tracer import BoxBase
from .helpers import ndim_of, shape_of, size_of
from .scipy_binding import bind, holds_traced, original
from .scipy_quadrature import flat_parameters

_sp_odeint = original(integrate.odeint)
#: odeint options that apply to the augmented systems as well
_SHARED = ("rtol", "atol", "h0", "hmax", "hmin", "mxstep", "mxhnil", "mxordn", "mxords",
           "ixpr", "ml", "mu")


def _odeint_impl(y0, t, p, *, rhs, options, memo):
    return _sp_odeint(rhs, y0, t, args=(p,), **options)


def _augmented_options(options: dict) -> dict:
    return {k: v for k, v in options.items() if k in _SHARED}


def _vjp_all(prim: Any, ans, y0, t, p, *, rhs, options, memo):
    """Cotangents of y0, t and p from one backward sweep (the adjoint method)."""
    d = shape_of(y0)[0]
    n_times = shape_of(t)[0]
    aug_options = prim.augmented_options(options)

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
            back = prim(state, np.stack([t[i], t[i - 1]]), p, rhs=adjoint_rhs,
                        options=aug_options, memo={})[1]
            a, a_t0, a_p = back[d:2 * d] + g[i - 1], back[2 * d], back[2 * d + 1:]
        time_cotangents.append(a_t0)
        return a, np.stack(time_cotangents[::-1]), a_p
    return cotangents


def _vjp_for(index: int, prim: Any) -> Callable:
    """One argument's cotangent from the sweep that gives all three: the sweep runs once
    per cotangent g, its result kept in the call's own `memo` for the other arguments."""
    def make(ans, y0, t, p, **kw):
        memo = kw["memo"]

        def vjp_i(g):
            if memo.get("g") is not g:
                memo["g"], memo["out"] = g, _vjp_all(prim, ans, y0, t, p, **kw)(g)
            return memo["out"][index]
        return vjp_i
    return make


def _jvp(prim: Any, tangents, ans, y0, t, p, *, rhs, options, memo):
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

    out = prim(np.concatenate([y0, s0]), t, np.concatenate([p, dp]), rhs=sensitivity_rhs,
               options=prim.augmented_options(options), memo={})[:, d:]
    if gt is not None:
        out = out + np.stack([rhs(ans[i], t[i], p) for i in range(shape_of(t)[0])]) * \
            np.reshape(gt, (-1, 1))
    return out


class _OdeSolve:
    """The primitive an ODE's rules call (for their augmented systems), with the options
    that carry over to those systems: the rules get this before the primitive exists."""

    def __init__(self, augmented_options: Callable) -> None:
        self.augmented_options = augmented_options
        self.prim: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.prim(*args, **kwargs)


def ode_primitive(name: str, impl: Callable, augmented_options: Callable) -> Any:
    """An ODE solution y(t) = impl(y0, t, p, rhs=, options=, memo=) as a primitive: the
    sensitivity equations (forward) and the adjoint sweep (reverse), each solved by the
    primitive itself with augmented_options(options)."""
    solve = _OdeSolve(augmented_options)
    solve.prim = defprim(
        name, impl, batch_aware=False,
        jvp_joint=lambda *args, **kwargs: _jvp(solve, *args, **kwargs),
        vjp=tuple(_vjp_for(i, solve) for i in range(3)),
        sympy=NoSympy("an ODE solution has no closed form in general"))
    return solve.prim


odeint_p = ode_primitive("scipy.integrate.odeint", _odeint_impl, _augmented_options)


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
    # args may nest (autograd's ode_net passes a list of (W, b) pairs): the float leaves
    # travel flattened in p; every other leaf (a flag, a count, a function) reaches func as
    # the caller gave it, as SciPy passes args
    p, rebuild = flat_parameters(args)
    scalar_state = ndim_of(y0) == 0
    y0 = np.reshape(y0, (1,)) * 1.0 if scalar_state else y0 * 1.0
    t = t * 1.0

    def rhs(y, s, flat):
        user_args = rebuild(flat)
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


# --- solve_ivp: the same rules, every system solved by solve_ivp with the caller's method ----

_sp_solve_ivp = original(integrate.solve_ivp)
#: solve_ivp options about the caller's system only (its Jacobian, its events, vectorised
#: calls), which the augmented systems do not share
_OWN_SYSTEM = ("jac", "jac_sparsity", "lband", "uband", "vectorized")


def _solve_ivp_impl(y0, t, p, *, rhs, options, memo):
    result = _sp_solve_ivp(lambda s, y: rhs(y, s, p), (t[0], t[-1]), y0, t_eval=t, **options)
    if not result.success:
        raise RuntimeError(f"scipy.integrate.solve_ivp failed: {result.message}")
    memo.setdefault("result", result)  # the caller's solve: its counts and message
    return result.y.T


solve_ivp_p = ode_primitive("scipy.integrate.solve_ivp", _solve_ivp_impl,
                            lambda options: {k: v for k, v in options.items()
                                             if k not in _OWN_SYSTEM})


def _solve_ivp(fun, t_span, y0, method="RK45", t_eval=None, dense_output=False, events=None,
               vectorized=False, args=None, **options):
    for name, given in (("dense_output", dense_output), ("events", events)):
        if given:
            raise NoRuleError(f"scipy.integrate.solve_ivp(..., {name}=...) is not "
                              "differentiable in adkit; pass the times you need as t_eval=")
    if t_eval is None:
        raise NoRuleError("scipy.integrate.solve_ivp without t_eval= steps to times the "
                          "solver chooses, which have no derivative; pass t_eval= (e.g. "
                          "np.linspace(t0, t1, n)), or use scipy.integrate.odeint")
    if holds_traced((t_span, t_eval)):
        raise NoRuleError("scipy.integrate.solve_ivp is differentiable in y0 and args= "
                          "here, not in t_span or t_eval; pass the times as plain numbers, "
                          "or use scipy.integrate.odeint, which differentiates in its times")
    if (not isinstance(y0, (list, tuple)) and ndim_of(y0) > 1) or vectorized:
        raise ValueError("solve_ivp takes a 1-D initial state y0 (or a scalar)" +
                         (" and, in adkit, vectorized=False" if vectorized else
                          f"; got shape {shape_of(y0)}"))
    t0, t1 = (float(v) for v in t_span)
    t_eval = np.asarray(t_eval, dtype=float)
    if t_eval.ndim != 1:
        raise ValueError("`t_eval` must be 1-dimensional.")
    if np.any(t_eval < min(t0, t1)) or np.any(t_eval > max(t0, t1)):
        raise ValueError("Values in `t_eval` are not within `t_span`.")
    # the solution starts at t0: a first output time after it gets t0 in front, then dropped
    starts_at_t0 = t_eval.size > 0 and t_eval[0] == t0
    times = t_eval if starts_at_t0 else np.concatenate([[t0], t_eval])
    p, rebuild = flat_parameters(() if args is None else args)
    if isinstance(y0, (list, tuple)):  # SciPy takes a list of numbers (here maybe traced)
        y0 = np.stack([np.asarray(v) * 1.0 if not isinstance(v, BoxBase) else v for v in y0])
    y0 = np.reshape(y0, (-1,)) * 1.0

    def rhs(y, s, flat):
        return np.reshape(fun(s, y, *rebuild(flat)), (-1,)) * 1.0

    memo: dict = {}
    ys = solve_ivp_p(y0, times, p, rhs=rhs, options=dict(options, method=method), memo=memo)
    ys = ys if starts_at_t0 else ys[1:]
    result = memo["result"]
    return integrate._ivp.ivp.OdeResult(
        t=t_eval, y=np.transpose(ys), sol=None, t_events=None, y_events=None,
        nfev=result.nfev, njev=result.njev, nlu=result.nlu, status=result.status,
        message=result.message, success=result.success)


bind(integrate.solve_ivp, _solve_ivp, "scipy.integrate.solve_ivp", via=(solve_ivp_p,))

# quad and cumulative_trapezoid: adkit/rules/scipy_quadrature.py
from . import scipy_quadrature  # noqa: E402,F401
