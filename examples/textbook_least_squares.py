"""Least squares with polynomials of degree 1, 2 and 8: underfitting, a good fit, overfitting.

The textbook's chapter 2 (listings 2-1 and 2-2) draws 100 points of
y = 2 + x + 2x^2 plus Gaussian noise (standard deviation 0.1) on [-1, 1], fits
polynomials to the first 80 and measures the error on the last 20, which the
fit never saw. Degree 1 cannot bend enough (high error everywhere), degree 2
matches the signal, degree 8 follows the noise and shoots off beyond the
training range. Then it adds the ridge (L2) penalty lambda * |beta|^2 to the
squared error of a polynomial with 80 coefficients and sweeps lambda.

adkit's part: the loss |X beta - y|^2 + lambda |beta|^2 is written once in plain
NumPy, and

  * the normal equations' solution is checked by adkit.grad of that loss being
    zero there (it is for (X^T X + lambda I) beta = X^T y, the listing's code;
    the book's prose writes "- lambda I", which the gradient check rejects);
  * steepest descent driven by adkit.grad, with the step 1/L taken from the
    largest eigenvalue L of adkit.hessian of the loss, reaches the same
    coefficients for degrees 1 and 2 and stops short for degree 8, whose
    Hessian is ill-conditioned; stopping early there regularises, as lambda does.

The book prints sqrt(sum of squared errors) under the name RMSE; the table
here gives the true root-mean-square error and repeats the book's lines with
its quantity (RMSE * sqrt(n)). The noise is seeded, so the numbers are
reproducible but not the book's (its listing draws unseeded noise).

    python examples/textbook_least_squares.py
    python examples/textbook_least_squares.py --seed 3 --steps 2000 --out runs/ls
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

import adkit

DEGREES = (1, 2, 8)


def make_data(n_samples: int = 100, noise: float = 0.1,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, signal): x evenly spaced on [-1, 1], signal = 2 + x + 2x^2 and
    y = signal + N(0, noise^2), the book's toy data."""
    x = np.linspace(-1.0, 1.0, n_samples)
    signal = 2.0 + x + 2.0 * x * x
    y = signal + np.random.default_rng(seed).normal(0.0, noise, n_samples)
    return x, y, signal


def design_matrix(x: np.ndarray, n_terms: int) -> np.ndarray:
    """Columns x^0, x^1, ..., x^(n_terms - 1): a polynomial of degree n_terms - 1."""
    return np.vander(x, n_terms, increasing=True)


def squared_error(beta: Any, X: np.ndarray, y: np.ndarray, lam: float = 0.0) -> Any:
    """|X beta - y|^2 + lam |beta|^2: least squares, ridge-penalised when lam > 0."""
    r = X @ beta - y
    return np.sum(r * r) + lam * np.sum(beta * beta)


def normal_equations(X: np.ndarray, y: np.ndarray, lam: float = 0.0) -> np.ndarray:
    """The minimiser of squared_error: (X^T X + lam I) beta = X^T y (solved, not inverted)."""
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)


def gradient_check(beta: np.ndarray, X: np.ndarray, y: np.ndarray,
                   lam: float = 0.0) -> tuple[float, float]:
    """(max |adkit.grad of the loss| at beta, the same relative to the gradient's scale).

    At an exact minimiser the gradient is 0; a solve in floating point leaves
    about machine epsilon times the size of the terms that cancel, which is the
    scale the relative value divides by.
    """
    g = adkit.grad(squared_error)(beta, X, y, lam)
    scale = 2.0 * (np.abs(X.T) @ (np.abs(X) @ np.abs(beta) + np.abs(y)) + lam * np.abs(beta))
    return float(np.max(np.abs(g))), float(np.max(np.abs(g) / scale))


def steepest_descent(X: np.ndarray, y: np.ndarray, steps: int,
                     lam: float = 0.0) -> tuple[np.ndarray, float, list[float]]:
    """`steps` steps of beta <- beta - grad / L from beta = 0; returns (beta, L, losses).

    L, the largest eigenvalue of the loss's Hessian (constant for a quadratic),
    is the largest curvature along any direction: a step of 1/L cannot overshoot.
    """
    n = X.shape[1]
    hessian = adkit.hessian(squared_error)(np.zeros(n), X, y, lam)
    L = float(np.linalg.eigvalsh(hessian).max())
    grad = adkit.grad(squared_error)
    beta = np.zeros(n)
    losses = []
    for _ in range(steps):
        losses.append(float(squared_error(beta, X, y, lam)))
        beta = beta - grad(beta, X, y, lam) / L
    losses.append(float(squared_error(beta, X, y, lam)))
    return beta, L, losses


