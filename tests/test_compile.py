"""adkit.compile: staged programs agree with the eager engines, and never answer stale.

Every check compares a compiled function with the same function run eagerly
(1e-12 relative), on the first call (the trace) and on later calls (replays)
at other points, and derivatives also with adkit.numeric where the eager
engines are the thing under test elsewhere. Guards are exercised by branches
whose direction flips between calls; captured arrays by in-place writes and
rebindings between calls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import random
import re
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import adkit
import adkit.forward
from adkit import numeric
from adkit.compile import CompileWarning

sys.path.insert(0, str(Path(__file__).parent))


def assert_same(a, b, rtol=1e-12):
    """Equal pytrees of numbers, to rtol (NaN equals NaN)."""
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            assert_same(x, y, rtol)
        return
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k], rtol)
        return
    a_, b_ = np.asarray(a), np.asarray(b)
    assert a_.shape == b_.shape, (a_.shape, b_.shape)
    assert a_.dtype == b_.dtype, (a_.dtype, b_.dtype)
    if a_.dtype.kind in "fc":
        with np.errstate(invalid="ignore"):
            diff = np.abs(a_ - b_)
            ok = (a_ == b_) | (diff <= rtol * np.maximum(np.abs(a_), np.abs(b_))) | (
                np.isnan(a_) & np.isnan(b_))
    else:
        ok = a_ == b_
    assert np.all(ok), f"{a!r}\nvs\n{b!r}"


@contextlib.contextmanager
def no_compile_warnings():
    """A CompileWarning (an eager fallback) inside is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        yield


# --- the textbook's sqrt example ------------------------------------------------------------


def norm(x):
    return np.sqrt(x[0] ** 2 + x[1] ** 2)


def test_sqrt_example_value_and_gradient_match_eager_and_numeric():
    g = adkit.compile(adkit.grad(norm))
    for x in ([3.0, 4.0], [1.0, 2.0], [-0.5, 7.0]):
        x = np.array(x)
        assert_same(g(x), adkit.grad(norm)(x))
        np.testing.assert_allclose(g(x), numeric.gradient(norm, x), rtol=1e-7)
    assert g.stats.traces == 1 and g.stats.replays == 5
    f = adkit.compile(norm)
    assert_same(f(np.array([3.0, 4.0])), norm(np.array([3.0, 4.0])))


def test_source_is_one_statement_per_primitive_with_generated_names():
    g = adkit.compile(adkit.grad(norm))
    src = g.source(np.array([3.0, 4.0]))
    assert src.startswith("def program(v0):")
    assert "= sqrt_" in src and "= power_" in src and "return [v" in src
    assert "= (v2 + v4)" in src   # operator.add, written as the operator
    body = [line for line in src.splitlines()[1:-1]]
    assert all(line.startswith(("    v", "    if ")) for line in body), src
    assert "raise GuardFailure" in src   # sqrt's derivative is finite here: guarded
    assert g.stats.traces == 1  # source() stages when needed, and only once


def test_programs_draw_as_dot():
    g = adkit.compile(adkit.grad(norm))
    dot = g.to_dot(np.array([3.0, 4.0]))
    assert dot.startswith("digraph wengert {") and dot.rstrip().endswith("}")
    assert 'v0 [label="v0 = input\\nshape (2,)", shape=box]' in dot
    assert "= sqrt" in dot and "-> v" in dot and "fillcolor" in dot   # an output highlighted


def test_generated_names_never_carry_user_text():
    @adkit.primitive
    def evil(x):
        return x * 2.0
    evil.name = "x)\nHACKED = globals().setdefault('HACKED', 1); (x"   # a hostile name
    adkit.defvjp(evil, lambda ans, x: lambda g: 2.0 * g)
    c = adkit.compile(adkit.grad(lambda x: evil(x) * x))
    assert c(3.0) == 12.0 and c(2.0) == 8.0
    src = c.source(3.0)
    operand = r"(v\d+|c\d+|None|-?[\d.e]+)"
    statement = re.compile(rf"    v\d+ = [A-Za-z][A-Za-z0-9_]*_\d+\(({operand}|, |\w+=)*\)"
                           rf"|    v\d+ = \({operand} [-+*/] {operand}\)|    v\d+ = \(-{operand}\)"
                           r"|    if (not )?v\d+: raise GuardFailure")
    lines = src.splitlines()
    assert lines[0] == "def program(v0):" and lines[-1].startswith("    return [")
    assert all(statement.fullmatch(line) for line in lines[1:-1]), src
    assert "HACKED" not in globals()


# --- composition with every transform -------------------------------------------------------


def mlp_loss(params, X, Y):
    w1, b1, w2, b2 = params
    h = np.tanh(X @ w1 + b1)
    z = h @ w2 + b2
    m = np.max(z, axis=1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))
    return -np.sum(Y * (z - lse)) / X.shape[0]


def mlp_data(seed):
    rng = np.random.default_rng(seed)
    params = (rng.standard_normal((5, 7)), rng.standard_normal(7),
              rng.standard_normal((7, 3)), rng.standard_normal(3))
    X = rng.standard_normal((4, 5))
    Y = np.eye(3)[rng.integers(0, 3, 4)]
    return params, X, Y


def test_mlp_loss_gradient_matches_eager_on_replays():
    g = adkit.compile(adkit.grad(mlp_loss))
    for seed in range(3):
        args = mlp_data(seed)
        assert_same(g(*args), adkit.grad(mlp_loss)(*args))
    assert g.stats.traces == 1 and g.stats.replays == 2
    params, X, Y = mlp_data(5)
    num = numeric.gradient(lambda w: mlp_loss((w,) + params[1:], X, Y), params[0])
    np.testing.assert_allclose(g(params, X, Y)[0], num, rtol=1e-6, atol=1e-8)


def test_value_and_grad_with_aux():
    def f(x):
        y = np.sum(np.sin(x) * x)
        return y, {"sq": x * x}
    c = adkit.compile(adkit.value_and_grad(f, has_aux=True))
    for x in (np.linspace(0, 1, 4), np.linspace(-2, 1, 4)):
        assert_same(c(x), adkit.value_and_grad(f, has_aux=True)(x))
    assert c.stats.replays == 1


@pytest.mark.parametrize("transform", [adkit.jacobian, adkit.hessian])
def test_jacobian_and_hessian(transform):
    def f(x):
        return np.sum(np.exp(x[:-1]) * np.cos(x[1:])) if transform is adkit.hessian \
            else np.tanh(np.outer(x, x[::-1])).ravel()
    c = adkit.compile(transform(f))
    for x in (np.array([0.1, 0.4, -0.3]), np.array([1.0, -2.0, 0.5])):
        assert_same(c(x), transform(f)(x))
    assert c.stats.traces == 1


def test_jvp_forward_mode():
    f = lambda x: np.sin(x) * np.exp(-x)  # noqa: E731
    c = adkit.compile(lambda x, v: adkit.jvp(f, (x,), (v,)))
    for s in (0.3, 1.7):
        x, v = np.linspace(0, s, 5), np.ones(5)
        assert_same(c(x, v), adkit.jvp(f, (x,), (v,)))


def test_grad_of_compiled_runs_programs_not_f():
    calls = []

    def f(x):
        calls.append(1)
        return np.sqrt(x[0] ** 2 + x[1] ** 2) * np.sin(x[1])
    c = adkit.compile(f)
    with no_compile_warnings():
        for x in (np.array([3.0, 4.0]), np.array([1.0, -2.0]), np.array([0.5, 7.0])):
            assert_same(adkit.grad(c)(x), adkit.grad(f)(x))
            assert_same(adkit.hessian(c)(x), adkit.hessian(f)(x))
            assert_same(adkit.jvp(c, (x,), (np.ones(2),)), adkit.jvp(f, (x,), (np.ones(2),)))
            np.testing.assert_allclose(adkit.grad(c)(x), numeric.gradient(f, x), rtol=1e-7)
            np.testing.assert_allclose(adkit.hessian(c)(x), numeric.hessian(f, x), rtol=1e-5,
                                       atol=1e-7)
        staged = len(calls)
        x = np.array([2.0, 1.5])
        adkit.grad(c)(x), adkit.hessian(c)(x), adkit.jvp(c, (x,), (np.ones(2),))
    assert len(calls) == staged   # f's body did not run: c replayed its programs
    assert c.stats.eager_calls == 0 and c.stats.replays > 0


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_of_compiled_with_pytrees_kwargs_and_static_arguments(mode):
    def f(params, x, kind, *, scale=1.0):
        w, b = params["w"], params["b"]
        y = np.tanh(w @ x + b) * scale
        return (y if kind == "tanh" else y ** 2), np.argmax(x)
    c = adkit.compile(f, static_argnums=2)

    def first(params, x, scale, kind):
        return c(params, x, kind, scale=scale)[0]

    def first_eager(params, x, scale, kind):
        return f(params, x, kind, scale=scale)[0]
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(3)}
    with no_compile_warnings():
        for kind in ("tanh", "square", "tanh"):
            x = rng.standard_normal(4)
            for argnums in (0, 1, 2, (0, 1)):
                got = adkit.jacobian(first, argnums, mode=mode)(params, x, 0.5, kind)
                want = adkit.jacobian(first_eager, argnums, mode=mode)(params, x, 0.5, kind)
                assert_same(got, want)
    assert c.stats.eager_calls == 0


