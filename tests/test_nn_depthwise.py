"""DepthwiseConv2D, SeparableConv2D and their 1-D forms (nn/layers/depthwise.py): values
against plain NumPy loops, derivatives against finite differences, output shapes,
parameter counts and weight order as Keras's, configs and saved models, a small
MobileNet-style model that trains (compiled and eager alike), bad input named; with Keras
installed, Keras's outputs and .weights.h5 files."""

import numpy as np
import pytest
from conv_support import (fit_losses, keras, one_layer, same_as_keras,  # noqa: F401
                          weights_files_cross)

import adkit
from adkit.nn import Input, Sequential, load_model, optimizers
from adkit.nn.layers import (BatchNormalization, Dense, DepthwiseConv1D, DepthwiseConv2D,
                             GlobalAveragePooling2D, SeparableConv1D, SeparableConv2D, ShapeError,
                             deserialize, serialize)

RNG = np.random.default_rng(23)


def depthwise_loop(x, kernel, strides, padding, dilation):
    """y[n, i, j, c * M + m] = sum over a, b of xp[n, i*sh + a*dh, j*sw + b*dw, c] *
    kernel[a, b, c, m], xp being x padded as Keras pads it."""
    n, h, w, channels = x.shape
    kh, kw, _, mult = kernel.shape
    span = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    out, before = [], []
    for size, k, s in zip((h, w), span, strides):
        if padding == "valid":
            out.append((size - k) // s + 1)
            before.append(0)
        else:
            out.append(-(-size // s))
            before.append(max((out[-1] - 1) * s + k - size, 0) // 2)
    xp = np.zeros((n, h + 2 * span[0], w + 2 * span[1], channels))
    xp[:, before[0]:before[0] + h, before[1]:before[1] + w] = x
    y = np.zeros((n, out[0], out[1], channels * mult))
    for i in range(out[0]):
        for j in range(out[1]):
            for c in range(channels):
                for m in range(mult):
                    for a in range(kh):
                        for b in range(kw):
                            y[:, i, j, c * mult + m] += (
                                xp[:, i * strides[0] + a * dilation[0],
                                   j * strides[1] + b * dilation[1], c] * kernel[a, b, c, m])
    return y


CASES = [  # kernel_size, strides, padding, depth_multiplier, dilation_rate
    ((3, 3), (1, 1), "valid", 1, (1, 1)), ((3, 3), (2, 2), "same", 2, (1, 1)),
    ((2, 3), (1, 2), "same", 3, (1, 1)), ((3, 2), (1, 1), "same", 1, (2, 3)),
    ((2, 2), (2, 1), "valid", 2, (2, 2)), ((1, 1), (1, 1), "valid", 2, (1, 1)),
]


@pytest.mark.parametrize("k,s,padding,mult,d", CASES)
def test_depthwise_values_shapes_and_derivatives(k, s, padding, mult, d):
    layer = DepthwiseConv2D(k, strides=s, padding=padding, depth_multiplier=mult,
                            dilation_rate=d, dtype="float64", bias_initializer="random_normal")
    one_layer(layer, (7, 6, 3))
    kernel, bias = layer.get_weights()
    assert kernel.shape == k + (3, mult) and bias.shape == (3 * mult,)
    x = RNG.standard_normal((2, 7, 6, 3))
    out = layer(x)
    np.testing.assert_allclose(out, depthwise_loop(x, kernel, s, padding, d) + bias,
                               rtol=1e-12, atol=1e-12)
    assert out.shape[1:] == layer.compute_output_shape((7, 6, 3))
    params = {"kernel": kernel, "bias": bias}
    adkit.check_grads(lambda v: np.sum(np.sin(layer.call(params, v, None))), (x,),
                      modes=("forward", "reverse", "numeric"))
    adkit.check_grads(lambda w: np.sum(np.sin(layer.call({"kernel": w, "bias": bias}, x, None))),
                      (kernel,), modes=("reverse", "numeric"))


@pytest.mark.parametrize("k,s,padding,mult,d", CASES)
def test_separable_values_shapes_and_derivatives(k, s, padding, mult, d):
    layer = SeparableConv2D(4, k, strides=s, padding=padding, depth_multiplier=mult,
                            dilation_rate=d, activation="relu", dtype="float64",
                            bias_initializer="random_normal")
    one_layer(layer, (7, 6, 3))
    names = [path.rsplit("/", 1)[1] for path, _ in layer._weight_slots("test")]
    assert names == ["depthwise_kernel", "pointwise_kernel", "bias"]   # Keras's order
    depthwise, pointwise, bias = layer.get_weights()
    assert pointwise.shape == (1, 1, 3 * mult, 4)
    x = RNG.standard_normal((2, 7, 6, 3))
    expected = np.maximum(depthwise_loop(x, depthwise, s, padding, d) @ pointwise[0, 0] + bias, 0)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)
    assert expected.shape[1:] == layer.compute_output_shape((7, 6, 3))
    params = dict(zip(names, layer.get_weights()))
    adkit.check_grads(
        lambda dw, pw: np.sum(np.tanh(layer.pre_activation(
            {**params, "depthwise_kernel": dw, "pointwise_kernel": pw}, x, None))),
        (depthwise, pointwise), modes=("reverse", "numeric"))


def test_output_shapes_and_parameter_counts_follow_keras():
    # Keras 3.15 on (16, 16, 8)
    cases = [(DepthwiseConv2D(3), (14, 14, 8), 3 * 3 * 8 + 8),
             (DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2), (8, 8, 16),
              3 * 3 * 8 * 2 + 16),
             (DepthwiseConv2D(5, dilation_rate=2, use_bias=False), (8, 8, 8), 200),
             (SeparableConv2D(12, 3, padding="same"), (16, 16, 12), 72 + 96 + 12),
             (SeparableConv2D(4, 3, strides=2, depth_multiplier=3, use_bias=False), (7, 7, 4),
              216 + 96)]
    for layer, shape, count in cases:
        model = one_layer(layer, (16, 16, 8))
        assert layer.compute_output_shape((16, 16, 8)) == shape, layer
        assert model.count_params() == count, layer


@pytest.mark.parametrize("layer", [
    DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu",
                    depthwise_regularizer="l2", bias_constraint="non_neg", name="dw"),
    SeparableConv2D(8, (3, 2), dilation_rate=2, depthwise_regularizer="l1",
                    pointwise_regularizer="l2", pointwise_constraint="non_neg",
                    use_bias=False)])
def test_config_round_trip(layer):
    again = deserialize(serialize(layer))
    assert type(again) is type(layer) and again.get_config() == layer.get_config()


def test_regularizers_and_constraints_reach_their_weights():
    layer = SeparableConv2D(2, 2, depthwise_regularizer="l2", pointwise_regularizer="l1",
                            depthwise_constraint="non_neg", dtype="float64")
    one_layer(layer, (3, 3, 1))
    params = {"depthwise_kernel": np.full((2, 2, 1, 1), 2.0),
              "pointwise_kernel": np.full((1, 1, 1, 2), -3.0), "bias": np.zeros(2)}
    np.testing.assert_allclose(layer.penalty(params), 0.01 * 4 * 4 + 0.01 * 2 * 3)
    assert layer.constraints["depthwise_kernel"] is not None
    assert layer.constraints["pointwise_kernel"] is None


def mobilenet_block(seed=0):
    return Sequential([Input((8, 8, 3)), DepthwiseConv2D(3, padding="same", activation="relu"),
                       SeparableConv2D(6, 3, strides=2, padding="same", depth_multiplier=2),
                       BatchNormalization(), DepthwiseConv2D(2, dilation_rate=2),
                       GlobalAveragePooling2D(), Dense(2, activation="softmax")], seed=seed)


def images(n=32):
    x = RNG.standard_normal((n, 8, 8, 3)).astype(np.float32)
    return x, (x[:, :4, :, 0].mean(axis=(1, 2)) > x[:, 4:, :, 0].mean(axis=(1, 2))).astype(int)


def test_model_trains_saves_and_loads(tmp_path):
    x, y = images()
    model = mobilenet_block()
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=8, epochs=8, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.8 * before
    model.save(tmp_path / "m.adkit")
    again = load_model(tmp_path / "m.adkit")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_compiled_fit_trains_as_the_eager_fit():
    x, y = images()
    on = fit_losses(mobilenet_block, x, y, jit="auto")
    off = fit_losses(mobilenet_block, x, y, jit=False)
    assert on[1].trainer.compiled_step is not None and off[1].trainer.compiled_step is None
    np.testing.assert_allclose(on[0], off[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(on[1].get_weights(), off[1].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_bad_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="DepthwiseConv2D 'dw': depth_multiplier must be a "
                                         "positive int"):
        DepthwiseConv2D(3, depth_multiplier=0, name="dw")
    with pytest.raises(ValueError, match="SeparableConv2D 'sc': padding must be 'valid' or "
                                         "'same'"):
        SeparableConv2D(2, 3, padding="causal", name="sc")
    with pytest.raises(ValueError, match="filters must be a positive int"):
        SeparableConv2D(0, 3)
    with pytest.raises(ValueError, match="channels_last"):
        DepthwiseConv2D(3, data_format="channels_first")
    with pytest.raises(ShapeError, match=r"'dw' \(DepthwiseConv2D\) expects input of shape "
                                         r"\(height, width, channels\)"):
        Sequential([Input((5, 3)), DepthwiseConv2D(3, name="dw")])
    with pytest.raises(ShapeError, match=r"'sc' \(SeparableConv2D\).*at least 5x5"):
        Sequential([Input((4, 8, 3)), SeparableConv2D(2, 3, dilation_rate=2, name="sc")])
    model = Sequential([Input((6, 6, 2)), DepthwiseConv2D(3, name="dw"),
                        GlobalAveragePooling2D(), Dense(1)])
    with pytest.raises(ValueError, match=r"'dw' \(DepthwiseConv2D\) has no OpenCL"):
        model.compile(optimizer="sgd", loss="mse", device="opencl")
    pytest.importorskip("onnx", reason="export_onnx needs the onnx package")
    with pytest.raises(ValueError, match=r"'dw' \(DepthwiseConv2D\) has no ONNX export"):
        model.export_onnx(tmp_path / "m.onnx")


# --- Keras as referee --------------------------------------------------------------------------

@pytest.mark.parametrize("k,s,padding,mult,d", CASES)
def test_matches_keras(keras, k, s, padding, mult, d):
    x = RNG.standard_normal((2, 7, 6, 3)).astype(np.float32)
    same_as_keras(keras, DepthwiseConv2D(k, s, padding, depth_multiplier=mult, dilation_rate=d,
                                         bias_initializer="random_normal", activation="tanh"),
                  keras.layers.DepthwiseConv2D(k, s, padding, depth_multiplier=mult,
                                               dilation_rate=d, activation="tanh"), x)
    same_as_keras(keras, SeparableConv2D(5, k, s, padding, depth_multiplier=mult,
                                         dilation_rate=d, bias_initializer="random_normal",
                                         activation="relu"),
                  keras.layers.SeparableConv2D(5, k, s, padding, depth_multiplier=mult,
                                               dilation_rate=d, activation="relu"), x)


def test_weights_files_cross_between_keras_and_adkit(keras, tmp_path):
    L = keras.layers
    twin = keras.Sequential([keras.Input((8, 8, 3)),
                             L.DepthwiseConv2D(3, padding="same", activation="relu"),
                             L.SeparableConv2D(6, 3, strides=2, padding="same",
                                               depth_multiplier=2),
                             L.BatchNormalization(), L.DepthwiseConv2D(2, dilation_rate=2),
                             L.GlobalAveragePooling2D(), L.Dense(2, activation="softmax")])
    x, y = images()
    weights_files_cross(twin, mobilenet_block, x, y, "sparse_categorical_crossentropy", tmp_path)


# --- the 1-D forms -------------------------------------------------------------------------------

CASES_1D = [(3, 1, "valid", 1, 1), (3, 2, "same", 2, 1), (2, 1, "same", 3, 2),
            (1, 2, "valid", 1, 1)]


@pytest.mark.parametrize("k,s,padding,mult,d", CASES_1D)
def test_1d_values_shapes_and_derivatives(k, s, padding, mult, d):
    depthwise = DepthwiseConv1D(k, s, padding, depth_multiplier=mult, dilation_rate=d,
                                dtype="float64", bias_initializer="random_normal")
    separable = SeparableConv1D(4, k, s, padding, depth_multiplier=mult, dilation_rate=d,
                                dtype="float64", bias_initializer="random_normal")
    x = RNG.standard_normal((2, 9, 3))
    for layer in (depthwise, separable):
        one_layer(layer, (9, 3))
    kernel, bias = depthwise.get_weights()
    assert kernel.shape == (k, 3, mult)
    # the 1-D forms are the 2-D ones on images one row high
    rows = depthwise_loop(x[:, None], kernel[None], (1, s), padding, (1, d))[:, 0]
    np.testing.assert_allclose(depthwise(x), rows + bias, rtol=1e-12, atol=1e-12)
    dk, pk, pb = separable.get_weights()
    assert pk.shape == (1, 3 * mult, 4)
    expected = depthwise_loop(x[:, None], dk[None], (1, s), padding, (1, d))[:, 0] @ pk[0] + pb
    np.testing.assert_allclose(separable(x), expected, rtol=1e-12, atol=1e-12)
    for layer, out in ((depthwise, rows), (separable, expected)):
        assert out.shape[1:] == layer.compute_output_shape((9, 3))
    adkit.check_grads(lambda v, w: np.sum(np.sin(depthwise.call({"kernel": w, "bias": bias}, v,
                                                                None))),
                      (x, kernel), modes=("reverse", "numeric"))
    adkit.check_grads(lambda w: np.sum(np.sin(separable.call(
        {"depthwise_kernel": dk, "pointwise_kernel": w, "bias": pb}, x, None))), (pk,),
        modes=("reverse", "numeric"))


def test_1d_config_counts_and_errors():
    layer = SeparableConv1D(8, 3, padding="same", depth_multiplier=2, pointwise_regularizer="l2")
    again = deserialize(serialize(layer))
    assert type(again) is SeparableConv1D and again.get_config() == layer.get_config()
    model = one_layer(SeparableConv1D(8, 3, depth_multiplier=2), (10, 4))
    assert model.count_params() == 3 * 4 * 2 + 8 * 8 + 8   # Keras 3.15's summary
    assert DepthwiseConv1D(3).compute_output_shape((None, 4)) == (None, 4)
    with pytest.raises(ShapeError, match=r"'d1' \(DepthwiseConv1D\) expects input of shape "
                                         r"\(steps, channels\)"):
        Sequential([Input((4, 4, 2)), DepthwiseConv1D(3, name="d1")])
    with pytest.raises(ValueError, match="kernel_size must be a positive int, got"):
        SeparableConv1D(2, (3, 3))


@pytest.mark.parametrize("k,s,padding,mult,d", CASES_1D)
def test_1d_matches_keras(keras, k, s, padding, mult, d):
    x = RNG.standard_normal((2, 9, 3)).astype(np.float32)
    same_as_keras(keras, DepthwiseConv1D(k, s, padding, depth_multiplier=mult, dilation_rate=d,
                                         bias_initializer="random_normal"),
                  keras.layers.DepthwiseConv1D(k, s, padding, depth_multiplier=mult,
                                               dilation_rate=d), x)
    same_as_keras(keras, SeparableConv1D(5, k, s, padding, depth_multiplier=mult,
                                         dilation_rate=d, bias_initializer="random_normal",
                                         activation="relu"),
                  keras.layers.SeparableConv1D(5, k, s, padding, depth_multiplier=mult,
                                               dilation_rate=d, activation="relu"), x)
