"""scipy.integrate's quad (in args= and the limits, by the Leibniz rule), solve_ivp (the adjoint
method and the sensitivity equations, as odeint) and cumulative_trapezoid: derivatives against
closed forms, a differentiated fixed-step RK4 and central differences (ruletest.check), values
equal to SciPy's, refusals by name."""

import numpy as np
import pytest

integrate = pytest.importorskip("scipy.integrate", reason="SciPy is not installed")

import adkit  # noqa: E402
from adkit.table import NoRuleError  # noqa: E402
from ruletest import R, check  # noqa: E402

# --- quad -------------------------------------------------------------------------------------


def _damped(x, k, c):
    return np.exp(-k * x) * np.sin(c * x)


def _quad_value(k, c, a=0.0, b=2.0):
    return integrate.quad(_damped, a, b, args=(k, c), epsabs=1e-13, epsrel=1e-13)[0]


def test_quad_in_args_and_limits_to_second_order():
    # numeric referee: the integral is smooth in k, c, a and b
    check(lambda k, c, a, b: _quad_value(k, c, a, b), 0.7, 1.3, 0.2, 1.9, symbolic=False,
          rtol=1e-6, h=1e-3)


def test_quad_matches_closed_forms():
    # int_0^inf exp(-k x^2) dx = sqrt(pi / k) / 2
    def gauss(k):
        return integrate.quad(lambda x, k: np.exp(-k * x * x), 0.0, np.inf, args=(k,))[0]
    assert np.isclose(adkit.grad(gauss)(2.0), -np.sqrt(np.pi) / 4 * 2.0 ** -1.5, rtol=1e-8)
    assert np.isclose(adkit.grad(adkit.grad(gauss))(2.0), 3 * np.sqrt(np.pi) / 8 * 2.0 ** -2.5,
                      rtol=1e-7)
    # d/db int_a^b x^2 dx = b^2, d/da = -a^2, also with the limits reversed
    cube = adkit.grad(lambda a, b: integrate.quad(lambda x: x * x, a, b)[0], (0, 1))
    np.testing.assert_allclose(cube(0.5, 2.0), (-0.25, 4.0), rtol=1e-12)
    np.testing.assert_allclose(cube(2.0, 0.5), (-4.0, 0.25), rtol=1e-12)


def test_quad_args_may_nest_and_hold_other_leaves():
    def f(x, params, power):
        w, b = params
        return np.sum(w * x ** power) + b
    w = np.array([0.5, -1.0, 2.0])
    value = lambda w, b: integrate.quad(f, 0.0, 1.0, args=((w, b), 2))[0]  # noqa: E731
    gw, gb = adkit.grad(value, (0, 1))(w, 0.3)
    np.testing.assert_allclose(gw, np.full(3, 1 / 3), rtol=1e-12)
    assert np.isclose(gb, 1.0, rtol=1e-12)


def test_quad_returns_scipys_value_and_error_estimate():
    want = integrate.quad(_damped, 0.0, 2.0, args=(0.7, 1.3))
    got = adkit.jvp(lambda k: integrate.quad(_damped, 0.0, 2.0, args=(k, 1.3)), (0.7,), (1.0,))[0]
    assert len(got) == len(want) == 2
    assert got[0] == want[0] and got[1] == want[1]
    full = adkit.jvp(lambda k: integrate.quad(_damped, 0.0, 2.0, args=(k, 1.3), full_output=1),
                     (0.7,), (1.0,))[0]
    assert len(full) == 3 and full[2]["neval"] == integrate.quad(
        _damped, 0.0, 2.0, args=(0.7, 1.3), full_output=1)[2]["neval"]


def test_quad_refusals_name_the_fix():
    with pytest.raises(adkit.TracedConversionError, match=r"^scipy\.integrate\.quad .*args="):
        adkit.grad(lambda k: integrate.quad(lambda x: k * x, 0.0, 1.0)[0])(0.5)
    with pytest.raises(NoRuleError, match="weight="):
        adkit.grad(lambda k: integrate.quad(lambda x, k: k * x, 0.0, 1.0, args=(k,),
                                            weight="cos", wvar=1.0)[0])(0.5)
    with pytest.raises(NoRuleError, match="infinite"):
        adkit.grad(lambda b: integrate.quad(lambda x: np.exp(-x), 0.0, b)[0])(np.inf)


