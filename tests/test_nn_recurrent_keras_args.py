"""Keras's arguments of SimpleRNN, LSTM, GRU and Bidirectional: return_state and
initial_state, dropout and recurrent_dropout, the recurrent/bias regularizers and
constraints, and the accepted-or-refused ones (seed, unroll, use_cudnn, stateful).

Values are refereed by a plain NumPy recurrence written here (Keras's gate layout,
one gate at a time, from any initial state, returning the final states);
derivatives by adkit.numeric finite differences; Keras 3 itself when installed.
"""


import numpy as np
import pytest

import adkit
from adkit import numeric
from adkit.nn import Input, Model, Sequential, constraints, load_model, regularizers
from adkit.nn.callbacks import LambdaCallback
from adkit.nn.layers import (GRU, LSTM, Bidirectional, Context, Dense, Dropout, SimpleRNN,
                             deserialize, serialize)

from keras_referee import keras  # noqa: F401  (a fixture)

N, T, F, U = 3, 4, 2, 3


# --- the referee: the recurrence, one gate at a time -----------------------------------

def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def loop(kind, p, x, state, go_backwards=False, return_sequences=False, reset_after=True,
         in_masks=None, state_masks=None):
    """(output, final state list) of Keras's recurrence from `state`. in_masks /
    state_masks: one dropout mask per gate (or None), applied at every step."""
    u = p["recurrent_kernel"].shape[0]
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[kind]
    W = np.split(p["kernel"], gates, axis=1)
    R = np.split(p["recurrent_kernel"], gates, axis=1)
    bias = p.get("bias")
    if kind == "GRU" and reset_after:
        b_in, b_rec = (np.zeros(3 * u), np.zeros(3 * u)) if bias is None else bias
    else:
        b_in, b_rec = (np.zeros(gates * u) if bias is None else bias), np.zeros(gates * u)
    b, rb = np.split(b_in, gates), np.split(b_rec, gates)
    in_masks = in_masks if in_masks is not None else [1.0] * gates
    state_masks = state_masks if state_masks is not None else [1.0] * gates
    state = [np.asarray(s, np.float64) for s in state]
    outputs = []
    for t in (range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])):
        xs = [x[:, t] * m for m in in_masks]
        h = state[0]
        hs = [h * m for m in state_masks]
        if kind == "SimpleRNN":
            h = np.tanh(xs[0] @ W[0] + hs[0] @ R[0] + b[0])
            state = [h]
        elif kind == "LSTM":
            c_prev = state[1]
            i = sigmoid(xs[0] @ W[0] + hs[0] @ R[0] + b[0])
            f = sigmoid(xs[1] @ W[1] + hs[1] @ R[1] + b[1])
            cand = np.tanh(xs[2] @ W[2] + hs[2] @ R[2] + b[2])
            o = sigmoid(xs[3] @ W[3] + hs[3] @ R[3] + b[3])
            c = f * c_prev + i * cand
            h = o * np.tanh(c)
            state = [h, c]
        else:
            z = sigmoid(xs[0] @ W[0] + b[0] + hs[0] @ R[0] + rb[0])
            r = sigmoid(xs[1] @ W[1] + b[1] + hs[1] @ R[1] + rb[1])
            if reset_after:
                cand = np.tanh(xs[2] @ W[2] + b[2] + r * (hs[2] @ R[2] + rb[2]))
            else:
                cand = np.tanh(xs[2] @ W[2] + b[2] + (r * hs[2]) @ R[2])
            h = z * state[0] + (1 - z) * cand
            state = [h]
        outputs.append(h)
    out = np.stack(outputs, axis=1) if return_sequences else outputs[-1]
    return out, state


LAYERS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1}


def make(kind, seed=0, **kw):
    """A layer and float64 parameters with no zero entries."""
    layer = LAYERS[kind](U, **kw)
    rng = np.random.default_rng(seed)
    params = {k: v.astype(np.float64) + 0.3 * rng.standard_normal(v.shape)
              for k, v in layer.init_params(rng, (T, F)).items()}
    return layer, params


def data(seed=1, n=N):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, T, F))
    states = [0.5 * rng.standard_normal((n, U)) for _ in range(2)]
    return x, states


