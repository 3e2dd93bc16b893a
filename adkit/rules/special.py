"""scipy.special: rules for special functions, loaded on first use.

`import adkit` never imports SciPy. SciPy's special functions are ufuncs and
reach adkit through __array_ufunc__; adkit.dispatch imports this module the
first time one of them meets a traced value (and adkit.scope imports it when a
differentiation starts while scipy.special is loaded). Registering with
`numpy=scipy.special.f` puts each ufunc in table.UFUNCS.

Local derivatives are written with NumPy and scipy.special calls that are
themselves in the table (digamma' = polygamma(1, .), jv' uses jv), so every
rule can be differentiated again, to any order.

Parameters that are not differentiated. Orders are treated as constants: the
order v of jv/jn/yv/iv/ive/kv/kve, the integer n of polygamma/yn, the exponent s
of zeta(s, q). Passing a traced value there raises NoRuleError (pass a plain
number, or adkit.stop_gradient(v) to treat it as a constant on purpose).
Derivatives with respect to these parameters exist for some of them (the order
of a Bessel function) but are not implemented.

Shape parameters of the incomplete gamma and beta functions (gammainc,
gammaincc: a; betainc: a and b; stdtr: df) are differentiable once, by
quadrature (adkit/rules/incomplete_shape.py, relative error about 1e-13), and
again in x; a second derivative in a shape parameter raises NoRuleError.

Conventions:
- xlogy(x, y) = x log y and xlog1py: d/dx = log(y) (-inf at y = 0, as SciPy's
  and JAX's rules give) and d/dy = x / y, which is 0 where x = 0 (the function
  is identically 0 along x = 0), also at x = y = 0, where 0/0 is replaced by 0
  (second derivatives at that singular point are not meaningful: the Hessian
  of xlogy there has inf from log(y) and 1 from the patched x / y).
  A zero (co)tangent contributes nothing even where a derivative is infinite
  (helpers.times), so xlogy(0, 0) makes no NaNs: with a nonzero cotangent its
  gradient is (-inf, 0), with a zero one (0, 0).
- entr(x) = -x log x has derivative +inf at x = 0, rel_entr(x, y) -inf in x
  (one-sided limits); rel_entr and kl_div take d/dy = -x / y as 0 where x = 0.
- i0e, i1e, ive are e^{-|x|} times a Bessel function: the kink of |x| at 0
  gets derivative 0 there, as |x| does.
- logsumexp(a, b=...) is differentiable in a and b; with return_sign=True the
  sign is a plain array (piecewise constant, no derivative) and the value
  log|sum b e^a| has derivative sign * b * e^(a - value).
- softmax, log_softmax, logsumexp and polygamma/multigammaln are Python
  functions in SciPy, which never reach NumPy's dispatch protocols. They are
  bound to their rules here (adkit/rules/scipy_binding.py): the function
  objects themselves send traced arguments to the table, so any spelling works,
  `from scipy.special import logsumexp` at the top of a module included.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np
import scipy.special as sp

from ..table import (COVERAGE, FUNCTIONS, NoRuleError, NoSympy, PerElement, defnondiff,
                     defprim, handles)
from ..tracer import primal
from .elementwise import _exp, _sym_cbrt, binary, unary
from .incomplete_shape import dbetainc_da, dbetainc_db, dgammainc_da
from .helpers import (batch_axes, batch_ndim, dtype_of, ndim_of, normalize_axes, normalize_axis,
                      quietly, shape_of, times)
from .reductions import expand_back
from .scipy_binding import bind

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / _SQRT_PI
_INV_SQRT_2PI = 1.0 / _SQRT_2PI


def _name(fn: Any) -> str:
    return "scipy.special." + fn.__name__


def _u(ufunc: np.ufunc, d: Callable, sympy: Any = None, *, safe: bool = False):
    return unary(ufunc, d, sympy, safe=safe, name=_name(ufunc))


def _b(ufunc: np.ufunc, dx: Callable, dy: Callable, sympy: Any = None, *,
       safe: bool = False, name: str | None = None):
    return binary(ufunc, dx, dy, sympy, safe=safe, name=name or _name(ufunc))


# --- SymPy counterparts (adkit.symbolic) -----------------------------------------------------
# In this module `sp` is scipy.special, so the SymPy module reaches these rules as `sy`.
# A plain SymPy name is used only where SymPy's function is SciPy's on the real line
# (same argument order; sympy.loggamma equals scipy.special.loggamma where SciPy's
# real version is defined, x > 0).

def _sym_log_abs(sympy_fn: Callable, sign: Callable, positive: Callable) -> Callable:
    """log|f(*args)| as log(s * f) with f's sign s taken at the point; `positive` (used
    where every argument is positive, so f > 0) is the form without a sign."""
    def rule(sy, at, *args):
        s = np.sign(sign(*at.values))
        pos = np.all([np.asarray(v) > 0 for v in np.broadcast_arrays(*at.values)], axis=0)
        if not np.all(pos):
            at.branch("sign")

        def one(p, s, *a):
            return positive(sy, *a) if p else sy.log(int(s) * sympy_fn(sy, *a))
        return np.frompyfunc(one, 2 + len(args), 1)(pos, s, *args)
    return rule


_SYM_GAMMALN = _sym_log_abs(lambda sy, x: sy.gamma(x), lambda x: sp.gammasgn(x),
                            lambda sy, x: sy.loggamma(x))
_SYM_BETALN = _sym_log_abs(lambda sy, a, b: sy.beta(a, b), lambda a, b: sp.beta(a, b),
                           lambda sy, a, b: sy.loggamma(a) + sy.loggamma(b)
                           - sy.loggamma(a + b))


@functools.lru_cache(maxsize=None)
def _sympy_functions(sy) -> dict:
    """SymPy functions made to SciPy's measure (built on first use: only adkit.symbolic
    imports SymPy).

    besselj, besseli: SymPy rewrites J(v, -z) as z^v (-z)^-v J(v, z), complex powers of
    a positive argument (e.g. J(1.5, 2.2 - x)); these never reflect. gammainc, gammaincc,
    betainc: SciPy's regularized functions as single calls, lambdified to SciPy's; as
    lowergamma(a, x)/gamma(a) or betainc_regularized, lambdify prints
    gamma(a)*gammainc(a, x) and betainc(a, b, x) - betainc(a, b, 0) unbracketed, so a
    power of them applies to the last factor only."""
    from ..errors import NoSympyError

    def unreflected(base):
        class Unreflected(base):
            @classmethod
            def eval(cls, nu, z):
                return None if z.could_extract_minus_sign() else base.eval(nu, z)
        Unreflected.__name__ = Unreflected.__qualname__ = base.__name__  # printed as base
        return Unreflected

    def regularized(name, fn, density):
        def fdiff(self, argindex=1):
            if argindex != len(self.args):  # the shape's derivative is a quadrature
                raise NoSympyError(f"scipy.special.{fn.__name__}'s derivative in its shape "
                                   "parameter has no closed form (adkit integrates it "
                                   "numerically)")
            return density(*self.args)
        return type(name, (sy.Function,), {
            "nargs": fn.nin, "_imp_": staticmethod(fn), "fdiff": fdiff,
            "_eval_is_extended_real": lambda self: self.args[-1].is_extended_real})

    def gamma_density(a, x):
        return x ** (a - 1) * sy.exp(-x) / sy.gamma(a)
    return {
        "besselj": unreflected(sy.besselj), "besseli": unreflected(sy.besseli),
        "besselk": sy.besselk, "bessely": sy.bessely,
        "gammainc": regularized("scipy_gammainc", sp.gammainc, gamma_density),
        "gammaincc": regularized("scipy_gammaincc", sp.gammaincc,
                                 lambda a, x: -gamma_density(a, x)),
        "betainc": regularized("scipy_betainc", sp.betainc, lambda a, b, x:
                               x ** (a - 1) * (1 - x) ** (b - 1) / sy.beta(a, b)),
    }


def _sympy_function(name: str) -> PerElement:
    return PerElement(lambda sy, *args: _sympy_functions(sy)[name](*args))


def _normal_cdf(sy, x):
    # erfc(-x/sqrt 2), not 1 + erf(x/sqrt 2), and unevaluated: SymPy would rewrite it as
    # 2 - erfc(x/sqrt 2), which cancels to nothing in the left tail
    return sy.erfc(-x / sy.sqrt(2), evaluate=False) / 2


def _refusal(message: str) -> Callable:
    """The 'rule' for a derivative adkit does not take: it raises NoRuleError(message)."""
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NoRuleError(message)
    return refuse


def _constant(fname: str, arg: str, why: str) -> Callable:
    """The 'rule' for a parameter adkit does not differentiate: it explains, then raises."""
    return _refusal(
        f"{fname} received a traced {arg}, but adkit differentiates it only in its "
        f"other argument(s): {why}. Pass {arg} as a plain number or array (or "
        f"adkit.stop_gradient({arg}) to treat it as a constant on purpose).")


_ORDER = "the derivative with respect to the order is not implemented"
_INTEGER = "it is defined for integer orders only, so it has no derivative there"


# --- logistic functions ---------------------------------------------------------------------

expit = _u(sp.expit, lambda ans, x: ans * (1.0 - ans),
           PerElement(lambda sy, x: 1 / (1 + sy.exp(-x))))
logit = _u(sp.logit, lambda ans, x: 1.0 / (x * (1.0 - x)),
           PerElement(lambda sy, x: sy.log(x / (1 - x))), safe=True)
log_expit = _u(sp.log_expit, lambda ans, x: sp.expit(-x),
               PerElement(lambda sy, x: -sy.log(1 + sy.exp(-x))))

# --- gamma function and relatives ---------------------------------------------------------


def _float_like(r: Any, x: Any) -> Any:
    """r in x's floating dtype (float32 stays float32); 0-d arrays as scalars."""
    dt = np.result_type(dtype_of(x), np.float32)
    if getattr(r, "dtype", dt) != dt:
        r = r.astype(dt)
    return r[()] if getattr(r, "ndim", None) == 0 else r


