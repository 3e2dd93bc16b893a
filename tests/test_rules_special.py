"""scipy.special rules, checked in every mode to second order (see ruletest.check), the two
spellings of SciPy's Python functions, the conventions at the edges of the domains, and
that `import adkit` stays free of SciPy."""

import subprocess
import sys

import numpy as np
import pytest

sp = pytest.importorskip("scipy.special", reason="SciPy is not installed")

import adkit  # noqa: E402
from adkit.table import PRIMITIVES, NoRuleError  # noqa: E402
from ruletest import EXERCISED, R, Rpos, check  # noqa: E402


def _in(low, high):
    return lambda *s: R(*s, low=low, high=high)


def test_import_adkit_does_not_import_scipy():
    code = "import adkit, sys; assert 'scipy' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_adkit_works_without_scipy():
    code = ("import sys; sys.modules['scipy'] = None\n"  # makes `import scipy` fail
            "import numpy as np, adkit\n"
            "g = adkit.grad(lambda x: np.sum(np.sin(x) * np.array([x[0], x[1]])))(np.ones(2))\n"
            "assert np.all(np.isfinite(g))\n"
            "x = np.ones(3); assert adkit.jacobian(lambda x: x * 2.0)(x).shape == (3, 3)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rules_load_on_first_use():
    # a user-made Dual meets a SciPy ufunc outside any transform: dispatch loads the rules
    code = ("import sys, numpy as np, scipy.special as sp\n"
            "from adkit.forward import Dual\n"
            "assert 'adkit.rules.special' not in sys.modules\n"
            "assert np.isclose(sp.erf(Dual(0.5, 1.0)).tangent, 2 / np.pi ** 0.5 * np.exp(-0.25))\n"
            "assert 'adkit.rules.special' in sys.modules\n"
            "assert np.isclose(sp.zeta(2.0, Dual(1.5, 1.0)).tangent, -2 * sp.zeta(3.0, 1.5))\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- elementwise functions of one argument ------------------------------------------------------

UNARY = [
    (sp.expit, R), (sp.logit, _in(0.1, 0.9)), (sp.log_expit, _in(-4, 4)),
    (sp.gammaln, Rpos), (sp.gammaln, _in(-2.9, -2.1)), (sp.gamma, Rpos),
    (sp.gamma, _in(-1.8, -1.2)),
    (sp.rgamma, Rpos), (sp.loggamma, Rpos), (sp.digamma, Rpos), (sp.psi, _in(1, 4)),
    (sp.erf, R), (sp.erfc, R), (sp.erfi, _in(-1, 1)), (sp.erfcx, R),
    (sp.erfinv, _in(-0.9, 0.9)), (sp.erfcinv, _in(0.1, 1.9)), (sp.dawsn, R),
    (sp.ndtr, R), (sp.log_ndtr, _in(-6, 3)), (sp.ndtri, _in(0.05, 0.95)),
    (sp.ndtri_exp, _in(-3, -0.1)), (sp.expi, Rpos), (sp.exp1, Rpos), (sp.log1p, Rpos),
    (sp.expm1, R), (sp.exp2, R), (sp.exp10, _in(-1, 1)), (sp.cbrt, Rpos), (sp.cosm1, R),
    (sp.entr, Rpos), (sp.i0, R), (sp.i1, R), (sp.i0e, _in(0.2, 2)), (sp.i0e, _in(-2, -0.2)),
    (sp.i1e, _in(0.2, 2)), (sp.i1e, _in(-2, -0.2)), (sp.j0, _in(-4, 4)), (sp.j1, _in(-4, 4)),
    (sp.y0, _in(0.5, 4)), (sp.y1, _in(0.5, 4)), (sp.k0, Rpos), (sp.k1, Rpos), (sp.k0e, Rpos),
    (sp.k1e, Rpos),
    # adkit/rules/scipy_special.py (more in tests/test_rules_scipy_special_more.py)
    (sp.exprel, _in(-3, 3)), (sp.spence, _in(0.2, 3)), (sp.ellipk, _in(-2, 0.9)),
    (sp.ellipe, _in(-2, 0.9)),
]


@pytest.mark.parametrize("fn,gen", UNARY, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)], ids=str)
def test_unary(fn, gen, shape):
    check(fn, gen(*shape))