CASES = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False})]


# --- 1. return_state and initial_state -------------------------------------------------

@pytest.mark.parametrize("kind,kw", CASES)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_return_state_matches_the_loop(kind, kw, return_sequences, go_backwards):
    layer, p = make(kind, return_state=True, return_sequences=return_sequences,
                    go_backwards=go_backwards, **kw)
    x, _ = data()
    got = layer.call(p, x, Context())
    zeros = [np.zeros((N, U))] * STATES[kind]
    out, state = loop(kind, p, x, zeros, go_backwards, return_sequences,
                      kw.get("reset_after", True))
    assert isinstance(got, list) and len(got) == 1 + STATES[kind]
    np.testing.assert_allclose(got[0], out, rtol=1e-10, atol=1e-12)
    for g, s in zip(got[1:], state):
        np.testing.assert_allclose(g, s, rtol=1e-10, atol=1e-12)
    assert layer.compute_output_shape((T, F)) == \
        [(T, U) if return_sequences else (U,)] + [(U,)] * STATES[kind]


@pytest.mark.parametrize("kind,kw", CASES)
@pytest.mark.parametrize("return_state", [False, True])
def test_initial_state_starts_the_loop(kind, kw, return_state):
    layer, p = make(kind, return_state=return_state, return_sequences=True, **kw)
    x, states = data()
    states = states[:STATES[kind]]
    got = layer.call(p, [x, *states], Context())
    out, final = loop(kind, p, x, states, return_sequences=True,
                      reset_after=kw.get("reset_after", True))
    np.testing.assert_allclose(got[0] if return_state else got, out, rtol=1e-10, atol=1e-12)
    if return_state:
        for g, s in zip(got[1:], final):
            np.testing.assert_allclose(g, s, rtol=1e-10, atol=1e-12)
    # and it changes the output: a zero start gives another one
    assert not np.allclose(out, loop(kind, p, x, [np.zeros((N, U))] * len(states),
                                     return_sequences=True,
                                     reset_after=kw.get("reset_after", True))[0])


def test_initial_state_with_a_mask_keeps_the_state_over_masked_steps():
    layer, p = make("LSTM", return_state=True)
    x, (h0, c0) = data()
    mask = np.ones((N, T), bool)
    mask[0, 2:] = False   # example 0 ends after 2 steps: its state is the loop's over 2
    out, h, c = layer.call(p, [x, h0, c0], Context(), mask=mask)
    ref_out, (ref_h, ref_c) = loop("LSTM", p, x[:1, :2], [h0[:1], c0[:1]])
    np.testing.assert_allclose(h[0], ref_h[0], rtol=1e-10)
    np.testing.assert_allclose(c[0], ref_c[0], rtol=1e-10)
    np.testing.assert_allclose(out[0], ref_out[0], rtol=1e-10)


@pytest.mark.parametrize("kind,kw", CASES)
def test_gradients_of_states_and_initial_state_match_finite_differences(kind, kw):
    layer, p = make(kind, return_state=True, return_sequences=True, **kw)
    x, states = data(n=2)
    states = [s[:2] for s in states[:STATES[kind]]]
    rng = np.random.default_rng(5)
    weights = [rng.standard_normal(s) for s in [(2, T, U)] + [(2, U)] * STATES[kind]]

    def loss(args):
        params, start = args
        outs = layer.call(params, [x, *start], Context())
        return sum(np.sum(w * o) for w, o in zip(weights, outs))

    args = (p, states)
    got = adkit.grad(loss)(args)
    expected = numeric.gradient(loss, args)
    for name in p:
        np.testing.assert_allclose(got[0][name], expected[0][name], rtol=1e-6, atol=1e-8)
    for g, e in zip(got[1], expected[1]):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
