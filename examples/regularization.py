"""Regularisation three ways: early stopping, L1 against L2 penalties, dropout.

The textbook's regularisation chapter names three remedies for a network
that fits its training set better than the data deserve; this example shows
each one on a problem built to be overfitted. Points have 50 Gaussian
features, only 5 of which decide the label (the sign of a random linear
combination of them), and 10% of the labels are flipped. A network with two
hidden layers of 64 relu units sees 200 of them, enough to memorise them,
label noise and all, and is judged on 2000 more.

1. Early stopping (adkit.nn.callbacks.EarlyStopping): the validation loss
   falls, bottoms out and climbs while the training loss keeps falling. The
   callback remembers the epoch with the lowest validation loss, stops after
   --patience epochs without a new low, and puts the weights of that best
   epoch back. Figure: both losses per epoch, the best epoch marked.
2. Norm penalties: the same network trained with alpha * sum|w| (L1) and with
   alpha * sum w^2 (L2) on its hidden kernels (adkit.nn.regularizers, biases
   never penalised). L1 pushes weights all the way to zero, so its histogram
   has a spike there; L2 only shrinks them. Figure: both histograms.
3. Dropout: the network with and without Dropout(--dropout) after each
   hidden layer. Figure: validation loss per epoch of each. adkit uses
   inverted dropout, scaling the kept units by 1 / (1 - rate) during training
   instead of scaling the weights at prediction time as the book describes;
   the expected activations are the same.

    python examples/regularization.py
    python examples/regularization.py --epochs 100 --alpha 0.003 --out runs/reg
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

from adkit.nn import Sequential, regularizers
from adkit.nn.callbacks import EarlyStopping
from adkit.nn.layers import Dense, Dropout

NEAR_ZERO = 1e-2  # |w| below this counts as pruned in the L1/L2 comparison


def make_data(n_samples: int, n_features: int = 50, n_informative: int = 5,
              flip: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian points labelled by the sign of a random combination of their
    first `n_informative` features, with a fraction `flip` of the labels flipped.

    Returns x of shape (n_samples, n_features) and 0/1 labels of shape (n_samples, 1).

    >>> x, y = make_data(8, n_features=6, n_informative=2)
    >>> x.shape, y.shape
    ((8, 6), (8, 1))
    """
    if not 0 < n_informative <= n_features:
        raise ValueError(f"n_informative must be in 1..n_features={n_features}, "
                         f"got {n_informative}")
    if not 0.0 <= flip < 0.5:
        raise ValueError(f"flip must be in [0, 0.5), the fraction of labels turned over, "
                         f"got {flip}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, n_features))
    w = np.zeros(n_features)
    w[:n_informative] = rng.standard_normal(n_informative)
    y = (x @ w > 0).astype(np.float64)
    flipped = rng.random(n_samples) < flip
    y[flipped] = 1.0 - y[flipped]
    return x, y[:, None]


def build_net(n_features: int, hidden: int = 64, dropout: float = 0.0,
              regularizer: Any = None, seed: int = 0) -> Sequential:
    """Dense(hidden, relu) twice, each optionally followed by Dropout, then one sigmoid unit.

    `regularizer` (e.g. regularizers.l1(1e-3)) is applied to both hidden kernels.
    """
    layers = []
    for i in range(2):
        first = {"input_shape": (n_features,)} if i == 0 else {}
        layers.append(Dense(hidden, activation="relu", kernel_regularizer=regularizer, **first))
        if dropout:
            layers.append(Dropout(dropout))
    layers.append(Dense(1, activation="sigmoid"))
    net = Sequential(layers, seed=seed)
    net.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return net


def hidden_kernels(net: Sequential) -> np.ndarray:
    """Every weight of the hidden layers' kernels, flattened (the penalised weights)."""
    return np.concatenate([net.params[layer.name]["kernel"].ravel() for layer in net.layers[:-1]
                           if "kernel" in net.params[layer.name]])


def early_stopping(data: tuple, args: argparse.Namespace) -> dict[str, Any]:
    """Train with EarlyStopping(val_loss, patience, restore_best_weights) for at most
    --epochs epochs; returns the history, the best and last epochs (0-based) and
    the validation loss of the restored weights."""
    (x, y), (xv, yv) = data
    net = build_net(x.shape[1], args.hidden, seed=args.seed)
    stopper = EarlyStopping(monitor="val_loss", patience=args.patience,
                            restore_best_weights=True)
    history = net.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0,
                      validation_data=(xv, yv), callbacks=[stopper])
    h = history.history
    restored = net.evaluate(xv, yv, batch_size=512)[0]
    last = len(h["loss"]) - 1
    stopped = "stopped early" if last + 1 < args.epochs else "ran every epoch"
    print(f"early stopping (patience {args.patience}): {stopped} after epoch {last + 1}; "
          f"best val_loss {stopper.best:.4f} at epoch {stopper.best_epoch + 1} "
          f"(train loss then {h['loss'][stopper.best_epoch]:.4f}, "
          f"at the end {h['loss'][-1]:.4f})")
    print(f"  the restored weights give val_loss {restored:.4f}; the last epoch's weights "
          f"gave {h['val_loss'][-1]:.4f}")
    return {"history": h, "best_epoch": stopper.best_epoch, "last_epoch": last,
            "best_val_loss": float(stopper.best), "restored_val_loss": float(restored)}


