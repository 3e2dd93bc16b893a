"""scipy.special: binom, the Box-Cox transforms, huber, pseudo_huber, spence, ellipk,
ellipe and exprel, each one ufunc entry with its local derivatives (imported by
adkit/rules/special.py, whose conventions apply).

Derivatives that cancel where a parameter is near 0 are written with two stable helpers,
each made of NumPy operations (a power series near 0, the closed form away from it), so
they can be differentiated again to any order:
- exprel(z) = (e^z - 1)/z, exprel'(z) = ((z - 1) e^z + 1)/z^2 -> 1/2 at 0;
- boxcox(x, l) = log(x) exprel(l log x), so d/dl = log(x)^2 exprel'(l log x), which is
  log(x)^2 / 2 at l = 0 (boxcox1p: the same with log1p(x));
- inv_boxcox(y, l) = exp(y r(l y)) with r(u) = log1p(u)/u, so d/dl = ans y^2 r'(l y),
  -y^2 e^y / 2 at l = 0, and d/dy = ans / (1 + l y).
Others:
- binom(n, k) = Gamma(n+1) / (Gamma(k+1) Gamma(n-k+1)): d/dn = binom (psi(n+1) -
  psi(n-k+1)), d/dk = binom (psi(n-k+1) - psi(k+1)); off the poles of those digammas
  (where the binomial is an integer-argument limit, e.g. binom(2, 3) = 0, the rule is NaN).
- huber(delta, r): d/dr = clip(r, -delta, delta), d/ddelta = 0 inside |r| <= delta and
  |r| - delta outside (the kink |r| = delta takes the inside value).
- pseudo_huber(delta, r) = delta^2 (s - 1), s = sqrt(1 + (r/delta)^2): d/dr = r/s,
  d/ddelta = r t^3 / (s (s + 1)^2) with t = r/delta (no cancellation near r = 0).
- spence(z) = integral from 1 to z of log(t)/(1-t) dt: d/dz = log(z)/(1 - z) =
  -r(z - 1), -1 at z = 1.
- ellipk(m), ellipe(m) (parameter m = k^2): dK/dm = (E - (1-m) K) / (2 m (1-m)) and
  dE/dm = (E - K) / (2m); for |m| < 0.1 the derivatives of their power series
  (pi/8 and -pi/8 at m = 0).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np
import scipy.special as sp

from ..errors import NoSympyError
from ..table import PerElement
from .elementwise import binary, unary

_SERIES_TERMS = 24  # |z| < 1: the first omitted term of exprel' is below 1e-25
_LOG1P_TERMS = 40   # |u| < 1/4: the first omitted term of r' is below 1e-24


def _series(z: Any, coefficients: list[float]) -> Any:
    """sum_k c_k z^k by Horner's rule (NumPy operations: differentiable again)."""
    out = coefficients[-1] + 0.0 * z
    for c in reversed(coefficients[:-1]):
        out = out * z + c
    return out


_EXPREL_D = [k / math.factorial(k + 1) for k in range(1, _SERIES_TERMS + 1)]
_LOG1P_RATIO = [(-1.0) ** k / (k + 1) for k in range(_LOG1P_TERMS)]
_LOG1P_RATIO_D = [(-1.0) ** k * k / (k + 1) for k in range(1, _LOG1P_TERMS + 1)]


def _near_zero(z: Any, radius: float, away: float = 1.0) -> tuple[Any, Any]:
    """(whether |z| < radius, z moved to `away` there): the closed form sees no 0/0."""
    small = np.abs(z) < radius
    return small, np.where(small, away, z)


def exprel_prime(z: Any) -> Any:
    """d/dz (e^z - 1)/z, stable at and near 0."""
    small, safe = _near_zero(z, 1.0)
    closed = ((safe - 1.0) * np.exp(safe) + 1.0) / (safe * safe)
    return np.where(small, _series(np.where(small, z, 0.0), _EXPREL_D), closed)


def log1p_ratio(u: Any) -> Any:
    """log1p(u)/u, 1 at u = 0."""
    small, safe = _near_zero(u, 0.25)
    return np.where(small, _series(np.where(small, u, 0.0), _LOG1P_RATIO),
                    np.log1p(safe) / safe)


def log1p_ratio_prime(u: Any) -> Any:
    """d/du log1p(u)/u, -1/2 at u = 0."""
    small, safe = _near_zero(u, 0.25)
    closed = (safe / (1.0 + safe) - np.log1p(safe)) / (safe * safe)
    return np.where(small, _series(np.where(small, u, 0.0), _LOG1P_RATIO_D), closed)


def _u(ufunc: np.ufunc, d: Callable, sympy: Any) -> Any:
    return unary(ufunc, d, sympy, name="scipy.special." + ufunc.__name__)


def _b(ufunc: np.ufunc, dx: Callable, dy: Callable, sympy: Any) -> Any:
    return binary(ufunc, dx, dy, sympy, name="scipy.special." + ufunc.__name__)


# --- SymPy counterparts ---------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _sympy_functions(sy) -> dict:
    """SymPy functions that lambdify to SciPy's (each class carries SciPy's ufunc as its
    implementation) and differentiate into each other: SymPy's own elliptic_k, elliptic_e
    and polylog have no numeric printer in lambdify's 'scipy' module."""
    def function(name, ufunc, derivative):
        return type(name, (sy.Function,), {
            "nargs": 1, "_imp_": staticmethod(ufunc),
            "fdiff": lambda self, argindex=1: derivative(self.args[0])})
    k = function("scipy_ellipk", sp.ellipk,
                 lambda m: (e(m) - (1 - m) * k(m)) / (2 * m * (1 - m)))
    e = function("scipy_ellipe", sp.ellipe, lambda m: (e(m) - k(m)) / (2 * m))
    spence_ = function("scipy_spence", sp.spence, lambda z: sy.log(z) / (1 - z))
    return {"ellipk": k, "ellipe": e, "spence": spence_}