def _polygamma_impl(n: Any, x: Any) -> Any:
    return _float_like(sp.polygamma(n, x), x)


# polygamma(n, x) is a Python function in SciPy (not a ufunc): a primitive of its own,
# reached through FUNCTIONS while scope swaps scipy.special.polygamma.
_n_refuse = _constant("scipy.special.polygamma", "n", _INTEGER)
polygamma = defprim(
    "scipy.special.polygamma", _polygamma_impl, elementwise=True, sympy="polygamma",
    jvp=(_n_refuse, lambda g, ans, n, x: g * polygamma(n + 1, x)),
    vjp=(_n_refuse, lambda ans, n, x: lambda g: g * polygamma(n + 1, x)))

# gammaln is log|Gamma|, real for x < 0 too (sympy.loggamma is complex there)
gammaln = _u(sp.gammaln, lambda ans, x: sp.digamma(x), _SYM_GAMMALN)
loggamma = _u(sp.loggamma, lambda ans, x: sp.digamma(x), "loggamma")
gamma = _u(sp.gamma, lambda ans, x: ans * sp.digamma(x), "gamma")
def _rgamma_d(ans, x):
    """-digamma(x)/Gamma(x), whose limit at the zeros x = -n of 1/Gamma is (-1)^n n!
    (there digamma is infinite and 1/Gamma zero)."""
    pole = (x <= 0) & (x == np.round(x))
    n = np.where(pole, -x, 0.0)
    return np.where(pole, (-1.0) ** n * sp.gamma(n + 1.0),
                    -ans * sp.digamma(np.where(pole, 1.0, x)))


