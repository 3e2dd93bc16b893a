"""Logistic regression on two interleaving half-moons, fitted by steepest descent.

The model is p(y=1 | x) = sigmoid(x . w + b). We minimise the mean binary
cross-entropy over the training set, and adkit.grad turns that loss, written
in plain NumPy, into its gradient with respect to (w, b). A straight line
cannot separate the two moons perfectly, but it gets most points right.

    python examples/logistic_regression.py            # figure in runs/examples/logistic_regression/
    python examples/logistic_regression.py --n-samples 1000 --steps 300 --out runs/moons
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import adkit
from adkit.nn.datasets import make_moons


def logits(params, X):
    w, b = params
    return X @ w + b


def loss(params, X, y):
    """Mean binary cross-entropy, computed from the logits z = x . w + b.

    With p = sigmoid(z), -[y log p + (1 - y) log(1 - p)] simplifies to
    log(1 + e^z) - y z. np.logaddexp(0, z) evaluates log(1 + e^z) without
    overflowing for large z or losing everything to log(0) once p rounds to
    0 or 1, which taking the log of a computed sigmoid would do.
    """
    z = logits(params, X)
    return np.mean(np.logaddexp(0.0, z) - y * z)


def accuracy(params, X, y) -> float:
    # Predict class 1 where p > 1/2, that is where the logit is positive.
    return float(np.mean((logits(params, X) > 0) == (y == 1)))


def fit(params, X, y, steps: int, learning_rate: float, report_every: int = 0):
    """Steepest descent: step against the gradient, a fixed learning rate times it."""
    grad_loss = adkit.grad(loss)  # differentiates with respect to params, a tuple (w, b)
    history = []
    for step in range(steps):
        history.append(float(loss(params, X, y)))
        if report_every and step % report_every == 0:
            print(f"  step {step:>5}  loss {history[-1]:.4f}")
        g_w, g_b = grad_loss(params, X, y)  # same structure as params
        w, b = params
        params = (w - learning_rate * g_w, b - learning_rate * g_b)
    history.append(float(loss(params, X, y)))
    return params, history


def save_plot(path: str, params, X, y, history) -> bool:
    """The decision boundary over the data, and the loss per step; False without matplotlib."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no display, no global state
    except ImportError:
        return False
    x_min, y_min = X.min(axis=0) - 0.5
    x_max, y_max = X.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(x_min, x_max, 300), np.linspace(y_min, y_max, 300))
    z = logits(params, np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    prob = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid(z), written so it cannot overflow
    fig = Figure(figsize=(11, 4.5))
    ax0, ax1 = fig.subplots(1, 2)
    cs = ax0.contourf(gx, gy, prob, levels=20, cmap="Spectral", alpha=0.8)
    ax0.contour(gx, gy, prob, levels=[0.5], colors="k")
    ax0.scatter(X[:, 0], X[:, 1], c=y, cmap="Spectral", edgecolors="k", s=15)
    ax0.set_title("decision boundary, p(y=1|x) = 0.5")
    fig.colorbar(cs, ax=ax0)
    ax1.plot(history)
    ax1.set_xlabel("step")
    ax1.set_ylabel("mean cross-entropy")
    ax1.set_title("loss over steepest-descent steps")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=500, help="points in the data set")
    parser.add_argument("--noise", type=float, default=0.1, help="std of the Gaussian noise")
    parser.add_argument("--steps", type=int, default=500, help="steepest-descent steps")
    parser.add_argument("--lr", "--learning-rate", dest="lr", type=float, default=1.0,
                        help="learning rate (step size)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data generator")
    parser.add_argument("--out", default="runs/examples/logistic_regression", metavar="DIR",
                        help="folder for logistic_regression.png, the decision boundary and "
                             "the loss curve (needs matplotlib; default %(default)s)")
    args = parser.parse_args(argv)

    X, y = make_moons(args.n_samples, args.noise, args.seed)
    # Start where the textbook does, w = (1, 1), and add a bias starting at 0.
    params = (np.array([1.0, 1.0]), 0.0)

    print(f"two moons: {args.n_samples} points, noise {args.noise}, seed {args.seed}")
    loss0, acc0 = float(loss(params, X, y)), accuracy(params, X, y)
    print(f"before training: loss {loss0:.4f}  accuracy {acc0:.3f}")
    params, history = fit(params, X, y, args.steps, args.lr,
                          report_every=max(1, args.steps // 5))
    loss1, acc1 = history[-1], accuracy(params, X, y)
    print(f"after {args.steps} steps (lr {args.lr}): loss {loss1:.4f}  accuracy {acc1:.3f}")
    w, b = params
    print(f"  w = ({w[0]:.3f}, {w[1]:.3f}), b = {b:.3f}")

    os.makedirs(args.out, exist_ok=True)
    png = os.path.join(args.out, "logistic_regression.png")
    if save_plot(png, params, X, y, history):
        print(f"  decision boundary and loss curve saved to {png}")
    else:
        png = None
        print("  matplotlib is not installed, so no figure was drawn")

    return {"png": png, "loss_before": loss0, "loss_after": loss1, "accuracy_before": acc0,
            "accuracy_after": acc1, "history": history, "params": params}


if __name__ == "__main__":
    main()
