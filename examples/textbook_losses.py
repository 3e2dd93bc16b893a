"""The textbook's loss functions and weight penalties on its own inputs (listings 4-7 and 4-8).

The prediction is [[0.01, 0.01, 0.01]] and the target [[0.99, 0.99, 0.01]]:

  * binary cross-entropy, the mean of -(t log p + (1 - t) log(1 - p)) over the
    three entries: 3.0581, the book's number, from adkit.nn.losses too;
  * categorical cross-entropy, -sum(t log p): 9.1643 with the book's (Theano's)
    formula, which takes p as it is. adkit.nn.losses.categorical_crossentropy
    follows Keras and first divides p by its sum (to 1/3 each here), so it gives
    1.99 log 3 = 2.1862 on the same inputs;
  * squared error (p - t)^2 per entry. The book prints 9.16428867 for it because
    its listing calls the categorical cross-entropy function a second time; the
    squared error itself is [[0.9604, 0.9604, 0]];
  * the L1 and L2 penalties of the weights [[0, 1, 3]]: sum |w| = 4.0 and
    sum w^2 = 10.0, from adkit.nn.regularizers.l1(1.0) and l2(1.0).

Every value is also differentiated with adkit.grad (with respect to the
prediction, or to the weights for the penalties) and checked against the
closed-form gradient; the figure draws the per-entry losses against p and the
penalties against w.

    python examples/textbook_losses.py
    python examples/textbook_losses.py --out runs/losses
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

import adkit
from adkit.nn import losses, regularizers

PREDICTION = np.array([[0.01, 0.01, 0.01]])
TARGET = np.array([[0.99, 0.99, 0.01]])
WEIGHTS = np.array([[0.0, 1.0, 3.0]])


def book_binary_crossentropy(p: Any, t: Any) -> Any:
    """Theano's binary_crossentropy(p, t), averaged over every entry as the listing does."""
    return np.mean(-(t * np.log(p) + (1.0 - t) * np.log(1.0 - p)))


def book_categorical_crossentropy(p: Any, t: Any) -> Any:
    """Theano's categorical_crossentropy(p, t) = -sum(t log p) per row, p taken as given."""
    return -np.sum(t * np.log(p), axis=-1)


def squared_error(p: Any, t: Any) -> Any:
    """(p - t)^2 entry by entry, the listing's squared_error."""
    return (p - t) ** 2


def closed_form_gradients(p: np.ndarray, t: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """The same gradients written out by hand, to check adkit's against."""
    return {"binary cross-entropy": ((p - t) / (p * (1 - p))) / p.size,
            "categorical cross-entropy": -t / p,
            "squared error (summed)": 2 * (p - t),
            "L1": np.sign(w),
            "L2": 2 * w}


def save_plot(path: str, t: np.ndarray, p0: float, w: np.ndarray) -> bool:
    """Per-entry losses against the prediction; penalties against a weight; False
    without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    p = np.linspace(0.005, 0.995, 400)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.5))
    for target in sorted(set(np.ravel(t).tolist()), reverse=True):
        bce = -(target * np.log(p) + (1 - target) * np.log(1 - p))
        ax0.plot(p, bce, label=f"binary cross-entropy, t = {target}")
        ax0.plot(p, -target * np.log(p), ":", label=f"categorical term -t log p, t = {target}")
        ax0.plot(p, (p - target) ** 2, "--", label=f"squared error, t = {target}")
    ax0.axvline(p0, color="grey", lw=0.8)
    ax0.set_xlabel("prediction p (grey: the book's 0.01)")
    ax0.set_ylabel("loss of one entry")
    ax0.set_ylim(0, 6)
    ax0.legend(fontsize=7)
    v = np.linspace(-3.5, 3.5, 201)
    ax1.plot(v, np.abs(v), label="L1 term |w|")
    ax1.plot(v, v * v, label="L2 term w^2")
    ax1.plot(np.ravel(w), np.abs(np.ravel(w)), "o", color="C0")
    ax1.plot(np.ravel(w), np.ravel(w) ** 2, "o", color="C1")
    ax1.set_xlabel("weight w (dots: the book's [0, 1, 3])")
    ax1.set_ylabel("penalty")
    ax1.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/examples/textbook_losses", help="folder for the PNG")
    args = parser.parse_args(argv)
    p, t, w = PREDICTION, TARGET, WEIGHTS
    inputs = "[[0.01,0.01,0.01]],[[0.99,0.99,0.01]]"

    bce = float(book_binary_crossentropy(p, t))
    bce_keras = float(np.mean(losses.binary_crossentropy(t, p)))
    cce = book_categorical_crossentropy(p, t)
    cce_keras = losses.categorical_crossentropy(t, p)
    se = squared_error(p, t)
    mse_keras = losses.mean_squared_error(t, p)
    l1 = float(regularizers.l1(1.0)(w))
    l2 = float(regularizers.l2(1.0)(w))

    print(f"Binary Cross Entropy {inputs}: {bce:.10f}")
    print(f"  adkit.nn.losses.binary_crossentropy (Keras order y_true, y_pred): {bce_keras:.10f}")
    print(f"Categorical Cross Entropy {inputs}: {np.array2string(cce, precision=8)}")
    print(f"  adkit.nn.losses.categorical_crossentropy: "
          f"{np.array2string(cce_keras, precision=8)}  (Keras divides p by its sum first, "
          f"so -1.99 log(1/3) instead of -1.99 log(0.01))")
    print(f"Squared Error {inputs}: {np.array2string(se, precision=8)}")
    print(f"  (the book prints 9.16428867: its listing calls the categorical function again); "
          f"adkit.nn.losses.mean_squared_error: {np.array2string(mse_keras, precision=8)}")
    print(f"L1 Regularization: {l1}")
    print(f"L2 Regularization: {l2}")

    # Gradients by adkit, against the hand-written ones.
    grads = {"binary cross-entropy": adkit.grad(book_binary_crossentropy)(p, t),
             "categorical cross-entropy": adkit.grad(
                 lambda q: np.sum(book_categorical_crossentropy(q, t)))(p),
             "squared error (summed)": adkit.grad(lambda q: np.sum(squared_error(q, t)))(p),
             "L1": adkit.grad(regularizers.l1(1.0))(w),
             "L2": adkit.grad(regularizers.l2(1.0))(w)}
    exact = closed_form_gradients(p, t, w)
    print("\nGradients by adkit.grad (d/dp for the losses, d/dw for the penalties):")
    worst = 0.0
    for name, g in grads.items():
        err = float(np.max(np.abs(g - exact[name]) / np.maximum(np.abs(exact[name]), 1.0)))
        worst = max(worst, err)
        print(f"  {name:<26} {np.array2string(np.ravel(g), precision=6):<36} "
              f"closed form differs by {err:.1e}")

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "textbook_losses.png")
    if save_plot(path, t, float(p[0, 0]), w):
        print(f"\nloss and penalty curves saved to {path}")
    else:
        path = None
        print("\nmatplotlib is not installed: no figure written")
    return {"binary_crossentropy": bce, "binary_crossentropy_keras": bce_keras,
            "categorical_crossentropy": float(cce[0]),
            "categorical_crossentropy_keras": float(cce_keras[0]),
            "squared_error": se, "mean_squared_error_keras": float(mse_keras[0]),
            "l1": l1, "l2": l2, "gradients": grads, "gradient_error": worst, "png": path}


if __name__ == "__main__":
    main()
