"""Code written for autograd + SciPy by others, ported as a user ports it.

Each case is a small paraphrase (our own names) of a pattern found in a public project, cited
in its comment. It is written once against a "kit" of namespaces, and run twice: with NumPy,
SciPy and adkit (the port: `autograd.numpy` -> `numpy`, `autograd.scipy.X` -> `scipy.X`,
`autograd` -> `adkit`), and, where autograd is installed, with autograd's own namespaces.
The referees are autograd's answers, adkit.numeric finite differences, and closed forms where
the source gives one.
"""

from types import SimpleNamespace

import numpy
import pytest

scipy = pytest.importorskip("scipy", reason="SciPy is not installed")
import scipy.integrate  # noqa: E402
import scipy.linalg  # noqa: E402
import scipy.optimize  # noqa: E402
import scipy.special  # noqa: E402
import scipy.stats  # noqa: E402

import adkit  # noqa: E402
from adkit import numeric  # noqa: E402

import adkit.builtins  # noqa: E402

ADKIT = SimpleNamespace(np=numpy, special=scipy.special, stats=scipy.stats,
                        linalg=scipy.linalg, integrate=scipy.integrate, ad=adkit,
                        builtins=adkit.builtins, name="adkit")


def _autograd_kit():
    autograd = pytest.importorskip("autograd", reason="autograd is not installed (referee)")
    import autograd.builtins
    import autograd.numpy as anp
    import autograd.scipy.integrate
    import autograd.scipy.linalg
    import autograd.scipy.special
    import autograd.scipy.stats
    return SimpleNamespace(np=anp, special=autograd.scipy.special, stats=autograd.scipy.stats,
                           linalg=autograd.scipy.linalg, integrate=autograd.scipy.integrate,
                           ad=autograd, builtins=autograd.builtins, name="autograd")


def _both(run):
    """run(kit) with adkit's kit, and with autograd's where it is installed (else None)."""
    ours = run(ADKIT)
    try:
        theirs = run(_autograd_kit())
    except pytest.skip.Exception:
        theirs = None
    return ours, theirs


def _agree(ours, theirs, rtol=1e-10, atol=1e-12):
    if theirs is None:
        return
    for a, b in zip(numpy.atleast_1d(ours) if not isinstance(ours, tuple) else ours,
                    numpy.atleast_1d(theirs) if not isinstance(theirs, tuple) else theirs):
        numpy.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# --- 1. GP hyperparameters by MAP: Cholesky, solve_triangular, slogdet, value_and_grad + BFGS
# (pattern from a GP smoothing module: autograd.scipy.linalg.solve_triangular twice on the
# Cholesky factor, minimize(value_and_grad(f), jac=True, method="BFGS"))

GP_X = numpy.linspace(0.0, 4.0, 12)
GP_Y = numpy.sin(1.7 * GP_X) + 0.1 * numpy.cos(5.0 * GP_X)


def _gp_objective(k):
    np, spl = k.np, k.linalg

    def solve_via_cholesky(chol, y):
        return spl.solve_triangular(chol.T, spl.solve_triangular(chol, y, lower=True))

    def negative_log_posterior(theta):
        amplitude, lengthscale, noise = theta ** 2
        gram = amplitude * np.exp(-0.5 * (GP_X[:, None] - GP_X[None, :]) ** 2 / lengthscale ** 2)
        gram = gram + np.diag(noise * np.ones(GP_X.shape[0]))
        chol = np.linalg.cholesky(gram)
        marginal = -0.5 * np.linalg.slogdet(gram)[1] - 0.5 * GP_Y @ solve_via_cholesky(chol, GP_Y)
        prior = 2.0 * np.log(lengthscale) - 3.0 * lengthscale  # Gamma(3, 1/3) prior
        return -marginal - prior
    return negative_log_posterior


def test_gp_map_fit_by_bfgs_with_value_and_grad():
    def run(k):
        f = _gp_objective(k)
        start = numpy.array([1.0, 1.0, 1.0])
        g = k.ad.grad(f)(start)
        fit = scipy.optimize.minimize(k.ad.value_and_grad(f), [1.0, 1.0, 1.0], jac=True,
                                      method="BFGS", tol=1e-3)
        assert fit.success
        return g, fit.x
    (g, x), theirs = _both(run)
    f = _gp_objective(ADKIT)
    numpy.testing.assert_allclose(g, numeric.gradient(f, numpy.ones(3)), rtol=1e-6)
    _agree((g, x), theirs, rtol=1e-8)


