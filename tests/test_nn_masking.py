"""Keras's masks: Masking and Embedding(mask_zero=True) make them, Dense and the like pass
them on, SimpleRNN, LSTM, GRU and Bidirectional skip the masked steps. Values against
a reference written here (the recurrence run on the unmasked steps alone, in NumPy),
derivatives with adkit.check_grads against finite differences, save/load, compiled vs
eager training, and outputs against Keras itself when it is installed."""

import numpy as np
import pytest

import adkit
from adkit.nn import Input, Model, Sequential, load_model, optimizers
from adkit.nn.layers import (GRU, LSTM, Add, Attention, Bidirectional, Context, Dense,
                             Embedding, GlobalAveragePooling1D, Layer, Masking,
                             MultiHeadAttention, Reshape, SimpleRNN, TimeDistributed,
                             deserialize, serialize)

from keras_referee import keras  # noqa: F401  (a fixture)

RNNS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}


def normal(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def sequences():
    """(batch 3, 5 steps, 2 features), some steps padded with zeros (masked)."""
    x = normal((3, 5, 2), 1)
    x[0, 3:] = 0.0          # padding at the end
    x[1, :2] = 0.0          # padding at the start
    x[2, 2] = 0.0           # a hole in the middle
    return x, np.any(x != 0, axis=-1)


@pytest.mark.parametrize("kind", sorted(RNNS))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_a_masked_recurrence_is_the_recurrence_over_the_kept_steps(kind, go_backwards):
    """Each example's last output is the layer run on its unmasked steps alone."""
    layer = RNNS[kind](3, go_backwards=go_backwards)
    params = layer.init_params(np.random.default_rng(0), (5, 2))
    x, mask = sequences()
    got = layer.call(params, x, Context(), mask=mask)
    for i in range(3):
        kept = x[i:i + 1, mask[i]]
        np.testing.assert_allclose(got[i], layer.call(params, kept, Context())[0],
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(RNNS))
def test_returned_sequences_carry_the_last_output_over_masked_steps(kind):
    layer = RNNS[kind](3, return_sequences=True)
    params = layer.init_params(np.random.default_rng(0), (5, 2))
    x, mask = sequences()
    got = layer.call(params, x, Context(), mask=mask)
    for i in range(3):
        previous = np.zeros(3, np.float32)
        for t in range(5):
            if mask[i, t]:
                previous = layer.call(params, x[i:i + 1, :t + 1][:, mask[i, :t + 1]],
                                      Context())[0, -1]
            np.testing.assert_allclose(got[i, t], previous, rtol=1e-5, atol=1e-6)
    zeroed = RNNS[kind](3, return_sequences=True, zero_output_for_mask=True)
    out = zeroed.call(params, x, Context(), mask=mask)
    assert np.all(out[~mask] == 0)
    np.testing.assert_allclose(out[mask], got[mask], rtol=1e-6)


MODES = ("forward", "reverse", "numeric")


@pytest.mark.parametrize("kind", sorted(RNNS))
def test_check_grads_of_a_masked_recurrence(kind):
    layer = RNNS[kind](2, return_sequences=True, dtype="float64")
    params = layer.init_params(np.random.default_rng(0), (3, 2))
    x = np.random.default_rng(1).normal(size=(2, 3, 2))
    mask = np.array([[True, False, True], [False, True, True]])
    adkit.check_grads(lambda p, x: layer.call(p, x, Context(), mask=mask), (params, x),
                      modes=MODES)


def test_masking_zeroes_the_masked_steps_and_makes_the_mask():
    layer = Masking(mask_value=-1.0)
    x = np.array([[[1.0, -1.0], [-1.0, -1.0], [0.0, 2.0]]], np.float32)
    np.testing.assert_array_equal(layer.call({}, x, Context()),
                                  [[[1.0, -1.0], [0.0, 0.0], [0.0, 2.0]]])
    np.testing.assert_array_equal(layer.compute_mask(x, None), [[True, False, True]])
    assert deserialize(serialize(layer)).mask_value == -1.0
    with pytest.raises(TypeError, match="mask_value must be a number"):
        Masking("zero")


def tokens():
    t = np.random.default_rng(2).integers(1, 9, (4, 6))
    t[0, 4:] = 0
    t[1, :3] = 0
    t[3, 1] = 0
    return t


def test_embedding_mask_zero_reaches_the_lstm_through_dense_in_a_sequential():
    model = Sequential([Embedding(10, 4, mask_zero=True, input_shape=(6,)),
                        Dense(4, activation="tanh"), LSTM(3)], seed=0)
    t = tokens()
    got = model.predict(t)
    p = model.params
    emb, dense, lstm = model.layers
    for i in range(4):
        kept = t[i:i + 1, t[i] != 0]
        h = np.tanh(p[emb.name]["embeddings"][kept] @ p[dense.name]["kernel"]
                    + p[dense.name]["bias"])
        np.testing.assert_allclose(got[i], lstm.call(p[lstm.name], h, Context())[0],
                                   rtol=1e-5, atol=1e-6)
    assert serialize(emb)["config"]["mask_zero"] is True


def test_a_merge_keeps_the_mask_for_the_lstm_after_it():
    inp = Input(shape=(6,), dtype="int32")
    h = Embedding(10, 4, mask_zero=True)(inp)
    summed = Add()([h, h])                 # merges keep the mask
    ends = LSTM(3, return_sequences=False, name="last")(summed)   # no sequence: no mask
    model = Model(inp, Dense(2)(ends), seed=0)
    t = tokens()
    p = model.params
    x = 2 * p[model.layers[1].name]["embeddings"][t]
    expected = model.get_layer("last").call(p["last"], x, Context(), mask=t != 0)
    np.testing.assert_allclose(model.layer_outputs(t)["last"][0], expected, rtol=1e-6)


def test_a_layer_that_does_not_pass_masks_ends_them():
    model = Sequential([Embedding(10, 4, mask_zero=True, input_shape=(6,)),
                        Reshape((6, 4)), LSTM(3)], seed=0)   # Reshape ends the mask
    t = tokens()
    emb, _, lstm = model.layers
    x = model.params[emb.name]["embeddings"][t]
    np.testing.assert_allclose(model.predict(t), lstm.call(model.params[lstm.name], x,
                                                           Context()), rtol=1e-6)


def test_a_custom_layer_that_supports_masking_passes_the_mask_on():
    class Doubled(Layer):
        supports_masking = True

        def call(self, params, x, ctx):
            return 2.0 * x

    model = Sequential([Embedding(10, 4, mask_zero=True, input_shape=(6,)), Doubled(),
                        LSTM(3)], seed=0)
    t = tokens()
    emb, _, lstm = model.layers
    x = 2.0 * model.params[emb.name]["embeddings"][t]
    np.testing.assert_allclose(model.predict(t), lstm.call(model.params[lstm.name], x,
                                                           Context(), mask=t != 0), rtol=1e-6)


def bidirectional_model():
    inp = Input(shape=(6,), dtype="int32")
    h = Embedding(10, 4, mask_zero=True, name="emb")(inp)
    h = Bidirectional(LSTM(3, return_sequences=True), name="bi")(h)
    out = Dense(1, name="out")(Bidirectional(GRU(2), merge_mode="sum")(h))
    return Model(inp, out, seed=0)


def test_bidirectional_sequences_are_zero_at_masked_steps():
    model = bidirectional_model()
    t = tokens()
    seq = model.layer_outputs(t)["bi"][0]
    assert seq.shape == (4, 6, 6)
    assert np.all(seq[t == 0] == 0) and np.all(np.abs(seq[t != 0]).sum(-1) > 0)


def test_save_load_and_compiled_training_with_masks(tmp_path):
    def run(jit):
        model = bidirectional_model()
        model.compile(optimizer=optimizers.Adam(0.02), loss="mse", jit_compile=jit)
        t = np.concatenate([tokens()] * 4)
        y = (np.sum(t, axis=1, keepdims=True) / 20.0).astype(np.float32)
        history = model.fit(t, y, epochs=5, batch_size=8, verbose=0, shuffle=False)
        return history.history["loss"], model
    (on, m_on), (off, _) = run("auto"), run(False)
    assert on[-1] < 0.7 * on[0]
    assert m_on.trainer.eager_reason is None and not m_on.trainer.compiled_step.eager_reasons
    np.testing.assert_allclose(on, off, rtol=1e-5)
    m_on.save(tmp_path / "m.adkit")
    t = tokens()
    np.testing.assert_array_equal(load_model(tmp_path / "m.adkit").predict(t),
                                  m_on.predict(t))


def test_attention_layers_use_the_keras_masks_of_their_inputs():
    """Embedding(mask_zero=True) -> MultiHeadAttention / Attention: the padding masks
    act as the explicit masks would (query and key steps), and the output keeps the
    query's mask for the LSTM after it."""
    t = tokens()
    pad = t != 0
    inp = Input(shape=(6,), dtype="int32")
    h = Embedding(10, 4, mask_zero=True, name="emb")(inp)
    mha = MultiHeadAttention(2, 3, name="mha")(h, h)
    att = Attention(name="att")([h, h])
    model = Model(inp, [LSTM(2, name="after_mha")(mha), att], seed=0)
    p = model.params
    x = p["emb"]["embeddings"][t]
    explicit = model.get_layer("mha").call(p["mha"], [x, x, x, pad[:, :, None] & pad[:, None]],
                                           Context())
    outs = model.layer_outputs(t)
    np.testing.assert_allclose(outs["mha"][0], explicit, rtol=1e-6)
    assert not np.allclose(explicit, model.get_layer("mha").call(p["mha"], [x, x], Context()))
    np.testing.assert_allclose(
        outs["after_mha"][0],
        model.get_layer("after_mha").call(p["after_mha"], explicit, Context(), mask=pad),
        rtol=1e-6)
    np.testing.assert_allclose(
        outs["att"][0], model.get_layer("att").call(p["att"], [x, x, x, pad, pad], Context(),
                                                    query_mask=True, value_mask=True),
        rtol=1e-6)


def test_global_average_pooling_averages_the_unmasked_steps_and_trains_compiled():
    def run(jit):
        inp = Input(shape=(6,), dtype="int32")
        pooled = GlobalAveragePooling1D(name="pool")(Embedding(10, 4, mask_zero=True,
                                                               name="emb")(inp))
        model = Model(inp, Dense(1, name="out")(pooled), seed=0)
        model.compile(optimizer=optimizers.Adam(0.05), loss="mse", jit_compile=jit)
        t = np.concatenate([tokens()] * 4)
        y = (t[:, :1] > 4).astype(np.float32)
        return model.fit(t, y, epochs=5, batch_size=8, verbose=0,
                         shuffle=False).history["loss"], model
    (on, model), (off, _) = run("auto"), run(False)
    assert on[-1] < on[0] and model.trainer.eager_reason is None
    np.testing.assert_allclose(on, off, rtol=1e-5)
    t = tokens()
    vectors = model.params["emb"]["embeddings"][t]
    expected = np.stack([vectors[i, t[i] != 0].mean(axis=0) for i in range(len(t))])
    np.testing.assert_allclose(model.layer_outputs(t)["pool"][0], expected, rtol=1e-6)


def test_a_mask_of_the_wrong_shape_is_named():
    layer = LSTM(2, name="rnn")
    params = layer.init_params(np.random.default_rng(0), (5, 2))
    with pytest.raises(ValueError, match=r"'rnn'.*mask must be \(batch, timesteps\)"):
        layer.call(params, normal((3, 5, 2)), Context(), mask=np.ones((3, 4), bool))


def test_opencl_refuses_masking_by_name():
    model = Sequential([Masking(input_shape=(5, 2)), Dense(1)], seed=0)
    with pytest.raises(ValueError, match=r"\(Masking\) has no OpenCL"):
        model.compile(optimizer="sgd", loss="mse", device="opencl")


# ---------------------------------------------------------------- against Keras itself

def graph(L, make_input, kind):
    if kind == "masking":
        x = make_input((5, 2), "float32")
        h = L.SimpleRNN(3, return_sequences=True)(L.Masking(0.0)(x))
        return x, L.GRU(2, return_sequences=True, go_backwards=True)(h)
    x = make_input((6,), "int32")
    h = L.Embedding(10, 4, mask_zero=True)(x)
    if kind == "embedding":
        h = L.Dense(3)(L.LSTM(3, return_sequences=True)(h))
        return x, L.SimpleRNN(2)(h)
    if kind == "pooling":
        return x, L.Dense(2)(L.GlobalAveragePooling1D()(L.Dense(3)(h)))
    if kind == "multi_head_attention":
        h = L.Add()([h, L.MultiHeadAttention(2, 3)(h, h, use_causal_mask=True)])
        return x, L.LSTM(2, return_sequences=True)(h)
    if kind == "attention":
        # (not after a MultiHeadAttention: there Keras 3.15 loses the mask at run time,
        # though its symbolic tensors keep it)
        h = L.Attention(use_scale=True)([h, h])
        return x, L.LSTM(2, return_sequences=True)(L.AdditiveAttention()([h, h]))
    h = L.Bidirectional(L.LSTM(3, return_sequences=True))(h)
    return x, L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode="ave")(h)


