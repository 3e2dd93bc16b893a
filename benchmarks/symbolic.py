"""Benchmark 6: the symbolic referee, time to an exact Hessian and expression sizes.

adkit.symbolic.hessian (trace with SymPy symbols, sympy.diff, lambdify) on a
10-D Rosenbrock function and on a tiny 3-layer tanh MLP (2-4-4-1, as a
function of its 37 parameters), beside adkit.hessian (forward over reverse)
for scale; the two Hessians must agree to 1e-9. Sizes are SymPy operation
counts of the traced expression, plain and after sympy.cse (common
subexpressions shared), the figure that keeps the MLP's derivatives
tractable.

No target: the symbolic referee is for correctness, not speed. Times are one
cold call each (SymPy caches inside a process, so repeats would flatter it).
"""

from __future__ import annotations

import time
from typing import Callable

from ._common import Row, Section, Settings

import numpy as np  # noqa: E402

import adkit  # noqa: E402
from adkit import symbolic  # noqa: E402

COLUMNS = ["adkit.hessian", "size", "size after cse", "max |difference|"]


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


SIZES = ((2, 4), (4, 4), (4, 1))
_X = np.array([[0.5, -1.0], [1.5, 0.3], [-0.7, 0.9]])  # three samples of 2 features
_Y = np.array([0.2, -0.4, 0.9])


def mlp_loss(theta):
    """Mean squared error of a 2-4-4-1 tanh network, as a function of its parameters."""
    start, h = 0, _X
    for k, (m, n) in enumerate(SIZES):
        W = theta[start:start + m * n].reshape(m, n)
        b = theta[start + m * n:start + m * n + n]
        start += m * n + n
        h = h @ W + b
        if k < len(SIZES) - 1:
            h = np.tanh(h)
    return np.mean((h[:, 0] - _Y) ** 2)


N_MLP = sum(m * n + n for m, n in SIZES)


def _timed(fn: Callable) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(settings: Settings) -> Section:
    sec = Section("symbolic", "Symbolic referee: exact Hessians (one cold call)", COLUMNS)
    cases = [("Rosenbrock, n=10", rosenbrock, np.linspace(-1.2, 1.3, 10)),
             (f"3-layer MLP, {N_MLP} parameters", mlp_loss,
              np.random.RandomState(0).uniform(-0.8, 0.8, N_MLP))]
    for label, f, x in cases:
        t_sym, H_sym = _timed(lambda: symbolic.hessian(f)(x))
        t_ad, H_ad = _timed(lambda: adkit.hessian(f)(x))
        traced = symbolic.trace(f, x)
        diff = float(np.max(np.abs(H_sym - H_ad)))
        sec.rows.append(Row(label, "symbolic.hessian", f"{t_sym:.2f} s", {
            "adkit.hessian": f"{t_ad * 1e3:.2f} ms",
            "size": f"{traced.size():,} ops",
            "size after cse": f"{traced.size(cse=True):,} ops",
            "max |difference|": f"{diff:.1e}" + ("" if diff <= 1e-9 * max(1.0, float(
                np.max(np.abs(H_ad)))) else " WRONG")}))
    sec.notes.append("cells are one call each, not ratios; 'size' counts SymPy operations "
                     "of the traced loss (sympy.count_ops), 'after cse' those of its "
                     "common-subexpression-eliminated form")
    return sec


if __name__ == "__main__":
    from ._common import render_section
    print(render_section(run(Settings())))
