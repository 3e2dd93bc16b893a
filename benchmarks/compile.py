"""Benchmark: adkit.compile against the eager engines and the hand-written floors.

Scalar code (benchmarks/scalar.py's 1000-iteration loop, 9000 primitives):
adkit.compile(adkit.grad(f)) and adkit.compile(adkit.forward.derivative(f)),
per primitive, beside the eager adkit calls and the loop on bare floats.
MLP loss gradient (benchmarks/mlp.py, 784-256-256-10, batch 256, float64 and
float32): adkit.compile(adkit.grad(loss)) beside eager adkit.grad and the
hand-written backprop. Each compiled result is checked against the eager one
(1e-12 relative, float64) before timing; the first call (staging, code
generation and compilation) is timed once and reported as a multiple of one
eager call. Issue 18's targets: scalar reverse <= 0.3 us/primitive, forward
<= 0.2 us, MLP <= 1.0x hand-written, first call <= 3x one eager call.
"""

from __future__ import annotations

import time
from typing import Any

from . import mlp, scalar
from ._common import Row, Section, Settings, checked, max_abs_err, measure, verdict

import numpy as np  # noqa: E402

import adkit  # noqa: E402
import adkit.forward  # noqa: E402

TARGET_REVERSE = 0.3e-6
TARGET_FORWARD = 0.2e-6
TARGET_MLP = 1.0
TARGET_FIRST_CALL = 3.0


def _first_call(make: Any, args: tuple) -> tuple[Any, float]:
    """A fresh compiled function, its first call's result and seconds."""
    fn = make()
    t0 = time.perf_counter()
    out = fn(*args)
    return fn, out, time.perf_counter() - t0


def _scalar_rows(settings: Settings, sec: Section) -> None:
    f = scalar.make_f(np.sin, np.cos)
    x0 = scalar.X0
    want = scalar.reference()
    for mode, eager, target in (
            ("reverse", adkit.grad(f), TARGET_REVERSE),
            ("forward", adkit.forward.derivative(f), TARGET_FORWARD)):
        compiled, first, first_s = _first_call(lambda: adkit.compile(eager), (x0,))
        wrong = set()
        for who, got in (("compiled", compiled(x0)), ("first call", first)):
            if not checked(f"scalar {mode} {who}", abs(float(got) - want) / abs(want), 1e-10,
                           sec.notes, "relative error"):
                wrong.add("adkit")
        assert compiled.stats.traces == 1 and compiled.stats.replays >= 1, compiled.stats
        times = measure({"compiled": lambda: compiled(x0), "eager adkit": lambda: eager(x0),
                         "float (np ufuncs)": lambda: f(x0)}, settings)
        per_prim = {k: t.scaled(scalar.PRIMS) for k, t in times.items()}
        adk = per_prim.pop("compiled")
        sec.rows.append(Row("scalar, 1000 iters", f"{mode}, compiled", adk, per_prim,
                            f"<= {target * 1e6:g} us/prim", verdict(adk.median <= target),
                            "/prim", wrong))
        sec.notes.append(f"scalar {mode}: first call (stage + generate + compile) "
                         f"{first_s * 1e3:.3g} ms = {first_s / times['eager adkit'].median:.2f}"
                         " x one eager call")


def _mlp_row(dtype: Any, settings: Settings, sec: Section) -> None:
    name = np.dtype(dtype).name
    params, X, Y = mlp.make_data(dtype)
    eager = adkit.grad(mlp.loss_np)
    compiled, first, first_s = _first_call(lambda: adkit.compile(eager), (params, X, Y))
    want = eager(params, X, Y)
    got = compiled(params, X, Y)
    scale = max(float(np.max(np.abs(w))) for w in want)
    tol = 1e-12 * scale if name == "float64" else 1e-5 * scale
    wrong = set()
    err = max(max(max_abs_err(g, w) for g, w in zip(out, want)) for out in (got, first))
    if not checked(f"mlp {name} compiled vs eager", err, tol, sec.notes):
        wrong.add("adkit")
    if {g.dtype for g in got} != {np.dtype(dtype)}:
        wrong.add("adkit")
        sec.notes.append(f"mlp {name}: compiled gradient dtypes {[g.dtype for g in got]}")
    times = measure({"compiled": lambda: compiled(params, X, Y),
                     "eager adkit": lambda: eager(params, X, Y),
                     "hand-written": lambda: mlp.hand_value_and_grad(params, X, Y)}, settings)
    adk = times.pop("compiled")
    ok = adk.median <= TARGET_MLP * times["hand-written"].median
    first_ratio = first_s / times["eager adkit"].median
    sec.rows.append(Row(f"MLP 784-256-256-10, B={mlp.BATCH}, {name}", "grad, compiled", adk,
                        times, f"compiled/hand <= {TARGET_MLP}", verdict(ok), wrong=wrong))
    sec.notes.append(f"mlp {name}: first call {first_s * 1e3:.3g} ms = {first_ratio:.2f} x one "
                     f"eager call (target <= {TARGET_FIRST_CALL}: "
                     f"{verdict(first_ratio <= TARGET_FIRST_CALL)})")


def run(settings: Settings) -> Section:
    sec = Section("compile", "adkit.compile: compiled vs eager adkit vs the floors",
                  ["eager adkit", "float (np ufuncs)", "hand-written"])
    _scalar_rows(settings, sec)
    for dtype in (np.float64, np.float32):
        _mlp_row(dtype, settings, sec)
    sec.notes.append("adkit column: the compiled function, replaying its program; peer cells "
                     "show compiled/peer")
    return sec


def adkit_callables() -> dict:
    """label -> (zero-argument compiled call, divisor): for benchmarks.hotspots."""
    f = scalar.make_f(np.sin, np.cos)
    g = adkit.compile(adkit.grad(f))
    params, X, Y = mlp.make_data(np.float64)
    m = adkit.compile(adkit.grad(mlp.loss_np))
    return {"compiled scalar reverse": (lambda: g(scalar.X0), scalar.PRIMS),
            "compiled mlp grad float64": (lambda: m(params, X, Y), 1)}


if __name__ == "__main__":
    from ._common import render_section
    print(render_section(run(Settings(quick=True))))
