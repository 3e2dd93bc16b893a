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


# --- Discretization and CategoryEncoding -----------------------------------------------
from adkit.nn.layers.category_encoding import CategoryEncoding  # noqa: E402
from adkit.nn.layers.discretization import Discretization  # noqa: E402
from adkit.nn.layers.lookup import IntegerLookup, StringLookup  # noqa: E402


def _one_hot(indices, depth):
    return np.eye(depth, dtype=np.float32)[indices]


def test_discretization_bins_match_np_digitize_in_every_mode():
    x = np.random.default_rng(4).normal(size=(6, 3)).astype(np.float32)
    bounds = [-0.5, 0.0, 0.5]
    expected = np.digitize(x, bounds)
    out = Discretization(bin_boundaries=bounds)(x)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, expected)
    hot = _one_hot(expected, 4)
    np.testing.assert_array_equal(Discretization(bin_boundaries=bounds,
                                                 output_mode="one_hot")(x), hot)
    np.testing.assert_array_equal(Discretization(bin_boundaries=bounds,
                                                 output_mode="count")(x), hot.sum(1))
    np.testing.assert_array_equal(Discretization(bin_boundaries=bounds,
                                                 output_mode="multi_hot")(x),
                                  (hot.sum(1) > 0).astype(np.float32))


def test_discretization_adapt_places_quantiles():
    x = np.random.default_rng(5).uniform(0.0, 1.0, (20, 5))   # 100 values: exact summary
    layer = Discretization(num_bins=4)
    layer.adapt(x)
    values = np.sort(x.ravel())
    # Keras's quantile: the value where the cumulative share of the data first reaches q
    # (linear interpolation in the cumulative shares 1/n, 2/n, ..., 1)
    shares = np.arange(1, values.size + 1) / values.size
    np.testing.assert_allclose(layer.bin_boundaries, np.interp([0.25, 0.5, 0.75], shares,
                                                               values), rtol=1e-5)  # float32
    # each boundary is the 25th, 50th, 75th value, which opens the next bin (np.digitize)
    assert list(np.bincount(layer(x).ravel(), minlength=4)) == [24, 25, 25, 26]


def test_category_encoding_matches_numpy():
    ids = np.array([[0, 1], [0, 0], [1, 2], [3, 1]])
    np.testing.assert_array_equal(CategoryEncoding(4)(ids),
                                  (_one_hot(ids, 4).sum(1) > 0).astype(np.float32))
    np.testing.assert_array_equal(CategoryEncoding(4, output_mode="count")(ids),
                                  _one_hot(ids, 4).sum(1))
    np.testing.assert_array_equal(CategoryEncoding(4, output_mode="one_hot")(ids[:, :1]),
                                  _one_hot(ids[:, 0], 4))
    weights = np.array([[0.5, 2.0], [1.0, 1.0], [3.0, 0.0], [1.0, 1.0]], np.float32)
    layer = CategoryEncoding(4, output_mode="count")
    np.testing.assert_allclose(layer.call({}, ids, None, count_weights=weights),
                               np.einsum("bk,bkd->bd", weights, _one_hot(ids, 4)))
    with pytest.raises(ValueError, match=r"CategoryEncoding.*\[0, 4\).*num_tokens"):
        CategoryEncoding(4)(np.array([[5]]))
    with pytest.raises(ValueError, match="unknown output_mode 'bogus'.*one_hot"):
        CategoryEncoding(4, output_mode="bogus")
    with pytest.raises(ValueError, match="num_tokens must be an int"):
        CategoryEncoding()


def test_discretization_errors_name_the_fix():
    with pytest.raises(ValueError, match="adapt"):
        Discretization(num_bins=3)(np.ones((2, 1)))
    with pytest.raises(ValueError, match="either bin_boundaries .* or num_bins"):
        Discretization()
    with pytest.raises(ValueError, match="num_bins=... instead"):
        Discretization(bin_boundaries=[0.0]).adapt(np.ones(3))
    with pytest.raises(ValueError, match="unknown output_mode 'tf_idf'"):
        Discretization(num_bins=2, output_mode="tf_idf")


