"""Benchmark 5: finite differences, accuracy per evaluation of f.

adkit.numeric.derivative at its default step, for "forward", "central" and
"richardson" (levels 1 and 2), on exp(x)*sin(x), x^3/(1+x^2) and
log(x)*sqrt(x) at x = 1.3; beside it the best error over a sweep of 33 steps
h = 10^-1 .. 10^-9 (what a perfect step choice could get), adkit's own error
estimate, and numdifftools.Derivative(f) with its defaults. Every error is
against SymPy's exact derivative at the same float x (30 digits); every
count of evaluations of f comes from a wrapper that counts the points f was
called at.
Target: the default-step Richardson error no worse than numdifftools' default,
with fewer evaluations of f.

Nothing is timed: the cells are absolute errors and evaluation counts.
"""

from __future__ import annotations

from typing import Any, Callable

from ._common import Row, Section, Settings, verdict

import numpy as np  # noqa: E402

from adkit import numeric  # noqa: E402

X0 = 1.3
SWEEP = np.logspace(-1, -9, 33)
METHODS = (("forward", 1), ("central", 1), ("richardson", 1), ("richardson", 2))
COLUMNS = ["error estimate", "best step of the sweep", "numdifftools.Derivative()"]
NEARBY = np.linspace(1.25, 1.35, 21)  # for the typical errors in the notes


def functions() -> dict[str, tuple[Callable, Callable]]:
    """label -> (f on NumPy values, exact f' from SymPy at any float x)."""
    import sympy as sp
    t = sp.Symbol("t")
    exprs = {"exp(x)sin(x)": sp.exp(t) * sp.sin(t),
             "x^3/(1+x^2)": t ** 3 / (1 + t ** 2),
             "log(x)sqrt(x)": sp.log(t) * sp.sqrt(t)}
    out = {}
    for label, e in exprs.items():
        f = sp.lambdify(t, e, "numpy")
        d = sp.diff(e, t)
        # sp.Rational(x) is the float's exact binary value, so the reference is exact
        out[label] = (f, lambda x, d=d: float(d.subs(t, sp.Rational(float(x))).evalf(30)))
    return out


class Counted:
    """f, counting the points it is evaluated at (an array argument counts its size)."""

    def __init__(self, f: Callable) -> None:
        self.f, self.points = f, 0

    def __call__(self, x: Any) -> Any:
        self.points += int(np.size(x))
        return self.f(x)


def numdifftools_derivative() -> Callable | str:
    """x, f -> (value, points) with numdifftools' defaults, or why it is missing."""
    try:
        import numdifftools as nd
    except ImportError as e:
        return f"not installed ({type(e).__name__}: {e})"

    def run(f: Callable, x: float) -> tuple[float, int]:
        g = Counted(f)
        return float(nd.Derivative(g)(x)), g.points
    run.version = nd.__version__  # type: ignore[attr-defined]
    return run


def run(settings: Settings) -> Section:
    del settings  # nothing is timed, so quick and full runs are the same
    sec = Section("numeric", f"5. Finite differences: |error| of f'({X0}) and evaluations "
                  "of f", COLUMNS)
    nd = numdifftools_derivative()
    funcs = functions()
    for label, (f, exact) in funcs.items():
        want = exact(X0)
        if callable(nd):
            got, nd_points = nd(f, X0)
            nd_err = abs(got - want)
            nd_cell = f"{nd_err:.2e} ({nd_points} evals)"
        else:
            nd_cell = "not installed"
        for method, levels in METHODS:
            g = Counted(f)
            value = numeric.derivative(g, X0, method=method, levels=levels)
            err, points = abs(value - want), g.points
            g = Counted(f)
            _, info = numeric.derivative(g, X0, method=method, levels=levels,
                                         full_output=True)
            sweep = [abs(numeric.derivative(f, X0, method=method, levels=levels, h=h) - want)
                     for h in SWEEP]
            best = int(np.argmin(sweep))
            default = levels == numeric.default_levels(method, None)
            name = method if method != "richardson" else \
                f"richardson, levels={levels}" + " (default)" * default
            row = Row(label, name, f"{err:.2e} ({points} evals)", {
                "error estimate": f"{info.error:.1e} (+{g.points - points} evals)",
                "best step of the sweep": f"{sweep[best]:.2e} at h={SWEEP[best]:.1e}",
                "numdifftools.Derivative()": nd_cell})
            if method == "richardson" and default:
                # judged on the median over nearby points: one point's error is partly
                # luck of rounding (the cells above show x = X0 alone)
                row.target = "median error <= numdifftools', fewer evals"
                row.met = verdict(None if not callable(nd) else bool(
                    _median_error(lambda x: numeric.derivative(f, x, method="richardson"),
                                  exact) <= _median_error(lambda x: nd(f, x)[0], exact)
                    and points < nd_points))
            sec.rows.append(row)
    sec.notes.append("cells are absolute errors against SymPy's exact derivative and (in "
                     "parentheses) evaluations of f, not times; adkit's cell is the default "
                     "step; 'error estimate' is Estimate.error from full_output=True, and "
                     "the evaluations it adds")
    if callable(nd):
        sec.notes.append(f"numdifftools {nd.version}: Derivative(f)(x) with its defaults "
                         "(central, order 2, Richardson extrapolation over a sequence of "
                         "steps)")
        sec.notes.append(_typical(funcs, nd))
    else:
        sec.notes.append(f"numdifftools: {nd}")
    sec.notes.append("the best step of the sweep includes lucky cancellations of rounding "
                     "errors at one point, which no step rule could aim for")
    return sec


def _median_error(derivative: Callable, exact: Callable) -> float:
    return float(np.median([abs(derivative(x) - exact(x)) for x in NEARBY]))


def _typical(funcs: dict, nd: Callable) -> str:
    """Median errors over 21 points near X0: one point's error can be luck of rounding."""
    parts = []
    for label, (f, exact) in funcs.items():
        want = np.array([exact(x) for x in NEARBY])
        med = {f"richardson levels={lv}": np.median(np.abs(
            [numeric.derivative(f, x, method="richardson", levels=lv) for x in NEARBY]
            - want)) for lv in (1, 2)}
        med["numdifftools"] = np.median(np.abs([nd(f, x)[0] for x in NEARBY] - want))
        parts.append(f"{label}: " + ", ".join(f"{k} {v:.1e}" for k, v in med.items()))
    return (f"median |error| over {len(NEARBY)} points in [{NEARBY[0]}, {NEARBY[-1]}]: "
            + "; ".join(parts))


if __name__ == "__main__":
    from ._common import render_section
    print(render_section(run(Settings(quick=True))))