# --- elementwise functions of two differentiable arguments, with broadcasting ------------------

BINARY = [
    (sp.xlogy, R, Rpos), (sp.xlog1py, R, _in(-0.5, 2)), (sp.rel_entr, Rpos, Rpos),
    (sp.kl_div, Rpos, Rpos), (sp.beta, Rpos, Rpos), (sp.betaln, Rpos, Rpos),
    (sp.boxcox, Rpos, _in(-1, 1.5)), (sp.boxcox1p, _in(-0.5, 2), _in(-1, 1.5)),
    (sp.inv_boxcox, _in(-0.8, 0.8), _in(-1, 1)), (sp.binom, _in(3, 6), _in(0.2, 2.5)),
    (sp.pseudo_huber, Rpos, R), (sp.huber, Rpos, R),
]


@pytest.mark.parametrize("fn,gx,gy", BINARY, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("sx,sy", [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)),
                                   ((), (2, 3))], ids=str)
def test_binary_broadcasting(fn, gx, gy, sx, sy):
    check(fn, gx(*sx), gy(*sy))


# --- functions differentiated in x only: orders and shape parameters held fixed ------------------

X = _in(0.5, 3)(4)
ORDERS = np.array([0, 1, 2, 3])


def _shape_derivative(f, a):
    """df/da elementwise (one forward pass): the x-dependence of a shape derivative."""
    return adkit.jvp(f, (a,), (1.0,))[1]


@pytest.mark.parametrize("fun", [
    lambda x: sp.jv(1.5, x), lambda x: sp.jn(2, x), lambda x: sp.jv(ORDERS, x),
    lambda x: sp.jn(ORDERS[:, None], x), lambda x: sp.yv(0.5, x), lambda x: sp.yn(2, x),
    lambda x: sp.yn(ORDERS, x), lambda x: sp.iv(1.5, x), lambda x: sp.iv(ORDERS, x),
    lambda x: sp.iv(2, -x), lambda x: sp.ive(0.5, x), lambda x: sp.ive(ORDERS, x),
    lambda x: sp.ive(1, -x), lambda x: sp.kv(0.5, x), lambda x: sp.kve(ORDERS, x),
    lambda x: sp.polygamma(0, x), lambda x: sp.polygamma(1, x), lambda x: sp.polygamma(2, x),
    lambda x: sp.polygamma(ORDERS, x), lambda x: sp.polygamma(np.array([[0], [2]]), x),
    lambda x: sp.gammainc(1.5, x), lambda x: sp.gammaincc(1.5, x),
    lambda x: sp.gammainc(np.array([0.5, 1.0, 2.0, 3.5]), x),
    lambda x: sp.betainc(2.0, 3.0, x / 4.0), lambda x: sp.betainc(0.7, 1.0, x / 4.0),
    lambda x: sp.zeta(2.0, x), lambda x: sp.zeta(np.array([2.0, 3.0, 4.5, 2.5]), x),
    lambda x: sp.multigammaln(x + 1.0, 3), lambda x: sp.multigammaln(x, 1),
    lambda x: sp.softplus(x), lambda x: sp.stdtr(3.0, x - 1.5),
    lambda x: sp.stdtr(np.array([1.0, 2.5, 4.0, 30.0]), 1.0 - x),
    # adkit/rules/scipy_special_inverse.py (more in tests/test_scipy_special_inverse.py)
    lambda x: sp.gammaincinv(1.5, x / 4.0), lambda x: sp.gammainccinv(1.5, x / 4.0),
    lambda x: sp.betaincinv(2.0, 3.0, x / 4.0), lambda x: sp.stdtrit(3.0, x / 4.0),
    lambda x: sp.poch(x, 1.5), lambda x: sp.owens_t(x - 1.5, 0.7), lambda x: sp.powm1(x, 1.3),
    lambda x: sp.inv_boxcox1p(x - 1.0, 0.4), lambda x: sp.expn(ORDERS, x),
    # the shape derivatives (quadrature; tests/test_rules_incomplete_shape.py) as functions of x
    lambda x: _shape_derivative(lambda a: sp.gammainc(a, x), 1.7),
    lambda x: _shape_derivative(lambda a: sp.betainc(a, 2.0, x / 4.0), 0.6),
    lambda x: _shape_derivative(lambda b: sp.betainc(2.0, b, x / 4.0), 1.3),
])
@pytest.mark.parametrize("shape", [(), (4,)], ids=str)
def test_in_x_only(fun, shape):
    x = X[0] if shape == () else X
    check(fun, x)