def test_derivatives_of_compiled_retrace_when_a_branch_flips():
    def f(x):
        if np.sum(x) > 0:
            return np.sum(x ** 3)
        return np.sum(np.sin(x) * x)
    c = adkit.compile(f)
    g, h = adkit.grad(c), adkit.hessian(c)
    points = [np.array([1.0, 2.0]), np.array([-1.0, -2.0]), np.array([3.0, 1.0]),
              np.array([-0.5, 0.1]), np.array([0.4, 0.2])]
    with no_compile_warnings():
        for x in points:
            assert_same(g(x), adkit.grad(f)(x))
            assert_same(h(x), adkit.hessian(f)(x))
            np.testing.assert_allclose(g(x), numeric.gradient(f, x), rtol=1e-7)
    assert c.stats.guard_failures >= 4 and c.stats.eager_calls == 0


def test_a_guard_on_the_cotangent_falls_back_to_the_pullback_program():
    @adkit.primitive
    def twice(x):
        return x * 2.0
    # a VJP that branches on the cotangent: a guard in the backward part of the program
    adkit.defvjp(twice, lambda ans, x: lambda g: 2.0 * g if np.sum(g) > 0 else g * 2.0 + 0.0)

    def f(x):
        return twice(np.sin(x)) * x
    c = adkit.compile(f)
    x = np.array([0.5, -1.0, 2.0])
    with no_compile_warnings():
        for g in (np.ones(3), np.array([-1.0, 0.5, -2.0]), np.array([3.0, 1.0, 1.0]),
                  np.array([-1.0, -1.0, 0.0])):
            for _ in range(2):   # the first call learns the output, the second splits
                out, pull = adkit.vjp(c, x)
                want_out, want_pull = adkit.vjp(f, x)
                assert_same(out, want_out)
                assert_same(pull(g), want_pull(g))
    assert c.stats.eager_calls == 0


def test_split_programs_never_take_a_cotangent_or_structure_they_were_not_made_for():
    def f(x):
        return x[x > 0] * np.exp(x[x > 0])   # the output's shape follows the data
    c = adkit.compile(f)
    with no_compile_warnings():
        for x in ([1.0, -1.0, -2.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [-1.0, 2.0, 3.0],
                  [-1.0, 2.0, -3.0], [-1.0, 2.0, -3.0]):
            x = np.array(x)
            (out, pull), (want, want_pull) = adkit.vjp(c, x), adkit.vjp(f, x)
            g = np.arange(1.0, out.size + 1)
            assert_same(out, want)
            assert_same(pull(g), want_pull(g))

    def h(x):   # one floating output either way, in two structures
        if np.sum(x) > 0:
            return np.sum(x ** 2), 1
        return (2, 3), np.sum(np.sin(x))
    ch = adkit.compile(h)
    loss = lambda x: np.sum(ch(x)[0] if np.sum(x) > 0 else ch(x)[1])  # noqa: E731
    eager = lambda x: np.sum(h(x)[0] if np.sum(x) > 0 else h(x)[1])  # noqa: E731
    with no_compile_warnings():
        for x in ([1.0, 2.0], [1.0, 2.0], [-1.0, -2.0], [-1.0, -2.0], [3.0, 1.0]):
            x = np.array(x)
            assert_same(adkit.grad(loss)(x), adkit.grad(eager)(x))
            assert ch(x) == h(x) or assert_same(ch(x), h(x)) is None


def test_grad_of_compiled_with_aux_outputs():
    calls = []

    def f(w, x):
        calls.append(1)
        h = np.tanh(x @ w)
        return np.sum(h ** 2), {"h": h, "n": 3}
    c = adkit.compile(f)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3))
    with no_compile_warnings():
        for _ in range(4):
            w = rng.standard_normal((3, 2))
            got = adkit.value_and_grad(c, has_aux=True)(w, x)
            assert_same(got, adkit.value_and_grad(f, has_aux=True)(w, x))
            # the aux output is differentiable too (by its own pullback program)
            v = rng.standard_normal((4, 2))
            _, pull = adkit.vjp(lambda w: c(w, x)[1]["h"], w)
            _, want = adkit.vjp(lambda w: f(w, x)[1]["h"], w)
            assert_same(pull(v), want(v))
        staged = len(calls)
        adkit.value_and_grad(c, has_aux=True)(rng.standard_normal((3, 2)), x)
    assert len(calls) == staged   # programs only
    assert any(key[0] == "joint" for key in c._derived)   # the loss took the split program


def test_second_order_of_compiled_in_both_nestings():
    f = lambda x: np.sin(x) * x ** 3 + np.exp(-x * x)  # noqa: E731
    c = adkit.compile(f)
    d2 = adkit.grad(adkit.grad(c))
    fwd = adkit.forward.derivative(adkit.grad(c))
    with no_compile_warnings():
        for x0 in (0.7, -1.3, 2.0):
            want = adkit.grad(adkit.grad(f))(x0)
            assert_same(d2(x0), want)
            assert_same(fwd(x0), want)
            np.testing.assert_allclose(d2(x0), numeric.derivative(adkit.grad(f), x0),
                                       rtol=1e-6)
    assert c.stats.eager_calls == 0


def test_compiled_under_grad_sees_captured_arrays_change():
    w = np.array([1.0, 2.0])
    c = adkit.compile(lambda x: np.sum(np.exp(w * x)))
    x = np.array([0.3, -0.2])
    with no_compile_warnings():
        for change in (lambda: None, lambda: w.__setitem__(0, -3.0)):
            change()
            assert_same(adkit.grad(c)(x), w * np.exp(w * x))
    assert c.stats.eager_calls == 0


def test_compiled_inside_compiled_grad_is_inlined():
    inner = adkit.compile(norm)
    outer = adkit.compile(adkit.grad(lambda x: inner(x) * 2.0))
    x = np.array([3.0, 4.0])
    assert_same(outer(x), 2.0 * adkit.grad(norm)(x))
    assert_same(outer(x * 3), 2.0 * adkit.grad(norm)(x * 3))
    assert outer.stats.traces == 1


def test_scalar_arguments_and_python_loops():
    def f(x):
        for _ in range(20):
            x = np.sin(x) * np.cos(x) + 0.5 * x * x / (1 + x * x)
        return x
    c = adkit.compile(adkit.grad(f))
    for x0 in (0.3, 0.7, -1.2):
        assert_same(c(x0), adkit.grad(f)(x0))
    assert c.stats.traces == 1


def test_buffer_reuse_writes_only_into_dead_intermediates():
    def f(x, w):
        a = np.exp(x @ w)
        b = a + np.zeros(3)      # simplified to a: b's views are a's
        v = b[::-1]
        c = np.tanh(a) * 2.0     # a's last use by name, but v still reads its memory
        return c + v, np.tanh(np.sin(x @ w) + 1.0)
    c = adkit.compile(f)
    rng = np.random.default_rng(0)
    with no_compile_warnings():
        for _ in range(3):
            x, w = rng.standard_normal((4, 5)), rng.standard_normal((5, 3))
            before = (x.copy(), w.copy())
            assert_same(c(x, w), f(x, w))
            assert_same((x, w), before)   # inputs are never written
    src = c.source(x, w)
    assert "out=" in src   # the chain sin -> + 1.0 -> tanh reuses one buffer
    assert src.count("out=") < src.count("\n")


def test_a_division_of_dead_arrays_writes_into_one_of_them():
    # a / b between arrays is written as np.divide(..., out=) when the reuse pass
    # found a dead operand (Adam's m / (sqrt(v) + eps) in a compiled training step)
    def f(m, v):
        return m / (np.sqrt(v) + 1e-7), np.exp(m) / np.cosh(v)
    c = adkit.compile(f)
    rng = np.random.default_rng(1)
    with no_compile_warnings():
        for _ in range(3):
            m, v = rng.standard_normal(50), rng.random(50)
            before = (m.copy(), v.copy())
            assert_same(c(m, v), f(m, v))
            assert_same((m, v), before)
    src = c.source(m, v)
    assert sum("divide" in line and "out=" in line for line in src.splitlines()) == 2, src


