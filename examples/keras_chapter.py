"""The textbook's Keras chapter (listings 7-1 to 7-8), rebuilt on adkit.nn.

Each listing is one --listing choice:

    binary       7-1  one Dense unit + sigmoid, binary cross-entropy, rmsprop
    binary2      7-2  Dense 32 sigmoid -> Dense 1 sigmoid
    multiclass   7-3  Dense 32 relu -> Dense 10 softmax, one-hot labels
    regression   7-4  the 7-2 network fitted by mean squared error
    optimizers   7-5  the 7-1 network under sgd, rmsprop, adagrad, adadelta, adam, adamax, nadam
    activations  7-6  the 7-1 network with relu, tanh, sigmoid, hard_sigmoid, linear outputs
    cnn          7-7  two 3x3 convolutions, max-pooling, dropout, dense 128 (adkit.nn.zoo)
    lstm         7-8  an LSTM over image rows (adkit.nn.zoo)
    all               every one of them in turn

The first six train on the chapter's own synthetic data: 1000 points drawn
uniformly from [0, 1)^500 with labels drawn at random, independent of the
points. There is nothing to learn, so what training buys is memorisation of
the training set: accuracy moves a little above chance, as the book's printed
numbers do (0.507 -> 0.563 for listing 7-1). Unlike the book, which draws new
data inside each call, the comparisons give every optimizer or activation the
same data, so their curves differ only by what is compared.

Listing 7-6 puts non-squashing activations (relu, tanh, linear) in front of a
binary cross-entropy. Their outputs leave [0, 1], the loss clips them to
[1e-7, 1 - 1e-7] and then grows to about -log(1e-7) = 16 per wrong example, so
those losses rise during training, as they do in the book (2.70 -> 7.74 for
relu). Only sigmoid and hard_sigmoid belong there. On one data set relu and
linear give identical numbers: a negative output is clipped to 1e-7 either
way, and between 0 and 1 the two are the same function.

The CNN and the LSTM train on Fashion-MNIST, which is installed here, instead
of MNIST (same shapes, ten classes). The book's LSTM classifies IMDB reviews,
which cannot be fetched on this machine (nothing is downloaded), so the LSTM
reads each 28x28 image as a sequence of 28 rows of 28 pixels and predicts its
class out of ten (softmax) where the book predicted one of two (sigmoid). The
book's dropout inside the LSTM (dropout_W, dropout_U) has no counterpart:
adkit.nn.layers.LSTM has no input or recurrent dropout.

Each listing prints the model summary (where the book drew the graph with
plot()), the loss and metrics before and after training, one line per epoch,
and saves a learning curve PNG under --out.

    python examples/keras_chapter.py --listing binary
    python examples/keras_chapter.py --listing optimizers --epochs 20
    python examples/keras_chapter.py --listing cnn --limit 2000
    python examples/keras_chapter.py --listing all --limit 1000 --out runs/keras
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

from adkit.nn import Sequential, zoo
from adkit.nn.layers import Activation, Dense
from adkit.nn.losses import mean_squared_error
from adkit.nn.train import BatchLosses, load_images, plot_learning_curve
from adkit.nn.utils import to_categorical

LISTINGS = ("binary", "binary2", "multiclass", "regression", "optimizers", "activations",
            "cnn", "lstm")
OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamax", "nadam")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "hard_sigmoid", "linear")


def random_data(n_samples: int = 1000, n_features: int = 500, n_classes: int = 2,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The chapter's synthetic set: points uniform in [0, 1)^n_features, labels
    uniform in 0..n_classes-1 and unrelated to the points.

    Returns x of shape (n_samples, n_features) and integer labels of shape (n_samples, 1).

    >>> x, y = random_data(4, 3, seed=1)
    >>> x.shape, y.shape, set(y.ravel()) <= {0, 1}
    ((4, 3), (4, 1), True)
    """
    rng = np.random.default_rng(seed)
    x = rng.random((n_samples, n_features))
    y = rng.integers(0, n_classes, size=(n_samples, 1))
    return x, y


def _scores(model: Sequential, score: Any) -> dict[str, float]:
    """evaluate()'s answer as {metric name: value}."""
    values = score if isinstance(score, list) else [score]
    return dict(zip(model.metrics_names, (float(v) for v in values)))