def test_bidirectional_return_state_and_initial_state(merge_mode):
    layer = Bidirectional(LSTM(U, return_state=True), merge_mode=merge_mode)
    rng = np.random.default_rng(0)
    p = {d: {k: v.astype(np.float64) + 0.3 * rng.standard_normal(v.shape)
             for k, v in ps.items()} for d, ps in layer.init_params(rng, (T, F)).items()}
    x, (h, c) = data()
    h_b, c_b = 0.5 * h[::-1], 0.5 * c
    got = layer.call(p, [x, h, c, h_b, c_b], Context())
    out_f, state_f = loop("LSTM", p["forward"], x, [h, c])
    out_b, state_b = loop("LSTM", p["backward"], x, [h_b, c_b], go_backwards=True)
    merged = np.concatenate([out_f, out_b], -1) if merge_mode == "concat" else out_f + out_b
    assert len(got) == 5
    np.testing.assert_allclose(got[0], merged, rtol=1e-10)
    for g, s in zip(got[1:], state_f + state_b):
        np.testing.assert_allclose(g, s, rtol=1e-10)
    width = 2 * U if merge_mode == "concat" else U
    assert layer.compute_output_shape((T, F)) == [(width,)] + [(U,)] * 4


def seq2seq(latent=8, enc_features=5, dec_features=6):
    """keras.io's lstm_seq2seq training model, small."""
    enc_in = Input(shape=(None, enc_features))
    _, h, c = LSTM(latent, return_state=True)(enc_in)
    dec_in = Input(shape=(None, dec_features))
    dec_out, _, _ = LSTM(latent, return_sequences=True, return_state=True)(
        dec_in, initial_state=[h, c])
    out = Dense(dec_features, activation="softmax")(dec_out)
    return Model([enc_in, dec_in], out, seed=3)


def seq2seq_data():
    rng = np.random.default_rng(0)
    xe = rng.random((48, 7, 5)).astype("float32")
    xd = rng.random((48, 4, 6)).astype("float32")
    # a target the decoder can learn from its own input
    y = np.eye(6, dtype="float32")[np.argmax(xd, axis=-1)]
    return xe, xd, y


def fit_losses(model, xe, xd, y, jit="auto", epochs=4):
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit)
    losses = []
    model.fit([xe, xd], y, batch_size=16, epochs=epochs, verbose=0, callbacks=[
        LambdaCallback(on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))])
    return np.array(losses)


def test_seq2seq_encoder_decoder_builds_trains_saves_and_loads(tmp_path):
    model = seq2seq()
    assert model.count_params() == 4 * (5 + 8 + 1) * 8 + 4 * (6 + 8 + 1) * 8 + 9 * 6
    xe, xd, y = seq2seq_data()
    losses = fit_losses(model, xe, xd, y, epochs=6)
    assert losses[-3:].mean() < losses[:3].mean()
    path = tmp_path / "s2s.keras"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict([xe, xd], verbose=0),
                                  model.predict([xe, xd], verbose=0))


def test_seq2seq_compiled_and_eager_steps_agree():
    xe, xd, y = seq2seq_data()
    compiled = fit_losses(seq2seq(), xe, xd, y, epochs=1)
    eager = fit_losses(seq2seq(), xe, xd, y, jit=False, epochs=1)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)


def test_encoder_states_feed_an_inference_decoder():
    """The inference half of keras.io's seq2seq: the decoder called again with states
    given as Inputs, its states returned as outputs."""
    dec_in, h_in, c_in = Input(shape=(None, 6)), Input(shape=(8,)), Input(shape=(8,))
    lstm = LSTM(8, return_sequences=True, return_state=True)
    out, h, c = lstm(dec_in, initial_state=[h_in, c_in])
    model = Model([dec_in, h_in, c_in], [out, h, c], seed=0)
    rng = np.random.default_rng(0)
    x, h0, c0 = rng.random((2, 3, 6)), rng.random((2, 8)), rng.random((2, 8))
    got = model.predict([x, h0, c0], verbose=0)
    p = {k: v.astype(np.float64) for k, v in model.params[lstm.name].items()}
    ref, (ref_h, ref_c) = loop("LSTM", p, x, [h0, c0], return_sequences=True)
    for g, r in zip(got, [ref, ref_h, ref_c]):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


def test_seq2seq_accuracy_is_the_mean_over_every_step():
    model = seq2seq()
    xe, xd, y = seq2seq_data()
    fit_losses(model, xe, xd, y, epochs=1)
    pred = model.predict([xe, xd], verbose=0)
    expected = np.mean(np.argmax(pred, -1) == np.argmax(y, -1))
    _, accuracy = model.evaluate([xe, xd], y, verbose=0)
    assert accuracy == pytest.approx(expected)