def _adam_like(m, v, g, alpha, eps):
    """An optimizer update: eleven elementwise steps, three results used after them."""
    m2 = m * 0.9 + g.T * 0.1
    v2 = v * 0.999 + np.square(g.T) * 0.001
    update = m2 / (np.sqrt(v2) + eps) * alpha
    return update, m2, v2, np.sum(update * m2)   # the sum reads two escaping results


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_elementwise_runs_on_large_arrays_are_fused_into_chunked_loops(dtype):
    # 513 x 257 elements: several chunks of 256 KiB and a shorter last one; g arrives
    # transposed (its chunks are strided views), eps as a 0-d array
    c = adkit.compile(_adam_like)
    rng = np.random.default_rng(2)
    with no_compile_warnings():
        for _ in range(3):
            m = rng.standard_normal((513, 257)).astype(dtype)
            v = rng.random((513, 257)).astype(dtype)
            g = rng.standard_normal((257, 513)).astype(dtype)
            args = (m, v, g, 1e-3, np.array(1e-7, dtype))
            before = [a.copy() for a in args[:3]]
            got, expected = c(*args), _adam_like(*args)
            for a, b in zip(got, expected):   # the same ufuncs on the same elements: same bits
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_array_equal(a, b)
            for a, b in zip(args, before):
                np.testing.assert_array_equal(a, b)
    src = c.source(*args)
    assert src.count("fused:") == 1 and "for _i in range(0, 513, " in src, src


def test_fused_results_take_over_arrays_the_run_uses_up():
    # the product p dies in the run, so the run's result is written into p's array; q is
    # read after its run, so that run's result gets an array of its own
    def uses_up(x, w):
        p = x @ w
        return (np.exp(p) * 2.0 + 1.0) * 0.5

    def keeps(x, w):
        q = x @ w
        return np.tanh(q) * 2.0 + q, np.sum(q)
    rng = np.random.default_rng(8)
    for f, homes in ((uses_up, 1), (keeps, 0)):
        c = adkit.compile(f)
        with no_compile_warnings():
            for _ in range(3):
                x, w = rng.standard_normal((600, 3)) * 0.3, rng.standard_normal((3, 200))
                got, want = c(x, w), f(x, w)
                for a, b in zip(got if isinstance(got, tuple) else (got,),
                                want if isinstance(want, tuple) else (want,)):
                    np.testing.assert_array_equal(a, b)
        lines = c.source(x, w).splitlines()
        assert sum("fused" in line for line in lines) == 1
        assert sum(bool(re.fullmatch(r"    v\d+ = v\d+", line)) for line in lines) == homes, \
            "\n".join(lines)


def test_small_arrays_and_lone_steps_are_not_fused():
    c = adkit.compile(_adam_like)
    rng = np.random.default_rng(3)
    small = (rng.standard_normal((30, 20)), rng.random((30, 20)), rng.standard_normal((20, 30)),
             1e-3, 1e-7)
    assert "fused" not in c.source(*small)
    lone = adkit.compile(lambda a, b: np.exp(a @ b))   # one elementwise step after a product
    x = rng.standard_normal((400, 400))
    assert "fused" not in lone.source(x, x)


def test_random_programs_fused_in_tiny_chunks_equal_eager(monkeypatch):
    """The program generator's programs with every elementwise run over arrays of two or
    more rows fused, one row per chunk."""
    pytest.importorskip("scipy.special")
    import adkit.codegen as codegen
    import adkit.fusion as fusion
    monkeypatch.setattr(fusion, "CHUNK_BYTES", 1)   # one row per chunk
    fused = []

    def counting(*args, **kwargs):
        runs = fusion.fused_runs(*args, **kwargs)
        fused.extend(runs)
        return runs
    monkeypatch.setattr(codegen, "fused_runs", counting)

    _each_random_program(_compare_program)
    assert len(fused) >= 20   # the check above did run fused loops


def test_memory_merging_ends_on_chains_and_cycles_of_replacements():
    # staging identifies memory by id(); ids of freed arrays are reused, so the pairs
    # simplify hands over may chain and even cycle (a sweep program looped forever here)
    from adkit.codegen import _share_memory
    from adkit.staging import SlotInfo
    info = {s: SlotInfo(np.ndarray, (2,), np.dtype(float), root, True)
            for s, root in enumerate([1, 2, 3, 4, 5, frozenset({1, 5})])}
    _share_memory(info, [(1, 2), (3, 4), (2, 1), (4, 5)])
    roots = [info[s].root for s in range(5)]
    assert roots[0] == roots[1] and roots[2] == roots[3] == roots[4]
    assert info[5].root == frozenset({roots[0], roots[4]})


def test_python_floats_use_math_and_operators():
    def f(x):
        return np.sin(x) / (1.0 + np.cos(x) ** 2) + np.sqrt(x)
    c, g = adkit.compile(f), adkit.compile(adkit.grad(f))
    with no_compile_warnings():
        for x in (0.3, 1.7, 2.5):
            assert_same(c(x), f(x))
            assert_same(g(x), adkit.grad(f)(x))
            assert type(c(x)) is type(f(x))
    src = c.source(0.3)
    assert "math_sin_" in src and "math_sqrt_" in src and " / " in src
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_same(c(-1.0), f(-1.0))   # math.sqrt raises: the eager function answers (nan)


def test_products_with_a_jacobian_basis_are_copies_yet_exact_for_non_finite_values():
    A = np.arange(9.0).reshape(3, 3) / 7.0
    f = lambda x: np.tanh(A @ x) * x  # noqa: E731
    c = adkit.compile(adkit.jacobian(f, mode="forward"))
    other = adkit.jacobian(adkit.compile(f), mode="forward")   # the basis is recognised
    x = np.array([0.1, -0.4, 0.3])
    with no_compile_warnings(), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for change in (lambda: None, lambda: A.__setitem__((1, 2), np.inf),
                       lambda: A.__setitem__((1, 2), -2.0)):
            change()
            assert_same(c(x), adkit.jacobian(f, mode="forward")(x))
            assert_same(other(x), adkit.jacobian(f, mode="forward")(x))
            v = np.array([0.0, 1.0, 1.0])   # not a basis: an input of the program
            assert_same(adkit.jvp(other.__wrapped__, (x,), (v,)), adkit.jvp(f, (x,), (v,)))
    assert "times_identity_" in c.source(x)   # the identity basis is not multiplied in


# --- guards: never the old branch -----------------------------------------------------------


def test_branch_flips_retrace_and_never_replay_the_old_branch():
    def f(x):
        if np.sum(x) > 0:
            return np.sum(x ** 2)
        return np.sum(np.sin(x))
    c, cg = adkit.compile(f), adkit.compile(adkit.grad(f))
    points = [np.array([1.0, 2.0]), np.array([-1.0, -2.0]), np.array([3.0, 1.0]),
              np.array([-0.5, 0.1])]
    for x in points:
        assert_same(c(x), f(x))
        assert_same(cg(x), adkit.grad(f)(x))
    assert c.stats.traces == 2 and c.stats.guard_failures >= 1
    assert c.stats.entries == 2


def test_data_dependent_loop_bound():
    def f(x):
        n = int(np.argmax(x)) + 1   # a loop bound from the data
        acc = 0.0
        for i in range(n):
            acc = acc + x[i] * (i + 1)
        return acc
    c = adkit.compile(adkit.grad(f))
    for x in (np.array([0.0, 3.0, 1.0]), np.array([5.0, 0.0, 1.0]), np.array([0., 1., 2.]),
              np.array([0.0, 3.0, 2.0])):
        assert_same(c(x), adkit.grad(f)(x))
    assert c.stats.traces == 3 and c.stats.replays == 1


def test_data_dependent_shapes_and_masks():
    def f(x):
        pos = x[x > 0]
        return np.sum(pos ** 2) + len(pos)
    c = adkit.compile(f)
    for x in (np.array([1.0, -1.0, 2.0]), np.array([1.0, 1.0, -2.0]),
              np.array([-1.0, -1.0, 2.0]), np.array([3.0, 2.0, 1.0])):
        assert_same(c(x), f(x))


def test_float_item_and_argmax_index_are_guarded():
    def f(x):
        k = np.argmax(x)
        scale = float(x[0])
        return x[k] * scale + x.sum().item()
    c = adkit.compile(f)
    for x in (np.array([1.0, 5.0]), np.array([1.0, 5.0]), np.array([2.0, 5.0]),
              np.array([9.0, 5.0])):
        assert_same(c(x), f(x))
    assert c.stats.replays == 1   # only the repeated point replays: float() pins x[0]


