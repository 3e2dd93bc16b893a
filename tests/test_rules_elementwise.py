"""Every elementwise rule, checked in every mode to second order (see ruletest.check)."""

import numpy as np
import pytest

import adkit
from ruletest import R, Rpos, check

UNARY = [
    (np.exp, R), (np.exp2, R), (np.expm1, R), (np.log, Rpos), (np.log2, Rpos),
    (np.log10, Rpos), (np.log1p, Rpos), (np.sqrt, Rpos), (np.cbrt, Rpos), (np.square, R),
    (np.reciprocal, Rpos), (np.sin, R), (np.cos, R), (np.tan, lambda *s: R(*s, low=-1, high=1)),
    (np.arcsin, lambda *s: R(*s, low=-0.9, high=0.9)),
    (np.arccos, lambda *s: R(*s, low=-0.9, high=0.9)), (np.arctan, R), (np.sinh, R),
    (np.cosh, R), (np.tanh, R), (np.arcsinh, R),
    (np.arccosh, lambda *s: R(*s, low=1.2, high=3)),
    (np.arctanh, lambda *s: R(*s, low=-0.9, high=0.9)), (np.deg2rad, R), (np.rad2deg, R),
    (np.degrees, R), (np.radians, R), (np.negative, R), (np.positive, R), (np.absolute, Rpos),
    (np.fabs, Rpos), (np.real, R), (np.conjugate, R), (np.sinc, R),
]


@pytest.mark.parametrize("fn,gen", UNARY, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)], ids=str)
def test_unary(fn, gen, shape):
    check(fn, gen(*shape))


BINARY = [
    (np.add, R, R), (np.subtract, R, R), (np.multiply, R, R), (np.divide, R, Rpos),
    (np.power, Rpos, R), (np.float_power, Rpos, R), (np.hypot, R, R), (np.arctan2, R, Rpos),
    (np.logaddexp, R, R), (np.logaddexp2, R, R), (np.maximum, R, R), (np.minimum, R, R),
    (np.fmax, R, R), (np.fmin, R, R), (np.remainder, Rpos, Rpos), (np.fmod, Rpos, Rpos),
    (np.copysign, Rpos, R),
]


@pytest.mark.parametrize("fn,gx,gy", BINARY, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("sx,sy", [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)),
                                   ((), (2, 3))], ids=str)
def test_binary_broadcasting(fn, gx, gy, sx, sy):
    x, y = gx(*sx), gy(*sy)
    if fn in (np.remainder, np.fmod):  # keep away from the jumps
        x = np.asarray(y * 2.5 + 0.1 * np.abs(np.asarray(x)))
    check(fn, x, y)


def test_operators():
    check(lambda x, y: (x + 1) * (2 - y) / (x * y + 3) - x ** 2 + 2 ** y - (-x) % 3, R(3), R(3))
    check(lambda x: abs(x) + +x, Rpos(3))


def test_ldexp_and_integer_arguments():
    check(lambda x: np.ldexp(x, np.array([1, 2, 3])), R(3))
    check(lambda x: np.power(x, 3), R(4))
    check(lambda x: x ** np.array([1, 2, 3]), R(3))


def test_where_and_clip():
    x = np.array([-1.5, -0.3, 0.4, 2.0])
    check(lambda x, y: np.where(x > 0, x * y, np.sin(y)), x, R(4))
    check(lambda x: np.clip(x, -1.0, 1.0), x)
    check(lambda x, lo, hi: np.clip(x, lo, hi), x, np.full(4, -1.0), np.full(4, 1.0))
    check(lambda x: np.clip(x, None, 0.5), x)


def test_nan_to_num_and_select():
    x = np.array([-1.5, -0.3, 0.4, 2.0])
    check(lambda x: np.nan_to_num(x / x * x), x)
    check(lambda x: np.select([x < 0, x < 1], [x ** 2, np.sin(x)], default=x), x)


# --- issue 14: derivatives that were wrong ------------------------------------------------------

