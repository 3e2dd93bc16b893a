"""Keras 3's model.input_shape / output_shape (batch axis first), model.build with
Keras's shapes, and models read from Keras 3's own configs (model_from_json,
Sequential.from_config, Model.from_config).

Fixtures in tests/keras3_configs/ were written by real Keras 3 (make_fixtures.py
there): its to_json(), its weights and its predictions, so these checks run without
Keras; the tests at the end compare with Keras itself when it is installed."""

import json
import os
import zipfile

import numpy as np
import pytest

import adkit.nn as keras
from adkit.nn.keras_config import INERT_ENTRIES, is_keras_config, layer_kwargs
from adkit.nn.layers import Dense, Flatten

from keras_referee import real_keras  # noqa: F401  (a fixture)

FIXTURES = os.path.join(os.path.dirname(__file__), "keras3_configs")
NAMES = ("mlp", "cnn", "functional", "rnn")


def fixture(name):
    with open(os.path.join(FIXTURES, f"{name}.json")) as f:
        return json.load(f)


def fixture_inputs(record):
    """The fixture's inputs: a list of arrays for a functional model (one per input)."""
    if json.loads(record["json"])["class_name"] == "Functional":
        return [np.asarray(a, np.float32) for a in record["x"]]
    return np.asarray(record["x"])


# ------------------------------------------------------------------ shapes, Keras's form

def test_sequential_shapes_have_the_batch_axis_first():
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    assert model.example_input_shape == (28, 28, 1) and model.example_output_shape == (10,)
    # what Keras code does with them
    head = keras.Sequential([keras.Input(model.output_shape[1:]),
                             keras.layers.Dense(model.output_shape[-1] * 2)])
    assert head.input_shape == (None, 10) and head.output_shape == (None, 20)
    assert model.predict(np.zeros((2,) + model.input_shape[1:], np.float32),
                         verbose=0).shape == (2,) + model.output_shape[1:]


def test_functional_shapes_are_a_list_for_several_inputs_or_outputs():
    a, b = keras.Input((3,)), keras.Input((5,))
    merged = keras.layers.Concatenate()([a, b])
    model = keras.Model([a, b], [merged, keras.layers.Dense(2)(merged)])
    assert model.input_shape == [(None, 3), (None, 5)]
    assert model.output_shape == [(None, 8), (None, 2)]
    single = keras.Model(a, keras.layers.Dense(4)(a))
    assert single.input_shape == (None, 3) and single.output_shape == (None, 4)


def test_unbuilt_sequential_has_no_shape_as_in_keras():
    model = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(AttributeError, match="no defined input shape yet"):
        model.input_shape
    assert not hasattr(model, "output_shape")
    model.build((None, 4))   # Keras's form: the batch axis first
    assert model.input_shape == (None, 4) and model.output_shape == (None, 3)
    assert [w.shape for w in model.get_weights()] == [(4, 3), (3,)]
    assert model.predict(np.ones((2, 4), np.float32), verbose=0).shape == (2, 3)


def test_build_takes_keras_shapes_and_example_shapes():
    keras_style = keras.Sequential([keras.layers.Conv2D(2, 3), keras.layers.Flatten()])
    keras_style.build((None, 5, 5, 1))
    adkit_style = keras.Sequential([keras.layers.Conv2D(2, 3), keras.layers.Flatten()])
    adkit_style.build((5, 5, 1))
    assert keras_style.output_shape == adkit_style.output_shape == (None, 18)
    a = keras.Input((3,))
    model = keras.Model(a, keras.layers.Dense(2)(a))
    model.build((None, 3))
    model.build((3,))
    with pytest.raises(ValueError, match="takes inputs of shapes"):
        model.build((None, 4))


def test_input_layer_batch_shape():
    assert keras.layers.InputLayer(shape=(3,)).batch_shape == (None, 3)
    assert keras.layers.InputLayer(batch_shape=(8, 3)).batch_shape == (8, 3)
    with pytest.raises(ValueError, match="sparse=True is not supported"):
        keras.layers.InputLayer(shape=(3,), sparse=True)


