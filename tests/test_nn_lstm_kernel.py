"""The default LSTM's opaque forward and backward operations (nn/layers/lstm_kernel.py).

Referees: fused_lstm's differentiable forward and backward pass (the arithmetic
the kernels restate in place), adkit.numeric's finite differences, and the eager
engines for compiled programs. Splitting the batch over threads changes the order
in which the parameter cotangents are summed, so split and unsplit results agree
to rounding (rtol 1e-12 in float64), not bitwise.
"""

import numpy as np
import pytest

import adkit
from adkit.nn import numpy_backend
from adkit.nn.layers import LSTM, Context, fused_lstm, lstm_kernel

F, T = 3, 5


@pytest.fixture
def split_everything(monkeypatch):
    """Every batch split into up to 3 parts, however small (restored afterwards)."""
    monkeypatch.setattr(numpy_backend, "THREADS", 3)
    monkeypatch.setattr(numpy_backend, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(lstm_kernel, "MIN_PART_ROWS", 1)
    numpy_backend._pool.clear()
    yield
    numpy_backend._pool.clear()


def arrays(n, units=4, use_bias=True, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, T, F)).astype(dtype)
    kernel = (0.5 * rng.standard_normal((F, 4 * units))).astype(dtype)
    recurrent = (0.5 * rng.standard_normal((units, 4 * units))).astype(dtype)
    bias = (0.5 * rng.standard_normal(4 * units)).astype(dtype) if use_bias else None
    return x, kernel, recurrent, bias


def reference(x, kernel, recurrent, bias, g, go_backwards, return_sequences):
    """fused_lstm's output and cotangents (x, kernel, recurrent, bias)."""
    out, saved = fused_lstm.forward(x, kernel, recurrent, bias, go_backwards, return_sequences)
    return out, fused_lstm.backward(saved, g, kernel, recurrent, bias, go_backwards,
                                    return_sequences, {0, 1, 2, 3})


def opaque(x, kernel, recurrent, bias, g, go_backwards, return_sequences):
    directions = dict(go_backwards=go_backwards, return_sequences=return_sequences)
    out, residuals = lstm_kernel.lstm_forward(x, kernel, recurrent, bias, **directions)
    alone = lstm_kernel.lstm_output(x, kernel, recurrent, bias, **directions)
    np.testing.assert_array_equal(alone, out)
    grads = lstm_kernel.lstm_backward(residuals, g, kernel, recurrent, bias, want_x=True,
                                      want_params=True, **directions)
    return out, grads, residuals


def assert_close(got, want):
    out, grads = got
    np.testing.assert_allclose(out, want[0], rtol=1e-12, atol=1e-14)
    for a, b in zip(grads, want[1]):
        if b is None:
            assert a is None
        else:
            assert a.shape == b.shape and a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


DIRECTIONS = [(False, False), (False, True), (True, False), (True, True)]


@pytest.mark.parametrize("go_backwards,return_sequences", DIRECTIONS)
@pytest.mark.parametrize("use_bias", [True, False])
def test_whole_batch_equals_fused_lstm(go_backwards, return_sequences, use_bias):
    x, kernel, recurrent, bias = arrays(3, use_bias=use_bias)
    out = fused_lstm.forward(x, kernel, recurrent, bias, go_backwards, return_sequences)[0]
    g = np.random.default_rng(5).standard_normal(out.shape)
    want = reference(x, kernel, recurrent, bias, g, go_backwards, return_sequences)
    out, grads, residuals = opaque(x, kernel, recurrent, bias, g, go_backwards,
                                   return_sequences)
    assert len(residuals) == 1   # small: not split
    assert_close((out, grads), want)


@pytest.mark.parametrize("n", [1, 2, 3, 127])
@pytest.mark.parametrize("go_backwards,return_sequences", DIRECTIONS)
def test_a_split_batch_equals_the_whole_one(split_everything, n, go_backwards,
                                             return_sequences):
    x, kernel, recurrent, bias = arrays(n)
    out = fused_lstm.forward(x, kernel, recurrent, bias, go_backwards, return_sequences)[0]
    g = np.random.default_rng(5).standard_normal(out.shape)
    want = reference(x, kernel, recurrent, bias, g, go_backwards, return_sequences)
    out, grads, residuals = opaque(x, kernel, recurrent, bias, g, go_backwards,
                                   return_sequences)
    assert len(residuals) == min(n, 3)
    assert [(p.start, p.stop) for p in residuals][0][0] == 0 and residuals[-1].stop == n
    assert_close((out, grads), want)


