"""stateful=True SimpleRNN / LSTM / GRU (and Bidirectional): the final states of a
batch start the next batch, in predict, model(x), evaluate and fit, until
reset_state(). The carried states are not weights.

Values are refereed by the plain NumPy recurrence of test_nn_recurrent_keras_args
(Keras's gate layout, from any initial state) run over the whole sequence; Keras 3
itself where installed.
"""

import warnings

import numpy as np
import pytest

import adkit
from adkit import numeric
from adkit.nn import Input, Model, Sequential, load_model
from adkit.nn.layers import (GRU, LSTM, Bidirectional, Dense, Embedding, SimpleRNN,
                             deserialize, serialize)
from adkit.nn.layers.stateful_rnn import state_key

from keras_referee import keras  # noqa: F401  (a fixture)
from test_nn_recurrent_keras_args import loop

B, T, F, U = 2, 3, 2, 3
LAYERS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1}
CASES = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False})]


def stateful_model(kind, batch=B, return_sequences=False, seed=0, dtype="float64", **kw):
    """A model of one stateful layer for batches of `batch` (float64: the referee's)."""
    inp = Input(batch_shape=(batch, None, F), dtype=dtype)
    layer = LAYERS[kind](U, stateful=True, return_sequences=return_sequences, dtype=dtype,
                         **kw)
    model = Model(inp, layer(inp), seed=seed)
    return model, layer


def params64(model, layer):
    """The layer's weights, float64."""
    params = model.params[layer.name]
    assert all(w.dtype == np.float64 for w in params.values())
    return params


def chunks(seed=1, n=B, pieces=3):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, T, F)) for _ in range(pieces)]


def zeros(kind, n=B):
    return [np.zeros((n, U))] * STATES[kind]


# --- the states carry over from call to call ------------------------------------------

@pytest.mark.parametrize("kind,kw", CASES)
def test_consecutive_predicts_continue_the_sequence(kind, kw):
    model, layer = stateful_model(kind, return_sequences=True, **kw)
    p = params64(model, layer)
    xs = chunks()
    got = np.concatenate([model.predict(x, batch_size=B) for x in xs], axis=1)
    expected, final = loop(kind, p, np.concatenate(xs, axis=1), zeros(kind),
                           return_sequences=True, **kw)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    for s, e in zip(layer.states, final):
        np.testing.assert_allclose(s, e, rtol=1e-12, atol=1e-12)


def test_sample_i_of_each_batch_continues_sample_i_of_the_last():
    """predict over several batches: the rows of batch k + 1 start from the states of the
    same rows of batch k, as Keras documents (one state per sample position)."""
    model, layer = stateful_model("LSTM")
    p = params64(model, layer)
    x = np.concatenate(chunks(pieces=3), axis=0)   # 3 batches of B samples each
    got = model.predict(x, batch_size=B)
    state = zeros("LSTM")
    expected = []
    for k in range(3):
        out, state = loop("LSTM", p, x[k * B:(k + 1) * B], state)
        expected.append(out)
    np.testing.assert_allclose(got, np.concatenate(expected), rtol=1e-12, atol=1e-12)


def test_model_calls_on_arrays_carry_the_states_too():
    model, layer = stateful_model("GRU")
    p = params64(model, layer)
    x1, x2 = chunks(pieces=2)
    first, second = np.asarray(model(x1)), np.asarray(model(x2))
    state = zeros("GRU")
    e1, state = loop("GRU", p, x1, state)
    e2, _ = loop("GRU", p, x2, state)
    np.testing.assert_allclose(first, e1, rtol=1e-12)
    np.testing.assert_allclose(second, e2, rtol=1e-12)


