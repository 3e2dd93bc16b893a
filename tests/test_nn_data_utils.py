"""keras.utils data utilities in adkit.nn: the Dataset stand-in for tf.data,
timeseries_dataset_from_array, split_dataset, image/text_dataset_from_directory,
the image file helpers and plot_model.

Values are checked against NumPy written here (window indices, slicing, one-hot
rows, crops) and, where Keras 3 is installed, against Keras's own pure-Python
pieces (its directory index, split sizes, image helpers and JAX resize); Keras's
tf.data pipelines themselves need TensorFlow, so those comparisons skip without it.
Each dataset kind also trains a model through fit/evaluate/predict."""

import os
import random
import sys

import numpy as np
import pytest

import adkit.nn as keras
from adkit.nn.dataset import INFINITE, UNKNOWN, Dataset
from keras_referee import real_keras  # noqa: F401  (the Keras 3 fixture, skips without it)

TF_MISSING = "Keras 3's tf.data pipelines need TensorFlow, which is not installed"


# ---------------------------------------------------------------- Dataset ----------

def rows(n=10):
    return np.arange(n * 2, dtype=np.float32).reshape(n, 2), np.arange(n)


def test_from_tensor_slices_batches_are_numpy_slices():
    x, y = rows(10)
    ds = Dataset.from_tensor_slices((x, y)).batch(4)
    got = list(ds)
    assert [len(b[0]) for b in got] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), x)
    np.testing.assert_array_equal(got[1][1], y[4:8])
    assert len(ds) == 3 and int(ds.cardinality()) == 3 and ds.cardinality().numpy() == 3
    assert len(Dataset.from_tensor_slices((x, y)).batch(4, drop_remainder=True)) == 2
    assert [len(b) for b in Dataset.from_tensor_slices(x).batch(4, drop_remainder=True)] == [4, 4]


def test_dict_elements_and_generic_batching():
    x, y = rows(5)
    ds = Dataset.from_tensor_slices({"a": x, "b": y}).map(lambda d: {"a": d["a"] * 2,
                                                                    "b": d["b"]}).batch(2)
    first = next(iter(ds))
    np.testing.assert_array_equal(first["a"], x[:2] * 2)
    np.testing.assert_array_equal(first["b"], y[:2])
    assert len(ds) == 3


def test_map_filter_take_skip_repeat_unbatch_concatenate_enumerate_zip():
    x, y = rows(10)
    ds = Dataset.from_tensor_slices((x, y))
    assert [int(b) for _, b in ds.filter(lambda a, b: b % 3 == 0)] == [0, 3, 6, 9]
    assert int(ds.filter(lambda a, b: True).cardinality()) == UNKNOWN
    assert [int(v) for v in ds.map(lambda a, b: b * 10).take(3)] == [0, 10, 20]
    assert [int(b) for _, b in ds.skip(8)] == [8, 9]
    assert len(ds.skip(8)) == 2 and len(ds.take(30)) == 10 and len(ds.take(-1)) == 10
    assert [int(b) for _, b in ds.repeat(2)][9:12] == [9, 0, 1]
    assert len(ds.repeat(3)) == 30 and int(ds.repeat().cardinality()) == INFINITE
    assert len(ds.repeat().take(25)) == 25
    assert [int(b) for _, b in ds.batch(3).unbatch()] == list(range(10))
    assert [int(b) for _, b in ds.take(2).concatenate(ds.skip(9))] == [0, 1, 9]
    assert [(int(i), int(b)) for i, (_, b) in ds.take(2).enumerate(5)] == [(5, 0), (6, 1)]
    pairs = list(Dataset.zip(ds.map(lambda a, b: b), ds.take(3).map(lambda a, b: -b)))
    assert [(int(p), int(q)) for p, q in pairs] == [(0, 0), (1, -1), (2, -2)]
    assert ds.prefetch(2) is ds and ds.apply(lambda d: d.take(1)).cardinality() == 1


def test_as_numpy_iterator_gives_plain_arrays_and_hashable_scalars():
    x, y = rows(4)
    ds = Dataset.from_tensor_slices((x, y)).batch(2).unbatch()
    elements = list(ds.as_numpy_iterator())
    assert type(elements[0][0]) is np.ndarray and isinstance(elements[0][1], np.integer)
    assert {label for _, label in elements} == {0, 1, 2, 3}
    wrapped = next(iter(ds))   # iterating gives tf-like arrays that answer .numpy()
    assert type(wrapped[0].numpy()) is np.ndarray and int(wrapped[1].numpy()) == 0


def test_len_of_infinite_or_unknown_dataset_is_a_type_error():
    ds = Dataset.from_tensor_slices(np.arange(3))
    with pytest.raises(TypeError, match="infinite"):
        len(ds.repeat())
    with pytest.raises(TypeError, match="unknown"):
        len(ds.filter(lambda v: True))


