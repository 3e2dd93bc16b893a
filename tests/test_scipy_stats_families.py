"""The further scipy.stats families (adkit/rules/scipy_stats_more.py): values equal SciPy's
everywhere (outside the support, at its edges, for invalid parameters), and derivatives in
the point, loc, scale and every real parameter pass ruletest.check in every mode to second
order against central differences of SciPy's own function."""

import numpy as np
import pytest

st = pytest.importorskip("scipy.stats", reason="SciPy is not installed")

import adkit  # noqa: E402
from adkit.table import NoRuleError  # noqa: E402
from ruletest import check  # noqa: E402

CONTINUOUS = {"expon": (), "laplace": (), "logistic": (), "cauchy": (), "uniform": (),
              "halfnorm": (), "halfcauchy": (), "gumbel_r": (), "rayleigh": (),
              "lognorm": (0.7,), "invgamma": (2.5,), "pareto": (2.2,)}
METHODS = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf"]
EVERYWHERE = np.array([-1.5, -0.2, 0.0, 0.3, 1.0, 1.7, 3.0])
# points inside each support (after loc=0.2, scale=1.3), away from kinks
INSIDE = {"uniform": np.array([0.35, 0.8, 1.25]), "pareto": np.array([1.8, 2.6, 4.0])}
DEFAULT_INSIDE = np.array([0.45, 1.1, 2.3])


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
@pytest.mark.parametrize("loc,scale", [(0.0, 1.0), (0.3, 1.7), (0.0, -1.0)])
def test_continuous_values_are_scipys(name, loc, scale):
    dist, shapes = getattr(st, name), CONTINUOUS[name]
    for method in METHODS:
        fn = getattr(dist, method)
        with np.errstate(all="ignore"):
            want = fn(EVERYWHERE, *shapes, loc=loc, scale=scale)
            got, _ = adkit.jvp(lambda x: fn(x, *shapes, loc=loc, scale=scale), (EVERYWHERE,),
                               (np.ones(7),))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300, equal_nan=True,
                                   err_msg=f"{name}.{method}")


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
@pytest.mark.parametrize("method", METHODS)
def test_continuous_derivatives(name, method):
    fn, shapes = getattr(getattr(st, name), method), CONTINUOUS[name]
    x = INSIDE.get(name, DEFAULT_INSIDE)
    if name == "invgamma" and method not in ("pdf", "logpdf"):
        # its distribution function is gammaincc(a, 1/z): once in a (by quadrature)
        check(lambda x, loc, scale: fn(x, shapes[0], loc, scale), x, 0.2, 1.3)
        check(lambda shape: fn(x, shape, 0.2, 1.3), shapes[0], order=1)
    elif shapes:
        check(lambda x, shape, loc, scale: fn(x, shape, loc, scale), x, shapes[0], 0.2, 1.3)
    else:
        check(lambda x, loc, scale: fn(x, loc=loc, scale=scale), x, 0.2, 1.3)


K = np.array([-1, 0, 0.5, 1, 2, 3, 5, 7, 10])
DISCRETE = {"bernoulli": (0.3,), "binom": (5, 0.3), "geom": (0.3,), "nbinom": (2.5, 0.4)}
DISCRETE_METHODS = ["pmf", "logpmf", "cdf", "logcdf", "sf", "logsf"]


@pytest.mark.parametrize("name", sorted(DISCRETE))
def test_discrete_values_are_scipys(name):
    dist, params = getattr(st, name), DISCRETE[name]
    for method in DISCRETE_METHODS:
        fn = getattr(dist, method)
        for loc in (0, 1):
            for p in (params[-1], -0.1, 1.5):  # valid, then invalid probabilities (NaN)
                if method == "logcdf" and p != params[-1]:
                    continue  # SciPy's logcdf gives 0 above the support there (cdf: NaN)
                with np.errstate(all="ignore"):
                    want = fn(K, *params[:-1], p, loc=loc)
                    got, _ = adkit.jvp(lambda q: fn(K, *params[:-1], q, loc=loc), (p,), (1.0,))
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300, equal_nan=True,
                                           err_msg=f"{name}.{method} p={p} loc={loc}")


@pytest.mark.parametrize("name", sorted(DISCRETE))
@pytest.mark.parametrize("method", DISCRETE_METHODS)
def test_discrete_derivatives_in_the_probability(name, method):
    fn, params = getattr(getattr(st, name), method), DISCRETE[name]
    # points where the log is finite: geom starts at 1; bernoulli's cdf is 1 from k = 1
    k = {"bernoulli": np.array([0, 1, 1, 0]), "geom": np.array([1, 2, 3, 5])}.get(
        name, np.array([0, 1, 2, 4]))
    if name == "bernoulli" and method in ("cdf", "logcdf", "sf", "logsf"):
        k = np.zeros(4)
    check(lambda p: fn(k, *params[:-1], p), np.array([0.2, 0.35, 0.5, 0.7]))


