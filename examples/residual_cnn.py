"""A residual CNN on Fashion-MNIST, built with adkit.nn's functional API.

A plain stack cannot add a block's input to its output; a graph can. The model:

    image (28, 28, 1)
      -> Conv2D 16 3x3 relu                              stem
      -> [Conv2D 16 3x3 relu -> Conv2D 16 3x3] + skip -> relu   residual block 1
      -> MaxPooling 2x2
      -> [Conv2D 16 3x3 relu -> Conv2D 16 3x3] + skip -> relu   residual block 2
      -> MaxPooling 2x2 -> Flatten -> Dense 10 softmax

Each residual block ends in `Add()([shortcut, h])`, so its convolutions learn a
correction to the identity (He et al., 2016). The script trains it, prints the
test loss and accuracy, and saves the model (`model.save`, reloaded and checked
to predict the same), its summary, the history as JSON and a learning curve
under --out.

    python examples/residual_cnn.py --limit 5000 --epochs 2
    python examples/residual_cnn.py --epochs 5 --out runs/resnet
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np

from adkit.nn import Input, Model, load_model
from adkit.nn.layers import Activation, Add, Conv2D, Dense, Flatten, MaxPooling2D
from adkit.nn.train import BatchLosses, load_images, plot_learning_curve


def residual_block(x: Any, filters: int, name: str) -> Any:
    """Two 3x3 convolutions whose output is added to the block's input, then relu."""
    h = Conv2D(filters, (3, 3), padding="same", activation="relu", name=f"{name}_conv1")(x)
    h = Conv2D(filters, (3, 3), padding="same", name=f"{name}_conv2")(h)
    return Activation("relu", name=f"{name}_relu")(Add(name=f"{name}_add")([x, h]))


def residual_cnn(filters: int = 16, seed: int = 0) -> Model:
    """The residual CNN above, for 28x28 grey images and ten classes.

    >>> residual_cnn(filters=4).output_shape
    (None, 10)
    """
    image = Input(shape=(28, 28, 1), name="image")
    x = Conv2D(filters, (3, 3), padding="same", activation="relu", name="stem")(image)
    x = residual_block(x, filters, "block1")
    x = MaxPooling2D((2, 2), name="pool1")(x)
    x = residual_block(x, filters, "block2")
    x = MaxPooling2D((2, 2), name="pool2")(x)
    out = Dense(10, activation="softmax", name="classes")(Flatten(name="flatten")(x))
    return Model(image, out, name="residual_cnn", seed=seed)


def main(argv: list[str] | None = None) -> dict:
    """Train the residual CNN, print its test metrics, save it and its curves."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="training epochs")
    parser.add_argument("--limit", type=int, default=None,
                        help="use the first N training and N test examples (default: all)")
    parser.add_argument("--filters", type=int, default=16, help="channels of every convolution")
    parser.add_argument("--batch-size", type=int, default=128, help="examples per step")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and batches")
    parser.add_argument("--out", default="runs/examples/residual_cnn",
                        help="folder for the model, its summary, history and learning curve")
    args = parser.parse_args(argv)
    if args.epochs <= 0 or args.filters <= 0 or args.batch_size <= 0 or \
            (args.limit is not None and args.limit <= 0):
        parser.error("--epochs, --filters, --batch-size and --limit must be positive")

    (x, y), (xt, yt) = load_images(args.limit)
    print(f"Fashion-MNIST: {len(x)} training and {len(xt)} test examples")
    model = residual_cnn(args.filters, args.seed)
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    print("\n".join(lines))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    batches = BatchLosses()
    history = model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=2,
                        validation_data=(xt, yt), callbacks=[batches])
    loss, accuracy = model.evaluate(xt, yt, batch_size=512)
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f}")

    os.makedirs(args.out, exist_ok=True)
    paths = {name: os.path.join(args.out, name) for name in
             ("residual_cnn.adkit", "summary.txt", "history.json", "learning_curve.png")}
    model.save(paths["residual_cnn.adkit"])
    reloaded = load_model(paths["residual_cnn.adkit"])
    probe = xt[:256]
    same = bool(np.array_equal(reloaded.predict(probe), model.predict(probe)))
    print(f"reloaded {paths['residual_cnn.adkit']}: same predictions: {same}")
    with open(paths["summary.txt"], "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(paths["history.json"], "w") as f:
        json.dump(history.history, f, indent=1)
    steps = -(-len(x) // args.batch_size)
    drew = plot_learning_curve(batches, history, steps, paths["learning_curve.png"],
                               "residual CNN on Fashion-MNIST")
    for name, path in paths.items():
        if name != "learning_curve.png" or drew:
            print(f"saved {path}")
    return {"model": model, "history": history.history, "test_loss": loss,
            "test_accuracy": accuracy, "reloaded_same": same, "paths": paths,
            "figure": drew}


if __name__ == "__main__":
    main()
