"""Convolutions (np.convolve, np.correlate, scipy.signal.convolve) in every mode, np.einsum's
sublist form, np.r_ / np.c_ on traced values and NumPy functions given Python lists of traced
values, each checked in every mode to second order (ruletest.check)."""

import numpy as np
import pytest

import adkit
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
