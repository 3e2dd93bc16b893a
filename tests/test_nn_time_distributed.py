"""TimeDistributed: the wrapped layer on every time step.

Values are checked against the per-step formula written here in NumPy (and, for
Conv2D, against the wrapped layer called on each step alone), derivatives with
adkit.check_grads against finite differences, shapes and parameter counts against
Keras's, and outputs and weight files against Keras itself when it is installed.
"""

import numpy as np
import pytest

import adkit
from adkit.nn import Input, Model, Sequential, load_model, optimizers, regularizers
from adkit.nn.layers import (LSTM, BatchNormalization, Context, Conv2D, Dense, Flatten,
                             ShapeError, TimeDistributed, deserialize, serialize)


from keras_referee import keras  # noqa: F401  (a fixture)


def rng_normal(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def dense_model(**kwargs):
    inp = Input(shape=(5, 4))
    return Model(inp, TimeDistributed(Dense(3, activation="tanh", **kwargs), name="td")(inp),
                 seed=0)


def test_dense_on_every_step_is_the_numpy_formula():
    model = dense_model()
    kernel, bias = model.get_layer("td").get_weights()
    x = rng_normal((2, 5, 4))
    expected = np.stack([np.tanh(x[:, t] @ kernel + bias) for t in range(5)], axis=1)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)


def test_conv2d_on_every_step_is_the_conv_on_that_step_alone():
    conv = Conv2D(2, (3, 3), activation="relu")
    layer = TimeDistributed(conv)
    params = layer.init_params(np.random.default_rng(0), (3, 6, 6, 1))
    x = rng_normal((2, 3, 6, 6, 1))
    got = layer.call(params, x, Context())
    assert got.shape == (2, 3, 4, 4, 2)
    for t in range(3):
        np.testing.assert_allclose(got[:, t], conv.call(params, x[:, t], Context()),
                                   rtol=1e-5, atol=1e-6)


def test_shapes_and_parameter_counts_are_keras_s():
    model = Sequential([TimeDistributed(Conv2D(4, (3, 3)), input_shape=(3, 8, 8, 2)),
                        TimeDistributed(Flatten()), TimeDistributed(Dense(5))], seed=0)
    assert model.output_shape == (None, 3, 5)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 3, 6, 6, 4)" in text and "(None, 3, 144)" in text
    assert model.count_params() == (3 * 3 * 2 * 4 + 4) + (144 * 5 + 5)
    # the weights are the wrapped layer's, in its order
    assert [w.shape for w in model.layers[0].get_weights()] == [(3, 3, 2, 4), (4,)]


MODES = ("forward", "reverse", "numeric")


def test_check_grads_params_and_inputs():
    layer = TimeDistributed(Dense(2, activation="tanh", dtype="float64"))
    params = layer.init_params(np.random.default_rng(0), (3, 2))
    x = np.random.default_rng(1).normal(size=(2, 3, 2))
    adkit.check_grads(lambda p, x: layer.call(p, x, Context()), (params, x), modes=MODES)


def test_bad_inputs_are_named():
    with pytest.raises(ShapeError, match=r"'td2'.*TimeDistributed.*2-D input"):
        TimeDistributed(Dense(2), name="td2")(Input(shape=(4,)))
    with pytest.raises(TypeError, match="wraps a layer instance"):
        TimeDistributed("dense")
    with pytest.raises(ShapeError, match=r"\(Conv2D\).*\(height, width, channels\)"):
        TimeDistributed(Conv2D(2, (3, 3)))(Input(shape=(3, 4)))
    layer = TimeDistributed(Dense(2), name="td3")
    with pytest.raises(ShapeError, match="'td3'"):
        layer.call(layer.init_params(np.random.default_rng(0), (3, 4)), np.ones((2, 4)),
                   Context())


def test_config_round_trip_nests_the_wrapped_layer():
    layer = TimeDistributed(Dense(3, activation="relu", name="inner"), name="td")
    config = serialize(layer)
    assert config["config"]["layer"]["class_name"] == "Dense"
    again = deserialize(config)
    assert isinstance(again.layer, Dense) and again.layer.units == 3
    assert again.layer.name == "inner" and again.name == "td"
    assert serialize(again) == config


def test_save_and_load_model_keep_the_outputs(tmp_path):
    model = dense_model()
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "td.adkit"
    model.save(path)
    loaded = load_model(path)
    x = rng_normal((3, 5, 4))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert isinstance(loaded.get_layer("td"), TimeDistributed)


