"""SciPy's optimizers and solvers driven by adkit's derivatives, written the way users write them.

`minimize(f, x0, jac=adkit.grad(f), hess=adkit.hessian(f))` and friends must reach the answer
SciPy reaches with exact hand-written derivatives, along the same path (same iteration count),
for every method that takes derivatives. The referee is the hand-written derivative; each
adkit derivative is also checked against adkit.numeric at the start point.
"""

import numpy as np
import pytest

so = pytest.importorskip("scipy.optimize", reason="SciPy is not installed")

import adkit  # noqa: E402
from adkit import numeric  # noqa: E402


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


X0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])
NEAR = np.array([1.1, 1.05, 0.95, 1.02, 1.0])  # dogleg needs a positive definite start


def test_adkit_derivatives_of_the_objective_equal_scipys_and_finite_differences():
    np.testing.assert_allclose(adkit.grad(rosenbrock)(X0), so.rosen_der(X0), rtol=1e-13)
    np.testing.assert_allclose(adkit.hessian(rosenbrock)(X0), so.rosen_hess(X0), rtol=1e-13)
    v = np.linspace(-1.0, 1.0, 5)
    np.testing.assert_allclose(adkit.hessian_vector_product(rosenbrock)(X0, v),
                               so.rosen_hess_prod(X0, v), rtol=1e-13)
    np.testing.assert_allclose(adkit.grad(rosenbrock)(X0), numeric.gradient(rosenbrock, X0),
                               rtol=1e-7)
    np.testing.assert_allclose(adkit.hessian(rosenbrock)(X0), numeric.hessian(rosenbrock, X0),
                               rtol=1e-5, atol=1e-4)
    # scipy.optimize's own rosen, differentiated as written
    np.testing.assert_allclose(adkit.grad(so.rosen)(X0), so.rosen_der(X0), rtol=1e-13)
    np.testing.assert_allclose(adkit.jacobian(so.rosen_der)(X0), so.rosen_hess(X0), rtol=1e-13)


def _same_answer(ours, exact, rtol=1e-8):
    assert ours.success == exact.success
    np.testing.assert_allclose(ours.x, exact.x, rtol=rtol, atol=1e-10)
    if hasattr(exact, "nit"):
        assert ours.nit == exact.nit


@pytest.mark.parametrize("method", ["BFGS", "L-BFGS-B", "SLSQP"])
def test_gradient_methods(method):
    ours = so.minimize(rosenbrock, X0, jac=adkit.grad(rosenbrock), method=method)
    exact = so.minimize(so.rosen, X0, jac=so.rosen_der, method=method)
    _same_answer(ours, exact)
    np.testing.assert_allclose(ours.x, np.ones(5), atol=1e-4)


@pytest.mark.parametrize("method", ["CG", "TNC"])
def test_gradient_methods_sensitive_to_rounding(method):
    # CG and TNC amplify the last-bit differences between two exact gradients (adkit's chain
    # rule and SciPy's closed form differ by 1e-13): both stop inside the solver's tolerance
    ours = so.minimize(rosenbrock, X0, jac=adkit.grad(rosenbrock), method=method)
    exact = so.minimize(so.rosen, X0, jac=so.rosen_der, method=method)
    assert ours.success and exact.success
    np.testing.assert_allclose(ours.x, exact.x, atol=2e-5)


@pytest.mark.parametrize("method", ["Newton-CG", "trust-ncg", "trust-krylov", "trust-exact",
                                    "dogleg", "trust-constr"])
def test_hessian_methods(method):
    x0 = NEAR if method == "dogleg" else X0
    ours = so.minimize(rosenbrock, x0, jac=adkit.grad(rosenbrock),
                       hess=adkit.hessian(rosenbrock), method=method)
    exact = so.minimize(so.rosen, x0, jac=so.rosen_der, hess=so.rosen_hess, method=method)
    _same_answer(ours, exact)


