"""adkit.custom_vjp, adkit.checkpoint and adkit.fixed_point, checked against the
referees (finite differences, SymPy through the primal function, closed forms) in
every mode and to second order."""

import threading
import tracemalloc

import numpy as np
import pytest

import adkit
from adkit.reverse import Tape
from ruletest import R, check

# --- custom_vjp ---------------------------------------------------------------------------


def _sin_times():
    """JAX's documentation example, decorator style, counting rule calls."""
    calls = []

    @adkit.custom_vjp
    def f(x, y):
        return np.sin(x) * y

    def f_fwd(x, y):
        calls.append("fwd")
        return f(x, y), (np.cos(x), np.sin(x), y)

    def f_bwd(res, g):
        calls.append("bwd")
        cos_x, sin_x, y = res
        return cos_x * g * y, sin_x * g

    f.defvjp(f_fwd, f_bwd)
    return f, calls


def test_jax_example_gives_jax_numbers_and_uses_the_residuals():
    f, calls = _sin_times()
    assert adkit.grad(f)(2.0, 3.0) == pytest.approx(-1.2484405096414273)  # JAX's printout
    assert calls == ["fwd", "bwd"]
    calls.clear()
    assert f(2.0, 3.0) == np.sin(2.0) * 3.0 and calls == []   # no differentiation: f itself


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)], ids=str)
def test_every_mode_and_second_order_against_the_referees(shape):
    f, _ = _sin_times()
    check(f, R(*shape, seed=1), R(*shape, seed=2))   # SymPy differentiates f itself


def test_the_two_function_form_and_a_bare_cotangent_for_one_argument():
    cube = adkit.custom_vjp(lambda x: (x ** 3, 3 * x ** 2), lambda d, g: d * g)
    assert cube(2.0) == 8.0
    assert adkit.grad(cube)(2.0) == 12.0
    assert adkit.grad(adkit.grad(cube))(2.0) == 12.0      # bwd is differentiable again
    check(cube, R(4, seed=3))


def test_a_rule_is_used_instead_of_the_function_derivative():
    clip_gradient = adkit.custom_vjp(lambda x: (x, None), lambda _, g: (np.clip(g, -1, 1),))
    g = adkit.grad(lambda x: np.sum(clip_gradient(x) * np.array([3.0, 0.5, -2.0])))(np.ones(3))
    np.testing.assert_array_equal(g, [1.0, 0.5, -1.0])
    # forward mode transposes the same rule
    _, t = adkit.jvp(lambda x: clip_gradient(x) * 3.0, (1.0,), (1.0,))
    assert t == 3.0   # the transposed rule of a clip is a clip of J^T g, linear near 0


def test_pytree_arguments_outputs_none_cotangents_and_nondiff_argnums():
    @adkit.custom_vjp
    def scaled_norm(params, power):
        return params["w"] ** power * params["b"], np.sum(params["w"])

    def fwd(params, power):
        return scaled_norm(params, power), (params, power)

    def bwd(res, g):
        (params, power), (g0, g1) = res, g
        w, b = params["w"], params["b"]
        return {"w": g0 * power * w ** (power - 1) * b + g1, "b": np.sum(g0 * w ** power)}, None

    scaled_norm.defvjp(fwd, bwd)
    params = {"w": np.array([1.0, 2.0]), "b": 1.5}

    def loss(p, power):
        y, s = scaled_norm(p, power)
        return np.sum(y) * s

    def plain(p, power):
        return np.sum(p["w"] ** power * p["b"]) * np.sum(p["w"])
    got, want = adkit.grad(loss)(params, 3.0), adkit.grad(plain)(params, 3.0)
    np.testing.assert_allclose(got["w"], want["w"])
    assert got["b"] == pytest.approx(want["b"])

    @adkit.custom_vjp
    def scale(k, x):
        return k * x
    scale.nondiff_argnums = (0,)
    scale.defvjp(lambda k, x: (k * x, None), lambda k, _, g: (k * g,))
    assert adkit.grad(lambda x: scale(4.0, x))(1.0) == 4.0


def test_symbolic_zeros_tell_fwd_which_arguments_are_differentiated():
    seen = []

    def fwd(x, y):
        seen.append((x.perturbed, y.perturbed))
        return x.value * y.value, (x.value, y.value)

    mul = adkit.custom_vjp(lambda x, y: x * y, symbolic_zeros=True)
    mul.defvjp(fwd, lambda res, g: (g * res[1], g * res[0]))
    assert adkit.grad(mul, 1)(2.0, 5.0) == 2.0
    assert seen == [(False, True)]


def test_bad_rules_are_named():
    f = adkit.custom_vjp(lambda x: x)
    with pytest.raises(TypeError, match="has no rules; give them with"):
        adkit.grad(f)(1.0)
    f.defvjp(lambda x: x, lambda r, g: g)
    with pytest.raises(TypeError, match=r"fwd must return a pair \(output, residuals\)"):
        adkit.grad(f)(np.ones(2).sum())
    g = adkit.custom_vjp(lambda x: (2 * x, None), lambda r, g: (np.ones(3),))
    with pytest.raises(ValueError, match=r"cotangent for argument 0 has shape \(3,\)"):
        adkit.grad(lambda x: np.sum(g(x)))(np.ones(2))
    h = adkit.custom_vjp(lambda x, y: (x * y, None), lambda r, g: (g,))
    with pytest.raises(TypeError, match="tuple of 2 cotangents"):
        adkit.grad(h)(1.0, 2.0)
    with pytest.raises(TypeError, match="passed by keyword"):
        adkit.grad(lambda x: h(1.0, y=x))(2.0)