def _sympy_function(name: str) -> PerElement:
    return PerElement(lambda sy, x: _sympy_functions(sy)[name](x))


def _off_zero_lmbda(fname: str, formula: Callable) -> Callable:
    """A Box-Cox formula, which is 0/0 at lmbda = 0: there SymPy has no closed form to
    differentiate (SciPy takes the limit), so adkit.symbolic says so."""
    def rule(sy, at, x, lmbda):
        if np.any(np.asarray(at.values[1]) == 0):
            raise NoSympyError(f"scipy.special.{fname} at lmbda = 0 is a limit, which SymPy "
                               "cannot differentiate from the closed form; check it with "
                               "adkit.numeric instead")
        return np.frompyfunc(lambda a, b: formula(sy, a, b), 2, 1)(x, lmbda)
    return rule


exprel = _u(sp.exprel, lambda ans, x: exprel_prime(x),
            PerElement(lambda sy, x: (sy.exp(x) - 1) / x))

# --- Box-Cox ----------------------------------------------------------------------------------

boxcox = _b(sp.boxcox, lambda ans, x, lmbda: np.power(x, lmbda - 1.0),
            lambda ans, x, lmbda: np.log(x) ** 2 * exprel_prime(lmbda * np.log(x)),
            _off_zero_lmbda("boxcox", lambda sy, x, lmbda: (x ** lmbda - 1) / lmbda))
boxcox1p = _b(sp.boxcox1p, lambda ans, x, lmbda: np.power(1.0 + x, lmbda - 1.0),
              lambda ans, x, lmbda: np.log1p(x) ** 2 * exprel_prime(lmbda * np.log1p(x)),
              _off_zero_lmbda("boxcox1p", lambda sy, x, lmbda: ((1 + x) ** lmbda - 1) / lmbda))
inv_boxcox = _b(sp.inv_boxcox, lambda ans, y, lmbda: ans / (1.0 + lmbda * y),
                lambda ans, y, lmbda: ans * y * y * log1p_ratio_prime(lmbda * y),
                _off_zero_lmbda("inv_boxcox", lambda sy, y, lmbda: (1 + lmbda * y) ** (1 / lmbda)))

# --- binomial coefficient -----------------------------------------------------------------------

binom = _b(sp.binom, lambda ans, n, k: ans * (sp.digamma(n + 1.0) - sp.digamma(n - k + 1.0)),
           lambda ans, n, k: ans * (sp.digamma(n - k + 1.0) - sp.digamma(k + 1.0)),
           PerElement(lambda sy, n, k: sy.gamma(n + 1) / (sy.gamma(k + 1) *
                                                           sy.gamma(n - k + 1))))

# --- Huber losses -------------------------------------------------------------------------------


def _huber_ddelta(ans, delta, r):
    return np.where(np.abs(r) <= delta, 0.0, np.abs(r) - delta)


huber = _b(sp.huber, _huber_ddelta, lambda ans, delta, r: np.clip(r, -delta, delta),
           PerElement(lambda sy, delta, r: sy.Piecewise(
               (r ** 2 / 2, sy.Abs(r) <= delta), (delta * (sy.Abs(r) - delta / 2), True))))


def _pseudo_huber_ddelta(ans, delta, r):
    t = r / delta
    s = np.sqrt(1.0 + t * t)
    return r * t ** 3 / (s * (s + 1.0) ** 2)


pseudo_huber = _b(sp.pseudo_huber, _pseudo_huber_ddelta,
                  lambda ans, delta, r: r / np.sqrt(1.0 + (r / delta) ** 2),
                  PerElement(lambda sy, delta, r: delta ** 2 * (sy.sqrt(1 + (r / delta) ** 2)
                                                                - 1)))

# --- dilogarithm, complete elliptic integrals ---------------------------------------------------


def _spence_d(ans, z):
    return -log1p_ratio(z - 1.0)  # log(z)/(1 - z), -1 at z = 1


spence = _u(sp.spence, _spence_d, _sympy_function("spence"))


# K(m) = pi/2 sum a_n m^n and E(m) = pi/2 sum a_n m^n / (1 - 2n), a_n = (binom(2n, n) / 4^n)^2
_ELLIPTIC_TERMS = 22  # |m| < 0.1: the first omitted term is below 1e-23
_A = [(math.comb(2 * n, n) / 4.0 ** n) ** 2 for n in range(_ELLIPTIC_TERMS + 1)]
_ELLIPK_D = [math.pi / 2 * n * _A[n] for n in range(1, _ELLIPTIC_TERMS + 1)]
_ELLIPE_D = [math.pi / 2 * n * _A[n] / (1 - 2 * n) for n in range(1, _ELLIPTIC_TERMS + 1)]


def _ellipk_d(ans, m):
    small, safe = _near_zero(m, 0.1, away=0.5)
    closed = (sp.ellipe(safe) - (1.0 - safe) * ans) / (2.0 * safe * (1.0 - safe))
    return np.where(small, _series(np.where(small, m, 0.0), _ELLIPK_D), closed)


def _ellipe_d(ans, m):
    small, safe = _near_zero(m, 0.1, away=0.5)
    closed = (ans - sp.ellipk(safe)) / (2.0 * safe)
    return np.where(small, _series(np.where(small, m, 0.0), _ELLIPE_D), closed)


ellipk = _u(sp.ellipk, _ellipk_d, _sympy_function("ellipk"))
ellipe = _u(sp.ellipe, _ellipe_d, _sympy_function("ellipe"))
