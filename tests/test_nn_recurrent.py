"""SimpleRNN, LSTM, GRU and Bidirectional.

Forward passes are compared with plain-NumPy float64 references written here
from the equations (one weight matrix per gate, sigmoid as 1 / (1 + e^-x));
derivatives with adkit.check_grads on tiny sizes, in both implementations (the
traced time loop, and the fused operation with its hand-written backward pass);
outputs with PyTorch's nn.LSTM / nn.GRU when torch is installed.
"""

import json
import re

import numpy as np
import pytest

import adkit
from adkit.nn import regularizers
from adkit.nn.layers import (GRU, LSTM, Bidirectional, Context, Dense, Layer, ShapeError,
                             SimpleRNN, deserialize, serialize)

N, T, F, U = 2, 3, 2, 3  # batch, timesteps, features, units: small enough for check_grads


# --- references: the equations, one gate at a time -------------------------------------

def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def run_reference(step, x, state, go_backwards, return_sequences):
    """Apply step(x_t, state) -> (h, state) along the time axis, Keras's way."""
    times = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    outputs = []
    for t in times:
        h, state = step(x[:, t], state)
        outputs.append(h)
    return np.stack(outputs, axis=1) if return_sequences else outputs[-1]


def simple_rnn_reference(p, x, go_backwards=False, return_sequences=False):
    W, R, b = p["kernel"], p["recurrent_kernel"], p.get("bias", 0.0)

    def step(x_t, h):
        h = np.tanh(x_t @ W + h @ R + b)
        return h, h
    return run_reference(step, x, np.zeros((x.shape[0], R.shape[0])), go_backwards,
                         return_sequences)


def lstm_reference(p, x, go_backwards=False, return_sequences=False):
    """The textbook's equations; y^(t-1) is the previous output h."""
    u = p["recurrent_kernel"].shape[0]
    W_i, W_f, W_z, W_o = np.split(p["kernel"], 4, axis=1)
    R_i, R_f, R_z, R_o = np.split(p["recurrent_kernel"], 4, axis=1)
    b_i, b_f, b_z, b_o = np.split(p.get("bias", np.zeros(4 * u)), 4)
    p_i, p_f, p_o = p.get("peephole", np.zeros((3, u)))

    def step(x_t, state):
        y, c_prev = state
        z = np.tanh(x_t @ W_z + y @ R_z + b_z)
        i = sigmoid(x_t @ W_i + y @ R_i + p_i * c_prev + b_i)
        f = sigmoid(x_t @ W_f + y @ R_f + p_f * c_prev + b_f)
        c = i * z + f * c_prev
        o = sigmoid(x_t @ W_o + y @ R_o + p_o * c + b_o)
        y = o * np.tanh(c)
        return y, (y, c)
    zero = np.zeros((x.shape[0], u))
    return run_reference(step, x, (zero, zero), go_backwards, return_sequences)


def gru_reference(p, x, reset_after=True, go_backwards=False, return_sequences=False):
    u = p["recurrent_kernel"].shape[0]
    W_z, W_r, W_h = np.split(p["kernel"], 3, axis=1)
    R_z, R_r, R_h = np.split(p["recurrent_kernel"], 3, axis=1)
    bias = p.get("bias", np.zeros((2, 3 * u) if reset_after else 3 * u))
    b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, np.zeros(3 * u))
    (bz, br, bh), (rz, rr, rh) = np.split(b_in, 3), np.split(b_rec, 3)

    def step(x_t, h):
        z = sigmoid(x_t @ W_z + bz + h @ R_z + rz)
        r = sigmoid(x_t @ W_r + br + h @ R_r + rr)
        if reset_after:
            cand = np.tanh(x_t @ W_h + bh + r * (h @ R_h + rh))
        else:
            cand = np.tanh(x_t @ W_h + bh + (r * h) @ R_h)
        h = z * h + (1 - z) * cand
        return h, h
    return run_reference(step, x, np.zeros((x.shape[0], u)), go_backwards, return_sequences)


def reference(layer, p, x):
    kw = dict(go_backwards=layer.go_backwards, return_sequences=layer.return_sequences)
    if isinstance(layer, LSTM):
        return lstm_reference(p, x, **kw)
    if isinstance(layer, GRU):
        return gru_reference(p, x, layer.reset_after, **kw)
    return simple_rnn_reference(p, x, **kw)