@pytest.mark.parametrize("method", ["pmf", "logpmf"])
def test_negative_binomial_in_its_real_size(method):
    fn = getattr(st.nbinom, method)
    check(lambda n, p: fn(np.array([0, 2, 5]), n, p), np.array([1.5, 2.5, 4.0]), 0.45)


def test_negative_binomial_cdf_in_its_size_once():
    # the incomplete beta function's derivative in its parameters is a quadrature (once)
    check(lambda n: st.nbinom.cdf(np.array([0, 2, 5]), n, 0.45), np.array([1.5, 2.5, 4.0]),
          order=1)


def test_counts_are_refused_by_name():
    with pytest.raises(NoRuleError, match="n is a count"):
        adkit.grad(lambda n: st.binom.logpmf(2, n, 0.3))(5.0)
    with pytest.raises(NoRuleError, match="k is a count"):
        adkit.grad(lambda k: st.geom.logpmf(k, 0.3))(2.0)


def test_frozen_and_list_spellings():
    check(lambda v: st.laplace(v[0], np.exp(v[1])).logpdf([0.3, v[2]]),
          np.array([0.1, -0.2, 1.4]))
    check(lambda v: st.binom(6, v).logpmf([0, 3, 6]), 0.35)


def test_a_bernoulli_likelihood_fitted_by_scipy_with_adkit_gradients():
    from scipy.optimize import minimize
    from scipy.special import expit
    rng = np.random.RandomState(4)
    x = rng.randn(40)
    y = (rng.rand(40) < expit(1.5 * x - 0.5)).astype(int)

    def negll(w):
        return -np.sum(st.bernoulli.logpmf(y, expit(w[0] * x + w[1])))

    fit = minimize(negll, np.zeros(2), jac=adkit.grad(negll), hess=adkit.hessian(negll),
                   method="trust-exact")
    residual = y - expit(fit.x[0] * x + fit.x[1])  # the score equations of the logit model
    np.testing.assert_allclose([np.sum(residual * x), np.sum(residual)], 0.0, atol=1e-8)


def test_the_unsupported_distribution_error_lists_the_new_families():
    with pytest.raises(NoRuleError, match="expon.*nbinom|nbinom.*expon"):
        adkit.grad(lambda x: st.weibull_min.logpdf(x, 1.5))(1.0)


# --- quantiles: ppf and isf of every continuous family -------------------------------------------

QUANTILE_SHAPES = {**CONTINUOUS, "norm": (), "t": (3.5,), "beta": (2.5, 1.7), "gamma": (2.2,),
                   "chi2": (3.3,)}
Q_EVERYWHERE = np.array([-0.1, 0.0, 0.05, 0.3, 0.5, 0.7, 0.95, 1.0, 1.2])
# shapes entering an inverse incomplete gamma/beta/t function: once in the shape (quadrature)
QUADRATURE_SHAPES = {"t", "beta", "gamma", "chi2", "invgamma"}


@pytest.mark.parametrize("name", sorted(QUANTILE_SHAPES))
def test_quantile_values_are_scipys(name):
    dist, shapes = getattr(st, name), QUANTILE_SHAPES[name]
    for method in ("ppf", "isf"):
        fn = getattr(dist, method)
        for loc, scale in [(0.0, 1.0), (0.3, 1.7), (0.0, -1.0)]:
            with np.errstate(all="ignore"):
                want = fn(Q_EVERYWHERE, *shapes, loc=loc, scale=scale)
                got, _ = adkit.jvp(lambda q: fn(q, *shapes, loc=loc, scale=scale),
                                   (Q_EVERYWHERE,), (np.ones(9),))
            # SciPy's own formulas differ in rounding (chi2: chdtri(df, 1 - q))
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300, equal_nan=True,
                                       err_msg=f"{name}.{method}")


@pytest.mark.parametrize("name", sorted(QUANTILE_SHAPES))
@pytest.mark.parametrize("method", ["ppf", "isf"])
def test_quantile_derivatives(name, method):
    fn, shapes = getattr(getattr(st, name), method), QUANTILE_SHAPES[name]
    q = np.array([0.1, 0.45, 0.8])
    check(lambda q, loc, scale: fn(q, *shapes, loc=loc, scale=scale), q, 0.2, 1.3)
    if shapes:
        order = 1 if name in QUADRATURE_SHAPES else 2
        for i in range(len(shapes)):
            def in_shape(s, i=i):
                return fn(q, *shapes[:i], s, *shapes[i + 1:], loc=0.2, scale=1.3)
            check(in_shape, shapes[i], order=order)


def test_quantile_inverts_the_distribution_function_with_its_derivative():
    q = np.array([0.1, 0.45, 0.8])
    slope = adkit.elementwise_grad(lambda q: st.gamma.ppf(q, 2.2, scale=1.5))(q)
    x = st.gamma.ppf(q, 2.2, scale=1.5)
    np.testing.assert_allclose(slope * st.gamma.pdf(x, 2.2, scale=1.5), 1.0, rtol=1e-11)
    # SciPy's keyword for the point of ppf, and a frozen distribution
    check(lambda q, m: st.norm(m, 2.0).ppf(q=q), q, 0.4)