@pytest.mark.parametrize("kind", ["masking", "embedding", "bidirectional",
                                  "multi_head_attention", "attention", "pooling"])
def test_keras_weights_give_keras_s_masked_outputs(keras, kind, tmp_path):
    import adkit.nn.layers as ours_layers
    kx, ko = graph(keras.layers, lambda s, d: keras.Input(s, dtype=d), kind)
    twin = keras.Model(kx, ko)
    twin.save_weights(tmp_path / "k.weights.h5")
    ax, ao = graph(ours_layers, lambda s, d: Input(shape=s, dtype=d), kind)
    ours = Model(ax, ao, seed=0)
    ours.load_weights(tmp_path / "k.weights.h5")
    data = sequences()[0] if kind == "masking" else tokens()
    np.testing.assert_allclose(ours.predict(data), np.asarray(twin.predict(data, verbose=0)),
                               rtol=1e-5, atol=1e-6)


def tagger(functional):
    """A sequence tagger whose output carries the Embedding's mask to the loss."""
    if functional:
        inp = Input(shape=(6,), dtype="int32")
        h = LSTM(7, return_sequences=True, name="lstm")(Embedding(20, 5, mask_zero=True,
                                                                  name="emb")(inp))
        return Model(inp, TimeDistributed(Dense(3, activation="softmax"), name="tags")(h),
                     seed=0)
    return Sequential([Input(shape=(6,), dtype="int32"), Embedding(20, 5, mask_zero=True,
                                                                   name="emb"),
                       LSTM(7, return_sequences=True, name="lstm"),
                       TimeDistributed(Dense(3, activation="softmax"), name="tags")], seed=0)