# --- helpers --------------------------------------------------------------------------------

KINDS = {
    "SimpleRNN": lambda **kw: SimpleRNN(U, **kw),
    "SimpleRNN-nobias": lambda **kw: SimpleRNN(U, use_bias=False, **kw),
    "LSTM": lambda **kw: LSTM(U, **kw),
    "LSTM-peephole": lambda **kw: LSTM(U, peephole=True, **kw),
    "LSTM-peephole-nobias": lambda **kw: LSTM(U, peephole=True, use_bias=False, **kw),
    "GRU": lambda **kw: GRU(U, **kw),
    "GRU-reset_before": lambda **kw: GRU(U, reset_after=False, **kw),
}


def make(kind, seed=0, features=F, **kw):
    """A layer and float64 parameters with no zero entries (biases too)."""
    layer = KINDS[kind](**kw)
    rng = np.random.default_rng(seed)
    params = {k: v.astype(np.float64) + 0.3 * rng.standard_normal(v.shape)
              for k, v in layer.init_params(rng, (T, features)).items()}
    return layer, params


def inputs(seed=1, n=N, steps=T, features=F):
    return np.random.default_rng(seed).standard_normal((n, steps, features))


def traced_forward(layer, params, x):
    """The output as the reverse mode computes it (fused op or traced loop)."""
    return adkit.vjp(lambda p: layer.call(p, x, Context()), params)[0]


# --- forward passes -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_forward_matches_reference(kind, return_sequences, go_backwards):
    layer, p = make(kind, return_sequences=return_sequences, go_backwards=go_backwards)
    x = inputs()
    want = reference(layer, p, x)
    assert want.shape == (N,) + layer.compute_output_shape((T, F))
    np.testing.assert_allclose(layer.call(p, x, Context()), want, rtol=1e-12, atol=1e-14)
    for implementation in (1, 2):
        layer.implementation = implementation
        np.testing.assert_allclose(traced_forward(layer, p, x), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "LSTM-peephole", "GRU",
                                  "GRU-reset_before"])
def test_float32_in_float32_out(kind):
    layer = KINDS[kind](return_sequences=True)
    p = layer.init_params(np.random.default_rng(0), (T, F))
    assert all(v.dtype == np.float32 for v in p.values())
    x = inputs().astype(np.float32)
    y = layer.call(p, x, Context())
    assert y.dtype == np.float32
    want = reference(layer, {k: v.astype(np.float64) for k, v in p.items()}, x.astype(float))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    assert traced_forward(layer, p, x).dtype == np.float32
    g = adkit.grad(lambda p: np.sum(layer.call(p, x, Context())))(p)
    assert all(g[k].dtype == np.float32 for k in p)


def test_timesteps_need_not_be_known_and_may_differ_between_calls():
    layer = LSTM(U, return_sequences=True)
    assert layer.compute_output_shape((None, F)) == (None, U)
    p = layer.init_params(np.random.default_rng(0), (None, F))
    for steps in (1, 5):
        assert layer.call(p, inputs(steps=steps), Context()).shape == (N, steps, U)


def test_non_default_activations_use_the_traced_loop():
    layer, p = make("LSTM", activation="softsign", recurrent_activation="hard_sigmoid")
    x = inputs()
    f = lambda p: np.sum(layer.call(p, x, Context()) ** 2)
    g = adkit.grad(f)(p)
    layer.implementation = 1
    g1 = adkit.grad(f)(p)
    for k in p:
        np.testing.assert_array_equal(g[k], g1[k])


# --- derivatives ------------------------------------------------------------------------------

GRAD_CASES = [  # (kind, return_sequences, go_backwards): every kind, both settings seen
    ("SimpleRNN", True, False), ("SimpleRNN-nobias", False, True),
    ("LSTM", False, False), ("LSTM", True, True),
    ("LSTM-peephole", True, False), ("LSTM-peephole-nobias", False, True),
    ("GRU", True, True), ("GRU", False, False),
    ("GRU-reset_before", True, False), ("GRU-reset_before", False, True),
]
# SymPy would take minutes on these expressions; the two engines and the numeric
# referee (Richardson differences with an error estimate) decide.
MODES = ("forward", "reverse", "numeric")