def test_a_sequential_model_refuses_a_layer_with_several_outputs():
    with pytest.raises(ValueError, match=r"'enc' \(LSTM\) gives 3 outputs.*functional API"):
        Sequential([Input((T, F)), LSTM(U, return_state=True, name="enc"), Dense(1)])


def test_bad_initial_state_names_the_layer():
    layer, p = make("LSTM")
    x, (h, c) = data()
    with pytest.raises(ValueError, match=r"'lstm.*takes 2 initial state"):
        layer.call(p, [x, h], Context())
    with pytest.raises(ValueError, match=r"initial state 1 must be \(batch, units\)"):
        layer.call(p, [x, h, c[:, :2]], Context())
    with pytest.raises(ValueError, match="takes 2 initial state"):
        layer(Input(shape=(T, F)), initial_state=[Input(shape=(U,))])
    with pytest.raises(ValueError, match=r"initial state 0 must have shape \(batch, 3\)"):
        layer(Input(shape=(T, F)), initial_state=[Input(shape=(4,)), Input(shape=(U,))])


# --- against Keras itself --------------------------------------------------------------


@pytest.mark.parametrize("kind,kw", CASES)
def test_return_state_and_initial_state_match_keras(keras, kind, kw):
    layer, p = make(kind, return_state=True, return_sequences=True, **kw)
    x, states = data()
    states = states[:STATES[kind]]
    twin = getattr(keras.layers, kind)(U, return_state=True, return_sequences=True, **kw)
    twin.build((None, T, F))
    twin.set_weights([p[k] for k in ("kernel", "recurrent_kernel", "bias")])
    expected = twin(x.astype("float32"), initial_state=[s.astype("float32") for s in states])
    got = layer.call(p, [x, *states], Context())
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, np.asarray(e), rtol=1e-4, atol=1e-5)


# --- 2. dropout and recurrent_dropout ---------------------------------------------------

def keras_masks(seed, rate, recurrent_rate, gates, n=N):
    """The masks a training call draws from default_rng(seed): inputs, then state, each
    `gates` masks (Keras's per-gate ones) or one; uniform draws >= rate kept, scaled."""
    rng = np.random.default_rng(seed)
    lead = (gates,) if gates else ()

    def draw(shape, r):
        return (rng.random(lead + shape, dtype=np.float32) >= r) / (1 - r)
    in_mask = draw((n, F), rate) if rate else None
    state_mask = draw((n, U), recurrent_rate) if recurrent_rate else None
    as_list = (lambda m: None if m is None else list(m)) if gates else \
        (lambda m: None if m is None else [m] * 4)
    return as_list(in_mask), as_list(state_mask)


DROPOUT_CASES = [("SimpleRNN", {}, None), ("LSTM", {}, None),
                 ("LSTM", {"implementation": 1}, 4), ("GRU", {}, None),
                 ("GRU", {"reset_after": False, "implementation": 1}, 3)]


