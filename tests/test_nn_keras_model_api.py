"""Keras's model and utility API on adkit.nn: predict_on_batch, test_on_batch, the
weight lists, to_json / model_from_json, clone_model, layer.input / layer.output
(feature extractors), keras.utils (set_random_seed, pad_sequences, normalize),
nn.config and nn.backend's set_value / get_value.

Each method is checked against what it must equal (predict, evaluate, get_weights,
a NumPy formula, hand-written arrays), and against Keras 3 itself where it is
installed (skipped with the reason otherwise)."""

import copy
import json
import random

import numpy as np
import pytest

import adkit.nn as nn
from adkit.nn import Input, Model, Sequential
from adkit.nn.layers import BatchNormalization, Concatenate, Dense, Dropout
from adkit.nn.models import clone_model, model_from_json
from adkit.nn.utils import normalize, pad_sequences, set_random_seed
from keras_referee import keras  # noqa: F401 -- the Keras 3 referee fixture, or a skip



@pytest.fixture(autouse=True)
def unseeded_afterwards():
    yield
    from adkit.nn.seeding import set_global_seed
    set_global_seed(None)


def data(n=8, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(n, 2)).astype(np.float32)


def mlp(seed=0):
    """Input -> Dense(5, relu) -> BatchNormalization -> Dense(2), compiled."""
    model = Sequential([Input(shape=(4,)), Dense(5, activation="relu", name="hidden"),
                        BatchNormalization(name="bn"), Dense(2, name="out")], seed=seed)
    model.compile("adam", "mse", metrics=["mae"])
    return model


def functional(seed=0):
    inp = Input(shape=(4,), name="x")
    h = Dense(3, activation="tanh", name="h")(inp)
    out = Dense(2, name="y")(Concatenate(name="cat")([inp, h]))
    model = Model(inp, out, seed=seed)
    model.compile("sgd", "mse")
    return model


# ---------------------------------------------------------------- predict / test on batch