# --- 2. Gamma-likelihood MLE, then the information matrix from autograd.hessian
# (pattern from tweezepy's smmcalibration: scipy.stats.gamma.logpdf(y / scale, shape) with a
# traced scale, a derivative-free Nelder-Mead fit, hessian(negLL) for the standard errors)

PSD_F = numpy.geomspace(1.0, 200.0, 25)
PSD_SHAPE = numpy.full(25, 8.0)


def _lorentzian(f, alpha, kappa):
    return 4.1 / (numpy.pi ** 2 * alpha * ((kappa / (2 * numpy.pi * alpha)) ** 2 + f ** 2))


PSD_Y = _lorentzian(PSD_F, 1e-5, 0.02) * (1.0 + 0.1 * numpy.sin(PSD_F))


def _gamma_negll(k):
    np, gamma = k.np, k.stats.gamma

    def negll(p):
        scale = 4.1 / (np.pi ** 2 * p[0] * 1e-5 * ((p[1] * 0.01 / (2 * np.pi * p[0] * 1e-5)) ** 2
                                                   + PSD_F ** 2)) / PSD_SHAPE
        return -0.5 * np.sum(gamma.logpdf(PSD_Y / scale, PSD_SHAPE) - np.log(scale))
    return negll


def test_gamma_likelihood_information_matrix_by_hessian():
    start = scipy.optimize.minimize(_gamma_negll(ADKIT), [1.2, 1.8], method="Nelder-Mead").x
    ours, theirs = _both(lambda k: k.ad.hessian(_gamma_negll(k))(start))
    numpy.testing.assert_allclose(ours, numeric.hessian(_gamma_negll(ADKIT), start), rtol=1e-5)
    _agree(ours, theirs)
    assert numpy.all(numpy.linalg.eigvalsh(ours) > 0)  # a minimum: standard errors exist


# --- 3. Log-normal accelerated failure time model (lifelines' LogNormalAFTFitter pattern:
# norm.logpdf, norm.logsf and norm.logcdf of a traced Z, fit by BFGS, variance from the Hessian)

RNG = numpy.random.RandomState(7)
AFT_X = numpy.column_stack([RNG.randn(40), numpy.ones(40)])
AFT_T = numpy.exp(AFT_X @ numpy.array([0.5, 1.0]) + 0.6 * RNG.randn(40))
AFT_E = (RNG.rand(40) < 0.7).astype(float)  # 1 = observed, 0 = right-censored


def _aft_negll(k):
    np, norm = k.np, k.stats.norm

    def negll(params):
        mu = AFT_X @ params[:2]
        log_sigma = params[2]
        z = (np.log(AFT_T) - mu) / np.exp(log_sigma)
        log_hazard = norm.logpdf(z) - log_sigma - np.log(AFT_T) - norm.logsf(z)
        cumulative_hazard = -norm.logsf(z)
        return -(np.sum(AFT_E * log_hazard) - np.sum(cumulative_hazard)) / 40.0
    return negll


def test_lognormal_aft_fit_and_variance_matrix():
    def run(k):
        f = _aft_negll(k)
        fit = scipy.optimize.minimize(k.ad.value_and_grad(f), numpy.zeros(3), jac=True,
                                      method="BFGS")
        return fit.x, k.ad.hessian(f)(fit.x)
    (x, hess), theirs = _both(run)
    f = _aft_negll(ADKIT)
    numpy.testing.assert_allclose(adkit.grad(f)(x), numeric.gradient(f, x), atol=1e-7)
    numpy.testing.assert_allclose(hess, numeric.hessian(f, x), rtol=1e-5, atol=1e-7)
    _agree((x, hess), theirs, rtol=1e-7, atol=1e-9)
    log_cdf = adkit.grad(lambda z: numpy.sum(scipy.stats.norm.logcdf(z, loc=0, scale=1)))
    numpy.testing.assert_allclose(log_cdf(numpy.array([-1.0, 2.0])),
                                  scipy.stats.norm.pdf([-1.0, 2.0]) /
                                  scipy.stats.norm.cdf([-1.0, 2.0]), rtol=1e-12)


# --- 4. Expected improvement on a squared distance (emukit's L2ExpectedImprovement pattern:
# elementwise_grad of a function of a (means, variances) tuple, norm.cdf of a traced argument)

TARGET = numpy.zeros(3)