def test_pop_and_nested_models_report_keras_shapes():
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
    outer = keras.Sequential([inner, keras.layers.Dense(2)])
    assert outer.input_shape == (None, 6) and outer.output_shape == (None, 2)
    outer.pop()
    assert outer.output_shape == (None, 4)


def test_subclassed_layer_compute_output_shape_is_honoured():
    class Doubling(keras.layers.Layer):
        def call(self, inputs):
            return keras.ops.concatenate([inputs, inputs], axis=-1)

        def compute_output_shape(self, input_shape):
            assert input_shape[0] is None   # Keras's form: the batch axis first
            return input_shape[:-1] + (2 * input_shape[-1],)

    x = keras.Input((3,))
    model = keras.Model(x, Doubling()(x))
    assert model.output_shape == (None, 6)


# ------------------------------------------------------------------ Keras's configs

@pytest.mark.parametrize("name", NAMES)
def test_keras_json_builds_the_same_model(name):
    record = fixture(name)
    model = keras.models.model_from_json(record["json"])
    weights = [np.asarray(w, np.float32) for w in record["weights"]]
    assert [w.shape for w in model.get_weights()] == [w.shape for w in weights]
    model.set_weights(weights)
    x = fixture_inputs(record)
    got = model.predict(x, verbose=0)
    want = record["y"]
    if isinstance(got, list):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, np.asarray(w), rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_keras_get_config_through_from_config(name):
    spec = json.loads(fixture(name)["json"])
    cls = keras.Sequential if spec["class_name"] == "Sequential" else keras.Model
    model = cls.from_config(spec["config"])
    again = keras.models.model_from_json(fixture(name)["json"])
    assert [layer.name for layer in model.layers] == [layer.name for layer in again.layers]
    assert model.input_shape == again.input_shape and model.output_shape == again.output_shape
    assert model.count_params() == again.count_params()


def test_keras_configs_keep_what_keras_set():
    model = keras.models.model_from_json(fixture("mlp")["json"])
    hidden = model.layers[0]
    assert hidden.units == 6 and hidden.activation.__name__ == "relu"
    assert type(hidden.regularizers["kernel"]).__name__ == "L2"
    assert model.layers[1].rate == 0.2
    cnn = keras.models.model_from_json(fixture("cnn")["json"])
    assert type(cnn.layers[0].constraints["kernel"]).__name__ == "MaxNorm"
    assert model.name == "mlp" and cnn.name == "cnn"


def test_keras_model_trains_after_loading():
    record = fixture("mlp")
    model = keras.models.model_from_json(record["json"])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_keras_setting_adkit_lacks_is_refused_by_name():
    spec = json.loads(fixture("cnn")["json"])
    flatten = next(s for s in spec["config"]["layers"] if s["class_name"] == "Flatten")
    flatten["config"]["data_format"] = "channels_first"
    with pytest.raises(ValueError, match="data_format='channels_first' is not supported"):
        keras.models.model_from_json(json.dumps(spec))


def test_unknown_keras_layer_is_refused_by_name():
    spec = json.loads(fixture("mlp")["json"])
    spec["config"]["layers"][1]["class_name"] = "EinsumDense"
    with pytest.raises(ValueError, match="class 'EinsumDense', which adkit.nn does not have"):
        keras.models.model_from_json(json.dumps(spec))


def test_mixed_precision_policy_is_refused_by_name():
    spec = json.loads(fixture("mlp")["json"])
    spec["config"]["layers"][1]["config"]["dtype"]["config"]["name"] = "mixed_float16"
    with pytest.raises(ValueError, match="mixed precision policy 'mixed_float16'"):
        keras.models.model_from_json(json.dumps(spec))


