"""The Keras side of tests/test_nn_functional.py's cross-check, run in its own process
(importing Keras and JAX into the test process would change its BLAS thread pools):

    python keras_functional_twin.py train DIR   # train the graph, save DIR/k.weights.h5
                                                # and its predictions DIR/k.npy
    python keras_functional_twin.py read DIR    # load DIR/a.weights.h5, predict to DIR/a.npy

The same function builds the graph in adkit.nn (test side) and in Keras (here)."""

import os
import sys

import numpy as np


def residual_two_input_graph(api, L):
    """One graph in either library: `api` has Input and Model, `L` the layers."""
    image = api.Input(shape=(8, 8, 1), name="image")
    extra = api.Input(shape=(3,), name="extra")
    h = L.Conv2D(4, (3, 3), padding="same", activation="relu", name="c1")(image)
    h = L.Add(name="skip")([h, L.Conv2D(4, (3, 3), padding="same", name="c2")(h)])
    h = L.Flatten(name="flat")(L.MaxPooling2D((2, 2), name="pool")(h))
    h = L.Concatenate(name="join")([h, L.Dense(5, activation="tanh", name="side")(extra)])
    return api.Model([image, extra], L.Dense(3, activation="softmax", name="out")(h))


def data():
    rng = np.random.default_rng(0)
    x = [rng.random((16, 8, 8, 1), dtype=np.float32), rng.random((16, 3), dtype=np.float32)]
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    return x, y


def main(mode, folder):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    x, y = data()
    twin = residual_two_input_graph(keras, keras.layers)
    if mode == "train":
        twin.compile(optimizer="adam", loss="categorical_crossentropy")
        twin.fit(x, y, epochs=2, batch_size=8, verbose=0)
        twin.save_weights(os.path.join(folder, "k.weights.h5"))
        np.save(os.path.join(folder, "k.npy"), twin.predict(x, verbose=0))
    else:
        twin.load_weights(os.path.join(folder, "a.weights.h5"))
        np.save(os.path.join(folder, "a.npy"), twin.predict(x, verbose=0))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
