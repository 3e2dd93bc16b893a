"""scipy.stats densities and distribution functions, checked in every mode to second order
(ruletest.check: reverse, forward, batched Jacobians and Hessians against central
differences of SciPy's own function, and SymPy where every step has a SymPy slot), in the
point and in every parameter, plus their values and edges against SciPy."""

import numpy as np
import pytest

st = pytest.importorskip("scipy.stats", reason="SciPy is not installed")
import scipy.special as sp  # noqa: E402

import adkit  # noqa: E402
from adkit.table import NoRuleError  # noqa: E402
from ruletest import R, Rpos, check  # noqa: E402

X = np.array([0.2, 0.45, 0.7])          # inside (0, 1), for beta
XP = np.array([0.6, 1.3, 2.4])          # positive, for gamma and chi2
XR = np.array([-1.1, 0.3, 1.7])         # anywhere
CONTINUOUS = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf"]
DENSITIES = ["pdf", "logpdf"]

# (distribution, method, function of the differentiated arguments, arguments)
CASES = (
    [(st.norm, m, lambda f: (lambda x, loc, scale: f(x, loc, scale)), (XR, 0.3, 1.4))
     for m in CONTINUOUS]
    + [(st.norm, m, lambda f: (lambda x, loc: f(x, loc=loc, scale=0.8)), (R(2, 3), R(3)))
       for m in CONTINUOUS]
    + [(st.t, m, lambda f: (lambda x, df, loc, scale: f(x, df, loc, scale)),
        (XR, 3.5, 0.2, 1.3)) for m in DENSITIES]
    + [(st.t, m, lambda f: (lambda x, loc, scale: f(x, 4.5, loc, scale)), (XR, 0.2, 1.3))
       for m in CONTINUOUS]
    + [(st.beta, m, lambda f: (lambda x, a, b: f(x, a, b)), (X, 2.5, 1.7)) for m in DENSITIES]
    + [(st.beta, m, lambda f: (lambda x, loc, scale: f(x, 2.5, 1.7, loc, scale)),
        (X, -0.1, 1.3)) for m in CONTINUOUS]
    + [(st.gamma, m, lambda f: (lambda x, a, scale: f(x, a, scale=scale)), (XP, 2.2, 1.5))
       for m in DENSITIES]
    + [(st.gamma, m, lambda f: (lambda x, loc, scale: f(x, 2.2, loc, scale)), (XP, -0.2, 1.5))
       for m in CONTINUOUS]
    + [(st.chi2, m, lambda f: (lambda x, df: f(x, df)), (XP, 3.3)) for m in DENSITIES]
    + [(st.chi2, m, lambda f: (lambda x, scale: f(x, 2.5, scale=scale)), (XP, 1.2))
       for m in CONTINUOUS]
)


@pytest.mark.parametrize("dist,method,make,args", CASES,
                         ids=[f"{d.name}.{m}-{i}" for i, (d, m, _, _) in enumerate(CASES)])
def test_univariate(dist, method, make, args):
    fun = make(getattr(dist, method))
    check(fun, *args)
    # the traced computation gives SciPy's values
    out, _ = adkit.jvp(fun, args, tuple(np.zeros_like(a) for a in args))
    np.testing.assert_allclose(out, fun(*args), rtol=1e-12, atol=1e-300)


K = np.array([0, 1, 2, 5])


@pytest.mark.parametrize("method", ["pmf", "logpmf", "cdf", "logcdf", "sf", "logsf"])
def test_poisson(method):
    f = getattr(st.poisson, method)
    check(lambda mu: f(K, mu), 1.7)
    check(lambda mu: f(K[:, None], mu), Rpos(3))
    out, _ = adkit.jvp(lambda mu: f(K, mu), (1.7,), (1.0,))
    np.testing.assert_allclose(out, f(K, 1.7), rtol=1e-12)


def _spd(a):
    return a @ a.T + np.eye(a.shape[0])


MVN = st.multivariate_normal
A2 = R(2, 2, seed=3)