def test_layer_kwargs_drop_only_keras_off_values():
    assert layer_kwargs(Dense, {"name": "d", "units": 2, "quantization_config": None,
                                "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                          "config": {"name": "float64"}}}) == \
        {"name": "d", "units": 2, "dtype": "float64"}
    with pytest.raises(ValueError, match="quantization_config"):
        layer_kwargs(Dense, {"units": 2, "quantization_config": {"mode": "int8"}})
    assert "data_format" in INERT_ENTRIES
    assert layer_kwargs(Flatten, {"data_format": None}) == {}


def test_adkit_configs_are_not_taken_for_keras_ones():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], seed=0)
    assert not is_keras_config(model.get_config())
    again = keras.Sequential.from_config(model.get_config())
    np.testing.assert_array_equal(again.get_weights()[0], model.get_weights()[0])
    a = keras.Input((3,))
    functional = keras.Model(a, keras.layers.Dense(2)(a), seed=0)
    twin = keras.Model.from_config(functional.get_config())
    assert twin.output_shape == (None, 2)


def test_keras_weights_file_loads_into_the_json_model(tmp_path):
    pytest.importorskip("h5py", reason="h5py reads .weights.h5 files: pip install h5py")
    record = fixture("cnn")
    ours = keras.models.model_from_json(record["json"])
    ours.set_weights([np.asarray(w, np.float32) for w in record["weights"]])
    path = str(tmp_path / "cnn.weights.h5")
    ours.save_weights(path)   # Keras's layout
    again = keras.models.model_from_json(record["json"])
    again.load_weights(path)
    np.testing.assert_allclose(again.predict(np.asarray(record["x"]), verbose=0),
                               np.asarray(record["y"]), rtol=1e-5, atol=1e-6)


def _archive(tmp_path, name, compile_config=None, config_text=None):
    """A .keras archive as Keras 3 lays it out: the fixture's config.json and its weights
    in Keras's model.weights.h5 layout (written by adkit's save_weights)."""
    record = fixture(name)
    model = keras.models.model_from_json(record["json"])
    model.set_weights([np.asarray(w, np.float32) for w in record["weights"]])
    weights = tmp_path / f"{name}.weights.h5"
    model.save_weights(str(weights))
    spec = json.loads(record["json"])
    if compile_config is not None:
        spec["compile_config"] = compile_config
    path = tmp_path / f"{name}.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": record["keras_version"]}))
        z.writestr("config.json", config_text if config_text is not None else json.dumps(spec))
        z.write(weights, "model.weights.h5")
    return path, record


@pytest.mark.parametrize("name", NAMES)
def test_load_model_reads_keras_archives(tmp_path, name):
    pytest.importorskip("h5py", reason="h5py reads .weights.h5 files: pip install h5py")
    path, record = _archive(tmp_path, name)
    model = keras.models.load_model(path)
    assert model.optimizer is None   # Keras saved it uncompiled
    got = model.predict(fixture_inputs(record), verbose=0)
    for g, w in zip(got if isinstance(got, list) else [got],
                    record["y"] if isinstance(got, list) else [record["y"]]):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-5, atol=1e-6)


def test_keras_archive_compile_config_compiles(tmp_path):
    pytest.importorskip("h5py", reason="h5py reads .weights.h5 files: pip install h5py")
    settings = {"optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                              "config": {"name": "adam", "learning_rate": 0.01,
                                         "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
                                         "amsgrad": False}, "registered_name": None},
                "loss": "sparse_categorical_crossentropy", "loss_weights": None,
                "metrics": ["accuracy"], "weighted_metrics": None}
    path, _ = _archive(tmp_path, "mlp", compile_config=settings)
    model = keras.models.load_model(path)
    assert type(model.optimizer).__name__ == "Adam"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    assert model.metrics_names == ["loss", "accuracy"]
    assert keras.models.load_model(path, compile=False).optimizer is None
    settings["optimizer"]["class_name"] = "Spaceship"
    path, _ = _archive(tmp_path, "mlp", compile_config=settings)
    with pytest.raises(keras.models.ModelFileError, match="compile=False"):
        keras.models.load_model(path)