def _l2_ei(k):
    np, norm = k.np, k.stats.norm

    def ncx2_cdf(t, dof, nc):
        r1, r2, r3 = dof + nc, 2 * (dof + 2 * nc), 8 * (dof + 3 * nc)
        m = 1 - r1 * r3 / (3 * r2 ** 2)
        z = (t / (dof + nc)) ** m
        alpha = 1 + m * (m - 1) * (r2 / (2 * r1 ** 2) - (2 - m) * (1 - 3 * m) * r2 ** 2 /
                                   (8 * r1 ** 4))
        rho = m * np.sqrt(r2) / r1 * (1 - (1 - m) * (1 - 3 * m) / (4 * r1 ** 2) * r2)
        return norm.cdf((z - alpha) / rho)

    def improvement(mv, y_min):
        means, variances = mv
        gamma2 = variances.mean(axis=1)
        nc = ((TARGET - means) ** 2).sum(axis=1) / gamma2
        return (y_min * ncx2_cdf(y_min / gamma2, 3, nc)
                - gamma2 * (3 * ncx2_cdf(y_min / gamma2, 5, nc)
                            + nc * ncx2_cdf(y_min / gamma2, 7, nc)))
    return improvement


def test_elementwise_grad_of_a_tuple_argument():
    means, variances = RNG.randn(4, 3), RNG.rand(4, 3) + 0.5
    ours, theirs = _both(lambda k: k.ad.elementwise_grad(_l2_ei(k))((means, variances), 2.0))
    f = _l2_ei(ADKIT)
    numpy.testing.assert_allclose(
        ours[0], numeric.gradient(lambda m: numpy.sum(f((m, variances), 2.0)), means),
        rtol=1e-6, atol=1e-9)
    numpy.testing.assert_allclose(
        ours[1], numeric.gradient(lambda v: numpy.sum(f((means, v), 2.0)), variances),
        rtol=1e-6, atol=1e-9)
    _agree(ours, theirs)


# --- 5. Normal-inverse-Wishart log partition (svae's niw.py pattern: multigammaln of a traced
# array, slogdet); its gradient is the expected sufficient statistics, written in closed form
# with digamma in the same source: an independent referee

def _niw_log_partition(k):
    np, special = k.np, k.special

    def log_z(nu, scatter):
        d = scatter.shape[-1]
        return np.sum(d * nu / 2.0 * np.log(2.0) + special.multigammaln(nu / 2.0, d)
                      - nu / 2.0 * np.linalg.slogdet(scatter)[1])
    return log_z


def test_niw_log_partition_gradient_is_the_expected_statistics():
    nu = numpy.array([5.0, 6.5])
    scatter = numpy.stack([2.0 * numpy.eye(3), numpy.eye(3) + 0.1])
    ours, theirs = _both(lambda k: k.ad.grad(_niw_log_partition(k), (0, 1))(nu, scatter))
    d = 3
    # E[log det J] / 2 by the closed form: (sum digamma((nu - i) / 2) + d log 2 - log det S) / 2
    closed_nu = 0.5 * (numpy.sum(scipy.special.digamma((nu[:, None] - numpy.arange(d)) / 2.0),
                                 axis=1) + d * numpy.log(2.0)
                       - numpy.linalg.slogdet(scatter)[1])
    closed_scatter = -nu[:, None, None] / 2.0 * numpy.linalg.inv(scatter)
    numpy.testing.assert_allclose(ours[0], closed_nu, rtol=1e-12)
    numpy.testing.assert_allclose(ours[1], closed_scatter, rtol=1e-12)
    _agree(ours, theirs)
    hess = adkit.hessian(lambda n: _niw_log_partition(ADKIT)(n, scatter))(nu)
    numpy.testing.assert_allclose(
        numpy.diag(hess), 0.25 * numpy.sum(scipy.special.polygamma(
            1, (nu[:, None] - numpy.arange(d)) / 2.0), axis=1), rtol=1e-10)


# --- 6. Fisher metric of the beta family (geomstats' BetaMetric pattern: polygamma(1, .) of
# traced parameters stacked with np.array); its Christoffel symbols, written in the source with
# polygamma(2, .), are the metric's derivatives: an independent referee

def _beta_metric(k):
    np, polygamma = k.np, k.special.polygamma

    def metric(point):
        a, b = point[0], point[1]
        return np.array([[polygamma(1, a) - polygamma(1, a + b), -polygamma(1, a + b)],
                         [-polygamma(1, a + b), polygamma(1, b) - polygamma(1, a + b)]])
    return metric


