"""The networks the textbook and the benchmarks train on Fashion-MNIST."""

from __future__ import annotations

from .layers import Activation, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Reshape
from .model import Sequential


def textbook_cnn(num_classes: int = 10, seed: int | None = None) -> Sequential:
    """Conv 32 3x3, relu, conv 32 3x3, relu, max-pool 2x2, dropout .25, flatten,
    dense 128, relu, dropout .5, dense 10, softmax (Keras's mnist_cnn)."""
    return Sequential([
        Conv2D(32, (3, 3), padding="valid", input_shape=(28, 28, 1)), Activation("relu"),
        Conv2D(32, (3, 3)), Activation("relu"),
        MaxPooling2D(pool_size=(2, 2)), Dropout(0.25), Flatten(),
        Dense(128), Activation("relu"), Dropout(0.5),
        Dense(num_classes), Activation("softmax")], name="textbook_cnn", seed=seed)


def mlp(num_classes: int = 10, hidden: tuple = (512, 512), seed: int | None = None) -> Sequential:
    """784-512-512-10 relu network on flattened images."""
    layers = [Flatten(input_shape=(28, 28, 1))]
    layers += [Dense(n, activation="relu") for n in hidden]
    layers += [Dense(num_classes, activation="softmax")]
    return Sequential(layers, name="mlp", seed=seed)


def lstm(num_classes: int = 10, units: int = 128, seed: int | None = None) -> Sequential:
    """An LSTM reading each image as 28 rows of 28 pixels."""
    from .layers.recurrent import LSTM
    return Sequential([Reshape((28, 28), input_shape=(28, 28, 1)), LSTM(units),
                       Dense(num_classes, activation="softmax")], name="lstm", seed=seed)


MODELS = {"cnn": textbook_cnn, "mlp": mlp, "lstm": lstm}