def test_reset_state_starts_from_zeros_or_given_states():
    model, layer = stateful_model("LSTM")
    p = params64(model, layer)
    x1, x2 = chunks(pieces=2)
    assert layer.states is None   # as Keras: nothing carried before the first call
    first = model.predict(x1, batch_size=B)
    assert not np.allclose(model.predict(x1, batch_size=B), first)
    layer.reset_state()
    assert all(not s.any() for s in layer.states)
    np.testing.assert_array_equal(model.predict(x1, batch_size=B), first)
    layer.reset_states()   # Keras 2's name
    np.testing.assert_array_equal(model.predict(x1, batch_size=B), first)
    given = [np.full((B, U), 0.25), np.full((B, U), -0.5)]
    layer.reset_state(given)
    np.testing.assert_allclose(model.predict(x2, batch_size=B), loop("LSTM", p, x2, given)[0],
                               rtol=1e-12)
    with pytest.raises(ValueError, match=r"reset_state on layer 'lstm\w*' .*holds 2 state"):
        layer.reset_state([given[0]])
    with pytest.raises(ValueError, match=r"state h must be \(batch, units\)"):
        layer.reset_state([np.zeros((B + 1, U)), np.zeros((B + 1, U))])
    with pytest.raises(AttributeError, match="is not stateful"):
        LSTM(2).reset_state()


def test_char_rnn_generation_one_token_at_a_time():
    """The text-generation pattern: Input(batch_shape=(1, None)), Embedding, a stateful
    LSTM, then one predict per token equals one predict over the whole prompt."""
    inp = Input(batch_shape=(1, None))
    emb = Embedding(10, 4)(inp)
    seq = LSTM(5, stateful=True, return_sequences=True)(emb)
    model = Model(inp, Dense(10, activation="softmax")(seq), seed=3)
    tokens = np.array([[1, 4, 2, 7, 3]])
    whole = model.predict(tokens)
    model.layers[2].reset_state()
    steps = np.concatenate([model.predict(tokens[:, t:t + 1], verbose=0)
                            for t in range(tokens.shape[1])], axis=1)
    np.testing.assert_allclose(steps, whole, rtol=1e-5, atol=1e-6)


def test_sequential_with_batch_input_shape():
    """Keras 2's way: the first layer's batch_input_shape fixes the batch; the config
    keeps it, so a saved model is stateful for the same batch."""
    layer = SimpleRNN(U, stateful=True, batch_input_shape=(B, None, F))
    model = Sequential([layer, Dense(1)], seed=0)
    x1, x2 = chunks(pieces=2)
    a = model.predict(x1, batch_size=B)
    assert not np.allclose(model.predict(x1, batch_size=B), a)
    config = layer.get_config()
    assert config["batch_input_shape"] == [B, None, F] and config["stateful"] is True
    again = deserialize(serialize(layer))
    assert again.stateful and again.declared_batch_size == B


def test_sequential_started_by_input_batch_shape():
    model = Sequential([Input(batch_shape=(B, T, F)), GRU(U, stateful=True), Dense(1)], seed=0)
    x1 = chunks(pieces=1)[0]
    a = model.predict(x1, batch_size=B)
    assert not np.allclose(model.predict(x1, batch_size=B), a)


def test_input_batch_size_argument_fixes_the_batch():
    inp = Input(shape=(None, F), batch_size=B)
    layer = LSTM(U, stateful=True)
    model = Model(inp, layer(inp), seed=0)
    model.predict(chunks(pieces=1)[0], batch_size=B)
    assert layer.states[0].shape == (B, U)


# --- the fixed batch size ----------------------------------------------------------------

def test_a_stateful_layer_without_a_fixed_batch_is_refused_with_the_fix():
    inp = Input(shape=(None, F))
    model = Model(inp, LSTM(U, stateful=True, name="rnn")(inp), seed=0)
    with pytest.raises(ValueError, match=r"layer 'rnn' \(LSTM, stateful=True\).*batch size "
                                         r"must be fixed.*Input\(batch_shape="):
        model.predict(chunks(pieces=1)[0])


def test_a_batch_of_another_size_is_refused_with_the_fix():
    model, layer = stateful_model("SimpleRNN")
    with pytest.raises(ValueError, match=r"declared for batches of 2.*got a batch of 3.*"
                                         r"batch_size=2"):
        model.predict(np.zeros((3, T, F)), batch_size=3)
    with pytest.raises(ValueError, match="declared for batches of 2.*got a batch of 1"):
        model.predict(np.zeros((3, T, F)), batch_size=2)   # the last batch has 1 sample


