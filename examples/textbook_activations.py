"""The textbook's activation functions and their derivatives, the derivatives taken by adkit.

Listing 4-4 applies six activations to [[-1, 0, 1]]: sigmoid, tanh, Theano's
"ultra fast" sigmoid, softplus, relu and softmax. Here they run on the same
input (the first five from adkit.nn.activations, the fast sigmoid written out
below as Theano defines it; Keras's cruder hard_sigmoid comes along for
comparison), and each derivative comes from adkit.grad and is checked against
its closed form:

    sigmoid      s(x) = 1 / (1 + e^-x)           s' = s (1 - s)
    tanh         t(x)                            t' = 1 - t^2
    fast sigmoid 0.5 + 0.5 z(x/2), z a piecewise  0.375 / (1 + |x|/2)^2 for |x| < 3.4,
                 rational/linear tanh stand-in   0.0458812946797165 / 4 for |x| < 6, else 0
                 (its pieces do not meet: it steps down by 0.0045 at |x| = 3.4)
    hard sigmoid clip(0.2 x + 0.5, 0, 1)         0.2 for |x| < 2.5, else 0
    softplus     log(1 + e^x)                    sigmoid(x)
    relu         max(0, x)                       1 for x > 0, else 0 (adkit takes 0 at 0)
    softmax      e^x_i / sum_j e^x_j             Jacobian diag(s) - s s^T

An elementwise f has a diagonal Jacobian, so the gradient of sum(f(x)) is the
vector of f'(x_i): one reverse pass gives the derivative at every point
(autograd's elementwise_grad). Softmax mixes its inputs, so it gets the full
Jacobian from adkit.jacobian instead.

    python examples/textbook_activations.py
    python examples/textbook_activations.py --points 401 --out runs/activations
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Callable

import numpy as np

import adkit
from adkit.nn import activations

BOOK_INPUT = np.array([[-1.0, 0.0, 1.0]])

# Theano's UltraFastScalarSigmoid: a piecewise stand-in for tanh(x/2), rescaled to (0, 1).
_FAST_KNEE, _FAST_END = 1.7, 3.0
_FAST_AT_KNEE, _FAST_SLOPE, _FAST_TOP = 0.935409070603099, 0.0458812946797165, 0.99505475368673


def ultra_fast_sigmoid(x: Any) -> Any:
    """Theano's T.nnet.ultra_fast_sigmoid, written with NumPy so adkit can differentiate it.

    >>> float(ultra_fast_sigmoid(np.float64(1.0)))
    0.75
    """
    h = 0.5 * x
    a = np.abs(h)
    # 1.5 h / (1 + |h|) keeps the sign of h without np.sign, so the slope at 0 is right.
    inner = 1.5 * h / (1.0 + a)
    outer = np.sign(h) * np.where(a < _FAST_END, _FAST_AT_KNEE + _FAST_SLOPE * (a - _FAST_KNEE),
                                  _FAST_TOP)
    return 0.5 * np.where(a < _FAST_KNEE, inner, outer) + 0.5


def elementwise_derivative(f: Callable[[Any], Any]) -> Callable[[np.ndarray], np.ndarray]:
    """f' at every entry of x, for an elementwise f: the gradient of sum(f(x)).

    >>> elementwise_derivative(np.sin)(np.array([0.0, np.pi]))
    array([ 1., -1.])
    """
    return adkit.grad(lambda x: np.sum(f(x)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _fast_sigmoid_slope(x: np.ndarray) -> np.ndarray:
    a = 0.5 * np.abs(x)
    return np.where(a < _FAST_KNEE, 0.375 / (1.0 + a) ** 2,
                    np.where(a < _FAST_END, _FAST_SLOPE / 4.0, 0.0))


#: name -> (function, its derivative in closed form)
ELEMENTWISE: dict[str, tuple[Callable, Callable]] = {
    "sigmoid": (activations.sigmoid, lambda x: _sigmoid(x) * (1.0 - _sigmoid(x))),
    "tanh": (activations.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "fast sigmoid": (ultra_fast_sigmoid, _fast_sigmoid_slope),
    "hard sigmoid": (activations.hard_sigmoid,
                     lambda x: np.where(np.abs(x) < 2.5, 0.2, 0.0)),
    "softplus": (activations.softplus, _sigmoid),
    "relu": (activations.relu, lambda x: (x > 0).astype(float)),
}


def softmax_jacobian(x: np.ndarray) -> np.ndarray:
    """diag(s) - s s^T for a vector x, the closed form of softmax's Jacobian."""
    s = np.exp(x - x.max()) / np.sum(np.exp(x - x.max()))
    return np.diag(s) - np.outer(s, s)


