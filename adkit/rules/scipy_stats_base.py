"""The shared parts of adkit's scipy.stats rules: a location-scale family built from its
standard form (_LocScale), and the masks and fills their formulas use. The families live in
adkit/rules/scipy_stats.py (norm, t, beta, gamma, chi2, poisson, the multivariate ones and the
binding of SciPy's methods) and adkit/rules/scipy_stats_more.py (the further families)."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..table import NoRuleError
from ..tracer import BoxBase, primal

_LOG_2PI = math.log(2.0 * math.pi)


def _refuse_traced(where: str, name: str, value: Any, why: str) -> None:
    if isinstance(value, BoxBase):
        raise NoRuleError(
            f"{where} received a traced {name}, but adkit does not differentiate it there: "
            f"{why}. Pass {name} as a plain number or array (or adkit.stop_gradient({name}) "
            "to treat it as a constant on purpose).")


def _where(mask: Any, value: Any, other: float) -> Any:
    """value where mask (a plain boolean array), else the constant other; value as is
    when mask holds everywhere (no extra node on the tape)."""
    if np.all(mask):
        return value
    return np.where(mask, value, other)


def _array_like(value: Any) -> Any:
    """A list or tuple argument (`norm.pdf([x0, x1])`, `cov=[[2.0, 0.3], [0.3, 1.0]]`) as an
    array: traced items make a traced array, as SciPy's own np.asarray would a plain one."""
    return np.asarray(value) if type(value) in (list, tuple) else value


#: value with a harmless fill where mask is False, so that a formula evaluated there (and
#: its derivative) stays finite; the result is replaced outside mask afterwards
_safe = _where


def bound_arguments(where: str, names: tuple, args: tuple, kwds: dict) -> dict:
    """SciPy's positional-or-keyword binding of a distribution method's arguments: name ->
    value for those given, refusing extra, unknown and repeated ones by name."""
    if len(args) > len(names):
        raise TypeError(f"{where} takes at most {len(names)} arguments "
                        f"({', '.join(names)}), got {len(args)}")
    values = dict(zip(names, args))
    for key, value in kwds.items():
        if key not in names or key in values:
            raise TypeError(f"{where} got an unexpected or repeated argument {key!r}; "
                            f"its arguments are {', '.join(names)}")
        values[key] = value
    return values