@pytest.mark.parametrize("kind,kw,gates", DROPOUT_CASES)
def test_dropout_changes_nothing_in_inference(kind, kw, gates):
    layer, p = make(kind, dropout=0.4, recurrent_dropout=0.3, return_sequences=True, **kw)
    x, _ = data()
    expected, _ = loop(kind, p, x, [np.zeros((N, U))] * STATES[kind], return_sequences=True,
                       reset_after=kw.get("reset_after", True))
    np.testing.assert_allclose(layer.call(p, x, Context(training=False)), expected,
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind,kw,gates", DROPOUT_CASES)
@pytest.mark.parametrize("rates", [(0.4, 0.0), (0.0, 0.3), (0.4, 0.3)])
def test_training_uses_one_mask_per_sequence_as_keras(kind, kw, gates, rates):
    """Keras: recurrent_dropout > 0 draws one mask per gate (implementation 1); else the
    gates share one input mask (implementation 2's fused projection)."""
    layer, p = make(kind, dropout=rates[0], recurrent_dropout=rates[1],
                    return_sequences=True, **kw)
    per_gate = gates if gates else ({"LSTM": 4, "GRU": 3}.get(kind) if rates[1] else None)
    assert layer.implementation == (1 if per_gate else kw.get("implementation", 2))
    x, _ = data()
    got = layer.call(p, x, Context(training=True, rng=np.random.default_rng(7)))
    in_masks, state_masks = keras_masks(7, *rates, per_gate)
    expected, _ = loop(kind, p, x, [np.zeros((N, U))] * STATES[kind], return_sequences=True,
                       reset_after=kw.get("reset_after", True), in_masks=in_masks,
                       state_masks=state_masks)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


def test_an_input_mask_is_the_same_at_every_step():
    """A linear SimpleRNN with an identity kernel and no recurrence outputs x_t * mask:
    on a constant sequence every step shows the same mask, 0 or 1 / (1 - rate)."""
    layer = SimpleRNN(4, activation="linear", dropout=0.5, return_sequences=True,
                      use_bias=False)
    p = {"kernel": np.eye(4), "recurrent_kernel": np.zeros((4, 4))}
    out = layer.call(p, np.ones((64, 6, 4)), Context(training=True,
                                                     rng=np.random.default_rng(0)))
    assert set(np.unique(out)) == {0.0, 2.0}
    np.testing.assert_array_equal(out, np.repeat(out[:, :1], 6, axis=1))
    assert 0.3 < np.mean(out == 0) < 0.7


def test_each_call_draws_new_masks():
    layer, p = make("LSTM", dropout=0.5, recurrent_dropout=0.5)
    x, _ = data()
    ctx = Context(training=True, rng=np.random.default_rng(0))
    first, second = layer.call(p, x, ctx), layer.call(p, x, ctx)
    assert not np.allclose(first, second)


@pytest.mark.parametrize("kind,kw,gates", DROPOUT_CASES)
def test_gradients_with_dropout_match_finite_differences(kind, kw, gates):
    layer, p = make(kind, dropout=0.3, recurrent_dropout=0.3, return_sequences=True, **kw)
    x, _ = data(n=2)
    w = np.random.default_rng(3).standard_normal((2, T, U))

    def loss(params):   # the same masks every evaluation: a fresh generator of one seed
        ctx = Context(training=True, rng=np.random.default_rng(11))
        return np.sum(w * layer.call(params, x, ctx))

    got, expected = adkit.grad(loss)(p), numeric.gradient(loss, p)
    for name in p:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_dropout_trains_compiled_and_eager_alike(kind):
    from layer_fit_support import batch_losses
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5, 3)).astype("float32")
    y = np.sum(x[:, :, :1], axis=1)

    def layers():
        return [LAYERS[kind](8, dropout=0.2, recurrent_dropout=0.2, input_shape=(5, 3)),
                Dense(1)]
    compiled, model = batch_losses(layers(), x, y, epochs=4)
    eager, _ = batch_losses(layers(), x, y, jit=False, epochs=4)
    np.testing.assert_allclose(compiled, eager, rtol=1e-4)
    assert compiled[-4:].mean() < compiled[:4].mean()
    step = model.trainer.compiled_step   # really compiled, with its draws replanned
    assert model.trainer.eager_reason is None and step is not None
    assert not step.eager_reasons, step.eager_reasons


# --- 3. weight options, and the arguments accepted or refused by name ------------------

