"""More scipy.stats families, in the form of adkit/rules/scipy_stats.py: each method is plain
NumPy and scipy.special math the table differentiates, so every order follows.

Continuous (pdf, logpdf, cdf, logcdf, sf, logsf, and the quantiles ppf and isf, in the point,
loc, scale and the shape parameter):
expon, laplace, logistic, cauchy, uniform, halfnorm, halfcauchy, gumbel_r, rayleigh,
lognorm (s), invgamma (a), pareto (b).
Discrete (pmf, logpmf, cdf, logcdf, sf, logsf in the probability and real-valued parameters;
k, loc and the integer n of binom are counts, and a traced one raises): bernoulli (p),
binom (n, p), geom (p), nbinom (n, p).
Values follow SciPy's, outside the support and for invalid parameters (NaN) included.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import scipy.special as sp

from ..tracer import primal
from .scipy_stats_base import (_array_like, _everywhere, _LocScale, _nonnegative, _positive,
                               _refuse_traced, _safe, _where, bound_arguments)

_LOG_2 = math.log(2.0)


def _mask(z: Any, test: Callable) -> Any:
    return test(np.asarray(primal(z)))


def _at_least(z: Any, low: float) -> Any:
    """z where z >= low, else low (a plain fill: no derivative there)."""
    return _safe(_mask(z, lambda v: v >= low), z, low)


def _above_zero(z: Any) -> Any:
    return _safe(_mask(z, lambda v: v > 0), z, 1.0)


def _zero_below(z: Any, low: float, fn: Callable, below: float) -> Any:
    """fn(z) where z >= low, else the constant below."""
    return _where(_mask(z, lambda v: v >= low), fn(_at_least(z, low)), below)


def _on_positive(z: Any, fn: Callable, outside: float) -> Any:
    """fn(z) where z > 0, else the constant outside."""
    return _where(_mask(z, lambda v: v > 0), fn(_above_zero(z)), outside)


def _positive_support(z: Any, *shapes: Any) -> Any:
    return z > 0


def _nonnegative_support(z: Any, *shapes: Any) -> Any:
    return z >= 0


# --- continuous -------------------------------------------------------------------------------

expon = _LocScale(
    "expon", (), lambda z: -z,
    cdf=lambda z: -np.expm1(-_nonnegative(z)), sf=lambda z: np.exp(-_nonnegative(z)),
    logsf=lambda z: -_nonnegative(z), support=_nonnegative_support,
    bounds=(0.0, np.inf), ppf=lambda q: -np.log1p(-q), isf=lambda q: -np.log(q))


def _laplace_ppf(q: Any) -> Any:
    lower = _mask(q, lambda v: v <= 0.5)
    return _where(lower, np.log(2.0 * _safe(lower, q, 0.25)), 0.0) + _where(
        ~lower, -np.log(2.0 - 2.0 * _safe(~lower, q, 0.75)), 0.0)


def _laplace_cdf(z: Any) -> Any:
    left = _mask(z, lambda v: v <= 0)
    # each side's formula on its own side only: exp of the other side would overflow
    return _where(left, 0.5 * np.exp(_safe(left, z, 0.0)),
                  0.0) + _where(~left, 1.0 - 0.5 * np.exp(-_safe(~left, z, 0.0)), 0.0)


laplace = _LocScale(
    "laplace", (), lambda z: -np.abs(z) - _LOG_2,
    cdf=_laplace_cdf, sf=lambda z: _laplace_cdf(-z), support=_everywhere,
    ppf=_laplace_ppf, isf=lambda q: -_laplace_ppf(q))

logistic = _LocScale(
    "logistic", (), lambda z: sp.log_expit(z) + sp.log_expit(-z),
    cdf=sp.expit, sf=lambda z: sp.expit(-z), logcdf=sp.log_expit,
    logsf=lambda z: sp.log_expit(-z), support=_everywhere,
    ppf=sp.logit, isf=lambda q: -sp.logit(q))

cauchy = _LocScale(
    "cauchy", (), lambda z: -math.log(math.pi) - np.log1p(z * z),
    cdf=lambda z: 0.5 + np.arctan(z) / math.pi, sf=lambda z: 0.5 - np.arctan(z) / math.pi,
    support=_everywhere, ppf=lambda q: np.tan(math.pi * (q - 0.5)),
    isf=lambda q: -np.tan(math.pi * (q - 0.5)))

uniform = _LocScale(
    "uniform", (), lambda z: z * 0.0,
    cdf=lambda z: np.clip(z, 0.0, 1.0), sf=lambda z: 1.0 - np.clip(z, 0.0, 1.0),
    support=lambda z: (z >= 0) & (z <= 1), bounds=(0.0, 1.0),
    ppf=lambda q: q * 1.0, isf=lambda q: 1.0 - q)

halfnorm = _LocScale(
    "halfnorm", (), lambda z: 0.5 * math.log(2.0 / math.pi) - 0.5 * z * z,
    cdf=lambda z: sp.erf(_nonnegative(z) / math.sqrt(2.0)),
    sf=lambda z: 2.0 * sp.ndtr(-_nonnegative(z)),
    logsf=lambda z: _LOG_2 + sp.log_ndtr(-_nonnegative(z)), support=_nonnegative_support,
    bounds=(0.0, np.inf), ppf=lambda q: sp.ndtri(0.5 + 0.5 * q), isf=lambda q: -sp.ndtri(0.5 * q))

halfcauchy = _LocScale(
    "halfcauchy", (), lambda z: math.log(2.0 / math.pi) - np.log1p(z * z),
    cdf=lambda z: 2.0 / math.pi * np.arctan(_nonnegative(z)),
    sf=lambda z: 1.0 - 2.0 / math.pi * np.arctan(_nonnegative(z)),
    support=_nonnegative_support, bounds=(0.0, np.inf), ppf=lambda q: np.tan(0.5 * math.pi * q),
    isf=lambda q: np.tan(0.5 * math.pi * (1.0 - q)))

gumbel_r = _LocScale(
    "gumbel_r", (), lambda z: -z - np.exp(-z),
    cdf=lambda z: np.exp(-np.exp(-z)), sf=lambda z: -np.expm1(-np.exp(-z)),
    logcdf=lambda z: -np.exp(-z), support=_everywhere,
    ppf=lambda q: -np.log(-np.log(q)), isf=lambda q: -np.log(-np.log1p(-q)))

rayleigh = _LocScale(
    "rayleigh", (), lambda z: np.log(z) - 0.5 * z * z,
    cdf=lambda z: -np.expm1(-0.5 * _nonnegative(z) ** 2),
    sf=lambda z: np.exp(-0.5 * _nonnegative(z) ** 2),
    logsf=lambda z: -0.5 * _nonnegative(z) ** 2, support=_positive_support,
    bounds=(0.0, np.inf), ppf=lambda q: np.sqrt(-2.0 * np.log1p(-q)),
    isf=lambda q: np.sqrt(-2.0 * np.log(q)))


def _lognorm_logpdf(z: Any, s: Any) -> Any:
    log_z = np.log(z)
    return -np.log(s) - log_z - 0.5 * math.log(2.0 * math.pi) - log_z * log_z / (2.0 * s * s)


lognorm = _LocScale(
    "lognorm", ("s",), _lognorm_logpdf,
    cdf=lambda z, s: _on_positive(z, lambda w: sp.ndtr(np.log(w) / s), 0.0),
    sf=lambda z, s: _on_positive(z, lambda w: sp.ndtr(-np.log(w) / s), 1.0),
    support=_positive_support, valid=_positive,
    bounds=(0.0, np.inf), ppf=lambda q, s: np.exp(s * sp.ndtri(q)),
    isf=lambda q, s: np.exp(-s * sp.ndtri(q)))


def _invgamma_logpdf(z: Any, a: Any) -> Any:
    return -(a + 1.0) * np.log(z) - sp.gammaln(a) - 1.0 / z


invgamma = _LocScale(
    "invgamma", ("a",), _invgamma_logpdf,
    cdf=lambda z, a: _on_positive(z, lambda w: sp.gammaincc(a, 1.0 / w), 0.0),
    sf=lambda z, a: _on_positive(z, lambda w: sp.gammainc(a, 1.0 / w), 1.0),
    support=_positive_support, valid=_positive,
    bounds=(0.0, np.inf), ppf=lambda q, a: 1.0 / sp.gammainccinv(a, q),
    isf=lambda q, a: 1.0 / sp.gammaincinv(a, q))

pareto = _LocScale(
    "pareto", ("b",), lambda z, b: np.log(b) - (b + 1.0) * np.log(z),
    cdf=lambda z, b: _zero_below(z, 1.0, lambda w: -np.expm1(-b * np.log(w)), 0.0),
    sf=lambda z, b: _zero_below(z, 1.0, lambda w: np.exp(-b * np.log(w)), 1.0),
    support=lambda z, b: z >= 1, valid=_positive,
    bounds=(1.0, np.inf), ppf=lambda q, b: np.exp(-np.log1p(-q) / b),
    isf=lambda q, b: np.exp(-np.log(q) / b))


# --- discrete ---------------------------------------------------------------------------------


class _Discrete:
    """A discrete family: method(k, *params, loc=0). logpmf(k, *params) holds on the support
    (a plain mask from support(k, *plain params)); cdf(kf, *params) and sf at kf = floor(k)
    for kf at or above the lowest point, low."""

    def __init__(self, name: str, params: tuple[str, ...], logpmf: Callable, cdf: Callable,
                 sf: Callable, support: Callable, valid: Callable, low: int = 0,
                 high: Callable | None = None, counts: tuple[str, ...] = ()) -> None:
        self.name, self.params = name, params
        self._logpmf, self._cdf, self._sf = logpmf, cdf, sf
        self.support, self.valid, self.low = support, valid, low
        self.high = high  # plain params -> the highest point (cdf 1 and sf 0 from there)
        self.counts = counts  # integer parameters: no derivative

    def _args(self, method: str, args: tuple, kwds: dict) -> tuple:
        names = ("k",) + self.params + ("loc",)
        where = f"scipy.stats.{self.name}.{method}"
        values = bound_arguments(where, names, args, kwds)
        missing = [n for n in names[:-1] if n not in values]
        if missing:
            raise TypeError(f"{where} is missing {', '.join(missing)}")
        for count in ("k", "loc") + self.counts:
            _refuse_traced(where, count, values.get(count), f"{count} is a count (an integer "
                           "of the discrete distribution), so it has no derivative")
        k = np.asarray(values["k"], dtype=float) - np.asarray(values.get("loc", 0), dtype=float)
        params = tuple(_array_like(values[n]) for n in self.params)
        ok = np.asarray(self.valid(*(np.asarray(primal(p)) for p in params)))
        return k, params, ok

    def logpmf(self, *args: Any, **kwds: Any) -> Any:
        k, params, ok = self._args("logpmf", args, kwds)
        plain = tuple(np.asarray(primal(p)) for p in params)
        inside = (k >= self.low) & (k == np.floor(k)) & self.support(k, *plain)
        kk = np.where(inside, k, float(self.low))
        out = _where(inside, self._logpmf(kk, *params), -np.inf)
        return _where(ok, out, np.nan)

    def pmf(self, *args: Any, **kwds: Any) -> Any:
        return np.exp(self.logpmf(*args, **kwds))

    def _distribution(self, method: str, fn: Callable, args: tuple, kwds: dict,
                      below: float, above: float) -> Any:
        k, params, ok = self._args(method, args, kwds)
        plain = tuple(np.asarray(primal(p)) for p in params)
        kf = np.floor(k)
        top = self.high(*plain) if self.high is not None else np.inf
        inside = (kf >= self.low) & (kf < top)
        out = fn(np.where(inside, kf, float(self.low)), *params)
        out = _where(inside, out, 0.0)
        if not np.all(inside):
            out = out + np.where(kf < self.low, below, np.where(inside, 0.0, above))
        return _where(ok, out, np.nan)

    def cdf(self, *args: Any, **kwds: Any) -> Any:
        return self._distribution("cdf", self._cdf, args, kwds, 0.0, 1.0)

    def sf(self, *args: Any, **kwds: Any) -> Any:
        return self._distribution("sf", self._sf, args, kwds, 1.0, 0.0)

    def logcdf(self, *args: Any, **kwds: Any) -> Any:
        with np.errstate(divide="ignore"):
            return np.log(self.cdf(*args, **kwds))

    def logsf(self, *args: Any, **kwds: Any) -> Any:
        with np.errstate(divide="ignore"):
            return np.log(self.sf(*args, **kwds))


def _probability(p: Any) -> Any:
    return (p >= 0) & (p <= 1)


bernoulli = _Discrete(
    "bernoulli", ("p",), lambda k, p: sp.xlogy(k, p) + sp.xlog1py(1.0 - k, -p),
    cdf=lambda kf, p: 1.0 - p + 0.0 * kf, sf=lambda kf, p: p + 0.0 * kf,
    support=lambda k, p: k <= 1, valid=_probability, high=lambda p: 1.0)


def _binom_logpmf(k: Any, n: Any, p: Any) -> Any:
    return (sp.gammaln(n + 1.0) - sp.gammaln(k + 1.0) - sp.gammaln(n - k + 1.0)
            + sp.xlogy(k, p) + sp.xlog1py(n - k, -p))


binom = _Discrete(
    "binom", ("n", "p"), _binom_logpmf,
    cdf=lambda kf, n, p: sp.betainc(n - kf, kf + 1.0, 1.0 - p),
    sf=lambda kf, n, p: sp.betainc(kf + 1.0, n - kf, p),
    support=lambda k, n, p: k <= n,
    valid=lambda n, p: (n >= 0) & (n == np.floor(n)) & _probability(p),
    high=lambda n, p: n, counts=("n",))

geom = _Discrete(
    "geom", ("p",), lambda k, p: sp.xlog1py(k - 1.0, -p) + np.log(p),
    cdf=lambda kf, p: -np.expm1(kf * np.log1p(-p)), sf=lambda kf, p: np.exp(kf * np.log1p(-p)),
    support=lambda k, p: k >= 1, valid=lambda p: (p > 0) & (p <= 1), low=1)


def _nbinom_logpmf(k: Any, n: Any, p: Any) -> Any:
    return (sp.gammaln(n + k) - sp.gammaln(n) - sp.gammaln(k + 1.0) + n * np.log(p)
            + sp.xlog1py(k, -p))


nbinom = _Discrete(
    "nbinom", ("n", "p"), _nbinom_logpmf,
    cdf=lambda kf, n, p: sp.betainc(n, kf + 1.0, p),
    sf=lambda kf, n, p: sp.betainc(kf + 1.0, n, 1.0 - p),
    support=lambda k, n, p: k >= 0, valid=lambda n, p: (n > 0) & _probability(p))


MORE_UNIVARIATE = (expon, laplace, logistic, cauchy, uniform, halfnorm, halfcauchy, gumbel_r,
                   rayleigh, lognorm, invgamma, pareto)
MORE_DISCRETE = (bernoulli, binom, geom, nbinom)
