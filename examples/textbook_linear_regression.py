"""Linear regression with an L2 penalty, fitted by steepest descent (the textbook's Theano listing).

The data are the textbook's toy set: 1,000 examples of 100 standard-normal
features and standard-normal targets, so there is nothing to learn beyond
fitting noise. The model is yhat = x . w + b with w drawn from N(0, 1) and
b = 0, the loss is the mean squared error plus 0.01 * sum(w^2), and each of
1,000 steps moves (w, b) against adkit.grad of that loss, times 0.1. The
book prints the mean squared error of the predictions before (90.47) and after
(0.9157) training, under the label "RMSE"; its data are unseeded, so the
numbers here differ in the digits but not in size: before training the error
is about |w|^2 + 1 (around 100 for 100 features), after it is near the
(1 - 101/1000) of noise left by a least-squares fit with 101 parameters.

Because the loss is a convex quadratic, the minimiser is also known in closed
form: ridge regression, solved here by np.linalg.lstsq on the system stacked
with sqrt(l2) * I. Steepest descent should land on it, and the example says
how far apart the two are.

With --batch-size each step uses that many rows drawn at random instead of all
of them, which is the textbook's TensorFlow version of the same model. Its
loss sums the batch's squared errors but divides by all 1,000 rows, so its
rate of 0.05 on 5 rows is 0.05 * 5 / 1000 = 0.00025 on the batch mean used
here: --batch-size 5 --lr 0.00025 --l2 0 --steps 5000 (it printed 95.52 and
2.133; the stochastic steps are still far from the minimum after 5,000 of them).

    python examples/textbook_linear_regression.py
    python examples/textbook_linear_regression.py --batch-size 5 --lr 0.00025 --l2 0 --steps 5000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import adkit


def make_data(examples: int = 1000, features: int = 100, seed: int = 0):
    """The textbook's toy set: X of shape (examples, features) and y of shape (examples,),
    both standard normal, and the starting weights w ~ N(0, 1), b = 0."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((examples, features))
    y = rng.standard_normal(examples)
    w = rng.standard_normal(features)
    return X, y, (w, 0.0)


def predict(params, X):
    """yhat = X w + b."""
    w, b = params
    return X @ w + b


def mean_squared_error(params, X, y):
    """The error the textbook prints: the mean of (yhat - y)^2, without the penalty."""
    return np.mean((predict(params, X) - y) ** 2)


def loss(params, X, y, l2: float):
    """What is minimised: the mean squared error plus l2 * sum(w^2) (the bias is not penalised)."""
    w, _ = params
    return mean_squared_error(params, X, y) + l2 * np.sum(w ** 2)


def fit(params, X, y, *, steps: int, learning_rate: float, l2: float, batch_size: int = 0,
        seed: int = 0, report_every: int = 0):
    """Steepest descent on `loss`: (w, b) -= learning_rate * gradient, `steps` times.

    batch_size 0 uses every row on every step; otherwise each step draws
    batch_size rows with replacement, as the TensorFlow listing does.
    Returns the final parameters and the mean squared error over all rows
    before each step and after the last.
    """
    grad_loss = adkit.grad(loss)  # with respect to params, the tuple (w, b)
    rng = np.random.default_rng((seed, 1))  # the batches' own stream, apart from the data's
    history = []
    for step in range(steps):
        history.append(float(mean_squared_error(params, X, y)))
        if report_every and step % report_every == 0:
            print(f"  step {step:>5}  mean squared error {history[-1]:.4f}")
        if batch_size:
            rows = rng.integers(0, len(y), size=batch_size)
            g_w, g_b = grad_loss(params, X[rows], y[rows], l2)
        else:
            g_w, g_b = grad_loss(params, X, y, l2)
        w, b = params
        params = (w - learning_rate * g_w, b - learning_rate * g_b)
    history.append(float(mean_squared_error(params, X, y)))
    return params, history


