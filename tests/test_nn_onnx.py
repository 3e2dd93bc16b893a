"""model.export_onnx: the exported file, run by onnxruntime, gives what model.predict
gives (to 1e-5), for every exportable layer and activation; anything else is refused
by name before a file is written."""

import os

import numpy as np
import pytest

from adkit.nn import Sequential
from adkit.nn import activations
from adkit.nn.layers import (LSTM, Activation, AveragePooling2D, BatchNormalization, Conv2D,
                             Dense, Dropout, Embedding, Flatten, MaxPooling2D, Reshape)

onnx = pytest.importorskip("onnx", reason="onnx is not installed: pip install 'adkit[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: "
                                                "pip install onnxruntime")


def run_onnx(path, x):
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def assert_exported_like_predict(model, x, tmp_path):
    path = tmp_path / "model.onnx"
    model.export_onnx(path)
    expected = model.predict(x)
    got = run_onnx(path, x)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    return path


def with_moving_statistics(model, rng):
    """BatchNormalization layers with moving averages far from (0, 1), so the exported
    scale and shift are really tested."""
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            n = model.state[layer.name]["moving_mean"].shape
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(size=n),
                               rng.normal(size=n), rng.uniform(0.2, 3, n)])
    return model


def test_a_cnn_of_every_spatial_layer_runs_in_onnxruntime_as_in_predict(tmp_path):
    rng = np.random.default_rng(0)
    model = Sequential([
        Conv2D(4, 3, activation="relu", input_shape=(13, 11, 2)), BatchNormalization(),
        MaxPooling2D(padding="same"),
        Conv2D(6, (3, 2), strides=2, padding="same", activation="tanh"),
        AveragePooling2D((2, 2), strides=1, padding="same"), Activation("elu"),
        MaxPooling2D((2, 2), strides=(1, 2)), Flatten(), Dropout(0.5),
        Dense(8, activation="scaled_tanh"), Reshape((2, 4)), Dense(3, activation="softmax")],
        seed=1)
    with_moving_statistics(model, rng)
    x = rng.standard_normal((5, 13, 11, 2)).astype(np.float32)
    path = assert_exported_like_predict(model, x, tmp_path)
    # the batch axis is free: one example and many give the same rows
    np.testing.assert_allclose(run_onnx(path, x[:1]), model.predict(x[:1]), rtol=1e-5, atol=1e-5)
    proto = onnx.load(os.fspath(path))
    onnx.checker.check_model(proto)
    assert [i.name for i in proto.graph.input] == ["input"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_a_keras_mnist_mlp_exports(tmp_path):
    model = Sequential([Dense(64, activation="relu", input_shape=(784,)), Dropout(0.2),
                        Dense(64, activation="relu"), Dropout(0.2),
                        Dense(10, activation="softmax")], seed=2)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    rng = np.random.default_rng(1)
    x = rng.random((64, 784), dtype=np.float32)
    model.fit(x, np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)], epochs=1, verbose=0)
    assert_exported_like_predict(model, x, tmp_path)


@pytest.mark.parametrize("name", sorted(activations.ALL))
def test_every_activation_exports_on_vectors_and_on_images(name, tmp_path):
    rng = np.random.default_rng(3)
    dense = Sequential([Dense(5, activation=name, input_shape=(4,)),
                        BatchNormalization(), Activation(name)], seed=0)
    # exp(exp(.)) of inputs this large magnifies float32 rounding past the 1e-5 compared
    scale = 1.0 if name == "exponential" else 3.0
    x = scale * rng.standard_normal((6, 4)).astype(np.float32)
    assert_exported_like_predict(with_moving_statistics(dense, rng), x, tmp_path)
    # on images the elementwise ones run channels-first inside the graph; softmax is over
    # the channels, so it must come back to channels-last first
    conv = Sequential([Conv2D(3, 2, activation=name, input_shape=(5, 5, 2)),
                       BatchNormalization(), Activation(name), MaxPooling2D(), Flatten()], seed=0)
    images = scale * rng.standard_normal((4, 5, 5, 2)).astype(np.float32)
    assert_exported_like_predict(with_moving_statistics(conv, rng), images, tmp_path)


def test_a_float64_model_exports_in_float64(tmp_path):
    model = Sequential([Dense(3, activation="tanh", input_shape=(2,), dtype="float64"),
                        Dense(1, dtype="float64")], seed=0)
    x = np.random.default_rng(0).standard_normal((4, 2))
    assert_exported_like_predict(model, x, tmp_path)


@pytest.mark.parametrize("layers, named", [
    ([LSTM(4, input_shape=(5, 3)), Dense(1)], "'lstm"),
    ([Embedding(10, 4, input_shape=(3,)), Flatten()], "'embedding"),
    ([Dense(4, input_shape=(3,)), Activation(lambda x: x * 2)], "'activation"),
], ids=["recurrent", "embedding", "custom-activation"])
def test_what_has_no_onnx_form_is_refused_by_name_and_nothing_is_written(layers, named,
                                                                          tmp_path):
    model = Sequential(layers, seed=0)
    path = tmp_path / "model.onnx"
    with pytest.raises(ValueError, match=f"export_onnx: layer {named}.*(no ONNX|exportable)"):
        model.export_onnx(path)
    assert list(tmp_path.iterdir()) == []


def test_an_unbuilt_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not built"):
        Sequential([Dense(2)]).export_onnx(tmp_path / "m.onnx")
