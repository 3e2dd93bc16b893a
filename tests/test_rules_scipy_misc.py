"""Convolutions (np.convolve, np.correlate, scipy.signal.convolve) in every mode, np.einsum's
sublist form, np.r_ / np.c_ on traced values and NumPy functions given Python lists of traced
values, each checked in every mode to second order (ruletest.check)."""

import numpy as np
import pytest

import adkit
from adkit.table import NoRuleError
from ruletest import R, check

SIZES = [(5, 3), (3, 5), (4, 4), (1, 3), (6, 1)]
MODES = ["full", "same", "valid"]


@pytest.mark.parametrize("fn", [np.convolve, np.correlate], ids=["convolve", "correlate"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n,m", SIZES, ids=str)
def test_numpy_convolve_and_correlate(fn, mode, n, m):
    a, v = R(n), R(m)
    check(lambda a, v: fn(a, v, mode), a, v)
    out, _ = adkit.jvp(lambda a, v: fn(a, v, mode), (a, v), (a, v))
    np.testing.assert_allclose(out, fn(a, v, mode), rtol=1e-12, atol=1e-14)


def test_convolve_default_modes_and_lists():
    check(lambda a: np.convolve(a, [1.0, -2.0, 0.5]), R(4))
    check(lambda a: np.correlate([0.3, 1.0, 2.0, -1.0], a), R(2))


signal = pytest.importorskip("scipy.signal", reason="SciPy is not installed")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("s1,s2", [((5,), (3,)), ((3,), (5,)), ((4, 3), (2, 2)),
                                   ((2, 2), (4, 3)), ((3, 3), (3, 3)), ((3, 2, 2), (2, 2, 1))],
                         ids=str)
def test_scipy_signal_convolve(mode, s1, s2):
    a, v = R(*s1), R(*s2)
    fun = lambda a, v: signal.convolve(a, v, mode=mode)  # noqa: E731
    check(fun, a, v)
    out, _ = adkit.jvp(fun, (a, v), (a, v))
    np.testing.assert_allclose(out, fun(a, v), rtol=1e-10, atol=1e-12)


def test_scipy_signal_lfilter():  # more in test_rules_scipy_signal_more.py
    check(lambda b, a, x: signal.lfilter(b, a, x), R(2), np.array([1.0, -0.3]), R(4))


def test_scipy_signal_convolve_refuses_what_scipy_refuses():
    with pytest.raises(ValueError, match="same dimensionality"):
        adkit.grad(lambda a: np.sum(signal.convolve(a, np.ones((2, 2)))))(np.ones(3))
    with pytest.raises(ValueError, match="at least as large"):
        adkit.grad(lambda a: np.sum(signal.convolve(a, np.ones((1, 4)), "valid")))(np.ones((3, 2)))


@pytest.mark.parametrize("fun", [
    lambda a, b: np.einsum(a, [0, 1], b, [1, 2]),
    lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [2, 0]),
    lambda a, b: np.einsum(a, [0, 1], b, [1, 2], []),
    lambda a, b: np.einsum(a, [Ellipsis, 1], b, [1, 2], [Ellipsis, 2]),
    lambda a, b: np.einsum(a, [0, 0]) * np.einsum(b, [0, 1], [1]),
], ids=["matmul", "transposed", "total", "ellipsis", "trace"])
def test_einsum_sublist_form(fun):
    a, b = R(3, 3), R(3, 2)
    check(fun, a, b)
    sub = fun(a, b)
    np.testing.assert_allclose(adkit.jvp(fun, (a, b), (a, b))[0], sub)


def test_einsum_sublist_errors_name_the_form():
    with pytest.raises(TypeError, match="sublist form"):
        adkit.grad(lambda a: np.einsum(a, ["i"]))(np.ones(2))


@pytest.mark.parametrize("fun", [
    lambda x: np.r_[x, x[0], 1.0, 0:2],
    lambda x: np.r_[x[:2], [x[2], 3.0]],
    lambda x: np.c_[x, 2.0 * x],
    lambda x: np.c_[np.reshape(x, (3, 1)), x ** 2],
], ids=["r_ mixed", "r_ list", "c_ columns", "c_ 2-D"])
def test_r_and_c(fun):
    x = R(3)
    check(fun, x)


def test_r_and_c_stay_numpys_outside_and_refuse_directives():
    np.testing.assert_array_equal(np.r_[1:3, 5], [1, 2, 5])
    assert type(np.r_).__module__.startswith("numpy")
    with pytest.raises(TypeError, match="string directive"):
        adkit.grad(lambda x: np.sum(np.r_["0,2", x, x]))(np.ones(2))


@pytest.mark.parametrize("fun", [
    lambda x: np.mean([x[0], x[1], 2.0]), lambda x: np.std([x[0], x[1] ** 2, x[2]]),
    lambda x: np.var([x[0], x[1]], ddof=1), lambda x: np.linalg.norm([x[0], x[1], 1.0]),
    lambda x: np.append([x[0]], [x[1], 2.0]), lambda x: np.append(x, [x[0] * x[1]]),
    lambda x: np.sum([x[0], x[2]]), lambda x: np.prod((x[0], x[1], x[2])),
    lambda x: np.max([x[0], x[1] + 5.0]), lambda x: np.average([x[0], x[1]], weights=[1.0, 3.0]),
    lambda x: np.cumsum([x[0], x[1], x[2]]),
], ids=["mean", "std", "var", "norm", "append", "append array", "sum", "prod", "max",
        "average", "cumsum"])
def test_numpy_functions_given_lists_of_traced_values(fun):
    check(fun, np.array([0.4, -1.3, 0.9]))


def test_list_functions_are_numpys_own_outside_differentiation():
    from adkit.rules.lists import SWAPS
    assert all(namespace[name] is own for namespace, name, _, own in SWAPS)
    adkit.grad(lambda x: np.mean([x, 1.0]))(0.5)
    assert all(namespace[name] is own for namespace, name, _, own in SWAPS)


# --- scipy.integrate.odeint: the adjoint method against a differentiated fixed-step RK4 ---------

integrate = pytest.importorskip("scipy.integrate", reason="SciPy is not installed")


def _pendulum(y, t, a, b):
    return np.stack([a * y[1], -b * np.sin(y[0]) + 0.1 * t])


def _rk4(f, y0, t, args, steps=200):
    """The same ODE by fixed-step RK4, plain NumPy that adkit differentiates step by step."""
    ys, y = [y0], y0
    for i in range(len(t) - 1):
        h, s = (t[i + 1] - t[i]) / steps, t[i]
        for _ in range(steps):
            k1 = f(y, s, *args)
            k2 = f(y + h / 2 * k1, s + h / 2, *args)
            k3 = f(y + h / 2 * k2, s + h / 2, *args)
            k4 = f(y + h * k3, s + h, *args)
            y, s = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), s + h
        ys.append(y)
    return np.stack(ys)


