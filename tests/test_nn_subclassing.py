"""Layers and models written by subclassing, as Keras code writes them
(nn/layers/subclassing.py, nn/subclassed_model.py): values against NumPy formulas of
the weights, gradients against finite differences, training, state, saving, errors."""

import os

import numpy as np
import pytest

import adkit
import adkit.nn as keras
from adkit import numeric
from adkit.nn import layers

RNG = np.random.default_rng(7)
X = RNG.normal(size=(16, 3))
Y = np.sin(X @ np.array([[1.0], [-2.0], [0.5]]))


class Linear(layers.Layer):
    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal", name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="ones", name="b")

    def call(self, inputs):
        return np.tanh(np.matmul(inputs, self.w) + self.b)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Residual(layers.Layer):
    """Sublayers as attributes, one of them a Sequential, and a training flag."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = layers.Dense(3, activation="relu")
        self.ffn = keras.Sequential([layers.Dense(5, activation="tanh"), layers.Dense(3)])
        self.drop = layers.Dropout(0.5)

    def call(self, inputs, training=None):
        return inputs + self.drop(self.ffn(self.inner(inputs)), training=training)


class RunningMean(layers.Layer):
    """A weight that is not trainable, updated by assign in training calls."""

    def build(self, input_shape):
        self.mean = self.add_weight(shape=(input_shape[-1],), initializer="zeros",
                                    trainable=False, name="mean")

    def call(self, inputs, training=None):
        if training:
            self.mean.assign(0.9 * self.mean + 0.1 * np.mean(inputs, axis=0))
        return inputs - self.mean


def linear_model(seed=0):
    return keras.Sequential([Linear(4, input_shape=(3,), name="lin"), layers.Dense(1)],
                            seed=seed)


def test_a_subclassed_layer_computes_its_formula_with_the_models_weights():
    model = linear_model()
    w, b = model.get_layer("lin").get_weights()
    assert w.shape == (3, 4) and np.all(b == 1.0)
    kernel, bias = model.layers[1].get_weights()
    expected = np.tanh(X @ w + b) @ kernel + bias
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5)
    assert model.count_params() == 3 * 4 + 4 + 4 + 1


def test_its_gradient_matches_finite_differences():
    model = linear_model()
    params = {k: {n: np.asarray(a, np.float64) for n, a in v.items()}
              for k, v in model.params.items()}

    def loss_of_w(w):
        p = {**params, "lin": {**params["lin"], "w": w}}
        return np.mean((model.apply(p, X)[0] - Y) ** 2)

    g = adkit.grad(loss_of_w)(params["lin"]["w"])
    np.testing.assert_allclose(g, numeric.gradient(loss_of_w, params["lin"]["w"]), rtol=1e-6)


@pytest.mark.parametrize("jit", [True, False])
def test_training_lowers_the_loss_compiled_or_not(jit):
    model = linear_model(seed=1)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", jit_compile=jit)
    history = model.fit(X, Y, epochs=30, batch_size=8, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


def test_compiled_and_eager_steps_agree():
    losses = []
    for jit in (True, False):
        model = linear_model(seed=2)
        model.compile(optimizer="adam", loss="mse", jit_compile=jit)
        losses.append(model.fit(X, Y, epochs=3, batch_size=8, verbose=0,
                                shuffle=False).history["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


def test_sublayers_and_a_nested_sequential_are_built_and_trained():
    block = Residual(name="res")
    model = keras.Sequential([keras.Input(shape=(3,)), block], seed=0)
    # Dense(3) 12, Dense(5) 20, Dense(3) 18
    assert model.count_params() == 12 + 20 + 18
    p = model.params["res"]
    assert sorted(p) == ["drop", "ffn", "inner"]   # keyed by attribute, as Keras's paths
    inner, ffn = p["inner"], p["ffn"]
    first, second = (ffn[layer.name] for layer in block.ffn.layers)
    hidden = np.maximum(X @ inner["kernel"] + inner["bias"], 0)
    expected = X + np.tanh(hidden @ first["kernel"] + first["bias"]) @ second["kernel"] \
        + second["bias"]
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-6)
    model.compile(optimizer="adam", loss="mse")
    before = [w.copy() for w in model.get_weights()]
    model.fit(X, np.zeros_like(X), epochs=2, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_a_weight_that_is_not_trainable_is_state_updated_in_training_only():
    model = keras.Sequential([RunningMean(input_shape=(3,), name="rm"), layers.Dense(1)],
                             seed=0)
    model.compile(optimizer="sgd", loss="mse")
    assert model.count_params() == 3 + 4   # the state counts too, as in Keras
    np.testing.assert_array_equal(model.get_layer("rm").get_weights()[0], np.zeros(3))
    with pytest.warns(adkit.CompileWarning, match="not trainable .* run eagerly"):
        model.fit(X, Y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    mean = model.get_layer("rm").get_weights()[0]
    np.testing.assert_allclose(mean, 0.1 * X.mean(axis=0), rtol=1e-5)
    model.predict(X)
    np.testing.assert_array_equal(model.get_layer("rm").get_weights()[0], mean)


def test_a_subclassed_layer_saves_and_loads(tmp_path):
    model = linear_model()
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, Y, epochs=2, verbose=0)
    path = os.fspath(tmp_path / "linear.adkit")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=1e-6)
    assert loaded.get_layer("lin").units == 4


class TwoLayers(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(8, activation="relu")
        self.drop = layers.Dropout(0.2)
        self.out = layers.Dense(1)

    def call(self, inputs, training=False):
        return self.out(self.drop(self.hidden(inputs), training=training))


def test_a_subclassed_model_builds_from_its_first_data_and_trains():
    model = TwoLayers(seed=0)
    with pytest.raises(ValueError, match="subclassed and not built yet"):
        model.summary()
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")   # before the graph exists
    history = model.fit(X, Y, epochs=40, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    p = model.params["call"]
    hidden = np.maximum(X @ p["hidden"]["kernel"] + p["hidden"]["bias"], 0)
    expected = hidden @ p["out"]["kernel"] + p["out"]["bias"]
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(X), expected, rtol=1e-5, atol=1e-6)


def test_a_subclassed_model_saves_weights_and_refuses_to_save_itself(tmp_path):
    model = TwoLayers(seed=0)
    model.build((None, 3))
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, Y, epochs=2, verbose=0)
    with pytest.raises(TypeError, match=r"subclassed model .*save_weights"):
        model.save(os.fspath(tmp_path / "m.adkit"))
    assert not os.path.exists(tmp_path / "m.adkit")
    path = os.fspath(tmp_path / "m.weights.npz")
    model.save_weights(path)
    again = TwoLayers(seed=5)
    again.build((None, 3))
    again.load_weights(path)
    np.testing.assert_allclose(again.predict(X), model.predict(X), rtol=1e-6)


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="Model needs inputs and outputs"):
        keras.Model()
    layer = Linear(2)
    layer.add_weight(shape=(2,), name="w")
    with pytest.raises(ValueError, match="already has a weight named 'w'"):
        layer.add_weight(shape=(3,), name="w")

    class Branchy(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.a = layers.Dense(2)
            self.b = layers.Dense(2)

        def call(self, inputs):
            return self.a(inputs) if np.all(inputs == 0) else self.b(inputs)

    model = keras.Sequential([Branchy(input_shape=(3,), name="branchy")], seed=0)
    with pytest.raises(ValueError, match="was not called when 'branchy' was built"):
        model.predict(X)


def test_same_outputs_as_keras_with_the_same_weights():
    if "KERAS_BACKEND" not in os.environ:
        os.environ["KERAS_BACKEND"] = "jax"
    real = pytest.importorskip("keras", reason="the cross-check runs Keras 3: pip install "
                               "keras jax")

    class KerasLinear(real.layers.Layer):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
            self.b = self.add_weight(shape=(self.units,), initializer="ones", name="b")

        def call(self, inputs):
            return real.ops.tanh(real.ops.matmul(inputs, self.w) + self.b)

    theirs = real.Sequential([real.Input(shape=(3,)), KerasLinear(4), real.layers.Dense(1)])
    ours = linear_model()
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(X), np.asarray(theirs.predict(X, verbose=0)),
                               rtol=1e-5, atol=1e-6)


def test_adkits_own_call_signature_is_not_taken_for_keras_style():
    from adkit.nn.layers.subclassing import is_keras_style

    class Doubled(layers.Layer):          # adkit's contract, other argument names
        def call(self, weights, x, context):
            return 2.0 * x

    class KerasWay(layers.Layer):
        def call(self, inputs, training=None, mask=None):
            return inputs

    assert not hasattr(Doubled, "_user_call")
    assert KerasWay._user_call is not None and not is_keras_style(KerasWay)   # adapted
    np.testing.assert_allclose(keras.Sequential([Doubled(input_shape=(3,))]).predict(X),
                               2.0 * X, rtol=1e-6)


class InitLinear(layers.Layer):
    """Keras's subclassing guide's first layer: weights made in __init__."""

    def __init__(self, units=32, input_dim=32):
        super().__init__()
        self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal",
                                 trainable=True)
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return np.matmul(inputs, self.w) + self.b


def test_weights_made_in_init_and_a_standalone_call():
    layer = InitLinear(4, 2)
    y = layer(np.ones((2, 2)))                    # in no model: its own weights
    np.testing.assert_allclose(y, np.ones((2, 2)) @ layer.w.numpy() + layer.b.numpy(),
                               rtol=1e-6)
    assert layer.w.shape == (2, 4) and np.all(layer.b.numpy() == 0)
    # in a model the model's seed draws them again, and training changes them
    model = keras.Sequential([keras.Input(shape=(2,)), InitLinear(4, 2), layers.Dense(1)],
                             seed=0)
    again = keras.Sequential([keras.Input(shape=(2,)), InitLinear(4, 2), layers.Dense(1)],
                             seed=0)
    np.testing.assert_array_equal(model.get_weights()[0], again.get_weights()[0])
    inner = model.layers[0]
    model.compile(optimizer="adam", loss="mse")
    before = inner.w.numpy()
    model.fit(X[:, :2], Y, epochs=2, verbose=0)
    assert not np.array_equal(inner.w.numpy(), before)
    np.testing.assert_array_equal(inner.w.numpy(), model.get_weights()[0])


class ComputeSum(layers.Layer):
    """Keras's guide: a weight that is not trainable, returned after assign_add."""

    def __init__(self, input_dim):
        super().__init__()
        self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

    def call(self, inputs):
        self.total.assign_add(np.sum(inputs, axis=0))
        return self.total