def test_polygamma_matches_its_definition_and_keeps_scalars():
    g = adkit.grad(lambda x: sp.polygamma(2, x))(1.5)
    assert np.isclose(g, sp.polygamma(3, 1.5)) and np.ndim(g) == 0
    assert np.allclose(adkit.grad(lambda x: np.sum(sp.digamma(x)))(X), sp.polygamma(1, X))


@pytest.mark.parametrize("fun,arg", [
    (lambda v, x: sp.iv(v, x), 0), (lambda v, x: sp.jv(v, x), 0), (lambda n, x: sp.yn(n, x), 0),
    (lambda n, x: sp.polygamma(n, x), 0), (lambda s, x: sp.zeta(s, x), 0),
    (lambda v, x: sp.kve(v, x), 0)])  # incomplete gamma/beta shapes: test_rules_incomplete_shape
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_fixed_parameters_refuse_traced_values(fun, arg, mode):
    with pytest.raises(NoRuleError, match="plain number"):
        adkit.jacobian(fun, arg, mode=mode)(2.0, 1.5)
    # the other argument is fine, whatever the first one is
    assert np.isfinite(adkit.jacobian(fun, 1, mode=mode)(2.0, 1.5))


# --- logsumexp, softmax, log_softmax -----------------------------------------------------------

A = R(3, 4, seed=7)
B3 = R(2, 3, 4, seed=8)
W = Rpos(3, 4, seed=9)


@pytest.mark.parametrize("kw", [{}, {"axis": 0}, {"axis": 1}, {"axis": -1, "keepdims": True},
                                {"axis": (0, 1)}, {"keepdims": True}, {"axis": (-1, 0)}],
                         ids=str)
@pytest.mark.parametrize("x", [A, B3], ids=["2d", "3d"])
def test_logsumexp(x, kw):
    check(lambda x: sp.logsumexp(x, **kw), x)


@pytest.mark.parametrize("kw", [{}, {"axis": 0}, {"axis": -1, "keepdims": True}], ids=str)
def test_logsumexp_weights(kw):
    check(lambda a, b: sp.logsumexp(a, b=b, **kw), A, W)          # in a and b
    check(lambda a: sp.logsumexp(a, b=W[0], **kw), A)              # b broadcast
    check(lambda b: sp.logsumexp(A[0], b=b, **kw), W)              # a broadcast
    check(lambda a: sp.logsumexp(a, b=2, **kw), A)


def test_logsumexp_return_sign():
    b = np.array([[1.0, -3.0, 0.5, 0.2], [2.0, 1.0, -0.1, 0.3], [-1.0, -1.0, 0.0, 0.1]])
    value, sign = sp.logsumexp(A, axis=1, b=b, return_sign=True)
    assert np.any(sign < 0) and np.any(sign > 0)

    def f(a, b):
        out, s = sp.logsumexp(a, axis=1, b=b, return_sign=True)
        assert not isinstance(s, adkit.reverse.Var) and not isinstance(s, adkit.forward.Dual)
        assert np.array_equal(s, sign)
        return out
    check(f, A, b)
    # the gradient of log|sum b e^a| is sign * b * e^(a - value), whatever the sign
    g = adkit.grad(lambda a: np.sum(f(a, b)))(A)
    assert np.allclose(g, sign[:, None] * b * np.exp(A - value[:, None]))