def test_a_stateful_layer_in_a_model_used_as_a_layer_is_refused_by_name():
    """Its states would have no home in the outer model's state (nor stay out of its
    weights): refused rather than silently started from zeros."""
    inner = Sequential([Input(batch_shape=(B, T, F)), LSTM(U, stateful=True)], seed=0)
    x = chunks(pieces=1)[0]
    inner.predict(x, batch_size=B)   # called directly it carries its states
    inp = Input(batch_shape=(B, T, F))
    outer = Model(inp, Dense(1)(inner(inp)), seed=1)
    with pytest.raises(ValueError, match=r"stateful=True\) is in model .* used as a layer "
                                         r"of another model"):
        outer.predict(x, batch_size=B)


def test_input_batch_shape_errors():
    with pytest.raises(TypeError, match="shape= or batch_shape="):
        Input(shape=(2,), batch_shape=(1, 2))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        Input(shape=(2,), batch_size=0)


# --- the states are not weights ----------------------------------------------------------

def test_states_are_not_weights_and_are_not_saved(tmp_path):
    model, layer = stateful_model("LSTM")
    model.predict(chunks(pieces=1)[0], batch_size=B)
    assert state_key(layer) in model.state
    assert len(model.get_weights()) == 3
    assert model.count_params() == 4 * U * (F + U + 1)   # Keras's count: no states
    assert all(w.shape != (B, U) for w in model.weights)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    again = [l for l in loaded.layers if isinstance(l, LSTM)][0]
    assert again.stateful and again.states is None
    x = chunks(pieces=1)[0]
    layer.reset_state()
    np.testing.assert_allclose(loaded.predict(x, batch_size=B), model.predict(x, batch_size=B),
                               rtol=1e-6)


# --- training -----------------------------------------------------------------------------