@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_and_bias_regularizers_reach_the_loss(kind):
    layer = LAYERS[kind](U, kernel_regularizer=regularizers.l2(0.1),
                         recurrent_regularizer=regularizers.l1(0.2),
                         bias_regularizer=regularizers.l2(0.3), input_shape=(T, F))
    model = Sequential([layer], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    p = model.params[layer.name]
    p["bias"][...] = np.random.default_rng(0).standard_normal(p["bias"].shape)  # not zeros
    x, y = np.ones((2, T, F), np.float32), np.zeros((2, U), np.float32)
    penalty = (0.1 * np.sum(p["kernel"].astype(np.float64) ** 2)
               + 0.2 * np.sum(np.abs(p["recurrent_kernel"].astype(np.float64)))
               + 0.3 * np.sum(p["bias"].astype(np.float64) ** 2))
    assert layer.penalty(p) == pytest.approx(penalty, rel=1e-5)
    total, (out, _) = model.loss_fn(model.params, x, y, training=False)
    data_loss = np.mean(np.mean((np.asarray(out, np.float64) - y) ** 2, axis=-1))
    assert float(total) == pytest.approx(data_loss + penalty, rel=1e-5)


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("jit", ["auto", False])
def test_constraints_hold_after_every_step(kind, jit):
    layer = LAYERS[kind](U, kernel_constraint=constraints.MaxNorm(0.1),
                         recurrent_constraint=constraints.NonNeg(),
                         bias_constraint=constraints.MinMaxNorm(0.0, 0.05, axis=0),
                         input_shape=(T, F))
    model = Sequential([layer, Dense(1)], seed=0)
    model.compile(optimizer="adam", loss="mse", jit_compile=jit)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, T, F)), rng.standard_normal((32, 1))
    seen = []

    def check(batch, logs):
        p = model.params[layer.name]
        seen.append((np.max(np.sqrt(np.sum(p["kernel"] ** 2, axis=0))),
                     np.min(p["recurrent_kernel"]),
                     np.max(np.sqrt(np.sum(p["bias"] ** 2, axis=0)))))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[LambdaCallback(on_train_batch_end=check)])
    assert len(seen) == 4
    for kernel_norm, recurrent_min, bias_norm in seen:
        assert kernel_norm <= 0.1 + 1e-6 and recurrent_min >= 0 and bias_norm <= 0.05 + 1e-6


def test_initializers_reach_the_weights():
    layer = LSTM(U, kernel_initializer="ones", recurrent_initializer="zeros",
                 bias_initializer="ones", unit_forget_bias=False)
    p = layer.init_params(np.random.default_rng(0), (T, F))
    assert np.all(p["kernel"] == 1) and np.all(p["recurrent_kernel"] == 0)
    assert np.all(p["bias"] == 1)


KERAS_ARGS = ["units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer",
              "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
              "bias_regularizer", "activity_regularizer", "kernel_constraint",
              "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout",
              "seed", "return_sequences", "return_state", "go_backwards", "stateful",
              "unroll"]


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_every_keras_argument_is_taken_and_kept_in_the_config(kind):
    extra = {} if kind == "SimpleRNN" else {"use_cudnn": False}
    layer = LAYERS[kind](U, dropout=0.1, recurrent_dropout=0.2, seed=4, unroll=True,
                         return_state=True, stateful=False,
                         recurrent_regularizer=regularizers.l2(0.01),
                         bias_constraint=constraints.NonNeg(), **extra)
    config = layer.get_config()
    assert set(KERAS_ARGS) <= set(config)
    assert (config["dropout"], config["recurrent_dropout"], config["seed"]) == (0.1, 0.2, 4)
    assert config["unroll"] is True and config["return_state"] is True
    if extra:
        assert config["use_cudnn"] is False
    again = deserialize(serialize(layer))
    assert again.get_config() == config
    assert type(again.constraints["bias"]).__name__ == "NonNeg"
    assert again.regularizers["recurrent_kernel"] is not None


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_unroll_and_use_cudnn_auto_compute_the_same(kind):
    x, _ = data()
    a, p = make(kind)
    b, _ = make(kind, unroll=True, use_cudnn=False)
    np.testing.assert_array_equal(a.call(p, x, Context()), b.call(p, x, Context()))


def test_arguments_refused_by_name():
    with pytest.raises(ValueError, match=r"GRU 'g': use_cudnn=True.*cuDNN"):
        GRU(2, use_cudnn=True, name="g")
    with pytest.raises(ValueError, match="use_cudnn must be 'auto' or False"):
        LSTM(2, use_cudnn="yes")
    with pytest.raises(TypeError, match="unknown keyword arguments.*use_cudnn"):
        SimpleRNN(2, use_cudnn="auto")   # as Keras: SimpleRNN has no such argument
    with pytest.raises(ValueError, match=r"SimpleRNN 's': dropout must be a number in \[0, 1\)"):
        SimpleRNN(2, dropout=1.5, name="s")
    with pytest.raises(ValueError, match="recurrent_dropout must be"):
        LSTM(2, recurrent_dropout=-0.1)
    with pytest.raises(TypeError, match="seed must be an int"):
        GRU(2, seed="x")
    with pytest.raises(ValueError, match="activity_regularizer is not supported"):
        LSTM(2, activity_regularizer="l2")


