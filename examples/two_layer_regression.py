"""A two-layer tanh network fitted to y = sin(3x) + noise by plain gradient descent.

The network is yhat = tanh(x w1 + b1) w2 + b2: one hidden layer of tanh units
and a linear output, so it can reach any value of y. Its parameters travel as
one tuple (w1, b1, w2, b2); adkit.grad of the mean squared error with respect
to that tuple returns a tuple of gradients of the same shapes, which makes the
update a one-liner.

    python examples/two_layer_regression.py
    python examples/two_layer_regression.py --hidden 32 --steps 5000 --lr 0.1
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import adkit


def make_data(n_samples: int = 200, noise: float = 0.1, seed: int = 0):
    """x uniform on [-1, 1], y = sin(3x) + Gaussian noise; both of shape (n_samples, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n_samples, 1))
    y = np.sin(3.0 * x) + noise * rng.standard_normal((n_samples, 1))
    return x, y


def init_params(hidden: int, seed: int = 0):
    """Random weights, scaled so the tanh units start in their responsive range."""
    rng = np.random.default_rng(seed + 1)  # a different stream from the data's
    w1 = rng.standard_normal((1, hidden))  # one input feature, so unit variance suits
    b1 = rng.standard_normal(hidden)
    w2 = rng.standard_normal((hidden, 1)) / np.sqrt(hidden)  # keeps yhat of order 1
    b2 = np.zeros(1)
    return (w1, b1, w2, b2)


def predict(params, x):
    w1, b1, w2, b2 = params
    hidden = np.tanh(x @ w1 + b1)  # (n, hidden)
    return hidden @ w2 + b2         # (n, 1)


def mse(params, x, y):
    return np.mean((predict(params, x) - y) ** 2)


def train(params, x, y, steps: int, learning_rate: float, report_every: int = 0):
    """Full-batch gradient descent: every parameter moves against its own gradient."""
    grad_mse = adkit.grad(mse)  # with respect to argument 0, the whole tuple
    for step in range(steps):
        grads = grad_mse(params, x, y)
        if report_every and step % report_every == 0:
            print(f"  step {step:>5}  mse {float(mse(params, x, y)):.4f}")
        params = tuple(p - learning_rate * g for p, g in zip(params, grads))
    return params


def save_plot(path: str, params, x, y) -> bool:
    """The training points, sin(3x) and the network's curve; False without matplotlib."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no display, no global state
    except ImportError:
        return False
    grid = np.linspace(x.min(), x.max(), 200).reshape(-1, 1)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(x[:, 0], y[:, 0], ".", color="grey", label="training points")
    ax.plot(grid[:, 0], np.sin(3.0 * grid[:, 0]), "--", label="sin(3x)")
    ax.plot(grid[:, 0], predict(params, grid)[:, 0], label="network")
    ax.set_xlabel("x")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=200, help="training points")
    parser.add_argument("--noise", type=float, default=0.1, help="std of the noise on y")
    parser.add_argument("--hidden", type=int, default=16, help="tanh units in the hidden layer")
    parser.add_argument("--steps", type=int, default=2000, help="gradient-descent steps")
    parser.add_argument("--lr", "--learning-rate", dest="lr", type=float, default=0.1,
                        help="learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seed for data and weights")
    parser.add_argument("--out", default="runs/examples/two_layer_regression", metavar="DIR",
                        help="folder for two_layer_regression.png, the data, sin(3x) and the "
                             "fitted network (needs matplotlib; default %(default)s)")
    args = parser.parse_args(argv)

    x, y = make_data(args.n_samples, args.noise, args.seed)
    params = init_params(args.hidden, args.seed)
    print(f"y = sin(3x) + noise({args.noise}): {args.n_samples} points; "
          f"network 1 -> {args.hidden} tanh -> 1")

    mse0 = float(mse(params, x, y))
    print(f"before training: mse {mse0:.4f}")
    params = train(params, x, y, args.steps, args.lr, report_every=max(1, args.steps // 5))
    mse1 = float(mse(params, x, y))
    print(f"after {args.steps} steps (lr {args.lr}): mse {mse1:.4f}  "
          f"({mse0 / mse1:.1f}x lower; the noise alone gives {args.noise ** 2:.4f})")

    # A few predictions against the noise-free curve, to see what was learned.
    grid = np.linspace(-1.0, 1.0, 5).reshape(-1, 1)
    print("      x   sin(3x)   network")
    for xi, target, fit in zip(grid[:, 0], np.sin(3.0 * grid[:, 0]), predict(params, grid)[:, 0]):
        print(f"  {xi:>5.2f}  {target:>8.3f}  {fit:>8.3f}")

    os.makedirs(args.out, exist_ok=True)
    png = os.path.join(args.out, "two_layer_regression.png")
    if save_plot(png, params, x, y):
        print(f"data and fit saved to {png}")
    else:
        png = None
        print("matplotlib is not installed, so no figure was drawn")
    return {"mse_before": mse0, "mse_after": mse1, "params": params, "png": png}


if __name__ == "__main__":
    main()
