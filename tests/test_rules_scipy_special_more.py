"""scipy.special's binom, boxcox, boxcox1p, inv_boxcox, huber, pseudo_huber, spence, ellipk,
ellipe and exprel (adkit/rules/scipy_special.py): every mode to second order (ruletest.check:
central differences of SciPy's own ufuncs, and SymPy), also at the points where the closed
forms are 0/0 (lmbda = 0, z = 0, m = 0, z = 1: numeric referee only), values equal to
SciPy's."""

import numpy as np
import pytest

sp = pytest.importorskip("scipy.special", reason="SciPy is not installed")

import adkit  # noqa: E402
from ruletest import R, Rpos, check  # noqa: E402

X = Rpos(3, seed=51)
CASES = {
    "binom": (lambda n, k: sp.binom(n, k), R(3, low=3.0, high=6.0, seed=52),
              R(3, low=0.2, high=2.5, seed=53)),
    "binom integer k": (lambda n: sp.binom(n, 2), R(3, low=-0.9, high=5.0, seed=54)),
    "boxcox": (lambda x, lmbda: sp.boxcox(x, lmbda), X, R(3, low=-1.0, high=1.5, seed=55)),
    "boxcox1p": (lambda x, lmbda: sp.boxcox1p(x, lmbda), R(3, low=-0.5, high=2.0, seed=56),
                 R(3, low=-1.0, high=1.5, seed=57)),
    "inv_boxcox": (lambda y, lmbda: sp.inv_boxcox(y, lmbda), R(3, low=-0.8, high=0.8, seed=58),
                   R(3, low=-1.0, high=1.0, seed=59)),
    "inv_boxcox of boxcox": (lambda x, lmbda: sp.inv_boxcox(sp.boxcox(x, lmbda), lmbda), X,
                             R(3, low=0.2, high=1.0, seed=60)),
    "huber": (lambda delta, r: sp.huber(delta, r), np.array([1.0, 0.5, 2.0]),
              np.array([0.3, -1.7, 2.5])),
    "pseudo_huber": (lambda delta, r: sp.pseudo_huber(delta, r), Rpos(3, seed=61),
                     R(3, seed=62)),
    "spence": (lambda z: sp.spence(z), R(3, low=0.2, high=4.0, seed=63)),
    "ellipk": (lambda m: sp.ellipk(m), R(3, low=-2.0, high=0.9, seed=64)),
    "ellipe": (lambda m: sp.ellipe(m), R(3, low=-2.0, high=0.9, seed=65)),
    "exprel": (lambda x: sp.exprel(x), R(3, low=-5.0, high=5.0, seed=66)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_special_more(name):
    fun, *args = CASES[name]
    check(fun, *args)
    out, _ = adkit.jvp(fun, tuple(args), tuple(np.zeros_like(a) for a in args))
    np.testing.assert_allclose(out, fun(*args), rtol=1e-14, atol=1e-15)


# where the closed forms are 0/0 or change form: the series branches and their joins
SINGULAR = {
    "boxcox at lmbda 0 and near it": (lambda lmbda: sp.boxcox(np.array([0.3, 1.7, 4.0]), lmbda),
                                      np.array([0.0, 1e-6, -0.2])),
    "boxcox1p at lmbda 0": (lambda lmbda: sp.boxcox1p(np.array([-0.4, 0.7, 3.0]), lmbda),
                            np.array([0.0, 1e-5, -1e-3])),
    "inv_boxcox at lmbda 0": (lambda lmbda: sp.inv_boxcox(np.array([0.5, -1.2, 2.0]), lmbda),
                              np.array([0.0, 1e-4, 0.12])),
    "exprel at 0 and the join": (lambda x: sp.exprel(x), np.array([0.0, 1e-7, 0.999, -1.001])),
    "spence at 1": (lambda z: sp.spence(z), np.array([1.0, 1.0 + 1e-6, 1.2499, 0.7501])),
    "ellipk at 0": (lambda m: sp.ellipk(m), np.array([0.0, 1e-6, 0.0999, -0.1001])),
    "ellipe at 0": (lambda m: sp.ellipe(m), np.array([0.0, -1e-6, 0.1001, -0.0999])),
}


@pytest.mark.parametrize("name", list(SINGULAR))
def test_special_more_at_removable_singularities(name):
    fun, x = SINGULAR[name]
    check(fun, x, symbolic=False, h=1e-3)
    np.testing.assert_allclose(adkit.jvp(fun, (x,), (x,))[0], fun(x), rtol=1e-14)


def test_limits_at_zero_have_their_closed_forms():
    x = np.array([0.3, 1.7, 4.0])
    np.testing.assert_allclose(adkit.jacobian(lambda l: sp.boxcox(x, l))(0.0), np.log(x) ** 2 / 2,
                               rtol=1e-14)
    y = np.array([0.5, -1.2, 2.0])
    np.testing.assert_allclose(adkit.jacobian(lambda l: sp.inv_boxcox(y, l))(0.0),
                               -y ** 2 * np.exp(y) / 2, rtol=1e-14)
    assert np.isclose(adkit.grad(sp.exprel)(0.0), 0.5, rtol=1e-15)
    assert np.isclose(adkit.grad(sp.spence)(1.0), -1.0, rtol=1e-15)
    assert np.isclose(adkit.grad(sp.ellipk)(0.0), np.pi / 8, rtol=1e-15)
    assert np.isclose(adkit.grad(sp.ellipe)(0.0), -np.pi / 8, rtol=1e-15)


def test_huber_is_quadratic_inside_and_linear_outside():
    g = adkit.grad(lambda r: np.sum(sp.huber(1.0, r)))(np.array([-3.0, -0.5, 0.25, 2.0]))
    np.testing.assert_array_equal(g, [-1.0, -0.5, 0.25, 1.0])
    gd = adkit.grad(lambda d: np.sum(sp.huber(d, np.array([-3.0, 0.5]))))(1.0)
    assert gd == 2.0  # |r| - delta outside, 0 inside


def test_zeta_in_its_exponent_is_refused_by_name():
    with pytest.raises(adkit.NoRuleError, match="zeta.*traced s"):
        adkit.grad(lambda s: sp.zeta(s, 2.0))(3.0)