def weight_penalties(data: tuple, args: argparse.Namespace) -> dict[str, Any]:
    """The same network trained with an L1 and with an L2 penalty of strength --alpha."""
    (x, y), (xv, yv) = data
    result: dict[str, Any] = {}
    for name, penalty in (("l1", regularizers.l1), ("l2", regularizers.l2)):
        net = build_net(x.shape[1], args.hidden, regularizer=penalty(args.alpha), seed=args.seed)
        net.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0)
        weights = hidden_kernels(net)
        near_zero = float(np.mean(np.abs(weights) < NEAR_ZERO))
        accuracy = net.evaluate(xv, yv, batch_size=512)[1]
        print(f"{name.upper()} penalty {args.alpha:g}: {near_zero:.1%} of {weights.size} hidden "
              f"weights within {NEAR_ZERO:g} of zero, mean |w| {np.abs(weights).mean():.4f}, "
              f"validation accuracy {accuracy:.3f}")
        result[name] = {"weights": weights, "near_zero": near_zero, "val_accuracy": accuracy}
    return result


def dropout_curves(data: tuple, args: argparse.Namespace) -> dict[str, Any]:
    """Validation loss per epoch of the network without and with dropout."""
    (x, y), (xv, yv) = data
    result = {}
    for rate in (0.0, args.dropout):
        net = build_net(x.shape[1], args.hidden, dropout=rate, seed=args.seed)
        h = net.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0,
                    validation_data=(xv, yv)).history
        label = f"dropout {rate:g}" if rate else "no dropout"
        best = int(np.argmin(h["val_loss"]))
        print(f"{label}: final train loss {h['loss'][-1]:.4f}, val_loss {h['val_loss'][-1]:.4f} "
              f"(lowest {h['val_loss'][best]:.4f} at epoch {best + 1}), "
              f"val accuracy {h['val_accuracy'][-1]:.3f}")
        result[label] = h
    return result


def _plots(out: str, stopping: dict, penalties: dict, dropout: dict) -> dict[str, str]:
    """The three figures as PNGs under `out`; {} without matplotlib."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    paths = {name: os.path.join(out, f"{name}.png")
             for name in ("early_stopping", "l1_vs_l2", "dropout")}

    h = stopping["history"]
    epochs = np.arange(1, len(h["loss"]) + 1)
    best = stopping["best_epoch"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(epochs, h["loss"], label="training loss")
    ax.plot(epochs, h["val_loss"], label="validation loss")
    ax.axvline(best + 1, color="k", ls="--", lw=1)
    ax.plot(best + 1, h["val_loss"][best], "k*", ms=12,
            label=f"best epoch {best + 1} (weights restored)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("binary cross-entropy")
    ax.set_title("early stopping on the validation loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths["early_stopping"], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4))
    largest = max(np.abs(r["weights"]).max() for r in penalties.values())
    bins = np.linspace(-largest, largest, 81)
    for name, r in penalties.items():
        ax.hist(r["weights"], bins=bins, alpha=0.5,
                label=f"{name.upper()}: {r['near_zero']:.0%} within {NEAR_ZERO:g} of 0")
    ax.set_yscale("log")
    ax.set_xlabel("hidden-layer weight")
    ax.set_ylabel("count")
    ax.set_title("the same network under L1 and L2 penalties")
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths["l1_vs_l2"], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, hist in dropout.items():
        line, = ax.plot(np.arange(1, len(hist["val_loss"]) + 1), hist["val_loss"],
                        label=f"{label}, validation")
        ax.plot(np.arange(1, len(hist["loss"]) + 1), hist["loss"], ":", color=line.get_color(),
                label=f"{label}, training")
    ax.set_xlabel("epoch")
    ax.set_ylabel("binary cross-entropy")
    ax.set_title("dropout on and off")
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths["dropout"], dpi=100)
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> dict:
    """Run the three demonstrations, print their numbers, save three PNGs; returns the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=200, help="training points")
    parser.add_argument("--n-val", type=int, default=2000, help="validation points")
    parser.add_argument("--features", type=int, default=50, help="features per point (5 matter)")
    parser.add_argument("--hidden", type=int, default=64, help="units in each hidden layer")
    parser.add_argument("--epochs", type=int, default=60,
                        help="epochs of each run (the most for early stopping)")
    parser.add_argument("--patience", type=int, default=10,
                        help="early stopping: epochs without a new best val_loss before stopping")
    parser.add_argument("--alpha", type=float, default=1e-3,
                        help="strength of the L1 and L2 penalties")
    parser.add_argument("--dropout", type=float, default=0.5,
                        help="dropout rate of the hidden layers")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    parser.add_argument("--out", default="runs/examples/regularization", help="folder for the PNGs")
    args = parser.parse_args(argv)
    for name in ("n_train", "n_val", "features", "hidden", "epochs"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.patience < 0 or args.alpha < 0 or not 0 < args.dropout < 1:
        parser.error("--patience and --alpha must be >= 0 and --dropout in (0, 1)")

    try:
        import matplotlib
        matplotlib.use("Agg")  # draw to files; no display needed
    except ImportError:
        pass
    os.makedirs(args.out, exist_ok=True)
    x, y = make_data(args.n_train + args.n_val, args.features, seed=args.seed)
    data = ((x[:args.n_train], y[:args.n_train]), (x[args.n_train:], y[args.n_train:]))
    print(f"{args.n_train} training and {args.n_val} validation points, {args.features} "
          f"features of which 5 matter, 10% of labels flipped; "
          f"net {args.features}-{args.hidden}-{args.hidden}-1")

    stopping = early_stopping(data, args)
    penalties = weight_penalties(data, args)
    dropout = dropout_curves(data, args)
    pngs = _plots(args.out, stopping, penalties, dropout)
    for path in pngs.values():
        print(f"saved {path}")
    if not pngs:
        print("matplotlib is not installed, so no figures were drawn")
    return {"early_stopping": stopping, "penalties": penalties, "dropout": dropout, "pngs": pngs}


if __name__ == "__main__":
    main()