rgamma = _u(sp.rgamma, _rgamma_d, PerElement(lambda sy, x: 1 / sy.gamma(x)))
digamma = _u(sp.digamma, lambda ans, x: polygamma(1, x), "digamma")  # also scipy.special.psi
gammasgn = defnondiff(_name(sp.gammasgn), sp.gammasgn, numpy=sp.gammasgn)

beta = _b(sp.beta, lambda ans, a, b: ans * (sp.digamma(a) - sp.digamma(a + b)),
          lambda ans, a, b: ans * (sp.digamma(b) - sp.digamma(a + b)), "beta")
betaln = _b(sp.betaln, lambda ans, a, b: sp.digamma(a) - sp.digamma(a + b),
            lambda ans, a, b: sp.digamma(b) - sp.digamma(a + b), _SYM_BETALN)


def _gammainc_density(ans, a, x):
    """d/dx of the regularized lower incomplete gamma: x^(a-1) e^-x / Gamma(a)."""
    return _exp(sp.xlogy(a - 1.0, x) - x - sp.gammaln(a))


# d/da of the regularized incomplete gamma and beta functions, by quadrature
# (adkit/rules/incomplete_shape.py): primitives of their own, differentiable once more in x;
# a second derivative in a shape parameter is refused
_NO_SYMPY_SHAPE = NoSympy("the derivative of an incomplete gamma/beta function in its shape "
                          "parameter has no closed form; adkit integrates it numerically")


def _second_in_shape(fname: str, arg: str) -> Callable:
    return _refusal(
        f"the second derivative of {fname} with respect to its shape parameter {arg} is "
        "not implemented (adkit computes the first one by quadrature; scipy.special.stdtr's "
        "df and the shape parameters of scipy.stats' t, beta, gamma and chi2 cdf/sf reach "
        "it too). Differentiate once in the shape parameter, or pass it as a plain number "
        "(adkit.stop_gradient) for higher derivatives in x")


def _local_rule(d: Callable) -> tuple:
    """(jvp, vjp) multiplying by the local derivative d(*args), with the inf * 0 rule."""
    def jvp(g, ans, *args):
        return times(g, quietly(d, *args))
    return jvp, (lambda ans, *args: lambda g: jvp(g, ans, *args))


def _dgammainc_da_dx(a, x):
    return _gammainc_density(None, a, x) * (np.log(x) - sp.digamma(a))


def _betainc_density(a, b, x):
    """d/dx of the regularized incomplete beta: x^(a-1) (1-x)^(b-1) / B(a, b)."""
    return _exp(sp.xlogy(a - 1.0, x) + sp.xlog1py(b - 1.0, -x) - sp.betaln(a, b))


_refuse_a = _second_in_shape("scipy.special.gammainc", "a")
_gammainc_da_x = _local_rule(_dgammainc_da_dx)
gammainc_da = defprim("scipy.special.gammainc (d/da)", dgammainc_da, elementwise=True,
                      sympy=_NO_SYMPY_SHAPE, jvp=(_refuse_a, _gammainc_da_x[0]),
                      vjp=(_refuse_a, _gammainc_da_x[1]))

