"""Conv1D, MaxPooling1D, AveragePooling1D (nn/layers/conv1d.py) and GlobalMaxPooling1D,
GlobalAveragePooling1D (nn/layers/global_pooling.py): values against plain NumPy loops,
derivatives against finite differences, output shapes and parameter counts as Keras's,
configs and saved models that load, a text classifier that trains (compiled and eager
alike), bad input named; and, where Keras is installed, the same outputs as Keras's layers
given the same weights, and .weights.h5 files each side reads."""

import numpy as np
import pytest
from conv_support import (fit_losses, keras, one_layer, same_as_keras,  # noqa: F401
                          weights_files_cross)
from opencl_support import needs_opencl

import adkit
from adkit import numeric
from adkit.nn import Input, Sequential, load_model
from adkit.nn.layers import (AveragePooling1D, Conv1D, Dense, Embedding, GlobalAveragePooling1D,
                             GlobalMaxPooling1D, MaxPooling1D, ShapeError, deserialize,
                             serialize)

RNG = np.random.default_rng(11)


# --- plain NumPy references ------------------------------------------------------------------

def conv1d_loop(x, kernel, bias, stride, padding, dilation):
    """y[n, t, f] = sum over j, c of xp[n, t * stride + j * dilation, c] * kernel[j, c, f] + bias,
    xp being x padded as Keras pads it."""
    n, steps, _ = x.shape
    k, _, filters = kernel.shape
    span = (k - 1) * dilation + 1
    if padding == "valid":
        before, out = 0, (steps - span) // stride + 1
    elif padding == "causal":
        before, out = span - 1, -(-steps // stride)
    else:
        out = -(-steps // stride)
        before = max((out - 1) * stride + span - steps, 0) // 2
    xp = np.zeros((n, steps + 2 * span, x.shape[2]))
    xp[:, before:before + steps] = x
    y = np.zeros((n, out, filters))
    for b in range(n):
        for t in range(out):
            for j in range(k):
                y[b, t] += xp[b, t * stride + j * dilation] @ kernel[j]
    return y + bias


def pool1d_loop(x, size, stride, padding, reduce):
    """reduce() over each window of real (unpadded) steps, windows placed as Keras places them."""
    steps = x.shape[1]
    if padding == "valid":
        out, before = (steps - size) // stride + 1, 0
    else:
        out = -(-steps // stride)
        before = max((out - 1) * stride + size - steps, 0) // 2
    y = np.empty((x.shape[0], out, x.shape[2]))
    for t in range(out):
        lo = t * stride - before
        y[:, t] = reduce(x[:, max(lo, 0):min(lo + size, steps)], axis=1)
    return y


CONVS = [  # kernel_size, strides, padding, dilation_rate
    (3, 1, "valid", 1), (3, 2, "valid", 1), (2, 1, "same", 1), (4, 3, "same", 1),
    (3, 1, "causal", 1), (2, 2, "causal", 1), (3, 1, "valid", 2), (2, 1, "same", 3),
    (3, 1, "causal", 2), (1, 1, "valid", 1),
]


def built_conv(k, s, padding, d, steps=9, channels=2, filters=3, **kwargs):
    layer = Conv1D(filters, k, strides=s, padding=padding, dilation_rate=d, dtype="float64",
                   bias_initializer="random_normal", **kwargs)
    one_layer(layer, (steps, channels))
    return layer


@pytest.mark.parametrize("k,s,padding,d", CONVS)
def test_conv1d_values_shapes_and_derivatives(k, s, padding, d):
    layer = built_conv(k, s, padding, d)
    kernel, bias = layer.get_weights()
    x = RNG.standard_normal((2, 9, 2))
    out = layer(x)
    np.testing.assert_allclose(out, conv1d_loop(x, kernel, bias, s, padding, d), rtol=1e-12,
                               atol=1e-12)
    assert out.shape[1:] == layer.compute_output_shape((9, 2))
    params = {"kernel": kernel, "bias": bias}
    adkit.check_grads(lambda v: np.sum(np.sin(layer.call(params, v, None))), (x,),
                      modes=("forward", "reverse", "numeric"))
    adkit.check_grads(lambda w: np.sum(np.sin(layer.call({"kernel": w, "bias": bias}, x, None))),
                      (kernel,), modes=("reverse", "numeric"))


def test_conv1d_relu_and_no_bias():
    layer = Conv1D(2, 3, activation="relu", use_bias=False, dtype="float64", padding="same")
    one_layer(layer, (6, 3))
    (kernel,) = layer.get_weights()
    x = RNG.standard_normal((3, 6, 3))
    np.testing.assert_allclose(layer(x), np.maximum(conv1d_loop(x, kernel, 0, 1, "same", 1), 0),
                               rtol=1e-12, atol=1e-12)


POOLS = [(2, None, "valid"), (3, 1, "valid"), (3, 2, "same"), (2, None, "same"), (4, 3, "same")]


@pytest.mark.parametrize("size,stride,padding", POOLS)
@pytest.mark.parametrize("cls,reduce", [(MaxPooling1D, np.max), (AveragePooling1D, np.mean)])
def test_pooling1d_values_shapes_and_derivatives(cls, reduce, size, stride, padding):
    layer = cls(size, strides=stride, padding=padding, dtype="float64")
    x = RNG.permutation(42).reshape(2, 7, 3) / 10 - 2   # no near ties: max is smooth here
    out = layer.call({}, x, None)
    np.testing.assert_allclose(out, pool1d_loop(x, size, stride or size, padding, reduce),
                               rtol=1e-12)
    assert out.shape[1:] == layer.compute_output_shape((7, 3))
    adkit.check_grads(lambda v: np.sum(layer.call({}, v, None) ** 3), (x,),
                      modes=("forward", "reverse", "numeric"))


@pytest.mark.parametrize("cls,reduce", [(GlobalMaxPooling1D, np.max),
                                        (GlobalAveragePooling1D, np.mean)])
def test_global_pooling1d(cls, reduce):
    x = RNG.permutation(60).reshape(3, 5, 4) / 10 - 3   # no near ties: max is smooth here
    np.testing.assert_allclose(cls().call({}, x, None), reduce(x, axis=1), rtol=1e-6)
    kept = cls(keepdims=True)
    np.testing.assert_allclose(kept.call({}, x, None), reduce(x, axis=1, keepdims=True),
                               rtol=1e-6)
    assert cls().compute_output_shape((5, 4)) == (4,)
    assert kept.compute_output_shape((None, 4)) == (1, 4)   # steps unknown at build time
    adkit.check_grads(lambda v: np.sum(cls().call({}, v, None) ** 2), (x,),
                      modes=("reverse", "numeric"))


def test_output_shapes_and_parameter_counts_follow_keras():
    # Keras 3.15: Conv1D(8, 3) on (20, 5) -> (18, 8), 3*5*8 + 8 = 128 parameters; strides 2
    # and same -> ceil(20 / 2); causal keeps the length; dilation 4 spans 9 steps
    cases = [(Conv1D(8, 3), (18, 8), 128), (Conv1D(8, 3, strides=2, padding="same"), (10, 8), 128),
             (Conv1D(4, 5, padding="causal", use_bias=False), (20, 4), 100),
             (Conv1D(2, 3, dilation_rate=4), (12, 2), 32),
             (MaxPooling1D(), (10, 5), 0), (AveragePooling1D(3, 2, padding="same"), (10, 5), 0),
             (GlobalMaxPooling1D(), (5,), 0)]
    for layer, shape, count in cases:
        model = one_layer(layer, (20, 5))
        assert layer.compute_output_shape((20, 5)) == shape, layer
        assert model.count_params() == count, layer
    assert Conv1D(8, 3).compute_output_shape((None, 5)) == (None, 8)


@pytest.mark.parametrize("layer", [
    Conv1D(4, 3, strides=2, padding="causal", activation="tanh", use_bias=False,
           kernel_regularizer="l2", bias_regularizer="l1", name="c1"),
    Conv1D(2, 2, padding="same", dilation_rate=2, bias_regularizer="l2", bias_constraint="non_neg"),
    MaxPooling1D(3, 1, "same"), AveragePooling1D(pool_size=4), GlobalMaxPooling1D(keepdims=True),
    GlobalAveragePooling1D()])
def test_config_round_trip(layer):
    again = deserialize(serialize(layer))
    assert type(again) is type(layer) and again.get_config() == layer.get_config()


def text_classifier(seed=0, steps=12):
    return Sequential([Input((steps,), dtype="int32"), Embedding(30, 6),
                       Conv1D(8, 3, activation="relu", padding="causal", kernel_regularizer="l2"),
                       MaxPooling1D(2), Conv1D(8, 2, dilation_rate=2, activation="relu"),
                       GlobalMaxPooling1D(), Dense(2, activation="softmax")], seed=seed)


def text_data(n=48, steps=12):
    x = RNG.integers(0, 30, (n, steps))
    return x, (x.max(axis=1) > 26).astype(np.int64)   # does the text hold a "rare word"?


def test_text_classifier_trains_saves_and_loads(tmp_path):
    x, y = text_data()
    model = text_classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=8, epochs=8, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.9 * before
    model.save(tmp_path / "text.adkit")
    again = load_model(tmp_path / "text.adkit")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(a) for a in again.layers] == [type(b) for b in model.layers]


def test_gradient_through_a_conv1d_model_matches_finite_differences():
    model = Sequential([Input((7, 2)), Conv1D(3, 3, padding="causal", dtype="float64"),
                        AveragePooling1D(2, padding="same", dtype="float64"),
                        Conv1D(2, 2, dilation_rate=2, activation="tanh", dtype="float64"),
                        GlobalAveragePooling1D(dtype="float64"), Dense(1, dtype="float64")],
                       seed=1)
    model.compile(optimizer="sgd", loss="mse")
    x, y = RNG.standard_normal((4, 7, 2)), RNG.standard_normal((4, 1))
    params = model.params
    loss = lambda v: model.loss_fn(params, v, y, training=False)[0]  # noqa: E731
    np.testing.assert_allclose(adkit.grad(loss)(x), numeric.gradient(loss, x), rtol=1e-6,
                               atol=1e-9)


def test_compiled_fit_trains_as_the_eager_fit():
    x, y = text_data()
    on = fit_losses(text_classifier, x, y, jit="auto")
    off = fit_losses(text_classifier, x, y, jit=False)
    assert on[1].trainer.compiled_step is not None and off[1].trainer.compiled_step is None
    np.testing.assert_allclose(on[0], off[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(on[1].get_weights(), off[1].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="Conv1D 'c': padding must be 'valid', 'same' or "
                                         "'causal'"):
        Conv1D(2, 3, padding="full", name="c")
    with pytest.raises(ValueError, match="MaxPooling1D 'p': padding must be 'valid' or 'same'"):
        MaxPooling1D(padding="causal", name="p")
    with pytest.raises(ValueError, match="kernel_size must be a positive int"):
        Conv1D(2, (3, 3))
    with pytest.raises(ValueError, match="filters must be a positive int"):
        Conv1D(0, 3)
    with pytest.raises(ValueError, match="strides > 1 together with dilation_rate > 1"):
        Conv1D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="groups=2"):
        Conv1D(2, 3, groups=2)
    with pytest.raises(ValueError, match="channels_last"):
        Conv1D(2, 3, data_format="channels_first")
    with pytest.raises(ShapeError, match=r"'c1' \(Conv1D\) expects input of shape \(steps, "
                                         r"channels\)"):
        Sequential([Input((4, 4, 2)), Conv1D(2, 3, name="c1")])
    with pytest.raises(ShapeError, match=r"'c2' \(Conv1D\).*at least 5 steps"):
        Sequential([Input((4, 2)), Conv1D(2, 3, dilation_rate=2, name="c2")])
    with pytest.raises(ShapeError, match=r"'p1' \(MaxPooling1D\).*at least 3 steps"):
        Sequential([Input((2, 2)), MaxPooling1D(3, name="p1")])
    with pytest.raises(ShapeError, match=r"'g1' \(GlobalMaxPooling1D\)"):
        Sequential([Input((4, 4, 2)), GlobalMaxPooling1D(name="g1")])
    with pytest.raises(ShapeError, match=r"'c3' \(Conv1D\)"):
        Conv1D(2, 3, name="c3").call({}, np.ones((2, 5)), None)


@needs_opencl
def test_conv1d_and_1d_pooling_train_on_opencl_as_on_the_cpu():
    def build():
        return Sequential([Input((12, 3)), Conv1D(4, 3, activation="relu"), MaxPooling1D(2),
                           Conv1D(4, 2, padding="same"), AveragePooling1D(2, padding="same"),
                           GlobalMaxPooling1D(), Dense(2, activation="softmax")], seed=0)

    x, y = RNG.standard_normal((16, 12, 3)).astype(np.float32), RNG.integers(0, 2, 16)
    predictions = []
    for device in ("cpu", "opencl"):
        model = build()
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", device=device)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        predictions.append(model.predict(x, verbose=0))
    np.testing.assert_allclose(predictions[0], predictions[1], rtol=1e-5, atol=1e-6)


def test_opencl_and_onnx_refuse_what_they_lack_by_name(tmp_path):
    model = Sequential([Input((8, 2)), Conv1D(2, 3, padding="causal", name="causal_conv"),
                        GlobalMaxPooling1D(), Dense(1)])
    with pytest.raises(ValueError, match=r"'causal_conv' \(Conv1D\) has no OpenCL"):
        model.compile(optimizer="sgd", loss="mse", device="opencl")
    pytest.importorskip("onnx", reason="export_onnx needs the onnx package")
    from adkit.nn.onnx_export import export_onnx
    with pytest.raises(ValueError, match=r"'causal_conv' \(Conv1D\) has no ONNX export"):
        export_onnx(model, tmp_path / "m.onnx")


# --- Keras as referee --------------------------------------------------------------------------

@pytest.mark.parametrize("k,s,padding,d", CONVS)
def test_conv1d_matches_keras(keras, k, s, padding, d):
    x = RNG.standard_normal((2, 9, 2)).astype(np.float32)
    ours = Conv1D(3, k, strides=s, padding=padding, dilation_rate=d, activation="relu",
                  bias_initializer="random_normal")
    theirs = keras.layers.Conv1D(3, k, strides=s, padding=padding, dilation_rate=d,
                                 activation="relu")
    same_as_keras(keras, ours, theirs, x)


@pytest.mark.parametrize("size,stride,padding", POOLS)
@pytest.mark.parametrize("name", ["MaxPooling1D", "AveragePooling1D"])
def test_pooling1d_matches_keras(keras, name, size, stride, padding):
    x = RNG.standard_normal((2, 7, 3)).astype(np.float32)
    ours = {"MaxPooling1D": MaxPooling1D, "AveragePooling1D": AveragePooling1D}[name]
    same_as_keras(keras, ours(size, stride, padding),
                  getattr(keras.layers, name)(size, stride, padding), x)


@pytest.mark.parametrize("name", ["GlobalMaxPooling1D", "GlobalAveragePooling1D"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling1d_matches_keras(keras, name, keepdims):
    x = RNG.standard_normal((2, 7, 3)).astype(np.float32)
    ours = {"GlobalMaxPooling1D": GlobalMaxPooling1D,
            "GlobalAveragePooling1D": GlobalAveragePooling1D}[name]
    same_as_keras(keras, ours(keepdims=keepdims),
                  getattr(keras.layers, name)(keepdims=keepdims), x)


def keras_text_classifier(keras, steps=12):
    L = keras.layers
    return keras.Sequential([keras.Input((steps,), dtype="int32"), L.Embedding(30, 6),
                             L.Conv1D(8, 3, activation="relu", padding="causal"),
                             L.MaxPooling1D(2), L.Conv1D(8, 2, dilation_rate=2, activation="relu"),
                             L.GlobalMaxPooling1D(), L.Dense(2, activation="softmax")])


def test_weights_files_cross_between_keras_and_adkit(keras, tmp_path):
    x, y = text_data()
    weights_files_cross(keras_text_classifier(keras), text_classifier, x, y,
                        "sparse_categorical_crossentropy", tmp_path)
