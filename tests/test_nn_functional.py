"""adkit.nn's functional API: Input, Model over a graph of layers, merge layers.

Derivatives are checked against adkit.numeric's central differences (the referee),
values against NumPy written out by hand, and multi-output losses against the
weighted sum computed here from the model's own predictions."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import adkit
import adkit.nn as keras
from adkit import numeric
from adkit.nn import Input, Model, Sequential, load_model
from adkit.nn.outputs import Rows
from adkit.nn.layers import (Activation, Add, Average, Concatenate, Conv2D, Dense, Dot,
                             Dropout, Flatten, Maximum, Minimum, Multiply, ShapeError,
                             Subtract)
from mpi_support import mpirun, needs_mpi
from opencl_support import needs_opencl

F64 = "float64"


def assert_gradient_matches_differences(f, params, rtol=1e-5):
    exact = adkit.grad(f)(params)
    approx = numeric.gradient(f, params, method="central", h=1e-6)
    flat_exact = adkit.pytree.tree_flatten(exact)[0]
    flat_approx = adkit.pytree.tree_flatten(approx)[0]
    assert len(flat_exact) == len(flat_approx) > 0
    for e, a in zip(flat_exact, flat_approx):
        np.testing.assert_allclose(e, a, rtol=rtol, atol=1e-7)


def mlp_layers():
    return [Dense(4, activation="tanh", dtype=F64, name="d1"),
            Dense(3, activation="softmax", dtype=F64, name="d2")]


# --- a functional model is the Sequential one --------------------------------------------

def test_functional_model_equals_sequential_in_predictions_and_gradients():
    seq = Sequential([Dense(4, activation="tanh", dtype=F64, input_shape=(5,)),
                      Dense(3, activation="softmax", dtype=F64)], seed=1)
    inp = Input(shape=(5,), dtype=F64)
    d1, d2 = mlp_layers()
    model = Model(inp, d2(d1(inp)), seed=7)
    model.set_weights(seq.get_weights())
    rng = np.random.default_rng(0)
    x, ids = rng.normal(size=(6, 5)), rng.integers(0, 3, 6)
    y = np.eye(3)[ids]
    np.testing.assert_allclose(model.predict(x), seq.predict(x), rtol=1e-12)
    np.testing.assert_allclose(model(x), seq(x), rtol=1e-12)
    for m in (seq, model):
        m.compile(optimizer="sgd", loss="categorical_crossentropy")
    g_seq = adkit.grad(lambda p: seq.loss_fn(p, x, y, training=False)[0])(seq.params)
    g_fun = adkit.grad(lambda p: model.loss_fn(p, x, y, training=False)[0])(model.params)
    for a, b in zip(adkit.pytree.tree_flatten(g_seq)[0],
                    [g_fun["d1"]["kernel"], g_fun["d1"]["bias"],
                     g_fun["d2"]["kernel"], g_fun["d2"]["bias"]]):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    assert_gradient_matches_differences(
        lambda p: model.loss_fn(p, x, y, training=False)[0], model.params)
    assert seq.train_on_batch(x, y) == pytest.approx(model.train_on_batch(x, y), rel=1e-12)
    np.testing.assert_allclose(model.predict(x), seq.predict(x), rtol=1e-10)


def test_residual_cnn_gradient_matches_finite_differences():
    inp = Input(shape=(5, 5, 1), dtype=F64)
    h = Conv2D(2, (3, 3), padding="same", activation="tanh", dtype=F64)(inp)
    h2 = Conv2D(2, (3, 3), padding="same", dtype=F64)(h)
    h = Activation("tanh", dtype=F64)(Add(dtype=F64)([h, h2]))
    out = Dense(2, activation="softmax", dtype=F64)(Flatten(dtype=F64)(h))
    model = Model(inp, out, seed=3)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(3, 5, 5, 1)), rng.integers(0, 2, 3)
    assert_gradient_matches_differences(
        lambda p: model.loss_fn(p, x, y, training=False)[0], model.params)


def test_shared_layer_has_one_set_of_weights_and_its_gradient_sums_both_uses():
    a, b = Input(shape=(3,), dtype=F64), Input(shape=(3,), dtype=F64)
    shared = Dense(2, activation="tanh", dtype=F64, name="shared")
    out = Dense(1, dtype=F64, name="head")(Concatenate(dtype=F64)([shared(a), shared(b)]))
    model = Model([a, b], out, seed=0)
    assert [layer.name for layer in model.layers].count("shared") == 1
    assert model.count_params() == 3 * 2 + 2 + 4 + 1
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(1)
    xa, xb, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 1))
    grads = adkit.grad(lambda p: model.loss_fn(p, [xa, xb], y)[0])(model.params)

    # the same network with two separate copies of the shared weights: the shared
    # layer's gradient must be the sum of the copies' gradients
    def untied(kernels):
        w = model.params
        ha = np.tanh(xa @ kernels[0] + w["shared"]["bias"])
        hb = np.tanh(xb @ kernels[1] + w["shared"]["bias"])
        pred = np.concatenate([ha, hb], axis=1) @ w["head"]["kernel"] + w["head"]["bias"]
        return np.mean(np.mean((pred - y) ** 2, axis=-1))
    k = model.params["shared"]["kernel"]
    copies = numeric.gradient(untied, [k.copy(), k.copy()], method="central", h=1e-6)
    np.testing.assert_allclose(grads["shared"]["kernel"], copies[0] + copies[1], rtol=1e-6)
    assert_gradient_matches_differences(lambda p: model.loss_fn(p, [xa, xb], y)[0],
                                        model.params)


# --- several inputs and outputs ----------------------------------------------------------

def two_headed(seed=0):
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    h = Dense(4, activation="relu", name="trunk")(Concatenate()([a, b]))
    value = Dense(1, name="value")(h)
    label = Dense(3, activation="softmax", name="label")(h)
    return Model([a, b], [value, label], seed=seed)


def two_headed_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = [rng.normal(size=(n, 3)).astype(np.float32), rng.normal(size=(n, 2)).astype(np.float32)]
    y = [rng.normal(size=(n, 1)).astype(np.float32), np.eye(3, dtype=np.float32)[
        rng.integers(0, 3, n)]]
    return x, y


def test_multi_output_loss_is_the_weighted_sum_of_the_output_losses():
    model = two_headed()
    model.compile(optimizer="sgd", loss={"value": "mse", "label": "categorical_crossentropy"},
                  loss_weights={"value": 0.3, "label": 2.0}, metrics={"label": ["accuracy"]})
    x, y = two_headed_data()
    value, label = model.predict(x)
    mse = np.mean((value - y[0]) ** 2)
    xent = np.mean(-np.sum(y[1] * np.log(np.clip(label, 1e-7, 1 - 1e-7)), axis=1))
    accuracy = np.mean(label.argmax(1) == y[1].argmax(1))
    result = model.evaluate(x, y, batch_size=7, return_dict=True)
    assert model.metrics_names == ["loss", "value_loss", "label_loss", "label_accuracy"]
    assert result["loss"] == pytest.approx(0.3 * mse + 2.0 * xent, rel=1e-5)
    assert result["value_loss"] == pytest.approx(mse, rel=1e-5)
    assert result["label_loss"] == pytest.approx(xent, rel=1e-5)
    assert result["label_accuracy"] == pytest.approx(accuracy)
    # the step's loss is the same weighted sum, before its update; as Keras's,
    # train_on_batch returns every name of metrics_names, computed on the batch
    logs = model.train_on_batch(x, y, return_dict=True)
    assert list(logs) == model.metrics_names
    assert logs["loss"] == pytest.approx(0.3 * mse + 2.0 * xent, rel=1e-5)
    assert logs["value_loss"] == pytest.approx(mse, rel=1e-5)
    assert logs["label_accuracy"] == pytest.approx(accuracy)


def test_multi_output_fit_logs_keras_names_and_learns():
    model = two_headed()
    model.compile(optimizer="adam", loss=["mse", "categorical_crossentropy"],
                  loss_weights=[1.0, 0.5], metrics=["mae"])
    x, y = two_headed_data(200)
    history = model.fit({"a": x[0], "b": x[1]}, {"value": y[0], "label": y[1]}, epochs=4,
                        batch_size=20, verbose=0, validation_split=0.2)
    for key in ("loss", "value_loss", "label_loss", "value_mae", "label_mae",
                "val_loss", "val_value_loss", "val_label_mae"):
        assert len(history.history[key]) == 4, key
    assert history.history["loss"][-1] < history.history["loss"][0]
    preds = model.predict({"a": x[0], "b": x[1]}, batch_size=33)
    assert [p.shape for p in preds] == [(200, 1), (200, 3)]


def test_dict_outputs_come_back_as_a_dict_and_fused_softmax_matches_probabilities():
    inp = Input(shape=(4,), name="x")
    h = Dense(5, activation="tanh")(inp)
    model = Model({"x": inp}, {"p": Dense(3, activation="softmax")(h), "r": Dense(2)(h)},
                  seed=0)
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    out = model.predict({"x": x})
    assert set(out) == {"p", "r"} and out["p"].shape == (6, 3)
    np.testing.assert_allclose(out["p"].sum(1), 1, rtol=1e-5)
    assert set(model(x)) == {"p", "r"}


# --- nested models -----------------------------------------------------------------------

def test_nested_sequential_and_model_share_their_weights():
    encoder = Sequential([Dense(3, activation="tanh", input_shape=(4,), dtype=F64, name="e1")],
                         seed=0, name="encoder")
    inner_in = Input(shape=(3,), dtype=F64)
    head = Model(inner_in, Dense(2, dtype=F64, name="h1")(inner_in), seed=1, name="head")
    inp = Input(shape=(4,), dtype=F64)
    model = Model(inp, head(encoder(inp)), seed=2)
    x = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_allclose(model.predict(x), head.predict(encoder.predict(x)), rtol=1e-12)
    assert model.count_params() == encoder.count_params() + head.count_params()
    model.compile(optimizer="sgd", loss="mse")
    y = np.ones((5, 2))
    assert_gradient_matches_differences(lambda p: model.loss_fn(p, x, y)[0], model.params)
    before = encoder.get_weights()[0].copy()
    model.train_on_batch(x, y)
    assert not np.allclose(encoder.get_weights()[0], before)   # the inner model trained too
    np.testing.assert_allclose(model.predict(x), head.predict(encoder.predict(x)), rtol=1e-12)


def test_a_model_called_twice_shares_its_weights():
    inner_in = Input(shape=(2,))
    inner = Model(inner_in, Dense(2, name="twin_dense")(inner_in), seed=0, name="twin")
    a, b = Input(shape=(2,)), Input(shape=(2,))
    model = Model([a, b], Subtract()([inner(a), inner(b)]), seed=0)
    assert model.count_params() == 6
    x = np.random.default_rng(0).normal(size=(3, 2)).astype(np.float32)
    np.testing.assert_allclose(model.predict([x, x]), 0, atol=1e-6)


# --- saving ------------------------------------------------------------------------------

def test_save_and_load_model_round_trip_keeps_graph_weights_and_optimizer(tmp_path):
    model = two_headed()
    model.compile(optimizer="adam", loss={"value": "mse", "label": "categorical_crossentropy"},
                  loss_weights={"value": 0.5, "label": 1.0}, metrics={"label": ["accuracy"]})
    x, y = two_headed_data(60)
    model.fit(x, y, epochs=1, batch_size=20, verbose=0)
    path = tmp_path / "two.adkit"
    model.save(path)
    loaded = load_model(path)
    assert isinstance(loaded, Model)
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    for a, b in zip(model.predict(x), loaded.predict(x)):
        np.testing.assert_array_equal(a, b)
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    # the optimizer state came back: one more step gives the same weights
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def siamese(seed):
    encoder = Sequential([Dense(3, activation="tanh", input_shape=(4,), name="enc_dense")],
                         seed=seed, name="enc")
    a, b = Input(shape=(4,), name="left"), Input(shape=(4,), name="right")
    dist = Dot(axes=1, normalize=True, name="cosine")([encoder(a), encoder(b)])
    return Model([a, b], dist, seed=seed)


def test_nested_and_shared_models_survive_save_and_load(tmp_path):
    model = siamese(0)
    x = [np.random.default_rng(i).normal(size=(5, 4)).astype(np.float32) for i in (0, 1)]
    model.save(tmp_path / "siamese.adkit")
    loaded = load_model(tmp_path / "siamese.adkit")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    model.save_weights(tmp_path / "w.adkit")
    fresh = siamese(9)
    assert not np.allclose(fresh.predict(x), model.predict(x))
    fresh.load_weights(tmp_path / "w.adkit")
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))


# --- merge layers ------------------------------------------------------------------------

MERGES = [
    (Add, {}, lambda a, b, c: a + b + c, 3),
    (Subtract, {}, lambda a, b: a - b, 2),
    (Multiply, {}, lambda a, b, c: a * b * c, 3),
    (Average, {}, lambda a, b, c: (a + b + c) / 3, 3),
    (Maximum, {}, lambda a, b: np.maximum(a, b), 2),
    (Minimum, {}, lambda a, b, c: np.minimum(np.minimum(a, b), c), 3),
    (Concatenate, {"axis": 1}, lambda a, b: np.concatenate([a, b], axis=1), 2),
    (Concatenate, {"axis": -1}, lambda a, b: np.concatenate([a, b], axis=2), 2),
    (Dot, {"axes": 2}, lambda a, b: np.einsum("nij,nkj->nik", a, b), 2),
    (Dot, {"axes": (1, 1)}, lambda a, b: np.einsum("nji,njk->nik", a, b), 2),
    (Dot, {"axes": 2, "normalize": True},
     lambda a, b: np.einsum("nij,nkj->nik", a / np.linalg.norm(a, axis=2, keepdims=True),
                            b / np.linalg.norm(b, axis=2, keepdims=True)), 2),
]


@pytest.mark.parametrize("cls, kwargs, reference, n", MERGES,
                         ids=[f"{m[0].__name__}{m[1] or ''}" for m in MERGES])
def test_merge_layer_values_and_gradients(cls, kwargs, reference, n):
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(2, 3, 4)) for _ in range(n)]
    layer = cls(dtype=F64, **kwargs)
    np.testing.assert_allclose(layer(xs), reference(*xs), rtol=1e-12)
    inputs = [Input(shape=(3, 4), dtype=F64) for _ in range(n)]
    model = Model(inputs, layer(inputs), seed=0)
    assert model.output_shape == (None,) + reference(*xs).shape[1:]
    np.testing.assert_allclose(model.predict(xs), reference(*xs), rtol=1e-12)
    weights = rng.normal(size=reference(*xs).shape)
    f = lambda args: np.sum(weights * layer.call({}, list(args), None) ** 2)  # noqa: E731
    assert_gradient_matches_differences(f, tuple(xs), rtol=1e-6)


def test_dot_of_vectors_gives_one_column_and_cosine_similarity():
    a, b = np.array([[3.0, 4.0], [1.0, 0.0]]), np.array([[4.0, 3.0], [0.0, 2.0]])
    np.testing.assert_allclose(Dot(axes=1)([a, b]), [[24.0], [0.0]])
    np.testing.assert_allclose(Dot(axes=1, normalize=True)([a, b]), [[24 / 25], [0.0]])


# --- refusals ----------------------------------------------------------------------------

def test_merge_shape_mismatch_names_both_shapes():
    a, b = Input(shape=(3,)), Input(shape=(4,))
    with pytest.raises(ShapeError, match=r"\(None, 3\).*\(None, 4\)"):
        Add()([a, b])
    with pytest.raises(ShapeError, match=r"\(None, 2, 3\).*\(None, 4, 3\)"):
        Concatenate(axis=-1)([Input(shape=(2, 3)), Input(shape=(4, 3))])
    with pytest.raises(ShapeError, match="sizes 3 and 4"):
        Dot(axes=1)([a, b])
    with pytest.raises(ShapeError, match="takes 2 tensors, got 3"):
        Subtract()([a, a, a])
    with pytest.raises(ShapeError, match="list"):
        Add()(a)


def test_shared_layer_called_on_another_shape_is_refused():
    layer = Dense(2, name="once")
    layer(Input(shape=(3,)))
    with pytest.raises(ShapeError, match=r"'once'.*built for input shape \(None, 3\).*"
                                          r"\(None, 5\)"):
        layer(Input(shape=(5,)))
    with pytest.raises(ShapeError, match=r"input_shape=\(4,\)"):
        Dense(2, input_shape=(4,))(Input(shape=(3,)))


def test_disconnected_graph_and_unused_input_are_refused():
    a, b = Input(shape=(2,), name="used"), Input(shape=(2,), name="other")
    out = Dense(1)(Add()([a, b]))
    with pytest.raises(ValueError, match="graph disconnected.*'other'.*not among"):
        Model(a, out)
    c = Input(shape=(2,), name="spare")
    with pytest.raises(ValueError, match=r"\['spare'\] are not used"):
        Model([a, b, c], out)
    with pytest.raises(TypeError, match="KerasTensors"):
        Model(a, np.zeros(2))


def test_wrong_data_is_refused_with_the_input_names():
    model = two_headed()
    model.compile(optimizer="sgd", loss=["mse", "categorical_crossentropy"])
    x, y = two_headed_data(10)
    with pytest.raises(ValueError, match=r"2 inputs \['a', 'b'\]"):
        model.fit(x[0], y, verbose=0)
    with pytest.raises(ShapeError, match=r"input 'b' expects shape \(None, 2\)"):
        model.fit([x[0], x[0]], y, verbose=0)
    with pytest.raises(ValueError, match="missing"):
        model.predict({"a": x[0]})
    with pytest.raises(ValueError, match="no loss for outputs"):
        model.compile(optimizer="sgd", loss={"value": "mse"})
    with pytest.raises(ValueError, match="3 entries"):
        model.compile(optimizer="sgd", loss=["mse", "mse", "mse"])


def test_a_layer_called_alone_on_arrays_builds_and_keeps_its_weights_as_keras():
    layer = Dense(2)
    x = np.arange(6.0).reshape(2, 3)
    y = layer(x)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(y, x @ kernel + bias, rtol=1e-6)
    np.testing.assert_array_equal(layer(x), y)       # the same weights on the next call
    assert Flatten()(np.ones((2, 3, 4))).shape == (2, 12)


def test_several_inputs_refuse_opencl_and_mpi_clearly():
    model = two_headed()
    with pytest.raises(ValueError, match="device='cpu'"):
        model.compile(optimizer="sgd", loss="mse", device="opencl")
    with pytest.raises(ValueError, match="device='cpu'"):
        model.compile(optimizer="sgd", loss="mse", distribute="mpi")


def test_merge_layers_without_an_opencl_implementation_are_named():
    inp = Input(shape=(3,))
    model = Model(inp, Dense(1)(Concatenate(name="joined")([inp, inp])), seed=0)
    with pytest.raises(ValueError, match="'joined'"):
        model.compile(optimizer="sgd", loss="mse", device="opencl")


@needs_opencl
@pytest.mark.parametrize("merge", [Add, Subtract, Multiply, Average, Maximum, Minimum])
def test_residual_graph_trains_on_opencl_as_on_the_cpu(merge):
    def build():
        inp = Input(shape=(6, 6, 1))
        h = Conv2D(2, (3, 3), padding="same", activation="relu")(inp)
        h = merge()([h, Conv2D(2, (3, 3), padding="same")(h)])
        return Model(inp, Dense(3, activation="softmax")(Flatten()(h)), seed=0)
    cpu, device = build(), build()
    cpu.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    device.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", device="opencl")
    x = np.random.default_rng(0).random((8, 6, 6, 1)).astype(np.float32)
    y = np.arange(8) % 3
    np.testing.assert_allclose(device.predict(x), cpu.predict(x), rtol=1e-5, atol=1e-6)
    assert device.train_on_batch(x, y) == pytest.approx(cpu.train_on_batch(x, y), rel=1e-5)
    for a, b in zip(device.get_weights(), cpu.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# --- Keras's spellings ---------------------------------------------------------------------

def test_keras_module_spellings():
    assert keras.models.Sequential is Sequential and keras.models.Model is Model
    assert keras.models.load_model is load_model and keras.Input is Input
    assert keras.layers.Input is Input   # Keras 2 code imports it from keras.layers
    t = keras.Input(shape=(28, 28, 1), name="img")
    assert t.shape == (None, 28, 28, 1) and t.dtype == np.float32
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(t)
    # Keras 3 records operators and indexing on symbolic tensors as layers
    assert (t + t).node.layer.name.startswith("add") and (t + t).shape == t.shape
    assert t[:, 0].shape == (None, 28, 1)


def test_summary_lists_connections_and_get_layer_finds_layers():
    model = two_headed()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text and "trunk (Dense)" in text
    assert "concatenate" in text and "a[0][0], b[0][0]" in text
    assert f"Total params: {model.count_params():,}" in text
    assert model.get_layer("trunk").get_weights()[0].shape == (5, 4)


def test_dropout_in_a_graph_is_active_only_in_training():
    inp = Input(shape=(50,))
    model = Model(inp, Dropout(0.5)(inp), seed=0)
    x = np.ones((4, 50), np.float32)
    np.testing.assert_array_equal(model.predict(x), x)
    trained = model(x, training=True)
    assert 0 < np.mean(trained == 0) < 1


def onnx_outputs(model, path, inputs):
    """The outputs onnxruntime computes from the exported file."""
    pytest.importorskip("onnx", reason="onnx is not installed: pip install 'adkit[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="pip install onnxruntime")
    model.export_onnx(path)
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == model.input_names
    assert [o.name for o in session.get_outputs()] == model.output_names
    return session.run(None, dict(zip(model.input_names, inputs)))


@pytest.mark.parametrize("merge", [Add, Subtract, Multiply, Average, Maximum, Minimum,
                                   Concatenate])
def test_a_graph_exported_to_onnx_runs_as_predict(merge, tmp_path):
    """A convolution branch (channels-first in ONNX) merged with a channels-last one,
    a shared layer and two outputs: onnxruntime gives what predict gives."""
    image = Input(shape=(6, 6, 2), name="image")
    conv = Conv2D(2, (3, 3), padding="same", activation="relu", name="conv")(image)
    shared = Dense(2, activation="tanh", name="shared")
    joined = merge(name="merged")([conv, shared(image)])
    out = Dense(3, activation="softmax", name="probs")(Flatten(name="flat")(joined))
    second = Flatten(name="flat2")(Maximum(name="max2")([shared(image), conv]))
    model = Model(image, [out, second], seed=0)
    x = np.random.default_rng(0).normal(size=(5, 6, 6, 2)).astype(np.float32)
    got = onnx_outputs(model, tmp_path / "m.onnx", [x])
    for a, b in zip(got, model.predict(x)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("normalize", [False, True])
def test_dot_of_vectors_exports_to_onnx(normalize, tmp_path):
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    encode = Dense(3, name="encode")
    model = Model([a, b], Dot(axes=1, normalize=normalize, name="similarity")(
        [encode(a), encode(b)]), seed=0)
    xs = [np.random.default_rng(i).normal(size=(6, 4)).astype(np.float32) for i in (0, 1)]
    np.testing.assert_allclose(onnx_outputs(model, tmp_path / "d.onnx", xs)[0],
                               model.predict(xs), rtol=1e-5, atol=1e-6)


def test_onnx_export_refuses_nested_models_and_matrix_dots_before_writing(tmp_path):
    pytest.importorskip("onnx", reason="onnx is not installed: pip install 'adkit[onnx]'")
    inner = Sequential([Dense(2, input_shape=(3,))], seed=0, name="inner")
    inp = Input(shape=(3,))
    with pytest.raises(ValueError, match="'inner' is a nested model"):
        Model(inp, inner(inp), seed=0).export_onnx(tmp_path / "n.onnx")
    m = Input(shape=(2, 3))
    with pytest.raises(ValueError, match="Dot of vectors"):
        Model(m, Dot(axes=2)([m, m]), seed=0).export_onnx(tmp_path / "d.onnx")
    assert list(tmp_path.iterdir()) == []


# --- MPI: a single-input, single-output graph trains data-parallel ------------------------

@needs_mpi
def test_a_graph_trains_data_parallel_to_the_single_process_weights(tmp_path):
    script = os.path.join(os.path.dirname(__file__), "mpi", "functional_parallel.py")
    proc, _ = mpirun(2, script, tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["max_weight_change"] > 1e-3
    assert result["max_weight_difference"] < 1e-5
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(result["parallel_logs"][key], result["single_logs"][key],
                                   rtol=1e-5)
    assert result["predict_shape"] == [90, 2]


def test_tensorboard_activation_histograms_follow_the_graph(tmp_path):
    from adkit.nn.callbacks import TensorBoard
    from adkit.nn.callbacks.summaries import read_summaries
    inp = Input(shape=(3,))
    h = Dense(4, activation="tanh", name="branch")(inp)
    joined = Concatenate(name="joined")([inp, h])
    model = Model(inp, Dense(2, activation="softmax", name="head")(joined), seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    board = TensorBoard(tmp_path / "logs", histogram_data=(x, y), writer="json")
    model.fit(x, y, epochs=1, batch_size=10, verbose=0, callbacks=[board])
    hists = read_summaries(tmp_path / "logs")[-1]["histograms"]
    # the concatenation of the input (3 values) and the branch (4) for each example
    assert hists["activations/joined"]["size"] == 20 * 7
    assert hists["activations/head"]["size"] == 20 * 2


# --- against Keras 3 itself: the same graph reads the weights Keras trained ---------------

def test_a_graph_reads_keras_weights_and_keras_reads_ours(tmp_path):
    """Keras runs in a process of its own (tests/keras_functional_twin.py)."""
    install = "pip install keras jax h5py (Keras 3 with the JAX backend)"
    pytest.importorskip("h5py", reason=install)
    for module in ("keras", "jax"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: {install}")
    import adkit.nn.layers as layers
    from keras_functional_twin import data, residual_two_input_graph
    script = os.path.join(os.path.dirname(__file__), "keras_functional_twin.py")

    def keras_side(mode):
        env = {**os.environ, "KERAS_BACKEND": "jax"}
        done = subprocess.run([sys.executable, script, mode, str(tmp_path)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]

    x, y = data()
    keras_side("train")
    model = residual_two_input_graph(keras, layers)
    model.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(model.predict(x), np.load(tmp_path / "k.npy"), rtol=1e-5,
                               atol=1e-5)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save_weights(tmp_path / "a.weights.h5")
    keras_side("read")
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), model.predict(x), rtol=1e-5,
                               atol=1e-5)


def test_a_model_inside_a_sequential_shares_weights_and_survives_saving(tmp_path):
    base = Sequential([Dense(4, activation="relu", input_shape=(3,), name="base_dense")],
                      seed=0, name="base")
    model = Sequential([base, Dense(2, name="top")], seed=1, name="outer")
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    top = model.get_layer("top")
    np.testing.assert_allclose(model.predict(x), top(base.predict(x)), rtol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    before = base.get_weights()[0].copy()
    model.train_on_batch(x, np.zeros((5, 2)))
    assert not np.allclose(base.get_weights()[0], before)
    np.testing.assert_allclose(model.predict(x), top(base.predict(x)), rtol=1e-6)
    model.save(tmp_path / "outer.adkit")
    loaded = load_model(tmp_path / "outer.adkit")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_array_equal(loaded.layers[0].model.get_weights()[0], base.get_weights()[0])


def test_summary_names_a_nested_model_by_its_class():
    inner = Sequential([Dense(2, input_shape=(3,), name="inner_dense")], seed=0, name="inner")
    inp = Input(shape=(3,))
    lines = []
    Model(inp, inner(inp), seed=0).summary(print_fn=lines.append)
    assert any(line.startswith("inner (Sequential)") for line in lines)
    lines.clear()
    Sequential([inner, Dense(1)], seed=0).summary(print_fn=lines.append)
    assert any(line.startswith("inner (Sequential)") for line in lines)


def _rewrite_config(path, change):
    """Rewrite model.json inside a saved model file through `change(config)`."""
    import zipfile
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["model.json"])
    change(config)
    members["model.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["model"]["nodes"][0].update(inputs=[["nowhere", 0, 0]]), "nowhere"),
    (lambda c: c["model"]["nodes"].pop(), "no earlier node"),
    (lambda c: next(l for l in c["model"]["layers"] if l["config"]["name"] == "trunk")[
        "config"].update(units=5), "has shape"),
    (lambda c: c["model"].update(inputs=[]), "at least one tensor"),
])
def test_a_tampered_graph_file_is_refused_naming_the_file(tmp_path, change, message):
    from adkit.nn import ModelFileError
    model = two_headed()
    path = tmp_path / "m.adkit"
    model.save(path)
    _rewrite_config(path, change)
    with pytest.raises(ModelFileError, match=message) as caught:
        load_model(path)
    assert "m.adkit" in str(caught.value)


def test_sample_weights_weigh_every_output_loss():
    model = two_headed()
    model.compile(optimizer="sgd", loss=["mse", "categorical_crossentropy"],
                  loss_weights=[0.5, 1.0])
    x, y = two_headed_data(12)
    w = np.linspace(0.0, 2.0, 12).astype(np.float32)
    value, label = model.predict(x)
    mse = np.mean((value - y[0]) ** 2, axis=1)
    xent = -np.sum(y[1] * np.log(np.clip(label, 1e-7, 1 - 1e-7)), axis=1)
    loss, _ = model.loss_fn(model.params, Rows(x), Rows(y), training=False, sample_weight=w)
    assert float(loss) == pytest.approx(np.mean(0.5 * mse * w + xent * w), rel=1e-5)


def test_models_built_from_the_same_layers_share_their_weights():
    """Keras's autoencoder pattern: the encoder model is part of the autoencoder, so
    training the autoencoder trains the encoder."""
    inp = Input(shape=(6,))
    code = Dense(2, activation="tanh", name="code")(inp)
    autoencoder = Model(inp, Dense(6, name="decode")(code), seed=0)
    encoder = Model(inp, code, seed=1)
    np.testing.assert_array_equal(encoder.get_weights()[0], autoencoder.get_weights()[0])
    x = np.random.default_rng(0).normal(size=(8, 6)).astype(np.float32)
    autoencoder.compile(optimizer="sgd", loss="mse")
    before = encoder.predict(x)
    autoencoder.train_on_batch(x, x)
    after = encoder.predict(x)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, np.tanh(x @ autoencoder.get_layer("code").get_weights()[0]
                                              + autoencoder.get_weights()[1]), rtol=1e-5)


def test_evaluate_with_sample_weight_weighs_each_output_and_weighted_metrics():
    model = two_headed()
    model.compile(optimizer="sgd", loss=["mse", "categorical_crossentropy"],
                  loss_weights=[0.5, 1.0], metrics={"label": ["accuracy"]},
                  weighted_metrics={"label": ["accuracy"]})
    x, y = two_headed_data(12)
    w = np.linspace(0.0, 2.0, 12).astype(np.float32)
    value, label = model.predict(x)
    mse = np.mean((value - y[0]) ** 2, axis=1)
    xent = -np.sum(y[1] * np.log(np.clip(label, 1e-7, 1 - 1e-7)), axis=1)
    hit = (label.argmax(1) == y[1].argmax(1)).astype(float)
    result = model.evaluate(x, y, sample_weight=w, batch_size=5, return_dict=True)
    assert result["loss"] == pytest.approx(np.mean(0.5 * mse * w + xent * w), rel=1e-5)
    assert result["value_loss"] == pytest.approx(np.mean(mse * w), rel=1e-5)
    assert result["label_loss"] == pytest.approx(np.mean(xent * w), rel=1e-5)
    assert result["label_accuracy"] == pytest.approx(hit.mean())
    assert result["label_weighted_accuracy"] == pytest.approx(np.sum(hit * w) / np.sum(w))


def test_a_multi_input_multi_output_model_trains_and_predicts_from_a_generator():
    model = two_headed()
    model.compile(optimizer="adam", loss=["mse", "categorical_crossentropy"],
                  metrics={"label": ["accuracy"]})
    x, y = two_headed_data(40)

    def batches(with_targets=True):
        for i in range(0, 40, 10):
            xb = [a[i:i + 10] for a in x]
            # x alone comes as (x,): a bare list would read as (x, y), as in Keras
            yield (xb, [b[i:i + 10] for b in y]) if with_targets else (xb,)
    history = model.fit(batches(), epochs=1, verbose=0, validation_data=(x, y))
    assert set(history.history) >= {"loss", "value_loss", "label_accuracy", "val_label_loss"}
    streamed = model.predict(batches(with_targets=False))
    for a, b in zip(streamed, model.predict(x, batch_size=7)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert model.evaluate(batches()) == pytest.approx(model.evaluate(x, y), rel=1e-6)


def test_a_nested_models_batchnorm_averages_move_with_the_outer_training():
    from adkit.nn.layers import BatchNormalization
    inner = Sequential([Dense(3, input_shape=(4,), name="bn_dense"),
                        BatchNormalization(name="bn")], seed=0, name="normed")
    inp = Input(shape=(4,))
    model = Model(inp, Dense(1, name="bn_head")(inner(inp)), seed=1)
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    before = inner.state["bn"]["moving_mean"].copy()
    model.fit(x, np.ones((16, 1)), epochs=2, batch_size=8, verbose=0)
    after = inner.state["bn"]["moving_mean"]
    assert not np.allclose(before, after)
    np.testing.assert_array_equal(after, model.state["normed"]["bn"]["moving_mean"])
    np.testing.assert_allclose(model.predict(x), model.get_layer("bn_head")(inner.predict(x)),
                               rtol=1e-5)


def test_batchnorm_averages_of_a_model_inside_a_sequential_move_with_it():
    from adkit.nn.layers import BatchNormalization
    inner = Sequential([Dense(3, input_shape=(4,), name="sq_dense"),
                        BatchNormalization(name="sq_bn")], seed=0, name="sq_normed")
    model = Sequential([inner, Dense(1, name="sq_head")], seed=1)
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    before = inner.state["sq_bn"]["moving_mean"].copy()
    model.fit(x, np.ones((16, 1)), epochs=2, batch_size=8, verbose=0)
    assert not np.allclose(before, inner.state["sq_bn"]["moving_mean"])
    np.testing.assert_allclose(model.predict(x), model.get_layer("sq_head")(inner.predict(x)),
                               rtol=1e-5)


def test_apply_takes_inputs_by_name_and_an_output_read_downstream_is_activated():
    model = two_headed()
    x, _ = two_headed_data(5)
    by_name = model.apply(model.params, {"b": x[1], "a": x[0]})[0]
    for a, b in zip(by_name, model.apply(model.params, x)[0]):
        np.testing.assert_array_equal(a, b)
    # an output that another layer also reads: softmax for that layer, logits for the loss
    inp = Input(shape=(3,))
    probs = Dense(3, activation="softmax", name="probs")(inp)
    model = Model(inp, [probs, Dense(1, name="after")(probs)], seed=0)
    model.compile(optimizer="sgd", loss=["categorical_crossentropy", "mse"])
    xs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    logits, after = model.apply(model.params, xs, logits=True)[0]
    p = model.params
    softmax = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(after, softmax @ p["after"]["kernel"] + p["after"]["bias"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(xs)[0], softmax, rtol=1e-5, atol=1e-6)