def test_logsumexp_scalars_lists_and_large_values():
    check(lambda x: sp.logsumexp(x), 0.7)
    check(lambda x: sp.logsumexp(x, keepdims=True), 0.7)
    check(lambda x, y: sp.logsumexp([x, y, 1.0]), 0.3, -1.2)
    check(lambda x: sp.logsumexp(np.stack([x, 2.0 * x]), axis=0), R(3))
    big = np.array([1000.0, 1001.0, 999.0])
    g = adkit.grad(lambda x: sp.logsumexp(x))(big)
    assert np.allclose(g, sp.softmax(big)) and np.all(np.isfinite(g))
    h = adkit.hessian(lambda x: sp.logsumexp(x))(big)
    s = sp.softmax(big)
    assert np.allclose(h, np.diag(s) - np.outer(s, s))


# SciPy's Python functions are looked up on the module inside the differentiated function
# (a name bound earlier is SciPy's own code: see the spelling tests below)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)], ids=str)
@pytest.mark.parametrize("x", [A, B3], ids=["2d", "3d"])
def test_softmax(name, axis, x):
    check(lambda x: getattr(sp, name)(x, axis=axis), x)


def test_softmax_scalars_and_large_values():
    check(lambda x: sp.softmax(x) + sp.log_softmax(x), 0.4)
    check(lambda x: sp.log_softmax(x * 400.0), R(4))
    big = np.array([1000.0, 0.0])
    assert np.allclose(adkit.grad(lambda x: sp.log_softmax(x)[1])(big), [-1.0, 1.0])


def test_logsumexp_forward_mode_batched_tangents():
    # one pass pushes the identity (a batch of tangents) through logsumexp along an axis
    J = adkit.jacobian(lambda x: sp.logsumexp(x, axis=0, keepdims=True), mode="forward")(B3)
    s = sp.softmax(B3, axis=0)
    expected = np.zeros((1, 3, 4) + B3.shape)
    for i in range(2):
        for j in range(3):
            for k in range(4):
                expected[0, j, k, i, j, k] = s[i, j, k]
    assert np.allclose(J, expected)


# --- the two spellings of SciPy's Python functions -----------------------------------------------

PYTHON_FUNCTIONS = ["logsumexp", "softmax", "log_softmax", "polygamma"]


def _call(name, f, x):
    return f(2, x) if name == "polygamma" else f(x)


@pytest.mark.parametrize("name", PYTHON_FUNCTIONS)
def test_module_attribute_and_late_import_spellings(name):
    import scipy.special
    from scipy import special
    x = Rpos(3)
    expected = adkit.grad(lambda x: np.sum(_call(name, getattr(scipy.special, name), x)))(x)
    assert np.allclose(expected, adkit.grad(
        lambda x: np.sum(_call(name, getattr(special, name), x)))(x))

    def late(x):  # imported while the differentiation runs
        exec(f"from scipy.special import {name} as f", globals())
        return np.sum(_call(name, f, x))  # noqa: F821
    assert np.allclose(expected, adkit.grad(late)(x))
    # and without a trace, SciPy's own function is in place
    assert getattr(scipy.special, name) is ORIGINALS[name]


ORIGINALS = {name: getattr(sp, name) for name in PYTHON_FUNCTIONS}