def _shown(scores: dict[str, float]) -> str:
    """Scores as the book prints them: a list of (name, value) pairs."""
    return "[" + ", ".join(f"('{k}', {v:.4f})" for k, v in scores.items()) + "]"


def train_and_report(model: Sequential, x: np.ndarray, y: np.ndarray, epochs: int,
                     batch_size: int, summary: bool = True) -> dict[str, Any]:
    """Evaluate, fit (one line per epoch), evaluate again, printing as the book does.

    Returns {"before": scores, "after": scores, "history": per-epoch logs}.
    """
    if summary:
        model.summary()
    before = _scores(model, model.evaluate(x, y, batch_size=256))
    print("Before Training:", _shown(before))
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=2)
    after = _scores(model, model.evaluate(x, y, batch_size=256))
    print("After Training:", _shown(after))
    return {"before": before, "after": after, "history": history.history}


def single_layer(activation: str = "sigmoid", n_features: int = 500, seed: int = 0) -> Sequential:
    """Listing 7-1: one Dense unit on n_features inputs, then an activation."""
    return Sequential([Dense(1, input_shape=(n_features,)), Activation(activation)],
                      name="single_layer", seed=seed)


def two_layer(hidden_activation: str, outputs: int, output_activation: str,
              n_features: int = 500, seed: int = 0) -> Sequential:
    """Listings 7-2 to 7-4: Dense 32 + activation, then Dense(outputs) + activation."""
    return Sequential([Dense(32, input_shape=(n_features,)), Activation(hidden_activation),
                       Dense(outputs), Activation(output_activation)],
                      name="two_layer", seed=seed)


def plot_histories(histories: dict[str, dict], path: str, title: str,
                   metric: str | None = None) -> bool:
    """Loss per epoch (and `metric` per epoch, in a second panel) for each run in
    `histories` (label -> History.history); False without matplotlib."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = ["loss"] + ([metric] if metric else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, key in zip(axes[0], panels):
        for label, h in histories.items():
            values = h.get(key, [])
            ax.plot(np.arange(1, len(values) + 1), values, "o-", ms=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"training {key}")
        ax.set_yscale("log" if key == "loss" and len(histories) > 1 else "linear")
        if len(histories) > 1:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _save(saved: bool, path: str) -> str | None:
    print(f"learning curve saved to {path}" if saved else
          "matplotlib is not installed, so no learning curve was drawn")
    return path if saved else None


def _dense_listing(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Listings 7-1 to 7-4 on the chapter's random data."""
    epochs, batch = args.epochs or 10, args.batch_size or 32
    if name == "binary":
        x, y = random_data(args.n_samples, args.features, 2, args.seed)
        model = single_layer("sigmoid", args.features, args.seed)
        loss, metric = "binary_crossentropy", "accuracy"
    elif name == "binary2":
        x, y = random_data(args.n_samples, args.features, 2, args.seed)
        model = two_layer("sigmoid", 1, "sigmoid", args.features, args.seed)
        loss, metric = "binary_crossentropy", "accuracy"
    elif name == "multiclass":
        x, labels = random_data(args.n_samples, args.features, 10, args.seed)
        y = to_categorical(labels, 10)
        model = two_layer("relu", 10, "softmax", args.features, args.seed)
        loss, metric = "categorical_crossentropy", "categorical_accuracy"
    else:  # regression: the 7-2 network and 0/1 targets, fitted by squared error
        x, y = random_data(args.n_samples, args.features, 2, args.seed)
        model = two_layer("sigmoid", 1, "sigmoid", args.features, args.seed)
        # adkit.nn.metrics has no "mean_squared_error" name; a function is a metric too.
        loss, metric = "mse", mean_squared_error
    model.compile(optimizer="rmsprop", loss=loss, metrics=[metric])
    result = train_and_report(model, x, y.astype(np.float32), epochs, batch)
    key = model.metrics_names[1]
    path = os.path.join(args.out, f"{name}_learning_curve.png")
    result["png"] = _save(plot_histories({name: result["history"]}, path,
                                         f"listing {name}: {len(x)} random points", key), path)
    return result


