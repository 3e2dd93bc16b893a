"""Keras 3's preprocessing layers (nn/layers/preprocessing.py, lookup.py,
text_vectorization.py): values against plain NumPy / Python written here, Normalization's
derivative against finite differences, training, save/load and compiled steps, and
Keras 3 (JAX backend) as a referee where it is installed."""

import numpy as np
import pytest

import adkit.numeric
import adkit.nn as keras
from adkit.nn.layers.preprocessing import Normalization

from keras_referee import keras as keras3  # noqa: F401  (a fixture)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _regression_data(n=160, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal([3.0, -20.0, 500.0], [2.0, 5.0, 100.0], (n, 3)).astype(np.float32)
    y = (x - [3.0, -20.0, 500.0]) / [2.0, 5.0, 100.0] @ np.array([1.0, -2.0, 0.5]) + 1.0
    return x, y.astype(np.float32).reshape(-1, 1)


# --- Normalization ---------------------------------------------------------------------
@pytest.mark.parametrize("axis, reduce", [(-1, (0, 1)), (None, (0, 1, 2)), ((1, 2), (0,)),
                                          (1, (0, 2))])
def test_normalization_adapt_matches_numpy(axis, reduce):
    x = np.random.default_rng(1).normal(2.0, 3.0, (50, 4, 3))
    layer = Normalization(axis=axis)
    layer.adapt(x)
    mean, var = x.mean(axis=reduce, keepdims=True), x.var(axis=reduce, keepdims=True)
    np.testing.assert_allclose(layer(x), (x - mean) / np.sqrt(var), rtol=1e-4, atol=1e-5)
    inverse = Normalization(axis=axis, invert=True)
    inverse.adapt(x)
    np.testing.assert_allclose(inverse(layer(x)), x, rtol=1e-4, atol=1e-4)


def test_normalization_adapt_over_batches_is_exact():
    x = np.random.default_rng(2).normal(1.0, 4.0, (103, 5))
    whole, batched = Normalization(), Normalization()
    whole.adapt(x)
    batched.adapt(x[i:i + 10] for i in range(0, 103, 10))   # a generator, uneven last
    np.testing.assert_allclose(batched._adapted["mean"], x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(batched._adapted["variance"], x.var(0), rtol=1e-5)
    assert int(batched._adapted["count"]) == 103
    both = Normalization()
    both.adapt([(x[:50], None), (x[50:], None)])   # (x, y) batches: x is used
    np.testing.assert_allclose(both._adapted["mean"], x.mean(0), rtol=1e-5)


def test_normalization_given_mean_and_variance_broadcast():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    layer = Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 0.25])
    np.testing.assert_allclose(layer(x), (x - [1, 2, 3]) / [2.0, 1.0, 0.5], rtol=1e-6)
    scalar = Normalization(mean=3.0, variance=2.0)
    np.testing.assert_allclose(scalar(x), (x - 3.0) / np.sqrt(2.0), rtol=1e-6)
    model = keras.Sequential([keras.Input((3,)), layer])
    assert model.get_weights() == []   # constants, as in Keras: no weights
    np.testing.assert_allclose(model.predict(x, verbose=0), layer(x), rtol=1e-6)


def test_normalization_zero_variance_is_floored():
    layer = Normalization()
    layer.adapt(np.array([[1.0, 2.0], [1.0, 4.0]]))
    out = layer(np.array([[1.0, 3.0]]))
    assert np.all(np.isfinite(out)) and out[0, 0] == 0.0


def test_normalization_gradient_wrt_input_matches_finite_differences():
    rng = np.random.default_rng(3)
    layer = Normalization(dtype="float64")   # finite differences need float64 rounding
    layer.adapt(rng.normal(1.0, 2.0, (30, 4)))
    x0 = rng.normal(size=(2, 4))
    w = rng.normal(size=(2, 4))

    def f(x):
        return np.sum(layer(x) * w)

    analytic = adkit.grad(f)(x0)
    numeric = adkit.numeric.gradient(f, x0)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def _regression_model(normalizer, functional):
    if functional:
        inp = keras.Input((3,))
        h = keras.layers.Dense(16, activation="relu")(normalizer(inp))
        return keras.Model(inp, keras.layers.Dense(1)(h))
    return keras.Sequential([keras.Input((3,)), normalizer,
                             keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])