def test_shuffle_is_a_permutation_reshuffled_each_iteration_and_seeded():
    ds = Dataset.from_tensor_slices(np.arange(50)).shuffle(100, seed=3)
    a, b = [int(v) for v in ds], [int(v) for v in ds]
    assert sorted(a) == list(range(50)) and sorted(b) == list(range(50))
    assert a != b and a != list(range(50))
    again = Dataset.from_tensor_slices(np.arange(50)).shuffle(100, seed=3)
    assert [int(v) for v in again] == a
    fixed = Dataset.from_tensor_slices(np.arange(50)).shuffle(
        100, seed=3, reshuffle_each_iteration=False)
    assert [int(v) for v in fixed] == [int(v) for v in fixed]


def test_small_shuffle_buffer_draws_only_from_what_it_holds():
    # tf.data's rule: output i is one of the first buffer_size + i elements
    for seed in range(5):
        out = [int(v) for v in Dataset.from_tensor_slices(np.arange(40)).map(
            lambda v: v).shuffle(4, seed=seed)]
        assert sorted(out) == list(range(40))
        assert all(v < 4 + i for i, v in enumerate(out))


def test_cache_reads_the_source_once():
    calls = []
    ds = Dataset.from_tensor_slices(np.arange(4)).map(lambda v: calls.append(1) or v).cache()
    assert [int(v) for v in ds] == [int(v) for v in ds] == [0, 1, 2, 3]
    assert len(calls) == 4


def test_tf_data_methods_adkit_lacks_are_refused_by_name():
    ds = Dataset.from_tensor_slices(np.arange(4))
    with pytest.raises(AttributeError, match="no padded_batch.*supports map"):
        ds.padded_batch(2)
    assert not hasattr(ds, "interleave")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        ds.batch(0)
    with pytest.raises(ValueError, match="different lengths"):
        Dataset.from_tensor_slices((np.arange(3), np.arange(4)))


def regression_data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]


def dense_model(shape=(3,), out=1, loss="mse", optimizer="adam"):
    model = keras.Sequential([keras.Input(shape), keras.layers.Dense(out)], seed=0)
    model.compile(optimizer, loss)
    return model