@pytest.mark.parametrize("build", [mlp, functional])
def test_predict_on_batch_equals_predict(build):
    model, (x, _) = build(), data(n=40)
    np.testing.assert_allclose(model.predict_on_batch(x), model.predict(x, batch_size=7),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("build", [mlp, functional])
def test_test_on_batch_equals_evaluate_on_that_batch(build):
    model, (x, y) = build(), data()
    model.fit(x, y, epochs=1, verbose=0)   # moving statistics away from their start
    expected = model.evaluate(x, y, batch_size=len(x))
    np.testing.assert_allclose(model.test_on_batch(x, y), expected, rtol=1e-6)
    got = model.test_on_batch(x, y, return_dict=True)
    assert list(got) == model.metrics_names
    np.testing.assert_allclose(list(got.values()), np.atleast_1d(expected), rtol=1e-6)
    w = np.linspace(0.5, 2.0, len(x)).astype(np.float32)
    np.testing.assert_allclose(model.test_on_batch(x, y, sample_weight=w),
                               model.evaluate(x, y, batch_size=3, sample_weight=w), rtol=1e-6)


def test_on_batch_mse_is_the_numpy_formula():
    model, (x, y) = mlp(), data()
    loss, mae = model.test_on_batch(x, y)
    out = model.predict(x)
    assert loss == pytest.approx(np.mean((out - y) ** 2), rel=1e-5)
    assert mae == pytest.approx(np.mean(np.abs(out - y)), rel=1e-5)


def test_on_batch_bad_input_is_refused():
    model, (x, y) = mlp(), data()
    with pytest.raises(ValueError, match="no examples"):
        model.predict_on_batch(np.zeros((0, 4), np.float32))
    with pytest.raises(TypeError, match="one batch of arrays"):
        model.predict_on_batch(iter([x]))
    uncompiled = Sequential([Dense(2, input_shape=(4,))])
    with pytest.raises(ValueError, match="compile the model first"):
        uncompiled.test_on_batch(x, y)


# ---------------------------------------------------------------- the weight lists

def test_trainable_weights_follow_get_weights_order_with_a_frozen_layer():
    model = mlp()
    model.get_layer("hidden").trainable = False
    weights = model.get_weights()
    # get_weights: hidden kernel, bias; bn gamma, beta, moving mean, variance; out kernel, bias
    assert [w.shape for w in weights] == [(4, 5), (5,), (5,), (5,), (5,), (5,), (5, 2), (2,)]
    trainable = model.trainable_weights
    assert [w.shape for w in trainable] == [(5,), (5,), (5, 2), (2,)]
    for got, index in zip(trainable, [2, 3, 6, 7]):
        np.testing.assert_array_equal(got, weights[index])
    frozen = model.non_trainable_weights
    for got, index in zip(frozen, [0, 1, 4, 5]):
        np.testing.assert_array_equal(got, weights[index])
    assert len(trainable) + len(frozen) == len(model.weights)
    # the model's own arrays, not copies: what fit updates
    assert trainable[-1] is model.weights[-1]
    assert model.trainable_variables == trainable and model.non_trainable_variables == frozen
    assert all(a is b for a, b in zip(model.variables, model.weights))


def test_trainable_weights_are_what_fit_changes():
    model, (x, y) = mlp(), data()
    model.get_layer("hidden").trainable = False
    model.compile("sgd", "mse")
    before = [w.copy() for w in model.weights]
    model.fit(x, y, epochs=2, verbose=0)
    trained = {id(w) for w in model.trainable_weights}
    for w, old in zip(model.weights, before):
        changed = not np.array_equal(w, old)
        # the moving statistics change too (state), the frozen kernel and bias do not
        if id(w) in trained:
            assert changed
    frozen = model.get_layer("hidden").get_weights()
    np.testing.assert_array_equal(frozen[0], before[0])


def test_frozen_model_has_no_trainable_weights_and_functional_has_the_lists():
    model = functional()
    assert len(model.trainable_weights) == 4 and model.non_trainable_weights == []
    model.trainable = False
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 4


def test_weight_lists_match_keras(keras):
    L = keras.layers
    twin = keras.Sequential([keras.Input((4,)), L.Dense(5, activation="relu"),
                                  L.BatchNormalization(), L.Dense(2)])
    twin.layers[0].trainable = False
    model = mlp()
    model.get_layer("hidden").trainable = False
    for ours, theirs in (("weights", "weights"), ("trainable_weights", "trainable_weights"),
                         ("non_trainable_weights", "non_trainable_weights")):
        assert [w.shape for w in getattr(model, ours)] == \
            [tuple(v.shape) for v in getattr(twin, theirs)], ours


# ---------------------------------------------------------------- JSON and clones

@pytest.mark.parametrize("build", [mlp, functional])
def test_to_json_round_trip_predicts_the_same_after_set_weights(build):
    model, (x, y) = build(), data()
    model.fit(x, y, epochs=1, verbose=0)
    text = model.to_json()
    spec = json.loads(text)
    assert set(spec) >= {"class_name", "config"}
    assert spec["class_name"] == ("Sequential" if isinstance(model, Sequential) else "Functional")
    rebuilt = model_from_json(text)
    assert type(rebuilt) is type(model) and rebuilt.get_config() == model.get_config()
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(x), model.predict(x), rtol=1e-6, atol=1e-6)
    assert json.loads(model.to_json(indent=2)) == spec


def test_to_json_of_a_nested_model_round_trips():
    inner = mlp()
    inp = Input(shape=(4,))
    outer = Model(inp, Dense(1, name="top")(inner(inp)), seed=1)
    x, _ = data()
    rebuilt = model_from_json(outer.to_json())
    rebuilt.set_weights(outer.get_weights())
    np.testing.assert_allclose(rebuilt.predict(x), outer.predict(x), rtol=1e-6, atol=1e-6)


