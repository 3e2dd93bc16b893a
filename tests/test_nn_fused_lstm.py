"""The default LSTM's fused path (nn/layers/fused_lstm.py): one tanh for the four gates,
the bias folded into the input projection, the parameter cotangents as matmuls over
all timesteps.

Its derivatives are checked against adkit.numeric's finite differences and against
adkit's own derivative of the traced time loop (implementation=1, which never takes
this path); its outputs against the textbook equations written out in plain NumPy.
"""

import numpy as np
import pytest

import adkit
from adkit.nn.layers import LSTM, Context
from adkit.nn.layers import fused_lstm, lstm_kernel

N, T, F, U = 3, 4, 2, 3
MODES = ("forward", "reverse", "numeric")


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def lstm_reference(p, x, go_backwards, return_sequences):
    """The equations, one gate at a time, float64."""
    W, R = np.split(p["kernel"], 4, axis=1), np.split(p["recurrent_kernel"], 4, axis=1)
    b = np.split(p.get("bias", np.zeros(p["kernel"].shape[1])), 4)
    h = c = np.zeros((x.shape[0], p["recurrent_kernel"].shape[0]))
    outputs = []
    for t in (range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])):
        i, f, z, o = (x[:, t] @ W[g] + h @ R[g] + b[g] for g in range(4))
        c = sigmoid(i) * np.tanh(z) + sigmoid(f) * c
        h = sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1) if return_sequences else h


def make(use_bias=True, dtype=np.float64, seed=0, **kw):
    layer = LSTM(U, use_bias=use_bias, **kw)
    rng = np.random.default_rng(seed)
    params = {k: (v + 0.3 * rng.standard_normal(v.shape)).astype(dtype)
              for k, v in layer.init_params(rng, (T, F)).items()}
    return layer, params


def inputs(steps=T, dtype=np.float64, seed=1):
    return np.random.default_rng(seed).standard_normal((N, steps, F)).astype(dtype)


SETTINGS = [  # (use_bias, return_sequences, go_backwards, steps)
    (True, False, False, T), (True, True, False, T), (True, False, True, T),
    (True, True, True, T), (False, True, False, T), (False, False, True, T),
    (True, False, False, 1), (True, True, True, 1),
]


def test_the_default_lstm_takes_the_fused_path_and_the_others_do_not():
    x = inputs()
    for kw, fused in (({}, True), ({"peephole": True}, False),
                      ({"recurrent_activation": "hard_sigmoid"}, False)):
        layer, p = make(**kw)
        args = (x, p["kernel"], p["recurrent_kernel"], p.get("bias"), p.get("peephole"))
        saved = layer._scan(*args, per_step=False)[1]
        # on plain arrays the fused path is lstm_kernel's opaque one
        assert isinstance(saved, lstm_kernel.Saved) is fused
        if fused:  # without residuals nothing is kept
            assert layer._scan(*args, per_step=False, residuals=False)[1] is None


def test_a_subclass_with_its_own_step_keeps_its_step():
    # fused_lstm computes LSTM._step's equations; a subclass's own _step is not those
    class LeakyCell(LSTM):
        def _step(self, zx_t, state, recurrent, bias, peephole):
            (h, c), keep = super()._step(zx_t, state, recurrent, bias, peephole)
            return (h, 0.5 * c), keep
    x = inputs()
    base, p = make()
    leaky = LeakyCell(U)
    args = (x, p["kernel"], p["recurrent_kernel"], p.get("bias"), None)
    saved = leaky._scan(*args, per_step=False)[1]
    assert not isinstance(saved, (fused_lstm.Residuals, lstm_kernel.Saved))
    assert not np.allclose(leaky.call(p, x, Context()), base.call(p, x, Context()))


