"""Elementwise operations (NumPy ufuncs): one line per derivative.

`unary(f, d)` registers f with local derivative d(ans, x); `binary(f, dx, dy)`
with partial derivatives. The engines multiply by the (co)tangent, lift batched
tangents and undo broadcasting, so the rules are just the calculus. Rules
marked safe=True have points where the derivative is infinite while the value
is finite; there a zero (co)tangent stays zero (see helpers.times).

Conventions at kinks: |x|' = 0 at 0; maximum/minimum/fmax/fmin split ties
evenly between the two arguments (as JAX and PyTorch do), so np.maximum(x, 0)
has derivative 0.5 at exactly 0 while np.where(x > 0, x, 0) and x * (x > 0)
have 0; clip gives the bound the derivative at the bound.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable

import numpy as np

from ..table import ON_OBJECTS, PerElement, defnondiff, defprim
from ..tracer import BoxBase, NondiffPrimitive, primal, unit_jvp
from .helpers import NDARRAY, dtype_of, is_complex, is_duck_array, quietly, times


_MATH = {np.exp: math.exp, np.expm1: math.expm1, np.exp2: math.exp2, np.log: math.log,
         np.log1p: math.log1p, np.log2: math.log2, np.log10: math.log10, np.sqrt: math.sqrt,
         np.cbrt: math.cbrt, np.sin: math.sin, np.cos: math.cos, np.tan: math.tan,
         np.arcsin: math.asin, np.arccos: math.acos, np.arctan: math.atan, np.sinh: math.sinh,
         np.cosh: math.cosh, np.tanh: math.tanh, np.arcsinh: math.asinh,
         np.arccosh: math.acosh, np.arctanh: math.atanh, np.fabs: math.fabs}


def scalar_fast(ufunc: np.ufunc) -> Callable:
    """The ufunc, evaluated by the math module for a Python float.

    Scalar code stays in Python floats, whose arithmetic is 3x cheaper than
    NumPy scalars'. Where math raises (outside the domain, overflow) NumPy
    answers instead, so the value is NumPy's: nan, inf and its warning.
    """
    m = _MATH.get(ufunc)
    if m is None:
        return ufunc

    def fast(x):
        if type(x) is float:
            try:
                return m(x)
            except (ValueError, OverflowError):
                pass
        return ufunc(x)
    fast.__name__ = ufunc.__name__
    return fast


_sin, _cos, _sinh, _cosh, _sqrt, _exp = (scalar_fast(u) for u in (
    np.sin, np.cos, np.sinh, np.cosh, np.sqrt, np.exp))


def unary(ufunc: np.ufunc, d: Callable, sympy: Any = None, *, safe: bool = False,
          impl: Callable | None = None, name: str | None = None):
    """Register ufunc with local derivative d(ans, x), or d(ans) when the answer suffices.

    A derivative of the answer alone (exp, tanh, sqrt, ...) lets the reverse
    pass keep only the answer: the input (often a large pre-activation) is
    freed as soon as the user's code drops it.
    """
    if d.__code__.co_argcount == 1:
        of_ans = d
        d = lambda ans, x: of_ans(ans)  # noqa: E731
        keep = lambda ans, x: (ans, None)  # noqa: E731
    else:
        keep = lambda ans, x: (ans, x)  # noqa: E731
    if safe:
        def jvp(g, ans, x):
            return times(g, quietly(d, ans, x))
    else:
        def jvp(g, ans, x):
            return g * d(ans, x)

    def vjp(ans, x):
        ans, x = keep(ans, x)
        return lambda g: jvp(g, ans, x)
    return defprim(name or ufunc.__name__, impl or scalar_fast(ufunc), jvp=jvp, vjp=vjp,
                   sympy=sympy, elementwise=True, numpy=ufunc)


def binary(ufunc: np.ufunc, dx: Callable | None, dy: Callable | None, sympy: Any = None, *,
           safe: bool = False, impl: Callable | None = None, name: str | None = None):
    def rules(d):
        if d is None:
            return None, None
        if d is ZERO:  # piecewise constant in this argument: no dependence
            return (lambda g, ans, x, y: None), (lambda ans, x, y: None)
        if safe:
            def jvp(g, ans, x, y):
                return times(g, quietly(d, ans, x, y))
        else:
            def jvp(g, ans, x, y):
                return g * d(ans, x, y)
        return jvp, (lambda ans, x, y: lambda g: jvp(g, ans, x, y))
    (jx, vx), (jy, vy) = rules(dx), rules(dy)
    return defprim(name or ufunc.__name__, impl or ufunc, jvp=(jx, jy), vjp=(vx, vy),
                   sympy=sympy, elementwise=True, numpy=ufunc)


def _times_y(g, ans, x, y):
    return g * y


def _times_x(g, ans, x, y):
    return x * g


ZERO = object()  # a partial derivative that is zero wherever it exists


def _identity(g):
    return g


def _negate(g):
    return -g


def _divide(x, y):
    # Python floats raise on division by zero; NumPy semantics give inf/nan.
    try:
        return x / y
    except ZeroDivisionError:
        return np.divide(x, y)


def _tie_weight(x, y, ans):
    """Weight of x in max/min(x, y): 1 where ans is x alone, 1/2 at ties, 0 otherwise."""
    x, y, ans = primal(x), primal(y), primal(ans)
    w = np.where(x == y, 0.5, (ans == x) * 1.0)
    return w.astype(np.result_type(dtype_of(ans), np.float32), copy=False)


def _real_only(name):
    def d(ans, x, y=None):
        if is_complex(x) or (y is not None and is_complex(y)):
            raise TypeError(f"np.{name} is not differentiable for complex values")
        return 1.0
    return d


# --- SymPy counterparts that are not one SymPy function ----------------------------
_POW = PerElement(lambda sp, x, y: x ** y)
_DEG2RAD = PerElement(lambda sp, x: x * sp.pi / 180)
_RAD2DEG = PerElement(lambda sp, x: x * 180 / sp.pi)


def _sym_quotient(rounding):
    """x - q·y with the rounded quotient q taken at the point: exact between the jumps."""
    def rule(sp, at, x, y):
        at.branch("rounded quotient")
        return x - rounding(np.divide(at.values[0], at.values[1])) * y
    return rule


def _sym_ldexp(sp, at, x, y):
    return x * np.exp2(at.values[1])


def _sym_copysign(sp, at, x, y):
    at.branch("sign of y")
    return np.frompyfunc(sp.Abs, 1, 1)(x) * np.copysign(1.0, at.values[1])


def _sym_cbrt(sp, at, x):
    at.branch("sign")  # the real cube root: s·(s·x)^(1/3) with s = sign(x) at the point
    third = sp.Rational(1, 3)
    return np.frompyfunc(lambda e, s: s * (s * e) ** third, 2, 1)(x, np.sign(at.values[0]))


# --- arithmetic -----------------------------------------------------------------
add = defprim("add", operator.add, elementwise=True, numpy=np.add, sympy=ON_OBJECTS,
              jvp=(unit_jvp, unit_jvp),
              vjp=(lambda ans, x, y: _identity, lambda ans, x, y: _identity))
subtract = defprim("subtract", operator.sub, elementwise=True, numpy=np.subtract, sympy=ON_OBJECTS,
                   jvp=(unit_jvp, lambda g, ans, x, y: -g),
                   vjp=(lambda ans, x, y: _identity, lambda ans, x, y: _negate))
multiply = defprim("multiply", operator.mul, elementwise=True, numpy=np.multiply, sympy=ON_OBJECTS,
                   jvp=(_times_y, _times_x),
                   vjp=(lambda ans, x, y: lambda g: g * y, lambda ans, x, y: lambda g: x * g))
def _nonzero(y) -> bool:
    if type(y) is float:
        return y != 0.0
    y = primal(y)
    if is_duck_array(y):   # a device array: take the masked path rather than ask the host
        return False
    # (an array staged by adkit.compile is not an ndarray, but has its ndim)
    return bool(np.all(y)) if type(y) is NDARRAY or getattr(y, "ndim", 0) else bool(y != 0)


def _div_jvp_x(g, ans, x, y):
    return g / y if _nonzero(y) else times(g, quietly(np.divide, 1.0, y))


def _div_jvp_y(g, ans, x, y):
    return -(g * ans) / y if _nonzero(y) else times(g, quietly(lambda: -ans / y))


divide = defprim("divide", _divide, elementwise=True, numpy=np.divide, sympy=ON_OBJECTS,
                 jvp=(_div_jvp_x, _div_jvp_y),
                 vjp=(lambda ans, x, y: lambda g: _div_jvp_x(g, ans, x, y),
                      lambda ans, x, y: lambda g: _div_jvp_y(g, ans, x, y)))
negative = defprim("negative", operator.neg, elementwise=True, numpy=np.negative, sympy=ON_OBJECTS,
                   jvp=lambda g, ans, x: -g, vjp=lambda ans, x: _negate)
positive = defprim("positive", operator.pos, elementwise=True, numpy=np.positive, sympy=ON_OBJECTS,
                   jvp=unit_jvp, vjp=lambda ans, x: _identity)


def _power_dx(power_fn):
    """d/dx x**y = y x**(y-1), taken as 0 where y = 0 (x**0 is 1 everywhere, even at
    x = 0 where x**(y-1) is infinite), so x**0, and x**1's second derivative, have
    derivative 0 at 0. A zero y times an infinite power is the only case masked: the
    mixed partial in y stays y-dependent wherever x**(y-1) is finite."""
    def dx(ans, x, y):
        p = power_fn(x, y - 1)
        if type(y) is float or type(y) is int:  # a constant exponent: x**2 in scalar code
            return y * p if y != 0 else (0.0 if type(p) is float else np.zeros_like(primal(p)))
        return times(y, p)
    return dx


power = binary(np.power, _power_dx(np.power),
               lambda ans, x, y: ans * np.log(np.where(x == 0, 1.0, x)), _POW, safe=True)
float_power = binary(np.float_power, _power_dx(np.float_power),
                     lambda ans, x, y: ans * np.log(np.where(x == 0, 1.0, x)), _POW,
                     safe=True)
# x mod y = x - floor(x / y) * y: slope 1 in x and -floor(x / y) in y between the jumps
mod = binary(np.remainder, lambda ans, x, y: 1.0, lambda ans, x, y: -np.floor_divide(x, y),
             _sym_quotient(np.floor))
fmod = binary(np.fmod, lambda ans, x, y: 1.0, lambda ans, x, y: -np.trunc(x / y),
              _sym_quotient(np.trunc))
ldexp = binary(np.ldexp, lambda ans, x, y: np.ldexp(1.0, y), ZERO, _sym_ldexp)
copysign = binary(np.copysign, lambda ans, x, y: np.sign(x) * np.copysign(1.0, y), ZERO,
                  _sym_copysign)
hypot = binary(np.hypot, lambda ans, x, y: np.where(ans == 0, 0.0, x / ans),
               lambda ans, x, y: np.where(ans == 0, 0.0, y / ans),
               PerElement(lambda sp, x, y: sp.sqrt(x * x + y * y)), safe=True)
arctan2 = binary(np.arctan2, lambda ans, x, y: y / (x * x + y * y),
                 lambda ans, x, y: -x / (x * x + y * y), "atan2", safe=True)
logaddexp = binary(np.logaddexp, lambda ans, x, y: _exp(x - ans),
                   lambda ans, x, y: _exp(y - ans),
                   PerElement(lambda sp, x, y: sp.log(sp.exp(x) + sp.exp(y))))
logaddexp2 = binary(np.logaddexp2, lambda ans, x, y: np.exp2(x - ans),
                    lambda ans, x, y: np.exp2(y - ans),
                    PerElement(lambda sp, x, y: sp.log(2 ** x + 2 ** y) / sp.log(2)))
maximum = binary(np.maximum, lambda ans, x, y: _tie_weight(x, y, ans),
                 lambda ans, x, y: _tie_weight(y, x, ans), "Max")
minimum = binary(np.minimum, lambda ans, x, y: _tie_weight(x, y, ans),
                 lambda ans, x, y: _tie_weight(y, x, ans), "Min")
fmax = binary(np.fmax, lambda ans, x, y: _tie_weight(x, y, ans),
              lambda ans, x, y: _tie_weight(y, x, ans), "Max")
fmin = binary(np.fmin, lambda ans, x, y: _tie_weight(x, y, ans),
              lambda ans, x, y: _tie_weight(y, x, ans), "Min")

# --- exponentials and logarithms --------------------------------------------------
exp = unary(np.exp, lambda ans: ans, "exp")
exp2 = unary(np.exp2, lambda ans: ans * math.log(2.0), PerElement(lambda sp, x: sp.Integer(2) ** x))
expm1 = unary(np.expm1, lambda ans: ans + 1.0, PerElement(lambda sp, x: sp.exp(x) - 1))
log = unary(np.log, lambda ans, x: 1.0 / x, "log", safe=True)
log2 = unary(np.log2, lambda ans, x: 1.0 / (x * math.log(2.0)), PerElement(lambda sp, x: sp.log(x) / sp.log(2)),
             safe=True)
log10 = unary(np.log10, lambda ans, x: 1.0 / (x * math.log(10.0)), PerElement(lambda sp, x: sp.log(x) / sp.log(10)),
              safe=True)
log1p = unary(np.log1p, lambda ans, x: 1.0 / (x + 1.0), PerElement(lambda sp, x: sp.log(1 + x)),
              safe=True)
sqrt = unary(np.sqrt, lambda ans: 0.5 / ans, "sqrt", safe=True)
cbrt = unary(np.cbrt, lambda ans: 1.0 / (3.0 * ans * ans), _sym_cbrt, safe=True)
square = unary(np.square, lambda ans, x: 2.0 * x, PerElement(lambda sp, x: x ** 2))
reciprocal = unary(np.reciprocal, lambda ans: -ans * ans, PerElement(lambda sp, x: 1 / x),
                   safe=True)

# --- trigonometric and hyperbolic ---------------------------------------------------
sin = unary(np.sin, lambda ans, x: _cos(x), "sin")
cos = unary(np.cos, lambda ans, x: -_sin(x), "cos")
tan = unary(np.tan, lambda ans: 1.0 + ans * ans, "tan")
arcsin = unary(np.arcsin, lambda ans, x: 1.0 / _sqrt(1.0 - x * x), "asin", safe=True)
arccos = unary(np.arccos, lambda ans, x: -1.0 / _sqrt(1.0 - x * x), "acos", safe=True)
arctan = unary(np.arctan, lambda ans, x: 1.0 / (1.0 + x * x), "atan")
sinh = unary(np.sinh, lambda ans, x: _cosh(x), "sinh")
cosh = unary(np.cosh, lambda ans, x: _sinh(x), "cosh")
tanh = unary(np.tanh, lambda ans: 1.0 - ans * ans, "tanh")
arcsinh = unary(np.arcsinh, lambda ans, x: 1.0 / _sqrt(x * x + 1.0), "asinh")
# sqrt(x - 1) sqrt(x + 1), not sqrt(x * x - 1): the same for real x, and for complex x
# it keeps arccosh's branch (the other is cut along the imaginary axis)
arccosh = unary(np.arccosh, lambda ans, x: 1.0 / (_sqrt(x - 1.0) * _sqrt(x + 1.0)), "acosh",
                safe=True)
arctanh = unary(np.arctanh, lambda ans, x: 1.0 / (1.0 - x * x), "atanh", safe=True)
deg2rad = unary(np.deg2rad, lambda ans, x: np.pi / 180.0, _DEG2RAD)
rad2deg = unary(np.rad2deg, lambda ans, x: 180.0 / np.pi, _RAD2DEG)
# Constants are Python floats, never NumPy scalars: np.float64(c) * float32 -> float64.
# np.degrees / np.radians are distinct ufunc objects computing the same maps
degrees = unary(np.degrees, lambda ans, x: 180.0 / np.pi, _RAD2DEG)
radians = unary(np.radians, lambda ans, x: np.pi / 180.0, _DEG2RAD)

# --- absolute value and complex parts -------------------------------------------------


def _abs_jvp(g, ans, x):
    if is_complex(x):
        return times(np.real(np.conj(x) * g), quietly(np.divide, 1.0, ans))
    return g * np.sign(x)


def _abs_vjp(ans, x):
    if is_complex(x):
        return lambda g: times(g, quietly(np.divide, np.conj(x), ans))
    return lambda g: g * np.sign(x)


absolute = defprim("absolute", np.absolute, elementwise=True, numpy=np.absolute, sympy="Abs",
                   jvp=_abs_jvp, vjp=_abs_vjp)
fabs = unary(np.fabs, lambda ans, x: np.sign(x), "Abs")
real = defprim("real", np.real, elementwise=True, view=True, numpy=np.real, sympy="re",
               jvp=lambda g, ans, x: np.real(g), vjp=lambda ans, x: _identity)
imag = defprim("imag", np.imag, elementwise=True, view=True, numpy=np.imag, sympy="im",
               jvp=lambda g, ans, x: np.imag(g), vjp=lambda ans, x: lambda g: -1j * g)
conjugate = defprim("conjugate", np.conjugate, elementwise=True, numpy=np.conjugate,
                    sympy="conjugate", jvp=lambda g, ans, x: np.conjugate(g),
                    vjp=lambda ans, x: np.conjugate)
def _angle_unit(deg: Any) -> float:
    """d(angle)/d(radians): np.angle(z, deg) scales by 180/pi when deg is true."""
    return 180.0 / np.pi if primal(deg) else 1.0


# deg is a flag, so its derivative is 0 even when the caller passes a traced value
angle = defprim("angle", np.angle, elementwise=True, numpy=np.angle, sympy="arg",
                jvp=(lambda g, ans, x, deg=False: times(np.imag(g * np.conj(x)),
                                                        _angle_unit(deg) / np.abs(x) ** 2)
                     if is_complex(x) else 0.0 * g,
                     lambda g, ans, x, deg=False: 0.0 * g),
                vjp=(lambda ans, x, deg=False: lambda g: times(
                    g, _angle_unit(deg) * np.conj(x * 1j) / np.abs(x) ** 2)
                    if is_complex(x) else 0.0 * g,
                    lambda ans, x, deg=False: lambda g: 0.0 * g))

# --- operations without a derivative (zero almost everywhere, or not real-valued) -----
for _uf in (np.floor, np.ceil, np.trunc, np.rint, np.floor_divide, np.heaviside,
            np.signbit, np.isnan, np.isinf, np.isfinite, np.greater, np.greater_equal,
            np.less, np.less_equal, np.equal, np.not_equal, np.logical_and, np.logical_or,
            np.logical_xor, np.logical_not, np.spacing, np.nextafter, np.bitwise_and,
            np.bitwise_or, np.bitwise_xor, np.invert, np.left_shift, np.right_shift,
            np.gcd, np.lcm, np.isnat):
    defnondiff(_uf.__name__, _uf, numpy=_uf)


class _Sign(NondiffPrimitive):
    """np.sign: piecewise constant for real x, but z/|z| for complex z (NumPy 2), whose
    derivative is not zero: there it is computed from traced operations (0 at z = 0)."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        x = args[0] if len(args) == 1 and not kwargs else None
        if isinstance(x, BoxBase) and is_complex(x):
            r = np.abs(x)
            return np.where(r == 0, 0, x / np.where(r == 0, 1.0, r))
        return super().__call__(*args, **kwargs)


sign = defnondiff("sign", np.sign, numpy=np.sign, cls=_Sign)


# --- elementwise functions that are not ufuncs ------------------------------------------------


def _sinc_d(ans, x):
    safe_x = np.where(x == 0, 1.0, x)
    return np.where(x == 0, 0.0, (np.cos(np.pi * x) - ans) / safe_x)


sinc = unary(np.sinc, _sinc_d, PerElement(lambda sp, x: sp.sinc(sp.pi * x)), impl=np.sinc)

