"""Regressions found by running autograd 1.9.1's own test suite on adkit (issue 14).

Each rule is checked in every mode to second order against finite differences
(ruletest.check, complexcheck.check_complex); the API cases against adkit.numeric.
"""

import functools
import inspect

import numpy as np
import pytest
from complexcheck import C, check_complex
from numpy import append as append_bound_at_import  # bound before any differentiation
from ruletest import R, check

import adkit
from adkit import numeric

V = R(4, seed=21)


@pytest.mark.parametrize("fun", [
    np.tril, np.triu, lambda v: np.tril(v, -1), lambda v: np.triu(v, 2),
    lambda v: np.tril(v, k=1) * np.triu(v, k=-1),
], ids=["tril", "triu", "tril-1", "triu2", "band"])
def test_triangles_of_a_vector_are_of_its_repeated_rows(fun):
    # NumPy reads a 1-D argument as the row of a square matrix: np.tril(v) is (n, n)
    check(fun, V)


def test_append_bound_before_differentiation_takes_a_list_holding_traced_values():
    # `from numpy import append` escapes adkit.scope's swap, so the list reaches the rule
    check(lambda x: append_bound_at_import([x[0], 2.0 * x[1]], x[2] ** 2), R(3, seed=22))
    check(lambda x: append_bound_at_import([[1.0, 2.0]], x[None, :2] * 3.0, axis=0),
          R(3, seed=23))


@pytest.mark.parametrize("deg", [False, True])
def test_angle_in_degrees(deg):
    check_complex(lambda z: np.angle(z, deg), C(3, seed=24))
    check_complex(lambda z: np.angle(z, deg=deg) * np.abs(z), C(2, 2, seed=25))


def test_angle_with_a_traced_flag_is_constant_in_the_flag():
    # np.angle(x, x): deg is truthy, and a flag has derivative 0 (it used to crash)
    assert adkit.grad(lambda x: np.angle(x, x))(0.5) == 0.0
    z = C(3, seed=26)
    g = adkit.grad(lambda t: np.sum(np.angle(z * t, t)), 0)(1.5)
    assert abs(g) < 1e-12  # angle(z t) = angle(z) for t > 0
    np.testing.assert_allclose(adkit.jvp(lambda t: np.angle(z * t, t), (1.5,), (1.0,))[1],
                               np.zeros(3), atol=1e-12)


@pytest.mark.parametrize("shape", [(1,), (1, 1), (1, 1, 1)])
def test_grad_of_an_output_of_one_element(shape):
    # autograd's grad takes any one-element output ((1, n) @ (n, 1), np.sum(keepdims=True))
    f = lambda x: np.reshape(np.sum(np.sin(x) * x), shape)  # noqa: E731
    x = R(3, seed=27)
    value, g = adkit.value_and_grad(f)(x)
    assert np.shape(value) == shape
    np.testing.assert_allclose(g, numeric.gradient(lambda x: float(np.sum(f(x))), x),
                               rtol=1e-8)
    np.testing.assert_allclose(adkit.hessian(f)(x),
                               numeric.hessian(lambda x: float(np.sum(f(x))), x), rtol=1e-5,
                               atol=1e-7)


def test_grad_still_refuses_an_output_of_two_elements():
    with pytest.raises(ValueError, match=r"shape \(2,\).*adkit.jacobian"):
        adkit.grad(lambda x: x * 2.0)(np.array([1.0, 2.0]))


def test_a_primitive_keeps_its_function_name_and_signature():
    # check reports and tools name the function (autograd's check_grads messages do)
    @adkit.primitive
    def scaled(x, factor=2.0):
        return x * factor

    assert scaled.__name__ == "scaled"
    assert list(inspect.signature(scaled).parameters) == ["x", "factor"]


@pytest.mark.parametrize("fun,count", [
    (lambda x, r: np.repeat(x, r), 2),
    (lambda x, r: np.repeat(x, r), np.array([1, 3, 0, 2])),
    (lambda x, r: np.repeat(np.reshape(x, (2, 2)), r, axis=1), 3),
    (lambda x, r: np.tile(x, r), 2),
    (lambda x, r: np.tile(x, (r, 1)), 3),
    (lambda x, r: np.roll(x, r), 1),
], ids=["repeat", "repeat-per-element", "repeat-axis", "tile", "tile-tuple", "roll"])
def test_a_differentiated_count_picks_positions_and_has_derivative_zero(fun, count):
    # differentiating with respect to every argument traces the count too (it used to
    # fail converting it, and np.tile recursed without end)
    def L(x, r):
        y = fun(x, r)
        return np.sum(np.sin(y) * np.arange(1.0, 1.0 + np.size(y)).reshape(np.shape(y)))

    gx, gr = adkit.grad(L, (0, 1))(V, count)
    np.testing.assert_allclose(gx, numeric.gradient(lambda x: L(x, count), V), rtol=1e-8)
    np.testing.assert_array_equal(gr, np.zeros(np.shape(count)))
    out, (jx, jr) = fun(V, count), adkit.jacobian(fun, (0, 1), mode="forward")(V, count)
    np.testing.assert_allclose(jx, numeric.jacobian(lambda x: fun(x, count), V), atol=1e-9)
    assert jr.shape == np.shape(out) + np.shape(count) and not np.any(jr)


