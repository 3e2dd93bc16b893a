"""LayerNormalization, GroupNormalization and UnitNormalization with Keras 3's
semantics: values against NumPy formulas written here, derivatives against finite
differences, weights and parameter counts in Keras's order, config and model-file round
trips, training (compiled and eager alike), bad axes refused by name, and (where Keras 3
is installed) the same outputs as Keras with the same weights."""

import numpy as np
import pytest
from keras_referee import keras  # noqa: F401  (a fixture)
from layer_fit_support import batch_losses
from opencl_support import needs_opencl

import adkit
from adkit.nn import Sequential, load_model
from adkit.nn.layers import (Dense, Flatten, GroupNormalization, LayerNormalization,
                             RMSNormalization, UnitNormalization, deserialize, serialize)
from adkit.nn.layers.base import Context


def layer_norm_reference(x, axes, gamma, beta, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def built(layer, input_shape, seed=0):
    model = Sequential([layer], seed=seed)
    model.build(input_shape)
    return model


def randomised(model, seed=1):
    """The model's weights set to random values, so gamma and beta are really tested."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 2.0, w.shape).astype(w.dtype) for w in
                       model.get_weights()])
    return model


RNG = np.random.default_rng(0)
X3 = (3 * RNG.standard_normal((4, 3, 5, 6)) + 1).astype(np.float32)


@pytest.mark.parametrize("axis, param_shape", [(-1, (6,)), (3, (6,)), ([1, 2, 3], (3, 5, 6)),
                                               ([-2, -1], (5, 6)), (2, (5,)), ([1, 3], (3, 6))])
def test_layer_normalization_values_and_weight_shapes(axis, param_shape):
    layer = LayerNormalization(axis=axis, epsilon=1e-3)
    model = randomised(built(layer, X3.shape[1:]))
    gamma, beta = layer.get_weights()
    assert gamma.shape == beta.shape == param_shape
    axes = tuple(sorted(a % 4 for a in ([axis] if isinstance(axis, int) else axis)))
    where = [X3.shape[a] if a in axes else 1 for a in range(4)]
    expected = layer_norm_reference(X3.astype(np.float64), axes, gamma.reshape(where),
                                    beta.reshape(where), 1e-3)
    got = model.predict(X3, verbose=0)
    assert got.dtype == np.float32 and got.shape == X3.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_layer_normalization_defaults_and_summary_counts_are_keras_s():
    layer = LayerNormalization()
    config = layer.get_config()
    assert (config["axis"], config["epsilon"], config["center"], config["scale"]) == (
        -1, 1e-3, True, True)
    model = built(layer, (7, 10))
    assert model.count_params() == 20
    assert [w.shape for w in layer.get_weights()] == [(10,), (10,)]
    np.testing.assert_array_equal(layer.get_weights()[0], np.ones(10))   # gamma first
    np.testing.assert_array_equal(layer.get_weights()[1], np.zeros(10))
    assert built(LayerNormalization(center=False), (10,)).count_params() == 10
    assert built(LayerNormalization(scale=False, center=False), (10,)).count_params() == 0


def test_keras_s_deprecated_rms_scaling_divides_by_the_uncentred_std():
    with pytest.warns(DeprecationWarning, match="rms_scaling=True is deprecated.*"
                                                "RMSNormalization"):
        layer = LayerNormalization(rms_scaling=True, epsilon=1e-4)
    model = randomised(built(layer, (6,)))
    (gamma,) = layer.get_weights()              # gamma only, as Keras
    x = X3[:, 0, 0].astype(float)
    np.testing.assert_allclose(model.predict(X3[:, 0, 0], verbose=0),
                               x / np.sqrt(x.var(axis=1, keepdims=True) + 1e-4) * gamma,
                               rtol=1e-5, atol=1e-6)
    with pytest.warns(DeprecationWarning):
        assert deserialize(serialize(layer)).get_config() == layer.get_config()


def test_layer_normalization_without_scale_or_center():
    layer = LayerNormalization(scale=False, center=False, epsilon=1e-5)
    model = built(layer, (6,))
    x = X3[:, 0, 0]
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               layer_norm_reference(x.astype(float), (1,), 1.0, 0.0, 1e-5),
                               rtol=1e-5, atol=1e-5)
    only_beta = randomised(built(LayerNormalization(scale=False), (6,)))
    (beta,) = only_beta.get_weights()
    np.testing.assert_allclose(only_beta.predict(x, verbose=0),
                               layer_norm_reference(x.astype(float), (1,), 1.0, beta, 1e-3),
                               rtol=1e-5, atol=1e-5)


def test_initializers_regularizers_and_constraints_reach_gamma_and_beta():
    layer = LayerNormalization(gamma_initializer="zeros", beta_initializer="ones",
                               gamma_regularizer="l2", beta_constraint="non_neg")
    built(layer, (4,))
    np.testing.assert_array_equal(layer.get_weights()[0], np.zeros(4))
    np.testing.assert_array_equal(layer.get_weights()[1], np.ones(4))
    assert layer.regularizers["gamma"] is not None and layer.constraints["beta"] is not None
    penalty = layer.penalty({"gamma": np.full(4, 2.0), "beta": np.zeros(4)})
    assert penalty == pytest.approx(0.01 * 16)
    again = deserialize(serialize(layer))
    assert again.get_config() == layer.get_config()


@pytest.mark.parametrize("make", [
    lambda: LayerNormalization(axis=[1, 2]), lambda: GroupNormalization(groups=2),
    lambda: GroupNormalization(groups=-1, axis=1), lambda: UnitNormalization(axis=[1, -1]),
    lambda: RMSNormalization(axis=[1, 2])])
def test_derivatives_agree_with_finite_differences(make):
    layer = make()
    model = randomised(built(layer, (3, 4)))
    params = {k: v.astype(np.float64) for k, v in model.params[layer.name].items()}
    x = RNG.standard_normal((2, 3, 4))
    w = RNG.standard_normal((2, 3, 4))

    def loss(p, v):
        return np.sum(layer.call(p, v, Context()) * w)
    adkit.check_grads(loss, (params, x), order=2, modes=("forward", "reverse", "numeric"))


@pytest.mark.parametrize("make", [
    lambda: LayerNormalization(axis=[1, 2], epsilon=1e-4, gamma_regularizer="l2"),
    lambda: GroupNormalization(groups=3, axis=2, center=False),
    lambda: UnitNormalization(axis=-1), lambda: RMSNormalization(axis=1, epsilon=1e-4)])
def test_config_and_model_file_round_trip(make, tmp_path):
    layer = make()
    model = Sequential([layer, Flatten(), Dense(2)], seed=0)
    model.build((4, 6))
    randomised(model)
    x = RNG.standard_normal((5, 4, 6)).astype(np.float32)
    again_layer = type(layer).from_config(layer.get_config())
    assert again_layer.get_config() == layer.get_config()
    model.save(tmp_path / "m.adkit")
    again = load_model(tmp_path / "m.adkit")
    assert type(again.layers[0]) is type(layer)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("layers", [
    lambda: [Dense(12, input_shape=(6,)), LayerNormalization(), Dense(1)],
    lambda: [Dense(12, input_shape=(6,)), GroupNormalization(groups=4), Dense(1)],
    lambda: [Dense(12, input_shape=(6,)), UnitNormalization(), Dense(1)],
    lambda: [Dense(12, input_shape=(6,)), RMSNormalization(), Dense(1)]],
    ids=["layer", "group", "unit", "rms"])
def test_a_short_fit_lowers_the_loss_compiled_and_eagerly_alike(layers):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = (x[:, :1] * x[:, 1:2] + x[:, 2:3]).astype(np.float32)
    compiled, eager = (batch_losses(layers(), x, y, jit=jit, epochs=5)[0]
                       for jit in ("auto", False))
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    epochs = np.reshape(compiled, (-1, 4)).mean(axis=1)   # 4 batches an epoch
    assert epochs[-1] < epochs[0]


def group_norm_reference(x, groups, gamma, beta, eps):
    n, c = x.shape[0], x.shape[-1]
    g = x.reshape(n, -1, groups, c // groups)
    mean = g.mean(axis=(1, 3), keepdims=True)
    var = g.var(axis=(1, 3), keepdims=True)
    return ((g - mean) / np.sqrt(var + eps)).reshape(x.shape) * gamma + beta


@pytest.mark.parametrize("groups", [1, 2, 3, 6, -1])
def test_group_normalization_values(groups):
    layer = GroupNormalization(groups=groups)
    model = randomised(built(layer, X3.shape[1:]))
    gamma, beta = layer.get_weights()
    assert gamma.shape == beta.shape == (6,)
    expected = group_norm_reference(X3.astype(float), 6 if groups == -1 else groups, gamma,
                                    beta, 1e-3)
    np.testing.assert_allclose(model.predict(X3, verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_group_normalization_on_a_middle_axis_is_the_last_axis_moved():
    layer, last = GroupNormalization(groups=2, axis=1), GroupNormalization(groups=2)
    a, b = built(layer, (4, 3)), built(last, (3, 4))
    x = RNG.standard_normal((5, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(a.predict(x, verbose=0),
                               np.swapaxes(b.predict(np.swapaxes(x, 1, 2), verbose=0), 1, 2),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", [-1, [1, 2], 2])
def test_rms_normalization_values_and_weights(axis):
    layer = RMSNormalization(axis=axis)
    model = randomised(built(layer, X3.shape[1:]))
    assert layer.get_config()["epsilon"] == 1e-6
    (scale,) = layer.get_weights()
    axes = tuple(sorted(a % 4 for a in ([axis] if isinstance(axis, int) else axis)))
    assert scale.shape == tuple(X3.shape[a] for a in axes)
    where = [X3.shape[a] if a in axes else 1 for a in range(4)]
    x = X3.astype(float)
    expected = x / np.sqrt((x ** 2).mean(axis=axes, keepdims=True) + 1e-6) * scale.reshape(where)
    np.testing.assert_allclose(model.predict(X3, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_unit_normalization_values_and_zero_rows():
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]], np.float32)
    model = built(UnitNormalization(), (3,))
    np.testing.assert_allclose(model.predict(x, verbose=0), [[0.6, 0.8, 0], [0, 0, 0]])
    g = adkit.grad(lambda v: np.sum(UnitNormalization().call({}, v, Context())))(
        np.zeros((1, 3)))
    assert np.all(np.isfinite(g))
    y = RNG.standard_normal((4, 3, 5))
    out = UnitNormalization(axis=[1, 2]).call({}, y, Context())
    np.testing.assert_allclose(np.sqrt((out ** 2).sum(axis=(1, 2))), 1.0)
    assert built(UnitNormalization(), (3,)).count_params() == 0


@pytest.mark.parametrize("make, message", [
    (lambda: LayerNormalization(axis=3), r"axis 3 is out of bounds for input shape \(None, 4, 5\)"),
    (lambda: LayerNormalization(axis=-4), "out of bounds"),
    (lambda: LayerNormalization(axis=0), "axis 0 is the batch axis"),
    (lambda: LayerNormalization(axis=[1, 1]), "names an axis twice"),
    (lambda: UnitNormalization(axis=5), "out of bounds"),
    (lambda: GroupNormalization(groups=3), r"5 channels .* cannot be split into 3"),
    (lambda: GroupNormalization(groups=8), "cannot be split into 8"),
    (lambda: GroupNormalization(axis=4), "out of bounds"),
    (lambda: RMSNormalization(axis=[0]), "batch axis"),
])
def test_bad_axes_and_groups_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        built(make(), (4, 5))


def test_bad_arguments_are_refused_when_made():
    with pytest.raises(TypeError, match="axis must be an int or a list"):
        LayerNormalization(axis="last")
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        LayerNormalization(epsilon=0)
    with pytest.raises(ValueError, match="groups must be a positive int"):
        GroupNormalization(groups=0)
    with pytest.raises(TypeError, match="axis must be an int"):
        GroupNormalization(axis=[1, 2])
    with pytest.raises(TypeError, match="unknown keyword arguments"):
        LayerNormalization(momentum=0.9)


@needs_opencl
def test_the_normalisations_train_the_same_on_an_opencl_device():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = np.sin(x[:, :2]).astype(np.float32)

    def curve(device):
        return batch_losses([Dense(8, input_shape=(6,)), LayerNormalization(),
                             GroupNormalization(groups=2), RMSNormalization(),
                             UnitNormalization(), Dense(2)], x, y, device=device)[0]
    np.testing.assert_allclose(curve("opencl"), curve("cpu"), rtol=1e-4)


# ---------------------------------------------------------------- against Keras itself

@pytest.mark.parametrize("config", [
    dict(cls="LayerNormalization"), dict(cls="LayerNormalization", axis=[1, 2], epsilon=1e-5),
    dict(cls="LayerNormalization", axis=2, center=False),
    dict(cls="LayerNormalization", rms_scaling=True),
    dict(cls="GroupNormalization", groups=3), dict(cls="GroupNormalization", groups=-1),
    dict(cls="GroupNormalization", groups=2, axis=2),
    dict(cls="UnitNormalization"), dict(cls="UnitNormalization", axis=[1, 3]),
    dict(cls="RMSNormalization"), dict(cls="RMSNormalization", axis=[2, 3], epsilon=1e-3)],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_same_outputs_as_keras_with_the_same_weights(keras, config):
    config = dict(config)
    cls = config.pop("cls")
    x = (2 * RNG.standard_normal((3, 4, 2, 6)) + 0.5).astype(np.float32)
    theirs = getattr(keras.layers, cls)(**config)
    theirs.build((None, 4, 2, 6))
    ours = getattr(__import__("adkit.nn.layers", fromlist=[cls]), cls)(**config)
    model = randomised(built(ours, (4, 2, 6)))
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(theirs(x)), rtol=1e-5,
                               atol=2e-6)


def test_keras_weights_files_cross_both_ways(keras, tmp_path):
    pytest.importorskip("h5py", reason="Keras's .weights.h5 files need h5py")
    from adkit.nn.layers import PReLU
    L = keras.layers
    theirs = keras.Sequential([keras.Input((4, 6)), L.Dense(6), L.LayerNormalization(axis=[1, 2]),
                               L.PReLU(shared_axes=[1]), L.GroupNormalization(groups=3),
                               L.UnitNormalization(), L.Flatten(), L.Dense(2)])
    rng = np.random.default_rng(9)
    theirs.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32)
                        for w in theirs.get_weights()])
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours = Sequential([Dense(6, input_shape=(4, 6)), LayerNormalization(axis=[1, 2]),
                       PReLU(shared_axes=[1]), GroupNormalization(groups=3),
                       UnitNormalization(), Flatten(), Dense(2)])
    ours.load_weights(tmp_path / "k.weights.h5")
    x = rng.standard_normal((5, 4, 6)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs(x)), rtol=1e-5,
                               atol=1e-6)
    ours.save_weights(tmp_path / "a.weights.h5")
    theirs.load_weights(tmp_path / "a.weights.h5")
    np.testing.assert_allclose(np.asarray(theirs(x)), ours.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