def test_the_backward_pass_follows_the_forward_passs_parts(monkeypatch):
    """Residuals made in 3 parts are taken back in 3 parts by a single thread."""
    x, kernel, recurrent, bias = arrays(7)
    out = fused_lstm.forward(x, kernel, recurrent, bias, False, True)[0]
    g = np.random.default_rng(5).standard_normal(out.shape)
    want = reference(x, kernel, recurrent, bias, g, False, True)
    monkeypatch.setattr(numpy_backend, "THREADS", 3)
    monkeypatch.setattr(numpy_backend, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(lstm_kernel, "MIN_PART_ROWS", 1)
    numpy_backend._pool.clear()
    out, residuals = lstm_kernel.lstm_forward(x, kernel, recurrent, bias,
                                              go_backwards=False, return_sequences=True)
    assert len(residuals) == 3
    monkeypatch.setattr(numpy_backend, "THREADS", 1)
    numpy_backend._pool.clear()
    try:
        grads = lstm_kernel.lstm_backward(residuals, g, kernel, recurrent, bias,
                                          go_backwards=False, return_sequences=True,
                                          want_x=True, want_params=True)
    finally:
        numpy_backend._pool.clear()
    assert_close((out, grads), want)


def test_only_the_wanted_cotangents_are_computed():
    x, kernel, recurrent, bias = arrays(3)
    out, residuals = lstm_kernel.lstm_forward(x, kernel, recurrent, bias,
                                              go_backwards=False, return_sequences=False)
    g = np.ones_like(out)
    common = dict(go_backwards=False, return_sequences=False)
    dx, *params = lstm_kernel.lstm_backward(residuals, g, kernel, recurrent, bias,
                                            want_x=True, want_params=False, **common)
    assert dx.shape == x.shape and params == [None, None, None]
    dx, *params = lstm_kernel.lstm_backward(residuals, g, kernel, recurrent, bias,
                                            want_x=False, want_params=True, **common)
    assert dx is None and [p.shape for p in params] == [kernel.shape, recurrent.shape,
                                                        bias.shape]


def test_float32_stays_float32():
    x, kernel, recurrent, bias = arrays(4, dtype=np.float32)
    out, residuals = lstm_kernel.lstm_forward(x, kernel, recurrent, bias,
                                              go_backwards=True, return_sequences=True)
    grads = lstm_kernel.lstm_backward(residuals, np.ones_like(out), kernel, recurrent, bias,
                                      go_backwards=True, return_sequences=True,
                                      want_x=True, want_params=True)
    assert out.dtype == np.float32 and all(a.dtype == np.float32 for a in grads)
    want = reference(*(a.astype(np.float64) for a in (x, kernel, recurrent, bias)),
                     np.ones(out.shape), True, True)
    np.testing.assert_allclose(out, want[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(grads, want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# --- through the layer: which path, and the derivatives -----------------------------------

def layer_and_params(n=3, units=4, seed=0, **kw):
    layer = LSTM(units, **kw)
    x, kernel, recurrent, bias = arrays(n, units, seed=seed)
    return layer, dict(kernel=kernel, recurrent_kernel=recurrent, bias=bias), x


def loss(layer):
    return lambda p, x: np.sum(np.sin(layer.call(p, x, Context())) * np.arange(1, 5))


@pytest.mark.parametrize("go_backwards,return_sequences", DIRECTIONS)
def test_layer_gradients_against_finite_differences_split(split_everything, go_backwards,
                                                          return_sequences):
    layer, p, x = layer_and_params(n=5, go_backwards=go_backwards,
                                   return_sequences=return_sequences)
    adkit.check_grads(loss(layer), (p, x), modes=("forward", "reverse", "numeric"))


def count(source, word):
    return source.count(word)


@pytest.mark.parametrize("n", [1, 3, 127])
@pytest.mark.parametrize("go_backwards,return_sequences", DIRECTIONS)
def test_compiled_gradient_is_two_opaque_calls_and_equals_the_eager_one(
        split_everything, n, go_backwards, return_sequences):
    layer, p, x = layer_and_params(n=n, go_backwards=go_backwards,
                                   return_sequences=return_sequences)
    f = loss(layer)
    compiled = adkit.compile(adkit.grad(f, (0, 1)))
    source = compiled.source(p, x)
    assert count(source, "lstm_forward") == 1 and count(source, "lstm_backward") == 1
    assert count(source, "matmul") == 0 and count(source, "tanh") == 0
    for seed in (1, 2):   # the second call replays the program
        q, y = layer_and_params(n=n, seed=seed)[1:]
        got, want = compiled(q, y), adkit.grad(f, (0, 1))(q, y)
        for k in q:
            np.testing.assert_allclose(got[0][k], want[0][k], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-14)
    assert compiled.stats.replays >= 1


def test_the_opaque_program_is_far_shorter_than_the_traced_one(monkeypatch):
    layer, p, x = layer_and_params(n=4)
    f = loss(layer)
    opaque_source = adkit.compile(adkit.grad(f)).source(p, x)
    monkeypatch.setattr(lstm_kernel, "underived", lambda *values: False)
    traced_source = adkit.compile(adkit.grad(f)).source(p, x)
    assert "lstm_" not in traced_source
    statements = lambda s: sum(1 for line in s.splitlines() if " = " in line)
    assert statements(opaque_source) * 5 < statements(traced_source)
    assert count(traced_source, "matmul") >= 2 * T   # one or two per timestep


def test_compiled_inference_is_one_call():
    layer, p, x = layer_and_params(n=3, return_sequences=True)
    run = adkit.compile(lambda p, x: layer.call(p, x, Context()))
    source = run.source(p, x)
    assert count(source, "lstm_output") == 1 and "lstm_forward" not in source
    np.testing.assert_allclose(run(p, x), layer.call(p, x, Context()), rtol=1e-13)


def test_forward_mode_over_the_layer(split_everything):
    """jvp: the forward rule runs opaque, and forward mode transposes the backward rule
    by tracing it in the cotangent: the differentiable backward pass takes over."""
    layer, p, x = layer_and_params(n=4, return_sequences=True)
    f = lambda k: layer.call(dict(p, kernel=k), x, Context())
    t = np.random.default_rng(3).standard_normal(p["kernel"].shape)
    _, tangent = adkit.jvp(f, (p["kernel"],), (t,))
    eps = 1e-6
    numeric = (f(p["kernel"] + eps * t) - f(p["kernel"] - eps * t)) / (2 * eps)
    np.testing.assert_allclose(tangent, numeric, rtol=1e-6, atol=1e-8)


def test_second_order_takes_the_traced_path_compiled_too():
    layer, p, x = layer_and_params(n=2, units=2, return_sequences=True, go_backwards=True)

    def f(kernel):
        return np.sum(np.cos(layer.call(dict(p, kernel=kernel), x, Context())))
    kernel = p["kernel"]
    hessian = adkit.compile(adkit.hessian(f))
    source = hessian.source(kernel)
    assert "lstm_" not in source   # a derivative traced on the values: not opaque
    want = adkit.hessian(f)(kernel)
    np.testing.assert_allclose(hessian(kernel), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(want, adkit.numeric.hessian(f, kernel), rtol=1e-5, atol=1e-6)


def test_an_empty_batch_gives_empty_results():
    x, kernel, recurrent, bias = arrays(0)
    out, residuals = lstm_kernel.lstm_forward(x, kernel, recurrent, bias,
                                              go_backwards=False, return_sequences=True)
    assert out.shape == (0, T, 4)
    dx, dk, dr, db = lstm_kernel.lstm_backward(residuals, out, kernel, recurrent, bias,
                                               go_backwards=False, return_sequences=True,
                                               want_x=True, want_params=True)
    assert dx.shape == x.shape
    for got, like in ((dk, kernel), (dr, recurrent), (db, bias)):
        np.testing.assert_array_equal(got, np.zeros_like(like))


@pytest.mark.parametrize("n,parts", [(31, 1), (63, 1), (64, 2), (95, 2), (127, 3), (200, 3)])
def test_a_part_has_at_least_min_part_rows(monkeypatch, n, parts):
    monkeypatch.setattr(numpy_backend, "THREADS", 3)
    monkeypatch.setattr(numpy_backend, "PARALLEL_BYTES", 0)
    numpy_backend._pool.clear()
    try:
        x, kernel, recurrent, bias = arrays(n, units=2)
        _, residuals = lstm_kernel.lstm_forward(x, kernel, recurrent, bias,
                                                go_backwards=False, return_sequences=False)
    finally:
        numpy_backend._pool.clear()
    assert len(residuals) == parts
    assert all(p.stop - p.start >= min(n, lstm_kernel.MIN_PART_ROWS) for p in residuals)
    assert [p.start for p in residuals[1:]] == [p.stop for p in residuals[:-1]]
