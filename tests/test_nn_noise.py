"""Keras 3's noise layers (GaussianNoise, GaussianDropout, AlphaDropout,
SpatialDropout1D/2D/3D), ActivityRegularization and Identity: inference leaves the input
alone; training draws from the step's generator, the statistics are the documented ones,
a compiled step draws what the eager one draws and new numbers every step; configs and
model files round trip; bad arguments are refused by name."""

import numpy as np
import pytest

import adkit
from adkit.nn import Sequential, load_model
from adkit.nn.optimizers import Adam
from adkit.nn.layers import (ActivityRegularization, AlphaDropout, Conv2D, Dense, Flatten,
                             GaussianDropout, GaussianNoise, Identity, SpatialDropout1D,
                             SpatialDropout2D, SpatialDropout3D, deserialize, serialize)
from adkit.nn.layers.base import Context
from layer_fit_support import batch_losses
from opencl_support import needs_opencl

SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

LAYERS = {
    "gaussian_noise": lambda: GaussianNoise(0.3, seed=4),
    "gaussian_dropout": lambda: GaussianDropout(0.4),
    "alpha_dropout": lambda: AlphaDropout(0.2, noise_shape=[None, 1, 5]),
    "spatial_dropout1d": lambda: SpatialDropout1D(0.5),
    "activity_regularization": lambda: ActivityRegularization(l1=0.01, l2=0.02),
    "identity": lambda: Identity(),
}


def training(seed=0):
    return Context(training=True, rng=np.random.default_rng(seed))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_inference_passes_the_input_through_and_configs_round_trip(name, tmp_path):
    layer = LAYERS[name]()
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    model = Sequential([layer, Flatten(), Dense(2)], seed=0)
    model.build(x.shape[1:])
    assert layer.compute_output_shape((4, 5)) == (4, 5) and model.count_params() == 42
    np.testing.assert_array_equal(layer.call({}, x, Context(training=False)), x)
    again = deserialize(serialize(layer))
    assert type(again) is type(layer) and again.get_config() == layer.get_config()
    model.save(tmp_path / "m.adkit")
    np.testing.assert_array_equal(load_model(tmp_path / "m.adkit").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_gaussian_noise_adds_noise_of_stddev_in_training():
    x = np.full((400, 500), 2.0, np.float32)
    y = GaussianNoise(0.3).call({}, x, training())
    assert y.dtype == np.float32
    assert abs(float(np.mean(y - x))) < 3e-3 and np.std(y - x) == pytest.approx(0.3, rel=0.01)
    same = GaussianNoise(0.3).call({}, x, training())
    np.testing.assert_array_equal(same, y)   # the same generator state, the same noise
    assert not np.array_equal(GaussianNoise(0.3).call({}, x, training(1)), y)


def test_gaussian_dropout_multiplies_by_noise_of_mean_one():
    x = np.full((400, 500), 3.0)
    rate = 0.2
    factor = GaussianDropout(rate).call({}, x, training()) / x
    assert np.mean(factor) == pytest.approx(1.0, abs=3e-3)
    assert np.std(factor) == pytest.approx(np.sqrt(rate / (1 - rate)), rel=0.01)
    g = adkit.grad(lambda v: np.sum(GaussianDropout(rate).call({}, v, training())))(x)
    np.testing.assert_allclose(g, factor)   # d(x * noise)/dx is the noise drawn


def test_alpha_dropout_keeps_mean_and_variance_of_unit_gaussians():
    x = np.random.default_rng(1).standard_normal((500, 400))
    rate = 0.3
    y = AlphaDropout(rate).call({}, x, training())
    assert np.mean(y) == pytest.approx(0.0, abs=0.01) and np.var(y) == pytest.approx(1, abs=0.02)
    alpha_p = -SELU_A * SELU_S
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    dropped = np.isclose(y, a * alpha_p + b)
    assert np.mean(dropped) == pytest.approx(rate, abs=0.01)
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b)


def test_alpha_dropout_shares_its_mask_along_noise_shape_ones():
    x = np.random.default_rng(2).standard_normal((6, 50, 4))
    rate, alpha_p = 0.5, -SELU_A * SELU_S
    y = AlphaDropout(rate, noise_shape=(None, 1, 4)).call({}, x, training())
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    dropped = np.isclose(y, a * alpha_p - a * alpha_p * rate)
    assert 0 < np.mean(dropped) < 1
    assert np.all(dropped == dropped[:, :1, :])


@pytest.mark.parametrize("layer, shape", [(SpatialDropout1D(0.5), (8, 20, 6)),
                                          (SpatialDropout2D(0.5), (8, 5, 4, 6)),
                                          (SpatialDropout3D(0.5), (8, 3, 4, 2, 6))])
