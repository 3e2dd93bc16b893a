"""np.piecewise, np.apply_along_axis and np.apply_over_axes on traced values (adkit/rules/
functional.py): NumPy's own results on plain values, and derivatives in every mode to
second order (ruletest.check: reverse vs finite differences and SymPy, forward, compiled)."""

import numpy as np
import pytest

import adkit
from ruletest import R, check

A = R(3, 4, seed=7)
V = np.array([-1.3, 0.4, -0.2, 2.1, 0.9])

PIECEWISE = [
    lambda x: np.piecewise(x, [x < 0, x >= 0], [lambda v: -v ** 3, lambda v: np.sin(v) * v]),
    lambda x: np.piecewise(x, [x < 0], [lambda v: np.exp(v), lambda v: v ** 2]),  # otherwise
    lambda x: np.piecewise(x, [x > 0.5], [lambda v: v * 2.0, 7.0]),               # a constant
    lambda x: np.piecewise(x, [x < -1, x > 1], [lambda v, s: v * s, lambda v, s: v / s],
                           2.0),                                                 # extra args
    lambda x: np.piecewise(x, [x > 0, x > 1], [lambda v: v, lambda v: v ** 3]),   # later wins
]


@pytest.mark.parametrize("k", range(len(PIECEWISE)))
@pytest.mark.parametrize("x", [V, A], ids=["1d", "2d"])
def test_piecewise(k, x):
    f = PIECEWISE[k]
    np.testing.assert_allclose(adkit.grad(lambda a: np.sum(f(a)))(x).shape, np.shape(x))
    check(f, x)


APPLY = [
    lambda a: np.apply_along_axis(lambda r: np.sum(r ** 2) * r, 1, a),      # a vector each
    lambda a: np.apply_along_axis(lambda r: np.sum(np.sin(r)), 0, a),      # a scalar each
    lambda a: np.apply_along_axis(lambda r: np.outer(r, r[:2]), -1, a),    # a matrix each
    lambda a: np.apply_along_axis(np.cumsum, 0, a),
    lambda a: np.apply_over_axes(np.sum, a ** 2, [0, 1]),
    lambda a: np.apply_over_axes(lambda b, ax: np.max(b, axis=ax, keepdims=True), a, 1),
]


@pytest.mark.parametrize("k", range(len(APPLY)))
def test_apply_along_and_over_axes(k):
    check(APPLY[k], A)


@pytest.mark.parametrize("f", PIECEWISE[:3] + APPLY, ids=lambda f: "")
def test_values_are_numpys(f):
    x = A if f in APPLY else V
    traced = adkit.jvp(f, (x,), (np.ones_like(x),))[0]   # computed by the handler
    np.testing.assert_allclose(traced, f(x), rtol=1e-14)  # computed by NumPy itself


def test_a_single_array_condition_is_one_condition_for_1d_x_as_in_numpy():
    f = lambda x: np.piecewise(x, x > 0.5, [lambda v: v * 2.0, 7.0])  # noqa: E731
    np.testing.assert_allclose(adkit.jvp(f, (V,), (np.ones(5),))[0], f(V))
    with pytest.raises(ValueError, match="3 condition"):   # NumPy reads a 2-D one as rows
        f(A)
    with pytest.raises(ValueError, match="with 3 condition"):
        adkit.grad(lambda a: np.sum(f(a)))(A)


def test_bad_arguments_get_numpys_kind_of_error():
    with pytest.raises(ValueError, match="funclist must have 2 or 3 entries"):
        adkit.jvp(lambda v: np.piecewise(v, [v < 0, v > 1], [np.sin]), (V,), (V,))
    mixed = np.array([[1.0, 2.0], [-1.0, 2.0]])
    with pytest.raises(ValueError, match="results of different shapes"):
        adkit.jvp(lambda a: np.apply_along_axis(lambda r: r[:1] if r[0] > 0 else r, 1, a),
                  (mixed,), (mixed,))
