"""Conv2DTranspose (nn/layers/conv_transpose.py) and backend.conv2d_transpose: values
against a plain NumPy loop written the way JAX defines conv_transpose (input spread
`strides` apart, padded, correlated with the flipped kernel), derivatives against finite
differences, output shapes and parameter counts as Keras's, configs and saved models, an
autoencoder that trains (compiled and eager alike, and on OpenCL), bad input named; and,
with Keras installed, Keras's outputs and .weights.h5 files."""

import numpy as np
import pytest
from conv_support import (fit_losses, keras, one_layer, same_as_keras,  # noqa: F401
                          weights_files_cross)
from opencl_support import needs_opencl

import adkit
from adkit.nn import Input, Sequential, backend, load_model, optimizers
from adkit.nn.layers import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Dense, Flatten,
                             ShapeError, deserialize, serialize)

RNG = np.random.default_rng(17)


def keras_padding(span, stride, padding, output_padding):
    """(left, right) padding of the spread input, from Keras's docstring of
    _convert_conv_transpose_padding_args_from_keras_to_jax."""
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return span - 1, span - 1 + extra
    total = (stride + span - 2 if output_padding is None
             else span + span % 2 - 2 + output_padding)
    left = min(total // 2 + total % 2, span - 1)
    return left, total - left


def conv_transpose_loop(x, kernel, strides, padding, output_padding, dilation):
    """JAX's conv_transpose(transpose_kernel=True): x spread strides apart, padded, and
    correlated with the kernel flipped in space (and its in/out channels swapped)."""
    n, h, w, _ = x.shape
    kh, kw, filters, _ = kernel.shape
    dilated = np.zeros(((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1) + kernel.shape[2:])
    dilated[::dilation[0], ::dilation[1]] = kernel
    (sh, sw), ops = strides, output_padding or (None, None)
    (top, bottom) = keras_padding(dilated.shape[0], sh, padding, ops[0])
    (left, right) = keras_padding(dilated.shape[1], sw, padding, ops[1])
    spread = np.zeros((n, top + (h - 1) * sh + 1 + bottom, left + (w - 1) * sw + 1 + right,
                       x.shape[3]))
    spread[:, top:top + (h - 1) * sh + 1:sh, left:left + (w - 1) * sw + 1:sw] = x
    flipped = dilated[::-1, ::-1]
    ho, wo = spread.shape[1] - flipped.shape[0] + 1, spread.shape[2] - flipped.shape[1] + 1
    y = np.zeros((n, ho, wo, filters))
    for i in range(ho):
        for j in range(wo):
            for a in range(flipped.shape[0]):
                for b in range(flipped.shape[1]):
                    y[:, i, j] += spread[:, i + a, j + b] @ flipped[a, b].T
    return y


CASES = [  # kernel_size, strides, padding, output_padding, dilation_rate
    ((3, 3), (2, 2), "same", None, (1, 1)), ((3, 3), (2, 2), "valid", None, (1, 1)),
    ((2, 2), (2, 2), "valid", None, (1, 1)), ((4, 4), (2, 2), "same", None, (1, 1)),
    ((3, 2), (1, 3), "same", None, (1, 1)), ((1, 1), (3, 2), "valid", None, (1, 1)),
    ((3, 3), (2, 2), "same", (1, 1), (1, 1)), ((4, 3), (3, 2), "valid", (2, 1), (1, 1)),
    ((2, 2), (2, 2), "same", (0, 1), (1, 1)), ((3, 3), (1, 1), "valid", None, (2, 1)),
    ((3, 2), (1, 1), "same", None, (2, 2)),
]


def built(k, s, padding, op, d, input_shape=(4, 5, 3), filters=2, **kwargs):
    layer = Conv2DTranspose(filters, k, strides=s, padding=padding, output_padding=op,
                            dilation_rate=d, dtype="float64", bias_initializer="random_normal",
                            **kwargs)
    one_layer(layer, input_shape)
    return layer


@pytest.mark.parametrize("k,s,padding,op,d", CASES)
def test_values_shapes_and_derivatives(k, s, padding, op, d):
    layer = built(k, s, padding, op, d)
    kernel, bias = layer.get_weights()
    assert kernel.shape == k + (2, 3)   # Keras's layout: (kh, kw, filters, channels_in)
    x = RNG.standard_normal((2, 4, 5, 3))
    out = layer(x)
    np.testing.assert_allclose(out, conv_transpose_loop(x, kernel, s, padding, op, d) + bias,
                               rtol=1e-12, atol=1e-12)
    assert out.shape[1:] == layer.compute_output_shape((4, 5, 3))
    adkit.check_grads(lambda v: np.sum(np.sin(layer.call({"kernel": kernel, "bias": bias}, v,
                                                         None))),
                      (x,), modes=("forward", "reverse", "numeric"))
    adkit.check_grads(lambda w: np.sum(np.sin(layer.call({"kernel": w, "bias": bias}, x, None))),
                      (kernel,), modes=("reverse", "numeric"))


def test_backend_conv2d_transpose_is_the_adjoint_of_conv2d():
    x = RNG.standard_normal((2, 7, 6, 3))
    kernel = RNG.standard_normal((3, 2, 3, 4))
    for strides, padding in [((1, 1), "valid"), ((2, 2), "same"), ((3, 2), "valid")]:
        y = backend.conv2d(x, kernel, strides, padding)
        g = RNG.standard_normal(y.shape)
        # <conv2d(x), g> = <x, conv2d_transpose(g)>
        np.testing.assert_allclose(np.sum(y * g),
                                   np.sum(x * backend.conv2d_transpose(g, kernel, x.shape,
                                                                       strides, padding)),
                                   rtol=1e-10)
    with pytest.raises(ValueError, match="gives 3x3 positions, but x has 4x4"):
        backend.conv2d_transpose(np.ones((1, 4, 4, 2)), np.ones((2, 2, 1, 2)), (1, 4, 4, 1),
                                 (1, 1), "valid")
    with pytest.raises(ValueError, match=r"kernel must have shape \(kh, kw, c_out, c_in\)"):
        backend.conv2d_transpose(np.ones((1, 4, 4, 2)), np.ones((2, 2, 1, 3)), (1, 5, 5, 1))


def test_output_shapes_and_parameter_counts_follow_keras():
    # Keras 3.15 on (7, 7, 4): 3*3*8*4 + 8 = 296 parameters
    cases = [(Conv2DTranspose(8, 3, strides=2, padding="same"), (14, 14, 8), 296),
             (Conv2DTranspose(8, 3, strides=2), (15, 15, 8), 296),
             (Conv2DTranspose(8, 3, strides=2, output_padding=1), (16, 16, 8), 296),
             (Conv2DTranspose(8, 3, strides=2, padding="same", output_padding=0), (13, 13, 8),
              296),
             (Conv2DTranspose(2, (2, 4), strides=(3, 1), use_bias=False), (21, 10, 2), 64),
             (Conv2DTranspose(1, 3, dilation_rate=3), (13, 13, 1), 37)]
    for layer, shape, count in cases:
        model = one_layer(layer, (7, 7, 4))
        assert layer.compute_output_shape((7, 7, 4)) == shape, layer
        assert model.count_params() == count, layer
    assert Conv2DTranspose(3, 3, strides=2).compute_output_shape((None, 5, 2)) == (None, 11, 3)


@pytest.mark.parametrize("layer", [
    Conv2DTranspose(4, (3, 2), strides=2, padding="same", output_padding=(1, 0),
                    activation="relu", kernel_regularizer="l2", bias_constraint="non_neg"),
    Conv2DTranspose(2, 3, dilation_rate=2, use_bias=False, name="up")])
def test_config_round_trip(layer):
    again = deserialize(serialize(layer))
    assert type(again) is Conv2DTranspose and again.get_config() == layer.get_config()


def autoencoder(seed=0):
    return Sequential([Input((8, 8, 1)), Conv2D(4, 3, strides=2, padding="same",
                                                activation="relu"),
                       Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu"),
                       Conv2DTranspose(1, 3, padding="same")], seed=seed)


def images(n=32):
    rows = np.linspace(-1, 1, 8)
    freq = RNG.uniform(1, 3, (n, 1, 1))
    return np.sin(freq * (rows[:, None] + rows[None, :]))[..., None].astype(np.float32)


def test_autoencoder_trains_saves_and_loads(tmp_path):
    x = images()
    model = autoencoder()
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse")
    before = model.evaluate(x, x, verbose=0)
    model.fit(x, x, batch_size=8, epochs=10, verbose=0)
    assert model.evaluate(x, x, verbose=0) < 0.7 * before
    model.save(tmp_path / "ae.adkit")
    again = load_model(tmp_path / "ae.adkit")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_compiled_fit_trains_as_the_eager_fit():
    x = images()

    def build():
        return Sequential([Input((8, 8, 1)), Conv2D(2, 3, strides=2, activation="tanh"),
                           Conv2DTranspose(3, 3, strides=2, output_padding=1, activation="relu"),
                           Conv2DTranspose(1, 2, dilation_rate=2, padding="same")], seed=2)

    on = fit_losses(build, x, x, jit="auto", loss="mse")
    off = fit_losses(build, x, x, jit=False, loss="mse")
    assert on[1].trainer.compiled_step is not None and off[1].trainer.compiled_step is None
    np.testing.assert_allclose(on[0], off[0], rtol=1e-5, atol=1e-7)
    for a, b in zip(on[1].get_weights(), off[1].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="Conv2DTranspose 'up': output_padding must be None"):
        Conv2DTranspose(2, 3, strides=2, output_padding=2, name="up")
    with pytest.raises(ValueError, match="output_padding must be None"):
        Conv2DTranspose(2, 3, output_padding=(0, 1))   # strides 1: output_padding must be 0
    with pytest.raises(ValueError, match="Conv2DTranspose 'up': padding must be 'valid' or "
                                         "'same'"):
        Conv2DTranspose(2, 3, padding="causal", name="up")
    with pytest.raises(ValueError, match="strides > 1 together with dilation_rate > 1"):
        Conv2DTranspose(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="kernel_size must be a positive int"):
        Conv2DTranspose(2, 0)
    with pytest.raises(ShapeError, match=r"'up' \(Conv2DTranspose\) expects input of shape "
                                         r"\(height, width, channels\)"):
        Sequential([Input((5, 3)), Conv2DTranspose(2, 3, name="up")])
    with pytest.raises(ShapeError, match=r"'up' \(Conv2DTranspose\): input of shape "
                                         r"\(1, 1, 3\) gives an empty output"):
        Sequential([Input((1, 1, 3)), Conv2DTranspose(2, 2, padding="same", output_padding=0,
                                                      strides=2, name="up")])


def sequence_autoencoder(seed=1):
    return Sequential([Input((8, 2)), Conv1D(4, 3, strides=2, padding="same", activation="relu"),
                       Conv1DTranspose(3, 3, strides=2, padding="same", activation="relu"),
                       Conv1DTranspose(2, 2), Conv1D(2, 2)], seed=seed)


@needs_opencl
@pytest.mark.parametrize("build,x", [(autoencoder, images(16)),
                                     (sequence_autoencoder,
                                      RNG.standard_normal((16, 8, 2)).astype(np.float32))])
def test_trains_on_opencl_as_on_the_cpu(build, x):
    predictions = []
    for device in ("cpu", "opencl"):
        model = build(seed=1)
        model.compile(optimizer="sgd", loss="mse", device=device)
        model.fit(x, x, batch_size=8, epochs=2, verbose=0)
        predictions.append(model.predict(x, verbose=0))
    np.testing.assert_allclose(predictions[0], predictions[1], rtol=1e-4, atol=1e-5)


def test_opencl_and_onnx_refuse_what_they_lack_by_name(tmp_path):
    model = Sequential([Input((4, 4, 2)), Conv2DTranspose(2, 3, strides=2, output_padding=1,
                                                          name="up"), Flatten(), Dense(1)])
    with pytest.raises(ValueError, match=r"'up' \(Conv2DTranspose\) has no OpenCL"):
        model.compile(optimizer="sgd", loss="mse", device="opencl")
    pytest.importorskip("onnx", reason="export_onnx needs the onnx package")
    with pytest.raises(ValueError, match=r"'up' \(Conv2DTranspose\) has no ONNX export"):
        model.export_onnx(tmp_path / "m.onnx")


# --- Keras as referee --------------------------------------------------------------------------

@pytest.mark.parametrize("k,s,padding,op,d", CASES)
def test_matches_keras(keras, k, s, padding, op, d):
    x = RNG.standard_normal((2, 4, 5, 3)).astype(np.float32)
    ours = Conv2DTranspose(2, k, strides=s, padding=padding, output_padding=op, dilation_rate=d,
                           activation="relu", bias_initializer="random_normal")
    theirs = keras.layers.Conv2DTranspose(2, k, strides=s, padding=padding, output_padding=op,
                                          dilation_rate=d, activation="relu")
    same_as_keras(keras, ours, theirs, x)


def test_weights_files_cross_between_keras_and_adkit(keras, tmp_path):
    L = keras.layers
    twin = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, strides=2, padding="same",
                                                              activation="relu"),
                             L.Conv2DTranspose(4, 3, strides=2, padding="same",
                                               activation="relu"),
                             L.Conv2DTranspose(1, 3, padding="same")])
    x = images()
    weights_files_cross(twin, autoencoder, x, x, "mse", tmp_path)