def test_model_from_json_reads_custom_layers_and_custom_objects():
    class Doubling(nn.layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

    model = Sequential([Input(shape=(3,)), Dense(2, name="d"), Doubling(name="twice")], seed=0)
    x, _ = data(d=3)
    rebuilt = model_from_json(model.to_json(), custom_objects={"Doubling": Doubling})
    rebuilt.set_weights(model.get_weights())
    assert type(rebuilt.get_layer("twice")) is Doubling
    np.testing.assert_allclose(rebuilt.predict(x), model.predict(x), rtol=1e-6)
    with pytest.raises(ValueError, match="custom object 'relu2'"):
        model_from_json(model.to_json(), custom_objects={"relu2": lambda v: v})


def test_model_from_json_refuses_what_it_cannot_build():
    with pytest.raises(ValueError, match="not JSON"):
        model_from_json("{nope")
    with pytest.raises(ValueError, match="unknown model class 'Spaceship'"):
        model_from_json(json.dumps({"class_name": "Spaceship", "config": {}}))
    with pytest.raises(ValueError, match="class_name"):
        model_from_json("[1, 2]")
    with pytest.raises(TypeError, match="to_json"):
        model_from_json(mlp())
    keras_written = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"module": "keras.layers", "class_name": "Conv9D", "config": {}}]}}
    with pytest.raises(ValueError, match="class 'Conv9D', which adkit.nn does not have"):
        model_from_json(json.dumps(keras_written))


def test_subclassed_model_to_json_and_clone_are_refused_by_name():
    class Tiny(Model):
        def __init__(self):
            super().__init__(seed=0)
            self.dense = Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

    model = Tiny()
    model.predict(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match=r"subclassed model \(Tiny\)"):
        model.to_json()
    with pytest.raises(TypeError, match="Tiny is a subclassed model"):
        clone_model(model)


@pytest.mark.parametrize("build", [mlp, functional])
def test_clone_model_same_architecture_fresh_weights(build):
    model, (x, y) = build(), data()
    clone = clone_model(model)
    assert type(clone) is type(model)
    config, cloned = model.get_config(), clone.get_config()
    assert cloned["seed"] != config["seed"]
    assert {**cloned, "seed": 0} == {**config, "seed": 0}
    assert clone.count_params() == model.count_params()
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]
    assert not np.allclose(clone.get_weights()[0], model.get_weights()[0])
    assert clone.optimizer is None   # not compiled, as Keras's clone
    # independent: training the clone leaves the original alone
    before = model.get_weights()
    clone.compile("sgd", "mse")
    clone.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x), model.predict(x), rtol=1e-6, atol=1e-6)


def test_clone_model_gives_a_nested_model_new_weights_and_takes_clone_function():
    inner = mlp()
    inp = Input(shape=(4,))
    outer = Model(inp, Dense(1, name="top")(inner(inp)), seed=1)
    clone = clone_model(outer)
    assert clone.count_params() == outer.count_params()
    assert not np.allclose(clone.get_weights()[0], outer.get_weights()[0])
    seen = []

    def renamed(layer):
        seen.append(layer.name)
        return Dense.from_config({**layer.get_config(), "units": 7})

    model = functional()
    widened = clone_model(model, clone_function=lambda l: renamed(l) if l.name == "h"
                          else type(l).from_config(l.get_config()))
    assert seen == ["h"] and widened.get_layer("h").units == 7
    with pytest.raises(NotImplementedError, match="input_tensors"):
        clone_model(model, input_tensors=[Input(shape=(4,))])
    with pytest.raises(TypeError, match="unexpected arguments"):
        clone_model(model, colour="red")
    with pytest.raises(TypeError, match="takes a Sequential or functional Model, got Dense"):
        clone_model(Dense(2))


def test_count_params_counts_state_as_keras():
    model = mlp()   # BatchNormalization's moving mean and variance count, as in Keras
    assert model.count_params() == (4 * 5 + 5) + 4 * 5 + (5 * 2 + 2)
    assert model.count_params() == sum(w.size for w in model.weights)


def test_clone_model_matches_keras_parameter_count(keras):
    L = keras.layers
    twin = keras.Sequential([keras.Input((4,)), L.Dense(5, activation="relu"),
                                  L.BatchNormalization(), L.Dense(2)])
    assert clone_model(mlp()).count_params() == keras.models.clone_model(twin).count_params()


# ---------------------------------------------------------------- layer.input / layer.output

