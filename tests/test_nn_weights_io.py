"""model.save_weights / load_weights: adkit's own file and Keras 3's .weights.h5 layout.

The h5 tests need only h5py (the layout is checked group by group against what
Keras 3 writes, see nn/keras_weights.py); the cross-checks with Keras itself build,
train and save a CNN, an MLP and a recurrent model in Keras (JAX backend) and
compare predictions to 1e-5 in both directions, and skip when Keras is absent."""

import importlib.util
import os
import zipfile

import numpy as np
import pytest

from adkit.nn import Sequential
from adkit.nn.keras_weights import WeightsFileError
from adkit.nn.layers import (GRU, LSTM, BatchNormalization, Bidirectional, Conv2D, Dense,
                             Dropout, Flatten, MaxPooling2D, SimpleRNN)

# Keras's JAX backend warns about NumPy 2's __array__ protocol inside Keras itself
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

KERAS_INSTALL = "Keras 3 is not installed: pip install keras jax jaxlib h5py"


def cnn(seed=0):
    return Sequential([Conv2D(4, 3, activation="relu", input_shape=(12, 12, 1)),
                       BatchNormalization(), MaxPooling2D(),
                       Conv2D(6, 3, padding="same", activation="relu"), Flatten(),
                       Dropout(0.5), Dense(8, activation="relu"),
                       Dense(3, activation="softmax")], seed=seed)


def mlp(seed=0):
    return Sequential([Dense(16, activation="relu", input_shape=(20,)), Dropout(0.2),
                       Dense(16, activation="relu"), Dense(4, activation="softmax")], seed=seed)


def rnn(seed=0):
    return Sequential([LSTM(4, return_sequences=True, input_shape=(5, 3)),
                       GRU(3, return_sequences=True), Bidirectional(SimpleRNN(2)), Dense(1)],
                      seed=seed)


def images(n=16, seed=0):
    return np.random.default_rng(seed).random((n, 12, 12, 1), dtype=np.float32)


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)


