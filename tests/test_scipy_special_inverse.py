"""scipy.special's inverse distribution functions and the further ufuncs of
adkit/rules/scipy_special_inverse.py, checked in every argument adkit differentiates by
ruletest.check (every mode, second order, against central differences of SciPy's own
function; first order in the shape parameters, whose derivative is a quadrature), and the
inverses against the derivative of the function they invert."""

import numpy as np
import pytest

sp = pytest.importorskip("scipy.special", reason="SciPy is not installed")

import adkit  # noqa: E402
from adkit.table import NoRuleError  # noqa: E402
from ruletest import check  # noqa: E402

Y = np.array([0.05, 0.3, 0.62, 0.9])


@pytest.mark.parametrize("fun,args,order", [
    (lambda y: sp.gammaincinv(2.5, y), (Y,), 2),
    (lambda a, y: sp.gammaincinv(a, y), (np.array([0.7, 1.5, 2.5, 6.0]), Y), 1),
    (lambda y: sp.gammainccinv(0.8, y), (Y,), 2),
    (lambda a, y: sp.gammainccinv(a, y), (np.array([0.7, 1.5, 2.5, 6.0]), Y), 1),
    (lambda y: sp.betaincinv(2.0, 0.6, y), (Y,), 2),
    (lambda a, b, y: sp.betaincinv(a, b, y), (np.array([0.7, 1.5, 2.5, 6.0]), 1.8, Y), 1),
    (lambda p: sp.stdtrit(3.5, p), (Y,), 2),
    (lambda df, p: sp.stdtrit(df, p), (np.array([1.5, 3.0, 7.0, 30.0]), Y), 1),
    (lambda z, m: sp.poch(z, m), (np.array([0.6, 1.5, 3.2]), np.array([0.5, -0.3, 2.0])), 2),
    (lambda h, a: sp.owens_t(h, a), (np.array([-1.2, 0.1, 0.9]), np.array([0.3, -0.8, 2.5])), 2),
    (lambda x, y: sp.powm1(x, y), (np.array([0.4, 1.0, 2.7]), np.array([0.3, -1.5, 2.0])), 2),
    (lambda y, lm: sp.inv_boxcox1p(y, lm), (np.array([-0.4, 0.5, 1.7]),
                                            np.array([0.3, -0.2, 1e-9])), 2),
    (lambda x: sp.expn(np.array([0, 1, 2, 5]), x), (np.array([0.3, 1.0, 2.2, 4.0]),), 2),
], ids=["gammaincinv-y", "gammaincinv-a", "gammainccinv-y", "gammainccinv-a", "betaincinv-y",
        "betaincinv-ab", "stdtrit-p", "stdtrit-df", "poch", "owens_t", "powm1", "inv_boxcox1p",
        "expn"])
def test_derivatives(fun, args, order):
    check(fun, *args, order=order, symbolic=not any(np.any(np.asarray(a) == 1e-9)
                                                    for a in args))


@pytest.mark.parametrize("forward,inverse,args", [
    (sp.gammainc, sp.gammaincinv, (2.5,)), (sp.gammaincc, sp.gammainccinv, (2.5,)),
    (sp.betainc, sp.betaincinv, (2.0, 0.6)), (lambda df, t: sp.stdtr(df, t), sp.stdtrit, (3.5,)),
])
def test_an_inverse_slope_is_one_over_the_functions(forward, inverse, args):
    x = inverse(*args, Y)
    slope_inverse = adkit.elementwise_grad(lambda y: inverse(*args, y))(Y)
    slope_forward = adkit.elementwise_grad(lambda x: forward(*args, x))(x)
    np.testing.assert_allclose(slope_inverse * slope_forward, 1.0, rtol=1e-10)


def test_integer_orders_are_refused_by_name():
    with pytest.raises(NoRuleError, match="scipy.special.expn received a traced n"):
        adkit.grad(lambda n: sp.expn(n, 1.0))(2.0)


def test_a_second_derivative_in_a_shape_parameter_is_refused():
    with pytest.raises(NoRuleError, match="second derivative"):
        adkit.hessian(lambda a: sp.gammaincinv(a, 0.3))(2.0)
