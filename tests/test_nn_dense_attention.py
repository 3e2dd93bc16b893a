"""Attention and AdditiveAttention: values against the score formulas written here in
NumPy (with Keras's masks), derivatives with adkit.check_grads against finite
differences, shapes and weights as Keras's, save/load with masks, and outputs against
Keras itself when it is installed."""

import numpy as np
import pytest

import adkit
from adkit.nn import Input, Model, Sequential, load_model, optimizers
from adkit.nn.layers import (AdditiveAttention, Attention, Context, Dense, Flatten,
                             ShapeError, deserialize, serialize)
from keras_referee import keras  # noqa: F401  (a fixture)

B, TQ, TV, D, DV = 2, 4, 3, 3, 2


def normal(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def scores_reference(kind, p, q, k):
    q, k = q.astype(np.float64), k.astype(np.float64)
    if kind == "dot":
        return np.einsum("bid,bjd->bij", q, k) * p.get("scale", 1.0)
    pairs = q[:, :, None, :] + k[:, None, :, :]
    if kind == "concat":
        return p["concat_score_weight"] * np.tanh(p.get("scale", 1.0) * pairs).sum(-1)
    return (p.get("scale", 1.0) * np.tanh(pairs)).sum(-1)   # additive


def reference(kind, p, q, v, k=None, q_mask=None, v_mask=None, causal=False):
    k = v if k is None else k
    s = scores_reference(kind, p, q, k)
    allowed = np.ones(s.shape, bool)
    if v_mask is not None:
        allowed &= v_mask[:, None, :]
    if causal:
        allowed &= np.tril(np.ones(s.shape[1:], bool))
    # lowered in float32, as the layer computes: 1e9 has a spacing of 64 there, so a
    # row masked whole becomes even (Keras's behaviour in float32)
    s = np.where(allowed, s, s.astype(np.float32) - np.float32(1e9))
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    out = w @ v
    if q_mask is not None:
        out = out * q_mask[:, :, None]
    return out, w


LAYERS = {"dot": lambda **kw: Attention(**kw), "scaled dot": lambda **kw: Attention(
    use_scale=True, **kw), "concat": lambda **kw: Attention(score_mode="concat", use_scale=True,
                                                             **kw),
          "additive": lambda **kw: AdditiveAttention(**kw)}


def kind_of(name):
    return {"scaled dot": "dot"}.get(name, name)


def with_params(name, shapes, seed=0, dtype="float32"):
    layer = LAYERS[name](dtype=dtype)
    params = layer.init_params(np.random.default_rng(seed), shapes)
    for key in params:   # away from 1, so that a missing factor shows
        params[key] = params[key] * np.asarray(1.7, params[key].dtype)
    return layer, params


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_values_are_the_formula_with_masks(name):
    shapes = [(TQ, D), (TV, DV), (TV, D), (TQ,), (TV,)]
    layer, p = with_params(name, shapes)
    q, v, k = normal((B, TQ, D), 1), normal((B, TV, DV), 2), normal((B, TV, D), 3)
    q_mask = np.array([[1, 1, 0, 1], [1, 0, 1, 1]], bool)
    v_mask = np.array([[1, 0, 1], [0, 1, 1]], bool)
    for causal in (False, True):
        out, w = layer.call(p, [q, v, k, q_mask, v_mask], Context(), query_mask=True,
                            value_mask=True, use_causal_mask=causal,
                            return_attention_scores=True)
        ref_out, ref_w = reference(kind_of(name), p, q, v, k, q_mask, v_mask, causal)
        np.testing.assert_allclose(out, ref_out, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(w, ref_w, rtol=1e-4, atol=1e-6)
    plain = layer.call(p, [q, v, k], Context())
    np.testing.assert_allclose(plain, reference(kind_of(name), p, q, v, k)[0], rtol=1e-4,
                               atol=1e-5)


MODES = ("forward", "reverse", "numeric")


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_check_grads_params_and_inputs(name):
    layer, p = with_params(name, [(3, 2), (2, 2)], dtype="float64")
    q = np.random.default_rng(1).normal(size=(2, 3, 2))
    v = np.random.default_rng(2).normal(size=(2, 2, 2))
    v_mask = np.array([[1, 0], [1, 1]], bool)
    adkit.check_grads(lambda p, q, v: layer.call(p, [q, v, v, v_mask], Context(),
                                                 value_mask=True, use_causal_mask=True),
                      (p, q, v), modes=MODES)


def test_weights_and_shapes_are_keras_s():
    q, v, k = Input(shape=(5, 4)), Input(shape=(6, 3)), Input(shape=(6, 4))
    out, scores = Attention(use_scale=True, score_mode="concat", name="att")(
        [q, v, k], return_attention_scores=True)
    assert out.shape == (None, 5, 3) and scores.shape == (None, 5, 6)
    model = Model([q, v, k], out, seed=0)
    assert [w.shape for w in model.get_layer("att").get_weights()] == [(), ()]
    assert model.count_params() == 2
    add = AdditiveAttention(name="add")
    Model([q, v, k], add([q, v, k]), seed=0)
    assert [w.shape for w in add.get_weights()] == [(4,)]
    assert Model([q, v, k], Attention()([q, v, k]), seed=0).count_params() == 0


def test_bad_calls_are_named():
    q, v = Input(shape=(5, 4)), Input(shape=(6, 3))
    with pytest.raises(ValueError, match="score_mode"):
        Attention(score_mode="general")
    with pytest.raises(ValueError, match=r"called on a list \[query, value\]"):
        Attention()(q)
    with pytest.raises(ShapeError, match=r"'a1'.*same number of features"):
        Attention(name="a1")([q, v])   # the key defaults to value: 3 features, query has 4
    with pytest.raises(ShapeError, match=r"'a2'.*same number of steps"):
        Attention(name="a2")([q, v, Input(shape=(5, 4))])
    with pytest.raises(ShapeError, match="value_mask must be"):
        Attention()([q, v, Input(shape=(6, 4))], mask=[None, Input(shape=(5,))])
    with pytest.raises(ValueError, match="mask is a list"):
        Attention()([q, v, Input(shape=(6, 4))], mask=Input(shape=(5,)))
    with pytest.raises(ShapeError, match="cannot be a layer of a Sequential"):
        Sequential([Attention()]).build((4, 5))


def test_config_round_trip():
    for layer in (Attention(use_scale=True, score_mode="concat", dropout=0.2, name="a"),
                  AdditiveAttention(use_scale=False, name="b")):
        config = serialize(layer)
        again = deserialize(config)
        assert type(again) is type(layer) and serialize(again) == config


def masked_model():
    q, v = Input(shape=(TQ, D), name="q"), Input(shape=(TV, D), name="v")
    qm, vm = Input(shape=(TQ,), dtype="bool", name="qm"), Input(shape=(TV,), dtype="bool",
                                                                  name="vm")
    h = AdditiveAttention(name="att")([q, v], mask=[qm, vm], use_causal_mask=True)
    return Model([q, v, qm, vm], Dense(1, name="out")(Flatten()(h)), seed=0)


def masked_data(n=16):
    rng = np.random.default_rng(3)
    q, v = normal((n, TQ, D), 1), normal((n, TV, D), 2)
    qm, vm = rng.random((n, TQ)) > 0.2, rng.random((n, TV)) > 0.2
    return [q, v, qm, vm], (q.sum((1, 2)) - v.sum((1, 2)))[:, None] / 4.0


def test_save_and_load_keep_the_masks_and_options(tmp_path):
    model = masked_model()
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "m.adkit")
    xs, _ = masked_data()
    np.testing.assert_array_equal(load_model(tmp_path / "m.adkit").predict(xs),
                                  model.predict(xs))


def test_fit_lowers_the_loss_and_compiled_agrees_with_eager():
    def run(jit):
        model = masked_model()
        model.compile(optimizer=optimizers.Adam(0.02), loss="mse", jit_compile=jit)
        xs, y = masked_data()
        history = model.fit(xs, y, epochs=6, batch_size=8, verbose=0, shuffle=False)
        return history.history["loss"], model
    (on, m_on), (off, _) = run("auto"), run(False)
    assert on[-1] < 0.7 * on[0]
    assert m_on.trainer.eager_reason is None and not m_on.trainer.compiled_step.eager_reasons
    np.testing.assert_allclose(on, off, rtol=1e-5)


def test_opencl_and_onnx_refuse_them_by_name(tmp_path):
    x = Input(shape=(TQ, D))
    model = Model(x, AdditiveAttention(name="att")([x, x]), seed=0)
    with pytest.raises(ValueError, match=r"'att' \(AdditiveAttention\) has no OpenCL"):
        model.compile(optimizer="sgd", loss="mse", device="opencl")
    pytest.importorskip("onnx", reason="onnx is not installed: pip install 'adkit[onnx]'")
    with pytest.raises(ValueError, match=r"'att' \(AdditiveAttention\)"):
        model.export_onnx(tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- against Keras itself

CASES = [("Attention", {}), ("Attention", {"use_scale": True}),
         ("Attention", {"score_mode": "concat", "use_scale": True}),
         ("AdditiveAttention", {}), ("AdditiveAttention", {"use_scale": False})]


@pytest.mark.parametrize("cls,kwargs", CASES)
@pytest.mark.parametrize("causal", [False, True])
def test_keras_weights_give_keras_s_outputs(keras, cls, kwargs, causal, tmp_path):
    def inputs(make):
        return [make((5, 4)), make((6, 3)), make((6, 4)), make((5,), "bool"),
                make((6,), "bool")]
    k_in = inputs(lambda s, d="float32": keras.Input(s, dtype=d))
    twin = keras.Model(k_in, list(getattr(keras.layers, cls)(**kwargs)(
        k_in[:3], mask=k_in[3:], return_attention_scores=True, use_causal_mask=causal)))
    twin.set_weights([w * 1.3 for w in twin.get_weights()])
    twin.save_weights(tmp_path / "k.weights.h5")
    a_in = inputs(lambda s, d="float32": Input(shape=s, dtype=d))
    ours = Model(a_in, list({"Attention": Attention, "AdditiveAttention": AdditiveAttention}[
        cls](**kwargs)(a_in[:3], mask=a_in[3:], return_attention_scores=True,
                       use_causal_mask=causal)), seed=0)
    ours.load_weights(tmp_path / "k.weights.h5")
    rng = np.random.default_rng(0)
    mask_v = rng.random((2, 6)) > 0.3
    mask_v[1] = False   # a sequence masked whole: Keras spreads the weight evenly
    xs = [normal((2, 5, 4), 1), normal((2, 6, 3), 2), normal((2, 6, 4), 3),
          rng.random((2, 5)) > 0.3, mask_v]
    for a, b in zip(twin.predict(xs, verbose=0), ours.predict(xs)):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-5)