def test_beta_fisher_metric_derivative_gives_the_christoffel_symbols():
    point = numpy.array([2.0, 3.5])
    ours, theirs = _both(lambda k: k.ad.jacobian(_beta_metric(k))(point))
    _agree(ours, theirs)
    # Christoffel symbols of the first kind from the metric's derivative, against the
    # source's closed form (its c1, c2, c3 for Gamma^0, divided by the metric determinant)
    dg = ours  # dg[i, j, k] = d g_ij / d theta_k
    first_kind = 0.5 * (dg.transpose(0, 2, 1) + dg - dg.transpose(1, 2, 0)
                        ).transpose(2, 0, 1)  # [k, i, j] = Gamma_{k, ij} ... lowered
    second_kind = numpy.einsum("lk,kij->lij", numpy.linalg.inv(_beta_metric(ADKIT)(point)),
                               first_kind)
    pg = scipy.special.polygamma
    a, b = point
    det = pg(1, a) * pg(1, b) - pg(1, a + b) * (pg(1, a) + pg(1, b))
    c1 = (pg(2, a) * pg(1, b) - pg(2, a) * pg(1, a + b) - pg(1, b) * pg(2, a + b)) / (2 * det)
    c2 = -pg(1, b) * pg(2, a + b) / (2 * det)
    c3 = (pg(2, b) * pg(1, a + b) - pg(1, b) * pg(2, a + b)) / (2 * det)
    numpy.testing.assert_allclose(second_kind[0], [[c1, c2], [c2, c3]], rtol=1e-10)


# --- 7. The g-and-k constraint's Jacobian (a manifold-sampling project's GKManifold pattern:
# erf-based normal cdf, `from autograd.numpy import concatenate as aconcatenate` bound at
# import, autograd.jacobian), against the hand-written Jacobian in the same source

from numpy import concatenate as bound_concatenate  # noqa: E402
from numpy import exp as bound_exp  # noqa: E402

Y_STAR = numpy.array([1.0, 2.0, 0.5])


def _gk_constraint(k, concatenate, exp):
    erf = k.special.erf

    def constraint(xi):
        theta = 10.0 * (erf(xi[:4] / k.np.sqrt(2.0)) + 1.0) / 2.0
        xi = concatenate((theta, xi[4:]))
        z = xi[4:]
        return (xi[0] + xi[1] * (1 + 0.8 * (1 - exp(-xi[2] * z)) / (1 + exp(-xi[2] * z)))
                * ((1 + z ** 2) ** xi[3]) * z) - Y_STAR
    return constraint


def _gk_jacobian_by_hand(xi):
    theta, z = 10.0 * scipy.special.ndtr(xi[:4]), xi[4:]
    a, b, g, kk = theta
    e = numpy.exp(g * z)
    skew = 1 + 0.8 * (1 - numpy.exp(-g * z)) / (1 + numpy.exp(-g * z))
    d_theta = numpy.stack([numpy.ones_like(z), skew * (1 + z ** 2) ** kk * z,
                           8 * b * z ** 2 * (1 + z ** 2) ** kk * e / (5 * (1 + e) ** 2),
                           b * z * (1 + z ** 2) ** kk * skew * numpy.log(1 + z ** 2)], axis=1)
    d_theta = d_theta * 10.0 * scipy.stats.norm.pdf(xi[:4])
    d_z = numpy.diag(b * (1 + z ** 2) ** (kk - 1) * (
        ((18 * kk + 9) * z ** 2 + 9) * e ** 2
        + (8 * g * z ** 3 + (20 * kk + 10) * z ** 2 + 8 * g * z + 10) * e
        + (2 * kk + 1) * z ** 2 + 1) / (5 * (1 + e) ** 2))
    return numpy.concatenate([d_theta, d_z], axis=1)


def test_g_and_k_constraint_jacobian_with_numpy_names_bound_at_import():
    xi = numpy.array([0.1, -0.2, 0.3, 0.05, 0.4, -0.3, 0.2])

    def run(k):
        if k.name == "adkit":
            return k.ad.jacobian(_gk_constraint(k, bound_concatenate, bound_exp))(xi)
        return k.ad.jacobian(_gk_constraint(k, k.np.concatenate, k.np.exp))(xi)
    ours, theirs = _both(run)
    numpy.testing.assert_allclose(ours, _gk_jacobian_by_hand(xi), rtol=1e-10)
    _agree(ours, theirs)


# --- 8. Mean-field Student-t and Gaussian variational families (viabel's pattern:
# t.logpdf(x, df, mean, exp(log_scale)) and multivariate_normal.logpdf(x, mean, diag(...)) of
# reparameterized samples, differentiated in the variational parameters)

