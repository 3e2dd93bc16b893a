"""Keras scripts ported by changing only their imports (`import adkit.nn as keras`).

Each test is the code of a published Keras script with its imports swapped and its data
made tiny (Fashion-MNIST through `keras.datasets.fashion_mnist.load_data()`, a few
hundred images, one epoch): Keras 2's examples/mnist_cnn.py and mnist_mlp.py, keras-io's
examples/vision/mnist_convnet.py (Keras 3), and the first model of keras-io's
functional API guide. They check that the script runs, that every layer's parameter
count equals Keras's (the counts Keras 3.15 prints for the same models; the test at
the end rebuilds them in Keras when it is installed), that evaluate(verbose=0) gives
[loss, accuracy] and History the keys Keras names, and that training lowers the loss.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from data_support import needs_data
from opencl_support import needs_opencl

import adkit
import adkit.nn as keras
from adkit.nn import backend as K
from adkit.nn import layers
from adkit.nn.datasets import fashion_mnist as mnist
from adkit.nn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from adkit.nn.models import Sequential
from adkit.nn.optimizers import RMSprop
from adkit.nn.utils import np_utils

# Parameters per layer as Keras reports them for these models (model.summary()'s Param #),
# and the totals its scripts and guides print.
MNIST_CNN_PARAMS = [320, 18_496, 0, 0, 0, 1_179_776, 0, 1_290]        # total 1,199,882
MNIST_MLP_PARAMS = [401_920, 0, 262_656, 0, 5_130]                    # total 669,706
MNIST_CONVNET_PARAMS = [320, 0, 18_496, 0, 0, 0, 16_010]              # total 34,826
FUNCTIONAL_GUIDE_PARAMS = [0, 50_240, 4_160, 650]                     # total 55,050


@pytest.fixture(autouse=True)
def fresh_script():
    """Each port runs as a fresh script would: automatic layer names start at `dense`."""
    K.clear_session()


def _per_layer(model):
    return [sum(int(np.size(w)) for w in layer.get_weights()) for layer in model.layers]


def _keras_keys(history):
    """History's keys but `epoch_time`, the seconds per epoch adkit adds to Keras's."""
    return sorted(set(history.history) - {"epoch_time"})


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def _tiny(n_train=256, n_test=128):
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    return (x_train[:n_train], y_train[:n_train]), (x_test[:n_test], y_test[:n_test])


# --- Keras 2, examples/mnist_cnn.py ------------------------------------------------------

@needs_data
def test_keras2_mnist_cnn():
    batch_size = 128
    num_classes = 10
    epochs = 1
    img_rows, img_cols = 28, 28
    (x_train, y_train), (x_test, y_test) = _tiny()

    if K.image_data_format() == 'channels_first':
        x_train = x_train.reshape(x_train.shape[0], 1, img_rows, img_cols)
        x_test = x_test.reshape(x_test.shape[0], 1, img_rows, img_cols)
        input_shape = (1, img_rows, img_cols)
    else:
        x_train = x_train.reshape(x_train.shape[0], img_rows, img_cols, 1)
        x_test = x_test.reshape(x_test.shape[0], img_rows, img_cols, 1)
        input_shape = (img_rows, img_cols, 1)

    x_train = x_train.astype('float32')
    x_test = x_test.astype('float32')
    x_train /= 255
    x_test /= 255

    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)

    model = Sequential()
    model.add(Conv2D(32, kernel_size=(3, 3),
                     activation='relu',
                     input_shape=input_shape))
    model.add(Conv2D(64, (3, 3), activation='relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(128, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(num_classes, activation='softmax'))

    model.compile(loss=keras.losses.categorical_crossentropy,
                  optimizer=keras.optimizers.Adadelta(),
                  metrics=['accuracy'])

    before = model.evaluate(x_train, y_train, verbose=0)
    history = model.fit(x_train, y_train,
                        batch_size=batch_size,
                        epochs=epochs,
                        verbose=0,
                        validation_data=(x_test, y_test))
    score = model.evaluate(x_test, y_test, verbose=0)

    assert input_shape == (28, 28, 1)
    assert _per_layer(model) == MNIST_CNN_PARAMS
    assert model.count_params() == 1_199_882
    assert "Total params: 1,199,882" in _summary(model)
    assert isinstance(score, list) and len(score) == 2 and 0 <= score[1] <= 1
    assert _keras_keys(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert model.evaluate(x_train, y_train, verbose=0)[0] < before[0]


# --- Keras 2, examples/mnist_mlp.py ------------------------------------------------------

@needs_data
def test_keras2_mnist_mlp():
    np.random.seed(1337)
    # np.random.seed seeds neither Keras's initializers nor adkit's: without this the
    # weights depend on how many models earlier tests built, and two RMSprop steps from
    # some of those starts raise the loss
    keras.utils.set_random_seed(1337)
    batch_size = 128
    num_classes = 10
    epochs = 1
    (x_train, y_train), (x_test, y_test) = _tiny()

    x_train = x_train.reshape(256, 784)
    x_test = x_test.reshape(128, 784)
    x_train = x_train.astype('float32')
    x_test = x_test.astype('float32')
    x_train /= 255
    x_test /= 255

    y_train = np_utils.to_categorical(y_train, num_classes)
    y_test = np_utils.to_categorical(y_test, num_classes)

    model = Sequential()
    model.add(Dense(512, activation='relu', input_shape=(784,)))
    model.add(Dropout(0.2))
    model.add(Dense(512, activation='relu'))
    model.add(Dropout(0.2))
    model.add(Dense(10, activation='softmax'))

    summary = _summary(model)

    model.compile(loss='categorical_crossentropy',
                  optimizer=RMSprop(),
                  metrics=['accuracy'])

    before = model.evaluate(x_train, y_train, verbose=0)
    history = model.fit(x_train, y_train,
                        batch_size=batch_size, epochs=epochs,
                        verbose=0, validation_data=(x_test, y_test))
    score = model.evaluate(x_test, y_test, verbose=0)

    assert _per_layer(model) == MNIST_MLP_PARAMS
    for row in ("dense (Dense)", "dropout (Dropout)", "dense_1 (Dense)", "dense_2 (Dense)",
                "(None, 512)", "401,920", "262,656", "5,130", "Total params: 669,706",
                "Trainable params: 669,706", "Non-trainable params: 0"):
        assert row in summary, f"{row!r} missing from the summary:\n{summary}"
    assert len(score) == 2
    assert _keras_keys(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert model.evaluate(x_train, y_train, verbose=0)[0] < before[0]


# --- Keras 3, keras-io examples/vision/mnist_convnet.py ---------------------------------

@needs_data
def test_keras3_mnist_convnet():
    num_classes = 10
    input_shape = (28, 28, 1)
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train, y_train, x_test, y_test = x_train[:256], y_train[:256], x_test[:128], y_test[:128]

    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)

    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)

    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )

    summary = _summary(model)

    batch_size = 128
    epochs = 1

    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

    before = model.evaluate(x_train, y_train, verbose=0)
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                        validation_split=0.1, verbose=0)
    score = model.evaluate(x_test, y_test, verbose=0)

    # The Input is not one of model.layers, as in Keras 3; its shape reached the first layer.
    assert len(model.layers) == 7 and model.input_shape == (None, 28, 28, 1)
    assert _per_layer(model) == MNIST_CONVNET_PARAMS
    assert "max_pooling2d_1 (MaxPooling2D)" in summary and "(None, 5, 5, 64)" in summary
    assert "Total params: 34,826" in summary
    assert len(score) == 2
    assert _keras_keys(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert model.evaluate(x_train, y_train, verbose=0)[0] < before[0]


# --- keras-io guides/functional_api.py, the first model ---------------------------------

@needs_data
def test_functional_guide_first_model(tmp_path):
    inputs = keras.Input(shape=(784,))
    dense = layers.Dense(64, activation="relu")
    x = dense(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")

    (x_train, y_train), (x_test, y_test) = _tiny()
    x_train = x_train.reshape(256, 784).astype("float32") / 255
    x_test = x_test.reshape(128, 784).astype("float32") / 255

    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=["accuracy"]
    )
    before = model.evaluate(x_train, y_train, verbose=0)
    history = model.fit(x_train, y_train, batch_size=64, epochs=1, validation_split=0.2,
                        verbose=0)
    test_scores = model.evaluate(x_test, y_test, verbose=0)

    assert inputs.shape == (None, 784)
    assert _per_layer(model) == FUNCTIONAL_GUIDE_PARAMS
    assert 'Model: "mnist_model"' in _summary(model)
    assert len(test_scores) == 2
    assert _keras_keys(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert model.evaluate(x_train, y_train, verbose=0)[0] < before[0]

    path = str(tmp_path / "path_to_my_model")
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_array_equal(reloaded.predict(x_test, verbose=0),
                                  model.predict(x_test, verbose=0))
    # the reloaded model still takes its outputs as logits
    assert reloaded.evaluate(x_test, y_test, verbose=0) == pytest.approx(test_scores)


# --- Keras's loss classes ---------------------------------------------------------------

def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def test_loss_classes_from_logits_equal_the_log_softmax_formula():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)) * 3
    ids = rng.integers(0, 4, 6)
    weights = rng.uniform(size=6)
    expected = -_log_softmax(logits)[np.arange(6), ids]
    sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert float(sparse(ids, logits)) == pytest.approx(expected.mean(), rel=1e-6)
    assert float(sparse(ids, logits, sample_weight=weights)) == \
        pytest.approx((expected * weights).mean(), rel=1e-6)
    onehot = keras.utils.to_categorical(ids, 4)
    categorical = keras.losses.CategoricalCrossentropy(from_logits=True, reduction="sum")
    assert float(categorical(onehot, logits)) == pytest.approx(expected.sum(), rel=1e-6)
    none = keras.losses.CategoricalCrossentropy(from_logits=True, reduction=None)
    np.testing.assert_allclose(none(onehot, logits), expected, rtol=1e-6)


def test_loss_classes_on_probabilities_equal_the_named_losses():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(3), size=5)
    t = keras.utils.to_categorical(rng.integers(0, 3, 5), 3)
    assert float(keras.losses.CategoricalCrossentropy()(t, p)) == \
        pytest.approx(float(np.mean(-np.log(np.sum(t * p, axis=-1)))), rel=1e-6)
    z = rng.normal(size=(5, 1))
    y = rng.integers(0, 2, (5, 1)).astype(float)
    s = 1 / (1 + np.exp(-z))
    bce = -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s))
    assert float(keras.losses.BinaryCrossentropy(from_logits=True)(y, z)) == \
        pytest.approx(bce, rel=1e-6)
    assert float(keras.losses.BinaryCrossentropy()(y, s)) == pytest.approx(bce, rel=1e-5)
    assert float(keras.losses.MeanSquaredError()(y, s)) == pytest.approx(np.mean((y - s) ** 2))


def test_loss_classes_refuse_what_they_cannot_do():
    with pytest.raises(TypeError, match="from_logits"):   # as Keras: MSE has no such option
        keras.losses.MeanSquaredError(from_logits=True)
    with pytest.raises(ValueError, match="unknown reduction 'mean_of_everything'"):
        keras.losses.MeanSquaredError(reduction="mean_of_everything")
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        keras.losses.CategoricalCrossentropy(label_smoothing=1.5)
    model = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="compile needs one loss per batch"):
        model.compile(optimizer="sgd", loss=keras.losses.MeanSquaredError(reduction=None))


# --- the names these ports rely on ------------------------------------------------------

def test_backend_configuration_calls():
    assert K.image_data_format() == "channels_last"
    assert K.floatx() == "float32" and K.epsilon() == pytest.approx(1e-7)
    K.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="channels_last .* only.*np.moveaxis"):
        K.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match="float32"):
        K.set_floatx("float16")


def test_clear_session_restarts_layer_names():
    K.clear_session()
    assert [Dense(1).name, Dense(1).name] == ["dense", "dense_1"]
    K.clear_session()
    assert Dense(1).name == "dense"


def test_np_utils_is_keras2s_home_of_to_categorical():
    np.testing.assert_array_equal(np_utils.to_categorical([2, 0], 3),
                                  [[0, 0, 1], [1, 0, 0]])
    assert np_utils.to_categorical is keras.utils.to_categorical


def test_sequential_input_declares_the_shape_and_is_not_a_layer():
    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(2, activation="relu"))
    assert [type(layer).__name__ for layer in model.layers] == ["Dense"]
    assert model.input_shape == (None, 4) and model.output_shape == (None, 2)
    assert model.predict(np.ones((3, 4), np.float32), verbose=0).shape == (3, 2)
    model = keras.Sequential([layers.InputLayer(shape=(3,)), layers.Dense(5)])
    assert _per_layer(model) == [3 * 5 + 5]
    model = keras.Sequential([layers.InputLayer(input_shape=(3,)), layers.Dense(5)])   # Keras 2
    assert model.input_shape == (None, 3)


def test_sequential_input_after_a_layer_is_refused():
    model = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="an Input can only start a Sequential model"):
        model.add(keras.Input(shape=(3,)))


def test_sequential_pop_keeps_the_other_weights_and_asks_for_compile():
    # keras-io's Sequential guide: "model.pop() ... print(len(model.layers))  # 2"
    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu", input_shape=(3,)))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    model.compile(optimizer="adam", loss="mse")
    kept = [w.copy() for w in model.get_weights()[:4]]
    popped = model.pop()
    assert popped.name == "dense_2" and len(model.layers) == 2
    assert model.output_shape == (None, 3)
    for before, after in zip(kept, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    with pytest.raises(ValueError, match="compile the model first"):
        model.fit(np.ones((4, 3)), np.ones((4, 3)), verbose=0)
    model.pop()
    model.pop()
    with pytest.raises(TypeError, match="no layers .* to pop"):
        model.pop()


def test_model_weights_are_the_live_arrays_in_get_weights_order():
    # keras-io's Sequential guide: after model(x), len(model.weights) == 6
    model = keras.Sequential([layers.Dense(2, activation="relu"),
                              layers.Dense(3, activation="relu"), layers.Dense(4)])
    with pytest.raises(ValueError, match="not built"):
        model.weights
    model(np.ones((1, 4)))
    assert [w.shape for w in model.weights] == [(4, 2), (2,), (2, 3), (3,), (3, 4), (4,)]
    model.weights[1][:] = 7.0   # the arrays themselves, as Keras's variables are
    np.testing.assert_array_equal(model.get_weights()[1], [7.0, 7.0])


# --- against Keras itself ---------------------------------------------------------------

_KERAS_COUNTS = textwrap.dedent("""
    import json, keras
    from keras import layers
    def counts(model):
        return [layer.count_params() for layer in model.layers]
    cnn = keras.Sequential([keras.Input((28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)), layers.Dropout(0.25), layers.Flatten(),
        layers.Dense(128, activation="relu"), layers.Dropout(0.5),
        layers.Dense(10, activation="softmax")])
    mlp = keras.Sequential([keras.Input((784,)), layers.Dense(512, activation="relu"),
        layers.Dropout(0.2), layers.Dense(512, activation="relu"), layers.Dropout(0.2),
        layers.Dense(10, activation="softmax")])
    convnet = keras.Sequential([keras.Input((28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")])
    inputs = keras.Input((784,))
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    functional = keras.Model(inputs, layers.Dense(10)(x))
    print(json.dumps([counts(cnn), counts(mlp), counts(convnet), counts(functional)]))
""")


def test_parameter_counts_equal_keras():
    # found, not imported: Keras picks its backend (and TensorFlow by default) on import
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None:
        pytest.skip("the cross-check runs Keras 3 on JAX: pip install keras jax")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    # in a child process: Keras sets process-wide state (backend, logging) on import
    done = subprocess.run([sys.executable, "-c", _KERAS_COUNTS], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    keras_counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert keras_counts == [MNIST_CNN_PARAMS, MNIST_MLP_PARAMS, MNIST_CONVNET_PARAMS,
                            FUNCTIONAL_GUIDE_PARAMS]


def test_merge_functions_build_the_merge_layers():
    # the functional API guide: layers.add, layers.concatenate, layers.average
    a, b = keras.Input(shape=(3,)), keras.Input(shape=(3,))
    outputs = [layers.add([a, b]), layers.subtract([a, b]), layers.multiply([a, b]),
               layers.average([a, b]), layers.maximum([a, b]), layers.minimum([a, b]),
               layers.concatenate([a, b], name="joined"), layers.dot([a, b], axes=1)]
    model = keras.Model([a, b], outputs)
    assert model.get_layer("joined").__class__.__name__ == "Concatenate"
    x = np.array([[1.0, -2.0, 3.0]], np.float32)
    y = np.array([[4.0, 5.0, -6.0]], np.float32)
    got = model.predict([x, y], verbose=0)
    expected = [x + y, x - y, x * y, (x + y) / 2, np.maximum(x, y), np.minimum(x, y),
                np.concatenate([x, y], axis=1), np.sum(x * y, axis=1, keepdims=True)]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-6)


# --- global pooling, as the Sequential and functional guides use it ---------------------

@pytest.mark.parametrize("cls, reduce", [(layers.GlobalMaxPooling2D, np.max),
                                         (layers.GlobalAveragePooling2D, np.mean)])
def test_global_pooling_values_shapes_and_gradient(cls, reduce):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 4, 3))
    model = keras.Sequential([keras.Input(shape=(5, 4, 3)), cls(), layers.Dense(2)], seed=0)
    assert model.layers[0].compute_output_shape((5, 4, 3)) == (3,)
    assert cls(keepdims=True).compute_output_shape((5, 4, 3)) == (1, 1, 3)
    inputs = keras.Input(shape=(5, 4, 3))
    pool_only = keras.Model(inputs, cls()(inputs))
    np.testing.assert_allclose(pool_only.predict(x, verbose=0), reduce(x, axis=(1, 2)),
                               rtol=1e-6)
    params = model.params
    y = rng.normal(size=(2, 2))

    def loss_of_input(images):
        return np.sum((model.apply(params, images)[0] - y) ** 2)

    adkit.check_grads(loss_of_input, (x,), modes=("reverse", "numeric"))
    with pytest.raises(ValueError, match="channels_last"):
        cls(data_format="channels_first")
    with pytest.raises(ValueError, match="height, width, channels"):
        keras.Sequential([cls(input_shape=(7,))])


@needs_opencl
@pytest.mark.parametrize("cls", [layers.GlobalMaxPooling2D, layers.GlobalAveragePooling2D])
def test_global_pooling_predicts_the_same_on_an_opencl_device(cls):
    model = keras.Sequential([keras.Input(shape=(6, 6, 2)), layers.Conv2D(3, 3, activation="relu"),
                              cls(), layers.Dense(2, activation="softmax")], seed=0)
    x = np.random.default_rng(0).random((8, 6, 6, 2)).astype("float32")
    on_host = model.predict(x, verbose=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", device="opencl")
    np.testing.assert_allclose(model.predict(x, verbose=0), on_host, atol=1e-6)
    history = model.fit(x, np.arange(8) % 2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