_refuse_ab = (_second_in_shape("scipy.special.betainc", "a"),
              _second_in_shape("scipy.special.betainc", "b"))
_betainc_da_x = _local_rule(lambda a, b, x: _betainc_density(a, b, x) * (
    np.log(x) - sp.digamma(a) + sp.digamma(a + b)))
_betainc_db_x = _local_rule(lambda a, b, x: _betainc_density(a, b, x) * (
    np.log1p(-x) - sp.digamma(b) + sp.digamma(a + b)))
betainc_da = defprim("scipy.special.betainc (d/da)", dbetainc_da, elementwise=True,
                     sympy=_NO_SYMPY_SHAPE, jvp=(*_refuse_ab, _betainc_da_x[0]),
                     vjp=(*_refuse_ab, _betainc_da_x[1]))
betainc_db = defprim("scipy.special.betainc (d/db)", dbetainc_db, elementwise=True,
                     sympy=_NO_SYMPY_SHAPE, jvp=(*_refuse_ab, _betainc_db_x[0]),
                     vjp=(*_refuse_ab, _betainc_db_x[1]))

gammainc = _b(sp.gammainc, lambda ans, a, x: gammainc_da(a, x),
              _gammainc_density, _sympy_function("gammainc"), safe=True)
gammaincc = _b(sp.gammaincc, lambda ans, a, x: -gammainc_da(a, x),
               lambda ans, a, x: -_gammainc_density(ans, a, x),
               _sympy_function("gammaincc"), safe=True)


# in a and b the shape derivatives by quadrature, in x the density
_betainc_jvps, _betainc_vjps = zip(*(_local_rule(d) for d in (betainc_da, betainc_db,
                                                             _betainc_density)))
betainc = defprim(_name(sp.betainc), sp.betainc, elementwise=True, numpy=sp.betainc,
                  sympy=_sympy_function("betainc"), jvp=_betainc_jvps, vjp=_betainc_vjps)

# Hurwitz zeta(s, q): scipy.special.zeta(s, q) is a Python function calling this ufunc
_zeta_ufunc = getattr(getattr(sp, "_ufuncs", None), "_zeta", None)
if isinstance(_zeta_ufunc, np.ufunc):
    hurwitz_zeta = _b(_zeta_ufunc, _constant("scipy.special.zeta", "s", "the derivative "
                                             "with respect to s is not implemented"),
                      lambda ans, s, q: -s * _zeta_ufunc(s + 1.0, q), "zeta",
                      name="scipy.special.zeta")

    # scipy.special.zeta(s, q) reaches the ufunc above by itself; listed for docs/coverage.md
    @handles(sp.zeta, via=hurwitz_zeta)
    def _zeta(x, q=None, out=None):
        if q is None or out is not None:
            raise NoRuleError("scipy.special.zeta is differentiable as the Hurwitz zeta "
                              "function zeta(s, q) in q, without out=")
        return hurwitz_zeta(x, q)


def _multigammaln(a: Any, d: Any) -> Any:
    """log of the multivariate gamma function: a composition of gammaln."""
    d = primal(d)
    if not np.isscalar(d) or np.floor(d) != d:
        raise ValueError("d should be a positive integer (dimension)")
    d = int(d)
    if np.any(primal(a) <= 0.5 * (d - 1)):
        raise ValueError(f"condition a ({primal(a)}) > 0.5 * (d-1) ({0.5 * (d - 1)}) not met")
    out = sp.gammaln(a)
    for j in range(1, d):
        out = out + sp.gammaln(a - 0.5 * j)
    return out + (d * (d - 1) * 0.25) * math.log(math.pi)


handles(sp.multigammaln, via=gammaln)(_multigammaln)

# --- error function and normal distribution -----------------------------------------------

erf = _u(sp.erf, lambda ans, x: _TWO_OVER_SQRT_PI * _exp(-x * x), "erf")
erfc = _u(sp.erfc, lambda ans, x: -_TWO_OVER_SQRT_PI * _exp(-x * x), "erfc")
erfi = _u(sp.erfi, lambda ans, x: _TWO_OVER_SQRT_PI * _exp(x * x), "erfi")
erfcx = _u(sp.erfcx, lambda ans, x: 2.0 * x * ans - _TWO_OVER_SQRT_PI,
           PerElement(lambda sy, x: sy.exp(x * x) * sy.erfc(x)))
erfinv = _u(sp.erfinv, lambda ans, x: 0.5 * _SQRT_PI * _exp(ans * ans), "erfinv", safe=True)
erfcinv = _u(sp.erfcinv, lambda ans, x: -0.5 * _SQRT_PI * _exp(ans * ans), "erfcinv",
             safe=True)
