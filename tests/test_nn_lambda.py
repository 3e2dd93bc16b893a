"""adkit.nn.layers.Lambda (Keras's Lambda): a function of the inputs as a layer. Its output
shape, its arguments, its derivatives (the model's gradient against finite differences),
compiled steps that train as eager ones, even when the function reads a global changed
between fits, and a model holding one refusing to be saved (a function is code)."""

import numpy as np
import pytest

import adkit
from adkit import numeric
from adkit.nn import Input, Model, Sequential, optimizers
from adkit.nn.layers import Concatenate, Dense, Lambda

RNG = np.random.default_rng(3)
X = RNG.standard_normal((48, 5))
Y = (X[:, 0] + X[:, 1] > 0).astype("int64")
SCALE = 2.0


def _model(jit, **lambda_options):
    m = Sequential([Dense(6, activation="tanh", input_shape=(5,), dtype="float64"),
                    Lambda(lambda t: t[:, :4] * SCALE, dtype="float64", **lambda_options),
                    Dense(2, activation="softmax", dtype="float64")], seed=0)
    m.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
              jit_compile=jit)
    return m


def test_output_shapes_found_given_or_asked_for():
    assert Lambda(lambda t: t[:, :2] * 2.0).compute_output_shape((5,)) == (2,)
    assert Lambda(lambda t: np.sum(t, axis=-1)).compute_output_shape((4, 3)) == (4,)
    assert Lambda(lambda t, k: t[:, :k], arguments={"k": 3}).compute_output_shape((5,)) == (3,)
    assert Lambda(lambda t: t, output_shape=(7,)).compute_output_shape((None,)) == (7,)
    assert Lambda(lambda t: t, output_shape=lambda s: s[:1]).compute_output_shape((2, 9)) == (2,)
    with pytest.raises(ValueError, match="output_shape="):
        Lambda(lambda t: t).compute_output_shape((None, 3))
    with pytest.raises(TypeError, match="function must be callable"):
        Lambda(3.0)
    assert _model(True).layers[1].compute_output_shape((6,)) == (4,)


def test_the_gradient_through_a_lambda_matches_finite_differences():
    m = _model(False)
    m.fit(X[:16], Y[:16], batch_size=16, epochs=1, verbose=0)   # (builds it)
    params = m.params

    def loss(x):
        return m.loss_fn(params, x, Y[:6], training=False)[0]
    np.testing.assert_allclose(adkit.grad(loss)(X[:6]), numeric.gradient(loss, X[:6]),
                               rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("change", ["none", "global"])
def test_compiled_steps_train_as_eager_ones(change):
    global SCALE
    losses = {}
    for jit in (True, False):
        SCALE = 2.0
        m = _model(jit)
        history = [m.fit(X, Y, batch_size=16, epochs=1, verbose=0, shuffle=False)
                   .history["loss"][0]]
        if change == "global":
            SCALE = 5.0    # the function reads it: the compiled step must too
        history.append(m.fit(X, Y, batch_size=16, epochs=1, verbose=0, shuffle=False)
                       .history["loss"][0])
        losses[jit] = (history, m.get_weights())
    SCALE = 2.0
    np.testing.assert_allclose(losses[True][0], losses[False][0], rtol=1e-12)
    for a, b in zip(losses[True][1], losses[False][1]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_a_lambda_over_several_inputs_in_a_functional_model():
    a, b = Input(shape=(3,), dtype="float64"), Input(shape=(2,), dtype="float64")
    joined = Lambda(lambda ts: ts[0][:, :2] * ts[1], dtype="float64")([a, b])
    out = Dense(1, dtype="float64")(Concatenate(dtype="float64")([joined, b]))
    m = Model([a, b], out)
    xa, xb = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 2))
    kernel, bias = m.get_weights()
    expected = np.concatenate([xa[:, :2] * xb, xb], axis=1) @ kernel + bias
    np.testing.assert_allclose(m.predict([xa, xb], verbose=0), expected, rtol=1e-12)


def test_a_model_with_a_lambda_saves_its_weights_not_itself(tmp_path):
    m = _model(True)
    m.fit(X, Y, batch_size=16, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="Lambda layer 'lambda.*function is code.*save_weights"):
        m.save(tmp_path / "m.adkit")
    assert not (tmp_path / "m.adkit").exists()   # nothing half-written
    m.save_weights(tmp_path / "m.weights.h5")
    again = _model(True)
    again.fit(X[:16], Y[:16], batch_size=16, epochs=1, verbose=0)   # (builds it)
    again.load_weights(tmp_path / "m.weights.h5")
    for a, b in zip(again.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="cannot be rebuilt from a file"):
        Lambda.from_config(m.layers[1].get_config())
