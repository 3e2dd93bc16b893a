"""The engines themselves: the tape's Wengert list, memory release, depth, and users'
own primitives."""

import time
import tracemalloc

import numpy as np
import pytest

import adkit
from adkit.reverse import Tape


def test_tape_records_a_wengert_list_and_differentiates():
    with Tape() as tape:
        x1 = tape.watch(1.0)
        x2 = tape.watch(2.0)
        y = np.sqrt(x1 ** 2 + x2 ** 2)
    ops = [n.prim.name if n.prim else "input" for n in tape.entries]
    assert ops == ["input", "input", "power", "power", "add", "sqrt"]
    assert [p.index for p in tape.entries[4].parents] == [2, 3]
    g1, g2 = tape.gradient(y, [x1, x2])
    assert g1 == pytest.approx(1 / 5 ** 0.5) and g2 == pytest.approx(2 / 5 ** 0.5)
    assert "v5 = sqrt(v4)" in repr(tape.entries[5])


def test_tape_exports_graphviz_dot():
    with Tape() as tape:
        x = tape.watch(np.ones(3))
        y = np.sum(np.exp(x) * x)
    dot = tape.to_dot([y])
    assert dot.startswith("digraph") and "exp" in dot and "multiply" in dot
    assert dot.count("->") == 4  # exp<-x, multiply<-exp, multiply<-x, sum<-multiply


def test_tape_gradient_of_an_unused_source_is_zero():
    with Tape() as tape:
        x = tape.watch(np.ones(2))
        z = tape.watch(np.ones(3))
        y = np.sum(x * 3)
    gx, gz = tape.gradient(y, (x, z))
    assert np.allclose(gx, 3) and np.array_equal(gz, np.zeros(3))


def test_memory_stays_flat_over_ten_thousand_gradients():
    w = np.random.RandomState(0).randn(20)

    def loss(w):
        return np.sum(np.tanh(w) * w)
    g = adkit.grad(loss)
    for _ in range(200):  # warm caches before measuring
        g(w)
    tracemalloc.start()
    try:
        for _ in range(2000):
            g(w)
        first, _ = tracemalloc.get_traced_memory()
        for _ in range(8000):
            g(w)
        last, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert last - first < 50_000, f"memory grew by {last - first} bytes over 8000 gradients"


def test_deep_chains_differentiate_without_recursion_and_in_linear_time():
    def chain(x, n):
        for _ in range(n):
            x = x * 0.9999 + 0.0001
        return x

    def timed(n):
        t = time.perf_counter()
        g = adkit.grad(chain)(1.0, n)
        return time.perf_counter() - t, g
    t_small, _ = timed(20_000)
    t_big, g = timed(200_000)
    assert g == pytest.approx(0.9999 ** 200_000, rel=1e-9)
    assert t_big < 30 * t_small  # linear would be 10x; quadratic would be 100x
    fwd = adkit.forward.derivative(chain)(1.0, 200_000)
    assert fwd == pytest.approx(0.9999 ** 200_000, rel=1e-9)


def test_user_primitive_with_vjp_only_works_in_forward_mode_too():
    @adkit.primitive
    def logsumexp(x):
        m = np.max(x)
        return m + np.log(np.sum(np.exp(x - m)))
    adkit.defvjp(logsumexp, lambda ans, x: lambda g: g * np.exp(x - ans))
    x = np.array([0.5, -1.0, 2.0])
    softmax = np.exp(x) / np.sum(np.exp(x))
    assert np.allclose(adkit.grad(logsumexp)(x), softmax)
    assert np.allclose(adkit.jacobian(logsumexp, mode="forward")(x), softmax)
    assert adkit.jvp(logsumexp, (x,), (np.ones(3),))[1] == pytest.approx(1.0)
    H = adkit.hessian(logsumexp)(x)
    assert np.allclose(H, np.diag(softmax) - np.outer(softmax, softmax))


def test_user_primitive_with_jvp_only_works_in_reverse_mode_by_transposition():
    @adkit.primitive
    def cube(x):
        return x ** 3
    adkit.defjvp(cube, lambda g, ans, x: 3 * x ** 2 * g)
    x = np.array([1.0, 2.0])
    assert np.allclose(adkit.grad(lambda x: np.sum(cube(x)))(x), 3 * x ** 2)
    assert np.allclose(adkit.hessian(lambda x: np.sum(cube(x)))(x), np.diag(6 * x))


def test_user_primitive_with_untraceable_rule_says_so():
    @adkit.primitive
    def double(x):
        return 2 * x
    adkit.defjvp(double, lambda g, ans, x: np.asarray([2 * float(gi) for gi in g]))
    with pytest.raises(TypeError, match="double has a JVP rule but no VJP rule.*defvjp"):
        adkit.grad(lambda x: np.sum(double(x)))(np.ones(2))


def test_user_primitive_without_rules_names_the_missing_rule():
    op = adkit.primitive(lambda x: x * 2)
    with pytest.raises(NotImplementedError, match="no differentiation rule.*either mode.*defvjp"):
        adkit.grad(lambda x: op(x))(1.0)
    with pytest.raises(NotImplementedError, match="no forward-mode.*defjvp"):
        adkit.forward.derivative(lambda x: op(x))(1.0)


def test_defvjp_needs_a_primitive():
    with pytest.raises(TypeError, match="adkit.primitive"):
        adkit.defvjp(np.sin, lambda ans, x: lambda g: g)


def test_batched_forward_over_batched_forward_broadcasts_a_scalar_element():
    # found by check_grads: x * x[0] under two batched forward traces lost the lift
    # of x[0]'s tangent (its answer was an outer box, which skipped the shape check),
    # and a batch of 2 silently broadcast against the 2 elements of x
    x = np.array([0.5, 1.5])
    f = lambda x: np.sum(np.sin(x) * x[0]) + np.sum((x + x[1]) ** 2)  # noqa: E731
    ff = adkit.jacobian(adkit.jacobian(f, mode="forward"), mode="forward")(x)
    exact = np.array([[2 * np.cos(0.5) - 0.5 * np.sin(0.5) + 2, np.cos(1.5) + 2],
                      [np.cos(1.5) + 2, -0.5 * np.sin(1.5) + 10]])  # by SymPy
    np.testing.assert_allclose(ff, exact, rtol=1e-12)