def test_spatial_dropout_drops_whole_channels(layer, shape):
    x = np.ones(shape, np.float32)
    y = layer.call({}, x, training())
    assert y.dtype == np.float32
    per_channel = y.reshape(shape[0], -1, shape[-1])
    assert np.all(per_channel == per_channel[:, :1, :])           # one decision per channel
    assert set(np.unique(y)) <= {0.0, 2.0} and 0 < np.mean(y == 0) < 1


def activity_model(l1=0.1, l2=0.2, dtype="float64"):
    return Sequential([Dense(3, input_shape=(4,), dtype=dtype),
                       ActivityRegularization(l1, l2, dtype=dtype), Dense(1, dtype=dtype)],
                      seed=0)


def test_activity_regularization_adds_keras_s_penalty_to_the_loss_and_its_gradient():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 1))
    model = activity_model()
    model.compile(optimizer="sgd", loss="mse")
    (k1, b1), (k2, b2) = model.layers[0].get_weights(), model.layers[2].get_weights()

    def keras_loss(flat):   # Keras: the mean loss plus the penalty of h over the batch size
        k = flat.reshape(4, 3)
        h = x @ k + b1
        mse = np.mean((h @ k2 + b2 - y) ** 2)
        return mse + (0.1 * np.sum(np.abs(h)) + 0.2 * np.sum(h * h)) / 5
    assert model.evaluate(x, y, verbose=0) == pytest.approx(keras_loss(k1.ravel()), rel=1e-12)
    grads = adkit.grad(lambda p: model.loss_fn(p, x, y)[0])(model.params)
    np.testing.assert_allclose(grads[model.layers[0].name]["kernel"].ravel(),
                               adkit.numeric.gradient(keras_loss, k1.ravel()), rtol=1e-7)
    layer = model.layers[1]
    assert np.array_equal(layer.call({}, x, training()), x)        # its output is its input
    assert len(layer.losses) == 1
    assert layer.penalty({}) == pytest.approx((0.1 * np.abs(x).sum() + 0.2 * (x * x).sum()) / 5)


def losses_per_step(make, jit, x, y, epochs=4):
    return batch_losses(make(), x, y, jit=jit, optimizer="sgd", batch_size=len(x),
                        epochs=epochs, seed=5, shuffle=False)


@pytest.mark.parametrize("make", [
    lambda: [GaussianNoise(0.5, input_shape=(4, 3)), Flatten(), Dense(1)],
    lambda: [GaussianDropout(0.3, input_shape=(4, 3)), Flatten(), Dense(1)],
    lambda: [AlphaDropout(0.3, input_shape=(4, 3)), Flatten(), Dense(1)],
    lambda: [SpatialDropout1D(0.5, input_shape=(4, 3)), Flatten(), Dense(1)],
    lambda: [Dense(5, input_shape=(4, 3)), ActivityRegularization(0.01, 0.01), Flatten(),
             Dense(1)],
], ids=["gaussian_noise", "gaussian_dropout", "alpha_dropout", "spatial_dropout", "activity"])
def test_compiled_steps_draw_the_eager_numbers_and_new_ones_every_step(make):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((16, 4, 3)).astype(np.float32)
    y = rng.standard_normal((16, 1)).astype(np.float32)
    compiled, model = losses_per_step(make, "auto", x, y)
    eager, _ = losses_per_step(make, False, x, y)
    step = model.trainer.compiled_step
    assert step is not None and not step.eager_reasons and step.program.stats.replays > 0
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    if not isinstance(model.layers[1], ActivityRegularization):
        # the same batch every step, fresh noise every step: no two losses alike
        assert len(set(np.round(compiled, 7))) == len(compiled)


def test_a_noisy_network_learns():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((128, 6)).astype(np.float32)
    y = (x[:, :1] - 2 * x[:, 1:2]).astype(np.float32)
    model = Sequential([GaussianNoise(0.1, input_shape=(6,)), Dense(16, activation="selu"),
                        AlphaDropout(0.1), Dense(16), GaussianDropout(0.1), Dense(1)], seed=0)
    model.compile(optimizer=Adam(0.01), loss="mse")
    history = model.fit(x, y, batch_size=32, epochs=10, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]