@pytest.mark.parametrize("use_bias,return_sequences,go_backwards,steps", SETTINGS)
def test_forward_matches_the_equations(use_bias, return_sequences, go_backwards, steps):
    layer, p = make(use_bias, return_sequences=return_sequences, go_backwards=go_backwards)
    x = inputs(steps)
    want = lstm_reference(p, x, go_backwards, return_sequences)
    np.testing.assert_allclose(layer.call(p, x, Context()), want, rtol=1e-12, atol=1e-14)
    out = adkit.vjp(lambda p: layer.call(p, x, Context()), p)[0]  # the fused op's fwd
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("use_bias,return_sequences,go_backwards,steps", SETTINGS)
def test_gradients_of_kernel_recurrent_bias_and_input_against_finite_differences(
        use_bias, return_sequences, go_backwards, steps):
    layer, p = make(use_bias, return_sequences=return_sequences, go_backwards=go_backwards)
    adkit.check_grads(lambda p, x: layer.call(p, x, Context()), (p, inputs(steps)),
                      modes=MODES)


@pytest.mark.parametrize("use_bias,return_sequences,go_backwards,steps", SETTINGS)
def test_gradients_equal_adkits_derivative_of_the_traced_loop(
        use_bias, return_sequences, go_backwards, steps):
    layer, p = make(use_bias, return_sequences=return_sequences, go_backwards=go_backwards)
    x = inputs(steps)
    w = np.random.default_rng(2).standard_normal(
        np.shape(lstm_reference(p, x, go_backwards, return_sequences)))
    f = lambda p, x: np.sum(np.sin(layer.call(p, x, Context())) * w)
    fused = adkit.grad(f, (0, 1))(p, x)
    layer.implementation = 1
    traced = adkit.grad(f, (0, 1))(p, x)
    assert set(fused[0]) == set(p)
    for k in p:
        np.testing.assert_allclose(fused[0][k], traced[0][k], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(fused[1], traced[1], rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("name", ["kernel", "recurrent_kernel", "bias", "x"])
def test_one_argument_at_a_time(name):
    """Only the cotangents asked for are computed; each equals the full gradient's."""
    layer, p = make(return_sequences=True)
    x = inputs()
    f = lambda p, x: np.sum(np.cos(layer.call(p, x, Context())))
    full_p, full_x = adkit.grad(f, (0, 1))(p, x)
    if name == "x":
        np.testing.assert_allclose(adkit.grad(f, 1)(p, x), full_x, rtol=1e-13)
    else:
        one = adkit.grad(lambda w: f(dict(p, **{name: w}), x))(p[name])
        np.testing.assert_allclose(one, full_p[name], rtol=1e-13)


def test_float32_stays_float32_and_agrees_with_float64():
    layer, p64 = make(return_sequences=True, go_backwards=True)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    x64 = inputs(steps=6)
    x32 = x64.astype(np.float32)
    f = lambda p, x: np.sum(np.tanh(layer.call(p, x, Context())))
    g32 = adkit.grad(f, (0, 1))(p32, x32)
    g64 = adkit.grad(f, (0, 1))({k: v.astype(np.float64) for k, v in p32.items()},
                                x32.astype(np.float64))
    assert layer.call(p32, x32, Context()).dtype == np.float32
    for k in p32:
        assert g32[0][k].dtype == np.float32
        np.testing.assert_allclose(g32[0][k], g64[0][k], rtol=2e-4, atol=2e-5)
    assert g32[1].dtype == np.float32
    np.testing.assert_allclose(g32[1], g64[1], rtol=2e-4, atol=2e-5)


def test_second_derivatives():
    """The backward pass is NumPy on traced values: it differentiates again."""
    layer, p = make(return_sequences=True, go_backwards=True)
    x = inputs(steps=3)

    def f(kernel, recurrent_kernel, bias):
        q = dict(kernel=kernel, recurrent_kernel=recurrent_kernel, bias=bias)
        return np.sum(np.cos(layer.call(q, x, Context())))
    adkit.check_grads(f, (p["kernel"], p["recurrent_kernel"], p["bias"]), order=2,
                      modes=MODES)


def test_compiled_gradient_equals_the_eager_one():
    layer, p = make(return_sequences=False)
    x = inputs()
    f = lambda p, x: np.sum(np.sin(layer.call(p, x, Context())))
    compiled = adkit.compile(adkit.grad(f))
    for seed in (1, 2):  # the second call replays the program
        x = inputs(seed=seed)
        want, got = adkit.grad(f)(p, x), compiled(p, x)
        for k in p:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-14)