def _variational_log_densities(k):
    np, t_dist, mvn = k.np, k.stats.t, k.stats.multivariate_normal
    noise = numpy.random.RandomState(3).randn(6, 2)

    def student(param):
        mean, log_scale = param[:2], param[2:]
        x = mean + np.exp(log_scale) * noise
        return np.sum(t_dist.logpdf(x, 5.0, mean + 0.1, np.exp(log_scale)))

    def gaussian(param):
        mean, log_std = param[:2], param[2:]
        x = mean + np.exp(log_std) * noise
        return np.sum(mvn.logpdf(x, mean * 0.5, np.diag(np.exp(2 * log_std))))
    return student, gaussian


def test_variational_family_log_densities_in_their_parameters():
    param = numpy.array([0.3, -0.4, 0.2, -0.1])

    def run(k):
        student, gaussian = _variational_log_densities(k)
        return (k.ad.grad(student)(param), k.ad.grad(gaussian)(param),
                k.ad.hessian(gaussian)(param))
    ours, theirs = _both(run)
    student, gaussian = _variational_log_densities(ADKIT)
    numpy.testing.assert_allclose(ours[0], numeric.gradient(student, param), rtol=1e-6)
    numpy.testing.assert_allclose(ours[1], numeric.gradient(gaussian, param), rtol=1e-6)
    numpy.testing.assert_allclose(ours[2], numeric.hessian(gaussian, param), rtol=1e-5,
                                  atol=1e-6)
    _agree(ours, theirs)


# --- 9. Bayesian optimization's expected improvement, maximized by L-BFGS-B with an autograd
# gradient (autograd's examples/bayesian_optimization.py pattern: norm.cdf and norm.pdf)

def _negative_ei(k):
    np, norm = k.np, k.stats.norm
    best = 0.2

    def neg_ei(x):
        mean = np.sin(3.0 * x[0]) + 0.5 * x[0] ** 2
        std = 0.3 + 0.2 * np.cos(x[0]) ** 2
        z = (best - mean) / std
        return -std * (z * norm.cdf(z) + norm.pdf(z))
    return neg_ei


def test_expected_improvement_maximized_with_lbfgsb():
    def run(k):
        f = _negative_ei(k)
        fit = scipy.optimize.minimize(f, [0.3], jac=k.ad.grad(f), method="L-BFGS-B",
                                      bounds=[(-2.0, 2.0)])
        return fit.x, fit.nit
    (x, nit), theirs = _both(run)
    f = _negative_ei(ADKIT)
    numpy.testing.assert_allclose(adkit.grad(f)(numpy.array([0.3])),
                                  numeric.gradient(f, numpy.array([0.3])), rtol=1e-7)
    assert abs(adkit.grad(f)(x)[0]) < 1e-4
    if theirs is not None:
        numpy.testing.assert_allclose(x, theirs[0], rtol=1e-9)
        assert nit == theirs[1]


# --- 10. Poisson regression by Newton-CG with autograd's Hessian (a GLM pattern:
# poisson.logpmf(counts, exp(X @ w)))

GLM_X = numpy.column_stack([numpy.ones(30), numpy.linspace(-1.0, 1.0, 30)])
GLM_COUNTS = numpy.random.RandomState(11).poisson(numpy.exp(GLM_X @ [0.5, 1.2]))


def _poisson_negll(k):
    np, poisson = k.np, k.stats.poisson

    def negll(w):
        return -np.sum(poisson.logpmf(GLM_COUNTS, np.exp(GLM_X @ w)))
    return negll


def test_poisson_regression_by_newton_cg():
    def run(k):
        f = _poisson_negll(k)
        fit = scipy.optimize.minimize(f, numpy.zeros(2), jac=k.ad.grad(f),
                                      hess=k.ad.hessian(f), method="Newton-CG")
        return fit.x
    ours, theirs = _both(run)
    # the score equations of the Poisson GLM: X^T (counts - exp(X w)) = 0
    numpy.testing.assert_allclose(GLM_X.T @ (GLM_COUNTS - numpy.exp(GLM_X @ ours)), 0.0,
                                  atol=1e-6)
    _agree(ours, theirs, rtol=1e-9)


# --- 11. The beta family's score by polygamma (a Kumaraswamy/beta variational project's
# beta_score: log x - psi(a) + psi(a + b)) is the gradient of beta.logpdf in (a, b)

def test_beta_logpdf_gradient_is_the_polygamma_score():
    x = numpy.array([0.2, 0.55, 0.9])

    def run(k):
        return k.ad.grad(lambda a, b: k.np.sum(k.stats.beta.logpdf(x, a, b)), (0, 1))(1.7, 2.4)
    ours, theirs = _both(run)
    psi = scipy.special.polygamma
    numpy.testing.assert_allclose(
        ours, [numpy.sum(numpy.log(x) - psi(0, 1.7) + psi(0, 4.1)),
               numpy.sum(numpy.log1p(-x) - psi(0, 2.4) + psi(0, 4.1))], rtol=1e-12)
    _agree(ours, theirs)