def relu_hidden(model, x):
    kernel, bias = model.get_layer("hidden").get_weights()
    return np.maximum(x @ kernel + bias, 0)


def test_feature_extractor_from_a_sequential_built_with_an_input():
    model, (x, _) = mlp(), data()
    extractor = Model(inputs=model.inputs, outputs=model.layers[0].output)
    np.testing.assert_allclose(extractor.predict(x), relu_hidden(model, x), rtol=1e-5, atol=1e-6)
    # it shares the arrays: training the model moves the extractor too
    model.fit(x, np.zeros((len(x), 2), np.float32), epochs=1, verbose=0)
    np.testing.assert_allclose(extractor.predict(x), relu_hidden(model, x), rtol=1e-5, atol=1e-6)
    assert model.input is model.inputs[0] and model.output is model.outputs[0]
    assert model.layers[0].input is model.input
    assert model.layers[-1].output.shape == (None, 2)


def test_sequential_inputs_are_the_input_it_started_with():
    inp = Input(shape=(4,))
    model = Sequential([inp, Dense(3, name="a"), Dense(1, name="b")], seed=0)
    assert model.inputs[0] is inp
    extractor = Model(inp, model.get_layer("a").output)
    x, _ = data()
    kernel, bias = model.get_layer("a").get_weights()
    np.testing.assert_allclose(extractor.predict(x), x @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_sequential_with_input_shape_and_after_pop():
    model = Sequential([Dense(3, input_shape=(4,), name="a"), Dense(2, name="b"),
                        Dense(1, name="c")], seed=0)
    assert model.layers[1].output.shape == (None, 2)
    model.pop()
    assert model.output is model.layers[-1].output
    x, _ = data()
    extractor = Model(model.inputs, model.get_layer("a").output)
    kernel, bias = model.get_layer("a").get_weights()
    np.testing.assert_allclose(extractor.predict(x), x @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_functional_layer_output_and_model_input_output():
    model, (x, _) = functional(), data()
    assert model.get_layer("h").input is model.input
    assert model.get_layer("cat").input == [model.input, model.get_layer("h").output]
    extractor = Model(model.input, model.get_layer("h").output)
    kernel, bias = model.get_layer("h").get_weights()
    np.testing.assert_allclose(extractor.predict(x), np.tanh(x @ kernel + bias), rtol=1e-5,
                               atol=1e-6)


def test_nested_model_layer_gives_the_inner_graph():
    base = mlp()
    inp = Input(shape=(4,))
    outer = Model(inp, Dense(1, name="top")(base(inp)), seed=1)
    inner = outer.get_layer(base.name)
    extractor = Model(inner.input, inner.get_layer("hidden").output)
    x, _ = data()
    np.testing.assert_allclose(extractor.predict(x), relu_hidden(base, x), rtol=1e-5, atol=1e-6)
    assert inner.output is base.output and inner.layers == base.layers


def test_an_uncalled_layer_has_no_output():
    layer = Dense(3, name="lonely")
    assert not hasattr(layer, "output")
    with pytest.raises(ValueError, match="'lonely'.*never been called"):
        layer.input
    unbuilt = Sequential([Dense(2)], name="waiting")
    with pytest.raises(ValueError, match="'waiting' has no defined inputs.*not built"):
        unbuilt.inputs
    assert not hasattr(unbuilt, "outputs") and not hasattr(unbuilt.layers[0], "output")


def test_feature_extractor_matches_keras(keras):
    L = keras.layers
    twin = keras.Sequential([keras.Input((4,)), L.Dense(5, activation="relu"),
                                  L.BatchNormalization(), L.Dense(2)])
    model, (x, _) = mlp(), data()
    twin.set_weights(model.get_weights())
    ours = Model(model.inputs, model.layers[-2].output).predict(x)
    theirs = keras.Model(twin.inputs, twin.layers[-2].output).predict(x, verbose=0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(x), twin.predict_on_batch(x), rtol=1e-5,
                               atol=1e-5)
    y = np.ones((len(x), 2), np.float32)
    twin.compile("adam", "mse", metrics=["mae"])
    np.testing.assert_allclose(model.test_on_batch(x, y), twin.test_on_batch(x, y), rtol=1e-5)


# ---------------------------------------------------------------- keras.utils

def test_set_random_seed_makes_unseeded_builds_identical():
    def build():
        return Sequential([Dense(4, input_shape=(3,)), Dropout(0.5), Dense(1)])

    set_random_seed(11)
    first, draws = build(), (random.random(), np.random.rand())
    set_random_seed(11)
    second, again = build(), (random.random(), np.random.rand())
    assert draws == again
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    set_random_seed(12)
    assert not np.array_equal(build().get_weights()[0], first.get_weights()[0])
    inp = Input(shape=(3,))
    set_random_seed(5)
    f1 = Model(inp, Dense(2)(inp))
    set_random_seed(5)
    f2 = Model(inp, Dense(2)(inp))
    assert f1.seed == f2.seed
    for bad in (1.5, "7", None, True, -1):
        with pytest.raises(ValueError, match="seed"):
            set_random_seed(bad)


def test_set_random_seed_repeats_unseeded_initializers_and_standalone_layer_calls():
    def draws():
        kernel = nn.initializers.GlorotUniform()((3, 4))
        dropped = Dropout(0.5)(np.ones((4, 6), np.float32), training=True)
        return kernel, dropped

    set_random_seed(3)
    first = draws()
    set_random_seed(3)
    for a, b in zip(first, draws()):
        np.testing.assert_array_equal(a, b)


def test_set_random_seed_repeats_a_subclassed_layer_called_alone():
    class Noisy(nn.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2))

        def call(self, inputs):
            return inputs @ self.w

    x = np.ones((2, 3), np.float32)
    set_random_seed(4)
    first = Noisy()(x)
    set_random_seed(4)
    np.testing.assert_array_equal(Noisy()(x), first)


def test_unseeded_builds_differ_without_set_random_seed():
    a = Sequential([Dense(4, input_shape=(3,))])
    b = Sequential([Dense(4, input_shape=(3,))])
    assert a.seed != b.seed


SEQUENCES = [[1, 2, 3, 4], [5], [], [6, 7]]
PADDED = {  # (padding, truncating) -> expected with maxlen=3
    ("pre", "pre"): [[2, 3, 4], [0, 0, 5], [0, 0, 0], [0, 6, 7]],
    ("pre", "post"): [[1, 2, 3], [0, 0, 5], [0, 0, 0], [0, 6, 7]],
    ("post", "pre"): [[2, 3, 4], [5, 0, 0], [0, 0, 0], [6, 7, 0]],
    ("post", "post"): [[1, 2, 3], [5, 0, 0], [0, 0, 0], [6, 7, 0]],
}


@pytest.mark.parametrize("padding,truncating", list(PADDED))
def test_pad_sequences_every_padding_and_truncating(padding, truncating):
    got = pad_sequences(SEQUENCES, maxlen=3, padding=padding, truncating=truncating)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, PADDED[padding, truncating])