@pytest.mark.parametrize("implementation", [1, 2])
@pytest.mark.parametrize("kind,return_sequences,go_backwards", GRAD_CASES)
def test_check_grads_params_and_inputs(kind, return_sequences, go_backwards, implementation):
    layer, p = make(kind, return_sequences=return_sequences, go_backwards=go_backwards,
                    implementation=implementation)
    adkit.check_grads(lambda p, x: layer.call(p, x, Context()), (p, inputs()), modes=MODES)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_backward_equals_adkits_derivative_of_the_traced_loop(
        kind, return_sequences, go_backwards):
    layer, p = make(kind, features=4, return_sequences=return_sequences,
                    go_backwards=go_backwards)
    x = inputs(n=5, steps=6, features=4)
    w = np.random.default_rng(2).standard_normal(np.shape(reference(layer, p, x)))
    f = lambda p, x: np.sum(np.sin(layer.call(p, x, Context())) * w)
    fused = adkit.grad(f, (0, 1))(p, x)
    layer.implementation = 1
    traced = adkit.grad(f, (0, 1))(p, x)
    for k in p:
        np.testing.assert_allclose(fused[0][k], traced[0][k], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(fused[1], traced[1], rtol=1e-11, atol=1e-13)


def test_check_grads_through_stacked_layers_and_bidirectional():
    first, p1 = make("LSTM-peephole", return_sequences=True)
    second = Bidirectional(GRU(2, go_backwards=True), merge_mode="mul")
    p2 = second.init_params(np.random.default_rng(3), (T, U))
    p2 = {d: {k: v.astype(float) for k, v in sub.items()} for d, sub in p2.items()}

    def f(p1, p2, x):
        ctx = Context()
        return second.call(p2, first.call(p1, x, ctx), ctx)
    adkit.check_grads(f, (p1, p2, inputs()), modes=MODES)


def test_second_derivatives_of_the_fused_lstm():
    """Its backward pass is NumPy on traced values, so it differentiates again."""
    layer, p = make("LSTM-peephole", return_sequences=True, go_backwards=True)
    x = inputs(steps=2)

    def f(recurrent_kernel, peephole):
        q = dict(p, recurrent_kernel=recurrent_kernel, peephole=peephole)
        return np.sum(np.cos(layer.call(q, x, Context())))
    adkit.check_grads(f, (p["recurrent_kernel"], p["peephole"]), order=2, modes=MODES)


def test_fused_layers_are_one_tape_entry():
    from adkit.reverse import Tape
    layer, p = make("LSTM", return_sequences=True)
    counts = {}
    for implementation in (1, 2):
        layer.implementation = implementation
        with Tape() as tape:
            layer.call({k: tape.watch(v) for k, v in p.items()}, inputs(), Context())
        counts[implementation] = len(tape.entries) - len(p)
    assert counts[2] == 1 and counts[1] > 10 * T


# --- PyTorch, given the same weights --------------------------------------------------------

def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed; the comparison "
                               "with torch.nn.LSTM/GRU runs where it is (pip install torch)")


def _gru_to_torch(m):
    """Keras's GRU blocks (z, r, h) in PyTorch's order (r, z, n), as rows."""
    z, r, h = np.split(m, 3, axis=-1)
    return np.concatenate([r, z, h], axis=-1).T