Y0, TIMES, A, B = np.array([0.5, -0.2]), np.array([0.0, 0.4, 1.0, 1.5]), 1.3, 0.7
WEIGHTS = np.random.RandomState(5).uniform(0.5, 1.5, (4, 2))


def _loss_odeint(y0, t, a, b):
    return np.sum(WEIGHTS * integrate.odeint(_pendulum, y0, t, args=(a, b), rtol=1e-11,
                                             atol=1e-11))


def _loss_rk4(y0, t, a, b):
    return np.sum(WEIGHTS * _rk4(_pendulum, y0, t, (a, b)))


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_odeint_gradients_match_differentiated_rk4(mode):
    args = (Y0, TIMES, A, B)
    got = adkit.jacobian(_loss_odeint, (0, 1, 2, 3), mode=mode)(*args)
    expected = adkit.grad(_loss_rk4, (0, 1, 2, 3))(*args)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-7, atol=1e-9)
    assert np.isclose(_loss_odeint(*args), _loss_rk4(*args), rtol=1e-9)


def test_odeint_second_order_matches_differentiated_rk4():
    args = (Y0, TIMES, A, B)
    np.testing.assert_allclose(adkit.hessian(_loss_odeint)(*args), adkit.hessian(_loss_rk4)(*args),
                               rtol=1e-6, atol=1e-8)
    rev_rev = adkit.grad(lambda b: adkit.grad(_loss_odeint, 2)(Y0, TIMES, A, b))(B)
    assert np.isclose(rev_rev, adkit.grad(lambda b: adkit.grad(_loss_rk4, 2)(Y0, TIMES, A, b))(B),
                      rtol=1e-6)


def test_odeint_against_the_numeric_referee():
    check(lambda y0, a: integrate.odeint(_pendulum, y0, TIMES, args=(a, B), rtol=1e-12,
                                         atol=1e-12), Y0, A, order=1, symbolic=False,
          rtol=1e-4, h=1e-3)


def test_solve_ivp_and_quad_against_the_numeric_referee():
    # more in test_rules_scipy_integrate_more.py
    check(lambda y0, a: integrate.solve_ivp(lambda t, y, a: _pendulum(y, t, a, B), (0.0, 1.5),
                                            y0, t_eval=TIMES, args=(a,), rtol=1e-12,
                                            atol=1e-12).y, Y0, A, order=1, symbolic=False,
          rtol=1e-4, h=1e-3)
    check(lambda k, b: integrate.quad(lambda x, k: np.exp(-k * x * x), 0.0, b, args=(k,))[0],
          0.8, 1.2, order=1, symbolic=False, rtol=1e-5, h=1e-3)


def test_odeint_scalar_state_tfirst_and_closed_form():
    # y' = -k y: y(1) = y0 e^-k
    g = adkit.grad(lambda k: integrate.odeint(lambda t, y, k: -k * y, 2.0, np.array([0.0, 1.0]),
                                              args=(k,), tfirst=True, rtol=1e-12,
                                              atol=1e-12)[1, 0])(0.5)
    assert np.isclose(g, -2.0 * np.exp(-0.5), rtol=1e-8)


def test_odeint_refuses_full_output():
    with pytest.raises(NoRuleError, match="full_output"):
        adkit.grad(lambda y: integrate.odeint(lambda y, t: -y, y, np.array([0.0, 1.0]),
                                              full_output=True)[0][1, 0])(1.0)


def test_odeint_with_a_traced_closure_says_to_pass_args():
    with pytest.raises(adkit.TracedConversionError, match=r"^scipy\.integrate\.odeint .*args="):
        adkit.grad(lambda k: integrate.odeint(lambda y, t: -k * y, 1.0,
                                              np.array([0.0, 1.0]))[1, 0])(0.5)


def test_every_convolution_and_odeint_primitive_is_exercised():
    # runs last in this file: the convolutions' and odeint's rules went through check()
    from adkit.table import PRIMITIVES
    from ruletest import EXERCISED
    if len(EXERCISED) < 10:
        pytest.skip("run the whole file to check that every rule is exercised")
    names = {"convolve"} | {n for n in PRIMITIVES if n.startswith(("scipy.signal.",
                                                                     "scipy.integrate."))}
    assert not names - EXERCISED, names - EXERCISED