def test_discretization_and_encoding_train_in_a_model_and_reload(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(64, 2)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    bins = Discretization(num_bins=4, output_mode="multi_hot")
    bins.adapt(x)
    model = keras.Sequential([keras.Input((2,)), bins,
                              keras.layers.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    history = model.fit(x, y, epochs=15, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.trainer.eager_reason is not None and "Discretization" in \
        model.trainer.eager_reason
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[0].bin_boundaries == bins.bin_boundaries


def test_discretization_and_encoding_against_keras(keras3):
    from keras.src.layers.preprocessing import discretization as keras_bins
    rng = np.random.default_rng(7)
    for data in (np.arange(8.0), rng.normal(size=(1000, 3)), rng.exponential(size=(50,))):
        for num_bins in (2, 4, 7):
            summary = keras_bins.summarize(data.astype(np.float32), 0.01)
            summary = keras_bins.merge_summaries(summary, np.zeros((2, 0), np.float32), 0.01)
            ours = Discretization(num_bins=num_bins)
            ours.adapt(data)   # (Keras's adapt needs TensorFlow: its summary functions here)
            np.testing.assert_allclose(ours.bin_boundaries, keras_bins.get_bin_boundaries(
                summary, num_bins), rtol=1e-6)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    for mode in ("int", "one_hot", "multi_hot", "count"):
        theirs = np.asarray(keras3.layers.Discretization(bin_boundaries=[-0.5, 0.0, 0.5],
                                                         output_mode=mode)(x))
        ours = Discretization(bin_boundaries=[-0.5, 0.0, 0.5], output_mode=mode)(x)
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
    for mode in ("one_hot", "multi_hot", "count"):
        for ids in (np.array([3, 2, 0, 1]), np.array([[0, 1], [0, 0], [1, 2]]),
                    np.array([[1], [3]])):
            theirs = np.asarray(keras3.layers.CategoryEncoding(4, output_mode=mode)(ids))
            np.testing.assert_array_equal(CategoryEncoding(4, output_mode=mode)(ids), theirs)


# --- StringLookup and IntegerLookup ------------------------------------------------------
CORPUS = np.array([["a", "b", "c", "c"], ["b", "c", "d", "e"], ["e", "e", "e", "b"]])


def _expected_vocabulary(tokens):
    """Keras's order, written out: count descending, ties the larger token first."""
    counts = {}
    for t in tokens:
        counts[t] = counts.get(t, 0) + 1
    return sorted(counts, key=lambda t: (counts[t], t), reverse=True)


def test_string_lookup_adapt_orders_by_frequency_then_token():
    layer = StringLookup()
    layer.adapt(CORPUS)
    learned = _expected_vocabulary(CORPUS.ravel().tolist())
    assert learned == ["e", "c", "b", "d", "a"]   # e 4, c 3, b 3, d 1, a 1
    assert layer.get_vocabulary() == ["[UNK]"] + learned
    assert layer.get_vocabulary(include_special_tokens=False) == learned
    assert layer.vocabulary_size() == 6
    index = {t: i + 1 for i, t in enumerate(learned)}
    query = np.array([["a", "zzz"], ["e", "b"]])
    np.testing.assert_array_equal(layer(query), [[index.get(t, 0) for t in row]
                                                 for row in query.tolist()])
    small = StringLookup(max_tokens=3)
    small.adapt(CORPUS)
    assert small.get_vocabulary() == ["[UNK]", "e", "c"]


def test_string_lookup_modes_mask_and_invert():
    vocabulary = ["x", "y", "z"]
    layer = StringLookup(vocabulary=vocabulary, mask_token="")
    assert layer.get_vocabulary() == ["", "[UNK]", "x", "y", "z"]
    np.testing.assert_array_equal(layer(np.array([["x", "", "q"]])), [[2, 0, 1]])
    query = np.array([["x", "y", "y"], ["q", "", "z"]])
    ids = np.array([[1, 2, 2], [0, -1, 3]])   # without the mask slot; mask counts for nothing
    hot = np.stack([np.eye(4, dtype=np.int64)[[i for i in row if i >= 0]].sum(0)
                    for row in ids])
    np.testing.assert_array_equal(
        StringLookup(vocabulary=vocabulary, mask_token="", output_mode="count")(query), hot)
    np.testing.assert_array_equal(
        StringLookup(vocabulary=vocabulary, mask_token="", output_mode="multi_hot")(query),
        (hot > 0).astype(np.int64))
    np.testing.assert_array_equal(
        StringLookup(vocabulary=vocabulary, output_mode="one_hot")(np.array(["z", "q"])),
        np.eye(4, dtype=np.int64)[[3, 0]])
    inverse = StringLookup(vocabulary=vocabulary, mask_token="[M]", invert=True)
    np.testing.assert_array_equal(inverse(np.array([0, 1, 2, 4, 9])),
                                  ["[M]", "[UNK]", "x", "z", "[UNK]"])


def test_string_lookup_tf_idf_matches_hand_formula():
    layer = StringLookup(output_mode="tf_idf")
    layer.adapt(CORPUS)
    vocabulary = layer.get_vocabulary()
    docs = [set(row) for row in CORPUS.tolist()]
    weights = [np.log(1 + 3 / (1 + sum(t in d for d in docs))) for t in vocabulary[1:]]
    weights = [np.mean(weights)] + weights   # the OOV slot: the mean idf, as Keras
    query = np.array([["e", "e", "a", "q"]])
    counts = np.array([[sum(t == v for t in query[0]) if v != "[UNK]" else 1
                        for v in vocabulary]])
    np.testing.assert_allclose(layer(query), counts * np.array(weights), rtol=1e-6)


def test_integer_lookup_matches_a_dict_and_floormod_oov():
    data = np.array([5, 5, 7, 7, 7, 9, 0, 0, 0, 0])
    layer = IntegerLookup(num_oov_indices=2, mask_token=0)
    layer.adapt(data)
    assert layer.get_vocabulary() == [0, -1, -1, 7, 5, 9]
    index = {7: 3, 5: 4, 9: 5, 0: 0}
    query = np.array([5, 7, 9, 11, 12, 0])
    np.testing.assert_array_equal(layer(query), [index.get(v, 1 + v % 2) for v in query])
    np.testing.assert_array_equal(IntegerLookup(vocabulary=[12, 36], invert=True)(
        np.array([0, 1, 2, 3])), [-1, 12, 36, -1])


def test_lookup_errors_name_the_fix():
    with pytest.raises(ValueError, match=r"StringLookup 'string_lookup.*adapt\(data\)"):
        StringLookup(name="string_lookup_x")(np.array(["a"]))
    with pytest.raises(ValueError, match="num_oov_indices=0.*set num_oov_indices=1"):
        StringLookup(vocabulary=["a"], num_oov_indices=0)(np.array(["b"]))
    with pytest.raises(ValueError, match="salt=.*SipHash"):
        StringLookup(salt=3)
    with pytest.raises(ValueError, match="repeats"):
        StringLookup(vocabulary=["a", "a"])
    with pytest.raises(TypeError, match="must be strings.*IntegerLookup"):
        StringLookup(vocabulary=["a"])(np.array([1, 2]))
    with pytest.raises(ValueError, match="invert=True .* output_mode='int'"):
        IntegerLookup(invert=True, output_mode="count")
    with pytest.raises(ValueError, match="unknown output_mode 'hot'"):
        IntegerLookup(output_mode="hot")


def test_string_lookup_model_with_string_input_trains_and_reloads(tmp_path):
    rng = np.random.default_rng(8)
    words = np.array(["red", "green", "blue", "cyan"])
    x = words[rng.integers(0, 4, (64, 2))]
    y = (x[:, :1] == "red").astype(np.float32)
    lookup = StringLookup(output_mode="multi_hot")
    lookup.adapt(x)
    inp = keras.Input((2,), dtype="string")
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(lookup(inp)))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    history = model.fit(x, y, epochs=15, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[1].get_vocabulary() == lookup.get_vocabulary()
    sequential = keras.Sequential([keras.Input((2,), dtype="string"),
                                   StringLookup(vocabulary=list(words), output_mode="count"),
                                   keras.layers.Dense(1)], seed=0)
    sequential.compile(optimizer="sgd", loss="mse")
    sequential.fit(x, y, epochs=1, verbose=0)
    ids = IntegerLookup(output_mode="one_hot")
    ids.adapt(np.arange(5))
    counted = keras.Sequential([keras.Input((1,), dtype="int64"), ids, keras.layers.Dense(1)])
    assert counted.predict(np.array([[1], [4]]), verbose=0).shape == (2, 1)


def test_host_preprocessing_layers_refused_on_opencl_and_onnx(tmp_path):
    from adkit.nn.onnx_export import export_onnx
    for layer in (Discretization(bin_boundaries=[0.0]), CategoryEncoding(3),
                  IntegerLookup(vocabulary=[1, 2])):
        model = keras.Sequential([keras.Input((1,)), layer, keras.layers.Dense(1)])
        with pytest.raises(ValueError, match=type(layer).__name__):
            model.compile(optimizer="sgd", loss="mse", device="opencl")
        with pytest.raises(ValueError, match=type(layer).__name__):
            export_onnx(model, tmp_path / "m.onnx")


# --- TextVectorization -------------------------------------------------------------------
from adkit.nn.layers.text_vectorization import TextVectorization  # noqa: E402

TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "Cat, dog; MAT? the end",
         "a  tab\tand\nnewline"]


def _hand_tokens(text, lower=True, strip=True):
    if lower:
        text = text.lower()
    if strip:
        text = "".join(c for c in text if c not in '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\'')
    return text.split()


def test_text_vectorization_vocabulary_and_int_sequences():
    layer = TextVectorization()
    layer.adapt(TEXTS)
    docs = [_hand_tokens(t) for t in TEXTS]
    learned = _expected_vocabulary([w for d in docs for w in d])
    assert learned[:3] == ["the", "mat", "dog"]   # the 4, then ties at 2: larger first
    assert layer.get_vocabulary() == ["", "[UNK]"] + learned
    index = {w: i + 2 for i, w in enumerate(learned)}
    longest = max(len(d) for d in docs)
    expected = np.zeros((len(docs), longest), np.int64)
    for row, d in zip(expected, docs):
        row[:len(d)] = [index[w] for w in d]
    np.testing.assert_array_equal(layer(TEXTS), expected)
    short, long = TextVectorization(output_sequence_length=3), \
        TextVectorization(output_sequence_length=8, vocabulary=learned)
    short.adapt(TEXTS)
    np.testing.assert_array_equal(short(TEXTS), expected[:, :3])
    padded = np.zeros((len(docs), 8), np.int64)
    padded[:, :longest] = expected
    np.testing.assert_array_equal(long(np.array(TEXTS)[:, None]), padded)
    np.testing.assert_array_equal(layer(["zebra the"]), [[1, index["the"]]])
    assert layer.vocabulary_size() == len(learned) + 2


def test_text_vectorization_max_tokens_standardize_split_and_ngrams():
    capped = TextVectorization(max_tokens=5)
    capped.adapt(TEXTS)
    docs = [_hand_tokens(t) for t in TEXTS]
    assert capped.get_vocabulary() == ["", "[UNK]"] + _expected_vocabulary(
        [w for d in docs for w in d])[:3]
    lower = TextVectorization(standardize="lower")
    lower.adapt(["Hi, there! hi"])
    assert lower.get_vocabulary(include_special_tokens=False) == ["there!", "hi,", "hi"]
    chars = TextVectorization(split="character", standardize=None)
    chars.adapt(["abca"])
    assert chars.get_vocabulary() == ["", "[UNK]", "a", "c", "b"]
    bigrams = TextVectorization(ngrams=2, standardize=None)
    assert bigrams.tokenize(["a b c"]) == [["a", "b", "c", "a b", "b c"]]
    assert TextVectorization(ngrams=(2, 3)).tokenize(["A b c"]) == [["a b", "b c", "a b c"]]
    whole = TextVectorization(split=None, output_mode="one_hot", vocabulary=["x y", "z"])
    np.testing.assert_array_equal(whole(["x y", "q", "z"]), np.eye(3, dtype=np.float32)[
        [1, 0, 2]])   # (no padding slot in encodings: [UNK], "x y", "z")


def test_text_vectorization_multi_hot_count_and_tf_idf_match_hand_counts():
    docs = [_hand_tokens(t) for t in TEXTS]
    learned = _expected_vocabulary([w for d in docs for w in d])
    vocabulary = ["[UNK]"] + learned
    query = ["the cat the unicorn"]
    counts = np.array([[sum(w == v for w in _hand_tokens(query[0])) for v in learned]])
    counts = np.concatenate([[[1]], counts], axis=1).astype(np.float32)   # one OOV word
    for mode, expected in (("count", counts), ("multi_hot", (counts > 0).astype(np.float32))):
        layer = TextVectorization(output_mode=mode)
        layer.adapt(TEXTS)
        assert layer.get_vocabulary() == vocabulary
        np.testing.assert_array_equal(layer(query), expected)
    layer = TextVectorization(output_mode="tf_idf")
    layer.adapt(TEXTS)
    idf = np.array([np.log(1 + len(docs) / (1 + sum(w in d for d in docs))) for w in learned])
    weights = np.concatenate([[idf.mean()], idf])
    np.testing.assert_allclose(layer(query), counts * weights, rtol=1e-6)


def test_text_vectorization_as_a_models_first_layer_trains_and_reloads(tmp_path):
    texts = np.array(["good movie", "bad movie", "good good film", "awful film", "great"] * 4)
    y = np.array([1, 0, 1, 0, 1] * 4, np.float32)
    vectorize = TextVectorization(output_sequence_length=4)
    vectorize.adapt(texts)
    model = keras.Sequential([keras.Input((), dtype="string"), vectorize,
                              keras.layers.Embedding(vectorize.vocabulary_size(), 4),
                              keras.layers.GlobalAveragePooling1D(),
                              keras.layers.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    history = model.fit(texts, y, epochs=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(texts, verbose=0),
                                  model.predict(texts, verbose=0))
    assert loaded.layers[0].get_vocabulary() == vectorize.get_vocabulary()
    multi = TextVectorization(output_mode="multi_hot")
    multi.adapt(texts)
    inp = keras.Input((1,), dtype="string")
    functional = keras.Model(inp, keras.layers.Dense(1)(multi(inp)))
    assert functional.predict(texts[:, None], verbose=0).shape == (20, 1)


def test_text_vectorization_errors_name_the_fix():
    with pytest.raises(ValueError, match=r"TextVectorization.*adapt\(data\)"):
        TextVectorization()(["a b"])
    with pytest.raises(ValueError, match="unknown output_mode 'bag'"):
        TextVectorization(output_mode="bag")
    with pytest.raises(ValueError, match="output_sequence_length .* output_mode='int'"):
        TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(ValueError, match="unknown standardize"):
        TextVectorization(standardize="upper")
    with pytest.raises(TypeError, match="must be strings"):
        TextVectorization(vocabulary=["a"])(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"shape \(batch,\) or \(batch, 1\)"):
        TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))


# --- Hashing ------------------------------------------------------------------------------
from adkit.nn.layers.hashing import Hashing, fingerprint64  # noqa: E402

# Keras 3's own expected bins (keras/src/layers/preprocessing/hashing_test.py), which
# TensorFlow's FarmHash gives on every platform
NAMES = np.array([["omar"], ["stringer"], ["marlo"], ["wire"], ["skywalker"]])
LETTERS = np.array([["A"], ["B"], ["C"], ["D"], ["E"]])


def test_hashing_matches_keras_published_bins():
    np.testing.assert_array_equal(Hashing(num_bins=3)(LETTERS).ravel(), [1, 0, 1, 1, 2])
    np.testing.assert_array_equal(Hashing(num_bins=2)(NAMES).ravel(), [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(Hashing(num_bins=2)(NAMES.ravel().tolist()),
                                  [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(Hashing(num_bins=3, mask_value="")(NAMES).ravel(),
                                  [1, 1, 2, 1, 1])
    np.testing.assert_array_equal(Hashing(num_bins=3, mask_value="omar")(NAMES).ravel(),
                                  [0, 1, 2, 1, 1])
    np.testing.assert_array_equal(Hashing(num_bins=3, mask_value="")(
        np.array([["A"], ["B"], [""], ["C"], ["D"]])).ravel(), [1, 1, 0, 2, 2])
    np.testing.assert_array_equal(Hashing(num_bins=3)(np.arange(5)[:, None]).ravel(),
                                  [1, 0, 1, 0, 2])
    np.testing.assert_array_equal(Hashing(num_bins=1)(LETTERS).ravel(), [0] * 5)
    # StringLookup hashes OOV strings into its OOV indices the same way
    np.testing.assert_array_equal(StringLookup(vocabulary=["zzz"], num_oov_indices=3)(
        LETTERS.ravel()), [1, 0, 1, 1, 2])


def test_fingerprint64_is_a_64_bit_hash_of_every_length():
    # lengths across every branch of farmhashna::Hash64 (0-16, 17-32, 33-64, longer)
    values = [fingerprint64(bytes(range(n))) for n in (0, 1, 3, 4, 8, 16, 17, 32, 33, 64,
                                                       65, 128, 200)]
    assert all(0 <= v < 2**64 for v in values) and len(set(values)) == len(values)
    assert fingerprint64(b"") == 0x9AE16A3B2F90404F   # k2, farmhash's empty-string value


def test_hashing_encodings_config_and_errors():
    bins = Hashing(num_bins=4)(NAMES)
    np.testing.assert_array_equal(Hashing(num_bins=4, output_mode="one_hot")(NAMES),
                                  _one_hot(bins[:, 0], 4))
    np.testing.assert_array_equal(Hashing(num_bins=4, output_mode="count")(NAMES.reshape(1, 5)),
                                  _one_hot(bins[:, 0], 4).sum(0, keepdims=True))
    layer = Hashing(num_bins=5, mask_value="", output_mode="multi_hot", name="h")
    assert Hashing.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="salt=.*SipHash"):
        Hashing(num_bins=3, salt=133)
    with pytest.raises(ValueError, match="num_bins must be an int >= 1"):
        Hashing(num_bins=0)


def test_a_column_given_as_a_vector_feeds_a_unit_input_axis():
    # TensorFlow's regression tutorial: Normalization(input_shape=[1,], axis=None) adapted
    # on a vector, then fit on that vector (Keras 3 adds the last axis of 1)
    rng = np.random.default_rng(9)
    horsepower = rng.normal(100.0, 30.0, 80).astype(np.float32)
    mpg = (40.0 - 0.15 * horsepower).astype(np.float32)
    normalizer = Normalization(input_shape=[1], axis=None)
    normalizer.adapt(horsepower)
    model = keras.Sequential([normalizer, keras.layers.Dense(1)], seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mean_absolute_error")
    history = model.fit(horsepower, mpg, epochs=10, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_array_equal(model.predict(horsepower, verbose=0),
                                  model.predict(horsepower[:, None], verbose=0))
    inp = keras.Input((1,), dtype="string")
    vectorize = TextVectorization(output_mode="count", vocabulary=["a", "b"])
    functional = keras.Model(inp, vectorize(inp))
    np.testing.assert_array_equal(functional.predict(np.array(["a b b", "c"]), verbose=0),
                                  [[0, 1, 2], [1, 0, 0]])