# --- 12. An ODE's parameters fitted through odeint (autograd's examples/ode_net.py pattern:
# the parameters passed through args as `tuple((params,))` with autograd.builtins' tuple,
# which the port takes from adkit.builtins; grad through the solver)

ODE_T = numpy.linspace(0.0, 2.0, 9)
ODE_DATA = 1.5 * numpy.exp(-0.8 * ODE_T)


def _ode_loss(k):
    np, odeint, tuple_ = k.np, k.integrate.odeint, k.builtins.tuple

    def rhs(y, t, rate):
        return -rate * y

    def loss(params):
        path = odeint(rhs, params[:1], ODE_T, tuple_((params[1],)), rtol=1e-10, atol=1e-10)
        return np.sum((path[:, 0] - ODE_DATA) ** 2)
    return loss


def test_ode_parameters_fitted_through_odeint():
    start = numpy.array([1.0, 0.3])
    ours, theirs = _both(lambda k: k.ad.grad(_ode_loss(k))(start))
    # closed form: y = y0 exp(-r t)
    y0, r = start
    resid = y0 * numpy.exp(-r * ODE_T) - ODE_DATA
    exact = [numpy.sum(2 * resid * numpy.exp(-r * ODE_T)),
             numpy.sum(2 * resid * -ODE_T * y0 * numpy.exp(-r * ODE_T))]
    numpy.testing.assert_allclose(ours, exact, rtol=1e-6)
    _agree(ours, theirs, rtol=1e-6)
    # adkit also takes a plain tuple (args=(params[1],)), as SciPy users write it
    plain = SimpleNamespace(**{**vars(ADKIT), "builtins": SimpleNamespace(tuple=tuple)})
    numpy.testing.assert_allclose(adkit.grad(_ode_loss(plain))(start), ours, rtol=1e-12)
    f = _ode_loss(ADKIT)
    fit = scipy.optimize.minimize(f, start, jac=adkit.grad(f), method="BFGS")
    numpy.testing.assert_allclose(fit.x, [1.5, 0.8], rtol=1e-4)


# --- 13. A mixture's log likelihood with logsumexp over components, and a Dirichlet prior on
# the weights (black-box VI / mixture-model pattern: logsumexp(axis=1) of norm.logpdf + log w)

MIX_X = numpy.concatenate([numpy.random.RandomState(5).randn(15) - 2.0,
                           numpy.random.RandomState(6).randn(15) + 1.5])


def _mixture_log_posterior(k):
    np, special, stats = k.np, k.special, k.stats

    def log_posterior(params):
        logits, means, log_stds = params[:2], params[2:4], params[4:]
        log_w = logits - special.logsumexp(logits)
        comp = stats.norm.logpdf(MIX_X[:, None], means, np.exp(log_stds)) + log_w
        prior = stats.dirichlet.logpdf(np.exp(log_w), np.array([2.0, 2.0]))
        return np.sum(special.logsumexp(comp, axis=1)) + prior
    return log_posterior


def test_mixture_log_posterior_with_logsumexp_and_dirichlet_prior():
    params = numpy.array([0.2, -0.1, -1.5, 1.0, 0.1, -0.2])
    ours, theirs = _both(lambda k: k.ad.grad(_mixture_log_posterior(k))(params))
    f = _mixture_log_posterior(ADKIT)
    numpy.testing.assert_allclose(ours, numeric.gradient(f, params), rtol=1e-6)
    _agree(ours, theirs)
    hess = adkit.hessian(f)(params)
    numpy.testing.assert_allclose(hess, numeric.hessian(f, params), rtol=1e-5, atol=1e-5)


# --- 14. A tangent field fitted by its Fourier coefficients (nannos' _get_tangent_field_min
# pattern: complex coefficients built from a real vector, placed by a plain complex array,
# np.fft.ifft2 over two axes, the real part's squared error; Newton-CG with grad and
# hessian_vector_product)

HARMONICS = numpy.array([[0, 1, 0, 2, 1], [0, 0, 1, 1, 3]])
FIELD_TARGET = numpy.stack([numpy.cos(numpy.linspace(0, 3, 64)).reshape(8, 8),
                            numpy.sin(numpy.linspace(0, 2, 64)).reshape(8, 8)])