@pytest.mark.parametrize("method", ["Newton-CG", "trust-ncg", "trust-krylov", "trust-constr"])
def test_hessian_vector_product_methods(method):
    ours = so.minimize(rosenbrock, X0, jac=adkit.grad(rosenbrock),
                       hessp=adkit.hessian_vector_product(rosenbrock), method=method)
    exact = so.minimize(so.rosen, X0, jac=so.rosen_der, hessp=so.rosen_hess_prod,
                        method=method)
    _same_answer(ours, exact)


def test_value_and_grad_as_jac_true_with_bounds():
    fun = adkit.value_and_grad(rosenbrock)
    for kwargs in ({"method": "BFGS"}, {"method": "L-BFGS-B", "bounds": [(0.0, 1.5)] * 5}):
        ours = so.minimize(fun, X0, jac=True, **kwargs)
        exact = so.minimize(so.rosen, X0, jac=so.rosen_der, **kwargs)
        _same_answer(ours, exact)


@pytest.mark.parametrize("x0", [np.array([2, 0, 1, 2, 1]), [1.3, 0.7, 0.8], (2, 1)],
                         ids=["int-array", "list", "int-tuple"])
def test_integer_and_list_start_points(x0):
    for method, extra, exact_extra in (("BFGS", {}, {}),
                                       ("Newton-CG", {"hess": adkit.hessian(rosenbrock)},
                                        {"hess": so.rosen_hess})):
        ours = so.minimize(rosenbrock, x0, jac=adkit.grad(rosenbrock), method=method, **extra)
        exact = so.minimize(so.rosen, x0, jac=so.rosen_der, method=method, **exact_extra)
        _same_answer(ours, exact)


def test_scalar_start_point():
    def f(x):
        return (x - 2.0) ** 2 + np.sin(x)
    ours = so.minimize(f, 0.0, jac=adkit.grad(f), method="BFGS")
    exact = so.minimize(f, 0.0, jac=lambda x: 2.0 * (x - 2.0) + np.cos(x), method="BFGS")
    _same_answer(ours, exact)


A_W = np.array([1.0, 2.0, 3.0])
B_C = np.array([0.5, -1.0, 2.0])


def weighted_quartic(x, a, b):
    return np.sum(a * (x - b) ** 2) + np.sum(x ** 4)


def weighted_quartic_grad(x, a, b):
    return 2.0 * a * (x - b) + 4.0 * x ** 3


def weighted_quartic_hess(x, a, b):
    return np.diag(2.0 * a + 12.0 * x ** 2)


@pytest.mark.parametrize("method", ["BFGS", "L-BFGS-B", "Newton-CG", "trust-exact",
                                    "trust-krylov"])
def test_extra_args_reach_the_derivatives(method):
    hess = method in ("Newton-CG", "trust-exact", "trust-krylov")
    ours = so.minimize(weighted_quartic, np.zeros(3), args=(A_W, B_C),
                       jac=adkit.grad(weighted_quartic), method=method,
                       **({"hess": adkit.hessian(weighted_quartic)} if hess else {}))
    exact = so.minimize(weighted_quartic, np.zeros(3), args=(A_W, B_C),
                        jac=weighted_quartic_grad, method=method,
                        **({"hess": weighted_quartic_hess} if hess else {}))
    _same_answer(ours, exact)


def test_hessp_with_extra_args_takes_the_vector_last():
    # SciPy calls hessp(x, p, *args); adkit's (like autograd's) product takes the vector last
    hvp = adkit.hessian_vector_product(weighted_quartic)
    ours = so.minimize(weighted_quartic, np.zeros(3), args=(A_W, B_C),
                       jac=adkit.grad(weighted_quartic),
                       hessp=lambda x, p, *args: hvp(x, *args, p), method="Newton-CG")
    exact = so.minimize(weighted_quartic, np.zeros(3), args=(A_W, B_C),
                        jac=weighted_quartic_grad,
                        hessp=lambda x, p, a, b: weighted_quartic_hess(x, a, b) @ p,
                        method="Newton-CG")
    _same_answer(ours, exact)


def _objective(x):
    return (x[0] - 1.0) ** 2 + (x[1] - 2.5) ** 2


