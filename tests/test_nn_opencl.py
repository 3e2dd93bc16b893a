"""adkit.nn on an OpenCL device (PoCL's CPU device in CI): training reproduces the numpy
backend step for step, only the batch goes up and the loss comes down, and what cannot
run on a device says so at compile time."""

import sys

import numpy as np
import pytest

from opencl_support import needs_opencl

from adkit import kernels
from adkit.kernels.runtime import OpenCLUnavailable
from adkit.nn import Sequential, backend, load_model, zoo
from adkit.nn.callbacks import LambdaCallback
from adkit.nn.layers import (LSTM, AveragePooling2D, Activation, Conv2D, Dense, Dropout,
                             Flatten, MaxPooling2D)
from adkit.nn.numpy_backend import NumpyBackend
from adkit.nn.optimizers import SGD, Adam, RMSprop


class PhiloxNumpyBackend(NumpyBackend):
    """The numpy backend with the device's dropout generator: one draw from the step's rng
    keys Philox-4x32-10, as OpenCLBackend.dropout_mask does (the NumPy reference of the
    kernel, bit for bit), so both backends drop the same units."""

    name = "numpy-philox"

    def dropout_mask(self, shape, rate, rng, dtype):
        from adkit.kernels.elementwise import dropout_mask_reference
        return dropout_mask_reference(shape, rate, int(rng.integers(0, 2**63)), 0).astype(dtype)


@pytest.fixture
def philox_numpy():
    backend.register_backend("numpy-philox", PhiloxNumpyBackend)
    backend.set_backend("numpy-philox")
    yield
    backend.set_backend("numpy")


