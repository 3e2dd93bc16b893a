"""The shape parameters of the regularized incomplete gamma and beta functions and of
Student's t CDF (scipy.special.gammainc/gammaincc: a, betainc: a and b, stdtr: df), whose
derivatives adkit computes by quadrature (adkit/rules/incomplete_shape.py).

Referees: mpmath at 40 digits (the derivative of its own incomplete gamma/beta) and
Richardson-extrapolated central differences of SciPy's functions, both independent of the
quadrature; ruletest.check for every mode to first order and second order in x."""

import numpy as np
import pytest

sp = pytest.importorskip("scipy.special", reason="SciPy is not installed")

import adkit  # noqa: E402
from adkit.rules.incomplete_shape import dbetainc_da, dbetainc_db, dgammainc_da  # noqa: E402
from adkit.table import NoRuleError  # noqa: E402
from ruletest import check  # noqa: E402

GAMMA_POINTS = [(a, x) for a in (0.05, 0.3, 1.0, 1.7, 5.0, 30.0, 300.0)
                for x in (1e-4, 0.3, 1.0, 2.5, 10.0, 50.0, 400.0)]
BETA_POINTS = [(a, b, x) for a in (0.05, 0.4, 1.0, 2.5, 40.0) for b in (0.07, 0.5, 1.0, 3.0, 60.0)
               for x in (1e-4, 0.05, 0.3, 0.5, 0.8, 0.99)]


def _richardson(f, x, h=1e-2, levels=4):
    """Central differences at h, h/2, h/4, ... extrapolated (Richardson) to h -> 0."""
    table = [[(f(x + h / 2 ** k) - f(x - h / 2 ** k)) / (2 * h / 2 ** k)] for k in range(levels)]
    for j in range(1, levels):
        for k in range(j, levels):
            table[k].append(table[k][j - 1] + (table[k][j - 1] - table[k - 1][j - 1])
                            / (4 ** j - 1))
    return table[-1][-1]


def test_gamma_shape_derivative_matches_mpmath():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    got = dgammainc_da(*np.array(GAMMA_POINTS).T)
    for (a, x), g in zip(GAMMA_POINTS, got):
        lower = x < a  # the smaller of P and Q, for the digits: one branch for every s

        def P(s, x=x, lower=lower):
            return (mpmath.gammainc(s, 0, x, regularized=True) if lower
                    else -mpmath.gammainc(s, x, mpmath.inf, regularized=True))
        ref = float(mpmath.diff(P, a))
        assert g == pytest.approx(ref, rel=1e-10, abs=1e-300), (a, x)


@pytest.mark.parametrize("wrt", ["a", "b"])
def test_beta_shape_derivatives_match_mpmath(wrt):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    fn = dbetainc_da if wrt == "a" else dbetainc_db
    got = fn(*np.array(BETA_POINTS).T)
    for (a, b, x), g in zip(BETA_POINTS, got):
        def I(s, a=a, b=b, x=x):
            p, q = (s, b) if wrt == "a" else (a, s)
            return (mpmath.betainc(p, q, 0, x, regularized=True) if x < a / (a + b)
                    else -mpmath.betainc(p, q, x, 1, regularized=True))
        ref = float(mpmath.diff(I, a if wrt == "a" else b))
        if abs(ref) < 1e-80:
            continue  # deep tails: mpmath's own differences at 40 digits stop there
        assert g == pytest.approx(ref, rel=1e-10), (a, b, x)


@pytest.mark.parametrize("fun,point", [
    (lambda a: sp.gammainc(a, 2.5), 1.7), (lambda a: sp.gammaincc(a, 0.4), 0.3),
    (lambda a: sp.gammainc(a, 40.0), 30.0), (lambda a: sp.betainc(a, 3.0, 0.3), 2.5),
    (lambda b: sp.betainc(0.4, b, 0.3), 3.0), (lambda b: sp.betainc(2.5, b, 0.9), 0.5),
    (lambda d: sp.stdtr(d, 0.7), 3.5), (lambda d: sp.stdtr(d, -2.2), 1.3),
    (lambda d: sp.stdtr(d, 40.0), 12.0)])