def rmse(pred: np.ndarray, y: np.ndarray) -> float:
    """Root-mean-square error: sqrt(mean((pred - y)^2))."""
    return float(np.sqrt(np.mean((pred - y) ** 2)))


def save_plot(path: str, x: np.ndarray, y: np.ndarray, signal: np.ndarray, n_train: int,
              fits: dict, ridge: dict) -> bool:
    """Fitted curves per degree, and ridge train/validation RMSE against lambda;
    False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.8))
    ax0.plot(x[:n_train], y[:n_train], "k.", ms=4, label="training points")
    ax0.plot(x[n_train:], y[n_train:], "o", mfc="none", mec="k", ms=4, label="validation points")
    ax0.plot(x, signal, "k:", lw=1, label="signal 2 + x + 2x^2")
    for degree, fit in fits.items():
        line, = ax0.plot(x, fit["curve"], lw=1.5, label=f"degree {degree}")
        ax0.plot(x, fit["descent_curve"], "--", lw=1, color=line.get_color(),
                 label=f"degree {degree}, steepest descent")
    ax0.axvline(x[n_train - 1], color="grey", lw=0.8)
    span = y.max() - y.min()
    ax0.set_ylim(y.min() - 0.3 * span, y.max() + 0.3 * span)  # degree 8 leaves the plot
    ax0.set_xlabel("x")
    ax0.set_ylabel("y")
    ax0.set_title("least squares fits (right of the grey line: unseen)")
    ax0.legend(fontsize=7, loc="upper left")
    ax1.plot(ridge["lambdas"], ridge["train_rmse"], label="training")
    ax1.plot(ridge["lambdas"], ridge["valid_rmse"], label="validation")
    ax1.set_xlabel(r"$\lambda$")
    ax1.set_ylabel("RMSE")
    ax1.set_title(f"ridge, {ridge['n_terms']} coefficients")
    ax1.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=100, help="points on [-1, 1]")
    parser.add_argument("--n-train", type=int, default=80,
                        help="the first N points train, the rest validate (default 80)")
    parser.add_argument("--noise", type=float, default=0.1, help="noise standard deviation")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    parser.add_argument("--steps", type=int, default=1000, help="steepest-descent steps")
    parser.add_argument("--ridge-terms", type=int, default=80,
                        help="coefficients of the ridge polynomial (the listing's degree = 80)")
    parser.add_argument("--n-lambdas", type=int, default=100,
                        help="lambdas evenly spaced on [0.01, 0.99] (default 100)")
    parser.add_argument("--out", default="runs/examples/textbook_least_squares",
                        help="folder for the PNG")
    args = parser.parse_args(argv)
    if not 0 < args.n_train < args.n_samples:
        parser.error(f"--n-train must be between 1 and --n-samples - 1 ({args.n_samples - 1}), "
                     f"got {args.n_train}")
    if args.n_train <= max(DEGREES):
        parser.error(f"--n-train {args.n_train} is too few for degree {max(DEGREES)}: "
                     f"give at least {max(DEGREES) + 1} training points")
    if args.steps < 1 or args.ridge_terms < 1 or args.n_lambdas < 1:
        parser.error("--steps, --ridge-terms and --n-lambdas must be at least 1")

    x, y, signal = make_data(args.n_samples, args.noise, args.seed)
    n = args.n_train
    print(f"y = 2 + x + 2x^2 + N(0, {args.noise}^2) at {args.n_samples} points on [-1, 1] "
          f"(seed {args.seed}); the first {n} train, the last {args.n_samples - n} validate")
    print(f"\n{'degree':>6}  {'train RMSE':>10}  {'valid RMSE':>10}  {'max|grad|':>9}  "
          f"{'relative':>8}   steepest descent, {args.steps} steps: train, valid RMSE, L")
    fits = {}
    for degree in DEGREES:
        X = design_matrix(x[:n], degree + 1)
        beta = normal_equations(X, y[:n])
        grad_max, grad_rel = gradient_check(beta, X, y[:n])
        curve = design_matrix(x, degree + 1) @ beta
        descent, L, losses = steepest_descent(X, y[:n], args.steps)
        descent_curve = design_matrix(x, degree + 1) @ descent
        fit = {"beta": beta, "curve": curve, "grad_max": grad_max, "grad_rel": grad_rel,
               "train_rmse": rmse(curve[:n], y[:n]), "valid_rmse": rmse(curve[n:], y[n:]),
               "descent_beta": descent, "descent_curve": descent_curve, "L": L,
               "descent_losses": losses,
               "descent_train_rmse": rmse(descent_curve[:n], y[:n]),
               "descent_valid_rmse": rmse(descent_curve[n:], y[n:])}
        fits[degree] = fit
        print(f"{degree:>6}  {fit['train_rmse']:>10.4f}  {fit['valid_rmse']:>10.4f}  "
              f"{grad_max:>9.1e}  {grad_rel:>8.1e}   {fit['descent_train_rmse']:.4f}  "
              f"{fit['descent_valid_rmse']:.4f}  L = {L:.3g}")
    print("max|grad|: adkit.grad of |X beta - y|^2 at the normal equations' solution "
          "(relative: over the size of its terms)")

    print("\nThe book's lines, with its quantity sqrt(sum of squared errors) = RMSE * sqrt(n):")
    for degree, fit in fits.items():
        print(f"Train RMSE (Degree = {degree}) {fit['train_rmse'] * np.sqrt(n):.6f}")
        print(f"Test RMSE (Degree = {degree}) "
              f"{fit['valid_rmse'] * np.sqrt(args.n_samples - n):.6f}")

    # Listing 2-2: many coefficients, tamed by the penalty instead of by the degree.
    X = design_matrix(x[:n], args.ridge_terms)
    X_all = design_matrix(x, args.ridge_terms)
    lambdas = np.linspace(0.01, 0.99, args.n_lambdas)
    train, valid, grads = [], [], []
    for lam in lambdas:
        beta = normal_equations(X, y[:n], lam)
        grads.append(gradient_check(beta, X, y[:n], lam)[1])
        pred = X_all @ beta
        train.append(rmse(pred[:n], y[:n]))
        valid.append(rmse(pred[n:], y[n:]))
    best = int(np.argmin(valid))
    # The book's prose has (X^T X - lambda I)^-1 X^T y; the gradient says which sign minimises.
    lam = float(lambdas[best])
    minus_rel = gradient_check(np.linalg.solve(X.T @ X - lam * np.eye(X.shape[1]), X.T @ y[:n]),
                               X, y[:n], lam)[1]
    ridge = {"n_terms": args.ridge_terms, "lambdas": lambdas, "train_rmse": train,
             "valid_rmse": valid, "grad_rel_max": float(max(grads)),
             "best_lambda": lam, "best_valid_rmse": valid[best], "minus_sign_grad_rel": minus_rel}
    print(f"\nRidge: {args.ridge_terms} coefficients (powers 0..{args.ridge_terms - 1}), "
          f"{args.n_lambdas} lambdas on [0.01, 0.99]")
    print(f"  {'lambda':>6}  {'train RMSE':>10}  {'valid RMSE':>10}")
    for i in sorted(set(np.linspace(0, args.n_lambdas - 1, min(args.n_lambdas, 6)).astype(int))):
        print(f"  {lambdas[i]:>6.3f}  {train[i]:>10.4f}  {valid[i]:>10.4f}")
    print(f"  best validation RMSE {valid[best]:.4f} at lambda = {lambdas[best]:.3f} "
          f"(degree 8 without a penalty: {fits[8]['valid_rmse']:.4f}); "
          f"largest relative |grad| at the ridge solutions {ridge['grad_rel_max']:.1e}")
    print(f"  the prose's sign, (X^T X - lambda I) beta = X^T y, at lambda = {lam:.3f}: relative "
          f"|grad| {minus_rel:.1e}, not a minimum of the penalised loss")

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "textbook_least_squares.png")
    if save_plot(path, x, y, signal, n, fits, ridge):
        print(f"\nfits and ridge curves saved to {path}")
    else:
        path = None
        print("\nmatplotlib is not installed: no figure written")
    return {"fits": fits, "ridge": ridge, "png": path, "n_train": n}


if __name__ == "__main__":
    main()