# --- adkit.elementwise_grad (autograd's, for code written against it) ----------------------------

def test_elementwise_grad_is_the_derivative_of_an_elementwise_function():
    x = R(2, 3, seed=28)
    np.testing.assert_allclose(adkit.elementwise_grad(np.tanh)(x), 1.0 - np.tanh(x) ** 2,
                               rtol=1e-12)
    # nested, as autograd's tanh example takes the sixth derivative this way
    d2 = adkit.elementwise_grad(adkit.elementwise_grad(np.tanh))(x)
    np.testing.assert_allclose(d2, -2.0 * np.tanh(x) * (1.0 - np.tanh(x) ** 2), rtol=1e-10)


def test_elementwise_grad_of_any_function_is_the_vjp_with_ones():
    f = lambda x, y: (np.outer(x, y), {"s": np.sin(x) * y[0]})  # noqa: E731
    x, y = R(3, seed=29), R(2, seed=30)
    gx, gy = adkit.elementwise_grad(f, (0, 1))(x, y)
    total = lambda x, y: np.sum(np.outer(x, y)) + np.sum(np.sin(x) * y[0])  # noqa: E731
    np.testing.assert_allclose(gx, numeric.gradient(lambda x: total(x, y), x), rtol=1e-8)
    np.testing.assert_allclose(gy, numeric.gradient(lambda y: total(x, y), y), rtol=1e-8)
    assert adkit.elementwise_grad(np.sin)(0.5) == pytest.approx(np.cos(0.5), rel=1e-15)


def test_elementwise_grad_refuses_complex_and_non_numeric_outputs():
    with pytest.raises(TypeError, match="real output"):
        adkit.elementwise_grad(lambda x: x * 1j)(np.ones(2))
    with pytest.raises(TypeError, match="bool"):
        adkit.elementwise_grad(lambda x: x > 0)(np.ones(2))


# --- scipy.integrate.odeint with nested args (autograd's ode_net passes a list of (W, b)) --------

def _net_field(y, t, layers, activation, repeats):
    # `layers` is a list of (W, b) pairs; `activation` a string and `repeats` an int reach
    # func exactly as the caller gave them (SciPy passes args through unchanged)
    assert isinstance(activation, str) and isinstance(repeats, int)
    for _ in range(repeats):
        for W, b in layers:
            y = np.tanh(np.dot(y, W) + b) if activation == "tanh" else np.dot(y, W) + b
    return y - 0.1 * t


