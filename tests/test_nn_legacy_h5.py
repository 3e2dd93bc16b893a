"""model.save("x.h5") / load_model in the legacy HDF5 layout (nn/legacy_h5.py), weights
from Keras 2-style files, and Keras's registry of custom objects (nn/custom_objects.py)."""

import os

import numpy as np
import pytest

import adkit.nn as keras
from adkit.nn import custom_objects, legacy_h5
from adkit.nn.keras_weights import WeightsFileError
from adkit.nn.saving import ModelFileError

h5py = pytest.importorskip("h5py", reason="h5py is not installed: pip install 'adkit[h5]'")
KERAS_INSTALL = "Keras 3 is not installed: pip install keras jax jaxlib h5py"

RNG = np.random.default_rng(5)
X = RNG.normal(size=(48, 6)).astype(np.float32)
Y = (X[:, :1] * 2.0 - X[:, 1:2]).astype(np.float32)


def regressor(seed=0):
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.BatchNormalization(), keras.layers.Dense(1)],
                            seed=seed)


def trained(loss="mse", metrics=("mae",)):
    model = regressor()
    model.compile(keras.optimizers.Adam(0.01), loss, metrics=list(metrics))
    model.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    return model


def test_a_saved_h5_model_predicts_and_trains_on_as_the_original(tmp_path):
    model = trained()
    model.save(tmp_path / "m.h5")
    loaded = keras.models.load_model(tmp_path / "m.h5")
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert type(loaded.optimizer).__name__ == "Adam" and loaded.optimizer.iterations == 6
    # the optimizer's moments came back too: one more epoch gives the same weights
    for m in (model, loaded):
        m.fit(X, Y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert loaded.evaluate(X, Y, verbose=0, return_dict=True).keys() == {"loss", "mae"}


def text(name):
    """h5py gives an attribute's strings as bytes or str, depending on how they were stored."""
    return name.decode() if isinstance(name, bytes) else str(name)


def test_the_file_has_kerass_legacy_layout(tmp_path):
    model = trained()
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert {"model_config", "training_config", "keras_version", "backend"} <= set(f.attrs)
        group = f["model_weights"]
        names = [text(n) for n in group.attrs["layer_names"]]
        assert names == [layer.name for layer in model.layers]
        dense = model.layers[0].name
        weight_names = [text(n) for n in group[dense].attrs["weight_names"]]
        assert weight_names == [f"{dense}/kernel", f"{dense}/bias"]
        np.testing.assert_array_equal(group[dense][weight_names[0]][()],
                                      model.layers[0].get_weights()[0])
        bn = model.layers[1].name
        assert [text(n).split("/")[-1] for n in group[bn].attrs["weight_names"]] == \
            ["gamma", "beta", "moving_mean", "moving_variance"]
        assert "optimizer_weights" in f


def test_uncompiled_and_compile_false(tmp_path):
    regressor().save(tmp_path / "plain.hdf5")
    loaded = keras.models.load_model(tmp_path / "plain.hdf5")
    assert loaded.optimizer is None
    trained().save(tmp_path / "m.h5", include_optimizer=False)
    assert keras.models.load_model(tmp_path / "m.h5", compile=False).optimizer is None
    fresh = keras.models.load_model(tmp_path / "m.h5")
    assert fresh.optimizer.iterations == 0


def test_load_weights_reads_a_whole_h5_model_and_a_keras_2_weights_file(tmp_path):
    model = trained()
    model.save(tmp_path / "m.h5")
    target = regressor(seed=3)
    target.load_weights(tmp_path / "m.h5")
    np.testing.assert_array_equal(target.predict(X, verbose=0), model.predict(X, verbose=0))
    # Keras 2's save_weights("w.h5"): the layer groups at the root, names with ":0"
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"input", b"d1", b"norm", b"d2"]
        f.create_group("input").attrs["weight_names"] = []
        for name, layer in zip(["d1", "norm", "d2"], model.layers):
            g = f.create_group(name)
            names = [f"{name}/w{i}:0".encode() for i in range(len(layer.get_weights()))]
            g.attrs["weight_names"] = names
            for n, w in zip(names, layer.get_weights()):
                g.create_dataset(n.decode(), data=w.astype(np.float64))
    other = regressor(seed=4)
    other.load_weights(path)
    np.testing.assert_allclose(other.predict(X, verbose=0), model.predict(X, verbose=0),
                               rtol=1e-6)


