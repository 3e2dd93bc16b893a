"""MultiHeadAttention: values against softmax(Q K^T / sqrt(d)) V written here per head
in NumPy, with Keras's masks; derivatives with adkit.check_grads against finite
differences; Keras's shapes, parameter counts and weight order; a transformer block
that builds, trains, saves and loads; outputs and weight files against Keras itself
when it is installed."""

import numpy as np
import pytest

import adkit
import adkit.nn.layers as layers
from adkit.nn import Input, Model, Sequential, load_model, optimizers
from adkit.nn.layers import (Add, Context, Dense, MultiHeadAttention, ShapeError, deserialize,
                             serialize)
from keras_referee import keras  # noqa: F401  (a fixture)

B, T, S, DQ, DV, H, K = 2, 4, 3, 5, 3, 2, 3   # batch, lengths, features, heads, key_dim


def normal(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def reference(p, q, v, k=None, mask=None, causal=False, use_bias=True, even_when_blind=False):
    """(output, weights) one head at a time, plain NumPy in float64. A query step that
    may see no key step gets zero weights, or even ones with even_when_blind (Keras's
    fused path, when it returns no scores)."""
    k = v if k is None else k
    heads, t, s = p["query"]["kernel"].shape[1], q.shape[1], v.shape[1]
    allowed = np.ones((q.shape[0], t, s), bool) if mask is None else mask.astype(bool)
    if causal:
        allowed = allowed & np.tril(np.ones((t, s), bool))
    out = 0.0
    all_weights = []
    for n in range(heads):
        def proj(part, x):
            y = x @ p[part]["kernel"][:, n].astype(np.float64)
            return y + p[part]["bias"][n] if use_bias else y
        qn, kn, vn = proj("query", q), proj("key", k), proj("value", v)
        scores = qn @ np.swapaxes(kn, 1, 2) / np.sqrt(qn.shape[-1])
        scores = np.where(allowed, scores, -np.inf)
        with np.errstate(invalid="ignore"):
            w = np.exp(scores - scores.max(axis=-1, keepdims=True))
            w = w / w.sum(axis=-1, keepdims=True)
        blind = ~allowed.any(axis=-1)
        w = np.where(blind[..., None], 1.0 / s if even_when_blind else 0.0, w)
        all_weights.append(w)
        out = out + (w @ vn) @ p["attention_output"]["kernel"][n]
    if use_bias:
        out = out + p["attention_output"]["bias"]
    return out, np.stack(all_weights, axis=1)


def layer_and_params(seed=0, dtype="float32", **kwargs):
    layer = MultiHeadAttention(H, K, dtype=dtype, **kwargs)
    params = layer.init_params(np.random.default_rng(seed), [(T, DQ), (S, DV)])
    for part in params.values():   # nonzero biases, so that they are checked too
        if "bias" in part:
            part["bias"][...] = normal(part["bias"].shape, seed + 1, part["bias"].dtype)
    return layer, params


@pytest.mark.parametrize("use_bias", [True, False])
def test_cross_attention_is_the_per_head_formula(use_bias):
    layer, p = layer_and_params(use_bias=use_bias)
    q, v = normal((B, T, DQ), 1), normal((B, S, DV), 2)
    out, weights = layer.call(p, [q, v], Context(), return_attention_scores=True)
    ref_out, ref_weights = reference(p, q, v, use_bias=use_bias)
    np.testing.assert_allclose(out, ref_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-4, atol=1e-6)
    assert out.shape == (B, T, DQ) and weights.shape == (B, H, T, S)


def test_a_separate_key_and_an_attention_mask():
    layer = MultiHeadAttention(H, K, value_dim=2, output_shape=6)
    p = layer.init_params(np.random.default_rng(0), [(T, DQ), (S, DV), (S, 4), (T, S)])
    assert p["key"]["kernel"].shape == (4, H, K) and p["value"]["kernel"].shape == (DV, H, 2)
    assert p["attention_output"]["kernel"].shape == (H, 2, 6)
    q, v, k = normal((B, T, DQ), 1), normal((B, S, DV), 2), normal((B, S, 4), 3)
    mask = np.random.default_rng(4).random((B, T, S)) > 0.4
    mask[0, 1] = False   # a query step that may see nothing
    out = layer.call(p, [q, v, k, mask], Context())
    np.testing.assert_allclose(out, reference(p, q, v, k, mask, even_when_blind=True)[0],
                               rtol=1e-4, atol=1e-5)
    # returning the scores, Keras zeroes that step's weights: its output is the bias
    with_scores, weights = layer.call(p, [q, v, k, mask], Context(),
                                      return_attention_scores=True)
    np.testing.assert_allclose(with_scores, reference(p, q, v, k, mask)[0], rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(with_scores[0, 1], p["attention_output"]["bias"], atol=1e-6)
    assert np.all(weights[0, :, 1] == 0)
    # a float mask means "nonzero is allowed", as Keras casts it to bool
    np.testing.assert_array_equal(layer.call(p, [q, v, k, mask.astype(np.float32)],
                                             Context()), out)


def test_causal_self_attention_sees_no_future_step():
    layer, p = layer_and_params()
    p = layer.init_params(np.random.default_rng(0), [(T, DQ), (T, DQ)])
    x = normal((B, T, DQ), 1)
    out, weights = layer.call(p, [x, x], Context(), use_causal_mask=True,
                              return_attention_scores=True)
    np.testing.assert_allclose(out, reference(p, x, x, causal=True)[0], rtol=1e-4, atol=1e-5)
    assert np.all(weights[..., np.triu_indices(T, 1)[0], np.triu_indices(T, 1)[1]] == 0)
    # changing the last step changes no earlier output
    later = x.copy()
    later[:, -1] += 1.0
    np.testing.assert_allclose(layer.call(p, [later, later], Context(),
                                          use_causal_mask=True)[:, :-1], out[:, :-1],
                               rtol=1e-5, atol=1e-6)


MODES = ("forward", "reverse", "numeric")


def test_check_grads_params_and_inputs():
    layer = MultiHeadAttention(2, 2, dtype="float64")
    p = layer.init_params(np.random.default_rng(0), [(3, 2), (2, 3)])
    q = np.random.default_rng(1).normal(size=(2, 3, 2))
    v = np.random.default_rng(2).normal(size=(2, 2, 3))
    mask = np.array([[[1, 0], [1, 1], [0, 1]]] * 2, bool)
    adkit.check_grads(lambda p, q, v: layer.call(p, [q, v, v, mask], Context()),
                      (p, q, v), modes=MODES)


def test_shapes_parameter_counts_and_weight_order_are_keras_s():
    query, value = Input(shape=(5, 8)), Input(shape=(6, 4))
    layer = MultiHeadAttention(num_heads=2, key_dim=3, name="mha")
    out, scores = layer(query, value, return_attention_scores=True)
    assert out.shape == (None, 5, 8) and scores.shape == (None, 2, 5, 6)
    model = Model([query, value], [out, scores], seed=0)
    # Keras: query/key/value kernels (dim, heads, key_dim) with (heads, key_dim) biases,
    # the output kernel (heads, value_dim, dim) with an (dim,) bias
    assert [w.shape for w in layer.get_weights()] == [
        (8, 2, 3), (2, 3), (4, 2, 3), (2, 3), (4, 2, 3), (2, 3), (2, 3, 8), (8,)]
    assert model.count_params() == 8 * 6 + 6 + 2 * (4 * 6 + 6) + 48 + 8
    lines = []
    model.summary(print_fn=lines.append)
    assert any("mha (MultiHeadAttention)" in line and "(None, 5, 8)" in line for line in lines)


def test_bad_arguments_and_inputs_are_named():
    with pytest.raises(ValueError, match="num_heads must be a positive int"):
        MultiHeadAttention(0, 3)
    with pytest.raises(ValueError, match="key_dim must be a positive int"):
        MultiHeadAttention(2, -1)
    with pytest.raises(ValueError, match="attention_axes"):
        MultiHeadAttention(2, 3, attention_axes=(2,))
    with pytest.raises(ValueError, match="use_gate"):
        MultiHeadAttention(2, 3, use_gate=True)
    mha = MultiHeadAttention(2, 3, name="att")
    with pytest.raises(ShapeError, match=r"'att'.*same sequence length"):
        mha(Input(shape=(4, 5)), Input(shape=(3, 5)), key=Input(shape=(2, 5)))
    with pytest.raises(ShapeError, match=r"'att2'.*\(batch, seq, features\)"):
        MultiHeadAttention(2, 3, name="att2")(Input(shape=(5,)), Input(shape=(5,)))
    with pytest.raises(ShapeError, match="attention_mask must be"):
        MultiHeadAttention(2, 3)(Input(shape=(4, 5)), Input(shape=(3, 5)),
                                 attention_mask=Input(shape=(4, 4)))
    with pytest.raises(TypeError, match=r"mha\(query, value\)"):
        MultiHeadAttention(2, 3)(Input(shape=(4, 5)))
    with pytest.raises(ValueError, match="query_mask"):
        x = Input(shape=(4, 5))
        MultiHeadAttention(2, 3)(x, x, query_mask=np.ones((1, 4)))
    with pytest.raises(ShapeError, match="cannot be a layer of a Sequential"):
        Sequential([MultiHeadAttention(2, 3, name="seq_att")]).build((4, 5))


def block(use_norm=True, name="block"):
    """A transformer encoder block: self-attention, residual, norm, feed-forward."""
    x = Input(shape=(6, 8), name="tokens")
    attended = MultiHeadAttention(2, 4, name="att")(x, x, use_causal_mask=True)
    h = Add()([x, attended])
    norm = getattr(layers, "LayerNormalization", None)
    if use_norm and norm is not None:
        h = norm()(h)
    h = Add()([h, Dense(8, name="ff2")(Dense(16, activation="relu", name="ff1")(h))])
    return Model(x, Dense(1, name="head")(h), seed=0, name=name)


def block_data():
    x = normal((32, 6, 8), 5)
    return x, np.cumsum(x[..., :1], axis=1) / 4.0   # a causal target: running sums


def _fit(jit):
    model = block()
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse", jit_compile=jit)
    x, y = block_data()
    history = model.fit(x, y, epochs=6, batch_size=8, verbose=0, shuffle=False)
    return history.history["loss"], model


def test_a_transformer_block_trains_and_compiled_agrees_with_eager():
    (on, m_on), (off, m_off) = _fit("auto"), _fit(False)
    assert on[-1] < 0.6 * on[0]
    assert m_on.trainer.eager_reason is None and m_on.trainer.compiled_step is not None
    np.testing.assert_allclose(on, off, rtol=1e-4)
    for a, b in zip(m_on.get_weights(), m_off.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_save_and_load_keep_the_call_options(tmp_path):
    model = block()
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "block.adkit"
    model.save(path)
    loaded = load_model(path)
    x = block_data()[0]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    node = next(n for n in loaded.nodes if n.layer.name == "att")
    assert node.options == {"use_causal_mask": True}


def test_a_mask_input_and_the_scores_output_save_and_load(tmp_path):
    q, v, m = Input(shape=(T, DQ)), Input(shape=(S, DV)), Input(shape=(T, S), dtype="bool")
    out, scores = MultiHeadAttention(H, K, name="att")(q, v, attention_mask=m,
                                                        return_attention_scores=True)
    model = Model([q, v, m], [out, scores], seed=0)
    xs = [normal((B, T, DQ), 1), normal((B, S, DV), 2),
          np.random.default_rng(3).random((B, T, S)) > 0.3]
    got = model.predict(xs)
    p = model.params["att"]
    ref_out, ref_w = reference(p, xs[0], xs[1], mask=xs[2])
    np.testing.assert_allclose(got[0], ref_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[1], ref_w, rtol=1e-4, atol=1e-6)
    model.save(tmp_path / "m.adkit")
    again = load_model(tmp_path / "m.adkit").predict(xs)
    for a, b in zip(again, got):
        np.testing.assert_array_equal(a, b)


def test_config_round_trip():
    layer = MultiHeadAttention(3, 4, value_dim=2, dropout=0.1, use_bias=False,
                               output_shape=(5,), name="m")
    config = serialize(layer)
    again = deserialize(config)
    assert (again.num_heads, again.key_dim, again.value_dim, again.dropout, again.use_bias,
            again.output_shape) == (3, 4, 2, 0.1, False, (5,))
    assert serialize(again) == config


def test_dropout_acts_in_training_only():
    layer = MultiHeadAttention(H, K, dropout=0.5)
    p = layer.init_params(np.random.default_rng(0), [(T, DQ), (S, DV)])
    q, v = normal((B, T, DQ), 1), normal((B, S, DV), 2)
    plain = layer.call(p, [q, v], Context())
    np.testing.assert_allclose(plain, reference(p, q, v)[0], rtol=1e-4, atol=1e-5)
    trained = layer.call(p, [q, v], Context(training=True, rng=np.random.default_rng(0)))
    assert not np.allclose(trained, plain)


def test_a_kernel_regularizer_counts_on_every_projection():
    layer = MultiHeadAttention(H, K, kernel_regularizer="l2")
    p = layer.init_params(np.random.default_rng(0), [(T, DQ), (S, DV)])
    expected = sum(0.01 * np.sum(part["kernel"] ** 2) for part in p.values())
    np.testing.assert_allclose(layer.penalty(p), expected, rtol=1e-5)


def test_opencl_and_onnx_refuse_it_by_name(tmp_path):
    model = block(use_norm=False)
    with pytest.raises(ValueError, match=r"'att' \(MultiHeadAttention\) has no OpenCL"):
        model.compile(optimizer="sgd", loss="mse", device="opencl")
    pytest.importorskip("onnx", reason="onnx is not installed: pip install 'adkit[onnx]'")
    with pytest.raises(ValueError, match=r"'att' \(MultiHeadAttention\)"):
        model.export_onnx(tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- against Keras itself

@pytest.mark.parametrize("kwargs", [{}, {"value_dim": 2, "output_shape": 7},
                                    {"use_bias": False}])
@pytest.mark.parametrize("scores", [True, False])
def test_keras_reads_our_weights_and_computes_the_same(keras, kwargs, scores, tmp_path):
    if not scores and "value_dim" in kwargs:
        pytest.skip("Keras 3's fused dot-product path fails for value_dim != key_dim "
                    "(a reshape error inside keras itself)")
    kq, kv, km = keras.Input((5, 8)), keras.Input((6, 4)), keras.Input((5, 6), dtype="bool")
    k_out = keras.layers.MultiHeadAttention(2, 3, **kwargs)(kq, kv, attention_mask=km,
                                                            return_attention_scores=scores)
    twin = keras.Model([kq, kv, km], list(k_out) if scores else [k_out])
    q, v, m = Input(shape=(5, 8)), Input(shape=(6, 4)), Input(shape=(5, 6), dtype="bool")
    a_out = MultiHeadAttention(2, 3, **kwargs)(q, v, attention_mask=m,
                                               return_attention_scores=scores)
    ours = Model([q, v, m], list(a_out) if scores else [a_out], seed=0)
    ours.save_weights(tmp_path / "ours.weights.h5")
    twin.load_weights(tmp_path / "ours.weights.h5")
    xs = [normal((3, 5, 8), 1), normal((3, 6, 4), 2),
          np.random.default_rng(3).random((3, 5, 6)) > 0.3]
    xs[2][1, 2] = False   # a query step that sees nothing: zero or even weights, as Keras
    got, expected = ours.predict(xs), twin.predict(xs, verbose=0)
    for a, b in zip(expected if scores else [expected], got if scores else [got]):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-5)


def test_we_read_keras_s_weights_of_a_causal_block(keras, tmp_path):
    L = keras.layers
    x = keras.Input((6, 8))
    h = L.Add()([x, L.MultiHeadAttention(2, 4)(x, x, use_causal_mask=True)])
    h = L.Add()([h, L.Dense(8)(L.Dense(16, activation="relu")(h))])
    twin = keras.Model(x, L.Dense(1)(h))
    twin.save_weights(tmp_path / "keras.weights.h5")
    ours = block(use_norm=False)
    ours.load_weights(tmp_path / "keras.weights.h5")
    data = block_data()[0]
    np.testing.assert_allclose(ours.predict(data), np.asarray(twin.predict(data, verbose=0)),
                               rtol=1e-5, atol=1e-5)


def test_a_masked_model_trains_compiled_as_eager():
    def run(jit):
        q, m = Input(shape=(4, 3)), Input(shape=(4, 4), dtype="bool")
        model = Model([q, m], Dense(1)(MultiHeadAttention(2, 2)(q, q, attention_mask=m)),
                      seed=0)
        model.compile(optimizer="adam", loss="mse", jit_compile=jit)
        x, mask = normal((16, 4, 3), 1), np.random.default_rng(2).random((16, 4, 4)) > 0.3
        history = model.fit([x, mask], x[..., :1], epochs=3, batch_size=8, verbose=0,
                            shuffle=False)
        return history.history["loss"], model
    (on, m_on), (off, _) = run("auto"), run(False)
    assert m_on.trainer.eager_reason is None and not m_on.trainer.compiled_step.eager_reasons
    assert on[-1] < on[0]
    np.testing.assert_allclose(on, off, rtol=1e-5)
