"""Eight gradient-descent variants race on two moons (the textbook's "downhill" chapter).

The set-up is the book's: 5,000 points of sklearn-style two moons (noise 0.1),
the last 1,000 held out for validation; a network 2 -> 1,000 tanh -> 2 softmax
whose weights start as the book's numpy.random.randn draws (biases at zero);
the loss is the mean categorical cross-entropy plus 0.01 / 2 * (|W1|^2 + |W2|^2).
Every optimizer starts from the same weights, sees the same sequence of training
examples, and takes 1,000 steps with its default settings (adkit's, which are
Keras's; "nag" is SGD with Nesterov momentum 0.9). As in the book, a step is
one optimizer update on one example (--batch-size 1), and the loss on the
validation split is recorded after every step.

The penalty dominates the starting loss (about 20 of 24 at these sizes). With
their default step sizes most methods spend the 1,000 steps shrinking the
weights slowly, and keep a curved boundary; rprop, whose per-weight steps grow
by 1.2 while a gradient keeps its sign, reaches the penalised minimum within a
couple of hundred steps, where the penalty has flattened the boundary almost
to a line: the lowest loss is not the best accuracy here.

Written out under --out: learning_curves.png (validation loss per step, every
optimizer) and decision_boundaries.png (each optimizer's p(class 1) over the
training set and over the validation set). The full run takes a minute or two.

    python examples/optimizer_comparison.py
    python examples/optimizer_comparison.py --n-samples 1000 --hidden 100 --steps 300 \\
        --optimizers sgd,adam,rprop --batch-size 32
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from adkit.nn import Sequential, initializers, optimizers, regularizers
from adkit.nn.datasets import make_moons
from adkit.nn.layers import Dense

TEXTBOOK_OPTIMIZERS = ("sgd", "nag", "rmsprop", "adadelta", "adagrad", "adam", "rprop", "esgd")


def parse_optimizers(text: str) -> list[str]:
    """A comma list of optimizer names, each one adkit.nn.optimizers.get accepts.

    >>> parse_optimizers("sgd, Adam")
    ['sgd', 'adam']
    """
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError(f"no optimizer names in {text!r}; give a comma list such as "
                         f"{','.join(TEXTBOOK_OPTIMIZERS)}")
    for name in names:
        try:
            optimizers.get(name)
        except ValueError as error:  # its message lists the valid names
            raise ValueError(f"{error}; fix the --optimizers list") from None
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"optimizer(s) {', '.join(repeated)} listed more than once in {text!r}")
    return names


def _optimizer_list(text: str) -> list[str]:
    try:
        return parse_optimizers(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def standard_normal(rng: np.random.Generator, shape: tuple, dtype: Any = np.float32) -> np.ndarray:
    """N(0, 1) entries: the textbook's numpy.random.randn starting weights."""
    return rng.standard_normal(shape).astype(dtype)


def build_model(hidden: int, l2: float, init: str, seed: int) -> Sequential:
    """2 -> hidden tanh -> 2 softmax, with the penalty l2 / 2 * sum(W^2) on both kernels.

    The seed fixes the starting weights, so models built with one seed start equal.
    """
    kernel_init = standard_normal if init == "randn" else init
    penalty = regularizers.l2(l2 / 2)  # Keras's l2(a) adds a * sum(W^2); the book has lambda / 2
    return Sequential([
        Dense(hidden, activation="tanh", input_shape=(2,), kernel_initializer=kernel_init,
              kernel_regularizer=penalty),
        Dense(2, activation="softmax", kernel_initializer=kernel_init, kernel_regularizer=penalty),
    ], seed=seed)