def test_static_argnames_by_keyword_or_by_position():
    def f(x, n, mode="sum"):
        for _ in range(n):
            x = np.sin(x)
        return np.sum(x) if mode == "sum" else np.prod(x)
    c = adkit.compile(f, static_argnames=("n", "mode"))
    x = np.arange(1.0, 4.0)
    calls = [((x, 2), {}), ((x,), {"n": 2}), ((x, 3), {"mode": "prod"}),
             ((x,), {"n": 3, "mode": "prod"}), ((x + 1, 2), {}), ((x + 1,), {"n": 3, "mode": "prod"})]
    with no_compile_warnings():
        for args, kwargs in calls:
            assert_same(c(*args, **kwargs), f(*args, **kwargs))
            assert_same(adkit.grad(c)(*args, **kwargs), adkit.grad(f)(*args, **kwargs))
    # n and mode are part of the signature, never staged: no guards in the programs
    assert "GuardFailure" not in c.source(x, n=2) and "GuardFailure" not in c.source(x, 2)
    assert c.stats.guard_failures == 0 and c.stats.replays >= 2
    with pytest.raises(ValueError, match=r"static_argnames \['k'\] are not parameters of f"):
        adkit.compile(f, static_argnames="k")
    with pytest.raises(TypeError, match="static_argnames must be a str or a tuple of str"):
        adkit.compile(f, static_argnames=(1,))
    with pytest.raises(ValueError, match="both static and donated"):
        adkit.compile(f, static_argnames="x", donate_argnums=0)
    with pytest.raises(TypeError, match="static arguments must be hashable"):
        c(x, n=[2])


class _Quadratic:
    def __init__(self, w):
        self.w = w

    @adkit.compile
    def loss(self, x):
        return np.sum(self.w * x ** 2)

    @functools.partial(adkit.compile, static_argnums=(0, 2))   # JAX's habit: self static
    def power(self, x, n):
        return np.sum((self.w * x) ** n)


def test_a_compiled_method_binds_each_object_and_reads_its_attributes():
    a, b = _Quadratic(np.ones(3)), _Quadratic(np.full(3, 2.0))
    x = np.arange(3.0)
    with no_compile_warnings():
        assert_same(a.loss(x), np.sum(x ** 2))
        assert_same(b.loss(x), 2 * np.sum(x ** 2))
        a.w[0] = 5.0                      # in place: read at the next call
        assert_same(a.loss(x), np.sum(a.w * x ** 2))
        b.w = np.full(3, 3.0)             # rebound
        assert_same(b.loss(x), 3 * np.sum(x ** 2))
        assert_same(adkit.grad(a.loss)(x), 2 * a.w * x)
        assert_same(a.power(x, 3), np.sum((a.w * x) ** 3))
        assert_same(a.power(x, 2), np.sum((a.w * x) ** 2))
    assert a.loss is a.loss and _Quadratic.loss.stats.replays >= 2
    assert "GuardFailure" not in a.power.source(x, 2)   # n static: no guard on it


def test_a_compiled_closure_over_a_traced_value_runs_inline_and_differentiates_both():
    # autograd's test_jacobian_against_stacked_grads with every transform compiled: the
    # inner function reads x[0] from its closure, a value the outer jacobian traces, so it
    # is not a function of its argument alone (it ran as one; the tape had finished)
    made = []

    def inner(x):
        c = adkit.compile(adkit.grad(lambda y: np.exp(y) * np.tanh(x[0])))
        made.append(c)
        return c(x[1])
    expected = lambda x: np.array([np.exp(x[1]) * np.tanh(x[0]), np.sum(x ** 3)])  # noqa: E731
    outer = lambda x: np.array([inner(x), np.sum(x ** 3)])  # noqa: E731
    x = np.array([0.3, 0.7])
    with no_compile_warnings():
        for transform in (adkit.jacobian, lambda f: adkit.compile(adkit.jacobian(f))):
            for point in (x, x + 0.5):
                assert_same(transform(outer)(point), adkit.jacobian(expected)(point))
        assert_same(adkit.grad(lambda x: inner(x) * 2.0)(x),
                    adkit.grad(lambda x: expected(x)[0] * 2.0)(x))
    assert all(c.stats.entries == 0 for c in made)   # no signature per traced value


def test_too_many_paths_warns_and_stays_right():
    def f(x):
        return x * float(x)   # every new value is a new path
    c = adkit.compile(f, max_paths=3)
    with pytest.warns(CompileWarning, match="more than 3 paths"):
        for v in range(6):
            assert_same(c(float(v)), f(float(v)))
    assert c.stats.traces == 3


def test_too_many_paths_names_the_question_and_the_line_that_steers():
    def f(x):
        y = math.exp(x)   # math functions call float(): every new x is a new path
        return y * 2.0
    line = f.__code__.co_firstlineno + 1
    c = adkit.compile(f, max_paths=2)
    with pytest.warns(CompileWarning) as caught:
        for v in range(4):
            assert_same(c(float(v)), f(float(v)))
    message = str(caught[0].message)
    assert "float() of a traced value" in message and "math.exp" in message
    assert f"in f, {__file__}:{line}" in message

    def g(x):
        total = np.sum(x)
        if total > 10:
            return x * 2
        return -x if total > 0 else x ** 2
    c = adkit.compile(g, max_paths=2)
    with pytest.warns(CompileWarning, match=r"truth test .* in g, "):
        for scale in (10, 1, -1):   # three paths
            x = scale * np.arange(1.0, 4.0)
            assert_same(c(x), g(x))


# --- captured values ------------------------------------------------------------------------

W_GLOBAL = np.array([1.0, 2.0, 3.0])


def uses_global(x):
    return np.sum(W_GLOBAL * 2.0 * x)


def test_captured_flags_strings_and_functions_inside_containers_are_never_frozen():
    # an `if cfg["training"]` or cfg["act"](x) answered while staging: rebinding the item
    # retraces (the program's signature holds such values by identity)
    cfg = {"act": np.tanh, "training": True, "mode": "sum"}
    layer = types.SimpleNamespace(scale=None)

    def f(x):
        y = cfg["act"](x) * (2.0 if cfg["training"] else 1.0)
        y = np.sum(y) if cfg["mode"] == "sum" else np.prod(y)
        return y if layer.scale is None else y * layer.scale
    c = adkit.compile(f)
    x = np.array([0.5, 1.5])
    changes = [lambda: None, lambda: cfg.update(act=np.sin), lambda: cfg.update(training=False),
               lambda: cfg.update(mode="prod"), lambda: setattr(layer, "scale", 3)]
    with no_compile_warnings():
        for change in changes:
            change()
            assert_same(c(x), f(x))
            assert_same(c(x), f(x))
    assert c.stats.traces == 5 and c.stats.replays == 5


def test_attributes_of_an_object_with_slots_are_read_at_every_call():
    class Settings:
        __slots__ = ("scale", "mode", "w")

        def __init__(self):
            self.scale, self.mode, self.w = 2.0, "a", np.ones(2)
    o = Settings()
    f = lambda x: x * o.scale * o.w if o.mode == "a" else -x  # noqa: E731
    c = adkit.compile(f)
    x = np.array([0.5, 1.5])
    changes = [lambda: None, lambda: setattr(o, "scale", 5.0), lambda: setattr(o, "mode", "b"),
               lambda: setattr(o, "mode", "a"), lambda: o.w.__setitem__(0, 7.0)]
    with no_compile_warnings():
        for change in changes:
            change()
            assert_same(c(x), f(x))
    assert c.stats.traces == 2


def test_a_captured_list_or_dict_that_grows_or_changes_keys_is_read_anew():
    # bindings are found at the first call; an append or a new key (a list of layers, a
    # dict of settings) finds them again, and the signature holds the holders' shapes
    params, cfg = [np.ones(2)], {"a": 1.0}

    def f(x):
        return np.sum(params[-1] * x) * len(params) + cfg["a"] * sum(cfg.values())
    c = adkit.compile(f)
    x = np.array([0.5, 2.0])
    with no_compile_warnings():
        assert_same(c(x), f(x))
        params.append(np.full(2, 5.0))
        assert_same(c(x), f(x))
        cfg["b"] = 2.0
        assert_same(c(x), f(x))
        assert_same(adkit.grad(c)(x), adkit.grad(f)(x))   # the derivative reads them too
        del cfg["a"]
        with pytest.raises(KeyError):
            c(x)
    assert c.stats.traces >= 3