# --- solve_ivp -----------------------------------------------------------------------------------


def _pendulum(t, y, a, b):
    return np.stack([a * y[1], -b * np.sin(y[0]) + 0.1 * t])


def _rk4(y0, times, a, b, steps=200):
    """The same ODE by fixed-step RK4, plain NumPy that adkit differentiates step by step."""
    ys, y = [], y0
    if times[0] == 0.0:
        ys.append(y0)
    grid = [0.0] + [t for t in times if t != 0.0]
    for t_from, t_to in zip(grid[:-1], grid[1:]):
        h, s = (t_to - t_from) / steps, t_from
        for _ in range(steps):
            k1 = _pendulum(s, y, a, b)
            k2 = _pendulum(s + h / 2, y + h / 2 * k1, a, b)
            k3 = _pendulum(s + h / 2, y + h / 2 * k2, a, b)
            k4 = _pendulum(s + h, y + h * k3, a, b)
            y, s = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), s + h
        ys.append(y)
    return np.stack(ys, axis=1)


Y0 = np.array([0.5, -0.2])
WEIGHTS = np.random.RandomState(7).uniform(0.5, 1.5, (2, 3))


@pytest.mark.parametrize("times", [np.array([0.0, 0.6, 1.5]), np.array([0.3, 0.9, 1.5])],
                         ids=["from t0", "after t0"])
@pytest.mark.parametrize("method", ["RK45", "DOP853", "LSODA"])
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_solve_ivp_gradients_match_differentiated_rk4(times, method, mode):
    def loss(y0, a, b):
        sol = integrate.solve_ivp(_pendulum, (0.0, 1.5), y0, method=method, t_eval=times,
                                  args=(a, b), rtol=1e-11, atol=1e-12)
        return np.sum(WEIGHTS * sol.y)
    got = adkit.jacobian(loss, (0, 1, 2), mode=mode)(Y0, 1.3, 0.7)
    want = adkit.grad(lambda y0, a, b: np.sum(WEIGHTS * _rk4(y0, times, a, b)), (0, 1, 2))(
        Y0, 1.3, 0.7)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-9)


def test_solve_ivp_second_order_and_closed_form():
    # y' = -k y, y(0) = y0: y(t) = y0 e^(-k t)
    t = np.array([0.4, 1.0])

    def y(y0, k):
        return integrate.solve_ivp(lambda s, y, k: -k * y, (0.0, 1.0), y0, t_eval=t,
                                   args=(k,), rtol=1e-12, atol=1e-13).y[0]
    np.testing.assert_allclose(adkit.jacobian(y, 1)(np.array([2.0]), 0.5),
                               -2.0 * t * np.exp(-0.5 * t), rtol=1e-8)
    np.testing.assert_allclose(adkit.hessian(lambda k: y(np.array([2.0]), k)[1])(0.5),
                               2.0 * np.exp(-0.5), rtol=1e-7)
    np.testing.assert_allclose(adkit.jacobian(y, 0)(np.array([2.0]), 0.5)[:, 0],
                               np.exp(-0.5 * t), rtol=1e-9)


def test_solve_ivp_result_is_scipys():
    t = np.linspace(0.0, 1.5, 4)
    want = integrate.solve_ivp(_pendulum, (0.0, 1.5), Y0, t_eval=t, args=(1.3, 0.7))
    results = []

    def solve(y0):
        results.append(integrate.solve_ivp(_pendulum, (0.0, 1.5), y0, t_eval=t,
                                           args=(1.3, 0.7)))
        return results[-1].y
    y = adkit.jvp(solve, (Y0,), (Y0,))[0]
    got = results[-1]
    assert type(got) is type(want) and got.success and got.nfev == want.nfev
    assert got.message == want.message and got.status == want.status
    np.testing.assert_array_equal(got.t, want.t)
    np.testing.assert_array_equal(y, want.y)


