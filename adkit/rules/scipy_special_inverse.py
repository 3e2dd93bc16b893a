"""scipy.special: inverse distribution functions and a few more ufuncs, each one entry with
its local derivatives (imported by adkit/rules/special.py, whose conventions apply).

Inverses, by the inverse function rule at the answer x of F(params, x) = y: dx/dy = 1 / F_x
and dx/dp = -F_p / F_x, where F_x and F_p are F's own local derivatives, taken from F's
table entry (so they are exactly F's rules, differentiable as far as F is; a shape parameter
of the incomplete gamma/beta functions, once):
- gammaincinv(a, y) inverts gammainc(a, x), gammainccinv(a, y) gammaincc(a, x);
- betaincinv(a, b, y) inverts betainc(a, b, x);
- stdtrit(df, p) inverts stdtr(df, t).
Others:
- poch(z, m) = Gamma(z + m) / Gamma(z): d/dz = poch (psi(z + m) - psi(z)), d/dm = poch
  psi(z + m).
- owens_t(h, a): d/dh = -phi(h) erf(a h / sqrt 2) / 2, d/da = e^(-h^2 (1 + a^2) / 2) /
  (2 pi (1 + a^2)).
- powm1(x, y) = x^y - 1: d/dx = y x^(y-1), d/dy = x^y log x.
- inv_boxcox1p(y, l) = inv_boxcox(y, l) - 1: inv_boxcox's derivatives at the answer + 1.
- expn(n, x) (integer n, a constant): d/dx = -E_(n-1)(x), and -E_0(x) (1 + 1/x) for n = 0.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import scipy.special as sp

from ..table import PRIMITIVES, NoRuleError, NoSympy, PerElement, defprim
from .elementwise import _exp, binary
from .scipy_special import _off_zero_lmbda, log1p_ratio_prime

_INVERSE = NoSympy("an inverse distribution function has no SymPy closed form; adkit "
                   "differentiates it by the inverse function rule")


def _b(ufunc: np.ufunc, dx: Callable, dy: Callable, sympy: Any) -> Any:
    return binary(ufunc, dx, dy, sympy, safe=True, name="scipy.special." + ufunc.__name__)


def _inverse(fn: np.ufunc, i: int) -> Callable:
    """d/d(argument i) of the inverse of y = fn(*params, x) in its last argument, at the
    answer x: 1 / F_x for y (the last argument), -F_i / F_x for a parameter. F's local
    derivatives are its own rules (registered by adkit/rules/special.py, loaded first)."""
    def d(ans: Any, *args: Any) -> Any:
        rules = PRIMITIVES["scipy.special." + fn.__name__].jvps
        y, at = args[-1], args[:-1] + (ans,)
        slope = rules[-1](1.0, y, *at)
        if i == len(args) - 1:
            return 1.0 / slope
        return -rules[i](1.0, y, *at) / slope
    return d


gammaincinv = _b(sp.gammaincinv, _inverse(sp.gammainc, 0), _inverse(sp.gammainc, 1), _INVERSE)
gammainccinv = _b(sp.gammainccinv, _inverse(sp.gammaincc, 0), _inverse(sp.gammaincc, 1),
                  _INVERSE)


def _ternary_rule(d: Callable) -> tuple:
    """(jvp, vjp) multiplying by the local derivative d(ans, *args)."""
    def jvp_rule(g, ans, *args):
        return g * d(ans, *args)
    return jvp_rule, (lambda ans, *args: lambda g: jvp_rule(g, ans, *args))


_betaincinv_rules = [_ternary_rule(_inverse(sp.betainc, i)) for i in range(3)]
betaincinv = defprim("scipy.special.betaincinv", sp.betaincinv, elementwise=True,
                     numpy=sp.betaincinv, sympy=_INVERSE,
                     jvp=tuple(r[0] for r in _betaincinv_rules),
                     vjp=tuple(r[1] for r in _betaincinv_rules))

stdtrit = _b(sp.stdtrit, _inverse(sp.stdtr, 0), _inverse(sp.stdtr, 1), _INVERSE)

poch = _b(sp.poch, lambda ans, z, m: ans * (sp.digamma(z + m) - sp.digamma(z)),
          lambda ans, z, m: ans * sp.digamma(z + m),
          PerElement(lambda sy, z, m: sy.gamma(z + m) / sy.gamma(z)))

owens_t = _b(sp.owens_t,
             lambda ans, h, a: -_exp(-0.5 * h * h) / math.sqrt(2.0 * math.pi)
             * sp.erf(a * h / math.sqrt(2.0)) / 2.0,
             lambda ans, h, a: _exp(-0.5 * h * h * (1.0 + a * a))
             / (2.0 * math.pi * (1.0 + a * a)),
             NoSympy("Owen's T function has no SymPy counterpart"))

powm1 = _b(sp.powm1, lambda ans, x, y: y * np.power(x, y - 1.0),
           lambda ans, x, y: (ans + 1.0) * np.log(x),
           PerElement(lambda sy, x, y: x ** y - 1))

inv_boxcox1p = _b(sp.inv_boxcox1p, lambda ans, y, lmbda: (ans + 1.0) / (1.0 + lmbda * y),
                  lambda ans, y, lmbda: (ans + 1.0) * y * y * log1p_ratio_prime(lmbda * y),
                  _off_zero_lmbda("inv_boxcox1p",
                                  lambda sy, y, lmbda: (1 + lmbda * y) ** (1 / lmbda) - 1))


def _expn_dx(ans: Any, n: Any, x: Any) -> Any:
    lower = sp.expn(np.maximum(n - 1, 0), x)
    return np.where(np.asarray(n) >= 1, -lower, -ans * (1.0 + 1.0 / x))


def _integer_order(*args: Any) -> Any:
    raise NoRuleError("scipy.special.expn received a traced n, but adkit differentiates it only "
                      "in x: n is an integer order, so it has no derivative. Pass n as a plain "
                      "number or array (or adkit.stop_gradient(n) to treat it as a constant on "
                      "purpose).")


expn = _b(sp.expn, _integer_order, _expn_dx,
          NoSympy("SymPy's expint has no numeric printer in lambdify"))