def ridge_solution(X, y, l2: float):
    """The exact minimiser of `loss`, as (w, b), by np.linalg.lstsq.

    mean((X w + b - y)^2) + l2 |w|^2 is the squared norm of the residual of the
    stacked system [X 1] / sqrt(n) (w, b) = y / sqrt(n) and sqrt(l2) [I 0] (w, b) = 0,
    so one least-squares solve gives it; with l2 = 0 it is the plain fit.
    """
    n, d = X.shape
    top = np.column_stack([X, np.ones(n)]) / np.sqrt(n)
    bottom = np.sqrt(l2) * np.eye(d, d + 1)
    A = np.vstack([top, bottom])
    rhs = np.concatenate([y / np.sqrt(n), np.zeros(d)])
    theta = np.linalg.lstsq(A, rhs, rcond=None)[0]
    return theta[:d], float(theta[d])


def save_plot(path: Path, history, exact_mse: float, batch_size: int) -> bool:
    """The mean squared error per step on a log scale; False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")  # draw to a file; no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.semilogy(history, label="steepest descent" if not batch_size
                else f"stochastic steps, {batch_size} rows each")
    ax.axhline(exact_mse, color="k", linestyle="--", label="closed-form minimiser")
    ax.set_xlabel("step")
    ax.set_ylabel("mean squared error (all rows)")
    ax.set_title("linear regression on the textbook's toy data")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def main(argv: list[str] | None = None) -> dict:
    """Fit the textbook's linear regression; print and return the error before and after."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", "--n-samples", dest="examples", type=_positive,
                        default=1000, help="rows of the data set (the book: 1000)")
    parser.add_argument("--features", type=_positive, default=100,
                        help="features per row (the book: 100)")
    parser.add_argument("--steps", type=int, default=1000, help="descent steps (the book: 1000)")
    parser.add_argument("--lr", "--learning-rate", dest="lr", type=float, default=0.1,
                        help="learning rate (the book: 0.1)")
    parser.add_argument("--l2", type=float, default=0.01,
                        help="weight of the penalty sum(w^2) (the book: 0.01)")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="rows per step, drawn at random; 0 = all of them (the default)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the data and starting weights")
    parser.add_argument("--out", type=Path,
                        default=Path("runs/examples/textbook_linear_regression"),
                        help="directory for the learning-curve PNG")
    args = parser.parse_args(argv)
    if args.steps < 0:
        parser.error(f"--steps must be >= 0, got {args.steps}")
    if args.l2 < 0:
        parser.error(f"--l2 must be >= 0, got {args.l2}")
    if args.batch_size < 0:
        parser.error(f"--batch-size must be >= 0 (0 = all rows), got {args.batch_size}")

    X, y, params = make_data(args.examples, args.features, args.seed)
    how = "all rows per step" if not args.batch_size else f"{args.batch_size} random rows per step"
    print(f"toy data: {args.examples} x {args.features} standard normal, seed {args.seed}; "
          f"loss = mean squared error + {args.l2} * sum(w^2); lr {args.lr}, {how}")
    mse0 = float(mean_squared_error(params, X, y))
    print(f"mean squared error before training: {mse0:.4f}")
    params, history = fit(params, X, y, steps=args.steps, learning_rate=args.lr, l2=args.l2,
                          batch_size=args.batch_size, seed=args.seed,
                          report_every=max(1, args.steps // 5))
    mse1 = history[-1]
    print(f"mean squared error after {args.steps} steps: {mse1:.4f}")

    exact = ridge_solution(X, y, args.l2)
    exact_mse = float(mean_squared_error(exact, X, y))
    w, b = params
    distance = float(np.sqrt(np.sum((w - exact[0]) ** 2) + (b - exact[1]) ** 2))
    print(f"closed-form minimiser (np.linalg.lstsq): mean squared error {exact_mse:.4f}; "
          f"distance from the descent's (w, b): {distance:.2e}")

    args.out.mkdir(parents=True, exist_ok=True)
    figure = args.out / "learning_curve.png"
    if save_plot(figure, history, exact_mse, args.batch_size):
        print(f"learning curve saved to {figure}")
    else:
        figure = None
        print("matplotlib is not installed; no learning curve drawn")

    return {"mse_before": mse0, "mse_after": mse1, "history": history, "params": params,
            "exact_params": exact, "exact_mse": exact_mse, "distance": distance,
            "figure": figure}


if __name__ == "__main__":
    main()