@pytest.mark.parametrize("method", ["logpdf", "pdf"])
def test_multivariate_normal(method):
    f = getattr(MVN, method)
    check(lambda x, mean, a: f(x, mean, _spd(a)), R(2), R(2), A2)          # one point
    check(lambda x, mean, a: f(x, mean, _spd(a)), R(3, 2), R(2), A2)       # three points
    check(lambda x, var: f(x, np.zeros(2), var), R(2), Rpos(2))             # diagonal cov
    check(lambda x, s: f(x, 0.5, s), R(4), 1.3)                             # 1-D, scalar cov
    out, _ = adkit.jvp(lambda x: f(x, R(2, seed=4), _spd(A2)), (R(3, 2, seed=5),),
                       (np.ones((3, 2)),))
    np.testing.assert_allclose(out, f(R(3, 2, seed=5), R(2, seed=4), _spd(A2)), rtol=1e-12)


def test_multivariate_normal_gradient_in_cov_is_the_textbook_one():
    # d logpdf / d cov = -(inv(cov) - inv(cov) dev dev^T inv(cov)) / 2 for symmetric cov
    x, mean, cov = R(2, seed=6), R(2, seed=7), _spd(A2)
    g = adkit.grad(lambda c: MVN.logpdf(x, mean, c))(cov)
    inv = np.linalg.inv(cov)
    dev = (x - mean)[:, None]
    np.testing.assert_allclose(g, -0.5 * (inv - inv @ dev @ dev.T @ inv), rtol=1e-10)


def test_multivariate_normal_entropy():
    check(lambda a: MVN.entropy(np.zeros(2), _spd(a)), A2)
    check(lambda s: MVN.entropy(cov=s), 1.7)


# a rank-2 covariance in 3-D: the points x = mean + b c stay in its range (the support), so
# the differences of SciPy's function that check() takes stay there too. SymPy is left out
# (symbolic=False): the pseudo-determinant's expression takes SymPy ~15 s to differentiate
B32, MEAN3 = R(3, 2, seed=21), R(3, seed=22)


@pytest.mark.parametrize("method", ["logpdf", "pdf"])
def test_multivariate_normal_singular(method):
    f = getattr(MVN, method)
    check(lambda c, mean, b: f(mean + b @ c, mean, b @ b.T, allow_singular=True),
          R(2, seed=23), MEAN3, B32, symbolic=False)
    check(lambda c, mean, b: f(mean + c @ b.T, mean, b @ b.T, allow_singular=True),
          R(4, 2, seed=24), MEAN3, B32, symbolic=False)                    # four points
    e0 = np.array([1.0, 0.0])                                              # a zero variance
    check(lambda x, var: f(x * e0, np.zeros(2), var * e0, allow_singular=True),
          R(2, seed=25), 1.7, symbolic=False)
    x = MEAN3 + R(5, 2, seed=26) @ B32.T
    out, _ = adkit.jvp(lambda x: f(x, MEAN3, B32 @ B32.T, allow_singular=True), (x,),
                       (np.ones_like(x),))
    np.testing.assert_allclose(out, f(x, MEAN3, B32 @ B32.T, allow_singular=True), rtol=1e-12)


def test_multivariate_normal_singular_gradients_are_the_pseudo_inverse_ones():
    # d/dx = -pinv(cov) dev; d/dcov = -(pinv - pinv dev dev^T pinv) / 2, as for a regular
    # cov with the pseudo-inverse in place of the inverse
    cov = B32 @ B32.T
    x = MEAN3 + B32 @ R(2, seed=27)
    gx, gc = adkit.grad(lambda x, c: MVN.logpdf(x, MEAN3, c, allow_singular=True), (0, 1))(x, cov)
    pinv, dev = np.linalg.pinv(cov), (x - MEAN3)[:, None]
    np.testing.assert_allclose(gx, -pinv @ dev[:, 0], rtol=1e-9)
    np.testing.assert_allclose(gc, -0.5 * (pinv - pinv @ dev @ dev.T @ pinv), rtol=1e-8,
                               atol=1e-12)
    # a regular cov with allow_singular=True is the ordinary density
    full = cov + 0.5 * np.eye(3)
    np.testing.assert_allclose(
        adkit.grad(lambda c: MVN.logpdf(x, MEAN3, c, allow_singular=True))(full),
        adkit.grad(lambda c: MVN.logpdf(x, MEAN3, c))(full), rtol=1e-12)


