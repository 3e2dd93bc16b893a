"""Conv2D's Keras arguments beyond the basic ones (nn/layers/conv.py): dilation_rate
against a plain NumPy loop, finite differences, Keras 3 and onnxruntime; the bias's
regularizer and constraint; data_format and groups refused where adkit lacks them."""

import os

import numpy as np
import pytest
from conv_support import keras, one_layer, same_as_keras  # noqa: F401

import adkit
from adkit.nn import Input, Sequential, load_model
from adkit.nn.layers import (Conv1D, Conv2D, Conv2DTranspose, Dense, DepthwiseConv2D, Flatten,
                             MaxPooling2D, SeparableConv2D, deserialize, serialize)

RNG = np.random.default_rng(3)


def dilated_conv_loop(x, kernel, bias, padding, dilation):
    """y[n, i, j] = sum over a, b of xp[n, i + a * dh, j + b * dw] @ kernel[a, b] + bias."""
    n, h, w, _ = x.shape
    kh, kw, _, f = kernel.shape
    (dh, dw) = dilation
    sh, sw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "valid":
        top = left = 0
        ho, wo = h - sh + 1, w - sw + 1
    else:
        top, left, ho, wo = (sh - 1) // 2, (sw - 1) // 2, h, w
    xp = np.zeros((n, h + sh, w + sw, x.shape[3]))
    xp[:, top:top + h, left:left + w] = x
    y = np.zeros((n, ho, wo, f))
    for i in range(ho):
        for j in range(wo):
            for a in range(kh):
                for b in range(kw):
                    y[:, i, j] += xp[:, i + a * dh, j + b * dw] @ kernel[a, b]
    return y + bias


CASES = [("valid", (2, 2)), ("same", (2, 3)), ("valid", (1, 3)), ("same", (3, 1)),
         ("same", (1, 1))]


@pytest.mark.parametrize("padding,dilation", CASES)
def test_dilated_conv2d_values_shapes_and_derivatives(padding, dilation):
    layer = Conv2D(3, (3, 2), padding=padding, dilation_rate=dilation, dtype="float64",
                   bias_initializer="random_normal")
    one_layer(layer, (8, 7, 2))
    kernel, bias = layer.get_weights()
    x = RNG.standard_normal((2, 8, 7, 2))
    out = layer(x)
    np.testing.assert_allclose(out, dilated_conv_loop(x, kernel, bias, padding, dilation),
                               rtol=1e-12, atol=1e-12)
    assert out.shape[1:] == layer.compute_output_shape((8, 7, 2))
    adkit.check_grads(lambda w: np.sum(np.sin(layer.call({"kernel": w, "bias": bias}, x, None))),
                      (kernel,), modes=("forward", "reverse", "numeric"))
    adkit.check_grads(lambda v: np.sum(np.sin(layer.call({"kernel": kernel, "bias": bias}, v,
                                                         None))),
                      (x,), modes=("reverse", "numeric"))


