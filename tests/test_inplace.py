"""In-place writes on traced arrays: x[i] = v, x += y, writes through views, with NumPy's
aliasing semantics, checked against central differences in forward and reverse mode."""

import numpy as np
import pytest

import adkit
from adkit.forward import jacobian as fwd_jacobian


def numeric_gradient(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def check_both_modes(f, x):
    expected = numeric_gradient(f, x)
    assert np.allclose(adkit.grad(f)(x), expected, atol=1e-6), "reverse mode"
    assert np.allclose(fwd_jacobian(f)(x), expected, atol=1e-6), "forward mode"
    assert np.allclose(adkit.jacobian(f, mode="forward")(x), expected, atol=1e-6)


X = np.array([0.5, -1.2, 2.0, 0.7])


def test_setitem_basic_and_advanced():
    def f(x):
        y = np.zeros_like(x)
        y[0] = x[1] * x[2]
        y[1:3] = np.sin(x[:2])
        y[[3]] = x[3] ** 2
        return np.sum(y * np.array([1.0, 2.0, 3.0, 4.0]))
    check_both_modes(f, X)


def test_setitem_on_the_argument_itself_and_boolean_mask():
    def f(x):
        x = x * 1.0
        x[x > 0] = x[x > 0] ** 2
        x[0] = 3.0
        return np.sum(x * np.arange(1.0, 5.0))
    check_both_modes(f, X)


def test_augmented_assignment_and_aliases_see_the_write():
    def f(x):
        y = x * 2.0
        alias = y
        y += np.exp(x)
        y *= x
        y -= 1.0
        y /= 2.0
        y **= 2
        return np.sum(alias)  # `alias` is the same array as `y`, as in NumPy
    check_both_modes(f, X)


def test_item_augmented_assignment_with_repeated_indices():
    def f(x):
        y = np.zeros_like(x, shape=(3,))
        y[[0, 0, 2]] += x[:3]  # NumPy: repeated index written once, last value wins
        return np.sum(y * np.array([1.0, 2.0, 3.0]))
    check_both_modes(f, X)
    x = X.copy()
    y = np.zeros(3)
    y[[0, 0, 2]] += x[:3]
    assert f(X) == pytest.approx(np.sum(y * np.array([1.0, 2.0, 3.0])))


def test_setitem_with_repeated_advanced_indices_last_write_wins():
    def f(x):
        y = np.zeros_like(x, shape=(2,))
        y[[0, 1, 0]] = x[:3] * np.array([1.0, 2.0, 3.0])
        return np.sum(y * np.array([5.0, 7.0]))
    check_both_modes(f, X)


def test_np_add_at_accumulates_repeated_indices():
    def f(x):
        y = np.zeros_like(x, shape=(2,))
        np.add.at(y, [0, 1, 0], x[:3])
        return np.sum(y ** 2)
    check_both_modes(f, X)


def test_writes_through_views_reach_the_base():
    def f(x):
        m = np.zeros_like(x, shape=(2, 2))
        m[0][1] = x[0]  # x[0] of a row view: NumPy writes into m
        row = m[1]
        row[:] = x[1:3]
        t = m.T
        t[0, 0] = x[3] * 2  # through a transposed view
        m.reshape(4)[3] += x[0]  # through a reshaped view
        return np.sum(m * np.array([[1.0, 2.0], [3.0, 4.0]]))
    check_both_modes(f, X)


def test_live_views_see_later_writes_to_their_base():
    def f(x):
        m = x.reshape(2, 2) * 1.0
        first_row = m[0]
        col = m[:, 1]
        m[0, 1] = x[3] ** 3
        return np.sum(first_row * 10.0) + np.sum(col * 100.0)
    check_both_modes(f, X)
    m = X.reshape(2, 2) * 1.0
    first_row, col = m[0], m[:, 1]
    m[0, 1] = X[3] ** 3
    plain = np.sum(first_row * 10.0) + np.sum(col * 100.0)
    assert adkit.value_and_grad(f)(X)[0] == pytest.approx(plain)


def test_copies_are_not_aliases():
    def f(x):
        y = x * 1.0
        z = y.copy()
        w = y[[0, 1]]  # advanced indexing copies
        y[0] = 100.0
        return np.sum(z) + np.sum(w)
    check_both_modes(f, X)
    assert adkit.value_and_grad(f)(X)[0] == pytest.approx(np.sum(X) + X[0] + X[1])


def test_inplace_methods_and_out_argument():
    def f(x):
        y = x * 1.0
        y.sort()
        z = np.zeros_like(x)
        np.multiply(y, y, out=z)
        z.fill(0.0) if False else None
        return np.sum(z * np.arange(4.0))
    check_both_modes(f, X)


def test_caller_array_is_not_modified():
    x = X.copy()

    def f(x):
        x[0] = 5.0
        return np.sum(x)
    adkit.grad(f)(x)
    assert np.array_equal(x, X)


def test_write_of_inner_traced_value_into_outer_traced_array():
    def outer(a):
        def inner(b):
            buf = np.zeros_like(a, shape=(2,))
            buf[0] = a * b
            buf[1] = b
            return np.sum(buf ** 2)
        return adkit.grad(inner)(1.5)
    # d/db = 2 a^2 b + 2 b; d/da of that = 4 a b
    assert adkit.grad(outer)(0.7) == pytest.approx(4 * 0.7 * 1.5)
