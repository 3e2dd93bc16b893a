"""scipy.special: inverse distribution functions and a few more ufuncs, each one entry with
its local derivatives (imported by adkit/rules/scipy_special.py; the conventions of
adkit/rules/special.py apply).

Inverses, by the inverse function rule at the answer x (F(x) = y):
- gammaincinv(a, y): dx/dy = 1 / f(x), f = x^(a-1) e^-x / Gamma(a) the density;
  dx/da = -(dP/da)(a, x) / f(x), with dP/da by quadrature (once, as gammainc's).
- gammainccinv(a, y): dx/dy = -1 / f(x), dx/da = -(dP/da)(a, x) / f(x).
- betaincinv(a, b, y): dx/dy = 1 / f(x), f the beta density; dx/da, dx/db likewise from
  betainc's shape derivatives (once).
- stdtrit(df, p): dt/dp = 1 / f(t), f Student's density; dt/ddf = -(dF/ddf)(df, t) / f(t).
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

from ..table import NoSympy, PerElement, defprim
from .elementwise import _exp, binary
from .scipy_special import _off_zero_lmbda, log1p_ratio_prime
from .special import (_betainc_density, _constant, _stdtr_ddf, _student_t_density, betainc_da,
                      betainc_db, gammainc_da)

_INVERSE = NoSympy("an inverse distribution function has no SymPy closed form; adkit "
                   "differentiates it by the inverse function rule")


def _b(ufunc: np.ufunc, dx: Callable, dy: Callable, sympy: Any) -> Any:
    return binary(ufunc, dx, dy, sympy, safe=True, name="scipy.special." + ufunc.__name__)


def _inverse_gamma_slope(a: Any, x: Any) -> Any:
    """1 / f(x) for the gamma density f, in logs (no overflow where f underflows)."""
    return _exp(sp.gammaln(a) + x - sp.xlogy(a - 1.0, x))


gammaincinv = _b(sp.gammaincinv,
                 lambda ans, a, y: -gammainc_da(a, ans) * _inverse_gamma_slope(a, ans),
                 lambda ans, a, y: _inverse_gamma_slope(a, ans), _INVERSE)
gammainccinv = _b(sp.gammainccinv,
                  lambda ans, a, y: -gammainc_da(a, ans) * _inverse_gamma_slope(a, ans),
                  lambda ans, a, y: -_inverse_gamma_slope(a, ans), _INVERSE)


def _betaincinv_rule(d: Callable) -> tuple:
    """(jvp, vjp) of betaincinv in one argument, from d(a, b, x) at the answer x."""
    def jvp(g, ans, a, b, y):
        return g * d(a, b, ans)
    return jvp, (lambda ans, a, b, y: lambda g: jvp(g, ans, a, b, y))


_betaincinv_rules = [_betaincinv_rule(d) for d in (
    lambda a, b, x: -betainc_da(a, b, x) / _betainc_density(a, b, x),
    lambda a, b, x: -betainc_db(a, b, x) / _betainc_density(a, b, x),
    lambda a, b, x: 1.0 / _betainc_density(a, b, x))]
betaincinv = defprim("scipy.special.betaincinv", sp.betaincinv, elementwise=True,
                     numpy=sp.betaincinv, sympy=_INVERSE,
                     jvp=tuple(r[0] for r in _betaincinv_rules),
                     vjp=tuple(r[1] for r in _betaincinv_rules))

stdtrit = _b(sp.stdtrit,
             lambda ans, df, p: -_stdtr_ddf(p, df, ans) / _student_t_density(None, df, ans),
             lambda ans, df, p: 1.0 / _student_t_density(None, df, ans), _INVERSE)

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


expn = _b(sp.expn, _constant("scipy.special.expn", "n", "n is an integer order, so it has "
                             "no derivative"), _expn_dx,
          NoSympy("SymPy's expint has no numeric printer in lambdify"))