def test_residuals_are_per_call_nested_and_thread_safe():
    f, _ = _sin_times()
    # f inside its own backward context, and interleaved calls: each keeps its residuals
    inner = lambda x: f(f(x, 2.0), x)  # noqa: E731
    check(inner, R(3, seed=4))
    results = {}

    def work(k):
        x = np.full(50, 0.1 * k)
        results[k] = adkit.grad(lambda x: np.sum(f(x, x + 1.0)))(x)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, g in results.items():
        x = np.full(50, 0.1 * k)
        np.testing.assert_allclose(g, np.cos(x) * (x + 1) + np.sin(x))


def test_one_tape_entry_per_call():
    f, _ = _sin_times()
    with Tape() as tape:
        x = tape.watch(np.ones(3))
        f(x, 2.0)
    assert [n.prim.name if n.prim else "input" for n in tape.nodes] == [
        "input", "custom_vjp:_sin_times.<locals>.f"]


# --- checkpoint ------------------------------------------------------------------------------


def _block(v, steps=10):
    for _ in range(steps):
        v = np.sin(v) * 1.01 + 0.1 * v * v
    return v


@pytest.mark.parametrize("shape", [(), (4,)], ids=str)
def test_checkpointed_blocks_give_the_plain_derivatives(shape):
    block = adkit.checkpoint(lambda v: _block(v, 3))
    # SymPy would expand 6 nested steps without end: finite differences referee this one
    check(lambda v: block(block(v)), R(*shape, low=0.1, high=0.6, seed=5), symbolic=False)


def test_checkpoint_recomputes_and_keeps_only_block_inputs():
    calls = []

    def block(v):
        calls.append(1)
        return _block(v)
    cb = adkit.checkpoint(block)
    with Tape() as tape:
        x = tape.watch(np.full(3, 0.3))
        y = cb(cb(x))
        assert len(tape.nodes) == 3  # the input and one entry per block, not 10 steps each
        loss = np.sum(y)
    assert len(calls) == 2
    g = tape.gradient(loss, x)
    assert len(calls) == 4       # each block ran once more, in the backward pass
    np.testing.assert_allclose(g, adkit.grad(lambda v: np.sum(_block(_block(v))))(np.full(3, 0.3)))


def test_checkpoint_takes_static_and_integer_arguments():
    cb = adkit.checkpoint(lambda v, n, scale=1.0: _block(v, n) * scale)
    g = adkit.grad(lambda v: np.sum(cb(v, 3, scale=2.0)))(np.full(2, 0.2))
    np.testing.assert_allclose(g, adkit.grad(lambda v: np.sum(_block(v, 3) * 2.0))(np.full(2, 0.2)))


def test_checkpointing_keeps_memory_sublinear():
    # 400 steps as 20 checkpointed blocks of 20: the tape holds ~20 states, not ~400 * 3
    x = np.full(2000, 0.3)
    steps = lambda v: _block(v, 20)  # noqa: E731
    cb = adkit.checkpoint(steps)

    def peak(fn):
        tracemalloc.start()
        try:
            adkit.grad(lambda v: np.sum(fn(v)))(x)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    plain = peak(lambda v: _loop(v, steps, 20))
    remat = peak(lambda v: _loop(v, cb, 20))
    assert remat < plain / 5, (plain, remat)


def _loop(v, block, n):
    for _ in range(n):
        v = block(v)
    return v


# --- fixed_point -----------------------------------------------------------------------------

NEWTON_SQRT = lambda a: lambda x: 0.5 * (x + a / x)  # noqa: E731


def test_newton_sqrt_has_the_closed_form_derivatives():
    sqrt = lambda a: adkit.fixed_point(NEWTON_SQRT, a, 1.0)  # noqa: E731
    for a in (0.5, 2.0, 9.0):
        assert sqrt(a) == pytest.approx(np.sqrt(a), rel=1e-12)
        assert adkit.grad(sqrt)(a) == pytest.approx(0.5 / np.sqrt(a), rel=1e-10)
        assert adkit.grad(adkit.grad(sqrt))(a) == pytest.approx(-0.25 * a ** -1.5, rel=1e-8)
        assert adkit.jvp(sqrt, (a,), (1.0,))[1] == pytest.approx(0.5 / np.sqrt(a), rel=1e-10)
    a = np.array([0.5, 2.0, 4.0])
    np.testing.assert_allclose(adkit.jacobian(sqrt)(a), np.diag(0.5 / np.sqrt(a)), rtol=1e-10)


def test_a_linear_fixed_point_against_finite_differences_of_the_solution():
    A = np.array([[0.3, 0.1, 0.0], [0.05, 0.2, -0.1], [0.0, 0.1, 0.4]])

    def solution(theta):
        step = lambda th: lambda x: np.tanh(A @ x + th[:3]) * th[3]  # noqa: E731
        return adkit.fixed_point(step, theta, np.zeros(3), tol=1e-14)
    theta = np.array([0.2, -0.4, 0.1, 0.8])
    report = adkit.check_grads(solution, (theta,), modes=("forward", "reverse", "numeric"))
    assert report.ok


def test_fixed_point_does_not_unroll_the_iterations():
    with Tape() as tape:
        a = tape.watch(2.0)
        adkit.fixed_point(NEWTON_SQRT, a, 1.0)
    assert len(tape.nodes) == 2   # the input and the solve, whatever the iteration count


def test_fixed_point_that_does_not_converge_says_so():
    with pytest.raises(RuntimeError, match="did not converge in 50 iterations"):
        adkit.fixed_point(lambda a: lambda x: a * x + 1.0, 2.0, 0.0, max_iter=50)


def test_custom_rules_document_runs_and_prints_what_it_says():
    from test_docs import DOCS, run_document
    assert run_document(DOCS / "custom_rules.md", only_marked=False, shared=True) == 3
