"""BatchNormalization with Keras 3's arguments: any features axis (counted with the batch
axis), the initializers of gamma, beta and both moving statistics, gamma/beta
regularizers and constraints; values against NumPy formulas in training and inference,
the moving averages' update, config and model-file round trips, compiled and eager
training alike, ONNX export, and (where Keras 3 is installed) the same numbers as Keras."""

import os

import numpy as np
import pytest
from keras_referee import keras  # noqa: F401  (a fixture)
from layer_fit_support import batch_losses

from adkit.nn import Sequential, load_model
from adkit.nn.layers import BatchNormalization, Conv2D, Dense, Flatten, deserialize, serialize
from adkit.nn.layers.base import Context

RNG = np.random.default_rng(0)
X = (2 * RNG.standard_normal((6, 3, 4, 5)) + 1).astype(np.float32)


def bn_model(layer, shape=X.shape[1:]):
    model = Sequential([layer], seed=0)
    model.build(shape)
    return model


def with_weights(model, layer, seed=1):
    rng = np.random.default_rng(seed)
    n = layer.get_weights()[0].shape
    weights = [rng.uniform(0.5, 2, n), rng.normal(size=n), rng.normal(size=n),
               rng.uniform(0.2, 3, n)]
    layer.set_weights(weights)
    return [w.astype(np.float32) for w in weights]


@pytest.mark.parametrize("axis", [-1, 3, 1, 2, -3])
def test_training_and_inference_values_on_any_axis(axis):
    layer = BatchNormalization(axis=axis, momentum=0.8)
    model = bn_model(layer)
    gamma, beta, mean, var = with_weights(model, layer)
    a = axis % 4
    where = [X.shape[a] if i == a else 1 for i in range(4)]
    others = tuple(i for i in range(4) if i != a)
    x = X.astype(np.float64)
    expected = (x - mean.reshape(where)) / np.sqrt(var.reshape(where) + 1e-3) \
        * gamma.reshape(where) + beta.reshape(where)
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-5)
    ctx = Context(training=True, state=model.state)
    y = layer.call(model.params[layer.name], X, ctx)
    bmean, bvar = x.mean(axis=others), x.var(axis=others)
    expected = (x - bmean.reshape(where)) / np.sqrt(bvar.reshape(where) + 1e-3) \
        * gamma.reshape(where) + beta.reshape(where)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    new = ctx.new_state[layer.name]
    np.testing.assert_allclose(new["moving_mean"], 0.8 * mean + 0.2 * bmean, rtol=1e-5)
    np.testing.assert_allclose(new["moving_variance"], 0.8 * var + 0.2 * bvar, rtol=1e-5)
    assert new["moving_mean"].dtype == np.float32


def test_keras_s_argument_order_defaults_and_weights():
    layer = BatchNormalization(1)      # Keras's first argument is the axis
    assert layer.axis == 1 and layer.momentum == 0.99 and layer.epsilon == 1e-3
    bn_model(layer, (3, 4))
    assert [w.shape for w in layer.get_weights()] == [(3,)] * 4
    np.testing.assert_array_equal(layer.get_weights()[0], np.ones(3))
    np.testing.assert_array_equal(layer.get_weights()[3], np.ones(3))


def test_initializers_regularizers_constraints_and_config(tmp_path):
    layer = BatchNormalization(axis=1, gamma_initializer="zeros", beta_initializer="ones",
                               moving_mean_initializer="ones",
                               moving_variance_initializer={"class_name": "Constant",
                                                            "config": {"value": 4.0}},
                               gamma_regularizer="l2", beta_constraint="non_neg",
                               center=True, scale=True)
    model = Sequential([layer, Flatten(), Dense(1)], seed=0)
    model.build((3, 4))
    gamma, beta, mean, var = layer.get_weights()
    np.testing.assert_array_equal(gamma, 0), np.testing.assert_array_equal(beta, 1)
    np.testing.assert_array_equal(mean, 1), np.testing.assert_array_equal(var, 4)
    assert layer.penalty({"gamma": np.full(3, 2.0), "beta": np.zeros(3)}) == pytest.approx(0.12)
    assert layer.constraints["beta"] is not None
    again = deserialize(serialize(layer))
    assert again.get_config() == layer.get_config()
    x = RNG.standard_normal((4, 3, 4)).astype(np.float32)
    model.save(tmp_path / "m.adkit")
    np.testing.assert_array_equal(load_model(tmp_path / "m.adkit").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


@pytest.mark.parametrize("make, error, message", [
    (lambda: BatchNormalization(axis=[1, 2]), TypeError, "axis must be an int"),
    (lambda: BatchNormalization(momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
    (lambda: BatchNormalization(synchronized=True), ValueError, "synchronized=True"),
    (lambda: BatchNormalization(renorm=True), ValueError, "renorm"),
])
def test_bad_arguments_are_refused_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("axis, message", [(0, "batch axis"), (4, "out of bounds")])
def test_bad_axes_are_refused_when_built(axis, message):
    with pytest.raises(ValueError, match=message):
        bn_model(BatchNormalization(axis=axis), (3, 4, 5))


def train(jit, x, y):
    return batch_losses([Conv2D(4, 2, input_shape=(5, 5, 2)), BatchNormalization(axis=1),
                         Flatten(), Dense(1)], x, y, jit=jit, batch_size=8, epochs=4)


def test_training_on_a_middle_axis_compiled_and_eagerly_alike():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((32, 5, 5, 2)).astype(np.float32)
    y = x[:, :1, 0, 0] - x[:, 2:3, 1, 1]
    (compiled, a), (eager, b) = train("auto", x, y), train(False, x, y)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    epochs = np.reshape(compiled, (-1, 4)).mean(axis=1)   # 4 batches an epoch
    assert epochs[-1] < epochs[0]
    np.testing.assert_allclose(a.layers[1].get_weights()[2], b.layers[1].get_weights()[2],
                               rtol=1e-5)


def test_export_onnx_on_a_middle_axis(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    pytest.importorskip("onnx", reason="onnx is not installed")
    layer = BatchNormalization(axis=2)
    model = Sequential([Conv2D(3, 2, input_shape=(5, 5, 2)), layer, Flatten(), Dense(2)],
                       seed=0)
    with_weights(model, layer)
    model.export_onnx(tmp_path / "m.onnx")
    x = RNG.standard_normal((3, 5, 5, 2)).astype(np.float32)
    session = ort.InferenceSession(os.fspath(tmp_path / "m.onnx"),
                                   providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_same_numbers_as_keras(keras, axis):
    ours = BatchNormalization(axis=axis, momentum=0.9)
    model = bn_model(ours)
    weights = with_weights(model, ours)
    theirs = keras.layers.BatchNormalization(axis=axis, momentum=0.9)
    theirs.build((None, *X.shape[1:]))
    theirs.set_weights(weights)
    np.testing.assert_allclose(model.predict(X, verbose=0), np.asarray(theirs(X)), rtol=1e-5,
                               atol=1e-5)
    ctx = Context(training=True, state=model.state)
    np.testing.assert_allclose(ours.call(model.params[ours.name], X, ctx),
                               np.asarray(theirs(X, training=True)), rtol=1e-4, atol=1e-4)
    new = ctx.new_state[ours.name]
    np.testing.assert_allclose(new["moving_mean"], np.asarray(theirs.moving_mean), rtol=1e-5)
    np.testing.assert_allclose(new["moving_variance"], np.asarray(theirs.moving_variance),
                               rtol=1e-4)