# --- Conv1DTranspose ---------------------------------------------------------------------------

CASES_1D = [  # kernel_size, strides, padding, output_padding, dilation_rate
    (3, 2, "same", None, 1), (3, 2, "valid", None, 1), (4, 2, "same", 1, 1),
    (2, 3, "valid", 2, 1), (1, 3, "same", None, 1), (3, 1, "same", None, 2),
]


@pytest.mark.parametrize("k,s,padding,op,d", CASES_1D)
def test_conv1d_transpose_values_shapes_and_derivatives(k, s, padding, op, d):
    layer = Conv1DTranspose(2, k, strides=s, padding=padding, output_padding=op,
                            dilation_rate=d, dtype="float64", bias_initializer="random_normal")
    one_layer(layer, (5, 3))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (k, 2, 3)   # Keras's layout: (k, filters, channels_in)
    x = RNG.standard_normal((2, 5, 3))
    out = layer(x)
    # the 1-D transposed convolution is the 2-D one on images one row high
    expected = conv_transpose_loop(x[:, None], kernel[None], (1, s), padding,
                                   None if op is None else (0, op), (1, d))[:, 0] + bias
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert out.shape[1:] == layer.compute_output_shape((5, 3))
    adkit.check_grads(lambda v, w: np.sum(np.sin(layer.call({"kernel": w, "bias": bias}, v,
                                                            None))),
                      (x, kernel), modes=("reverse", "numeric"))


