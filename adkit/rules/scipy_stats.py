"""scipy.stats: densities, distribution functions and their logs, differentiable in the
point and in every parameter.

Each method is written as plain NumPy and scipy.special math that the table already
differentiates, so no rule lives here: norm.logpdf is `-z**2/2 - log(scale) - ...`,
gamma.cdf is `gammainc(a, z)`, and every order of derivative follows from those
entries. SciPy's own methods (rv_continuous.logpdf, multivariate_normal.logpdf, ...)
are bound to these formulas (adkit/rules/scipy_binding.py): calls holding a traced
value come here, plain calls run SciPy's code.

What is differentiable:
- norm, t, beta, gamma, chi2: pdf, logpdf, cdf, logcdf, sf, logsf, in x, loc, scale
  and the shape parameters (df, a, b). The distribution functions of t, beta, gamma
  and chi2 are incomplete beta/gamma functions, differentiable once in their shape
  parameters (by quadrature, adkit/rules/special.py); a second derivative in a shape
  parameter there raises NoRuleError.
- poisson: pmf, logpmf, cdf, logcdf, sf, logsf in mu (k is a count: a traced k raises).
- multivariate_normal: pdf, logpdf in x, mean and cov; entropy in cov. With
  allow_singular=True and a rank-deficient cov, SciPy's pseudo-determinant and
  pseudo-inverse on the support (x - mean in cov's range; -inf outside it),
  differentiable along everything that keeps the rank (_pseudo_factors).
- dirichlet: pdf, logpdf in x and alpha.
- expon, laplace, logistic, cauchy, uniform, halfnorm, halfcauchy, gumbel_r, rayleigh,
  lognorm, invgamma, pareto, bernoulli, binom, geom, nbinom: adkit/rules/scipy_stats_more.py.
Frozen distributions work too: norm(loc, scale).logpdf(x) calls the bound methods, and
multivariate_normal(mean, cov) or dirichlet(alpha) with traced parameters gives a small
frozen object offering the methods above (SciPy's precomputes plain factorizations).
Values follow SciPy outside the support (logpdf -inf, cdf 0 or 1, derivatives 0 there)
and for invalid parameters (NaN where scale <= 0, for instance).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import scipy.special as sp
import scipy.stats as st

from ..table import COVERAGE, NoRuleError
from ..tracer import primal
from .helpers import ndim_of, shape_of
from .scipy_binding import bind, original
from .scipy_stats_base import (_LOG_2PI, _array_like, _clip01, _everywhere, _LocScale,
                               _nonnegative, _positive, _refuse_traced, _where)
from .scipy_stats_more import MORE_DISCRETE, MORE_UNIVARIATE


norm = _LocScale(
    "norm", (), lambda z: -0.5 * z * z - 0.5 * _LOG_2PI,
    cdf=lambda z: sp.ndtr(z), sf=lambda z: sp.ndtr(-z), support=_everywhere,
    logcdf=lambda z: sp.log_ndtr(z), logsf=lambda z: sp.log_ndtr(-z),
    ppf=sp.ndtri, isf=lambda q: -sp.ndtri(q))


def _t_logpdf(z: Any, df: Any) -> Any:
    return (sp.gammaln(0.5 * (df + 1.0)) - sp.gammaln(0.5 * df) - 0.5 * np.log(df * math.pi)
            - 0.5 * (df + 1.0) * np.log1p(z * z / df))


t = _LocScale("t", ("df",), _t_logpdf, cdf=lambda z, df: sp.stdtr(df, z),
              sf=lambda z, df: sp.stdtr(df, -z), support=_everywhere, valid=_positive,
              ppf=lambda q, df: sp.stdtrit(df, q), isf=lambda q, df: -sp.stdtrit(df, q))


def _beta_logpdf(z: Any, a: Any, b: Any) -> Any:
    return sp.xlogy(a - 1.0, z) + sp.xlog1py(b - 1.0, -z) - sp.betaln(a, b)


beta = _LocScale(
    "beta", ("a", "b"), _beta_logpdf,
    cdf=lambda z, a, b: sp.betainc(a, b, _clip01(z)),
    sf=lambda z, a, b: sp.betainc(b, a, 1.0 - _clip01(z)),
    support=lambda z, a, b: (z >= 0) & (z <= 1),
    valid=_positive, bounds=(0.0, 1.0), ppf=lambda q, a, b: sp.betaincinv(a, b, q),
    isf=lambda q, a, b: 1.0 - sp.betaincinv(b, a, q))


def _gamma_logpdf(z: Any, a: Any) -> Any:
    return sp.xlogy(a - 1.0, z) - z - sp.gammaln(a)


gamma = _LocScale(
    "gamma", ("a",), _gamma_logpdf,
    cdf=lambda z, a: sp.gammainc(a, _nonnegative(z)),
    sf=lambda z, a: sp.gammaincc(a, _nonnegative(z)),
    support=lambda z, a: z >= 0, valid=_positive, bounds=(0.0, np.inf),
    ppf=lambda q, a: sp.gammaincinv(a, q), isf=lambda q, a: sp.gammainccinv(a, q))

chi2 = _LocScale(
    "chi2", ("df",), lambda z, df: _gamma_logpdf(0.5 * z, 0.5 * df) - math.log(2.0),
    cdf=lambda z, df: sp.gammainc(0.5 * df, _nonnegative(0.5 * z)),
    sf=lambda z, df: sp.gammaincc(0.5 * df, _nonnegative(0.5 * z)),
    support=lambda z, df: z >= 0, valid=_positive, bounds=(0.0, np.inf),
    ppf=lambda q, df: 2.0 * sp.gammaincinv(0.5 * df, q),
    isf=lambda q, df: 2.0 * sp.gammainccinv(0.5 * df, q))

UNIVARIATE = {type(st.norm): norm, type(st.t): t, type(st.beta): beta, type(st.gamma): gamma,
              type(st.chi2): chi2}


# --- poisson ---------------------------------------------------------------------------------


class _Poisson:
    name = "poisson"

    def _args(self, method: str, k: Any, mu: Any, loc: Any = 0) -> tuple:
        _refuse_traced(f"scipy.stats.poisson.{method}", "k", k, "k is a count, a point "
                       "of a discrete distribution, so it has no derivative")
        _refuse_traced(f"scipy.stats.poisson.{method}", "loc", loc, "loc shifts the "
                       "integer support, so it has no derivative")
        k = np.asarray(k, dtype=float) - np.asarray(loc, dtype=float)
        mu = _array_like(mu)
        ok = np.asarray(primal(mu)) >= 0
        return k, mu, ok

    def logpmf(self, k: Any, mu: Any, loc: Any = 0) -> Any:
        k, mu, ok = self._args("logpmf", k, mu, loc)
        inside = (k >= 0) & (k == np.floor(k))
        kk = np.where(inside, k, 0.0)
        out = _where(inside, sp.xlogy(kk, mu) - sp.gammaln(kk + 1.0) - mu, -np.inf)
        return _where(ok, out, np.nan)

    def pmf(self, k: Any, mu: Any, loc: Any = 0) -> Any:
        return np.exp(self.logpmf(k, mu, loc))

    def _cdf(self, method: str, k: Any, mu: Any, loc: Any, upper: bool) -> Any:
        k, mu, ok = self._args(method, k, mu, loc)
        inside = k >= 0
        n = np.floor(np.where(inside, k, 0.0)) + 1.0
        # P(K <= k) = Q(k + 1, mu), the regularized upper incomplete gamma
        out = sp.gammainc(n, mu) if upper else sp.gammaincc(n, mu)
        out = _where(inside, out, 1.0 if upper else 0.0)
        return _where(ok, out, np.nan)

    def cdf(self, k: Any, mu: Any, loc: Any = 0) -> Any:
        return self._cdf("cdf", k, mu, loc, upper=False)

    def sf(self, k: Any, mu: Any, loc: Any = 0) -> Any:
        return self._cdf("sf", k, mu, loc, upper=True)

    def logcdf(self, k: Any, mu: Any, loc: Any = 0) -> Any:
        with np.errstate(divide="ignore"):
            return np.log(self.cdf(k, mu, loc))

    def logsf(self, k: Any, mu: Any, loc: Any = 0) -> Any:
        with np.errstate(divide="ignore"):
            return np.log(self.sf(k, mu, loc))


poisson = _Poisson()
DISCRETE = {type(st.poisson): poisson}
UNIVARIATE.update((type(getattr(st, d.name)), d) for d in MORE_UNIVARIATE)
DISCRETE.update((type(getattr(st, d.name)), d) for d in MORE_DISCRETE)


# --- multivariate normal and Dirichlet -----------------------------------------------------------


def _mvn_mean_cov(mean: Any, cov: Any) -> tuple:
    """mean as (d,) and cov as (d, d), from SciPy's shorthands (None, scalars, diagonals)."""
    if mean is not None and ndim_of(mean) >= 1:
        d = shape_of(mean)[0]
    elif ndim_of(cov) >= 1:
        d = shape_of(cov)[0]
    else:
        d = 1
    if mean is None:
        mean = np.zeros(d)
    elif ndim_of(mean) == 0:
        mean = mean * np.ones(d)
    if ndim_of(cov) == 0:
        cov = cov * np.eye(d)
    elif ndim_of(cov) == 1:
        cov = np.diag(cov)
    return mean, cov, d