def moved(model, seed=1):
    """The model with every weight moved off its initial value (BatchNormalization's
    moving averages included), so a load that skipped one would show."""
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.uniform(0.1, 0.5, w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    return model


# ---------------------------------------------------------------- adkit's own file

@pytest.mark.parametrize("build", [cnn, mlp, rnn])
def test_weights_round_trip_in_adkits_file(build, tmp_path):
    source, target = moved(build(seed=0)), build(seed=5)
    path = tmp_path / "w.adkit"
    source.save_weights(path)
    target.load_weights(path)
    assert_same_weights(source, target)
    assert source.layers[0].name != target.layers[0].name   # matched by position, not name


def test_the_weights_file_holds_no_optimizer_state_and_load_weights_reads_model_files(tmp_path):
    model = mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.random((32, 20), dtype=np.float32),
              np.eye(4, dtype=np.float32)[rng.integers(0, 4, 32)], epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.adkit")
    with zipfile.ZipFile(tmp_path / "w.adkit") as z:
        names = z.namelist()
    assert not [n for n in names if n.startswith("optimizer/")]
    assert len([n for n in names if n.endswith(".npy")]) == len(model.get_weights())
    model.save(tmp_path / "full.adkit")
    other = mlp(seed=9)
    other.load_weights(tmp_path / "full.adkit")
    assert_same_weights(model, other)


def test_a_file_of_other_layers_is_refused_and_nothing_changes(tmp_path):
    mlp().save_weights(tmp_path / "w.adkit")
    wider = Sequential([Dense(17, activation="relu", input_shape=(20,)), Dropout(0.2),
                        Dense(16, activation="relu"), Dense(4, activation="softmax")], seed=0)
    before = wider.get_weights()
    with pytest.raises(WeightsFileError, match=r"layer dense .*kernel has shape \(20, 17\) in "
                                               r"the model, \(20, 16\) in the file"):
        wider.load_weights(tmp_path / "w.adkit")
    for old, now in zip(before, wider.get_weights()):
        np.testing.assert_array_equal(old, now)
    with pytest.raises(WeightsFileError, match=r"file's layers are \['Dense', 'Dropout'"):
        cnn().load_weights(tmp_path / "w.adkit")
    with pytest.raises(FileNotFoundError):
        mlp().load_weights(tmp_path / "missing.adkit")


def test_h5_model_names_get_the_legacy_layout_and_weights_names_are_checked(tmp_path):
    h5py_or_skip()
    model = mlp()
    model.save(tmp_path / "m.h5")       # Keras's legacy whole-model file (nn/legacy_h5.py)
    with open(tmp_path / "m.h5", "rb") as f:
        assert f.read(8) == b"\x89HDF\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"only from files named \*.weights.h5"):
        model.save_weights(tmp_path / "w.h5")
    with pytest.raises(ValueError, match="full-model archive"):
        model.save_weights(tmp_path / "w.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5"]


def test_overwrite_false_keeps_an_existing_file(tmp_path):
    path = tmp_path / "w.adkit"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        mlp().save_weights(path, overwrite=False)
    assert path.read_bytes() == b"keep me"
    mlp().save_weights(path, overwrite=True)
    assert zipfile.is_zipfile(path)


def test_unbuilt_models_are_refused():
    with pytest.raises(ValueError, match="not built"):
        Sequential([Dense(2)]).save_weights("never.adkit")


# ---------------------------------------------------------------- Keras 3's layout (h5py only)

def h5py_or_skip():
    return pytest.importorskip("h5py", reason="h5py is not installed: pip install 'adkit[h5]'")


def test_the_h5_layout_is_kerass(tmp_path):
    h5py = h5py_or_skip()
    model = moved(Sequential([Conv2D(2, 3, input_shape=(6, 6, 1)), BatchNormalization(),
                              MaxPooling2D(), Flatten(), Dense(3), Dense(2)], seed=0))
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    c, bn, d1, d2 = (model.layers[i] for i in (0, 1, 4, 5))
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["layers", "vars"]
        assert sorted(f["layers"]) == ["batch_normalization", "conv2d", "dense", "dense_1",
                                       "flatten", "max_pooling2d"]
        for key, layer in [("conv2d", c), ("batch_normalization", bn), ("dense", d1),
                           ("dense_1", d2)]:
            group = f[f"layers/{key}/vars"]
            assert group.attrs["name"] == layer.name
            stored = [group[str(i)][()] for i in range(len(group))]
            assert len(stored) == len(layer.get_weights())
            for a, b in zip(stored, layer.get_weights()):
                np.testing.assert_array_equal(a, b)
        assert len(f["layers/flatten/vars"]) == 0
        assert [f["layers/batch_normalization/vars"][str(i)].shape for i in range(4)] == [(2,)] * 4
    other = Sequential([Conv2D(2, 3, input_shape=(6, 6, 1)), BatchNormalization(),
                        MaxPooling2D(), Flatten(), Dense(3), Dense(2)], seed=3)
    other.load_weights(path)
    assert_same_weights(model, other)


def test_recurrent_layers_keep_their_weights_in_cells_as_in_keras(tmp_path):
    h5py = h5py_or_skip()
    model = moved(rnn())
    path = tmp_path / "r.weights.h5"
    model.save_weights(path)
    lstm, gru, bi = model.layers[:3]
    with h5py.File(path, "r") as f:
        layers = f["layers"]
        assert [layers[f"lstm/cell/vars/{i}"].shape for i in range(3)] == [(3, 16), (4, 16), (16,)]
        assert [layers[f"gru/cell/vars/{i}"].shape for i in range(3)] == [(4, 9), (3, 9), (2, 9)]
        assert len(layers["lstm/vars"]) == 0
        for side, inner in (("forward", bi.forward_layer), ("backward", bi.backward_layer)):
            group = layers[f"bidirectional/{side}_layer/cell/vars"]
            assert [group[str(i)].shape for i in range(3)] == [(3, 2), (2, 2), (2,)]
        np.testing.assert_array_equal(layers["bidirectional/backward_layer/cell/vars/1"][()],
                                      bi.get_weights()[4])
    target = rnn(seed=4)
    target.load_weights(path)
    assert_same_weights(model, target)


def test_bad_h5_files_are_refused_clearly_and_nothing_changes(tmp_path):
    h5py = h5py_or_skip()
    model = mlp()
    before = model.get_weights()
    path = tmp_path / "m.weights.h5"
    moved(mlp()).save_weights(path)
    with h5py.File(path, "a") as f:
        del f["layers/dense_1/vars/1"]
    with pytest.raises(WeightsFileError, match=r"layers/dense_1/vars .*holds 1 entries "
                                               r"\['0'\].*the layer has 2"):
        model.load_weights(path)
    keras2 = tmp_path / "old.weights.h5"   # Keras 2's layout, with one empty layer group
    with h5py.File(keras2, "w") as f:
        f.attrs["layer_names"] = [b"dense"]
        f.create_group("dense")
    with pytest.raises(WeightsFileError, match=r"holds weights for 0 layers \[\], the model "
                                               r"has 3 layers with weights"):
        model.load_weights(keras2)
    cnn().save_weights(tmp_path / "cnn.weights.h5")
    with pytest.raises(WeightsFileError, match=r"missing in the file: \['dense_2'\].*not in the "
                                               r"model: \['batch_normalization', 'conv2d'"):
        model.load_weights(tmp_path / "cnn.weights.h5")
    (tmp_path / "junk.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(WeightsFileError, match="is not an HDF5 file"):
        model.load_weights(tmp_path / "junk.weights.h5")
    for old, now in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, now)


def test_weights_inside_a_keras_archive_load_and_an_oversized_member_is_refused(tmp_path):
    h5py_or_skip()
    source = moved(cnn())
    source.save_weights(tmp_path / "cnn.weights.h5")
    archive = tmp_path / "cnn.keras"   # Keras 3's model.save: config, metadata, weights
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", "{}")
        z.write(tmp_path / "cnn.weights.h5", "model.weights.h5")
    target = cnn(seed=2)
    target.load_weights(archive)
    assert_same_weights(source, target)
    bloated = tmp_path / "bloated.keras"
    with zipfile.ZipFile(bloated, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.weights.h5", b"\0" * (8 << 20))
    with pytest.raises(WeightsFileError, match="larger than the weights of this model"):
        mlp().load_weights(bloated)


def test_a_peephole_lstm_has_no_keras_layout(tmp_path):
    h5py_or_skip()
    model = Sequential([LSTM(3, peephole=True, input_shape=(4, 2))], seed=0)
    with pytest.raises(WeightsFileError, match="peephole"):
        model.save_weights(tmp_path / "p.weights.h5")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- against Keras itself

@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    pytest.importorskip("h5py", reason=KERAS_INSTALL)
    keras = pytest.importorskip("keras", reason=KERAS_INSTALL)
    if not keras.__version__.startswith("3."):
        pytest.skip(f"these tests need Keras 3, found {keras.__version__}")
    return keras


def keras_twin(keras, name):
    """The Keras model with the same layers as cnn(), mlp() or rnn()."""
    L = keras.layers
    if name == "cnn":
        return keras.Sequential([keras.Input((12, 12, 1)), L.Conv2D(4, 3, activation="relu"),
                                 L.BatchNormalization(), L.MaxPooling2D(),
                                 L.Conv2D(6, 3, padding="same", activation="relu"), L.Flatten(),
                                 L.Dropout(0.5), L.Dense(8, activation="relu"),
                                 L.Dense(3, activation="softmax")])
    if name == "mlp":
        return keras.Sequential([keras.Input((20,)), L.Dense(16, activation="relu"),
                                 L.Dropout(0.2), L.Dense(16, activation="relu"),
                                 L.Dense(4, activation="softmax")])
    return keras.Sequential([keras.Input((5, 3)), L.LSTM(4, return_sequences=True),
                             L.GRU(3, return_sequences=True), L.Bidirectional(L.SimpleRNN(2)),
                             L.Dense(1)])


def data(name, n=32):
    rng = np.random.default_rng(7)
    if name == "cnn":
        return images(n), np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    if name == "mlp":
        return rng.random((n, 20), dtype=np.float32), np.eye(4, dtype=np.float32)[
            rng.integers(0, 4, n)]
    return rng.standard_normal((n, 5, 3)).astype(np.float32), rng.standard_normal(
        (n, 1)).astype(np.float32)


BUILDERS = {"cnn": cnn, "mlp": mlp, "rnn": rnn}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_adkit_loads_what_keras_trained_and_predicts_the_same(keras, name, tmp_path):
    x, y = data(name)
    twin = keras_twin(keras, name)
    twin.compile(optimizer="adam", loss="mse" if name == "rnn" else "categorical_crossentropy")
    twin.fit(x, y, epochs=2, batch_size=8, verbose=0)   # BatchNormalization's averages move
    path = tmp_path / f"{name}.weights.h5"
    twin.save_weights(path)
    model = BUILDERS[name](seed=3)
    model.load_weights(path)
    np.testing.assert_allclose(model.predict(x), twin.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_keras_loads_what_adkit_wrote_and_predicts_the_same(keras, name, tmp_path):
    x, y = data(name)
    model = moved(BUILDERS[name](seed=4))
    model.compile(optimizer="adam", loss="mse" if name == "rnn" else "categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / f"{name}.weights.h5"
    model.save_weights(path)
    twin = keras_twin(keras, name)
    twin.load_weights(os.fspath(path))
    np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x), rtol=1e-5, atol=1e-5)


def test_adkit_loads_the_weights_of_a_whole_keras_model_file(keras, tmp_path):
    x, y = data("cnn")
    twin = keras_twin(keras, "cnn")
    twin.compile(optimizer="adam", loss="categorical_crossentropy")
    twin.fit(x, y, epochs=1, batch_size=8, verbose=0)
    twin.save(tmp_path / "cnn.keras")
    model = cnn(seed=6)
    model.load_weights(tmp_path / "cnn.keras")
    np.testing.assert_allclose(model.predict(x), twin.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_adkit_loads_weights_of_a_keras_functional_model(keras, tmp_path):
    """Keras's functional models add an input_layer group, which holds no weights."""
    L = keras.layers
    inputs = keras.Input((20,))
    h = L.Dropout(0.2)(L.Dense(16, activation="relu")(inputs))
    outputs = L.Dense(4, activation="softmax")(L.Dense(16, activation="relu")(h))
    twin = keras.Model(inputs, outputs)
    path = tmp_path / "functional.weights.h5"
    twin.save_weights(path)
    model = mlp(seed=1)
    model.load_weights(path)
    x, _ = data("mlp")
    np.testing.assert_allclose(model.predict(x), twin.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_a_keras_3_model_name_saves_adkits_file_and_loads_back(tmp_path):
    from adkit.nn.callbacks import ModelCheckpoint
    from adkit.nn.models import load_model
    from adkit.nn.saving import ModelFileError

    x = np.random.default_rng(0).normal(size=(32, 20)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[np.argmax(x[:, :4], axis=1)]
    model = mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    best = tmp_path / "best_model.keras"
    weights = tmp_path / "last.weights.h5"
    callbacks = [ModelCheckpoint(best, save_best_only=True, monitor="val_loss")]
    if importlib.util.find_spec("h5py") is not None:
        callbacks.append(ModelCheckpoint(weights, save_weights_only=True))
    model.fit(x, y, epochs=3, validation_split=0.25, verbose=0, callbacks=callbacks)
    loaded = load_model(best)
    assert loaded.count_params() == model.count_params()
    model.save(tmp_path / "final.keras")
    np.testing.assert_array_equal(load_model(tmp_path / "final.keras").predict(x),
                                  model.predict(x))
    if weights.exists():
        twin = mlp()
        twin.load_weights(weights)
        np.testing.assert_array_equal(twin.predict(x), model.predict(x))
    # a Keras 3 archive (config plus model.weights.h5) is read as Keras's, not adkit's
    with zipfile.ZipFile(tmp_path / "theirs.keras", "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"")
    with pytest.raises(ModelFileError, match="Keras 3's .keras archive.*unknown model class"):
        load_model(tmp_path / "theirs.keras")