def test_pad_sequences_defaults_value_dtype_and_items():
    np.testing.assert_array_equal(pad_sequences([[1, 2], [3]]), [[1, 2], [0, 3]])
    got = pad_sequences([[1.5], [2.5, 3.5]], dtype="float32", value=-1.0, padding="post")
    np.testing.assert_array_equal(got, np.array([[1.5, -1], [2.5, 3.5]], np.float32))
    vectors = pad_sequences([np.ones((1, 2)), np.zeros((3, 2))], maxlen=2)
    assert vectors.shape == (2, 2, 2)
    np.testing.assert_array_equal(vectors[0], [[0, 0], [1, 1]])
    assert pad_sequences([], maxlen=4).shape == (0, 4)
    words = pad_sequences([["a"], ["b", "c"]], dtype=object, value="")
    assert words.tolist() == [["", "a"], ["b", "c"]]


def test_pad_sequences_is_also_where_keras_2_scripts_find_it():
    assert nn.preprocessing.sequence.pad_sequences is pad_sequences
    assert nn.utils.pad_sequences is pad_sequences


def test_pad_sequences_refuses_bad_input():
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="truncating"):
        pad_sequences([[1]], truncating="both")
    with pytest.raises(ValueError, match="item 1"):
        pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="maxlen"):
        pad_sequences([[1]], maxlen=0)
    with pytest.raises(ValueError, match="dtype=object"):
        pad_sequences([["a"]], value="x")
    with pytest.raises(ValueError, match="sequence 1"):
        pad_sequences([np.ones((2, 2)), np.ones((2, 3))])