dawsn = _u(sp.dawsn, lambda ans, x: 1.0 - 2.0 * x * ans,
           PerElement(lambda sy, x: sy.sqrt(sy.pi) / 2 * sy.exp(-x * x) * sy.erfi(x)))
ndtr = _u(sp.ndtr, lambda ans, x: _INV_SQRT_2PI * _exp(-0.5 * x * x), PerElement(_normal_cdf))
# pdf / cdf written as exp(-x^2/2 - log_ndtr(x)): stable far in the left tail
log_ndtr = _u(sp.log_ndtr, lambda ans, x: _INV_SQRT_2PI * _exp(-0.5 * x * x - ans),
              PerElement(lambda sy, x: sy.log(_normal_cdf(sy, x))))
# the inverse of erfc(-x/sqrt 2)/2, written with erfcinv for the same accuracy
ndtri = _u(sp.ndtri, lambda ans, x: _SQRT_2PI * _exp(0.5 * ans * ans),
           PerElement(lambda sy, x: -sy.sqrt(2) * sy.erfcinv(2 * x)), safe=True)
if isinstance(getattr(sp, "ndtri_exp", None), np.ufunc):
    ndtri_exp = _u(sp.ndtri_exp, lambda ans, y: _SQRT_2PI * _exp(y + 0.5 * ans * ans),
                   PerElement(lambda sy, y: -sy.sqrt(2) * sy.erfcinv(2 * sy.exp(y))))

# --- exponential integrals and SciPy's own elementary functions ------------------------------

expi = _u(sp.expi, lambda ans, x: _exp(x) / x, "Ei", safe=True)
# E1(x) = -Ei(-x) for x > 0, where SciPy's real exp1 is defined (sympy.E1 is expint(1, x),
# which lambdify cannot evaluate)
exp1 = _u(sp.exp1, lambda ans, x: -_exp(-x) / x, PerElement(lambda sy, x: -sy.Ei(-x)), safe=True)
sp_log1p = _u(sp.log1p, lambda ans, x: 1.0 / (x + 1.0), PerElement(lambda sy, x: sy.log(1 + x)),
              safe=True)
sp_expm1 = _u(sp.expm1, lambda ans, x: ans + 1.0, PerElement(lambda sy, x: sy.exp(x) - 1))
sp_exp2 = _u(sp.exp2, lambda ans, x: ans * math.log(2.0),
             PerElement(lambda sy, x: sy.Integer(2) ** x))
sp_exp10 = _u(sp.exp10, lambda ans, x: ans * math.log(10.0),
              PerElement(lambda sy, x: sy.Integer(10) ** x))
# the real cube root (sympy.cbrt is the principal, complex, root for x < 0)
sp_cbrt = _u(sp.cbrt, lambda ans, x: 1.0 / (3.0 * ans * ans), _sym_cbrt, safe=True)
cosm1 = _u(sp.cosm1, lambda ans, x: -np.sin(x), PerElement(lambda sy, x: sy.cos(x) - 1))

def _student_t_density(ans, df, t):
    """d/dt of Student's t CDF: the density Gamma((df+1)/2) / (sqrt(df pi) Gamma(df/2))
    (1 + t^2/df)^(-(df+1)/2), in logs for large df."""
    return _exp(sp.gammaln(0.5 * (df + 1.0)) - sp.gammaln(0.5 * df)
                - 0.5 * np.log(df * math.pi) - 0.5 * (df + 1.0) * np.log1p(t * t / df))


def _sym_stdtr(sy, at, df, t):
    """1 - I_x(df/2, 1/2)/2 for t >= 0 and I_x(df/2, 1/2)/2 below, x = df/(df + t^2), with
    SciPy's regularized incomplete beta; the side is taken at the point (recorded as a
    branch). Exact away from t = 0, where the tail's derivative is 0 * inf."""
    side = np.broadcast_to(np.asarray(primal(at.values[1]), dtype=float), np.shape(at.ans))
    at.branch("sign of t")
    regularized = _sympy_functions(sy)["betainc"]

    def one(s, d, x):
        tail = regularized(d / 2, sy.Rational(1, 2), d / (d + x * x)) / 2
        return 1 - tail if s >= 0 else tail
    return np.frompyfunc(one, 3, 1)(side, df, t)


def _stdtr_ddf(ans, df, t):
    """d/d df of Student's t CDF. With x = df/(df + t^2), stdtr is 1 - I_x(df/2, 1/2)/2 for
    t >= 0 and I_x(df/2, 1/2)/2 below, so d/d df = -sign(t) dI/da / 4 - I'(x) t^2 sign(t)
    / (2 (df + t^2)^2), where t^2 (1-x)^(-1/2) = |t| sqrt(df + t^2) keeps t = 0 exact."""
    s = df + t * t
    a = 0.5 * df
    x = df / s
    dx_term = _exp(sp.xlogy(a - 1.0, x) - sp.betaln(a, 0.5)) * np.sqrt(s) / (2.0 * s * s)
    return -np.sign(t) * betainc_da(a, 0.5, x) / 4.0 - t * dx_term


