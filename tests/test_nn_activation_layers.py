"""Keras 3's activation layers (ReLU, LeakyReLU, PReLU, ELU, Softmax): values against
NumPy formulas written here, PReLU's learned slopes and their derivatives against finite
differences, Keras's defaults, configs and weight shapes, model-file round trips,
training compiled and eager alike, bad arguments refused by name, and (where Keras 3 is
installed) the same outputs as Keras."""

import warnings

import numpy as np
import pytest
from keras_referee import keras  # noqa: F401  (a fixture)
from layer_fit_support import batch_losses
from opencl_support import needs_opencl

import adkit
from adkit.nn import Sequential, load_model
from adkit.nn.layers import (ELU, PReLU, Conv2D, Dense, LeakyReLU, ReLU, Softmax,
                             deserialize, serialize)
from adkit.nn.layers.base import Context

X = np.array([[-4.0, -1.0, -0.2, 0.0, 0.3, 1.0, 5.0, 9.0]], np.float32)


@pytest.mark.parametrize("layer, reference", [
    (ReLU(), lambda x: np.maximum(x, 0)),
    (ReLU(max_value=6.0), lambda x: np.minimum(np.maximum(x, 0), 6)),
    (ReLU(negative_slope=0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    (ReLU(threshold=0.5), lambda x: np.where(x > 0.5, x, 0)),
    (ReLU(max_value=4.0, negative_slope=0.5, threshold=1.0),
     lambda x: np.where(x > 1, np.minimum(x, 4), 0.5 * (x - 1))),
    (LeakyReLU(), lambda x: np.where(x > 0, x, 0.3 * x)),
    (LeakyReLU(negative_slope=0.05), lambda x: np.where(x > 0, x, 0.05 * x)),
    (ELU(), lambda x: np.where(x > 0, x, np.expm1(x))),
    (ELU(alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
], ids=lambda v: repr(v.get_config()) if hasattr(v, "get_config") else "")
def test_values_follow_the_formulas_and_configs_round_trip(layer, reference, tmp_path):
    model = Sequential([layer], seed=0)
    model.build(X.shape[1:])
    got = model.predict(X, verbose=0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, reference(X.astype(float)), rtol=1e-6, atol=1e-7)
    again = deserialize(serialize(layer))
    assert type(again) is type(layer) and again.get_config() == layer.get_config()
    model.save(tmp_path / "m.adkit")
    np.testing.assert_array_equal(load_model(tmp_path / "m.adkit").predict(X, verbose=0), got)


def test_keras_3_defaults():
    assert LeakyReLU().negative_slope == 0.3
    assert ReLU().get_config()["max_value"] is None
    assert ELU().alpha == 1.0 and Softmax().axis == -1
    assert PReLU().shared_axes is None


def test_leaky_relu_takes_keras_2_s_alpha_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="alpha= is Keras 2's spelling; use negative_slope"):
        layer = LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1 and "alpha" not in layer.get_config()
    with pytest.raises(TypeError, match="not both"):
        LeakyReLU(negative_slope=0.2, alpha=0.1)


@pytest.mark.parametrize("make, message", [
    (lambda: ReLU(max_value=-1.0), "max_value must be a number >= 0 or None"),
    (lambda: ReLU(negative_slope=-0.1), "negative_slope must be a number >= 0"),
    (lambda: ReLU(threshold=None), "threshold must be a number >= 0"),
    (lambda: LeakyReLU(negative_slope=-1), "negative_slope must be a number >= 0"),
    (lambda: ELU(alpha="one"), "alpha must be a number"),
    (lambda: Softmax(axis="last"), "axis must be an int or a list"),
    (lambda: PReLU(shared_axes="1"), "shared_axes must be an int or a list"),
])
def test_bad_arguments_are_refused_by_name(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


@pytest.mark.parametrize("make, input_shape, message", [
    (lambda: Softmax(axis=3), (4, 5), r"axis 3 is out of bounds for input shape \(None, 4, 5\)"),
    (lambda: Softmax(axis=0), (4, 5), "batch axis"),
    (lambda: PReLU(shared_axes=[4]), (4, 5), "out of bounds"),
    (lambda: PReLU(), (None, None, 5), "every dimension known"),   # Keras's form: batch first
])
def test_bad_axes_are_refused_when_the_model_is_built(make, input_shape, message):
    with pytest.raises(ValueError, match=message):
        Sequential([make()]).build(input_shape)


@pytest.mark.parametrize("axis", [-1, 1, 2, [1, 2], [-1]])
def test_softmax_over_an_axis_or_several(axis):
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    model = Sequential([Softmax(axis=axis)])
    model.build((4, 5))
    axes = tuple(a % 3 for a in (axis if isinstance(axis, list) else [axis]))
    e = np.exp(x - x.max(axis=axes, keepdims=True))
    np.testing.assert_allclose(model.predict(x, verbose=0), e / e.sum(axis=axes, keepdims=True),
                               rtol=1e-5)


def test_a_model_ending_in_softmax_trains_on_its_logits():
    # Softmax() over the last axis is the softmax activation, so the loss is the stable
    # cross-entropy of the logits: a huge logit gives a finite loss
    model = Sequential([Dense(3, input_shape=(2,), kernel_initializer="ones"), Softmax()])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = np.array([[1e4, -1e4]], np.float32)
    y = np.array([[0.0, 0.0, 1.0]], np.float32)
    model.set_weights([np.array([[1.0, 0.0, -1.0], [0.0, 0.0, 0.0]], np.float32),
                       np.zeros(3, np.float32)])
    assert model.evaluate(x, y, verbose=0) == pytest.approx(2e4, rel=1e-6)


def test_prelu_weights_follow_shared_axes_as_keras():
    def alpha_shape(shared_axes, input_shape):
        layer = PReLU(shared_axes=shared_axes)
        Sequential([layer]).build(input_shape)
        (alpha,) = layer.get_weights()
        return alpha.shape
    assert alpha_shape(None, (6, 6, 3)) == (6, 6, 3)
    assert alpha_shape([1, 2], (6, 6, 3)) == (1, 1, 3)
    assert alpha_shape(1, (5, 4)) == (1, 4)
    assert alpha_shape([1, 2], (None, None, None, 3)) == (1, 1, 3)   # Keras's form: batch first
    model = Sequential([Conv2D(4, 3, input_shape=(6, 6, 2)), PReLU(shared_axes=[1, 2])])
    assert model.count_params() == 3 * 3 * 2 * 4 + 4 + 4


def test_prelu_values_and_derivatives_in_alpha_and_x():
    layer = PReLU(shared_axes=[1])
    model = Sequential([layer], seed=0)
    model.build((3, 4))
    rng = np.random.default_rng(1)
    alpha = rng.uniform(0.1, 0.5, (1, 4)).astype(np.float32)
    layer.set_weights([alpha])
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.where(x > 0, x, alpha * x),
                               rtol=1e-6)
    w = rng.standard_normal((2, 3, 4))
    points = rng.choice([-1, 1], (2, 3, 4)) * rng.uniform(0.2, 2.0, (2, 3, 4))
    adkit.check_grads(lambda p, v: np.sum(layer.call(p, v, Context()) * w),
                      ({"alpha": alpha.astype(float)}, points), order=2,
                      modes=("forward", "reverse", "numeric"))


def test_prelu_initializer_regularizer_and_constraint():
    layer = PReLU(alpha_initializer="ones", alpha_regularizer="l2", alpha_constraint="non_neg")
    Sequential([layer]).build((3,))
    np.testing.assert_array_equal(layer.get_weights()[0], np.ones(3))
    assert layer.penalty({"alpha": np.ones(3)}) == pytest.approx(0.03)
    assert layer.constraints["alpha"] is not None
    again = deserialize(serialize(layer))
    assert again.get_config() == layer.get_config()


@pytest.mark.parametrize("make", [
    lambda: [Dense(16, input_shape=(4,)), PReLU(), Dense(1)],
    lambda: [Dense(16, input_shape=(4,)), LeakyReLU(), Dense(8), ELU(), Dense(1)],
    lambda: [Dense(16, input_shape=(4,)), ReLU(max_value=6.0, negative_slope=0.1), Dense(1)],
], ids=["prelu", "leaky-elu", "relu-options"])
def test_a_short_fit_lowers_the_loss_compiled_and_eagerly_alike(make):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = np.abs(x[:, :1]) - x[:, 1:2]
    compiled, eager = (batch_losses(make(), x, y, jit=jit, epochs=5)[0]
                       for jit in ("auto", False))
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    epochs = np.reshape(compiled, (-1, 4)).mean(axis=1)   # 4 batches an epoch
    assert epochs[-1] < epochs[0]


# ---------------------------------------------------------------- against Keras itself

@pytest.mark.parametrize("name, kwargs", [
    ("ReLU", {}), ("ReLU", dict(max_value=6.0)), ("ReLU", dict(negative_slope=0.2, threshold=0.5)),
    ("ReLU", dict(max_value=3.0, negative_slope=0.1, threshold=1.0)), ("LeakyReLU", {}),
    ("ELU", dict(alpha=0.7)), ("Softmax", {}), ("Softmax", dict(axis=1)),
    ("Softmax", dict(axis=[1, 2])), ("PReLU", {}), ("PReLU", dict(shared_axes=[1, 2]))])
def test_same_outputs_as_keras(keras, name, kwargs):
    x = np.random.default_rng(5).uniform(-5, 8, (2, 3, 4, 5)).astype(np.float32)
    ours = getattr(__import__("adkit.nn.layers", fromlist=[name]), name)(**kwargs)
    model = Sequential([ours], seed=0)
    model.build(x.shape[1:])
    theirs = getattr(keras.layers, name)(**kwargs)
    theirs.build((None, *x.shape[1:]))
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    if ours.get_weights():
        alpha = np.random.default_rng(6).uniform(0.1, 0.5, ours.get_weights()[0].shape)
        ours.set_weights([alpha]), theirs.set_weights([alpha])
    np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(theirs(x)), rtol=1e-6,
                               atol=1e-6)


def test_leaky_relu_s_deprecated_alpha_is_keras_s_too(keras):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert keras.layers.LeakyReLU(alpha=0.1).negative_slope == 0.1
        assert LeakyReLU(alpha=0.1).negative_slope == 0.1


@needs_opencl
def test_they_train_the_same_on_an_opencl_device():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]

    def curve(device):
        return batch_losses([Dense(8, input_shape=(6,)), PReLU(), Dense(8), LeakyReLU(),
                             Dense(8), ELU(0.5), Dense(8), ReLU(6.0, 0.1, 0.2), Dense(3),
                             Softmax()], x, y, device=device,
                            loss="categorical_crossentropy")[0]
    np.testing.assert_allclose(curve("opencl"), curve("cpu"), rtol=1e-5)


def test_weightless_layers_serve_as_activations_and_are_saved_as_layers(tmp_path):
    # Keras allows Dense(64, activation=keras.layers.LeakyReLU(0.2)); the config holds the
    # layer's {"class_name", "config"}
    from adkit.nn import activations
    rng = np.random.default_rng(11)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    model = Sequential([Dense(4, activation=LeakyReLU(negative_slope=0.1), input_shape=(3,)),
                        Dense(4, activation=ELU(0.5)), Dense(2, activation=Softmax())], seed=0)
    k, b = model.layers[0].get_weights()
    z = x @ k + b
    np.testing.assert_allclose(model.layers[0](x), np.where(z > 0, z, 0.1 * z), rtol=1e-6)
    config = model.layers[0].get_config()["activation"]
    assert config["class_name"] == "LeakyReLU" and config["config"]["negative_slope"] == 0.1
    assert activations.deserialize(config).negative_slope == 0.1
    model.save(tmp_path / "m.adkit")
    again = load_model(tmp_path / "m.adkit")
    assert isinstance(again.layers[1].activation, ELU) and again.layers[1].activation.alpha == 0.5
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
    history = model.fit(x, y, epochs=5, verbose=0).history["loss"]
    assert history[-1] < history[0]


def test_a_layer_with_weights_is_no_activation_a_model_can_save():
    with pytest.raises(ValueError, match="nor a layer without weights"):
        Dense(2, activation=PReLU()).get_config()
    from adkit.nn import activations
    with pytest.raises(ValueError, match="must have no weights; add it as a layer"):
        activations.get({"class_name": "PReLU", "config": {}})
    with pytest.raises(ValueError, match="unknown layer class 'Nope'"):
        activations.get({"class_name": "Nope", "config": {}})