def _tangent_field_misfit(k):
    np = k.np
    nh = HARMONICS.shape[1]
    placement = numpy.zeros((8, 8, 1, nh), dtype=complex)
    placement[HARMONICS[0], HARMONICS[1], 0] = numpy.eye(nh)

    def amplitudes(coefficients):
        s = np.sum(np.array([coefficients]) * placement, axis=-1)
        return (np.fft.ifft2(s, axes=(0, 1)) * 64)[:, :, 0]

    def misfit(x):
        coef_x = x[:nh] + 1j * x[nh:2 * nh]
        coef_y = x[2 * nh:3 * nh] + 1j * x[3 * nh:]
        field = np.real(np.array([amplitudes(coef_x), amplitudes(coef_y)]))
        return np.mean(np.abs(field - FIELD_TARGET) ** 2)
    return misfit


def test_complex_fourier_coefficients_fitted_by_newton_cg():
    start = numpy.linspace(-0.2, 0.3, 20)

    def run(k):
        f = _tangent_field_misfit(k)
        fit = scipy.optimize.minimize(f, numpy.zeros(20), method="Newton-CG", jac=k.ad.grad(f),
                                      hessp=k.ad.hessian_vector_product(f), tol=1e-8)
        return k.ad.grad(f)(start), fit.x
    (g, x), theirs = _both(run)
    f = _tangent_field_misfit(ADKIT)
    numpy.testing.assert_allclose(g, numeric.gradient(f, start), rtol=1e-6, atol=1e-10)
    # a quadratic: the fit solves the normal equations, H x = -grad(0). H is taken away from
    # 0, where a zero residual meets |u|'s kink (|u|' = 0 there, autograd's convention too)
    hess = adkit.hessian(f)(start)
    numpy.testing.assert_allclose(hess @ x, -adkit.grad(f)(numpy.zeros(20)), atol=1e-7)
    _agree((g, x), theirs, rtol=1e-8, atol=1e-10)


# --- 15. Polya-gamma-free logistic regression weights by Newton-CG with jac=True and hessp
# (pyglm / pybasicbayes pattern: minimize(value_and_grad(nll), x0, jac=True,
# hessp=hessian_vector_product(nll), method="Newton-CG", tol=1e-3))

LOGIT_X = numpy.random.RandomState(21).randn(50, 3)
LOGIT_Y = (LOGIT_X @ numpy.array([1.0, -1.0, 0.5]) + 0.2
           + numpy.random.RandomState(22).randn(50) > 0).astype(float)


def _logistic_nll(k):
    np = k.np

    def log_logistic(z):
        return -np.logaddexp(0.0, -z)

    def nll(ab):
        psi = LOGIT_X @ ab[:-1] + ab[-1]
        ll = np.sum(LOGIT_Y * log_logistic(psi)) + np.sum((1 - LOGIT_Y) * log_logistic(-psi))
        ll = ll - 0.1 * 50 * np.sum(ab[:-1] ** 2) - 0.1 * 50 * ab[-1] ** 2
        return -ll / 50
    return nll


def test_logistic_weights_by_newton_cg_with_jac_true_and_hessp():
    def run(k):
        nll = _logistic_nll(k)
        fit = scipy.optimize.minimize(k.ad.value_and_grad(nll), numpy.zeros(4), tol=1e-3,
                                      method="Newton-CG", jac=True,
                                      hessp=k.ad.hessian_vector_product(nll))
        assert fit.success
        return fit.x
    ours, theirs = _both(run)
    nll = _logistic_nll(ADKIT)
    numpy.testing.assert_allclose(adkit.grad(nll)(ours), numeric.gradient(nll, ours), atol=1e-8)
    assert numpy.linalg.norm(adkit.grad(nll)(ours)) < 1e-3
    _agree(ours, theirs, rtol=1e-9)


# --- 16. Batched Gaussian and Student-t log densities by Cholesky factors (lindermanlab/ssm's
# stats.py pattern: solve_triangular of x.T, a list of per-matrix inverses stacked with
# np.array, einsum('...i,...ij->...j'), the Cholesky diagonal by a strided reshape, the
# builtin abs, gammaln), against scipy.stats' own densities