# Student's t CDF (scipy.stats.t.cdf), differentiable in df and t
stdtr = _b(sp.stdtr, _stdtr_ddf, _student_t_density, _sym_stdtr, safe=True)

# --- x log y and entropies ----------------------------------------------------------------------


def _where_x_zero(x: Any, y: Any) -> Any:
    """y, with 1 where x == y == 0, so that x / y is 0 there rather than NaN (see the
    module docstring). Only that point is replaced: elsewhere x / y keeps its own
    derivatives (d/dx (x / y) = 1 / y at x = 0), which second derivatives need."""
    x_, y_ = primal(x), primal(y)
    both = (x_ == 0) & (y_ == 0)
    return np.where(both, 1.0, y) if np.any(both) else y


# (SymPy: the formulas where they are smooth, x != 0 and y > 0)
xlogy = _b(sp.xlogy, lambda ans, x, y: np.log(y),
           lambda ans, x, y: x / _where_x_zero(x, y), PerElement(lambda sy, x, y: x * sy.log(y)),
           safe=True)
xlog1py = _b(sp.xlog1py, lambda ans, x, y: np.log1p(y),
             lambda ans, x, y: x / _where_x_zero(x, y + 1.0),
             PerElement(lambda sy, x, y: x * sy.log(1 + y)), safe=True)
entr = _u(sp.entr, lambda ans, x: -(np.log(x) + 1.0), PerElement(lambda sy, x: -x * sy.log(x)),
          safe=True)
rel_entr = _b(sp.rel_entr, lambda ans, x, y: np.log(x) - np.log(y) + 1.0,
              lambda ans, x, y: -x / _where_x_zero(x, y),
              PerElement(lambda sy, x, y: x * sy.log(x / y)), safe=True)
kl_div = _b(sp.kl_div, lambda ans, x, y: np.log(x) - np.log(y),
            lambda ans, x, y: 1.0 - x / _where_x_zero(x, y),
            PerElement(lambda sy, x, y: x * sy.log(x / y) - x + y), safe=True)

# --- Bessel functions: d/dx through the recurrences, orders held fixed -------------------------

def _bessel(kind: str, order: int | None, scaled: str = "") -> PerElement:
    """SymPy's Bessel function of a fixed order; scaled: SciPy's e^-|x| ("i") or e^x ("k")."""
    def fn(sy, *args):
        v, x = args if order is None else (order, args[0])
        f = _sympy_functions(sy)[kind](v, x)
        return (sy.exp(-sy.Abs(x)) * f if scaled == "i" else
                sy.exp(x) * f if scaled == "k" else f)
    return PerElement(fn)


j0 = _u(sp.j0, lambda ans, x: -sp.j1(x), _bessel("besselj", 0))
j1 = _u(sp.j1, lambda ans, x: 0.5 * (sp.j0(x) - sp.jv(2.0, x)), _bessel("besselj", 1))
y0 = _u(sp.y0, lambda ans, x: -sp.y1(x), _bessel("bessely", 0))
y1 = _u(sp.y1, lambda ans, x: 0.5 * (sp.y0(x) - sp.yv(2.0, x)), _bessel("bessely", 1))
i0 = _u(sp.i0, lambda ans, x: sp.i1(x), _bessel("besseli", 0))
i1 = _u(sp.i1, lambda ans, x: 0.5 * (sp.i0(x) + sp.iv(2.0, x)), _bessel("besseli", 1))
i0e = _u(sp.i0e, lambda ans, x: sp.i1e(x) - np.sign(primal(x)) * ans,
         _bessel("besseli", 0, "i"))
i1e = _u(sp.i1e, lambda ans, x: 0.5 * (sp.i0e(x) + sp.ive(2.0, x)) - np.sign(primal(x)) * ans,
         _bessel("besseli", 1, "i"))
k0 = _u(sp.k0, lambda ans, x: -sp.k1(x), _bessel("besselk", 0))
k1 = _u(sp.k1, lambda ans, x: -0.5 * (sp.k0(x) + sp.kv(2.0, x)), _bessel("besselk", 1))
k0e = _u(sp.k0e, lambda ans, x: ans - sp.k1e(x), _bessel("besselk", 0, "k"))
k1e = _u(sp.k1e, lambda ans, x: ans - 0.5 * (sp.k0e(x) + sp.kve(2.0, x)),
         _bessel("besselk", 1, "k"))

# jn is the same ufunc as jv
jv = _b(sp.jv, _constant("scipy.special.jv", "v", _ORDER),
        lambda ans, v, x: 0.5 * (sp.jv(v - 1.0, x) - sp.jv(v + 1.0, x)), _bessel("besselj", None))
yv = _b(sp.yv, _constant("scipy.special.yv", "v", _ORDER),
        lambda ans, v, x: 0.5 * (sp.yv(v - 1.0, x) - sp.yv(v + 1.0, x)), "bessely")