def test_lstm_matches_torch():
    torch = _torch()
    layer, p = make("LSTM", return_sequences=True)
    x = inputs(n=4, steps=5)
    ref = torch.nn.LSTM(F, U, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.from_numpy(p["kernel"].T))
        ref.weight_hh_l0.copy_(torch.from_numpy(p["recurrent_kernel"].T))
        ref.bias_ih_l0.copy_(torch.from_numpy(p["bias"]))
        ref.bias_hh_l0.zero_()
        want = ref(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(layer.call(p, x, Context()), want, rtol=1e-10, atol=1e-12)


def test_gru_matches_torch():
    torch = _torch()
    layer, p = make("GRU", return_sequences=True)
    x = inputs(n=4, steps=5)
    ref = torch.nn.GRU(F, U, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.from_numpy(_gru_to_torch(p["kernel"])))
        ref.weight_hh_l0.copy_(torch.from_numpy(_gru_to_torch(p["recurrent_kernel"])))
        ref.bias_ih_l0.copy_(torch.from_numpy(_gru_to_torch(p["bias"][0])))
        ref.bias_hh_l0.copy_(torch.from_numpy(_gru_to_torch(p["bias"][1])))
        want = ref(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(layer.call(p, x, Context()), want, rtol=1e-10, atol=1e-12)


def test_bidirectional_lstm_matches_torch_and_its_gradient_too():
    torch = _torch()
    layer = Bidirectional(LSTM(U, return_sequences=True))
    p = layer.init_params(np.random.default_rng(0), (T, F))
    x = inputs(n=4, steps=5).astype(np.float32)
    ref = torch.nn.LSTM(F, U, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for suffix, d in (("", "forward"), ("_reverse", "backward")):
            getattr(ref, "weight_ih_l0" + suffix).copy_(torch.from_numpy(p[d]["kernel"].T))
            getattr(ref, "weight_hh_l0" + suffix).copy_(
                torch.from_numpy(p[d]["recurrent_kernel"].T))
            getattr(ref, "bias_ih_l0" + suffix).copy_(torch.from_numpy(p[d]["bias"]))
            getattr(ref, "bias_hh_l0" + suffix).zero_()
    xt = torch.from_numpy(x)
    out = ref(xt)[0]
    torch.sum(out ** 2).backward()
    np.testing.assert_allclose(layer.call(p, x, Context()), out.detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    g = adkit.grad(lambda p: np.sum(layer.call(p, x, Context()) ** 2))(p)
    np.testing.assert_allclose(g["backward"]["recurrent_kernel"],
                               ref.weight_hh_l0_reverse.grad.numpy().T, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g["forward"]["kernel"], ref.weight_ih_l0.grad.numpy().T,
                               rtol=1e-4, atol=1e-5)


# --- Bidirectional --------------------------------------------------------------------------

@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_merge_modes(merge_mode, return_sequences):
    layer = Bidirectional(GRU(U, return_sequences=return_sequences), merge_mode=merge_mode)
    p = layer.init_params(np.random.default_rng(0), (T, F))
    p = {d: {k: v.astype(float) for k, v in sub.items()} for d, sub in p.items()}
    assert set(p) == {"forward", "backward"}
    x = inputs()
    y = gru_reference(p["forward"], x, return_sequences=return_sequences)
    y_back = gru_reference(p["backward"], x[:, ::-1], return_sequences=return_sequences)
    if return_sequences:
        y_back = y_back[:, ::-1]  # step t of both directions lines up with input t
    want = {"concat": np.concatenate([y, y_back], axis=-1), "sum": y + y_back,
            "mul": y * y_back, "ave": (y + y_back) / 2}[merge_mode]
    assert want.shape == (N,) + layer.compute_output_shape((T, F))
    np.testing.assert_allclose(layer.call(p, x, Context()), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(traced_forward(layer, p, x), want, rtol=1e-12, atol=1e-14)


def test_bidirectional_config_round_trip_and_penalty():
    inner = LSTM(U, peephole=True, return_sequences=True, kernel_regularizer=regularizers.l2(0.1),
                 name="enc")
    layer = Bidirectional(inner, merge_mode="ave", name="bi")
    assert layer.backward_layer.go_backwards and not layer.forward_layer.go_backwards
    config = json.loads(json.dumps(serialize(layer)))
    copy = deserialize(config)
    assert isinstance(copy, Bidirectional) and isinstance(copy.forward_layer, LSTM)
    assert copy.get_config() == layer.get_config()
    p = layer.init_params(np.random.default_rng(0), (T, F))
    x = inputs().astype(np.float32)
    np.testing.assert_array_equal(copy.call(p, x, Context()), layer.call(p, x, Context()))
    want = 0.1 * sum(np.sum(p[d]["kernel"] ** 2) for d in ("forward", "backward"))
    np.testing.assert_allclose(layer.penalty(p), want, rtol=1e-6)


def test_bidirectional_constraints_reach_both_directions():
    layer = Bidirectional(SimpleRNN(U, kernel_constraint="non_neg"))
    p = layer.init_params(np.random.default_rng(0), (T, F))
    for pname, constraint in layer.constraints.items():  # what a model does after a step
        constraint(p[pname])
    for d in ("forward", "backward"):
        assert p[d]["kernel"].min() == 0 and p[d]["recurrent_kernel"].min() < 0


def test_bidirectional_takes_the_input_shape_of_the_layer_it_wraps():
    assert Bidirectional(GRU(2, input_shape=(None, 4))).input_shape == (None, 4)


def test_bidirectional_refuses_what_it_cannot_wrap():
    with pytest.raises(TypeError, match="recurrent layer"):
        Bidirectional(Dense(3))
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(3), merge_mode="max")


# --- weights, shapes, configuration ------------------------------------------------------------

def test_weights_follow_keras():
    lstm = LSTM(4, peephole=True).init_params(np.random.default_rng(0), (7, 5))
    assert lstm["kernel"].shape == (5, 16) and lstm["recurrent_kernel"].shape == (4, 16)
    np.testing.assert_array_equal(lstm["bias"], np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    assert lstm["peephole"].shape == (3, 4)
    # orthogonal recurrent kernel: orthonormal rows
    np.testing.assert_allclose(lstm["recurrent_kernel"] @ lstm["recurrent_kernel"].T,
                               np.eye(4), atol=1e-6)
    assert GRU(4).init_params(np.random.default_rng(0), (7, 5))["bias"].shape == (2, 12)
    assert GRU(4, reset_after=False).init_params(np.random.default_rng(0), (7, 5))[
        "bias"].shape == (12,)
    assert "bias" not in SimpleRNN(4, use_bias=False).init_params(np.random.default_rng(0),
                                                                   (7, 5))
    assert {"SimpleRNN", "LSTM", "GRU", "Bidirectional"} <= set(Layer.REGISTRY)


def test_kernel_regularizer_applies_to_the_input_kernel_only():
    layer = SimpleRNN(U, kernel_regularizer=regularizers.l1(0.5))
    p = layer.init_params(np.random.default_rng(0), (T, F))
    np.testing.assert_allclose(layer.penalty(p), 0.5 * np.sum(np.abs(p["kernel"])), rtol=1e-6)


@pytest.mark.parametrize("make_layer", [lambda: SimpleRNN(3, name="rnn"),
                                        lambda: LSTM(3, name="rnn"),
                                        lambda: GRU(3, name="rnn")])
def test_shape_errors_name_the_layer_and_the_shape(make_layer):
    layer = make_layer()
    for bad in [(5,), (2, 3, 4), (4, None)]:
        with pytest.raises(ShapeError, match=r"'rnn'.*\(timesteps, features\).*got " +
                           re.escape(str(bad))):
            layer.compute_output_shape(bad)
    p = layer.init_params(np.random.default_rng(0), (T, F))
    with pytest.raises(ShapeError, match=r"'rnn'.*\(batch, timesteps, features\).*got \(2,\)"):
        layer.call(p, np.zeros((4, 2)), Context())


def test_bad_arguments():
    with pytest.raises(ValueError, match="units"):
        LSTM(0)
    with pytest.raises(ValueError, match="implementation"):
        GRU(3, implementation=3)
    with pytest.raises(ValueError, match="activation"):
        SimpleRNN(3, activation="swishy")


@pytest.mark.parametrize("layer", [
    SimpleRNN(5, activation="relu", use_bias=False, go_backwards=True, name="a"),
    LSTM(5, recurrent_activation="hard_sigmoid", unit_forget_bias=False, peephole=True,
         return_sequences=True, kernel_initializer="he_normal", implementation=1,
         kernel_regularizer=regularizers.l2(0.01), kernel_constraint="non_neg", name="b"),
    GRU(5, reset_after=False, bias_initializer="ones", input_shape=(None, 3), name="c"),
])
def test_config_round_trip(layer):
    config = json.loads(json.dumps(layer.get_config()))
    copy = type(layer).from_config(config)
    assert copy.get_config() == layer.get_config()
    again = deserialize(serialize(layer))
    assert type(again) is type(layer) and again.get_config() == layer.get_config()
    p = layer.init_params(np.random.default_rng(0), (T, 3))
    x = inputs(features=3).astype(np.float32)
    np.testing.assert_array_equal(copy.call(p, x, Context()), layer.call(p, x, Context()))