def images(n, seed=0, size=12, classes=4):
    """Blobs whose brightness pattern depends on the class: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.random((n, size, size, 1), dtype=np.float32) * 0.5
    for c in range(classes):
        x[y == c, c * size // classes:(c + 1) * size // classes] += 0.5
    return x, y


def small_cnn(classes=4, pooling=MaxPooling2D):
    return Sequential([
        Conv2D(6, (3, 3), input_shape=(12, 12, 1)), Activation("relu"),
        Conv2D(8, (3, 3), padding="same", activation="relu"), pooling((2, 2)),
        Dropout(0.25), Flatten(), Dense(16, activation="relu"), Dropout(0.5),
        Dense(classes, activation="softmax")], seed=3)


def train(model, x, y, device, optimizer="adadelta", loss="sparse_categorical_crossentropy",
          epochs=2, batch_size=32, metrics=("accuracy",)):
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics), device=device)
    losses = []
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[
        LambdaCallback(on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))])
    return np.array(losses)


# --- the same numbers on both backends ----------------------------------------------------------

@needs_opencl
@pytest.mark.parametrize("pooling", [MaxPooling2D, AveragePooling2D])
def test_cnn_with_dropout_reproduces_the_numpy_loss_curve(philox_numpy, pooling):
    x, y = images(160)
    on_cpu, on_device = small_cnn(pooling=pooling), small_cnn(pooling=pooling)
    curve_cpu = train(on_cpu, x, y, "cpu")
    curve_device = train(on_device, x, y, "opencl")
    assert len(curve_cpu) == 10
    np.testing.assert_allclose(curve_device, curve_cpu, rtol=1e-4)
    assert curve_cpu[-1] < curve_cpu[0]          # it learned: the comparison is not trivial
    for a, b in zip(on_device.get_weights(), on_cpu.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    xt, yt = images(64, seed=1)
    np.testing.assert_allclose(on_device.predict(xt, batch_size=20), on_cpu.predict(xt),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(on_device.evaluate(xt, yt), on_cpu.evaluate(xt, yt), rtol=1e-4)


@needs_opencl
def test_the_textbook_cnn_takes_the_same_steps_on_the_device(philox_numpy):
    rng = np.random.default_rng(0)
    x = rng.random((96, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 96)
    curves = [train(zoo.textbook_cnn(seed=0), x, y, d, epochs=1) for d in ("cpu", "opencl")]
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-4)


@needs_opencl
@pytest.mark.parametrize("make", [
    lambda: SGD(0.1), lambda: SGD(0.05, momentum=0.9, nesterov=True),
    lambda: RMSprop(0.01, momentum=0.5, centered=True), lambda: Adam(0.01, amsgrad=True),
    lambda: "adadelta"], ids=["sgd", "nesterov", "rmsprop-centered", "amsgrad", "adadelta"])
def test_every_device_optimizer_matches_its_numpy_form(make):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((96, 7)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0)]

    def mlp():
        return Sequential([Dense(9, activation="tanh", input_shape=(7,)),
                           Dense(3, activation="softmax")], seed=5)
    curves = [train(mlp(), x, y, d, optimizer=make(), loss="categorical_crossentropy",
                    epochs=3, batch_size=16) for d in ("cpu", "opencl")]
    np.testing.assert_allclose(curves[1], curves[0], rtol=2e-5)


@needs_opencl
def test_device_weights_come_home_after_fit_and_save_and_reload(tmp_path):
    x, y = images(64)
    model = small_cnn()
    before = [w.copy() for w in model.get_weights()]
    train(model, x, y, "opencl", optimizer="adam", epochs=1)
    after = model.get_weights()
    assert all(isinstance(w, np.ndarray) for w in after)
    assert any(not np.allclose(a, b) for a, b in zip(after, before))
    model.save(tmp_path / "m.adkit")
    again = load_model(tmp_path / "m.adkit")
    for a, b in zip(again.get_weights(), after):
        np.testing.assert_array_equal(a, b)
    # the device fit continues from the host weights and the saved optimizer state
    again.compile(optimizer=again.optimizer, loss="sparse_categorical_crossentropy",
                  device="opencl")
    again.fit(x, y, batch_size=32, epochs=1, verbose=0)


@needs_opencl
def test_activations_written_with_masks_train_the_same_on_the_device():
    # elu is np.where(x > 0, x, expm1(min(x, 0))), hard_sigmoid a clip, softplus a
    # logaddexp: comparisons, masks, where and tie weights all on the device
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = np.sin(x[:, :2]).astype(np.float32)

    def net():
        return Sequential([Dense(8, activation="elu", input_shape=(5,)),
                           Dense(6, activation="hard_sigmoid"),
                           Dense(4, activation="softplus"), Dense(2)], seed=1)
    curves = [train(net(), x, y, d, optimizer="adam", loss="mse", metrics=(), batch_size=16)
              for d in ("cpu", "opencl")]
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-5)


# --- transfers ----------------------------------------------------------------------------------

@needs_opencl
@pytest.mark.parametrize("metrics", [(), ("accuracy",)])
def test_a_training_step_moves_the_batch_up_and_the_loss_down(metrics):
    dev = kernels.device()
    x, y = images(96)
    model = small_cnn()
    model.compile(optimizer="adadelta", loss="sparse_categorical_crossentropy",
                  metrics=list(metrics), device="opencl")
    seen = []

    def begin(batch, logs=None):
        seen.append((dev.bytes_to_device, dev.bytes_from_device, dev.transfers))

    model.fit(x, y, batch_size=32, epochs=1, verbose=0,
              callbacks=[LambdaCallback(on_train_batch_begin=begin)])
    (up0, down0, n0), (up1, down1, n1) = seen[1], seen[2]    # the whole of step 2
    assert up1 - up0 == 32 * 12 * 12 * 4 + 32 * 4      # float32 images, int32 labels
    # the loss (4 bytes); with metrics, the batch's predictions as well
    assert down1 - down0 == 4 + (32 * 4 * 4 if metrics else 0)
    assert n1 - n0 == 3 + bool(metrics)


# --- what does not run on a device ---------------------------------------------------------

@needs_opencl
def test_compile_names_what_cannot_run_on_the_device():
    lstm = Sequential([LSTM(4, input_shape=(3, 2)), Dense(1)])
    with pytest.raises(ValueError, match=r"layer 'lstm.*' \(LSTM\) has no OpenCL implementation"
                                         r".*device='cpu'"):
        lstm.compile(optimizer="adam", loss="mse", device="opencl")
    dense = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match=r"ESGD has no OpenCL kernel; .*SGD.*RMSprop.*Adadelta"):
        dense.compile(optimizer="esgd", loss="mse", device="opencl")
    with pytest.raises(ValueError, match="clipnorm run on the host only"):
        dense.compile(optimizer=SGD(clipnorm=1.0), loss="mse", device="opencl")
    with pytest.raises(ValueError, match="matches no OpenCL device"):
        dense.compile(optimizer="sgd", loss="mse", device="opencl:no-such-device")
    dense.compile(optimizer="sgd", loss="mse", device="cpu")   # the CPU path still works


@needs_opencl
def test_an_unsupported_numpy_call_on_the_device_names_the_function():
    def cumulative_error(y_true, y_pred):
        return np.mean(np.cumsum(y_pred - y_true, axis=-1) ** 2, axis=-1)

    model = Sequential([Dense(2, input_shape=(3,))])
    model.compile(optimizer="sgd", loss=cumulative_error, device="opencl")
    with pytest.raises(NotImplementedError,
                       match=r"np\.cumsum is not implemented for DeviceArray.*np\.asarray"):
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)


def test_without_opencl_compile_says_how_to_get_it_and_cpu_still_trains(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyopencl", None)   # `import pyopencl` now fails
    kernels.clear_cache()
    try:
        model = Sequential([Dense(2, input_shape=(3,))], seed=0)
        with pytest.raises(OpenCLUnavailable, match=r'pip install "pyopencl\[pocl\]"'):
            model.compile(optimizer="sgd", loss="mse", device="opencl")
        model.compile(optimizer="sgd", loss="mse", device="cpu")
        history = model.fit(np.ones((8, 3)), np.zeros((8, 2)), verbose=0, epochs=2)
        assert history.history["loss"][1] < history.history["loss"][0]
    finally:
        kernels.clear_cache()
