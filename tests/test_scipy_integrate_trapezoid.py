"""The trapezoid rule on traced values: NumPy 2's np.trapezoid (a function adkit had no entry
for) and SciPy's trapezoid, cumulative_trapezoid and simpson, in the samples and in the
sample points, checked by ruletest.check (every mode, second order, central differences),
with values equal to NumPy's and SciPy's."""

import numpy as np
import pytest

import adkit  # noqa: E402
from ruletest import check  # noqa: E402

Y = np.array([1.0, 2.0, 0.5, 1.5])
XS = np.array([0.0, 0.5, 2.0, 3.0])


@pytest.mark.parametrize("fun,args", [
    (lambda y: np.trapezoid(y ** 2), (Y,)),
    (lambda y, x: np.trapezoid(np.sin(y), x), (Y, XS)),
    (lambda y: np.trapezoid(y, dx=0.3, axis=0), (np.arange(6.0).reshape(3, 2) * 0.1,)),
    (lambda y, x: np.trapezoid(y * x, x, axis=1),
     (np.arange(6.0).reshape(2, 3) * 0.1, np.array([[0.0, 0.2, 0.7], [0.0, 1.0, 1.5]]))),
    (lambda y, dx: np.trapezoid(y ** 2, dx=dx), (Y, 0.7)),
], ids=["plain", "x", "dx-axis0", "x-2d", "traced-dx"])
def test_numpy_trapezoid(fun, args):
    check(fun, *args)
    out, _ = adkit.jvp(fun, args, tuple(np.zeros_like(a) for a in args))
    np.testing.assert_allclose(out, fun(*args), rtol=1e-14)


def test_numpy_trapezoid_checks_the_sample_points():
    with pytest.raises(ValueError, match="length of x"):
        adkit.grad(lambda y: np.trapezoid(y, np.array([0.0, 1.0])))(np.ones(3))


def test_scipy_trapezoid_family():
    integrate = pytest.importorskip("scipy.integrate", reason="SciPy is not installed")
    check(lambda y: integrate.trapezoid(y ** 2, x=XS), Y)
    check(lambda y, x: integrate.cumulative_trapezoid(y ** 2, x, initial=0), Y, XS)
    check(lambda y: integrate.simpson(y ** 2, x=np.array([0.0, 0.5, 2.0, 3.0, 3.5, 4.1])),
          np.array([1.0, 2.0, 0.5, 1.5, 1.0, 0.3]))