def test_a_list_f_appends_to_is_not_watched():
    # a log f fills (with constants: no staged value is stored) changes its length at every
    # call of f; that says nothing about f's path, so it must not make f retrace
    calls = []

    def f(x):
        calls.append(1)
        return np.sum(x ** 2)
    c = adkit.compile(f)
    with no_compile_warnings():
        for k in range(4):
            assert_same(c(np.full(3, float(k))), 3.0 * k * k)
    assert c.stats.traces == 1 and c.stats.replays == 3


def test_class_attributes_read_through_self_are_read_at_every_call():
    class Scaled:
        scale = 2.0                 # read as self.scale: the class's binding
        offset = np.zeros(2)
        activation = staticmethod(np.tanh)

        def __init__(self):
            self.w = np.ones(2)

        def loss(self, x):
            return np.sum(self.activation(self.w * x + self.offset)) * self.scale

    a, b = Scaled(), Scaled()
    c = adkit.compile(lambda x: a.loss(x) + b.loss(x))
    x = np.array([0.5, -1.0])
    expected = lambda: a.loss(x) + b.loss(x)   # noqa: E731
    with no_compile_warnings():
        assert_same(c(x), expected())
        Scaled.scale = 5.0
        assert_same(c(x), expected())
        Scaled.offset += 1.0        # in place, through the class
        assert_same(c(x), expected())
    assert c.stats.traces == 1 and c.stats.replays == 2


def test_captured_array_mutated_in_place_between_calls_is_seen():
    w = np.array([1.0, 2.0])
    c = adkit.compile(lambda x: np.sum(np.exp(w) * x))
    x = np.array([0.5, 0.25])
    assert_same(c(x), np.sum(np.exp(w) * x))
    w[0] = 10.0
    assert_same(c(x), np.sum(np.exp(w) * x))
    assert c.stats.traces == 1 and c.stats.replays == 1


def test_captured_global_mutated_and_rebound_is_seen():
    global W_GLOBAL
    old = W_GLOBAL
    try:
        c = adkit.compile(adkit.grad(uses_global))
        x = np.ones(3)
        assert_same(c(x), 2.0 * W_GLOBAL)
        W_GLOBAL[1] = -4.0
        assert_same(c(x), 2.0 * W_GLOBAL)
        W_GLOBAL = np.array([7.0, 8.0, 9.0])
        assert_same(c(x), 2.0 * W_GLOBAL)
        W_GLOBAL = np.array([1.0, 1.0])   # another shape: a new signature
        with pytest.raises(ValueError):
            c(x)
    finally:
        W_GLOBAL = old


class Model:
    def __init__(self):
        self.w = np.array([1.0, 2.0])
        self.params = [np.array([0.5, 0.5]), np.array(3.0)]

    def loss(self, x):
        return np.sum(np.exp(self.w) * x) * self.params[1] + np.sum(self.params[0] * x)


def test_arrays_of_a_captured_object_and_list_are_read_at_each_call():
    m = Model()
    c = adkit.compile(m.loss)
    cl = adkit.compile(lambda x: m.loss(x) * 2.0)
    x = np.array([1.0, -1.0])
    for change in (lambda: None, lambda: m.w.__setitem__(0, 5.0),
                   lambda: setattr(m, "w", np.array([-1.0, 0.0])),
                   lambda: m.params.__setitem__(1, np.array(-2.0)),
                   lambda: m.params[0].__setitem__(1, 7.0)):
        change()
        assert_same(c(x), m.loss(x))
        assert_same(cl(x), m.loss(x) * 2.0)
    assert c.stats.traces == 1 and cl.stats.traces == 1


def test_an_object_holding_arrays_as_argument_runs_eagerly_with_a_warning():
    m = Model()
    c = adkit.compile(lambda model, x: model.loss(x))
    x = np.array([1.0, -1.0])
    with pytest.warns(CompileWarning, match="pass them as arguments"):
        assert_same(c(m, x), m.loss(x))
    m.w[0] = 3.0
    assert_same(c(m, x), m.loss(x))


def test_captured_scalar_rebinding_is_seen():
    scale = 2.0

    def f(x):
        return x * scale
    c = adkit.compile(f)
    assert c(3.0) == 6.0
    scale = 5.0
    assert c(3.0) == 15.0


def test_default_arguments_are_read_at_each_call():
    w0 = np.array([1.0, 2.0])

    def f(x, w=w0, *, scale=np.array(2.0)):
        return np.sum(np.exp(w) * x) * scale
    c, cg = adkit.compile(f), adkit.compile(adkit.grad(f))
    x = np.array([0.5, -0.25])
    with no_compile_warnings():
        for change in (lambda: None, lambda: w0.__setitem__(0, -1.0),
                       lambda: setattr(f, "__defaults__", (np.array([3.0, 0.5]),)),
                       lambda: f.__kwdefaults__.__setitem__("scale", np.array(-1.5)),
                       lambda: f.__kwdefaults__["scale"].fill(4.0)):
            change()
            assert_same(c(x), f(x))
            assert_same(cg(x), adkit.grad(f)(x))
            assert_same(adkit.grad(c)(x), adkit.grad(f)(x))
            assert_same(c(x, np.ones(2)), f(x, np.ones(2)))   # a default not used
    assert c.stats.traces == 4 and c.stats.eager_calls == 0   # 2 signatures, VJP, joint


class Layer:
    def __init__(self, w):
        self.w = w
        self.shape_and_bias = (w.shape, np.zeros(w.shape[0]))


class Net:
    def __init__(self):
        rng = np.random.default_rng(3)
        self.layers = [Layer(rng.standard_normal((3, 2))), Layer(rng.standard_normal((1, 3)))]

    def __call__(self, x):
        for layer in self.layers:
            x = np.tanh(layer.w @ x + layer.shape_and_bias[1])
        return np.sum(x)


def test_arrays_deep_in_captured_objects_lists_and_tuples_are_read_at_each_call():
    net = Net()
    params = (np.array([1.0, 2.0]), [np.array(0.5)])
    loss = lambda x: net(x) * params[0] @ x + params[1][0]  # noqa: E731
    c, cg = adkit.compile(loss), adkit.compile(adkit.grad(loss))
    c_net = adkit.compile(net)   # a callable object
    x = np.array([0.3, -0.7])
    changes = (lambda: None,
               lambda: net.layers[0].w.__setitem__((0, 0), 5.0),          # 3 levels deep
               lambda: setattr(net.layers[1], "w", np.ones((1, 3))),       # rebound
               lambda: net.layers[0].shape_and_bias[1].fill(0.25),         # inside a tuple
               lambda: setattr(net.layers[0], "shape_and_bias", ((3, 2), np.ones(3))),
               lambda: params[1].__setitem__(0, np.array(-2.0)))
    with no_compile_warnings():
        for change in changes:
            change()
            assert_same(c(x), loss(x))
            assert_same(cg(x), adkit.grad(loss)(x))
            assert_same(c_net(x), net(x))
    assert c.stats.traces == 1 and cg.stats.traces == 1 and c_net.stats.traces == 1
    assert params[0] is loss.__closure__[1].cell_contents[0]   # tuples restored, not copies


CONFIG = types.ModuleType("config")   # a user module whose attributes f reads
CONFIG.W = np.array([2.0, 3.0])


def reads_module_attribute(x):
    return np.sum(CONFIG.W * x)


def test_attributes_of_a_user_module_are_read_at_each_call():
    c = adkit.compile(reads_module_attribute)
    x = np.array([1.0, 1.0])
    with no_compile_warnings():
        assert c(x) == 5.0
        CONFIG.W = np.array([-1.0, 4.0])
        assert c(x) == 3.0
        CONFIG.W[0] = 10.0
        assert c(x) == 14.0


def test_arrays_no_binding_reaches_make_it_run_eagerly_naming_them():
    deep = {"a": [[{"b": [np.array([1.0, 2.0])]}]]}   # 5 levels down
    held = {frozenset({1}), }
    in_set = {np.array(3.0).tobytes()}   # (bytes are not arrays: no warning for these)

    def f(x):
        return np.sum(deep["a"][0][0]["b"][0] * x) + len(held) + len(in_set)
    c = adkit.compile(f)
    x = np.array([1.0, 1.0])
    with pytest.warns(CompileWarning, match=r"deep\['a'\]\[0\]\[0\]\['b'\]\[0\].*argument"):
        assert c(x) == 5.0
    deep["a"][0][0]["b"][0] = np.array([5.0, 5.0])   # rebound: seen, as f runs eagerly
    assert c(x) == 12.0
    assert c.stats.traces == 0

    class Slots:
        __slots__ = ("w",)

        def __init__(self):
            self.w = np.array([1.0, -1.0])
    s = Slots()
    g = adkit.compile(lambda x: np.sum(s.w * x))
    with no_compile_warnings():   # a __slots__ attribute is a binding, read at every call
        assert g(x) == 0.0
        s.w = np.array([2.0, 2.0])
        assert g(x) == 4.0
    assert g.stats.traces == 1 and g.stats.replays == 1