@pytest.mark.parametrize("functional", [False, True])
def test_normalization_model_trains_saves_and_loads(tmp_path, functional):
    x, y = _regression_data()
    normalizer = Normalization(axis=-1)
    normalizer.adapt(x)
    model = _regression_model(normalizer, functional)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    before = normalizer.get_weights()
    history = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    for old, new in zip(before, normalizer.get_weights()):   # statistics are not trained
        np.testing.assert_array_equal(old, new)
    np.testing.assert_allclose(before[0], x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(before[1], x.var(0), rtol=1e-4)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


def test_normalization_compiled_and_eager_steps_agree():
    x, y = _regression_data(64)
    results = []
    for jit in ("auto", False):
        normalizer = Normalization()
        normalizer.adapt(x)
        model = keras.Sequential([keras.Input((3,)), normalizer, keras.layers.Dense(8),
                                  keras.layers.Dense(1)], seed=0)
        model.compile(optimizer="sgd", loss="mse", jit_compile=jit)
        model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_normalization_summary_counts_keras_weights():
    normalizer = Normalization()
    normalizer.adapt(np.ones((4, 3)))
    model = keras.Sequential([keras.Input((3,)), normalizer])
    assert model.count_params() == 7   # mean (3), variance (3), count: Keras's summary too
    assert [w.shape for w in normalizer.get_weights()] == [(3,), (3,), ()]


def test_normalization_adapt_after_the_model_is_built_updates_it():
    x, _ = _regression_data(40)
    normalizer = Normalization()
    model = keras.Sequential([keras.Input((3,)), normalizer])
    normalizer.adapt(x)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               (x - x.mean(0)) / x.std(0), rtol=1e-3, atol=1e-4)


def test_normalization_config_round_trip():
    layer = Normalization(axis=(1, 2), invert=True, name="norm")
    clone = Normalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    given = Normalization(mean=[1.0, 2.0], variance=[1.0, 4.0])
    assert Normalization.from_config(given.get_config()).get_config()["variance"] == [1.0, 4.0]


def test_normalization_errors_name_the_fix():
    x, y = _regression_data(20)
    model = _regression_model(Normalization(), False)
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match=r"Normalization 'normalization.*adapt\(data\)"):
        model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="adapt"):
        Normalization()(x)
    fitted = Normalization(name="n3")
    fitted.adapt(np.ones((5, 4)))
    with pytest.raises(ValueError, match="n3.*adapted to data with features of shape"):
        keras.Sequential([keras.Input((3,)), fitted])
    with pytest.raises(ValueError, match="mean and variance together"):
        Normalization(mean=1.0)
    with pytest.raises(ValueError, match="axis=None"):
        Normalization().adapt(np.arange(5.0))
    with pytest.raises(ValueError, match="does not fit the layer's input shape"):
        Normalization(input_shape=(3,)).adapt(np.ones((4, 2)))
    with pytest.raises(TypeError, match="numbers"):
        Normalization().adapt(np.array([["a", "b"]]))


def test_normalization_refused_by_name_on_opencl_and_onnx(tmp_path):
    normalizer = Normalization()
    normalizer.adapt(np.ones((4, 3)))
    model = _regression_model(normalizer, False)
    with pytest.raises(ValueError, match="Normalization"):
        model.compile(optimizer="sgd", loss="mse", device="opencl")
    from adkit.nn.onnx_export import export_onnx
    with pytest.raises(ValueError, match="Normalization"):
        export_onnx(model, tmp_path / "m.onnx")


def test_normalization_against_keras(keras3, tmp_path):
    pytest.importorskip("h5py", reason="h5py is not installed: pip install 'adkit[h5]'")
    x, _ = _regression_data(50)
    theirs = keras3.layers.Normalization(axis=-1)
    theirs.adapt(x)
    ours = Normalization(axis=-1)
    ours.adapt(x)
    assert [w.path.split("/")[-1] for w in theirs.weights] == ["mean", "variance", "count"]
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), rtol=1e-4, atol=1e-5)
    inverse = keras3.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 9.0],
                                          invert=True)
    np.testing.assert_allclose(
        Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 9.0], invert=True)(x),
        np.asarray(inverse(x)), rtol=1e-5)
    kmodel = keras3.Sequential([keras3.Input((3,)), theirs, keras3.layers.Dense(1)])
    kmodel.save_weights(tmp_path / "k.weights.h5")
    model = keras.Sequential([keras.Input((3,)), Normalization(), keras.layers.Dense(1)])
    model.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), kmodel.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    model.save_weights(tmp_path / "a.weights.h5")
    kmodel.load_weights(tmp_path / "a.weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), kmodel.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