def _constraints(x):
    return np.array([x[0] ** 2 + x[1], x[0] ** 2 - x[1]])


def _constraints_jac(x):
    return np.array([[2.0 * x[0], 1.0], [2.0 * x[0], -1.0]])


def test_slsqp_with_constraint_jacobians():
    def ineq(x):
        return 1.0 - _constraints(x)[0]

    def eq(x):
        return _constraints(x)[1]

    ours = so.minimize(_objective, [2.0, 0.0], jac=adkit.grad(_objective), method="SLSQP",
                       constraints=[{"type": "ineq", "fun": ineq, "jac": adkit.jacobian(ineq)},
                                    {"type": "eq", "fun": eq, "jac": adkit.jacobian(eq)}])
    exact = so.minimize(
        _objective, [2.0, 0.0], jac=lambda x: np.array([2 * (x[0] - 1), 2 * (x[1] - 2.5)]),
        method="SLSQP",
        constraints=[{"type": "ineq", "fun": ineq, "jac": lambda x: -_constraints_jac(x)[0]},
                     {"type": "eq", "fun": eq, "jac": lambda x: _constraints_jac(x)[1]}])
    _same_answer(ours, exact)

    def vector_ineq(x):
        return 1.0 - _constraints(x)

    ours = so.minimize(_objective, [2.0, 0.0], jac=adkit.grad(_objective), method="SLSQP",
                       constraints={"type": "ineq", "fun": vector_ineq,
                                    "jac": adkit.jacobian(vector_ineq)})
    exact = so.minimize(_objective, [2.0, 0.0], jac=adkit.grad(_objective), method="SLSQP",
                        constraints={"type": "ineq", "fun": vector_ineq,
                                     "jac": lambda x: -_constraints_jac(x)})
    _same_answer(ours, exact)


def test_trust_constr_with_a_nonlinear_constraint_and_its_hessian():
    def constraint_hess(x, v):
        return adkit.hessian(lambda y: np.dot(v, _constraints(y)))(x)

    np.testing.assert_allclose(constraint_hess(np.array([0.3, 0.2]), np.array([1.0, 2.0])),
                               [[6.0, 0.0], [0.0, 0.0]])
    ours = so.minimize(_objective, [2.0, 0.0], jac=adkit.grad(_objective),
                       hess=adkit.hessian(_objective), method="trust-constr",
                       constraints=[so.NonlinearConstraint(
                           _constraints, -np.inf, 1.0, jac=adkit.jacobian(_constraints),
                           hess=constraint_hess)])
    exact = so.minimize(_objective, [2.0, 0.0], jac=adkit.grad(_objective),
                        hess=lambda x: 2.0 * np.eye(2), method="trust-constr",
                        constraints=[so.NonlinearConstraint(
                            _constraints, -np.inf, 1.0, jac=_constraints_jac,
                            hess=lambda x, v: np.array([[2 * v[0] + 2 * v[1], 0], [0, 0]]))])
    _same_answer(ours, exact)


T = np.linspace(0.0, 3.0, 20)
Y = 2.5 * np.exp(-1.3 * T) + 0.5 + 0.01 * np.sin(7.0 * T)


def residuals(p, t=T, y=Y):
    return p[0] * np.exp(-p[1] * t) + p[2] - y


def residuals_jac(p, t=T, y=Y):
    e = np.exp(-p[1] * t)
    return np.stack([e, -p[0] * t * e, np.ones_like(t)], axis=1)


@pytest.mark.parametrize("method", ["trf", "dogbox", "lm"])
def test_least_squares(method):
    ours = so.least_squares(residuals, [1.0, 1.0, 0.0], jac=adkit.jacobian(residuals),
                            method=method)
    exact = so.least_squares(residuals, [1.0, 1.0, 0.0], jac=residuals_jac, method=method)
    np.testing.assert_allclose(ours.x, exact.x, rtol=1e-9)
    np.testing.assert_allclose(ours.jac, exact.jac, rtol=1e-9, atol=1e-12)
    assert ours.nfev == exact.nfev