def test_multivariate_normal_singular_outside_the_support_is_minus_inf():
    cov = B32 @ B32.T
    null = np.linalg.svd(B32)[0][:, 2]
    x = np.stack([MEAN3 + B32 @ R(2, seed=28), MEAN3 + B32 @ R(2, seed=29) + 0.1 * null])
    with np.errstate(divide="ignore"):
        out, t = adkit.jvp(lambda x: MVN.logpdf(x, MEAN3, cov, allow_singular=True), (x,),
                           (np.ones_like(x),))
        np.testing.assert_array_equal(out, MVN.logpdf(x, MEAN3, cov, allow_singular=True))
        assert np.isfinite(out[0]) and out[1] == -np.inf and t[1] == 0.0
        g = adkit.grad(lambda x: np.sum(MVN.pdf(x, MEAN3, cov, allow_singular=True)))(x)
    assert np.all(g[1] == 0.0) and np.all(g[0] != 0.0)
    with pytest.raises(np.linalg.LinAlgError, match="allow_singular"):
        adkit.grad(lambda m: MVN.logpdf(x[0], m, cov))(MEAN3)


def test_multivariate_normal_singular_frozen_and_entropy():
    check(lambda c, b: MVN(MEAN3, b @ b.T, allow_singular=True).logpdf(MEAN3 + c @ b.T),
          R(3, 2, seed=30), B32, symbolic=False)
    check(lambda b: MVN(MEAN3, b @ b.T, allow_singular=True).entropy(), B32, symbolic=False)
    check(lambda b: MVN.entropy(MEAN3, b @ b.T), B32, symbolic=False)  # singular by default
    out = adkit.jvp(lambda b: MVN(MEAN3, b @ b.T, allow_singular=True).entropy(), (B32,),
                    (np.ones_like(B32),))[0]
    assert out == pytest.approx(MVN(MEAN3, B32 @ B32.T, allow_singular=True).entropy(),
                                rel=1e-12)


ALPHA = np.array([1.5, 2.5, 3.0])


@pytest.mark.parametrize("method", ["logpdf", "pdf"])
def test_dirichlet(method):
    f = getattr(st.dirichlet, method)
    check(lambda y, alpha: f(sp.softmax(y), alpha), R(3), ALPHA)                # on the simplex
    check(lambda x, alpha: f(x, alpha), np.array([0.2, 0.5]), ALPHA)           # last implied
    check(lambda y: f(np.transpose(sp.softmax(y, axis=1)), ALPHA), R(4, 3))     # (K, N) points


# --- edges: SciPy's values outside the support and for invalid parameters ------------------------


@pytest.mark.parametrize("dist,args,x", [
    (st.beta, (2.0, 3.0), np.array([-0.5, 0.3, 1.5])),
    (st.gamma, (2.0,), np.array([-1.0, 0.5, 2.0])),
    (st.chi2, (3.0,), np.array([-1.0, 0.5, 2.0]))])
@pytest.mark.parametrize("method", CONTINUOUS)
def test_outside_the_support(dist, args, x, method):
    f = getattr(dist, method)
    with np.errstate(divide="ignore"):
        out, t = adkit.jvp(lambda x: f(x, *args), (x,), (np.ones(3),))
        np.testing.assert_allclose(out, f(x, *args), rtol=1e-12)
    outside = (x < 0) | (x > 1 if dist is st.beta else False)
    assert np.all(t[outside] == 0.0)  # constant outside the support


@pytest.mark.parametrize("fun,x", [
    (lambda scale: st.norm.logpdf(0.3, 0.0, scale), -1.0), (lambda a: st.gamma.pdf(0.3, a), -2.0),
    (lambda x: st.t.cdf(x, -1.0), 0.3), (lambda mu: st.poisson.pmf(2, mu), -0.5)])
def test_invalid_parameters_give_nan_as_scipy(fun, x):
    value, tangent = adkit.jvp(fun, (x,), (1.0,))
    assert np.isnan(value) and np.isnan(fun(x))


# the distribution functions in their shape parameters: incomplete gamma/beta functions,
# differentiable once there (by quadrature; the cases above take them to second order in x)
DISTRIBUTION = ["cdf", "logcdf", "sf", "logsf"]
SHAPE_CASES = (
    [(st.t, m, lambda f: (lambda x, df: f(x, df, 0.2, 1.3)), (XR, 3.5)) for m in DISTRIBUTION]
    + [(st.beta, m, lambda f: (lambda x, a, b: f(x, a, b)), (X, 2.5, 1.7)) for m in DISTRIBUTION]
    + [(st.beta, m, lambda f: (lambda a, b: f(X, a, b, scale=1.1)), (0.6, 0.8))
       for m in ("cdf", "sf")]
    + [(st.gamma, m, lambda f: (lambda x, a: f(x, a, scale=1.5)), (XP, 2.2)) for m in DISTRIBUTION]
    + [(st.gamma, m, lambda f: (lambda a: f(XP, a)), 0.4) for m in ("cdf", "logsf")]
    + [(st.chi2, m, lambda f: (lambda x, df: f(x, df)), (XP, 3.3)) for m in DISTRIBUTION]
)