# --- what cannot be staged: eager, with a reason ---------------------------------------------


def test_global_random_generator_runs_eagerly_with_a_warning():
    def f(x):
        return x + np.random.standard_normal(np.shape(x))
    c = adkit.compile(f)
    with pytest.warns(CompileWarning, match="random generator"):
        c(np.zeros(3))
    np.random.seed(0)
    a = c(np.zeros(3))
    np.random.seed(0)
    assert_same(a, f(np.zeros(3)))


def test_the_first_call_draws_what_f_draws_from_the_global_generators():
    def f(x):
        return x + np.random.standard_normal(np.shape(x)) + random.random()
    c = adkit.compile(f)
    np.random.seed(4)
    random.seed(4)
    with pytest.warns(CompileWarning, match="global random generator"):
        got = [c(np.zeros(2)) for _ in range(3)]   # staging's draws are given back
    np.random.seed(4)
    random.seed(4)
    assert_same(got, [f(np.zeros(2)) for _ in range(3)])


@pytest.mark.parametrize("make", [lambda: np.random.default_rng(0),
                                  lambda: np.random.RandomState(0),
                                  lambda: np.random.Generator(np.random.MT19937(0))],
                         ids=["Generator", "RandomState", "MT19937"])
@pytest.mark.parametrize("where", ["captured", "attribute", "argument", "static", "in a dict"])
def test_a_numpy_generator_f_draws_from_is_never_replayed(make, where):
    # a program would repeat the numbers drawn while staging: f runs eagerly, from the
    # generator's state before staging, so every call draws anew as f does
    rng = make()
    holder = types.SimpleNamespace(rng=rng)
    draw = {"captured": lambda p, r: np.sum(rng.standard_normal(3) * p),
            "attribute": lambda p, r: np.sum(holder.rng.standard_normal(3) * p),
            "argument": lambda p, r: np.sum(r.standard_normal(3) * p),
            "static": lambda p, r: np.sum(r.standard_normal(3) * p),
            "in a dict": lambda p, r: np.sum(r["g"].standard_normal(3) * p)}[where]
    arg = {"g": rng} if where == "in a dict" else rng
    c = adkit.compile(draw, static_argnums=(1,) if where == "static" else ())
    p = np.arange(1.0, 4.0)
    with pytest.warns(CompileWarning, match="draws from the random generator"):
        got = [c(p, arg) for _ in range(3)]
    fresh = make()
    expected = [np.sum(fresh.standard_normal(3) * p) for _ in range(3)]
    assert_same(got, expected)
    assert c.stats.traces == 0 and c.stats.replays == 0


def test_a_generator_f_only_holds_keeps_the_program():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(3)   # drawn once, outside f: a captured array
    c = adkit.compile(lambda x: np.sum((x + noise) ** 2) if rng is not None else 0.0)
    with no_compile_warnings():
        for x in (np.zeros(3), np.ones(3)):
            assert_same(c(x), np.sum((x + noise) ** 2))
    assert c.stats.replays == 1


def test_values_f_stores_in_what_it_captures_are_values_and_stored_once_a_call():
    # a cache or a log filled as a side effect: a program would not repeat it, and the
    # staged boxes stored while staging would leak (cache['last'] was Staged(...))
    cache, log = {}, []
    holder = types.SimpleNamespace(last=None)

    def f(x):
        y = x * 2.0
        cache["last"], holder.last = y, y + 1.0
        log.append(np.sum(y))
        return np.sum(y)
    c = adkit.compile(f)
    with pytest.warns(CompileWarning, match=r"stores a value it computes in cache\['last'\]"):
        assert_same(c(np.ones(2)), 4.0)
    assert type(cache["last"]) is np.ndarray and type(holder.last) is np.ndarray
    assert len(log) == 1 and type(log[0]) is np.float64   # staging was the call
    # the next call's signature differs (cache['last'] is an array now); staging it sees
    # f assign to what it captures and runs f again: a stored box never stays
    with pytest.warns(CompileWarning, match="assigns to a variable it captures"):
        assert_same(c(np.full(2, 3.0)), 12.0)
    assert_same(cache["last"], np.full(2, 6.0))
    assert_same(holder.last, np.full(2, 7.0))
    assert all(type(v) is np.float64 for v in log) and log[-1] == 12.0
    assert c.stats.traces == 0


@dataclasses.dataclass
class _Result:
    loss: object
    grad: object


def _generated(x):
    yield x * 2.0


@pytest.mark.parametrize("f, unpack", [
    (lambda x: _Result(np.sum(x ** 2), 2 * x), lambda r: (r.loss, r.grad)),
    (lambda x: types.SimpleNamespace(v=x * 2.0), lambda r: r.v),
    (_generated, list)], ids=["dataclass", "namespace", "generator"])
def test_an_object_f_returns_is_a_new_one_with_this_calls_values(f, unpack):
    # a program handed back the object staging made, with staged boxes inside, at
    # every call; such a signature runs eagerly
    c = adkit.compile(f)
    with pytest.warns(CompileWarning, match="returns an object of type"):
        first = unpack(c(np.ones(2)))
    assert_same(first, unpack(f(np.ones(2))))
    assert_same(unpack(c(np.full(2, 3.0))), unpack(f(np.full(2, 3.0))))
    # constants that are values come back as they are
    kept = adkit.compile(lambda x: (x * 2.0, None, "name", 3, np.float32, slice(1, 2)))
    with no_compile_warnings():
        assert kept(np.ones(2))[1:] == (None, "name", 3, np.float32, slice(1, 2))
        assert kept(np.ones(2))[1:] == (None, "name", 3, np.float32, slice(1, 2))
    assert kept.stats.replays == 1


def test_writes_into_a_dict_or_list_argument_reach_the_callers_container():
    # f is staged on copies of its argument containers (their leaves boxed): what it
    # writes there would never reach the caller's dict or list
    def f(x, counts, log):
        counts["n"] = counts["n"] + 1.0
        log.append(np.sum(x))
        return x * counts["n"]
    c = adkit.compile(f)
    counts, log = {"n": 0.0}, []
    with pytest.warns(CompileWarning, match="writes into a dict or list it was given"):
        assert_same(c(np.ones(2), counts, log), np.ones(2))
    assert counts == {"n": 1.0} and len(log) == 1
    with no_compile_warnings():
        assert_same(c(np.ones(2), counts, log[:0]), np.full(2, 2.0))   # same signature
    assert counts == {"n": 2.0}


def test_an_error_f_catches_while_staged_makes_it_run_eagerly():
    # the except branch taken while staging would be replayed for a matrix whose
    # Cholesky factor exists (no guard can ask "does cholesky raise here?")
    def f(a):
        try:
            return np.sum(np.linalg.cholesky(a))
        except np.linalg.LinAlgError:
            return -np.sum(a)
    c = adkit.compile(f)
    indefinite, definite = np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([[2.0, 0.5], [0.5, 2.0]])
    with pytest.warns(CompileWarning, match=r"f caught the error \(LinAlgError in cholesky\)"):
        assert_same(c(indefinite), f(indefinite))
    assert_same(c(definite), f(definite))
    assert c.stats.traces == 0 and c.stats.eager_calls == 2


def test_writes_into_an_argument_run_eagerly_and_mutate_it():
    def f(x):
        x[0] = 5.0
        return np.sum(x)
    c = adkit.compile(f)
    x = np.array([1.0, 2.0])
    with pytest.warns(CompileWarning, match="in place"):
        assert c(x) == 7.0
    assert x[0] == 5.0   # as the eager function did


def test_in_place_writes_on_intermediates_are_staged():
    def f(x):
        y = np.zeros_like(x)
        y = y + x
        y[1:] += x[:-1] * 2.0
        y *= 3.0
        return y
    c = adkit.compile(f)
    cg = adkit.compile(adkit.grad(lambda x: np.sum(f(x) ** 2)))
    with no_compile_warnings():
        for x in (np.arange(4.0), np.linspace(-1, 1, 4)):
            assert_same(c(x), f(x))
            assert_same(cg(x), adkit.grad(lambda x: np.sum(f(x) ** 2))(x))


def test_plain_array_write_of_a_staged_value_pins_it_with_a_guard():
    def f(x):
        out = np.empty(2)
        out[0] = x[0]          # float(x[0]): a guard on its value
        out[1] = x[1] * 2
        return out
    c = adkit.compile(f)
    assert_same(c(np.array([1.0, 2.0])), np.array([1.0, 4.0]))
    assert_same(c(np.array([3.0, 2.0])), np.array([3.0, 4.0]))
    first = c(np.array([1.0, 2.0]))
    first[0] = 99.0   # the returned array is the caller's, not the program's constant
    assert_same(c(np.array([1.0, 2.0])), np.array([1.0, 4.0]))
    assert c.stats.traces == 2 and c.stats.replays == 2