@pytest.mark.parametrize("name", PYTHON_FUNCTIONS)
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_names_bound_before_tracing_differentiate(name, mode):
    f = ORIGINALS[name]  # as after `from scipy.special import logsumexp` at module level
    x = Rpos(3)
    expected = adkit.jacobian(lambda x: _call(name, getattr(sp, name), x), mode=mode)(x)
    assert np.allclose(adkit.jacobian(lambda x: _call(name, f, x), mode=mode)(x), expected)
    if name != "polygamma":  # passing the function itself binds it too
        assert np.allclose(adkit.jacobian(f, mode=mode)(x), expected)
    assert getattr(sp, name) is f
    # plain values inside a differentiation still reach SciPy's own code
    assert np.allclose(adkit.grad(lambda x: np.sum(x) + np.sum(_call(name, f, Rpos(2, seed=1))))(
        Rpos(2)), 1.0)


def test_bound_functions_survive_errors_and_nested_transforms():
    def fails(x):
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        adkit.grad(fails)(1.0)
    h = adkit.hessian(lambda x: sp.logsumexp(x) + adkit.grad(lambda y: sp.logsumexp(y * x))(x)[0])(
        R(3))
    assert h.shape == (3, 3) and np.all(np.isfinite(h))
    assert all(getattr(sp, n) is f for n, f in ORIGINALS.items())
    assert np.isclose(sp.logsumexp([0.0, 0.0]), np.log(2.0))


# --- conventions at the edges of the domains ----------------------------------------------------


def test_xlogy_at_zero():
    x, y = np.array([0.0, 0.0, 1.0]), np.array([0.0, 2.0, 2.0])
    # a zero cotangent contributes nothing, even where the local derivative is infinite
    gx, gy = adkit.grad(lambda x, y: sp.xlogy(x, y)[2], (0, 1))(x, y)
    assert np.array_equal(gx, [0.0, 0.0, np.log(2.0)]) and np.array_equal(gy, [0.0, 0.0, 0.5])
    # likewise a zero tangent in forward mode
    _, t = adkit.jvp(sp.xlogy, (x, y), (np.array([0.0, 1.0, 1.0]), np.ones(3)))
    assert np.array_equal(t, [0.0, np.log(2.0), np.log(2.0) + 0.5])
    # d/dx = log(y) (as SciPy and JAX); d/dy = 0 where x = 0 (the function is 0 along x = 0)
    gx, gy = adkit.grad(lambda x, y: np.sum(sp.xlogy(x, y)), (0, 1))(x, y)
    assert np.array_equal(gx, [-np.inf, np.log(2.0), np.log(2.0)])
    assert np.array_equal(gy, [0.0, 0.0, 0.5])
    gx, gy = adkit.grad(lambda x, y: np.sum(sp.xlog1py(x, y)), (0, 1))(x, y - 1.0)
    assert np.array_equal(gx, [-np.inf, np.log(2.0), np.log(2.0)])
    assert np.array_equal(gy, [0.0, 0.0, 0.5])
    # second order at x = 0 stays finite where y > 0
    H = adkit.hessian(lambda xy: sp.xlogy(xy[0], xy[1]))(np.array([0.0, 2.0]))
    assert np.allclose(H, [[0.0, 0.5], [0.5, 0.0]])


def test_entropies_at_zero():
    x = np.array([0.0, 0.5])
    assert np.array_equal(adkit.grad(lambda x: sp.entr(x)[1])(x), [0.0, -np.log(0.5) - 1.0])
    assert adkit.grad(lambda x: np.sum(sp.entr(x)))(x)[0] == np.inf
    gx, gy = adkit.grad(lambda x, y: np.sum(sp.rel_entr(x, y)), (0, 1))(x, np.ones(2))
    assert gx[0] == -np.inf and gy[0] == 0.0
    gx, gy = adkit.grad(lambda x, y: sp.kl_div(x, y)[1], (0, 1))(x, np.ones(2))
    assert np.all(np.isfinite(gx)) and np.all(np.isfinite(gy))