def test_dilated_conv2d_model_trains_saves_and_loads(tmp_path):
    model = Sequential([Input((9, 9, 1)), Conv2D(4, 3, dilation_rate=2, activation="relu"),
                        MaxPooling2D(), Flatten(), Dense(2, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = RNG.standard_normal((32, 9, 9, 1)).astype(np.float32)
    y = (x[:, 4, 4, 0] > 0).astype(np.int64)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=8, epochs=6, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
    model.save(tmp_path / "m.adkit")
    again = load_model(tmp_path / "m.adkit")
    assert again.layers[0].dilation_rate == (2, 2)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_bias_regularizer_and_constraint():
    layer = Conv2D(2, 2, bias_regularizer="l2", bias_constraint="non_neg", dtype="float64")
    one_layer(layer, (3, 3, 1))
    bias = np.array([3.0, -4.0])
    np.testing.assert_allclose(layer.penalty({"kernel": np.zeros((2, 2, 1, 2)), "bias": bias}),
                               0.01 * 25)
    assert layer.constraints["bias"] is not None
    no_bias = Conv2D(2, 2, use_bias=False, bias_regularizer="l2")   # nothing to regularize
    assert "bias" not in no_bias.regularizers
    again = deserialize(serialize(layer))
    assert again.get_config() == layer.get_config()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="Conv2D 'c': strides > 1 together with dilation_rate"):
        Conv2D(2, 3, strides=2, dilation_rate=2, name="c")
    with pytest.raises(ValueError, match="dilation_rate must be a positive int or 2 of them"):
        Conv2D(2, 3, dilation_rate=(1, 2, 3))
    with pytest.raises(ValueError, match="groups=4"):
        Conv2D(8, 3, groups=4)
    with pytest.raises(ValueError, match="channels_last"):
        Conv2D(8, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="channels_last"):
        MaxPooling2D(data_format="channels_first")
    MaxPooling2D(data_format="channels_last")   # Keras's default, spelled out
    for make in (lambda r: Conv2D(2, 3, activity_regularizer=r),
                 lambda r: Conv1D(2, 3, activity_regularizer=r),
                 lambda r: Conv2DTranspose(2, 3, activity_regularizer=r),
                 lambda r: DepthwiseConv2D(3, activity_regularizer=r),
                 lambda r: SeparableConv2D(2, 3, activity_regularizer=r)):
        make(None)   # Keras's default, as its configs hold it
        with pytest.raises(ValueError, match="activity_regularizer is not supported; put "
                                             "adkit.nn.layers.ActivityRegularization"):
            make("l2")
    with pytest.raises(ValueError, match=r"'dil' \(Conv2D\).*at least 5x5"):
        Sequential([Input((4, 6, 1)), Conv2D(2, 3, dilation_rate=2, name="dil")])
    model = Sequential([Input((6, 6, 1)), Conv2D(2, 3, dilation_rate=2, name="dil"), Flatten(),
                        Dense(1)])
    with pytest.raises(ValueError, match=r"'dil' \(Conv2D\) has no OpenCL"):
        model.compile(optimizer="sgd", loss="mse", device="opencl")


def test_dilated_conv2d_exports_to_onnx(tmp_path):
    pytest.importorskip("onnx", reason="export_onnx needs the onnx package")
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime to run the export")
    model = Sequential([Input((9, 8, 2)), Conv2D(3, (3, 2), dilation_rate=(2, 3), padding="same",
                                                 activation="relu", bias_initializer="ones"),
                        Conv2D(2, 2, dilation_rate=2), Flatten(), Dense(2)], seed=1)
    x = RNG.standard_normal((3, 9, 8, 2)).astype(np.float32)
    model.export_onnx(tmp_path / "m.onnx")
    session = ort.InferenceSession(os.fspath(tmp_path / "m.onnx"),
                                   providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding,dilation", CASES)
def test_dilated_conv2d_matches_keras(keras, padding, dilation):
    x = RNG.standard_normal((2, 8, 7, 2)).astype(np.float32)
    same_as_keras(keras, Conv2D(3, (3, 2), padding=padding, dilation_rate=dilation,
                                bias_initializer="random_normal"),
                  keras.layers.Conv2D(3, (3, 2), padding=padding, dilation_rate=dilation), x)


ALIASES = {"Convolution1D": "Conv1D", "Convolution2D": "Conv2D",
           "Convolution1DTranspose": "Conv1DTranspose",
           "Convolution2DTranspose": "Conv2DTranspose",
           "SeparableConvolution1D": "SeparableConv1D",
           "SeparableConvolution2D": "SeparableConv2D", "MaxPool1D": "MaxPooling1D",
           "MaxPool2D": "MaxPooling2D", "AvgPool1D": "AveragePooling1D",
           "AvgPool2D": "AveragePooling2D", "GlobalMaxPool1D": "GlobalMaxPooling1D",
           "GlobalMaxPool2D": "GlobalMaxPooling2D", "GlobalAvgPool1D": "GlobalAveragePooling1D",
           "GlobalAvgPool2D": "GlobalAveragePooling2D"}


def test_keras_aliases_are_the_same_classes(tmp_path):
    from adkit.nn import layers
    for alias, name in ALIASES.items():
        assert getattr(layers, alias) is getattr(layers, name), alias
    model = Sequential([Input((6, 6, 1)), layers.Convolution2D(2, 3), layers.MaxPool2D(),
                        layers.GlobalAvgPool2D()])
    model.save(tmp_path / "m.adkit")
    assert [type(layer).__name__ for layer in load_model(tmp_path / "m.adkit").layers] == \
        ["Conv2D", "MaxPooling2D", "GlobalAveragePooling2D"]
    assert model.layers[0].name.startswith("conv2d")   # named after the class, as in Keras


def test_keras_has_the_same_aliases(keras):
    for alias, name in ALIASES.items():
        assert getattr(keras.layers, alias) is getattr(keras.layers, name), alias