def test_keras_config_keys_match(keras):
    for kind in ("SimpleRNN", "LSTM", "GRU"):
        theirs = set(getattr(keras.layers, kind)(U).get_config())
        ours = set(LAYERS[kind](U).get_config())
        # ours adds its own: input_shape-free, implementation, peephole, zero_output_for_mask
        missing = theirs - ours - {"dtype", "trainable", "name"}
        assert not missing, (kind, missing)


# --- Bidirectional(backward_layer=) -------------------------------------------------------

def test_bidirectional_takes_a_backward_layer():
    forward = LSTM(U, return_sequences=True)
    backward = GRU(2, return_sequences=True, go_backwards=True, name="back")
    layer = Bidirectional(forward, backward_layer=backward)
    assert layer.backward_layer is backward
    assert layer.compute_output_shape((T, F)) == (T, U + 2)
    rng = np.random.default_rng(0)
    p = layer.init_params(rng, (T, F))
    p = {d: {k: v.astype(np.float64) for k, v in ps.items()} for d, ps in p.items()}
    x, _ = data()
    out_f, _ = loop("LSTM", p["forward"], x, [np.zeros((N, U))] * 2, return_sequences=True)
    out_b, _ = loop("GRU", p["backward"], x, [np.zeros((N, 2))], go_backwards=True,
                    return_sequences=True)
    np.testing.assert_allclose(layer.call(p, x, Context()),
                               np.concatenate([out_f, out_b[:, ::-1]], -1), rtol=1e-10)
    again = deserialize(serialize(layer))
    assert isinstance(again.backward_layer, GRU) and again.backward_layer.name == "back"
    plain = deserialize(serialize(Bidirectional(LSTM(U, name="f"))))   # Keras's config
    assert plain.backward_layer.name == "backward_f" and plain.backward_layer.go_backwards


def test_bidirectional_refuses_a_backward_layer_that_does_not_fit():
    with pytest.raises(ValueError, match="go_backwards=True"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2))
    with pytest.raises(ValueError, match="return_sequences"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2, go_backwards=True, return_sequences=True))
    with pytest.raises(TypeError, match="backward_layer must be a recurrent layer"):
        Bidirectional(LSTM(2), backward_layer=Dense(2))


def test_bidirectional_with_return_state_in_a_functional_model(tmp_path):
    inp = Input(shape=(T, F))
    out, h_f, c_f, h_b, c_b = Bidirectional(LSTM(U, return_state=True))(inp)
    model = Model(inp, [out, h_f, c_b], seed=0)
    x, _ = data()
    got = model.predict(x, verbose=0)
    assert [g.shape for g in got] == [(N, 2 * U), (N, U), (N, U)]
    np.testing.assert_allclose(got[1], got[0][:, :U], rtol=1e-6)   # h_f is the last output
    model.save(tmp_path / "bi.keras")
    for g, e in zip(load_model(tmp_path / "bi.keras").predict(x, verbose=0), got):
        np.testing.assert_array_equal(g, e)


# --- Dropout(noise_shape=, seed=) ----------------------------------------------------------

def test_dropout_noise_shape_shares_the_mask_over_broadcast_axes():
    layer = Dropout(0.5, noise_shape=(None, 1, 6), seed=3)
    out = layer.call({}, np.ones((40, 5, 6), np.float32),
                     Context(training=True, rng=np.random.default_rng(0)))
    np.testing.assert_array_equal(out, np.repeat(out[:, :1], 5, axis=1))
    assert set(np.unique(out)) == {0.0, 2.0}
    assert layer.get_config()["noise_shape"] == [None, 1, 6]
    assert layer.get_config()["seed"] == 3
    again = deserialize(serialize(layer))
    assert again.noise_shape == (None, 1, 6) and again.seed == 3
    x = np.ones((2, 5, 6), np.float32)
    assert layer.call({}, x, Context(training=False)) is x