class _LocScale:
    """A location-scale family: method(x, *shape, loc=0, scale=1) from the standard
    form's log density, distribution function and survival function at z."""

    def __init__(self, name: str, shapes: tuple[str, ...], logpdf: Callable, cdf: Callable,
                 sf: Callable, support: Callable, logcdf: Callable | None = None,
                 logsf: Callable | None = None, valid: Callable | None = None,
                 ppf: Callable | None = None, isf: Callable | None = None,
                 bounds: tuple[float, float] = (-np.inf, np.inf)) -> None:
        self.name, self.shapes = name, shapes
        self._logpdf, self._cdf, self._sf = logpdf, cdf, sf
        self._logcdf, self._logsf = logcdf, logsf
        self._ppf, self._isf = ppf, isf  # the standard form's quantiles, at q in (0, 1)
        self.bounds = bounds  # the standard form's support: ppf at q = 0 and 1
        self.support = support  # plain z, shapes -> mask where the density's formula holds
        self.valid = valid or (lambda *shapes: True)

    def _args(self, method: str, args: tuple, kwds: dict) -> tuple:
        names = ("x",) + self.shapes + ("loc", "scale")
        defaults = {"loc": 0.0, "scale": 1.0}
        values = bound_arguments(f"scipy.stats.{self.name}.{method}", names, args, kwds)
        values = {key: _array_like(value) for key, value in values.items()}
        missing = [n for n in names if n not in values and n not in defaults]
        if missing:
            raise TypeError(f"scipy.stats.{self.name}.{method} is missing "
                            f"{', '.join(missing)}")
        x, loc, scale = (values[n] if n in values else defaults[n] for n in ("x", "loc", "scale"))
        shapes = tuple(values[n] for n in self.shapes)
        return x, shapes, loc, scale

    def _standard(self, method: str, args: tuple, kwds: dict):
        x, shapes, loc, scale = self._args(method, args, kwds)
        z = (x - loc) / scale
        ok = np.asarray(primal(scale)) > 0
        ok = ok & np.asarray(self.valid(*(primal(s) for s in shapes)))
        return z, shapes, scale, ok

    def logpdf(self, *args: Any, **kwds: Any) -> Any:
        return self._log_density("logpdf", args, kwds)

    def _log_density(self, method: str, args: tuple, kwds: dict) -> Any:
        z, shapes, scale, ok = self._standard(method, args, kwds)
        inside = self.support(primal(z), *(primal(s) for s in shapes))
        z_in = _safe(inside, z, 0.5)
        out = _where(inside, self._logpdf(z_in, *shapes) - np.log(_safe(ok, scale, 1.0)),
                     -np.inf)
        return _where(ok, out, np.nan)

    def pdf(self, *args: Any, **kwds: Any) -> Any:
        return np.exp(self._log_density("pdf", args, kwds))

    def _distribution(self, method: str, fn: Callable, args: tuple, kwds: dict) -> Any:
        z, shapes, scale, ok = self._standard(method, args, kwds)
        return _where(ok, fn(z, *shapes), np.nan)

    def cdf(self, *args: Any, **kwds: Any) -> Any:
        return self._distribution("cdf", self._cdf, args, kwds)

    def sf(self, *args: Any, **kwds: Any) -> Any:
        return self._distribution("sf", self._sf, args, kwds)

    def logcdf(self, *args: Any, **kwds: Any) -> Any:
        fn = self._logcdf or (lambda z, *s: np.log(self._cdf(z, *s)))
        with np.errstate(divide="ignore"):
            return self._distribution("logcdf", fn, args, kwds)

    def logsf(self, *args: Any, **kwds: Any) -> Any:
        fn = self._logsf or (lambda z, *s: np.log(self._sf(z, *s)))
        with np.errstate(divide="ignore"):
            return self._distribution("logsf", fn, args, kwds)

    def ppf(self, *args: Any, **kwds: Any) -> Any:
        return self._quantile("ppf", self._ppf, args, kwds)

    def isf(self, *args: Any, **kwds: Any) -> Any:
        return self._quantile("isf", self._isf, args, kwds)

    def _quantile(self, method: str, fn: Callable | None, args: tuple, kwds: dict) -> Any:
        if fn is None:
            raise NoRuleError(f"scipy.stats.{self.name}.{method} received a traced value, but "
                              f"adkit has no rule for {self.name}'s quantile function")
        if "q" in kwds:  # SciPy's name for the point of ppf and isf
            kwds = {("x" if k == "q" else k): v for k, v in kwds.items()}
        q, shapes, loc, scale = self._args(method, args, kwds)
        plain_q = np.asarray(primal(q), dtype=float)
        interior = (plain_q > 0) & (plain_q < 1)
        ok = (plain_q >= 0) & (plain_q <= 1) & (np.asarray(primal(scale)) > 0) & np.asarray(
            self.valid(*(primal(s) for s in shapes)))
        z = fn(_safe(interior, q, 0.5), *shapes)
        if not np.all(interior):  # q = 0 and 1 give the support's ends, as SciPy's do
            first, last = self.bounds if method == "ppf" else self.bounds[::-1]
            z = _where(interior, z, 0.0) + np.where(
                plain_q == 0, first, np.where(plain_q == 1, last, 0.0))
        with np.errstate(invalid="ignore"):
            return _where(ok, loc + scale * z, np.nan)


def _everywhere(z: Any, *shapes: Any) -> Any:
    return np.ones(np.shape(z), dtype=bool)


def _clip01(z: Any) -> Any:
    return np.clip(z, 0.0, 1.0)


def _nonnegative(z: Any) -> Any:
    return np.where(primal(z) > 0, z, 0.0)


def _positive(*shapes: Any) -> Any:
    ok = True  # shape parameters of different shapes broadcast (beta.pdf(x, a_vector, 2.0))
    for s in shapes:
        ok = ok & (np.asarray(s) > 0)
    return ok