def test_damaged_keras_archive_is_refused(tmp_path):
    pytest.importorskip("h5py", reason="h5py reads .weights.h5 files: pip install h5py")
    path, _ = _archive(tmp_path, "mlp", config_text="{not json")
    with pytest.raises(keras.models.ModelFileError, match="config.json is not JSON"):
        keras.models.load_model(path)


# ------------------------------------------------------------------ against Keras itself

def _keras_models(k):
    L = k.layers
    a, b = k.Input((4,), name="left"), k.Input((3,), name="right")
    h = L.Dense(5, activation="relu")(L.Concatenate()([a, b]))
    functional = k.Model([a, b], [L.Dense(2)(h), L.Dense(1, activation="sigmoid")(h)])
    seq = k.Sequential([k.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu"),
                        L.MaxPooling2D(), L.Flatten(), L.Dropout(0.3), L.Dense(3)])
    rnn = k.Sequential([k.Input((6, 2)), L.Bidirectional(L.LSTM(3, return_sequences=True)),
                        L.TimeDistributed(L.Dense(2)), L.GRU(2)])
    return {"functional": functional, "sequential": seq, "rnn": rnn}


def test_shapes_equal_keras(real_keras):
    for name, theirs in _keras_models(real_keras).items():
        ours = keras.models.model_from_json(theirs.to_json())
        assert ours.input_shape == theirs.input_shape, name
        assert ours.output_shape == theirs.output_shape, name


def test_keras_json_and_weights_file_give_keras_predictions(real_keras, tmp_path):
    pytest.importorskip("h5py", reason="h5py reads .weights.h5 files: pip install h5py")
    rng = np.random.default_rng(1)
    for name, theirs in _keras_models(real_keras).items():
        path = str(tmp_path / f"{name}.weights.h5")
        theirs.save_weights(path)
        for cls_config in (False, True):
            if cls_config:
                cls = keras.Sequential if name != "functional" else keras.Model
                ours = cls.from_config(theirs.get_config())
            else:
                ours = keras.models.model_from_json(theirs.to_json())
            ours.load_weights(path)
            shapes = theirs.input_shape if isinstance(theirs.input_shape, list) \
                else [theirs.input_shape]
            xs = [rng.standard_normal((3,) + tuple(s[1:])).astype(np.float32) for s in shapes]
            x = xs if len(xs) > 1 else xs[0]
            want = theirs.predict(x, verbose=0)
            got = ours.predict(x, verbose=0)
            for g, w in zip(got if isinstance(got, list) else [got],
                            want if isinstance(want, list) else [want]):
                np.testing.assert_allclose(g, np.asarray(w), rtol=1e-4, atol=1e-5)


def test_keras_saved_archive_loads(real_keras, tmp_path):
    pytest.importorskip("h5py", reason="h5py reads .weights.h5 files: pip install h5py")
    rng = np.random.default_rng(2)
    for name, theirs in _keras_models(real_keras).items():
        theirs.compile(optimizer=real_keras.optimizers.RMSprop(0.005), loss="mse")
        path = str(tmp_path / f"{name}.keras")
        theirs.save(path)
        ours = keras.models.load_model(path)
        assert type(ours.optimizer).__name__ == "RMSprop"
        shapes = theirs.input_shape if isinstance(theirs.input_shape, list) \
            else [theirs.input_shape]
        xs = [rng.standard_normal((3,) + tuple(s[1:])).astype(np.float32) for s in shapes]
        x = xs if len(xs) > 1 else xs[0]
        want, got = theirs.predict(x, verbose=0), ours.predict(x, verbose=0)
        for g, w in zip(got if isinstance(got, list) else [got],
                        want if isinstance(want, list) else [want]):
            np.testing.assert_allclose(g, np.asarray(w), rtol=1e-4, atol=1e-5)