def test_shape_derivatives_match_richardson_differences_of_scipy(fun, point):
    g = adkit.grad(fun)(point)
    assert g == pytest.approx(_richardson(fun, point), rel=1e-8)


@pytest.mark.parametrize("fun,args", [
    (lambda a, x: sp.gammainc(a, x), (np.array([0.3, 1.5, 4.0]), np.array([0.2, 1.1, 6.0]))),
    (lambda a, x: sp.gammaincc(a, x), (np.array([0.3, 1.5, 4.0]), np.array([0.2, 1.1, 6.0]))),
    (lambda a, b, x: sp.betainc(a, b, x), (np.array([0.4, 2.0]), np.array([3.0, 0.6]),
                                           np.array([0.3, 0.7]))),
    (lambda d, t: sp.stdtr(d, t), (np.array([1.5, 4.0, 30.0]), np.array([-1.2, 0.4, 2.0]))),
])
def test_every_mode_to_first_order(fun, args):
    check(fun, *args, order=1)


@pytest.mark.parametrize("fun", [
    lambda a, x: sp.gammainc(a, x), lambda a, x: sp.betainc(a, 2.0, x / 8.0),
    lambda a, x: sp.betainc(2.0, a, x / 8.0), lambda a, x: sp.stdtr(a, x - 1.5)])
def test_second_derivative_in_a_and_x_is_the_x_derivative_of_the_first(fun):
    a, x = 1.7, 1.1
    mixed = adkit.jacobian(adkit.grad(fun, 0), 1)(a, x)   # d/dx of the a-derivative
    mixed_fwd = adkit.jvp(lambda x: adkit.grad(fun, 0)(a, x), (x,), (1.0,))[1]
    first = lambda x: adkit.grad(fun, 0)(a, x)  # noqa: E731
    assert mixed == pytest.approx(_richardson(first, x, h=1e-3), rel=1e-7)
    assert mixed_fwd == pytest.approx(mixed, rel=1e-10)


@pytest.mark.parametrize("fun,arg", [
    (lambda a: sp.gammainc(a, 2.0), "a"), (lambda a: sp.gammaincc(a, 2.0), "a"),
    (lambda a: sp.betainc(a, 2.0, 0.4), "a"), (lambda b: sp.betainc(2.0, b, 0.4), "b"),
    (lambda d: sp.stdtr(d, 0.4), "a")])
@pytest.mark.parametrize("outer", ["reverse", "forward"])
def test_second_derivative_in_the_shape_is_refused_by_name(fun, arg, outer):
    with pytest.raises(NoRuleError, match=rf"second derivative of scipy\.special\..*{arg}"):
        adkit.jacobian(adkit.grad(fun), mode=outer)(1.5)


def test_edges_and_invalid_shapes():
    # P(a, 0) = 0 and P(a, inf) = 1 for every a; I_0 = 0 and I_1 = 1; stdtr(df, 0) = 1/2
    assert dgammainc_da(1.5, 0.0) == 0.0 and dgammainc_da(1.5, np.inf) == 0.0
    assert dbetainc_da(1.5, 2.0, 0.0) == 0.0 and dbetainc_db(1.5, 2.0, 1.0) == 0.0
    assert adkit.grad(lambda d: sp.stdtr(d, 0.0))(3.0) == 0.0
    assert np.isnan(dgammainc_da(-1.0, 2.0)) and np.isnan(dbetainc_da(1.0, 0.0, 0.5))
    out = adkit.grad(lambda a: np.sum(sp.gammainc(a, np.array([1.0, 2.0]))))(np.float32(1.5))
    assert isinstance(out, np.float32)
