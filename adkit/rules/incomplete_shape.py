"""The derivatives of the regularized incomplete gamma and beta functions with respect to
their shape parameters, by adaptive quadrature (scipy.integrate.quad, relative 1e-13).

    dP(a, x)/da    = int_0^x (ln t - psi(a)) t^(a-1) e^-t dt / Gamma(a)
    dI_x(a, b)/da  = int_0^x (ln t - psi(a) + psi(a+b)) t^(a-1) (1-t)^(b-1) dt / B(a, b)

Over the whole range (0 to infinity, 0 to 1) each integral is 0: the derivative of a
probability that stays 1. Its integrand changes sign once, at t0 = exp(psi(a)) (gamma) or
exp(psi(a) - psi(a+b)) (beta). So below t0 the integral over [0, x] is taken and above it
minus the integral over [x, end]: either way the integrand keeps one sign and the sum has
no cancellation, which keeps the result accurate relative to itself in both tails.

The power t^(a-1) (a < 1) and (1-t)^(b-1) (b < 1) are singular at an end; there QUADPACK's
algebraic weights (QAWS: weight="alg", and "alg-loga" for the logarithm) integrate them
exactly, and elsewhere the integrand is evaluated in logs (no overflow for large shapes).
dI/db is the same with ln(1 - t) - psi(b) + psi(a+b) as the log factor.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np
import scipy.special as sp
from scipy import integrate

_EPSREL = 1e-13


def _quad(f: Callable, lo: float, hi: float, **kwargs: Any) -> float:
    with warnings.catch_warnings():
        # QUADPACK warns when it cannot reach 1e-13; what it reaches is still far better
        # than the 1e-10 the tests ask for
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return integrate.quad(f, lo, hi, epsabs=0.0, epsrel=_EPSREL, limit=400, **kwargs)[0]


def _gamma_tail_end(a: float) -> float:
    """Beyond this t the gamma density is below e^-700 of its peak."""
    return a + 40.0 * math.sqrt(a) + 800.0


def _dgammainc_da_one(a: float, x: float) -> float:
    if not (a > 0) or math.isnan(x) or x < 0:
        return math.nan
    if x == 0 or math.isinf(x):
        return 0.0
    psi, log_gamma = sp.digamma(a), sp.gammaln(a)
    if x <= math.exp(psi):  # lower integral, integrand <= 0
        if a < 1:  # t^(a-1) and t^(a-1) ln t as QAWS weights on [0, x]
            def scaled(t):
                return math.exp(-t - log_gamma)
            return (_quad(scaled, 0.0, x, weight="alg-loga", wvar=(a - 1.0, 0.0))
                    - psi * _quad(scaled, 0.0, x, weight="alg", wvar=(a - 1.0, 0.0)))

        def lower(t):
            return (math.log(t) - psi) * math.exp((a - 1.0) * math.log(t) - t - log_gamma) \
                if t > 0 else 0.0
        return _quad(lower, 0.0, x, points=[min(a - 1.0, x)] if 0 < a - 1.0 < x else None)

    def upper(t):  # integrand >= 0 above exp(psi)
        return (math.log(t) - psi) * math.exp((a - 1.0) * math.log(t) - t - log_gamma)
    end = _gamma_tail_end(a)
    if x >= end:
        return -_quad(upper, x, math.inf)
    mode = a - 1.0
    return -_quad(upper, x, end, points=[mode] if x < mode < end else None)


def _dbetainc_one(a: float, b: float, x: float, wrt_b: bool) -> float:
    """dI_x(a, b)/da, or /db: the log factor is ln t - (psi(a) - psi(a+b)), or
    ln(1-t) - (psi(b) - psi(a+b))."""
    if not (a > 0 and b > 0) or math.isnan(x):
        return math.nan
    if x <= 0 or x >= 1:
        return 0.0
    log_beta = sp.betaln(a, b)
    if wrt_b:
        shift = sp.digamma(b) - sp.digamma(a + b)
        below = math.log1p(-x) >= shift  # ln(1-t) falls through shift at 1 - e^shift

        def log_factor(t):
            return math.log1p(-t) - shift
    else:
        shift = sp.digamma(a) - sp.digamma(a + b)
        below = math.log(x) <= shift

        def log_factor(t):
            return math.log(t) - shift

    def whole(t):
        if t <= 0 or t >= 1:
            return 0.0
        return log_factor(t) * math.exp((a - 1.0) * math.log(t) + (b - 1.0) * math.log1p(-t)
                                        - log_beta)
    if below:  # over [0, x], where the integrand keeps one sign
        if a >= 1:
            return _quad(whole, 0.0, x)

        def smooth(t):  # t^(a-1) goes into the weight
            return math.exp((b - 1.0) * math.log1p(-t) - log_beta)
        if wrt_b:
            return _quad(lambda t: log_factor(t) * smooth(t), 0.0, x, weight="alg",
                         wvar=(a - 1.0, 0.0))
        return (_quad(smooth, 0.0, x, weight="alg-loga", wvar=(a - 1.0, 0.0))
                - shift * _quad(smooth, 0.0, x, weight="alg", wvar=(a - 1.0, 0.0)))
    if b >= 1:  # minus the integral over [x, 1]
        return -_quad(whole, x, 1.0)

    def smooth_upper(t):  # (1-t)^(b-1) goes into the weight
        return math.exp((a - 1.0) * math.log(t) - log_beta)
    if wrt_b:
        return -(_quad(smooth_upper, x, 1.0, weight="alg-logb", wvar=(0.0, b - 1.0))
                 - shift * _quad(smooth_upper, x, 1.0, weight="alg", wvar=(0.0, b - 1.0)))
    return -_quad(lambda t: log_factor(t) * smooth_upper(t), x, 1.0, weight="alg",
                  wvar=(0.0, b - 1.0))


def _elementwise(one: Callable, *args: Any) -> Any:
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in args))
    out = np.empty(arrays[0].shape)
    for index in np.ndindex(out.shape):
        out[index] = one(*(float(v[index]) for v in arrays))
    dtype = np.result_type(*(np.asarray(a).dtype for a in args), np.float32)
    out = out.astype(dtype if dtype.kind == "f" else np.float64)
    return out[()] if out.ndim == 0 else out


def dgammainc_da(a: Any, x: Any) -> Any:
    """d/da of scipy.special.gammainc(a, x) (minus that of gammaincc), elementwise."""
    return _elementwise(_dgammainc_da_one, a, x)


def dbetainc_da(a: Any, b: Any, x: Any) -> Any:
    """d/da of scipy.special.betainc(a, b, x), elementwise."""
    return _elementwise(lambda a, b, x: _dbetainc_one(a, b, x, False), a, b, x)


def dbetainc_db(a: Any, b: Any, x: Any) -> Any:
    """d/db of scipy.special.betainc(a, b, x), elementwise."""
    return _elementwise(lambda a, b, x: _dbetainc_one(a, b, x, True), a, b, x)