def test_log_ndtr_far_in_the_tail():
    x = np.array([-40.0, -10.0, 0.0, 10.0])
    g = adkit.grad(lambda x: np.sum(sp.log_ndtr(x)))(x)
    assert np.all(np.isfinite(g))
    assert np.isclose(g[0], 40.0, rtol=1e-3) and g[3] < 1e-20
    assert np.isclose(g[2], np.sqrt(2.0 / np.pi))


# --- dtypes ------------------------------------------------------------------------------------


F32 = np.float32
FLOAT32 = [fn for fn, _ in UNARY if "f->f" in fn.types] + [
    lambda x: sp.xlogy(x, x), lambda x: sp.beta(x, F32(2.0)), lambda x: sp.jv(1.5, x),
    lambda x: sp.iv(2, x), lambda x: sp.gammainc(F32(1.5), x), lambda x: sp.zeta(F32(2.0), x),
    lambda x: sp.betainc(F32(2.0), F32(3.0), x), lambda x: sp.logsumexp(x, axis=0),
    lambda x: sp.softmax(x, axis=0), lambda x: sp.log_softmax(x),
    lambda x: sp.logsumexp(x, b=F32(2.0))]


@pytest.mark.parametrize("k", range(len(FLOAT32)),
                         ids=lambda k: getattr(FLOAT32[k], "__name__", "") + str(k))
def test_float32_stays_float32(k):
    fun = FLOAT32[k]
    x = np.array([0.3, 0.6, 0.8], dtype=np.float32)
    assert fun(x).dtype == np.float32
    g = adkit.grad(lambda x: np.sum(fun(x)))(x)
    assert g.dtype == np.float32, g.dtype
    J = adkit.jacobian(fun, mode="forward")(x)
    assert J.dtype == np.float32, J.dtype
    H = adkit.hessian(lambda x: np.sum(fun(x)))(x)
    assert H.dtype == np.float32, H.dtype


def test_polygamma_dtype_follows_scipy():
    # SciPy's polygamma computes in float64 even for float32 input; adkit's value does too,
    # while digamma's derivative (polygamma(1, x) inside adkit) keeps float32
    x = np.array([0.3, 0.6], dtype=np.float32)
    assert adkit.jacobian(lambda x: sp.polygamma(1, x))(x).dtype == sp.polygamma(1, x).dtype
    assert adkit.grad(lambda x: np.sum(sp.polygamma(1, x)))(x).dtype == np.float32


# autograd 1.9's scipy.special registrations
AUTOGRAD_SPECIAL = """beta betainc betaln polygamma psi digamma gamma gammaln gammainc gammaincc
gammasgn rgamma multigammaln j0 y0 j1 y1 jn yn i0 i1 iv ive erf erfc erfinv erfcinv logit expit
logsumexp""".split()


def test_superset_of_autograd_scipy_special():
    from adkit.table import COVERAGE
    assert [n for n in AUTOGRAD_SPECIAL if "scipy.special." + n not in COVERAGE] == []


def test_every_scipy_primitive_is_exercised():
    # runs last in this file: every rule registered here went through check()
    names = {n for n, p in PRIMITIVES.items()
             if n.startswith("scipy.special.") and type(p).__name__ == "Primitive"}
    missing = names - EXERCISED
    if len(EXERCISED) < 40:
        pytest.skip("run the whole file to check that every rule is exercised")
    assert not missing, missing


def test_rgamma_is_differentiable_at_its_zeros():
    # found by the random-program tests: -digamma(x)/Gamma(x) is inf * 0 at x = -n,
    # where the derivative of 1/Gamma is (-1)^n n!
    x = np.array([0.0, -1.0, -2.0, -3.0])
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(np.diag(adkit.jacobian(sp.rgamma, mode=mode)(x)),
                                   [1.0, -1.0, 2.0, -6.0])
    # SymPy's -polygamma(0, x)/gamma(x) evaluates to nan there: a limit lambdify cannot take
    check(lambda x: sp.rgamma(x), x, order=1, symbolic=False)