def test_pad_sequences_matches_keras(keras):
    rng = np.random.default_rng(3)
    seqs = [list(rng.integers(1, 9, size=n)) for n in (0, 1, 4, 7, 3)]
    for maxlen in (None, 2, 5, 9):
        for padding in ("pre", "post"):
            for truncating in ("pre", "post"):
                kwargs = dict(maxlen=maxlen, padding=padding, truncating=truncating, value=-2)
                np.testing.assert_array_equal(
                    pad_sequences(seqs, **kwargs),
                    keras.utils.pad_sequences(seqs, **kwargs))


def test_normalize_is_x_over_its_norm():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, -1.0]])
    np.testing.assert_allclose(normalize(x), x / np.array([[5.0], [1.0], [np.sqrt(2)]]))
    np.testing.assert_allclose(normalize(x, axis=0, order=1),
                               x / np.array([[4.0, 5.0]]))
    with pytest.raises(TypeError, match="numbers"):
        normalize(np.array(["a"]))


def test_normalize_matches_keras(keras):
    x = np.random.default_rng(1).normal(size=(3, 4, 5))
    # not axis=0: Keras's NumPy branch takes `axis or -1`, so it normalises the last axis
    for axis, order in ((-1, 2), (1, 1), (2, np.inf)):
        np.testing.assert_allclose(normalize(x, axis, order),
                                   keras.utils.normalize(x, axis, order), rtol=1e-12)


# ---------------------------------------------------------------- nn.config, nn.backend

def test_config_reports_keras_defaults_and_refuses_others():
    config = nn.config
    assert config.backend() == "numpy" == nn.backend.backend()
    assert (config.floatx(), config.image_data_format(), config.epsilon()) == \
        ("float32", "channels_last", 1e-7)
    config.set_floatx("float32")
    config.set_image_data_format("channels_last")
    config.set_epsilon(1e-7)
    config.enable_unsafe_deserialization()
    with pytest.raises(ValueError, match="channels_first"):
        config.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match="float64"):
        config.set_floatx("float64")
    with pytest.raises(ValueError, match="epsilon"):
        config.set_epsilon(1e-3)


def test_set_value_on_the_learning_rate_changes_training():
    model, (x, y) = mlp(), data()
    model.compile(nn.optimizers.SGD(0.1), "mse")
    nn.backend.set_value(model.optimizer.learning_rate, 1e-4)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)
    assert nn.backend.get_value(model.optimizer.learning_rate) == pytest.approx(1e-4)
    model.optimizer.learning_rate.assign(0.0)
    before = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0)   # rate 0: the trainable weights stay
    np.testing.assert_array_equal(model.get_layer("out").get_weights()[0], before[6])
    model.optimizer.learning_rate = 0.05
    assert model.optimizer.learning_rate == 0.05 and model.optimizer.learning_rate.numpy() \
        == np.float32(0.05)
    assert type(copy.deepcopy(model.optimizer.learning_rate)) is float
    assert json.loads(json.dumps(model.optimizer.get_config()))["learning_rate"] == 0.05


def test_set_value_on_arrays_and_refusals():
    model = mlp()
    kernel = model.get_layer("out").get_weights()[0]
    nn.backend.set_value(model.trainable_weights[-2], np.ones_like(kernel))
    np.testing.assert_array_equal(model.get_layer("out").get_weights()[0], 1.0)
    with pytest.raises(ValueError, match="shape"):
        nn.backend.set_value(model.trainable_weights[-2], np.ones(3))
    with pytest.raises(TypeError, match="cannot change"):
        nn.backend.set_value(0.1, 0.2)