def test_dropout_noise_shape_errors_name_the_layer():
    with pytest.raises(ValueError, match="noise_shape is a tuple of positive ints"):
        Dropout(0.5, noise_shape=(None, 0))
    layer = Dropout(0.5, noise_shape=(None, 3), name="d")
    with pytest.raises(ValueError, match=r"Dropout 'd': noise_shape \(None, 3\) must have 1 "
                                         "or the input's length"):
        layer.call({}, np.ones((2, 4)), Context(training=True, rng=np.random.default_rng(0)))


def test_dropout_noise_shape_trains_compiled_and_eager_alike():
    from layer_fit_support import batch_losses
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5, 3)).astype("float32")
    y = np.sum(x[:, :, :1], axis=1)

    def layers():
        return [Dropout(0.3, noise_shape=(None, 1, 3), input_shape=(5, 3)), LSTM(6), Dense(1)]
    compiled, _ = batch_losses(layers(), x, y, epochs=2)
    eager, _ = batch_losses(layers(), x, y, jit=False, epochs=2)
    np.testing.assert_allclose(compiled, eager, rtol=1e-4)


def test_dropout_gradient_with_noise_shape_matches_finite_differences():
    layer = Dropout(0.5, noise_shape=(None, 1, 3))
    x = np.random.default_rng(1).standard_normal((2, 4, 3))
    w = np.random.default_rng(2).standard_normal((2, 4, 3))

    def f(v):
        return np.sum(w * layer.call({}, v, Context(training=True,
                                                    rng=np.random.default_rng(5))) ** 2)
    np.testing.assert_allclose(adkit.grad(f)(x), numeric.gradient(f, x), rtol=1e-6,
                               atol=1e-8)


def test_bidirectional_return_state_matches_keras(keras):
    layer = Bidirectional(GRU(U, return_state=True, return_sequences=True))
    rng = np.random.default_rng(0)
    p = {d: {k: v.astype(np.float64) + 0.3 * rng.standard_normal(v.shape)
             for k, v in ps.items()} for d, ps in layer.init_params(rng, (T, F)).items()}
    twin = keras.layers.Bidirectional(keras.layers.GRU(U, return_state=True,
                                                       return_sequences=True))
    twin.build((None, T, F))
    twin.set_weights([p[d][k] for d in ("forward", "backward")
                      for k in ("kernel", "recurrent_kernel", "bias")])
    x, (h, _) = data()
    h_b = 0.5 * h[::-1]
    expected = twin(x.astype("float32"), initial_state=[h.astype("float32"),
                                                        h_b.astype("float32")])
    got = layer.call(p, [x, h, h_b], Context())
    assert len(got) == len(expected) == 3
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, np.asarray(e), rtol=1e-4, atol=1e-5)
    assert set(twin.get_config()) - set(layer.get_config()) <= {"dtype", "trainable", "name"}


def test_dropout_config_matches_keras(keras):
    theirs = keras.layers.Dropout(0.3, noise_shape=(None, 1, 4), seed=2).get_config()
    ours = Dropout(0.3, noise_shape=(None, 1, 4), seed=2).get_config()
    for key in ("rate", "noise_shape", "seed"):
        assert list(ours[key]) == list(theirs[key]) if key == "noise_shape" \
            else ours[key] == theirs[key]


def test_keras_weights_file_with_the_new_arguments_interchanges(keras, tmp_path):
    """A Keras model using the arguments (backward_layer of another kind, dropout,
    recurrent_dropout, noise_shape, string regularizers and constraints) and its adkit
    twin read each other's .weights.h5 and predict alike."""
    def build(lib):
        L = lib.layers
        return [lib.Input((T, F)),
                L.Bidirectional(L.LSTM(4, dropout=0.2, recurrent_dropout=0.1,
                                       return_sequences=True),
                                backward_layer=L.GRU(4, go_backwards=True,
                                                     return_sequences=True)),
                L.Dropout(0.3, noise_shape=(None, 1, 8), seed=1),
                L.SimpleRNN(2, recurrent_regularizer="l2", bias_constraint="non_neg"),
                L.Dense(1)]
    import adkit.nn as adkit_nn
    theirs = keras.Sequential(build(keras))
    ours = adkit_nn.Sequential(build(adkit_nn))
    assert ours.count_params() == theirs.count_params()
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    x, _ = data()
    x = x.astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0),
                               np.asarray(theirs.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)