@pytest.mark.parametrize("make, error, message", [
    (lambda: GaussianNoise(1.5), ValueError, r"stddev must be a number in \[0, 1\]"),
    (lambda: GaussianNoise(-0.1), ValueError, "stddev"),
    (lambda: GaussianDropout(1.0), ValueError, r"rate must be a number in \[0, 1\)"),
    (lambda: AlphaDropout("half"), ValueError, "rate must be a number"),
    (lambda: SpatialDropout1D(1.2), ValueError, "rate"),
    (lambda: SpatialDropout2D(0.5, data_format="channels_first"), ValueError, "channels_last"),
    (lambda: GaussianNoise(0.1, seed=1.5), TypeError, "seed must be an int"),
    (lambda: AlphaDropout(0.1, noise_shape="x"), TypeError, "noise_shape"),
    (lambda: ActivityRegularization(l1=-1), ValueError, "l1 must be a number"),
])
def test_bad_arguments_are_refused_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("layer, shape, message", [
    (SpatialDropout1D(0.5), (4, 5, 6), r"\(steps, channels\)"),
    (SpatialDropout2D(0.5), (4, 5), r"\(height, width, channels\)"),
    (AlphaDropout(0.5, noise_shape=(None, 2)), (4, 5), "one entry per axis"),
    (AlphaDropout(0.5, noise_shape=(None, 3, 1)), (4, 5), "1, None or the input's length"),
])
def test_bad_input_shapes_are_refused_when_built(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        Sequential([layer]).build(shape)


def test_training_without_a_generator_says_how_to_get_one():
    with pytest.raises(ValueError, match="GaussianNoise 'noisy' needs a random generator"):
        GaussianNoise(0.1, name="noisy").call({}, np.ones((2, 2)), Context(training=True))


@needs_opencl
def test_on_an_opencl_device_they_draw_what_the_cpu_draws():
    rng = np.random.default_rng(8)
    x = rng.random((16, 6, 6, 2), dtype=np.float32)
    y = rng.standard_normal((16, 1)).astype(np.float32)

    def layers():
        return [Conv2D(3, 3, input_shape=(6, 6, 2)), GaussianNoise(0.2), SpatialDropout2D(0.3),
                GaussianDropout(0.2), AlphaDropout(0.1), Identity(), Flatten(), Dense(1)]
    # the host draws the gaussian noise and AlphaDropout's mask either way; SpatialDropout's
    # mask comes from the device's Philox kernel, so only its statistics can match
    device, _ = batch_losses(layers(), x, y, device="opencl", batch_size=8, epochs=2)
    assert np.all(np.isfinite(device))
    without_spatial = [layer for layer in layers() if not isinstance(layer, SpatialDropout2D)]
    on_cpu, _ = batch_losses(without_spatial, x, y, batch_size=8, epochs=2)
    on_device, _ = batch_losses([layer for layer in layers()
                                 if not isinstance(layer, SpatialDropout2D)],
                                x, y, device="opencl", batch_size=8, epochs=2)
    np.testing.assert_allclose(on_device, on_cpu, rtol=1e-4)
    regularized = Sequential([ActivityRegularization(0.1, input_shape=(4,)), Dense(1)])
    with pytest.raises(ValueError, match=r"layer 'activity_regularization.*' "
                                         r"\(ActivityRegularization\) has no OpenCL"):
        regularized.compile(optimizer="sgd", loss="mse", device="opencl")


def test_keras_weights_files_of_models_with_these_layers_load(tmp_path):
    import os
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed: pip install keras jax")
    pytest.importorskip("h5py", reason="Keras's .weights.h5 files need h5py")
    from adkit.nn.layers import ELU, PReLU, LeakyReLU, ReLU, Softmax
    L = keras.layers
    theirs = keras.Sequential([
        keras.Input((6,)), L.GaussianNoise(0.1), L.Dense(5), L.PReLU(), L.GaussianDropout(0.1),
        L.Dense(5), L.LeakyReLU(), L.AlphaDropout(0.1), L.Dense(5), L.ReLU(), L.ELU(),
        L.ActivityRegularization(0.01), L.Identity(), L.Dense(5), L.PReLU(), L.Softmax()])
    rng = np.random.default_rng(10)
    theirs.set_weights([rng.uniform(-1, 1, w.shape).astype(np.float32)
                        for w in theirs.get_weights()])
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours = Sequential([
        GaussianNoise(0.1, input_shape=(6,)), Dense(5), PReLU(), GaussianDropout(0.1),
        Dense(5), LeakyReLU(), AlphaDropout(0.1), Dense(5), ReLU(), ELU(),
        ActivityRegularization(0.01), Identity(), Dense(5), PReLU(), Softmax()])
    ours.load_weights(tmp_path / "k.weights.h5")
    x = rng.standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs(x)), rtol=1e-5,
                               atol=1e-6)


def test_activity_regularization_reports_keras_s_loss(tmp_path):
    import os
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed: pip install keras jax")
    rng = np.random.default_rng(12)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.standard_normal((16, 1)).astype(np.float32)
    ours = activity_model(0.05, 0.1, dtype="float32")
    ours.compile(optimizer="sgd", loss="mse")
    L = keras.layers
    theirs = keras.Sequential([keras.Input((4,)), L.Dense(3), L.ActivityRegularization(0.05, 0.1),
                               L.Dense(1)])
    theirs.set_weights(ours.get_weights())
    theirs.compile(optimizer="sgd", loss="mse")
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(
        theirs.evaluate(x, y, verbose=0), rel=1e-5)
    h_ours = ours.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False).history["loss"]
    h_theirs = theirs.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False).history["loss"]
    np.testing.assert_allclose(h_ours, h_theirs, rtol=1e-4)
