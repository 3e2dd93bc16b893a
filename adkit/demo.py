"""The README's first command: a few functions differentiated in every mode, side by side."""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import forward, grad, hessian, jacobian, jvp, reverse


def _central(f: Callable, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """A plain central difference, as an outside witness for the printout."""
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        g.flat[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def _row(label: str, values: np.ndarray) -> str:
    return f"  {label:<28}" + "".join(f"{v:>12.6f}" for v in np.ravel(values))


def run(print_: Callable[[str], None] = print) -> dict:
    """Print the demo; return the numbers it printed (for the tests)."""
    results = {}
    print_("adkit: derivatives of plain NumPy code, every mode side by side\n")

    def norm(x1, x2):
        return np.sqrt(x1 ** 2 + x2 ** 2)

    print_(f"f(x1, x2) = sqrt(x1^2 + x2^2) at (1, 2) = {norm(1, 2):.4f}")
    print_(f"  {'mode':<28}{'df/dx1':>12}{'df/dx2':>12}")
    modes = {
        "reverse  grad(f, 0), (f, 1)": [grad(norm, 0)(1, 2), grad(norm, 1)(1, 2)],
        "forward  jvp along e1, e2": [jvp(norm, (1.0, 2.0), (1.0, 0.0))[1],
                                      jvp(norm, (1.0, 2.0), (0.0, 1.0))[1]],
        "forward  Dual numbers": [norm(forward.Dual(1.0, 1.0), 2.0).tangent,
                                  norm(1.0, forward.Dual(2.0, 1.0)).tangent],
        "central difference": list(_central(lambda v: norm(v[0], v[1]), np.array([1.0, 2.0]))),
    }
    for label, vals in modes.items():
        print_(_row(label, np.array(vals)))
    results["norm"] = modes

    rng = np.random.RandomState(0)
    A = rng.randn(6, 3)
    x = np.array([0.5, -0.3, 0.8])

    def softplus_loss(x):
        return np.sum(np.log1p(np.exp(A @ x))) + 0.5 * x @ x

    s = 1 / (1 + np.exp(-A @ x))
    exact_grad, exact_hess = A.T @ s + x, A.T @ np.diag(s * (1 - s)) @ A + np.eye(3)
    print_("\ng(x) = sum(log1p(exp(A x))) + x.x/2, A 6x3, at x = (0.5, -0.3, 0.8)")
    print_(f"  {'gradient by':<28}{'dg/dx1':>12}{'dg/dx2':>12}{'dg/dx3':>12}")
    grads = {"reverse  grad": grad(softplus_loss)(x),
             "forward  jacobian": forward.jacobian(softplus_loss)(x),
             "central difference": _central(softplus_loss, x),
             "closed form": exact_grad}
    for label, g in grads.items():
        print_(_row(label, g))
    hessians = {"forward over reverse": hessian(softplus_loss)(x),
                "reverse over reverse": reverse.jacobian(grad(softplus_loss))(x),
                "forward over forward": forward.jacobian(forward.jacobian(softplus_loss))(x)}
    print_("  Hessian, max |error| against the closed form:")
    for label, H in hessians.items():
        print_(f"    {label:<26}{np.max(np.abs(H - exact_hess)):>12.2e}")
    results["softplus"] = grads, hessians, exact_hess

    def layer(w):
        return np.tanh(w.T.dot(x))

    w = rng.randn(3, 2)
    print_("\nh(W) = tanh(W.T.dot(x)), W 3x2: Jacobian 2x3x2 by three routes, max |difference|")
    J = {mode: jacobian(layer, mode=mode)(w) for mode in ("forward", "reverse")}
    J["central"] = np.stack([_central(lambda v, k=k: layer(v)[k], w) for k in range(2)])
    print_(f"  forward vs reverse {np.max(np.abs(J['forward'] - J['reverse'])):.2e}, "
           f"forward vs central {np.max(np.abs(J['forward'] - J['central'])):.2e}")
    results["layer"] = J
    return results