# --- static arguments and signatures ---------------------------------------------------------


def test_static_argnums():
    def f(x, mode):
        return np.sum(x ** 2) if mode == "square" else np.sum(np.abs(x))
    c = adkit.compile(f, static_argnums=1)
    x = np.array([1.0, -2.0])
    assert c(x, "square") == 5.0 and c(x, "abs") == 3.0 and c(x * 2, "square") == 20.0
    assert c.stats.traces == 2 and c.stats.replays == 1
    with pytest.raises(TypeError, match="hashable"):
        c(x, ["not", "hashable"])


def test_new_shapes_and_dtypes_are_new_signatures():
    c = adkit.compile(lambda x: np.sum(x * x))
    assert c(np.ones(3)) == 3.0 and c(np.ones(4)) == 4.0
    r = c(np.ones(4, dtype=np.float32))
    assert r == 4.0 and r.dtype == np.float32
    assert c.stats.traces == 3


# --- bad input keeps the eager messages ------------------------------------------------------


def test_bad_input_keeps_the_eager_messages():
    g = adkit.compile(adkit.grad(lambda x: x * x))
    with pytest.raises(TypeError) as compiled_err:
        g("a string")
    with pytest.raises(TypeError) as eager_err:
        adkit.grad(lambda x: x * x)("a string")
    assert str(compiled_err.value) == str(eager_err.value)
    v = adkit.compile(adkit.grad(lambda x: x))   # not scalar
    with pytest.raises(Exception) as compiled_err:
        v(np.ones(3))
    with pytest.raises(type(compiled_err.value)) as eager_err:
        adkit.grad(lambda x: x)(np.ones(3))
    assert str(compiled_err.value) == str(eager_err.value)
    with pytest.raises(TypeError, match="expects a function"):
        adkit.compile(3)
    with pytest.raises(ValueError, match="static_argnums names argument 4"):
        adkit.compile(lambda x: x, static_argnums=4)(1.0)


def test_errors_raised_on_replay_come_from_the_eager_function():
    def f(x):
        if np.any(x < 0):
            raise ValueError("negative input")
        return np.sqrt(x)
    c = adkit.compile(f)
    assert_same(c(np.array([4.0])), np.array([2.0]))
    with pytest.raises(ValueError, match="negative input"):
        c(np.array([-1.0]))


# --- the program generator and the catalogue of rules ----------------------------------------


#: catalogue entries that run eagerly under compile, and why (each a CompileWarning)
KNOWN_EAGER = {
    "lstsq": "its handler calls np.linalg.lstsq again on the primal values, which are "
             "staged: that recursion ends in RecursionError",
    "scipy.linalg.lu_factor": "SciPy's Python code converts its argument to a plain array",
    # programs.COMPOSITES: their handlers first call SciPy on the primal values (SciPy
    # validates them), and a staged value has none
    "scipy.stats.multivariate_normal": "the handler calls SciPy on primal values first",
    "scipy.stats.dirichlet": "the handler calls SciPy on primal values first",
}