@pytest.mark.parametrize("dist,method,make,args", SHAPE_CASES,
                         ids=[f"{d.name}.{m}-{i}" for i, (d, m, _, _) in enumerate(SHAPE_CASES)])
def test_shape_parameters_of_distribution_functions(dist, method, make, args):
    fun = make(getattr(dist, method))
    args = args if isinstance(args, tuple) else (args,)
    check(fun, *args, order=1)


@pytest.mark.parametrize("fun,name", [
    (lambda a: st.gamma.cdf(1.0, a), "a"), (lambda df: st.t.sf(0.5, df), "a"),
    (lambda b: st.beta.logcdf(0.5, 2.0, b), "b"), (lambda df: st.chi2.cdf(2.0, df), "a")])
def test_second_derivatives_in_shape_parameters_are_refused(fun, name):
    with pytest.raises(NoRuleError, match=rf"second derivative of scipy\.special.*{name}"):
        adkit.hessian(fun)(2.5)


def test_poisson_count_is_not_differentiable():
    with pytest.raises(NoRuleError, match="k is a count"):
        adkit.grad(lambda k: st.poisson.logpmf(k, 2.0))(3.0)


def test_wrong_arguments_say_what_the_method_takes():
    with pytest.raises(TypeError, match=r"scipy\.stats\.norm\.pdf.*unexpected.*'mu'"):
        adkit.grad(lambda x: st.norm.pdf(x, mu=1.0))(0.3)
    with pytest.raises(TypeError, match=r"scipy\.stats\.t\.logpdf is missing df"):
        adkit.grad(lambda x: st.t.logpdf(x))(0.3)


def test_superset_of_autograd_scipy_stats():
    # autograd 1.9's scipy.stats: the functions it differentiates
    autograd = {"norm": CONTINUOUS, "t": ["pdf", "cdf", "logpdf", "logcdf"],
                "beta": ["cdf", "logpdf", "pdf"], "gamma": ["cdf", "logpdf", "pdf"],
                "chi2": ["cdf", "logpdf", "pdf"], "poisson": ["cdf", "logpmf", "pmf"],
                "multivariate_normal": ["logpdf", "pdf", "entropy"],
                "dirichlet": ["logpdf", "pdf"]}
    from adkit.table import COVERAGE
    missing = [f"{d}.{m}" for d, ms in autograd.items() for m in ms
               if f"scipy.stats.{d}.{m}" not in COVERAGE]
    assert missing == []


# --- frozen distributions with traced parameters ---------------------------------------------


def test_frozen_distributions():
    check(lambda loc, scale: st.norm(loc, scale).logpdf(XR), 0.3, 1.4)
    check(lambda x, a: st.gamma(a, scale=1.5).cdf(x), XP, 2.2, argnums=(0,))
    check(lambda mu: st.poisson(mu).pmf(K), 1.7)
    x = R(3, 2, seed=20)
    check(lambda mean, a: MVN(mean, _spd(a)).logpdf(x), R(2), A2)
    check(lambda a: MVN(np.zeros(2), _spd(a)).entropy(), A2)
    check(lambda alpha: st.dirichlet(alpha).pdf(np.array([0.2, 0.3, 0.5])), ALPHA)
    out = adkit.jvp(lambda m: MVN(m, _spd(A2)).logpdf(x), (R(2, seed=4),), (np.ones(2),))[0]
    np.testing.assert_allclose(out, MVN(R(2, seed=4), _spd(A2)).logpdf(x), rtol=1e-12)


def test_frozen_with_traced_parameters_names_what_it_offers():
    with pytest.raises(AttributeError, match=r"multivariate_normal\(\.\.\.\).*logpdf.*'rvs'"):
        adkit.grad(lambda m: MVN(m).rvs())(0.1)