yn = _b(sp.yn, _constant("scipy.special.yn", "n", _INTEGER),
        lambda ans, n, x: 0.5 * (sp.yn(n - 1, x) - sp.yn(n + 1, x)), "bessely")
iv = _b(sp.iv, _constant("scipy.special.iv", "v", _ORDER),
        lambda ans, v, x: 0.5 * (sp.iv(v - 1.0, x) + sp.iv(v + 1.0, x)), _bessel("besseli", None))
ive = _b(sp.ive, _constant("scipy.special.ive", "v", _ORDER),
         lambda ans, v, x: 0.5 * (sp.ive(v - 1.0, x) + sp.ive(v + 1.0, x))
         - np.sign(primal(x)) * ans, _bessel("besseli", None, "i"))
kv = _b(sp.kv, _constant("scipy.special.kv", "v", _ORDER),
        lambda ans, v, x: -0.5 * (sp.kv(v - 1.0, x) + sp.kv(v + 1.0, x)), "besselk")
kve = _b(sp.kve, _constant("scipy.special.kve", "v", _ORDER),
         lambda ans, v, x: ans - 0.5 * (sp.kve(v - 1.0, x) + sp.kve(v + 1.0, x)),
         _bessel("besselk", None, "k"))

# --- logsumexp, softmax, log_softmax: reductions along axes ----------------------------------


def _lse_sign(ans: Any, a: Any, b: Any, axis: Any, keepdims: bool) -> Any:
    """sign(sum b e^a), plain and broadcast over a; None where it is +1 everywhere."""
    if b is None:
        return None
    b_ = primal(b)
    if not np.any(b_ < 0):
        return None
    a_, ans_ = primal(a), primal(ans)
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.sum(b_ * np.exp(a_ - expand_back(ans_, np.shape(a_), axis, keepdims)),
                   axis=axis, keepdims=True)
    return np.broadcast_to(np.sign(s), np.shape(a_))


def _lse_da(ans, a, b, axis, keepdims):
    """d logsumexp / d a = sign * b * e^(a - ans): the softmax, weighted."""
    w = _exp(a - expand_back(ans, shape_of(a), axis, keepdims))
    if b is not None:
        w = w * b
    sgn = _lse_sign(ans, a, b, axis, keepdims)
    return w if sgn is None else w * sgn


def _lse_db(ans, a, b, axis, keepdims):
    w = _exp(a - expand_back(ans, shape_of(a), axis, keepdims))
    sgn = _lse_sign(ans, a, b, axis, keepdims)
    return w if sgn is None else w * sgn


def _lse_jvp(local):
    def jvp(g, ans, a, b, axis, keepdims, signed):
        nb = batch_ndim(g, a)
        return np.sum(g * local(ans, a, b, axis, keepdims),
                      axis=batch_axes(axis, ndim_of(a), nb), keepdims=keepdims)
    return jvp


def _lse_vjp(local):
    def vjp(ans, a, b, axis, keepdims, signed):
        return lambda g: expand_back(g, shape_of(a), axis, keepdims) * local(
            ans, a, b, axis, keepdims)
    return vjp


def _lse_impl(a, b, axis, keepdims, signed):
    out = _sp_logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=signed)
    return out[0] if signed else out


_sp_logsumexp = sp.logsumexp
_sp_softmax = sp.softmax
_sp_log_softmax = sp.log_softmax

def _sym_exp_shifted(sy, at, x, axis):
    """e^(x - c) and c, for a constant c (exact for any c): the numeric maximum, rounded,
    when x is large enough to overflow e^x in the lambdified expressions, else 0. An
    integer, since SymPy splits e^(x - 1001.0) into 1.9e-435 e^x, which overflows."""
    x_ = np.asarray(at.values[0], dtype=float)
    c = np.max(x_, axis=axis, keepdims=True) if x_.size else np.zeros(())
    c = np.where(np.isfinite(c) & (np.abs(c) > 300.0), np.round(c), 0.0)
    c = np.frompyfunc(lambda v: sy.Integer(int(v)), 1, 1)(c)
    return np.frompyfunc(sy.exp, 1, 1)(np.asarray(x, dtype=object) - c), c


def _sym_logsumexp(sy, at, a, b, axis, keepdims, signed):
    """log|sum b e^a|, the sign of the sum taken at the point."""
    e, c = _sym_exp_shifted(sy, at, a, axis)
    total = np.sum(e if b is None else e * b, axis=axis, keepdims=True)
    sign = _sp_logsumexp(at.values[0], axis=axis, b=at.values[1], keepdims=True,
                         return_sign=True)[1]
    if np.any(sign < 0):
        at.branch("sign of the sum")
    out = np.frompyfunc(lambda t, s: sy.log(int(s) * t), 2, 1)(total, sign) + c
    return np.reshape(out, np.shape(at.ans))