def _mvn_parameters(x: Any, mean: Any, cov: Any) -> tuple:
    """x as (n, d) points, mean (d,), cov (d, d), and the shape SciPy gives the result."""
    mean, cov, d = _mvn_mean_cov(mean, cov)
    x_nd = ndim_of(x)
    if x_nd == 0:
        x = np.reshape(x, (1, 1))
    elif x_nd == 1:
        x = np.reshape(x, (-1, 1) if d == 1 else (1, -1))
    batch = shape_of(x)[:-1]
    return np.reshape(x, (-1, d)), mean, cov, d, batch


def _squeeze(out: Any, batch: tuple) -> Any:
    out = np.reshape(out, batch)
    return np.reshape(out, tuple(n for n in batch if n != 1))


def _mvn_logpdf(x: Any, mean: Any = None, cov: Any = 1, allow_singular: bool = False) -> Any:
    points, mean, cov, d, batch = _mvn_parameters(x, mean, cov)
    dev = points - mean
    singular = _singular_range(cov) if allow_singular else None
    if singular is None:
        # slogdet and solve read the whole matrix: the derivative in cov is the usual
        # -(inv(cov) - inv(cov) dev dev^T inv(cov))/2 for symmetric perturbations
        return _squeeze(_gaussian_log_density(dev, cov, d, np.linalg.slogdet(cov)[1]), batch)
    rank, logdet, inner, w = _pseudo_factors(cov, singular[0])
    # dev @ w: the coordinates of dev's part in the range
    out = _gaussian_log_density(dev @ w, inner, rank, logdet)
    off_range = np.linalg.norm(np.asarray(primal(dev)) @ singular[1], axis=-1)
    return _squeeze(_where(off_range < singular[2], out, -np.inf), batch)