def train(jit, kind="LSTM", epochs=6):
    inp = Input(batch_shape=(B, T, F))
    layer = LAYERS[kind](U, stateful=True)
    model = Model(inp, Dense(1)(layer(inp)), seed=4)
    model.compile(optimizer=adkit.nn.optimizers.Adam(learning_rate=0.02), loss="mse",
                  jit_compile=jit)
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((3 * B, T, F)), rng.standard_normal((3 * B, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", adkit.CompileWarning)   # the compiled step stays staged
        history = model.fit(x, y, batch_size=B, epochs=epochs, shuffle=False, verbose=0)
    return model, layer, history.history["loss"]


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_fit_compiled_and_eager_agree(kind):
    m1, l1, h1 = train(True, kind)
    m2, l2, h2 = train(False, kind)
    np.testing.assert_allclose(h1, h2, rtol=1e-5)
    for a, b in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(l1.states, l2.states):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert h1[-1] < h1[0]


def test_fit_carries_the_states_from_batch_to_batch():
    """With a learning rate of 0 the weights stay, so after fit the carried states are
    those of the forward pass over the batches in order, from zeros."""
    inp = Input(batch_shape=(B, T, F), dtype="float64")
    layer = LSTM(U, stateful=True, dtype="float64")
    model = Model(inp, Dense(1, dtype="float64")(layer(inp)), seed=4)
    model.compile(optimizer=adkit.nn.optimizers.SGD(learning_rate=0.0), loss="mse")
    p = params64(model, layer)
    xs = chunks(pieces=3)
    model.fit(np.concatenate(xs), np.zeros((3 * B, 1)), batch_size=B, shuffle=False, verbose=0)
    state = zeros("LSTM")
    for x in xs:
        _, state = loop("LSTM", p, x, state)
    for got, expected in zip(layer.states, state):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_gradient_from_a_carried_state_matches_finite_differences():
    """The loss of a batch that starts from carried states: its derivative in the
    weights (the states are constants, as Keras's state variables) against adkit.numeric."""
    model, layer = stateful_model("LSTM")
    params64(model, layer)
    x1, x2 = chunks(pieces=2)
    model.predict(x1, batch_size=B)
    state = {k: {n: np.asarray(a) for n, a in v.items()} for k, v in model.state.items()}
    assert np.abs(state[state_key(layer)]["c"]).max() > 0.01

    def loss(kernel):
        params = {**model.params, layer.name: {**model.params[layer.name], "kernel": kernel}}
        out, _ = model.apply(params, x2, state=state)
        return np.sum(out ** 2)
    kernel = model.params[layer.name]["kernel"]
    np.testing.assert_allclose(adkit.grad(loss)(kernel), numeric.gradient(loss, kernel),
                               rtol=1e-6, atol=1e-8)


# --- Bidirectional -------------------------------------------------------------------------

def test_bidirectional_stateful_carries_each_direction(tmp_path):
    inp = Input(batch_shape=(B, T, F), dtype="float64")
    wrapper = Bidirectional(SimpleRNN(U, stateful=True, dtype="float64"), dtype="float64")
    model = Model(inp, wrapper(inp), seed=0)
    pf, pb = model.params[wrapper.name]["forward"], model.params[wrapper.name]["backward"]
    x1, x2 = chunks(pieces=2)
    model.predict(x1, batch_size=B)
    got = model.predict(x2, batch_size=B)
    _, sf = loop("SimpleRNN", pf, x1, zeros("SimpleRNN"))
    _, sb = loop("SimpleRNN", pb, x1, zeros("SimpleRNN"), go_backwards=True)
    ef, _ = loop("SimpleRNN", pf, x2, sf)
    eb, _ = loop("SimpleRNN", pb, x2, sb, go_backwards=True)
    np.testing.assert_allclose(got, np.concatenate([ef, eb], axis=-1), rtol=1e-12)
    assert wrapper.stateful
    model.save(tmp_path / "bi.keras")   # walks the wrapped layers (no loop back up)
    assert load_model(tmp_path / "bi.keras").layers[1].stateful
    wrapper.reset_state()
    assert all(not s.any() for s in wrapper.forward_layer.states + wrapper.backward_layer.states)


# --- against Keras itself ------------------------------------------------------------------

@pytest.mark.parametrize("kind,kw", CASES)
def test_consecutive_calls_match_keras(keras, kind, kw):
    model, layer = stateful_model(kind, return_sequences=True, **kw)
    inp = keras.Input(batch_shape=(B, None, F))
    twin = getattr(keras.layers, kind)(U, stateful=True, return_sequences=True, **kw)
    referee = keras.Model(inp, twin(inp))
    twin.set_weights(layer.get_weights())
    xs = [x.astype("float32") for x in chunks()]
    for x in xs[:2]:   # Keras's model(x) assigns its state variables (JAX's predict does not)
        np.testing.assert_allclose(model.predict(x, batch_size=B), np.asarray(referee(x)),
                                   rtol=1e-4, atol=1e-5)
    layer.reset_state()
    twin.reset_state()
    np.testing.assert_allclose(model.predict(xs[2], batch_size=B), np.asarray(referee(xs[2])),
                               rtol=1e-4, atol=1e-5)
    for s, e in zip(layer.states, twin.states):
        np.testing.assert_allclose(s, np.asarray(e), rtol=1e-4, atol=1e-5)


def test_bidirectional_matches_keras(keras):
    inp = Input(batch_shape=(B, T, F))
    wrapper = Bidirectional(LSTM(U, stateful=True, return_sequences=True))
    model = Model(inp, wrapper(inp), seed=0)
    kin = keras.Input(batch_shape=(B, T, F))
    twin = keras.layers.Bidirectional(keras.layers.LSTM(U, stateful=True,
                                                        return_sequences=True))
    referee = keras.Model(kin, twin(kin))
    referee.set_weights(model.get_weights())
    for x in chunks(pieces=2):
        x = x.astype("float32")
        np.testing.assert_allclose(model.predict(x, batch_size=B), np.asarray(referee(x)),
                                   rtol=1e-4, atol=1e-5)


def test_config_matches_keras(keras):
    ours = LSTM(U, stateful=True).get_config()
    theirs = keras.layers.LSTM(U, stateful=True).get_config()
    assert ours["stateful"] is theirs["stateful"] is True