def test_bad_files_are_refused_clearly_and_nothing_changes(tmp_path):
    model = trained()
    before = model.get_weights()
    wide = keras.Sequential([keras.Input((6,)), keras.layers.Dense(9, activation="relu"),
                             keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    wide.save(tmp_path / "wide.h5")
    with pytest.raises(WeightsFileError, match=r"kernel' is float32 \(6, 9\) in the file, "
                                               r"the layer's is float32 \(6, 8\)"):
        model.load_weights(tmp_path / "wide.h5")
    short = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1)])
    short.save(tmp_path / "short.h5")
    with pytest.raises(WeightsFileError, match="holds weights for 1 layers"):
        model.load_weights(tmp_path / "short.h5")
    for old, now in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, now)
    model.save_weights(tmp_path / "only.weights.h5")
    with pytest.raises(ModelFileError, match="no 'model_config'.*model.load_weights"):
        keras.models.load_model(tmp_path / "only.weights.h5")
    with h5py.File(tmp_path / "broken.h5", "w") as f:
        f.attrs["model_config"] = b'{"class_name": "Sequential", "config": {"layers": 3}}'
    with pytest.raises(ModelFileError, match="its model_config cannot be built"):
        keras.models.load_model(tmp_path / "broken.h5")


def test_a_failed_save_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.h5"
    trained().save(path)
    kept = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(h5py.Group, "create_dataset", fail)
    with pytest.raises(OSError, match="No space left"):
        regressor(seed=9).save(path)
    assert path.read_bytes() == kept
    assert os.listdir(tmp_path) == ["m.h5"]


def my_loss(y_true, y_pred):
    return keras.ops.mean(keras.ops.abs(y_true - y_pred) ** 1.5, axis=-1)


def test_custom_objects_name_a_models_own_loss_and_metric(tmp_path):
    def spread(y_true, y_pred):
        return keras.ops.std(y_pred, axis=-1)

    model = trained(loss=my_loss, metrics=[spread])
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        with pytest.raises(ModelFileError, match="custom_objects"):
            keras.models.load_model(tmp_path / name)
        loaded = keras.models.load_model(tmp_path / name,
                                         custom_objects={"my_loss": my_loss, "spread": spread})
        assert loaded.loss is my_loss
        assert loaded.evaluate(X, Y, verbose=0) == pytest.approx(
            model.evaluate(X, Y, verbose=0), rel=1e-6)
        with keras.saving.custom_object_scope({"my_loss": my_loss, "spread": spread}):
            assert keras.saving.load_model(tmp_path / name).loss is my_loss
        assert keras.models.load_model(tmp_path / name, compile=False).optimizer is None


def test_register_keras_serializable_and_the_global_dict(tmp_path):
    @keras.saving.register_keras_serializable(package="tests")
    def halved_mse(y_true, y_pred):
        return keras.ops.mean((y_true - y_pred) ** 2, axis=-1) / 2

    try:
        assert keras.saving.get_registered_name(halved_mse) == "tests>halved_mse"
        assert keras.saving.get_custom_objects()["tests>halved_mse"] is halved_mse
        assert keras.saving.get_registered_object("tests>halved_mse") is halved_mse
        model = trained(loss=halved_mse)
        keras.saving.save_model(model, tmp_path / "m.h5")
        assert keras.saving.load_model(tmp_path / "m.h5").loss is halved_mse
        keras.saving.get_custom_objects()["clipped_relu"] = lambda x: keras.ops.clip(x, 0, 1)
        layer = keras.layers.Dense(2, activation="clipped_relu")
        assert layer.activation(np.array([-1.0, 0.5, 3.0])).tolist() == [0.0, 0.5, 1.0]
    finally:
        for key in ("tests>halved_mse", "clipped_relu"):
            custom_objects.get_custom_objects().pop(key, None)
    with pytest.raises(ValueError, match="register_keras_serializable"):
        keras.losses.get("halved_mse")
    with pytest.raises(ValueError, match="without '>'"):
        keras.saving.register_keras_serializable(package="a>b")


def test_keras_reads_our_h5_weights_and_we_read_kerass(tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    real = pytest.importorskip("keras", reason=KERAS_INSTALL)
    if not real.__version__.startswith("3."):
        pytest.skip(f"needs Keras 3, found {real.__version__}")
    twin = real.Sequential([real.Input((6,)), real.layers.Dense(8, activation="relu"),
                            real.layers.BatchNormalization(), real.layers.Dense(1)])
    model = trained()
    model.save(tmp_path / "ours.h5")
    twin.load_weights(tmp_path / "ours.h5")
    np.testing.assert_allclose(np.asarray(twin.predict(X, verbose=0)),
                               model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    twin.set_weights([w * 0.5 for w in twin.get_weights()])
    twin.save(tmp_path / "theirs.h5")
    ours = regressor(seed=8)
    ours.load_weights(tmp_path / "theirs.h5")
    np.testing.assert_allclose(ours.predict(X, verbose=0),
                               np.asarray(twin.predict(X, verbose=0)), rtol=1e-5, atol=1e-6)


def test_is_hdf5():
    assert not legacy_h5.is_hdf5("/nonexistent/file.h5")