def _gaussian_log_density(dev: Any, cov: Any, d: int, logdet: Any) -> Any:
    """log N(dev; 0, cov) per row of dev, for a d x d cov whose log determinant is logdet."""
    maha = np.sum(dev * np.transpose(np.linalg.solve(cov, np.transpose(dev))), axis=-1)
    return -0.5 * (d * _LOG_2PI + logdet + maha)


def _singular_range(cov: Any) -> tuple | None:
    """SciPy's view of a rank-deficient PSD cov (scipy.stats._multivariate._PSD: eigenvalues
    up to 1e6 machine epsilons of the largest count as zero): a plain basis U_r / s_r of
    its range, a basis of its null space, and the distance from the range beyond which a
    point is outside the support. None for a nonsingular cov."""
    s, u = np.linalg.eigh(np.asarray(primal(cov)))
    factor = 1e3 if s.dtype == np.float32 else 1e6
    eps = factor * np.finfo(s.dtype).eps * np.max(np.abs(s))
    keep = s > eps
    if np.all(keep):
        return None
    return u[:, keep] / s[keep], u[:, ~keep], 1e3 * eps


def _pseudo_factors(cov: Any, basis: np.ndarray) -> tuple:
    """(rank, log pseudo-determinant, W^T cov W, W) with W = cov @ basis.

    W spans the range of every cov of the same rank near this one, so on that manifold
    cov = W K W^T exactly, with pdet(cov) = det(W^T cov W) / det(W^T W) and pinv(cov) =
    W (W^T cov W)^-1 W^T: smooth formulas whose derivatives, to every order, are those
    of SciPy's pseudo-determinant and pseudo-inverse (the log pdet's gradient is
    pinv(cov); a perturbation that raises the rank, leaving the manifold, gets none).
    cov is symmetrized first, so the gradient is symmetric as SciPy's reading of one
    triangle implies for symmetric perturbations."""
    cov = 0.5 * (cov + np.transpose(cov))
    w = cov @ basis
    inner = np.transpose(w) @ cov @ w
    logdet = np.linalg.slogdet(inner)[1] - np.linalg.slogdet(np.transpose(w) @ w)[1]
    return basis.shape[1], logdet, inner, w