def _compare_program(prog, n_calls=4):
    """f, grad(L) and jvp(f) compiled, at the program's point and at two others; an eager
    fallback (a CompileWarning) is an error unless the program uses a KNOWN_EAGER entry."""
    xs = prog.inputs
    nums = tuple(range(len(xs)))
    w = np.random.RandomState(1).uniform(0.5, 1.5, size=np.shape(prog(*xs)))

    def L(*a):
        return np.sum(w * prog(*a))

    # near the point, back at it, and far from it (where branches flip: a retrace)
    points = [xs, tuple(x * 1.01 + 0.003 for x in xs), xs,
              tuple(-0.8 * x + 0.05 for x in xs)][:n_calls]
    v = tuple(np.ones_like(x) for x in xs)
    fns = {"f": prog.fn, "grad": adkit.grad(L, nums),
           "jvp": lambda *a: adkit.jvp(prog.fn, a, v)}
    # the other order: the engines differentiate a compiled function (one operation)
    compiled_prog, compiled_L = adkit.compile(prog.fn), adkit.compile(L)
    of_compiled = {"grad": (adkit.grad(compiled_L, nums), fns["grad"]),
                   "jvp": (lambda *a: adkit.jvp(compiled_prog, a, v), fns["jvp"])}
    with warnings.catch_warnings():
        if set(prog.entries) & set(KNOWN_EAGER):
            warnings.simplefilter("ignore", CompileWarning)
        else:
            warnings.simplefilter("error", CompileWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, fn in fns.items():
            c = adkit.compile(fn)
            for args in points:
                try:
                    expected = fn(*args)
                except Exception as err:  # noqa: BLE001 - the compiled one must raise too
                    with pytest.raises(type(err)):
                        c(*args)
                    continue
                assert_same(c(*args), expected, rtol=1e-12)
        for name, (fn, eager) in of_compiled.items():
            for args in points:
                try:
                    expected = eager(*args)
                except Exception as err:  # noqa: BLE001 - the compiled one must raise too
                    with pytest.raises(type(err)):
                        fn(*args)
                    continue
                try:
                    got = fn(*args)
                except Exception as err:  # noqa: BLE001
                    # the value comes from f on plain arrays, which may refuse what its
                    # traced run accepts (SciPy's check_finite): f itself must raise then
                    with pytest.raises(type(err)):
                        prog.fn(*args)
                    continue
                assert_same(got, expected, rtol=1e-12)
        # the inputs captured by a closure, changed in place and rebound between calls
        captured = [np.array(x, dtype=float) for x in xs]
        c = adkit.compile(lambda: prog.fn(*captured))
        for change in (lambda: None, lambda: [np.multiply(a, 0.9, out=a) for a in captured],
                       lambda: captured.__setitem__(0, captured[0] * -0.8 + 0.05)):
            change()
            try:
                expected = prog.fn(*captured)
            except Exception as err:  # noqa: BLE001
                with pytest.raises(type(err)):
                    c()
                continue
            assert_same(c(), expected, rtol=1e-12)


def _catalogue() -> list:
    """The program generator's catalogue (one entry per primitive); empty without SciPy."""
    try:
        import programs as P
    except ImportError:
        return []
    return sorted(P.CATALOGUE)


@pytest.mark.parametrize("name", _catalogue())
def test_every_catalogue_entry_compiled_equals_eager(name):
    """One program per primitive of the table (tests/programs.py's catalogue): compiled
    value, gradient and JVP equal to the eager engines', on the trace and on replays."""
    pytest.importorskip("scipy.special")
    import programs as P
    _compare_program(P.one_op_program(name, 0))


def _each_random_program(check_one) -> None:
    """check_one(prog) on 40 programs of the property tests' generator (seeded)."""
    hypothesis = pytest.importorskip("hypothesis")
    import programs as P

    @hypothesis.settings(max_examples=40, derandomize=True, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(prog=P.programs())
    def check(prog):
        hypothesis.note(repr(prog))
        check_one(prog)
    check()


def test_random_programs_compiled_equal_eager():
    """Random multi-step programs (branches, loops, in-place writes, non-differentiable
    indices) from the property tests' generator."""
    pytest.importorskip("scipy.special")
    _each_random_program(_compare_program)


def test_math_stays_exact_on_python_floats():
    c = adkit.compile(lambda x: np.exp(x) + np.log1p(x))
    assert c(0.5) == math.exp(0.5) + math.log1p(0.5)
    assert c(0.25) == np.exp(0.25) + np.log1p(0.25)


def test_gradients_of_python_numbers_are_python_numbers_as_eager():
    # the eager engines return a Python float's gradient as a float and a complex's as a
    # complex; the program converts its result the same way (a recorded float(), no guard)
    def f(x, y, z):
        return x ** 2 * np.sin(y) + np.abs(z) ** 2 * x
    g = adkit.grad(f, argnums=(0, 1, 2))
    c = adkit.compile(g)
    with no_compile_warnings():
        for args in [(3.0, np.float64(0.5), 1 + 2j), (-1.5, np.float64(2.0), 0.5j)]:
            got, expected = c(*args), g(*args)
            assert [type(v) for v in got] == [type(v) for v in expected] \
                == [float, np.float64, complex]
            assert_same(got, expected)
    assert c.stats.replays == 1 and c.stats.guard_failures == 0


def test_a_float32_arguments_gradient_is_float32_as_eager_in_float64_arithmetic():
    # the function computes in float64 (x is float64); eager grad hands the float32
    # argument a float32 gradient, and so must the program (it returned float64)
    w, x = np.linspace(0.5, 1.5, 3).astype(np.float32), np.arange(3.0)
    f = lambda w, x: np.sum(np.tanh(w * x) + (x @ w) ** 2)  # noqa: E731
    g = adkit.compile(adkit.grad(f))
    with no_compile_warnings():
        for _ in range(2):
            got, expected = g(w, x), adkit.grad(f)(w, x)
            assert got.dtype == expected.dtype == np.float32
            assert_same(got, expected)


@pytest.mark.parametrize("f", [lambda x: x ** 3, lambda x: x ** 2.5, lambda x: 2.0 ** x,
                               lambda x: x % 0.3, lambda x: x // 0.3, lambda x: abs(-x) ** 2,
                               lambda x: 3 * x - 1, lambda x: -x])
def test_python_operators_on_floats_give_what_f_gives_unstaged(f):
    # f(0.7) never sees adkit: its x ** 2.5 is Python's pow, a float (np.power's answer
    # may differ in the last bit); its gradients are floats, constant or not (the eager
    # gradient's primal goes through np.power: equal to the last bit or so)
    c, cg = adkit.compile(f), adkit.compile(adkit.grad(f))
    with no_compile_warnings():
        for x in (0.7, 0.7, 1.9):
            assert type(c(x)) is float and c(x) == f(x)
            assert type(cg(x)) is float
            assert_same(cg(x), adkit.grad(f)(x))
    assert c.stats.replays >= 2 and cg.stats.replays >= 2


def test_a_python_operator_error_comes_from_f():
    c = adkit.compile(lambda x, y: (x ** y) * 2.0)
    assert c(2.0, -1.0) == 1.0
    with pytest.raises(ZeroDivisionError):   # what f raises; NumPy would answer inf
        c(0.0, -1.0)


# --- donated arguments ----------------------------------------------------------------------


def _moments(p, m, v, g, alpha):
    m2 = m * 0.9 + g * 0.1
    v2 = v * 0.999 + np.square(g) * 0.001
    return p - m2 / (np.sqrt(v2) + 1e-7) * alpha, m2, v2


@pytest.mark.parametrize("shape", [(513, 257), (6, 5)])   # a fused loop, and plain steps
def test_donated_arrays_receive_the_results_in_place(shape):
    c = adkit.compile(_moments, donate_argnums=(0, 1, 2))
    rng = np.random.default_rng(4)
    p, m, v = rng.standard_normal(shape), rng.standard_normal(shape), rng.random(shape)
    g = rng.standard_normal(shape)
    g_before = g.copy()
    with no_compile_warnings():
        for call in range(3):
            expected = _moments(p.copy(), m.copy(), v.copy(), g, 1e-3)
            donated = (p, m, v)
            out = c(p, m, v, g, 1e-3)
            for a, b in zip(out, expected):
                np.testing.assert_array_equal(a, b)
            if call:   # replays write into the donated arrays (the first call stages f)
                assert all(o is d for o, d in zip(out, donated))
            p, m, v = out
    np.testing.assert_array_equal(g, g_before)   # not donated: never written


def test_donated_arrays_are_intact_when_a_guard_fails():
    def f(m, g):
        if np.sum(g) > 0:
            return m * 0.5 + g
        return m * 2.0 - g
    c = adkit.compile(f, donate_argnums=0)
    rng = np.random.default_rng(5)
    m, g = rng.standard_normal((300, 300)), np.abs(rng.standard_normal((300, 300)))
    with no_compile_warnings():
        for sign in (1, 1, -1, -1, 1):   # each flip fails a guard: f reruns on intact m
            m_copy = m.copy()
            expected = f(m_copy, sign * g)
            m = c(m, sign * g)
            np.testing.assert_array_equal(m, expected)
    assert c.stats.guard_failures == 2 and c.stats.traces == 2


def test_donated_arrays_sharing_memory_with_other_arguments_are_copied_first():
    c = adkit.compile(_moments, donate_argnums=(0, 1, 2))
    rng = np.random.default_rng(6)
    a, g = rng.random((400, 300)), rng.standard_normal((400, 300))
    with no_compile_warnings():
        c(a.copy(), a.copy(), a.copy(), g, 1e-3)   # staged
        for args in [(a, a, a, g, 1e-3),              # one array donated three times
                     (g, a, a[:, :], g, 1e-3),        # a donated array that is also g
                     (a.copy(), a.copy(), a.copy(), a, 1e-3)]:
            before = [x.copy() for x in args[:4]]
            expected = _moments(*before, 1e-3)
            got = c(*args)
            for x, y in zip(got, expected):
                np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(args[3], before[3])   # g was not donated


def test_nothing_is_donated_under_a_transform():
    def loss(m, g):
        return np.sum(c(m, g) ** 2)
    c = adkit.compile(lambda m, g: m * 0.9 + g * 0.1, donate_argnums=0)
    rng = np.random.default_rng(7)
    m, g = rng.standard_normal((400, 300)), rng.standard_normal((400, 300))
    m_before = m.copy()
    with no_compile_warnings():
        for _ in range(3):
            assert_same(adkit.grad(loss)(m, g), 2 * 0.9 * (m_before * 0.9 + g * 0.1))
    np.testing.assert_array_equal(m, m_before)


@pytest.mark.parametrize("order", ["sqrt first", "m first"])
def test_a_donating_program_never_writes_before_a_step_on_python_numbers(order):
    # math.sqrt(-1.0) raises in the program where np.sqrt gives nan: the program writes
    # into m only after it, so the eager function can still answer, as for any program
    def f(m, x):
        if order == "sqrt first":
            s = np.sqrt(x)
            return (m * 0.5 + s) * 2.0
        return (m * 0.5 + np.sqrt(x)) * 2.0
    c = adkit.compile(f, donate_argnums=0)
    m = np.ones((400, 300))
    with no_compile_warnings():
        np.testing.assert_array_equal(c(m.copy(), 4.0), f(m, 4.0))
        with pytest.warns(RuntimeWarning, match="invalid value"):
            got = c(m.copy(), -1.0)
    assert np.isnan(got).all() and c.stats.eager_calls == 1
    src = c.source(m, 4.0)
    writes = re.search(r"out=v0\)|= v0$", src, re.M)   # a result written into m
    assert bool(writes) == (order == "sqrt first"), src   # where m is used up after sqrt
    assert not writes or src.index("math_sqrt") < src.index("try:") < writes.start(), src


def test_errors_of_a_donating_program_are_raised_as_they_come():
    # a replay that fails once it has begun writing into the donated arrays cannot hand
    # them to f again: the program's own error is raised
    c = adkit.compile(lambda m, g: np.sqrt(m) * 0.5 + g, donate_argnums=0)
    m, g = np.ones((400, 300)), np.ones((400, 300))
    c(m.copy(), g)
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        c(-m, g)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"donate_argnums": "x"}, TypeError, "donate_argnums must be an int"),
    ({"donate_argnums": 0, "static_argnums": 0}, ValueError, "both static and donated"),
])
def test_bad_donate_argnums_are_named(kwargs, error, words):
    with pytest.raises(error, match=words):
        adkit.compile(lambda x: x, **kwargs)


def test_a_donated_argument_out_of_range_is_named():
    c = adkit.compile(lambda x: x * 2, donate_argnums=3)
    with pytest.raises(ValueError, match="donate_argnums names argument 3"):
        c(np.ones(3))


def test_random_programs_with_every_argument_donated_equal_eager(monkeypatch):
    """The generator's programs with all their arguments donated (results written into
    them after the last guard), in fused loops of one row per chunk: the same values as
    the eager function on fresh copies, on the trace and on replays where branches flip."""
    pytest.importorskip("scipy.special")
    import adkit.fusion as fusion
    monkeypatch.setattr(fusion, "CHUNK_BYTES", 1)

    def check(prog):
        xs = prog.inputs
        c = adkit.compile(prog.fn, donate_argnums=tuple(range(len(xs))))
        points = [xs, tuple(x * 1.01 + 0.003 for x in xs), xs, tuple(-0.8 * x + 0.05 for x in xs)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for args in points:
                fresh = [np.array(x) if isinstance(x, np.ndarray) else x for x in args]
                try:
                    expected = prog.fn(*[np.array(x) if isinstance(x, np.ndarray) else x
                                         for x in args])
                except Exception as err:  # noqa: BLE001 - the compiled one must raise too
                    with pytest.raises(type(err)):
                        c(*fresh)
                    continue
                assert_same(c(*fresh), expected, rtol=1e-12)
    _each_random_program(check)