def _sym_softmax(sy, at, x, axis):
    e, _ = _sym_exp_shifted(sy, at, x, axis)
    return e / np.sum(e, axis=axis, keepdims=True)


def _sym_log_softmax(sy, at, x, axis):
    e, c = _sym_exp_shifted(sy, at, x, axis)
    return x - c - np.frompyfunc(sy.log, 1, 1)(np.sum(e, axis=axis, keepdims=True))


logsumexp = defprim("scipy.special.logsumexp", _lse_impl, sympy=_sym_logsumexp,
                    jvp=(_lse_jvp(_lse_da), _lse_jvp(_lse_db)),
                    vjp=(_lse_vjp(_lse_da), _lse_vjp(_lse_db)))


def _softmax_jvp(g, ans, x, axis):
    t = g * ans
    return t - ans * np.sum(t, axis=batch_axes(axis, ndim_of(x), batch_ndim(g, x)), keepdims=True)


def _softmax_vjp(ans, x, axis):
    def vjp(g):
        t = g * ans
        return t - ans * np.sum(t, axis=axis, keepdims=True)
    return vjp


softmax = defprim("scipy.special.softmax", lambda x, axis: _sp_softmax(x, axis=axis),
                  sympy=_sym_softmax, jvp=_softmax_jvp, vjp=_softmax_vjp)


def _log_softmax_jvp(g, ans, x, axis):
    return g - np.sum(g * _exp(ans), axis=batch_axes(axis, ndim_of(x), batch_ndim(g, x)),
                      keepdims=True)


def _log_softmax_vjp(ans, x, axis):
    return lambda g: g - _exp(ans) * np.sum(g, axis=axis, keepdims=True)


log_softmax = defprim("scipy.special.log_softmax",
                      lambda x, axis: _sp_log_softmax(x, axis=axis), sympy=_sym_log_softmax,
                      jvp=_log_softmax_jvp, vjp=_log_softmax_vjp)


def _array(x: Any) -> Any:
    """Lists and tuples (perhaps holding traced values) as arrays; anything else as is."""
    if isinstance(x, (list, tuple)):
        return np.asarray(x)  # adkit.scope's version inside a differentiation
    return x


def _axis(axis: Any, ndim: int) -> Any:
    """None, a non-negative axis or a sorted tuple of them."""
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        return normalize_axes(axis, ndim)
    return normalize_axis(axis, ndim)


@handles(sp.logsumexp, via=logsumexp)
def _logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    a = _array(a)
    if b is not None:
        b = _array(b)
        shape = np.broadcast_shapes(shape_of(a), shape_of(b))
        if shape_of(a) != shape:
            a = np.broadcast_to(a, shape)
        if shape_of(b) != shape:
            b = np.broadcast_to(b, shape)
    if ndim_of(a) == 0:  # as SciPy: a scalar is a 1-element vector (keepdims gives (1,))
        a = np.reshape(a, (1,))
        b = None if b is None else np.reshape(b, (1,))
    axis = _axis(axis, ndim_of(a))
    out = logsumexp(a, b, axis, bool(keepdims), bool(return_sign))
    if not return_sign:
        return out
    sgn = _sp_logsumexp(primal(a), axis=axis, b=None if b is None else primal(b),
                        keepdims=keepdims, return_sign=True)[1]
    return out, sgn


@handles(sp.softmax, via=softmax)
def _softmax(x, axis=None):
    x = _array(x)
    return softmax(x, _axis(axis, ndim_of(x)))


@handles(sp.log_softmax, via=log_softmax)
def _log_softmax(x, axis=None):
    x = _array(x)
    return log_softmax(x, _axis(axis, ndim_of(x)))


@handles(sp.polygamma, via=polygamma)
def _polygamma(n, x):
    out = polygamma(_array(n), _array(x))
    # SciPy's polygamma computes in float64 whatever x is; the primitive keeps float32
    # for the derivative of digamma
    return out.astype(np.float64) if dtype_of(out) == np.float32 else out


# one ufunc, two public names: list both in docs/coverage.md
COVERAGE.update({"scipy.special.digamma": (digamma,), "scipy.special.jn": (jv,)})


# --- SciPy's Python functions: bound once, whatever the import order (scipy_binding) ----------

#: public scipy.special functions that do not reach NumPy's protocols
PYTHON_FUNCTIONS = {name: getattr(sp, name) for name in
                    ("logsumexp", "softmax", "log_softmax", "polygamma", "multigammaln")
                    if getattr(sp, name, None) in FUNCTIONS}
for _name_, _fn in PYTHON_FUNCTIONS.items():
    bind(_fn, FUNCTIONS[_fn], "scipy.special." + _name_)


# binom, the Box-Cox transforms, huber, pseudo_huber, spence, ellipk, ellipe, exprel
from . import scipy_special  # noqa: E402,F401
# inverse distribution functions (gammaincinv, betaincinv, stdtrit, ...), poch, owens_t, ...
from . import scipy_special_inverse  # noqa: E402,F401