def tagged_tokens():
    rng = np.random.default_rng(4)
    t = rng.integers(1, 20, size=(8, 6))
    t[:, 4:] = 0
    t[0, 2:] = 0
    return t, rng.integers(0, 3, size=(8, 6))


@pytest.mark.parametrize("functional", [False, True])
def test_the_loss_leaves_masked_steps_out_as_keras(functional):
    model = tagger(functional)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    t, labels = tagged_tokens()
    probabilities = model.predict(t).astype(np.float64)
    per_step = -np.log(np.take_along_axis(probabilities, labels[..., None], -1)[..., 0])
    valid = t != 0
    assert model.evaluate(t, labels, verbose=0) == pytest.approx(per_step[valid].mean(),
                                                                 rel=1e-5)
    assert not np.isclose(per_step[valid].mean(), per_step.mean(), rtol=1e-4)
    weights = np.linspace(0.5, 2.0, 8)
    expected = (per_step * weights[:, None])[valid].sum() / valid.sum()
    loss, _ = model.loss_fn(model.params, t, labels.astype(np.float32), training=False,
                            sample_weight=weights)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_the_masked_loss_equals_keras(keras):  # noqa: F811
    t, labels = tagged_tokens()
    ours = tagger(functional=True)
    ours.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    inp = keras.Input(shape=(6,), dtype="int32")
    h = keras.layers.LSTM(7, return_sequences=True)(keras.layers.Embedding(
        20, 5, mask_zero=True)(inp))
    theirs = keras.Model(inp, keras.layers.TimeDistributed(
        keras.layers.Dense(3, activation="softmax"))(h))
    theirs.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    theirs.set_weights(ours.get_weights())
    assert ours.evaluate(t, labels, verbose=0) == pytest.approx(
        float(theirs.evaluate(t, labels, verbose=0)), rel=1e-5)


def test_the_masked_loss_trains_compiled_as_eagerly():
    t, labels = tagged_tokens()
    histories = []
    for jit in ("auto", False):
        model = tagger(functional=True)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      jit_compile=jit)
        histories.append(model.fit(np.concatenate([t] * 4), np.concatenate([labels] * 4),
                                   epochs=3, batch_size=8, verbose=0,
                                   shuffle=False).history["loss"])
        if jit == "auto":
            assert model.trainer.compiled_step.program.stats.traces == 1
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)
    assert histories[0][-1] < histories[0][0]