def _mvn_entropy(mean: Any = None, cov: Any = 1, allow_singular: bool = True) -> Any:
    # SciPy's entropy takes a singular cov unless a frozen one was told otherwise
    _, cov, d = _mvn_mean_cov(mean, cov)
    singular = _singular_range(cov) if allow_singular else None
    if singular is not None:
        rank, logdet, _, _ = _pseudo_factors(cov, singular[0])
        return 0.5 * (rank * (1.0 + _LOG_2PI) + logdet)
    return 0.5 * (d * (1.0 + _LOG_2PI) + np.linalg.slogdet(cov)[1])


def _dirichlet_logpdf(x: Any, alpha: Any) -> Any:
    k = shape_of(alpha)[0]
    if shape_of(x)[0] == k - 1:  # the last component is implied, as in SciPy
        x = np.concatenate([x, 1.0 - np.sum(x, axis=0, keepdims=True)], axis=0)
    a = np.reshape(alpha, (k,) + (1,) * (ndim_of(x) - 1))
    log_b = np.sum(sp.gammaln(alpha)) - sp.gammaln(np.sum(alpha))
    return np.sum(sp.xlogy(a - 1.0, x), axis=0) - log_b


def _validated(method: Callable, formula: Callable) -> Callable:
    """formula, after SciPy's own method has checked the plain values (its errors for
    bad shapes, a non-positive-definite cov, x off the simplex are SciPy's)."""
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        args = tuple(_array_like(a) for a in args)
        kwargs = {k: _array_like(v) for k, v in kwargs.items()}
        original(method)(self, *(primal(a) for a in args),
                         **{k: primal(v) for k, v in kwargs.items()})
        return formula(*args, **kwargs)
    return run


MVN, DIRICHLET = type(st.multivariate_normal), type(st.dirichlet)
MULTIVARIATE = {
    (MVN, "logpdf"): _mvn_logpdf,
    (MVN, "pdf"): lambda *a, **k: np.exp(_mvn_logpdf(*a, **k)),
    (MVN, "entropy"): _mvn_entropy,
    (DIRICHLET, "logpdf"): _dirichlet_logpdf,
    (DIRICHLET, "pdf"): lambda *a, **k: np.exp(_dirichlet_logpdf(*a, **k)),
}