def test_conv1d_transpose_shapes_config_and_errors():
    assert Conv1DTranspose(4, 3, strides=2, padding="same").compute_output_shape((7, 2)) == (14, 4)
    assert Conv1DTranspose(4, 3, strides=2).compute_output_shape((None, 2)) == (None, 4)
    model = one_layer(Conv1DTranspose(4, 3, strides=2, output_padding=1), (7, 2))
    assert model.layers[-1].compute_output_shape((7, 2)) == (16, 4)
    assert model.count_params() == 3 * 4 * 2 + 4
    layer = Conv1DTranspose(4, 5, strides=3, padding="same", output_padding=2, activation="relu",
                            bias_regularizer="l2")
    again = deserialize(serialize(layer))
    assert type(again) is Conv1DTranspose and again.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="output_padding must be None, or an int or 1 ints"):
        Conv1DTranspose(2, 3, strides=2, output_padding=(1, 1))
    with pytest.raises(ShapeError, match=r"'u1' \(Conv1DTranspose\) expects input of shape "
                                         r"\(steps, channels\)"):
        Sequential([Input((4, 4, 2)), Conv1DTranspose(2, 3, name="u1")])


@pytest.mark.parametrize("k,s,padding,op,d", CASES_1D)
def test_conv1d_transpose_matches_keras(keras, k, s, padding, op, d):
    x = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    same_as_keras(keras, Conv1DTranspose(2, k, s, padding, output_padding=op, dilation_rate=d,
                                         activation="relu", bias_initializer="random_normal"),
                  keras.layers.Conv1DTranspose(2, k, s, padding, output_padding=op,
                                               dilation_rate=d, activation="relu"), x)