def softmax_first(x: Any) -> Any:
    """softmax([x_k, 0, 1])[0] for each x_k: one row per point, so elementwise in x."""
    rows = np.stack([x, np.zeros(x.shape), np.ones(x.shape)], axis=-1)
    return activations.softmax(rows)[:, 0]


def derivatives_on(x: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Value, adkit derivative and closed-form derivative of each elementwise activation."""
    out = {}
    for name, (f, slope) in ELEMENTWISE.items():
        out[name] = {"value": np.asarray(f(x)), "adkit": elementwise_derivative(f)(x),
                     "closed": slope(x)}
    return out


def save_plot(path: str, x: np.ndarray, curves: dict, softmax_curve: dict) -> bool:
    """One panel per activation: the function and its adkit derivative, closed form
    dotted; False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = list(curves) + ["softmax"]
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.5))
    for ax, name in zip(axes.ravel(), names):
        c = softmax_curve if name == "softmax" else curves[name]
        ax.plot(x, c["value"], lw=2, label="f")
        ax.plot(x, c["adkit"], lw=2, label="f' by adkit.grad")
        ax.plot(x, c["closed"], "k:", lw=1.2, label="f' closed form")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(name if name != "softmax" else "softmax([x, 0, 1])[0], d/dx")
        ax.set_xlabel("x")
    axes.ravel()[0].legend(fontsize=8)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=601,
                        help="points on [-6, 6] for the figure and the check (default 601)")
    parser.add_argument("--out", default="runs/examples/textbook_activations",
                        help="folder for the PNG")
    args = parser.parse_args(argv)
    if args.points < 2:
        parser.error(f"--points must be at least 2, got {args.points}")

    # What listing 4-4 prints, and the derivatives at the same three inputs.
    row = BOOK_INPUT[0]
    book = derivatives_on(row)
    s = activations.softmax(BOOK_INPUT)
    jac = adkit.jacobian(activations.softmax)(row)
    print(f"input {row.tolist()}")
    print(f"  {'':<13}{'f(x)':<36}{'df/dx by adkit.grad':<36}")
    for name, c in book.items():
        print(f"  {name + ':':<13}{np.array2string(c['value'], precision=4):<36}"
              f"{np.array2string(c['adkit'], precision=4):<36}")
    print(f"  {'soft max:':<13}{np.array2string(s[0], precision=4)}")
    print("  softmax Jacobian by adkit.jacobian (row i: d s_i / d x_j):")
    for line in np.array2string(jac, precision=4).splitlines():
        print(f"    {line}")

    # The same check on a grid, and the figure.
    x = np.linspace(-6.0, 6.0, args.points)
    curves = derivatives_on(x)
    errors = {name: float(np.max(np.abs(c["adkit"] - c["closed"]))) for name, c in curves.items()}
    errors["softmax"] = float(np.max(np.abs(jac - softmax_jacobian(row))))
    # Its derivative is the Jacobian's (0, 0) entry, s_0 (1 - s_0).
    s0 = softmax_first(x)
    softmax_curve = {"value": s0, "adkit": elementwise_derivative(softmax_first)(x),
                     "closed": s0 * (1.0 - s0)}
    errors["softmax"] = max(errors["softmax"],
                            float(np.max(np.abs(softmax_curve["adkit"] - softmax_curve["closed"]))))
    print(f"\nlargest |adkit - closed form| over {args.points} points on [-6, 6]:")
    for name, err in errors.items():
        print(f"  {name:<13}{err:.1e}")

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "textbook_activations.png")
    if save_plot(path, x, curves, softmax_curve):
        print(f"\nfunctions and derivatives saved to {path}")
    else:
        path = None
        print("\nmatplotlib is not installed: no figure written")
    return {"book": book, "softmax": s[0], "softmax_jacobian": jac, "errors": errors,
            "png": path}


if __name__ == "__main__":
    main()