def test_least_squares_with_args_and_bounds():
    ours = so.least_squares(residuals, [1.0, 1.0, 0.0], jac=adkit.jacobian(residuals),
                            args=(T, Y), bounds=([0, 0, 0], [2, 5, 1]))
    exact = so.least_squares(residuals, [1.0, 1.0, 0.0], jac=residuals_jac, args=(T, Y),
                             bounds=([0, 0, 0], [2, 5, 1]))
    np.testing.assert_allclose(ours.x, exact.x, rtol=1e-9)


def decay(t, a, k, c):
    return a * np.exp(-k * t) + c


def decay_jac(t, a, k, c):
    return residuals_jac(np.array([a, k, c]), t)


@pytest.mark.parametrize("method", ["trf", "lm", "dogbox"])
def test_curve_fit_with_a_jacobian_in_the_parameters(method):
    # two common spellings: the parameters packed into one vector, or jacobian over argnums
    packed = adkit.jacobian(lambda p, t: decay(t, *p))
    by_argnum = adkit.jacobian(decay, argnum=(1, 2, 3))
    exact, exact_cov = so.curve_fit(decay, T, Y, p0=[1, 1, 0], jac=decay_jac, method=method,
                                    sigma=np.linspace(1, 2, 20))
    for jac in (lambda t, *p: packed(np.array(p), t),
                lambda t, *p: np.stack(by_argnum(t, *p), axis=1)):
        ours, cov = so.curve_fit(decay, T, Y, p0=[1, 1, 0], jac=jac, method=method,
                                 sigma=np.linspace(1, 2, 20))
        np.testing.assert_allclose(ours, exact, rtol=1e-9)
        np.testing.assert_allclose(cov, exact_cov, rtol=1e-7)


def _system(x):
    return np.array([x[0] + 0.5 * (x[0] - x[1]) ** 3 - 1.0, 0.5 * (x[1] - x[0]) ** 3 + x[1]])


def _system_jac(x):
    d = 1.5 * (x[0] - x[1]) ** 2
    return np.array([[1 + d, -d], [-d, 1 + d]])


@pytest.mark.parametrize("method", ["hybr", "lm"])
def test_root(method):
    ours = so.root(_system, [0, 0], jac=adkit.jacobian(_system), method=method)
    exact = so.root(_system, [0, 0], jac=_system_jac, method=method)
    np.testing.assert_allclose(ours.x, exact.x, rtol=1e-12)
    jac_too = so.root(lambda x: (_system(x), adkit.jacobian(_system)(x)), [0.0, 0.0], jac=True,
                      method=method)
    np.testing.assert_allclose(jac_too.x, exact.x, rtol=1e-12)


def test_fsolve_and_newton():
    np.testing.assert_allclose(so.fsolve(_system, [0, 0], fprime=adkit.jacobian(_system)),
                               so.fsolve(_system, [0, 0], fprime=_system_jac), rtol=1e-12)

    def cubic(x):
        return x ** 3 - 2.0 * x - 5.0

    ours = so.newton(cubic, 2.0, fprime=adkit.grad(cubic), fprime2=adkit.grad(adkit.grad(cubic)))
    exact = so.newton(cubic, 2.0, fprime=lambda x: 3 * x ** 2 - 2, fprime2=lambda x: 6 * x)
    assert ours == exact
    vector = so.newton(cubic, np.array([2.0, 3.0]), fprime=adkit.elementwise_grad(cubic))
    np.testing.assert_allclose(vector, [exact, exact], rtol=1e-12)