_C = np.array([[1 + 2j, 0.5 - 1j], [2j, -1 + 0.3j], [0.2, 1j]])
# real input, complex intermediates, real output: the gradient is real (autograd's
# convention), the cotangent projected back onto the input's real space at every shape,
# including after a primitive that is not elementwise (np.dot), where a complex
# cotangent reaching a real value would leak its imaginary part into the next rule
REAL_THROUGH_COMPLEX = [
    lambda x: np.real((1 + 2j) * x), lambda x: np.imag((1 + 2j) * x * x),
    lambda x: np.imag(x), lambda x: np.abs(x * (1 + 1j) + 0.5j),
    lambda x: np.real(np.exp(1j * x)), lambda x: np.angle(x + 1j),
    lambda x: np.real(np.sum(np.sin(x) * (1 - 1j)) ** 2),
    lambda x: np.abs(np.dot(np.abs((np.sum(x) + np.arange(3.0)) * (1 + 1j) + 0.5j), _C)),
]


@pytest.mark.parametrize("k", range(len(REAL_THROUGH_COMPLEX)))
@pytest.mark.parametrize("x", [0.3, np.float64(0.7), np.array(-0.4), R(3, seed=1),
                               R(2, 3, seed=2)], ids=["float", "float64", "0-d", "(3,)", "(2,3)"])
def test_real_input_through_complex_values_has_a_real_gradient(k, x):
    f = REAL_THROUGH_COMPLEX[k]
    check(f, x)
    g = adkit.grad(lambda x: np.sum(f(x)))(x)
    assert not np.iscomplexobj(g)
    if isinstance(x, np.ndarray):
        assert np.shape(g) == x.shape and g.dtype == x.dtype
    else:
        assert type(g) is type(x)


def test_real_part_of_a_complex_multiple_issue_examples():
    assert adkit.grad(lambda x: np.real((1 + 2j) * x))(np.float64(0.3)) == 1.0
    assert adkit.grad(lambda x: np.real((1 + 2j) * x))(0.3) == 1.0
    assert adkit.grad(np.imag)(np.array(0.3)) == 0.0
    assert adkit.grad(np.imag)(np.float32(0.3)).dtype == np.float32
    assert adkit.grad(lambda x: np.imag(x * 1j))(0.3) == 1.0


# exponents where x**(y-1) is infinite or the base is 0, but the derivative exists
# (x**0 is 1 everywhere in NumPy, even at 0): every mode, to second order
POWER_EDGES = [
    (lambda x: np.power(x, 0.0), 0.0), (lambda x: x ** 0, 0.0), (lambda x: x ** 1, 0.0),
    (lambda x: x ** 1.0, np.zeros(3)), (lambda x: x ** 2, 0.0), (lambda x: x ** 3, 0.0),
    (lambda x: np.power(x, 2), np.zeros((2, 2))), (lambda x: x ** np.array([0.0, 1.0, 2.0]),
                                                   np.zeros(3)),
    (lambda x: np.float_power(x, 0.0), 0.0), (lambda x: np.float_power(x, 1.0), np.zeros(2)),
    (lambda y: np.power(1.0, y), 0.0), (lambda x: x ** 0.0 * np.sin(x), 0.0),
]


@pytest.mark.parametrize("k", range(len(POWER_EDGES)))
def test_power_at_zero_base_or_zero_exponent(k):
    f, x = POWER_EDGES[k]
    check(f, x)


@pytest.mark.parametrize("y", [2.0, np.array([0.5, 3.0])], ids=["2", "(0.5, 3)"])
def test_zero_to_a_positive_power_has_derivative_zero_in_the_exponent(y):
    # SymPy's 0**y * log(0) is nan, so the symbolic referee sits this one out; 0**y is 0
    # for every y > 0, and the finite differences say so
    check(lambda y: np.power(0.0, y), y, symbolic=False)


def test_power_edge_values():
    grad, jvp = adkit.grad, adkit.jvp
    assert grad(lambda x: np.power(x, 0.0))(0.0) == 0.0
    assert jvp(lambda x: np.power(x, 0.0), (0.0,), (1.0,))[1] == 0.0
    assert grad(grad(lambda x: x ** 1.0))(0.0) == 0.0
    assert grad(grad(lambda x: x ** 2))(0.0) == 2.0
    assert grad(lambda y: np.power(0.0, y))(2.0) == 0.0
    # the mixed partial d/dy (y x**(y-1)) at y = 0 stays 1/x where x**(y-1) is finite
    mixed = grad(lambda y: grad(lambda x: x ** y)(2.0))(0.0)
    assert mixed == pytest.approx(0.5)
    with np.errstate(divide="ignore"):
        assert np.isinf(grad(lambda x: x ** 0.5)(0.0))  # the slope is infinite there
