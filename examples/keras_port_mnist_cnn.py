"""Keras 2's mnist_cnn example, run on adkit.nn by changing its import.

The model, optimiser and training loop are those of Keras 2's examples/mnist_cnn.py;
the code below is written against the Keras API and differs from a Keras script only
in its first import line:

    import keras                  # the Keras script
    import adkit.nn as keras      # this one

The data set is Fashion-MNIST (same layout as MNIST: 28x28 grey images, ten
classes), through `keras.datasets.fashion_mnist.load_data()`. The model:

    Conv2D 32 3x3 relu -> Conv2D 64 3x3 relu -> MaxPooling 2x2 -> Dropout 0.25
      -> Flatten -> Dense 128 relu -> Dropout 0.5 -> Dense 10 softmax

has 1,199,882 parameters, as Keras counts them. It trains with Adadelta at Keras
2's learning rate of 1.0 on one-hot targets (keras.utils.to_categorical). The script
prints the summary and the test loss and accuracy, and writes the model, its summary
and the history as JSON under --out.

    python examples/keras_port_mnist_cnn.py --limit 2000 --epochs 1
    python examples/keras_port_mnist_cnn.py --epochs 12     # Keras's run, on all 60,000
"""

from __future__ import annotations

import argparse
import json
import os

import adkit.nn as keras
from adkit.nn import backend as K

NUM_CLASSES = 10
IMAGE_ROWS, IMAGE_COLS = 28, 28


def mnist_cnn(input_shape: tuple = (IMAGE_ROWS, IMAGE_COLS, 1),
              num_classes: int = NUM_CLASSES) -> keras.Sequential:
    """Keras 2's mnist_cnn model, compiled as that script compiles it.

    >>> mnist_cnn().count_params()
    1199882
    """
    model = keras.models.Sequential()
    model.add(keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu",
                                  input_shape=input_shape))
    model.add(keras.layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(keras.layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(keras.layers.Dropout(0.25))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(128, activation="relu"))
    model.add(keras.layers.Dropout(0.5))
    model.add(keras.layers.Dense(num_classes, activation="softmax"))
    model.compile(loss=keras.losses.categorical_crossentropy,
                  optimizer=keras.optimizers.Adadelta(learning_rate=1.0),
                  metrics=["accuracy"])
    return model


def load_data(limit: int | None) -> tuple:
    """Fashion-MNIST as Keras's script prepares MNIST: float32 images in [0, 1] laid
    out for K.image_data_format(), and one-hot targets."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    if limit is not None:
        x_train, y_train, x_test, y_test = (x_train[:limit], y_train[:limit],
                                            x_test[:limit], y_test[:limit])
    if K.image_data_format() == "channels_first":
        shape = (1, IMAGE_ROWS, IMAGE_COLS)
    else:
        shape = (IMAGE_ROWS, IMAGE_COLS, 1)
    x_train = x_train.reshape((len(x_train),) + shape).astype("float32") / 255
    x_test = x_test.reshape((len(x_test),) + shape).astype("float32") / 255
    return ((x_train, keras.utils.to_categorical(y_train, NUM_CLASSES)),
            (x_test, keras.utils.to_categorical(y_test, NUM_CLASSES)))


def main(argv: list[str] | None = None) -> dict:
    """Train Keras's mnist_cnn on Fashion-MNIST, print its test metrics, save the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1,
                        help="training epochs (Keras's script runs 12)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use the first N training and N test images (default: all)")
    parser.add_argument("--batch-size", type=int, default=128, help="images per step")
    parser.add_argument("--out", default="runs/examples/keras_port_mnist_cnn",
                        help="folder for the model, its summary and the history")
    args = parser.parse_args(argv)
    if args.epochs <= 0 or args.batch_size <= 0 or (args.limit is not None and args.limit <= 0):
        parser.error("--epochs, --batch-size and --limit must be positive")

    (x_train, y_train), (x_test, y_test) = load_data(args.limit)
    print("x_train shape:", x_train.shape)
    print(x_train.shape[0], "train samples")
    print(x_test.shape[0], "test samples")

    model = mnist_cnn(x_train.shape[1:])
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    print("\n".join(lines))
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        verbose=2, validation_data=(x_test, y_test))
    score = model.evaluate(x_test, y_test, verbose=0)
    print("Test loss:", score[0])
    print("Test accuracy:", score[1])

    os.makedirs(args.out, exist_ok=True)
    paths = {name: os.path.join(args.out, name)
             for name in ("mnist_cnn.adkit", "summary.txt", "history.json")}
    model.save(paths["mnist_cnn.adkit"])
    with open(paths["summary.txt"], "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(paths["history.json"], "w") as f:
        json.dump(history.history, f, indent=1)
    for path in paths.values():
        print(f"saved {path}")
    return {"model": model, "history": history.history, "test_loss": score[0],
            "test_accuracy": score[1], "paths": paths}


if __name__ == "__main__":
    main()