def test_flattened_parameter_dict_fit():
    # autograd's idiom: flatten a dict of parameters, minimize over the flat vector
    from adkit.misc import flatten
    rng = np.random.RandomState(0)
    X = rng.randn(30, 3)
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.3 > 0).astype(float)

    def loss(p):
        z = X @ p["w"] + p["b"]
        return np.sum(np.logaddexp(0.0, z) - y * z) + 0.1 * np.sum(p["w"] ** 2)

    flat, unflatten = flatten({"w": np.zeros(3), "b": 0.0})

    def objective(v):
        return loss(unflatten(v))

    def exact_grad(v):
        p = unflatten(v)
        r = 1.0 / (1.0 + np.exp(-(X @ p["w"] + p["b"]))) - y
        return flatten({"w": X.T @ r + 0.2 * p["w"], "b": np.sum(r)})[0]

    np.testing.assert_allclose(adkit.grad(objective)(flat + 0.3), exact_grad(flat + 0.3),
                               rtol=1e-12)
    ours = so.minimize(objective, flat, jac=adkit.grad(objective), method="BFGS")
    exact = so.minimize(objective, flat, jac=exact_grad, method="BFGS")
    _same_answer(ours, exact, rtol=1e-7)


def test_read_only_and_strided_points():
    frozen = np.frombuffer(X0.tobytes())
    assert not frozen.flags.writeable
    strided = np.repeat(X0, 2)[::2]
    for x in (frozen, strided):
        np.testing.assert_allclose(adkit.grad(rosenbrock)(x), so.rosen_der(X0), rtol=1e-13)
        np.testing.assert_allclose(adkit.hessian_vector_product(rosenbrock)(x, x),
                                   so.rosen_hess_prod(X0, X0), rtol=1e-13)


def test_clear_errors_for_common_mistakes():
    # a gradient of a vector function (SciPy evaluates fun first, and names the problem itself)
    with pytest.raises(ValueError, match="adkit.jacobian"):
        so.minimize(lambda x: np.sum(x ** 2), np.ones(2), jac=adkit.grad(lambda x: x ** 2))
    with pytest.raises(adkit.TracedConversionError, match="float"):
        so.minimize(lambda x: float(np.sum(x ** 2)), np.ones(2),
                    jac=adkit.grad(lambda x: float(np.sum(x ** 2))))


def test_legacy_fmin_interfaces():
    # older code (autograd's era) calls the fmin_* functions with fprime=, fhess=, fhess_p=
    g, h, hvp = (adkit.grad(rosenbrock), adkit.hessian(rosenbrock),
                 adkit.hessian_vector_product(rosenbrock))
    pairs = [
        (lambda: so.fmin_bfgs(rosenbrock, X0, fprime=g, disp=0),
         lambda: so.fmin_bfgs(so.rosen, X0, fprime=so.rosen_der, disp=0)),
        (lambda: so.fmin_l_bfgs_b(rosenbrock, X0, fprime=g)[0],
         lambda: so.fmin_l_bfgs_b(so.rosen, X0, fprime=so.rosen_der)[0]),
        (lambda: so.fmin_ncg(rosenbrock, X0, fprime=g, fhess=h, disp=0),
         lambda: so.fmin_ncg(so.rosen, X0, fprime=so.rosen_der, fhess=so.rosen_hess, disp=0)),
        (lambda: so.fmin_ncg(rosenbrock, X0, fprime=g, fhess_p=hvp, disp=0),
         lambda: so.fmin_ncg(so.rosen, X0, fprime=so.rosen_der, fhess_p=so.rosen_hess_prod,
                             disp=0)),
        (lambda: so.fmin_slsqp(rosenbrock, X0, fprime=g, iprint=0),
         lambda: so.fmin_slsqp(so.rosen, X0, fprime=so.rosen_der, iprint=0)),
        (lambda: so.basinhopping(rosenbrock, X0, niter=3, seed=1,
                                 minimizer_kwargs={"method": "BFGS", "jac": g}).x,
         lambda: so.basinhopping(so.rosen, X0, niter=3, seed=1,
                                 minimizer_kwargs={"method": "BFGS", "jac": so.rosen_der}).x),
    ]
    for ours, exact in pairs:
        np.testing.assert_allclose(ours(), exact(), rtol=1e-8)
    ours = so.leastsq(_system, [0.0, 0.0], Dfun=adkit.jacobian(_system))[0]
    exact = so.leastsq(_system, [0.0, 0.0], Dfun=_system_jac)[0]
    np.testing.assert_allclose(ours, exact, rtol=1e-12)