def _comparison(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Listings 7-5 (optimizers) and 7-6 (activations): the 7-1 network, one choice varied."""
    epochs, batch = args.epochs or 10, args.batch_size or 32
    x, y = random_data(args.n_samples, args.features, 2, args.seed)
    choices = OPTIMIZERS if name == "optimizers" else ACTIVATIONS
    runs = {}
    for choice in choices:
        print(f"{'Optimiser' if name == 'optimizers' else 'Activation'}: {choice}")
        if name == "optimizers":
            model = single_layer("sigmoid", args.features, args.seed)
            model.compile(optimizer=choice, loss="binary_crossentropy", metrics=["accuracy"])
        else:
            model = single_layer(choice, args.features, args.seed)
            model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
        runs[choice] = train_and_report(model, x, y, epochs, batch, summary=False)
    path = os.path.join(args.out, f"{name}_learning_curves.png")
    saved = plot_histories({c: r["history"] for c, r in runs.items()}, path,
                           f"listing {name}: {len(x)} random points", "accuracy")
    return {"runs": runs, "png": _save(saved, path)}


def _image_listing(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Listings 7-7 (CNN) and 7-8 (LSTM) on Fashion-MNIST."""
    epochs = args.epochs or 1
    (x, labels), (xt, labels_t) = load_images(args.limit)
    if name == "cnn":
        # As the book: one-hot labels, categorical cross-entropy, adadelta (learning rate 1.0).
        model = zoo.textbook_cnn(seed=args.seed)
        y, yt = to_categorical(labels, 10), to_categorical(labels_t, 10)
        model.compile(optimizer="adadelta", loss="categorical_crossentropy", metrics=["accuracy"])
        batch = args.batch_size or 128
    else:
        model = zoo.lstm(units=args.lstm_units, seed=args.seed)
        y, yt = labels, labels_t
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        batch = args.batch_size or 32
    model.summary()
    print(f"Train on {len(x)} samples, validate on {len(xt)} samples")
    batches = BatchLosses()
    history = model.fit(x, y, batch_size=batch, epochs=epochs, verbose=2,
                        validation_data=(xt, yt), callbacks=[batches])
    test = _scores(model, model.evaluate(xt, yt, batch_size=256))
    print("Test Metrics:", _shown(test))
    path = os.path.join(args.out, f"{name}_learning_curve.png")
    saved = plot_learning_curve(batches, history, len(x) / batch, path,
                                f"listing {name}: {len(x)} Fashion-MNIST images")
    return {"test": test, "history": history.history, "batch_losses": batches.losses,
            "png": _save(saved, path)}


def run_listing(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one listing by name (see LISTINGS) with the parsed command-line options."""
    print(f"=== listing {name} ===")
    if name in ("binary", "binary2", "multiclass", "regression"):
        return _dense_listing(name, args)
    if name in ("optimizers", "activations"):
        return _comparison(name, args)
    return _image_listing(name, args)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def main(argv: list[str] | None = None) -> dict:
    """Run the chosen listing(s); returns {listing: its numbers} (see run_listing)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listing", choices=LISTINGS + ("all",), default="all",
                        help="which listing to run (default: all)")
    parser.add_argument("--n-samples", type=_positive, default=1000,
                        help="random points for listings 7-1 to 7-6 (book: 1000)")
    parser.add_argument("--features", type=_positive, default=500,
                        help="features of each random point (book: 500)")
    parser.add_argument("--epochs", type=_positive, default=None,
                        help="training epochs (book: 10 for 7-1 to 7-6, 1 for the CNN and LSTM)")
    parser.add_argument("--batch-size", type=_positive, default=None,
                        help="batch size (book: 32, 128 for the CNN)")
    parser.add_argument("--limit", type=_positive, default=None,
                        help="train the CNN/LSTM on the first N images and test on the first N "
                             "test images (default: all 60000 / 10000)")
    parser.add_argument("--lstm-units", type=_positive, default=128,
                        help="LSTM units (book: 128)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    parser.add_argument("--out", default="runs/examples/keras_chapter",
                        help="folder for the learning-curve PNGs")
    args = parser.parse_args(argv)

    try:
        import matplotlib
        matplotlib.use("Agg")  # draw to files; no display needed
    except ImportError:
        pass
    os.makedirs(args.out, exist_ok=True)
    names = LISTINGS if args.listing == "all" else (args.listing,)
    return {name: run_listing(name, args) for name in names}


if __name__ == "__main__":
    main()