def test_odeint_differentiates_args_nested_in_lists_and_tuples():
    from scipy.integrate import odeint
    y0, times = np.array([0.4, -0.3]), np.array([0.0, 0.5, 1.0])

    def solve(w1, b1, w2):
        layers = [(w1, b1), (w2, np.zeros(2))]
        return odeint(_net_field, y0, times, args=(layers, "tanh", 1), rtol=1e-12, atol=1e-12)

    check(solve, 0.5 * R(2, 3, seed=31), 0.5 * R(3, seed=32), 0.5 * R(3, 2, seed=33), order=1,
          symbolic=False, rtol=1e-4, h=1e-3)
    # the gradient with respect to the list itself keeps the list's structure
    layers = [(0.5 * R(2, 3, seed=31), 0.5 * R(3, seed=32)), (0.5 * R(3, 2, seed=33), np.zeros(2))]
    loss = lambda ls: np.sum(odeint(_net_field, y0, times, args=(ls, "tanh", 2),  # noqa: E731
                                    rtol=1e-12, atol=1e-12) ** 2)
    g = adkit.grad(loss)(layers)
    assert [tuple(np.shape(a) for a in pair) for pair in g] == [((2, 3), (3,)), ((3, 2), (2,))]
    w = layers[0][0]
    num = numeric.gradient(lambda w: float(loss([(w, layers[0][1]), layers[1]])), w)
    np.testing.assert_allclose(g[0][0], num, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("fun,v", [(np.real, 0.7), (np.abs, 0.7),
                                   (lambda z: np.sin(z) * np.conj(z), C(seed=35))],
                         ids=["real", "abs", "sin-conj"])
def test_forward_derivative_of_a_pullback_at_a_python_complex_scalar(fun, v):
    # autograd's test_real, second order: jvp of (z, v) -> vjp(fun)(z)(v) at a Python complex;
    # the complex tangent was cast with .astype, which a Python number does not have
    pullback = lambda z, v: adkit.vjp(fun, z)[1](v)[0]  # noqa: E731
    check_complex(pullback, C(seed=34), v)
    _, tangent = adkit.jvp(pullback, (0.3 + 0.1j, v), (1j, v))
    assert np.iscomplexobj(tangent)


# --- scipy.stats with shape parameters of different shapes -------------------------------------

STATS_BROADCAST = {
    "beta-a": lambda stats, a, x: stats.beta.logpdf(x, a, 2.0),
    "beta-b": lambda stats, a, x: stats.beta.pdf(x, 1.5, a),
    "gamma-a": lambda stats, a, x: stats.gamma.logpdf(x + 1.0, a, scale=1.2),
}


@pytest.mark.parametrize("name", sorted(STATS_BROADCAST))
def test_stats_shape_parameters_broadcast_against_each_other(name):
    # validating a vector a beside a scalar b built a ragged list, and raised
    stats = pytest.importorskip("scipy.stats", reason="SciPy is not installed")
    fun = functools.partial(STATS_BROADCAST[name], stats)
    a, x = 1.0 + R(3, seed=36) ** 2, 0.5 + 0.3 * np.tanh(R(3, seed=37))
    value, _ = adkit.value_and_grad(lambda a: np.sum(fun(a, x)))(a)
    assert value == pytest.approx(np.sum(fun(a, x)), rel=1e-12)  # SciPy's own, untraced
    check(fun, a, x, order=1, symbolic=False)


# --- the table holds every SciPy function autograd.scipy differentiates -----------------------

# autograd 1.9.1's autograd/scipy: special.py's and integrate.py's primitives, stats/*.py's,
# and the scipy.linalg / scipy.signal functions it gives derivatives (dirichlet.rvs, which
# autograd wraps without one, left out)
AUTOGRAD_SCIPY = """special.beta special.betainc special.betaln special.polygamma special.psi
special.digamma special.gamma special.gammaln special.gammainc special.gammaincc
special.gammasgn special.rgamma special.multigammaln special.j0 special.y0 special.j1
special.y1 special.jn special.yn special.i0 special.i1 special.iv special.ive special.erf
special.erfc special.erfinv special.erfcinv special.logit special.expit special.logsumexp
integrate.odeint linalg.sqrtm linalg.solve_triangular linalg.solve_banded
linalg.solve_sylvester signal.convolve stats.beta.cdf stats.beta.logpdf stats.beta.pdf
stats.chi2.cdf stats.chi2.logpdf stats.chi2.pdf stats.dirichlet.pdf stats.dirichlet.logpdf
stats.gamma.cdf stats.gamma.logpdf stats.gamma.pdf stats.multivariate_normal.pdf
stats.multivariate_normal.logpdf stats.multivariate_normal.entropy stats.norm.pdf
stats.norm.cdf stats.norm.sf stats.norm.logpdf stats.norm.logcdf stats.norm.logsf
stats.poisson.cdf stats.poisson.logpmf stats.poisson.pmf stats.t.pdf stats.t.cdf
stats.t.logpdf stats.t.logcdf""".split()


def test_the_table_holds_every_function_autograd_scipy_differentiates():
    pytest.importorskip("scipy.stats", reason="SciPy is not installed")
    from adkit.rules import scipy_binding
    from adkit.table import COVERAGE
    for rules in scipy_binding.FAMILIES.values():  # what the first differentiation binds
        __import__(rules)
    missing = [name for name in AUTOGRAD_SCIPY if "scipy." + name not in COVERAGE]
    assert not missing, missing


def test_odeint_args_holding_a_dict_of_traced_values():
    # the binding's gateway looks inside dicts too, so the call reaches adkit's odeint
    from scipy.integrate import odeint
    times = np.array([0.0, 0.7])

    def y1(k, c):
        return odeint(lambda y, t, p: -p["rate"] * y + p["shift"], 1.5, times,
                      args=({"rate": k, "shift": c},), rtol=1e-12, atol=1e-12)[1, 0]

    k, c = 0.8, 0.3
    # y(t) = c/k + (y0 - c/k) e^{-k t}
    exact = lambda k, c: c / k + (1.5 - c / k) * np.exp(-k * 0.7)  # noqa: E731
    assert y1(k, c) == pytest.approx(exact(k, c), rel=1e-10)
    np.testing.assert_allclose(adkit.grad(y1, (0, 1))(k, c),
                               numeric.gradient(lambda p: exact(*p), np.array([k, c])),
                               rtol=1e-7)