def batch_order(n_train: int, steps: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """The rows each step trains on: consecutive slices of a fresh permutation per pass,
    so every example is seen once before any is seen twice. batch_size 0 = every row."""
    if batch_size == 0:
        return [np.arange(n_train)] * steps
    rng = np.random.default_rng((seed, 2))  # the order's own stream, apart from data and weights
    order, batches = rng.permutation(n_train), []
    start = 0
    for _ in range(steps):
        if start + batch_size > n_train:
            order, start = rng.permutation(n_train), 0
        batches.append(order[start:start + batch_size])
        start += batch_size
    return batches


def train_one(name: str, model: Sequential, data: dict, batches: list[np.ndarray]) -> dict:
    """Train `model` with optimizer `name`, one update per entry of `batches`, and
    record the validation loss before the first step and after every step."""
    model.compile(optimizer=name, loss="categorical_crossentropy", metrics=["accuracy"])
    x_train, y_train, x_val, y_val = data["x_train"], data["y_train"], data["x_val"], data["y_val"]
    n_val = len(x_val)
    curve = [model.evaluate(x_val, y_val, batch_size=n_val)[0]]
    started = time.perf_counter()
    for rows in tqdm(batches, desc=f"{name:>8}", unit="step", leave=False, disable=None):
        model.train_on_batch(x_train[rows], y_train[rows])  # exactly one optimizer update
        curve.append(model.evaluate(x_val, y_val, batch_size=n_val)[0])
    seconds = time.perf_counter() - started
    train_loss, train_accuracy = model.evaluate(x_train, y_train, batch_size=len(x_train))
    val_loss, val_accuracy = model.evaluate(x_val, y_val, batch_size=n_val)
    return {"val_curve": curve, "train_loss": train_loss, "train_accuracy": train_accuracy,
            "val_loss": val_loss, "val_accuracy": val_accuracy, "seconds": seconds}


def load_moons(n_samples: int, noise: float, seed: int) -> dict:
    """Two moons as float32, one-hot labels, the last fifth held out for validation
    (the book's last 1,000 of 5,000)."""
    X, y = make_moons(n_samples, noise, seed)
    X = X.astype(np.float32)
    labels = y.astype(int)
    onehot = np.eye(2, dtype=np.float32)[labels]
    n_val = n_samples // 5
    return {"x_train": X[:-n_val], "y_train": onehot[:-n_val], "labels_train": labels[:-n_val],
            "x_val": X[-n_val:], "y_val": onehot[-n_val:], "labels_val": labels[-n_val:]}


def save_learning_curves(path: Path, results: dict, batch_size: int) -> None:
    """Validation loss per step, one line per optimizer, on a log scale."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, result in results.items():
        ax.plot(result["val_curve"], label=name, linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xlabel(f"step ({'all training rows' if batch_size == 0 else batch_size} "
                  f"per update)")
    ax.set_ylabel("validation loss (cross-entropy + L2 penalty)")
    ax.set_title("learning curves on the validation split")
    ax.legend(ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_decision_boundaries(path: Path, models: dict, results: dict, data: dict) -> None:
    """p(class 1) over the plane for every optimizer's model, drawn under the training
    points (upper block of rows) and under the validation points (lower block)."""
    import matplotlib.pyplot as plt
    X = np.vstack([data["x_train"], data["x_val"]])
    (x_lo, y_lo), (x_hi, y_hi) = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(x_lo, x_hi, 150), np.linspace(y_lo, y_hi, 150))
    grid = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)

    names = list(models)
    cols = min(4, len(names))
    block = -(-len(names) // cols)  # rows of panels per data split
    fig, axes = plt.subplots(2 * block, cols, figsize=(3.2 * cols, 3.0 * 2 * block),
                             squeeze=False, sharex=True, sharey=True)
    for ax in axes.ravel():
        ax.set_visible(False)
    for i, name in enumerate(names):
        prob = models[name].predict(grid, batch_size=4096)[:, 1].reshape(gx.shape)
        for offset, split, key in ((0, "training", "train"), (block, "validation", "val")):
            ax = axes[offset + i // cols, i % cols]
            ax.set_visible(True)
            ax.contourf(gx, gy, prob, levels=np.linspace(0, 1, 11), cmap="Spectral", alpha=0.8)
            ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=0.8)
            points, labels = data[f"x_{key}"], data[f"labels_{key}"]
            ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="Spectral", s=4,
                       edgecolors="none")
            ax.set_title(f"{name}, {split}: acc {results[name][f'{key}_accuracy']:.3f}",
                         fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _at_least(low: int, what: str):
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"{what} must be >= {low}, got {value}")
        return value
    return parse


def main(argv: list[str] | None = None) -> dict:
    """Train one network per optimizer, print the final table, draw the two figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=_at_least(10, "--n-samples"), default=5000,
                        help="points of two moons, the last fifth for validation (book: 5000)")
    parser.add_argument("--noise", type=float, default=0.1, help="std of the noise (book: 0.1)")
    parser.add_argument("--hidden", type=_at_least(1, "--hidden"), default=1000,
                        help="tanh units in the hidden layer (book: 1000)")
    parser.add_argument("--steps", type=_at_least(1, "--steps"), default=1000,
                        help="optimizer updates per optimizer (book: 1000)")
    parser.add_argument("--batch-size", type=_at_least(0, "--batch-size"), default=1,
                        help="training examples per update; 0 = all (book: 1)")
    parser.add_argument("--optimizers", type=_optimizer_list,
                        default=list(TEXTBOOK_OPTIMIZERS),
                        help="comma list of adkit.nn.optimizers names "
                             f"(default: {','.join(TEXTBOOK_OPTIMIZERS)})")
    parser.add_argument("--l2", type=float, default=0.01,
                        help="lambda of the penalty lambda / 2 * (|W1|^2 + |W2|^2) (book: 0.01)")
    parser.add_argument("--init", default="randn",
                        help="starting kernels: 'randn' (N(0, 1), the book's) or an "
                             "adkit.nn.initializers name such as glorot_uniform")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, weights and order")
    parser.add_argument("--out", type=Path, default=Path("runs/examples/optimizer_comparison"),
                        help="directory for the two PNG figures")
    args = parser.parse_args(argv)
    if not args.l2 >= 0:
        parser.error(f"--l2 must be >= 0, got {args.l2}")
    if args.init != "randn":
        try:
            initializers.get(args.init)
        except ValueError as error:
            parser.error(f"--init: {error}, or randn")

    data = load_moons(args.n_samples, args.noise, args.seed)
    n_train = len(data["x_train"])
    if args.batch_size > n_train:
        parser.error(f"--batch-size {args.batch_size} is more than the {n_train} training "
                     f"points; use at most {n_train}, or 0 for all of them")
    batches = batch_order(n_train, args.steps, args.batch_size, args.seed)
    per_step = "all" if args.batch_size == 0 else str(args.batch_size)
    print(f"two moons: {n_train} training + {len(data['x_val'])} validation points "
          f"(noise {args.noise}); network 2 -> {args.hidden} tanh -> 2 softmax, "
          f"L2 {args.l2} / 2, init {args.init}; {args.steps} steps of {per_step} example(s)")

    results, models = {}, {}
    for name in args.optimizers:
        model = build_model(args.hidden, args.l2, args.init, args.seed)
        results[name] = train_one(name, model, data, batches)
        models[name] = model
        r = results[name]
        print(f"  {name:<9} validation loss {r['val_curve'][0]:.4f} -> {r['val_loss']:.4f}"
              f"  ({r['seconds']:.1f} s)")

    print()
    print(f"{'optimizer':<10} {'train loss':>10} {'train acc':>9} {'val loss':>9} {'val acc':>8}")
    for name, r in results.items():
        print(f"{name:<10} {r['train_loss']:>10.4f} {r['train_accuracy']:>9.3f} "
              f"{r['val_loss']:>9.4f} {r['val_accuracy']:>8.3f}")

    figures = {}
    try:
        import matplotlib
        matplotlib.use("Agg")  # draw to files; no display needed
    except ImportError:
        print("matplotlib is not installed; no figures drawn")
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        figures["learning_curves"] = args.out / "learning_curves.png"
        save_learning_curves(figures["learning_curves"], results, args.batch_size)
        figures["decision_boundaries"] = args.out / "decision_boundaries.png"
        save_decision_boundaries(figures["decision_boundaries"], models, results, data)
        for path in figures.values():
            print(f"saved {path}")

    return {"results": results, "figures": figures, "n_train": n_train,
            "n_val": len(data["x_val"])}


if __name__ == "__main__":
    main()