def _ssm_densities(k):
    np, solve_triangular, gammaln = k.np, k.linalg.solve_triangular, k.special.gammaln

    def mahalanobis(chol, x):
        if x.ndim == 2 and chol.ndim == 2:
            return np.sum(solve_triangular(chol, x.T, lower=True) ** 2, axis=0)
        flat = np.reshape(chol[None, ...], (-1,) + chol.shape[-2:])
        inverses = np.reshape(np.array([np.linalg.inv(c.T) for c in flat]), chol.shape)
        return np.sum(np.einsum("...i,...ij->...j", x, inverses) ** 2, axis=-1)

    def half_log_det(chol):
        d = chol.shape[-1]
        return np.sum(np.log(abs(np.reshape(chol, chol.shape[:-2] + (-1,))[..., ::d + 1])),
                      axis=-1)

    def gaussian(data, mus, sigmas):
        d = data.shape[-1]
        chol = np.linalg.cholesky(sigmas)
        return (-0.5 * mahalanobis(chol, data - mus) - 0.5 * d * np.log(2 * np.pi)
                - half_log_det(chol))

    def student(data, mus, sigmas, nus):
        d = data.shape[-1]
        chol = np.linalg.cholesky(sigmas)
        q = mahalanobis(chol, data - mus) / nus
        return (-0.5 * (nus + d) * np.log1p(q) + gammaln(0.5 * (nus + d)) - gammaln(0.5 * nus)
                - 0.5 * d * np.log(np.pi) - 0.5 * d * np.log(nus) - half_log_det(chol))
    return gaussian, student


SSM_DATA = numpy.random.RandomState(31).randn(5, 2)
SSM_SIGMAS = numpy.array([[[2.0, 0.3], [0.3, 1.0]], [[1.0, -0.2], [-0.2, 0.5]]])


def test_batched_gaussian_and_student_t_log_densities():
    mus = numpy.array([[0.1, -0.3], [0.5, 0.2]])

    def run(k):
        gaussian, student = _ssm_densities(k)

        def total(mus, sigmas, nus):
            two_d = k.np.sum(gaussian(SSM_DATA, mus[0], sigmas[0]))  # the 2-D special case
            batched = k.np.sum(gaussian(SSM_DATA[:, None, :], mus, sigmas))
            return two_d + batched + k.np.sum(student(SSM_DATA[:, None, :], mus, sigmas, nus))
        return k.ad.grad(total, (0, 1, 2))(mus, SSM_SIGMAS, numpy.array([3.0, 7.5]))
    ours, theirs = _both(run)
    gaussian, student = _ssm_densities(ADKIT)
    numpy.testing.assert_allclose(
        gaussian(SSM_DATA[:, None, :], mus, SSM_SIGMAS),
        numpy.stack([scipy.stats.multivariate_normal.logpdf(SSM_DATA, mus[j], SSM_SIGMAS[j])
                     for j in range(2)], axis=1), rtol=1e-12)
    numpy.testing.assert_allclose(
        student(SSM_DATA[:, None, :], mus, SSM_SIGMAS, numpy.array([3.0, 7.5])),
        numpy.stack([scipy.stats.multivariate_t.logpdf(SSM_DATA, mus[j], SSM_SIGMAS[j], df)
                     for j, df in enumerate([3.0, 7.5])], axis=1), rtol=1e-12)

    def total_plain(mus, sigmas, nus):
        return (numpy.sum(gaussian(SSM_DATA, mus[0], sigmas[0]))
                + numpy.sum(gaussian(SSM_DATA[:, None, :], mus, sigmas))
                + numpy.sum(student(SSM_DATA[:, None, :], mus, sigmas, nus)))
    nus = numpy.array([3.0, 7.5])
    numpy.testing.assert_allclose(ours[0], numeric.gradient(
        lambda m: total_plain(m, SSM_SIGMAS, nus), mus), rtol=1e-6)
    # symmetric perturbations of the covariances (Cholesky reads one triangle)
    direction = numpy.array([[[1.0, 0.5], [0.5, -1.0]], [[0.3, -0.2], [-0.2, 0.7]]])
    numerical = (total_plain(mus, SSM_SIGMAS + 1e-6 * direction, nus)
                 - total_plain(mus, SSM_SIGMAS - 1e-6 * direction, nus)) / 2e-6
    numpy.testing.assert_allclose(numpy.sum(ours[1] * direction), numerical, rtol=1e-6)
    numpy.testing.assert_allclose(ours[2], numeric.gradient(
        lambda n: total_plain(mus, SSM_SIGMAS, n), nus), rtol=1e-6)
    # adkit's Cholesky derivative lives on the triangle LAPACK reads (off-diagonal entries
    # count twice, the other triangle 0: adkit/rules/linalg.py); autograd's is the
    # symmetrized one. They agree along every symmetric direction, i.e. after symmetrizing
    symmetrized = 0.5 * (ours[1] + numpy.swapaxes(ours[1], -1, -2))
    _agree((ours[0], symmetrized, ours[2]), theirs)