def test_reads_after_assign_see_the_new_value():
    my_sum = ComputeSum(2)
    x = np.ones((2, 2))
    np.testing.assert_array_equal(my_sum(x), [2.0, 2.0])
    np.testing.assert_array_equal(my_sum(x), [4.0, 4.0])
    np.testing.assert_array_equal(my_sum.total.numpy(), [4.0, 4.0])


class PenalizedDense(layers.Layer):
    def __init__(self, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.dense = layers.Dense(2, kernel_regularizer=keras.regularizers.l2(0.5))

    def call(self, inputs):
        h = self.dense(inputs)
        self.add_loss(self.rate * np.sum(h ** 2) / inputs.shape[0])
        return h


@pytest.mark.parametrize("functional", [False, True])
def test_add_loss_and_sublayer_regularizers_enter_the_training_loss(functional):
    if functional:
        inputs = keras.Input(shape=(3,))
        model = keras.Model(inputs, PenalizedDense(name="act")(inputs), seed=0)
    else:
        model = keras.Sequential([PenalizedDense(input_shape=(3,), name="act")],
                                 seed=0)
    model.compile(optimizer="sgd", loss="mse")
    y = np.zeros((16, 2))
    params = model.params
    kernel, bias = params["act"]["dense"]["kernel"], params["act"]["dense"]["bias"]
    h = X @ kernel + bias
    expected = np.mean(h ** 2) + 0.1 * np.sum(h ** 2) / 16 + 0.5 * np.sum(kernel ** 2)
    loss, _ = model.loss_fn(params, X.astype(np.float32), y.astype(np.float32),
                            training=False)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert model.layers[-1].losses == []             # the loss took them (no traced leak)
    model.predict(X)
    assert len(model.layers[-1].losses) == 1         # the last call's, as in Keras


def test_the_compiled_step_is_staged_once_and_replayed():
    model = keras.Sequential([keras.Input(shape=(3,)), Residual(name="res"),
                              Linear(4, name="lin"), PenalizedDense(name="act"),
                              layers.Dense(1)], seed=0)
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, Y, epochs=3, batch_size=4, verbose=0)      # 12 steps of one shape
    stats = model.trainer.compiled_step.program.stats
    assert (stats.traces, stats.replays, stats.eager_calls) == (1, 11, 0)


