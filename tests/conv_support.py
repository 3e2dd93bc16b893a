"""What the convolution layers' tests share: Keras as an optional referee, a model of one
layer whose weights are set, and a check that a compiled fit trains as the eager one."""

import os

import numpy as np
import pytest

from adkit.nn import Sequential

KERAS_INSTALL = "needs Keras 3 with the JAX backend (pip install keras jax h5py)"


@pytest.fixture(scope="module")
def keras():
    """Keras 3 on JAX as a referee, or a skip that says what to install."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    pytest.importorskip("jax", reason=KERAS_INSTALL)
    keras = pytest.importorskip("keras", reason=KERAS_INSTALL)
    if not keras.__version__.startswith("3."):
        pytest.skip(f"these tests need Keras 3, found {keras.__version__}")
    return keras


def one_layer(layer, input_shape, seed=0):
    """A built Sequential holding only `layer`, for input of input_shape."""
    from adkit.nn import Input
    return Sequential([Input(input_shape), layer], seed=seed)


def same_as_keras(keras, ours, theirs, x, tol=1e-5):
    """Give Keras's layer `theirs` the weights of `ours` (built in a model) and compare
    their outputs on x; the weight shapes must agree as they are, in Keras's order."""
    model = one_layer(ours, x.shape[1:])
    weights = ours.get_weights()
    reference = keras.Sequential([keras.Input(x.shape[1:]), theirs])
    assert [w.shape for w in theirs.get_weights()] == [w.shape for w in weights]
    theirs.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               np.asarray(reference.predict(x, verbose=0)), rtol=tol, atol=tol)
    assert model.count_params() == reference.count_params()


def fit_losses(build, x, y, jit, loss="sparse_categorical_crossentropy", epochs=2):
    """(per-batch losses, final weights) of a short fit of build() with jit_compile=jit."""
    from adkit.nn.callbacks import LambdaCallback
    model = build()
    model.compile(optimizer="adam", loss=loss, jit_compile=jit)
    losses = []
    record = LambdaCallback(on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=[record])
    return np.array(losses), model


def weights_files_cross(twin, build, x, y, loss, tmp_path):
    """Keras's model `twin`, trained a little, saves .weights.h5 that adkit's build(seed)
    loads to the same predictions; and the reverse, from a fresh adkit model to Keras."""
    pytest.importorskip("h5py", reason="Keras's .weights.h5 files need h5py")
    twin.compile(optimizer="adam", loss=loss)
    twin.fit(x, y, epochs=1, batch_size=8, verbose=0)
    twin.save_weights(tmp_path / "keras.weights.h5")
    model = build(seed=5)
    model.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), twin.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    model = build(seed=6)
    model.save_weights(tmp_path / "adkit.weights.h5")
    twin.load_weights(os.fspath(tmp_path / "adkit.weights.h5"))
    np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