def test_fit_evaluate_predict_take_a_dataset():
    x, y = regression_data()
    ds = Dataset.from_tensor_slices((x, y)).shuffle(96, seed=0).batch(16).prefetch(1)
    model = dense_model(optimizer=keras.optimizers.SGD(0.1))
    history = model.fit(ds, epochs=5, verbose=0, validation_data=ds)
    assert history.history["loss"][-1] < history.history["loss"][0] / 2
    ordered = Dataset.from_tensor_slices((x, y)).batch(16)
    assert model.evaluate(ordered, verbose=0) == pytest.approx(
        model.evaluate(x, y, batch_size=16, verbose=0), rel=1e-6)
    np.testing.assert_allclose(model.predict(ordered, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    np.testing.assert_allclose(model.predict(ordered.map(lambda a, b: a), verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)


def test_an_endless_dataset_needs_steps():
    x, y = regression_data(32)
    ds = Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    model = dense_model()
    with pytest.raises(ValueError, match="repeats forever.*pass steps_per_epoch"):
        model.fit(ds, epochs=1, verbose=0)
    history = model.fit(ds, steps_per_epoch=3, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    with pytest.raises(ValueError, match="repeats forever"):
        model.predict(ds.map(lambda a, b: a), verbose=0)
    assert model.predict(ds.map(lambda a, b: a), steps=2, verbose=0).shape == (16, 1)


# ---------------------------------------------------- timeseries_dataset_from_array --

def windows_by_hand(n, length, stride, rate, start, end, n_targets=None):
    """Start indices of the windows, computed from the definition."""
    end = n if end is None else end
    starts = []
    s = start
    while s + (length - 1) * rate < end and (n_targets is None or s - start < n_targets):
        starts.append(s)
        s += stride
    return starts


@pytest.mark.parametrize("length,stride,rate,start,end,batch", [
    (10, 3, 2, None, None, 8), (4, 1, 1, 5, 40, 7), (3, 5, 3, 2, None, None), (1, 2, 1, None, 9, 3)])
def test_timeseries_windows_are_the_definition(length, stride, rate, start, end, batch):
    data = np.arange(60 * 2).reshape(60, 2)
    targets = np.arange(60) * 10
    ds = keras.utils.timeseries_dataset_from_array(
        data, targets, length, sequence_stride=stride, sampling_rate=rate,
        batch_size=batch, start_index=start, end_index=end)
    elements = list(ds if batch is None else ds.unbatch())
    starts = windows_by_hand(60, length, stride, rate, start or 0, end)
    assert len(elements) == len(starts)
    for (window, target), s in zip(elements, starts):
        np.testing.assert_array_equal(window, data[s:s + length * rate:rate])
        assert target == targets[s]
    if batch is not None:
        assert len(ds) == -(-len(starts) // batch)
        assert all(len(b[0]) == batch for b in list(ds)[:-1])


def test_timeseries_keras_docstring_examples():
    ds = keras.utils.timeseries_dataset_from_array(np.arange(99), None, sequence_length=10,
                                                   sampling_rate=2, sequence_stride=3)
    (batch,) = list(ds)
    assert batch[0].tolist() == list(range(0, 20, 2))
    assert batch[1].tolist() == list(range(3, 23, 2))
    assert batch[-1].tolist() == list(range(78, 98, 2))
    data = np.random.default_rng(0).normal(size=50)
    inputs, targets = next(iter(keras.utils.timeseries_dataset_from_array(
        data[:-10], data[10:], sequence_length=10)))
    np.testing.assert_array_equal(inputs[0], data[:10])
    assert targets[0] == data[10]


def test_timeseries_shuffle_keeps_windows_and_targets_together():
    data = np.arange(200)
    ds = keras.utils.timeseries_dataset_from_array(data, data * 3, 5, batch_size=16,
                                                   shuffle=True, seed=4)
    firsts = []
    for windows, targets in ds:
        np.testing.assert_array_equal(windows[:, 0] * 3, targets)
        np.testing.assert_array_equal(windows, windows[:, :1] + np.arange(5))
        firsts += windows[:, 0].tolist()
    assert sorted(firsts) == list(range(196)) and firsts != sorted(firsts)


@pytest.mark.parametrize("kwargs,message", [
    ({"sampling_rate": 0}, "`sampling_rate` must be higher than 0"),
    ({"sequence_stride": 20}, "`sequence_stride` must be lower than the length"),
    ({"start_index": 25}, "`start_index` must be lower than the length"),
    ({"start_index": 5, "end_index": 3}, "`end_index` must be higher than `start_index`"),
    ({"end_index": 20}, "`end_index` must be lower than the length"),
    ({"batch_size": 0}, "batch_size must be a positive integer or None"),
])
def test_timeseries_bad_arguments_give_keras_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras.utils.timeseries_dataset_from_array(np.arange(20), None, 3, **kwargs)


def test_fit_on_timeseries_dataset():
    rng = np.random.default_rng(1)
    series = np.sin(np.arange(400) * 0.1).astype(np.float32) + \
        0.01 * rng.normal(size=400).astype(np.float32)
    ds = keras.utils.timeseries_dataset_from_array(series[:-8, None], series[8:], 8,
                                                   batch_size=32, shuffle=True, seed=0)
    model = keras.Sequential([keras.Input((8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(1)], seed=0)
    model.compile("adam", "mse")
    history = model.fit(ds, epochs=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 2


def test_timeseries_matches_keras_tf_pipeline(real_keras):  # noqa: F811
    pytest.importorskip("tensorflow", reason=TF_MISSING)
    data, targets = np.arange(100 * 3).reshape(100, 3), np.arange(100)
    args = dict(sequence_length=6, sequence_stride=2, sampling_rate=3, batch_size=5,
                start_index=4, end_index=90)
    theirs = list(real_keras.utils.timeseries_dataset_from_array(data, targets, **args)
                  .as_numpy_iterator())
    ours = list(keras.utils.timeseries_dataset_from_array(data, targets, **args))
    for (a, b), (c, d) in zip(theirs, ours, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


# ------------------------------------------------------------------- split_dataset --

@pytest.mark.parametrize("left,right", [(0.8, None), (None, 3), (4, None), (0.25, 0.5), (7, 2)])
def test_split_dataset_sizes_and_contents(left, right):
    x, y = rows(10)
    a, b = keras.utils.split_dataset((x, y), left_size=left, right_size=right)
    n_left = round(left * 10) if isinstance(left, float) else (left if left is not None else
                                                                10 - right)
    n_right = round(right * 10) if isinstance(right, float) else (
        right if right is not None else 10 - n_left)
    got_a, got_b = list(a), list(b)
    assert len(got_a) == n_left and len(got_b) == n_right
    np.testing.assert_array_equal(np.stack([e[0] for e in got_a]), x[:n_left])
    np.testing.assert_array_equal(np.stack([e[1] for e in got_b]), y[10 - n_right:])


def test_split_dataset_sizes_equal_keras(real_keras):  # noqa: F811
    from keras.src.utils.dataset_utils import _rescale_dataset_split_sizes
    from adkit.nn.dataset_utils import _split_sizes
    for left, right, n in [(0.8, None, 10), (None, 0.33, 7), (3, 0.5, 9), (0.1, 0.2, 11),
                           (2, None, 5)]:
        assert _split_sizes(left, right, n) == _rescale_dataset_split_sizes(left, right, n)


def test_split_dataset_shuffle_is_pythons_random_with_the_seed():
    data = np.arange(20)
    a, b = keras.utils.split_dataset(data, left_size=15, shuffle=True, seed=9)
    order = list(range(20))
    random.seed(9)
    random.shuffle(order)
    assert [int(v) for v in a] == order[:15] and [int(v) for v in b] == order[15:]


def test_split_dataset_rebatches_a_batched_dataset_and_refuses_bad_sizes():
    ds = Dataset.from_tensor_slices(np.arange(10)).batch(3)
    a, b = keras.utils.split_dataset(ds, left_size=0.6)
    assert [v.tolist() for v in a] == [[0, 1, 2], [3, 4, 5]]
    assert [v.tolist() for v in b] == [[6, 7, 8], [9]]
    with pytest.raises(ValueError, match="At least one of the `left_size` or `right_size`"):
        keras.utils.split_dataset(np.arange(5))
    with pytest.raises(ValueError, match="`left_size` should be either a positive integer"):
        keras.utils.split_dataset(np.arange(5), left_size=5)
    with pytest.raises(TypeError, match="Invalid `right_size` Type"):
        keras.utils.split_dataset(np.arange(5), right_size="2")


def test_fit_on_split_dataset():
    x, y = regression_data()
    train, test = keras.utils.split_dataset((x, y), left_size=0.75, shuffle=True, seed=1)
    model = dense_model(optimizer=keras.optimizers.SGD(0.1))
    history = model.fit(train.batch(16), epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 2
    assert model.evaluate(test.batch(8), verbose=0) < history.history["loss"][0]


def test_pack_and_unpack_x_y_sample_weight(real_keras):  # noqa: F811
    from keras.src.trainers.data_adapters import data_adapter_utils as theirs
    for data in (1, (1,), [1, 2], (1, 2, 3), ([1], 2)):
        assert keras.utils.unpack_x_y_sample_weight(data) == \
            theirs.unpack_x_y_sample_weight(data)
    for args in ((1,), ([1, 2],), ((1,), 2), (1, 2, 3), (1, None, 3)):
        assert keras.utils.pack_x_y_sample_weight(*args) == theirs.pack_x_y_sample_weight(*args)
    with pytest.raises(ValueError, match="a tuple of 4 items"):
        keras.utils.unpack_x_y_sample_weight((1, 2, 3, 4))


def test_pack_and_unpack_by_hand():
    assert keras.utils.unpack_x_y_sample_weight("x") == ("x", None, None)
    assert keras.utils.unpack_x_y_sample_weight(["x", "y"]) == ("x", "y", None)
    assert keras.utils.pack_x_y_sample_weight(("a", "b")) == (("a", "b"),)
    assert keras.utils.pack_x_y_sample_weight("x", "y", "w") == ("x", "y", "w")


def progbar_updates(bar):
    bar.update(1, [("loss", 4.0), ("acc", 0.5)])
    bar.update(3, [("loss", 1.0), ("acc", 0.7)])
    bar.add(2, [("loss", 2.0)])
    bar.update(8, [("acc", 0.9)], finalize=False)


def test_progbar_averages_values_per_step(capsys):
    bar = keras.utils.Progbar(10, verbose=0)
    progbar_updates(bar)
    # loss: 4 for 1 step, 1 for 2 steps, 2 for 2 steps; acc: 0.5 x1, 0.7 x2, 0.9 x3
    assert bar._values["loss"][0] / bar._values["loss"][1] == pytest.approx(10 / 5)
    assert bar._values["acc"][0] / bar._values["acc"][1] == pytest.approx(4.6 / 6)
    shown = keras.utils.Progbar(4, verbose=2, stateful_metrics=["acc"])
    shown.update(2, [("loss", 1.0), ("acc", 0.25)])
    shown.update(3, [("acc", 0.75)])
    shown.update(4, [("loss", 3.0)])
    out = capsys.readouterr().out
    assert out.startswith("4/4 - ") and out.endswith(" - loss: 3.0000 - acc: 0.7500\n")
    with pytest.raises(ValueError, match="Only one of"):
        keras.utils.Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])


def test_progbar_values_equal_keras(real_keras):  # noqa: F811
    for kwargs in ({}, {"stateful_metrics": ["acc"]}, {"stateless_metrics": ["loss"]}):
        ours, theirs = keras.utils.Progbar(10, verbose=0, **kwargs), \
            real_keras.utils.Progbar(10, verbose=0, **kwargs)
        progbar_updates(ours)
        progbar_updates(theirs)
        assert ours._values == theirs._values and ours._seen_so_far == theirs._seen_so_far