def test_solve_ivp_refusals_name_the_fix():
    t = np.array([0.5, 1.0])
    with pytest.raises(adkit.TracedConversionError, match=r"^scipy\.integrate\.solve_ivp .*args="):
        adkit.grad(lambda k: integrate.solve_ivp(lambda s, y: -k * y, (0.0, 1.0), [1.0],
                                                 t_eval=t).y[0, -1])(0.5)
    with pytest.raises(NoRuleError, match="t_eval=.*odeint"):
        adkit.grad(lambda k: integrate.solve_ivp(lambda s, y, k: -k * y, (0.0, 1.0), [1.0],
                                                 args=(k,)).y[0, -1])(0.5)
    with pytest.raises(NoRuleError, match="t_span or t_eval.*odeint"):
        adkit.grad(lambda t1: integrate.solve_ivp(lambda s, y: -y, (0.0, t1), [1.0],
                                                  t_eval=[0.5]).y[0, -1])(1.0)
    with pytest.raises(NoRuleError, match="events="):
        adkit.grad(lambda y0: integrate.solve_ivp(lambda s, y: -y, (0.0, 1.0), [y0], t_eval=t,
                                                  events=lambda s, y: y[0]).y[0, -1])(1.0)
    with pytest.raises(ValueError, match="within `t_span`"):
        adkit.grad(lambda y0: integrate.solve_ivp(lambda s, y: -y, (0.0, 1.0), [y0],
                                                  t_eval=[2.0]).y[0, -1])(1.0)


# --- cumulative_trapezoid ---------------------------------------------------------------------


@pytest.mark.parametrize("fun,args", [
    (lambda y: integrate.cumulative_trapezoid(y), (R(5, seed=91),)),
    (lambda y: integrate.cumulative_trapezoid(y, dx=0.3, initial=0), (R(5, seed=92),)),
    (lambda y, x: integrate.cumulative_trapezoid(y, x), (R(5, seed=93), np.cumsum(R(5, low=0.1,
                                                                                  high=1.0)))),
    (lambda y, x: integrate.cumulative_trapezoid(y, x, axis=0), (R(4, 3, seed=94), R(4, seed=95))),
    (lambda y, x: integrate.cumulative_trapezoid(y, x, axis=1, initial=0),
     (R(2, 4, seed=96), R(2, 4, seed=97))),
], ids=["default", "dx initial", "x", "axis 0", "x 2-d"])
def test_cumulative_trapezoid(fun, args):
    check(fun, *args)
    np.testing.assert_allclose(adkit.jvp(fun, args, args)[0], fun(*args), rtol=1e-14)


def test_cumulative_trapezoid_refuses_what_scipy_refuses():
    with pytest.raises(ValueError, match="`initial` must be"):
        adkit.grad(lambda y: np.sum(integrate.cumulative_trapezoid(y, initial=1.0)))(R(3))
    with pytest.raises(ValueError, match="length of x"):
        adkit.grad(lambda y: np.sum(integrate.cumulative_trapezoid(y, np.ones(4))))(R(3))


def test_array_api_refusals_name_the_scipy_function():
    # SciPy's array-api-compat raises "VarArray is not a supported array type" (no quotes
    # around the class): adkit still names the SciPy function the user called
    from adkit.rules.scipy_binding import original
    with pytest.raises(NoRuleError, match=r"(?s)^scipy\.integrate\.cumulative_trapezoid .*"
                                          "not a supported array type"):
        adkit.grad(lambda y: np.sum(original(integrate.cumulative_trapezoid)(y)))(R(4))


def test_every_integrate_primitive_is_exercised():
    # runs last in this file: quad's rules went through check()
    from ruletest import EXERCISED
    if len(EXERCISED) < 3:
        pytest.skip("run the whole file to check that every rule is exercised")
    assert "scipy.integrate.quad" in EXERCISED