class _Frozen:
    """multivariate_normal(mean, cov) or dirichlet(alpha) frozen with traced parameters:
    SciPy's frozen objects precompute plain factorizations, so these hold the parameters
    and call the formulas above."""

    def __init__(self, name: str, methods: dict, **params: Any) -> None:
        self._name, self._methods, self._params = name, methods, params
        for key, value in params.items():
            setattr(self, key, value)

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_") or method not in self._methods:
            raise AttributeError(
                f"scipy.stats.{self._name}(...) frozen with traced parameters offers "
                f"{', '.join(sorted(self._methods))}, not {method!r}")
        formula = self._methods[method]
        return lambda *args: formula(*(_array_like(a) for a in args), **self._params)


def _frozen_mvn(self: Any, mean: Any = None, cov: Any = 1, allow_singular: bool = False,
                seed: Any = None, **kwargs: Any) -> Any:
    mean_, cov_, _ = _mvn_mean_cov(_array_like(mean), _array_like(cov))
    return _Frozen("multivariate_normal",
                   {"logpdf": MULTIVARIATE[(MVN, "logpdf")], "pdf": MULTIVARIATE[(MVN, "pdf")],
                    "entropy": lambda **p: _mvn_entropy(**p)}, mean=mean_, cov=cov_,
                   allow_singular=allow_singular)


def _frozen_dirichlet(self: Any, alpha: Any, seed: Any = None) -> Any:
    return _Frozen("dirichlet", {"logpdf": _dirichlet_logpdf,
                                 "pdf": MULTIVARIATE[(DIRICHLET, "pdf")]},
                   alpha=_array_like(alpha))


# --- binding SciPy's methods ------------------------------------------------------------------


def _method(table: dict, method: str) -> Callable:
    """The handler for rv_continuous.METHOD (or rv_discrete's): by distribution type."""
    def handler(self: Any, *args: Any, **kwds: Any) -> Any:
        dist = table.get(type(self))
        if dist is None:
            raise NoRuleError(
                f"scipy.stats.{getattr(self, 'name', type(self).__name__)}.{method} received "
                "a traced value, but adkit differentiates scipy.stats only for "
                f"{', '.join(sorted(d.name for d in (*UNIVARIATE.values(), *DISCRETE.values())))}, "
                "multivariate_normal and dirichlet. Write the density with NumPy and "
                "scipy.special (which adkit differentiates), or pass "
                "adkit.stop_gradient(x) if no derivative should flow through it.")
        return getattr(dist, method)(*args, **kwds)
    return handler


for _cls, _table, _methods in (
        (st.rv_continuous, UNIVARIATE, ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "ppf",
                                        "isf")),
        (st.rv_discrete, DISCRETE, ("pmf", "logpmf", "cdf", "logcdf", "sf", "logsf"))):
    for _m in _methods:
        bind(getattr(_cls, _m), _method(_table, _m),
             f"scipy.stats.{_cls.__name__}.{_m}")
    for _dist in _table.values():
        for _m in _methods:
            if hasattr(_dist, _m):
                COVERAGE[f"scipy.stats.{_dist.name}.{_m}"] = ()

for (_cls, _m), _formula in MULTIVARIATE.items():
    _fn = getattr(_cls, _m)
    bind(_fn, _validated(_fn, _formula), f"scipy.stats.{_cls.__name__[:-4]}.{_m}", via=())
bind(MVN.__call__, _frozen_mvn, "scipy.stats.multivariate_normal.__call__")


def _plain_frozen_mvn(formula: Callable) -> Callable:
    """multivariate_normal(mean, cov) frozen with plain parameters, at a traced x (SciPy's
    frozen logpdf uses its precomputed factorization, which has no derivative in x)."""
    def run(self: Any, x: Any) -> Any:
        return formula(_array_like(x), self.mean, self.cov_object.covariance,
                       allow_singular=self.allow_singular)
    return run


_MVN_FROZEN = type(st.multivariate_normal(np.zeros(1), np.ones((1, 1))))
for _m in ("logpdf", "pdf"):
    bind(getattr(_MVN_FROZEN, _m), _plain_frozen_mvn(MULTIVARIATE[(MVN, _m)]),
         f"scipy.stats.multivariate_normal(...).{_m}")
bind(DIRICHLET.__call__, _frozen_dirichlet, "scipy.stats.dirichlet.__call__")