def _fit(jit):
    model = dense_model()
    model.compile(optimizer=optimizers.Adam(0.05), loss="mse", jit_compile=jit)
    x = rng_normal((32, 5, 4), 1)
    y = np.tanh(x @ rng_normal((4, 3), 2))   # a target the layer can learn
    history = model.fit(x, y, epochs=8, batch_size=8, verbose=0, shuffle=False)
    return history.history["loss"], model


def test_fit_lowers_the_loss_and_compiled_agrees_with_eager():
    (on, m_on), (off, m_off) = _fit("auto"), _fit(False)
    assert on[-1] < 0.5 * on[0]
    assert m_on.trainer.eager_reason is None and m_on.trainer.compiled_step is not None
    np.testing.assert_allclose(on, off, rtol=1e-5)
    for a, b in zip(m_on.get_weights(), m_off.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_wrapped_layer_s_regularizer_counts():
    model = dense_model(kernel_regularizer=regularizers.l2(0.5))
    (kernel, _), layer = model.get_layer("td").get_weights(), model.get_layer("td")
    np.testing.assert_allclose(layer.penalty({"kernel": kernel}), 0.5 * np.sum(kernel ** 2),
                               rtol=1e-5)


def test_batch_normalization_inside_keeps_its_moving_averages_over_all_steps():
    inp = Input(shape=(4, 3))
    model = Model(inp, TimeDistributed(BatchNormalization(momentum=0.0), name="bn")(inp),
                  seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x = rng_normal((8, 4, 3)) * 2.0 + 1.0
    model.train_on_batch(x, np.zeros_like(x))
    _, _, mean, var = model.get_layer("bn").get_weights()
    flat = x.reshape(-1, 3)   # time folded into the batch
    np.testing.assert_allclose(mean, flat.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(var, flat.var(axis=0), rtol=1e-4)


def test_opencl_and_onnx_refuse_it_by_name(tmp_path):
    model = dense_model()
    with pytest.raises(ValueError, match=r"'td' \(TimeDistributed\) has no OpenCL"):
        model.compile(optimizer="sgd", loss="mse", device="opencl")
    pytest.importorskip("onnx", reason="onnx is not installed: pip install 'adkit[onnx]'")
    with pytest.raises(ValueError, match=r"'td' \(TimeDistributed\) has no ONNX"):
        model.export_onnx(tmp_path / "td.onnx")
    assert list(tmp_path.iterdir()) == []


def test_keras_weights_file_keeps_them_in_the_layer_group(tmp_path):
    h5py = pytest.importorskip("h5py", reason="pip install h5py")
    model = Sequential([TimeDistributed(Dense(3), input_shape=(5, 4)),
                        TimeDistributed(Dense(2))], seed=0)
    path = tmp_path / "td.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        assert sorted(f["layers/time_distributed/layer/vars"]) == ["0", "1"]
        assert len(f["layers/time_distributed/vars"]) == 0
        np.testing.assert_array_equal(f["layers/time_distributed_1/layer/vars/0"][()],
                                      model.layers[1].get_weights()[0])
    other = Sequential([TimeDistributed(Dense(3), input_shape=(5, 4)),
                        TimeDistributed(Dense(2))], seed=1)
    other.load_weights(path)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- against Keras itself

def test_keras_reads_our_weights_and_we_read_keras_s(keras, tmp_path):
    L = keras.layers
    twin = keras.Sequential([keras.Input((3, 6, 6, 1)), L.TimeDistributed(L.Conv2D(2, 3)),
                             L.TimeDistributed(L.Flatten()), L.TimeDistributed(L.Dense(4)),
                             L.LSTM(3)])
    ours = Sequential([TimeDistributed(Conv2D(2, (3, 3)), input_shape=(3, 6, 6, 1)),
                       TimeDistributed(Flatten()), TimeDistributed(Dense(4)), LSTM(3)], seed=0)
    x = rng_normal((4, 3, 6, 6, 1))
    ours.save_weights(tmp_path / "ours.weights.h5")
    twin.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(np.asarray(twin.predict(x, verbose=0)), ours.predict(x),
                               rtol=1e-5, atol=1e-5)
    twin2 = keras.models.clone_model(twin)
    twin2.set_weights([w * 0.5 for w in twin.get_weights()])
    twin2.save_weights(tmp_path / "keras.weights.h5")
    ours.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(ours.predict(x), np.asarray(twin2.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-5)
