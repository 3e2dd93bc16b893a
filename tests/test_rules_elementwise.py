"""Every elementwise rule, checked in every mode to second order (see ruletest.check)."""

import numpy as np
import pytest

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
