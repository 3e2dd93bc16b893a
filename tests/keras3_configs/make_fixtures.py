"""Write the Keras 3 fixtures tests/test_nn_keras_configs.py reads without Keras: for each
model below, Keras's own `model.to_json()`, its weights (get_weights order) and its
predictions on fixed inputs, as JSON text. Run with Keras 3 installed:

    KERAS_BACKEND=jax python tests/keras3_configs/make_fixtures.py
"""

import json
import os

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
try:
    import keras  # noqa: E402  (the backend must be chosen first)
except ImportError:   # pytest's --doctest-modules imports this file too; it runs only with Keras
    keras = None

HERE = os.path.dirname(os.path.abspath(__file__))


def mlp():
    L = keras.layers
    return keras.Sequential([
        keras.Input((4,)),
        L.Dense(6, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-3),
                kernel_initializer=keras.initializers.HeNormal(seed=1)),
        L.Dropout(0.2),
        L.Dense(3, activation="softmax")], name="mlp")


def cnn():
    L = keras.layers
    return keras.Sequential([
        keras.Input((6, 6, 1)),
        L.Conv2D(2, 3, padding="same", activation="relu",
                 kernel_constraint=keras.constraints.MaxNorm(2.0)),
        L.BatchNormalization(),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(2)], name="cnn")


def functional():
    L = keras.layers
    a = keras.Input((3,), name="a")
    b = keras.Input((2,), name="b")
    shared = L.Dense(4, activation="tanh", name="shared")
    merged = L.Concatenate(name="merge")([shared(a), L.Dense(4, name="from_b")(b)])
    hidden = L.Dense(5, activation="relu", name="hidden")(merged)
    again = shared(L.Dense(3, name="back")(hidden))
    out_1 = L.Dense(1, activation="sigmoid", name="score")(hidden)
    out_2 = L.Add(name="sum")([again, L.Dense(4, name="skip")(merged)])
    return keras.Model([a, b], [out_1, out_2], name="two_heads")


def rnn():
    L = keras.layers
    return keras.Sequential([
        keras.Input((5,), dtype="int32"),
        L.Embedding(10, 3),
        L.LSTM(4, return_sequences=True),
        L.GlobalAveragePooling1D(),
        L.Dense(2)], name="rnn")


def inputs_for(name, rng):
    if name == "functional":
        return [rng.standard_normal((2, 3)).astype("float32"),
                rng.standard_normal((2, 2)).astype("float32")]
    if name == "rnn":
        return rng.integers(0, 10, (2, 5)).astype("int32")
    shape = {"mlp": (2, 4), "cnn": (2, 6, 6, 1)}[name]
    return rng.standard_normal(shape).astype("float32")


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    for make in (mlp, cnn, functional, rnn):
        model = make()
        for w in model.weights:   # BatchNormalization's statistics away from 0 and 1
            if "moving" in w.path:
                w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
        x = inputs_for(make.__name__, rng)
        y = model.predict(x, verbose=0)
        record = {"keras_version": keras.__version__,
                  "json": model.to_json(),
                  "x": [a.tolist() for a in x] if isinstance(x, list) else x.tolist(),
                  "weights": [w.tolist() for w in model.get_weights()],
                  "y": [a.tolist() for a in y] if isinstance(y, list) else y.tolist()}
        with open(os.path.join(HERE, f"{make.__name__}.json"), "w") as f:
            json.dump(record, f, indent=None)
            f.write("\n")


if __name__ == "__main__":
    main()