class MeanOverTime(layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="s")

    def call(self, inputs):
        return inputs * self.scale, np.mean(inputs, axis=1) * self.scale


def test_inputs_of_unknown_length():
    inputs = keras.Input(shape=(None, 3))
    steps, pooled = MeanOverTime(name="mot")(inputs)
    assert steps.shape == (None, None, 3) and pooled.shape == (None, 3)
    model = keras.Model(inputs, [steps, pooled], seed=0)
    for length in (2, 5):
        x = RNG.normal(size=(4, length, 3))
        out_steps, out_pooled = model.predict(x)
        np.testing.assert_allclose(out_steps, x, rtol=1e-6, atol=1e-6)     # float32
        np.testing.assert_allclose(out_pooled, x.mean(axis=1), rtol=1e-6, atol=1e-6)


class TransformerBlock(layers.Layer):
    """keras.io's text classification with a transformer, its block as written there."""

    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"),
                                     layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs, training=False):
        attn_output = self.dropout1(self.att(inputs, inputs), training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.dropout2(self.ffn(out1), training=training)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        positions = self.pos_emb(np.arange(0, x.shape[-1], 1))
        return self.token_emb(x) + positions


def test_the_keras_io_transformer_example_builds_as_keras_and_learns():
    inputs = layers.Input(shape=(20,), dtype="int32")
    x = TokenAndPositionEmbedding(20, 50, 16, name="embed")(inputs)
    x = TransformerBlock(16, 2, 32, name="block")(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(20, activation="relu", name="hidden")(x)
    model = keras.Model(inputs, layers.Dense(2, activation="softmax", name="out")(x), seed=0)

    def count(tree):
        return sum(np.size(a) for a in adkit.pytree.tree_flatten(tree)[0])
    # Keras 3.15's count_params for the same layers: 50*16 + 20*16; attention
    # 3*(16*2*16 + 2*16) + 2*16*16 + 16, feed-forward 16*32+32 + 32*16+16, norms 4*16
    assert [count(model.params[n]) for n in ("embed", "block", "hidden", "out")] == \
        [1120, 3296, 340, 42]
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50, size=(256, 20))
    labels = (np.mean(tokens < 25, axis=1) > 0.5).astype(int)   # mostly low tokens?
    model.compile(optimizer=keras.optimizers.Adam(0.003),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(tokens, labels, batch_size=32, epochs=10, verbose=0)
    assert history.history["accuracy"][-1] > 0.8
    assert model.trainer.compiled_step.program.stats.traces == 1


def test_a_variable_outside_the_call_reads_the_current_value():
    layer = InitLinear(3, 2)
    model = keras.Sequential([keras.Input(shape=(2,)), layer], seed=0)
    current = model.get_weights()[0]
    np.testing.assert_array_equal(layer.w + 1.0, current + 1.0)
    np.testing.assert_array_equal(2.0 * layer.w @ np.ones(3), 2.0 * current @ np.ones(3))
    np.testing.assert_array_equal(layer.w[0], current[0])
    layer.w.assign(np.zeros((2, 3)))
    np.testing.assert_array_equal(model.get_weights()[0], np.zeros((2, 3)))
    assert ComputeSum(4).total.shape == (4,)

    class IntShape(layers.Layer):
        def build(self, input_shape):
            self.v = self.add_weight(shape=input_shape[-1], initializer="ones")

        def call(self, inputs):
            return inputs * self.v
    np.testing.assert_array_equal(IntShape()(np.ones((1, 3))), np.ones((1, 3)))


def test_a_frozen_sublayer_does_not_train():
    model = TwoLayers(seed=0)
    model.build((None, 3))
    model.hidden.trainable = False                 # Keras: freezes that sublayer only
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    params = model.params["call"]
    hidden = {k: v.copy() for k, v in params["hidden"].items()}
    out = {k: v.copy() for k, v in params["out"].items()}
    model.fit(X, Y, epochs=2, verbose=0)
    for k in hidden:
        np.testing.assert_array_equal(params["hidden"][k], hidden[k])
    assert not np.array_equal(params["out"]["kernel"], out["kernel"])


def test_add_weight_names_a_shape_it_cannot_make():
    class Unsized(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[1], 2), name="w")

        def call(self, inputs):
            return inputs @ self.w
    inputs = keras.Input(shape=(None, 3))
    with pytest.raises(ValueError, match=r"add_weight\(name='w'\) needs a shape of "
                                         r"non-negative ints"):
        Unsized(name="unsized")(inputs)


def test_a_subclassed_models_summary_lists_the_layers_it_keeps():
    model = TwoLayers(seed=0)
    model.build((None, 3))
    model.out.trainable = False
    lines = []
    model.summary(print_fn=lines.append)
    rows = [line.split() for line in lines if "(" in line and not line.startswith("Layer")]
    # as Keras: each layer's own name, in the order the attributes were set
    assert [row[:2] for row in rows] == [[model.hidden.name, "(Dense)"],
                                         [model.drop.name, "(Dropout)"],
                                         [model.out.name, "(Dense)"]]
    assert [row[-1] for row in rows] == ["32", "0", "9"]      # 3*8+8, 8*1+1
    assert f"Total params: {model.count_params()}" in lines
    assert "Non-trainable params: 9" in lines
