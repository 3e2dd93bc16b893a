"""Inside automatic differentiation: the evaluation traces of f(x1, x2) = sqrt(x1^2 + x2^2).

The textbook's chapter 9 explains forward and reverse mode on this one
function (examples/sqrt_norm.py computes its gradient every way; this script
reuses its f). At (x1, x2) = (1, 2) it shows

  * the gradient check of listing 9-2: adkit's finite-difference referee
    (adkit.numeric.gradient, with its error estimate) against the reverse-mode
    gradient, then adkit.check_grads comparing forward, reverse, numeric and
    symbolic (SymPy) derivatives pairwise;
  * the forward-mode evaluation trace: every intermediate v_i of the Wengert
    list with its tangent v̇_i = dv_i/dx1 (seed ẋ1 = 1, ẋ2 = 0). The list is
    the one adkit.reverse.Tape records; its inputs are adkit.forward.Dual
    numbers, so every recorded value carries its tangent;
  * the reverse-mode trace: every v_i with its adjoint v̄_i = df/dv_i, from the
    reverse sweep over the same tape (seed v̄ = 1 at the output, then each
    entry's VJP closures, from adkit's rule table, pass its adjoint to its
    arguments, summing where a value is used twice);
  * the computational graph drawn from the tape (Tape.to_dot): rendered to PNG
    by Graphviz's `dot` when it is installed, else saved as .dot and printed
    as a list of edges.

Both traces end where the textbook's figures do: v5 = f = 2.236 with tangent
0.447 (= df/dx1), and adjoints 0.447 and 0.894 at x1 and x2.

    python examples/textbook_ad_traces.py
    python examples/textbook_ad_traces.py --x1 3 --x2 4 --wrt x2 --out runs/ad
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

import adkit
from adkit import forward, numeric, reverse


def _sibling(name: str) -> Any:
    """Load another example of this folder (examples/ is not a package)."""
    module_name = f"adkit_example_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name,
                                                      Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[module_name] = module
    return sys.modules[module_name]


f = _sibling("sqrt_norm").f  # np.sqrt(x1 ** 2 + x2 ** 2)


class ValueTape(reverse.Tape):
    """A reverse.Tape that also keeps the value of every entry it records.

    The Tape itself keeps only the graph (operation, arguments, VJP closures);
    the values live in the traced objects the code holds. To print a trace we
    want them all, so this tape notes each one as it is recorded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[int, Any] = {}

    def _keep(self, out: Any) -> Any:
        if out.node is not None:  # constants (nothing traced in them) are not entries
            self.values[out.node.index] = out.value
        return out

    # Every primitive reaches the tape through one of these three.
    def watch(self, value: Any) -> Any:
        return self._keep(super().watch(value))

    def process(self, prim: Any, args: tuple, kwargs: dict) -> Any:
        return self._keep(super().process(prim, args, kwargs))

    def unary(self, prim: Any, a: Any) -> Any:
        return self._keep(super().unary(prim, a))

    def binary(self, prim: Any, a: Any, b: Any) -> Any:
        return self._keep(super().binary(prim, a, b))


def record(x1: Any, x2: Any) -> tuple[ValueTape, tuple, Any]:
    """One evaluation of f on a ValueTape: (tape, the watched inputs, the output)."""
    with ValueTape() as tape:
        inputs = (tape.watch(x1), tape.watch(x2))
        y = f(*inputs)
    return tape, inputs, y


def entry_label(node: reverse.Node, names: dict[int, str]) -> str:
    """'v2 = power(v0)', or 'v0 = x1' for an input: the tape entry without its shape."""
    if node.prim is None:
        return f"v{node.index} = {names.get(node.index, 'input')}"
    return f"v{node.index} = {node.prim.name}({', '.join(f'v{p.index}' for p in node.parents)})"


def forward_trace(x1: float, x2: float, wrt: str = "x1") -> list[dict]:
    """Rows (entry, value v_i, tangent v̇_i) of one forward sweep seeded on `wrt`."""
    seed = {"x1": (1.0, 0.0), "x2": (0.0, 1.0)}[wrt]
    # The tape is recorded inside the dual numbers' perturbation: each entry's
    # value is a Dual whose tangent is d(entry)/d(wrt).
    tape, _, _ = record(forward.Dual(x1, seed[0]), forward.Dual(x2, seed[1]))
    names = {0: "x1", 1: "x2"}
    return [{"entry": entry_label(node, names), "value": float(tape.values[node.index].value),
             "tangent": float(tape.values[node.index].tangent)} for node in tape.entries]


def reverse_sweep(tape: reverse.Tape, y: Any) -> dict[int, Any]:
    """The adjoint v̄_i = dy/dv_i of every entry, walking the tape from y back to its inputs."""
    adjoint = {y.node.index: 1.0}
    for node in reversed(tape.entries):
        g = adjoint.get(node.index)
        if g is None:  # recorded, but y does not depend on it
            continue
        for parent, vjp in zip(node.parents, node.vjps):  # x * x visits x twice: += it
            adjoint[parent.index] = adjoint.get(parent.index, 0.0) + vjp(g)
    return adjoint


def reverse_trace(x1: float, x2: float) -> tuple[list[dict], ValueTape, tuple, Any]:
    """Rows (entry, value, adjoint) in the order the reverse sweep visits them, output first."""
    tape, inputs, y = record(x1, x2)
    adjoint = reverse_sweep(tape, y)
    names = {0: "x1", 1: "x2"}
    rows = [{"entry": entry_label(node, names), "value": float(tape.values[node.index]),
             "adjoint": float(adjoint.get(node.index, 0.0))} for node in reversed(tape.entries)]
    return rows, tape, inputs, y


def draw_graph(tape: reverse.Tape, y: Any, out_dir: str) -> dict:
    """Write the tape's DOT; render it to PNG if Graphviz's dot exists, else describe it in text."""
    dot_path = os.path.join(out_dir, "graph.dot")
    with open(dot_path, "w") as fh:
        fh.write(tape.to_dot([y]))
    dot = shutil.which("dot")
    png_path = None
    if dot is not None:
        png_path = os.path.join(out_dir, "graph.png")
        subprocess.run([dot, "-Tpng", dot_path, "-o", png_path], check=True)
    names = {0: "x1", 1: "x2"}
    ops = {n.index: (n.prim.name if n.prim is not None else f"input {names[n.index]}")
           for n in tape.entries}
    edges = [f"v{p.index} ({ops[p.index]}) -> v{n.index} ({ops[n.index]})"
             for n in tape.entries for p in n.parents]
    return {"dot": dot_path, "png": png_path, "edges": edges}


def _table(rows: list[dict], column: str, symbol: str) -> list[str]:
    lines = [f"  {'entry':<20}{'v_i':>12}{symbol:>12}"]
    lines += [f"  {r['entry']:<20}{r['value']:>12.6f}{r[column]:>12.6f}" for r in rows]
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--x1", type=float, default=1.0, help="first input (default 1)")
    parser.add_argument("--x2", type=float, default=2.0, help="second input (default 2)")
    parser.add_argument("--wrt", choices=("x1", "x2"), default="x1",
                        help="the input forward mode seeds with tangent 1 (default x1)")
    parser.add_argument("--out", default="runs/examples/textbook_ad_traces",
                        help="folder for graph.dot (and graph.png)")
    args = parser.parse_args(argv)
    x1, x2 = args.x1, args.x2
    if x1 == 0 and x2 == 0:
        parser.error("f = sqrt(x1^2 + x2^2) has no derivative at (0, 0): choose another point")

    # Listing 9-2: check the gradient against the numerical referee.
    analytic = (adkit.grad(f, 0)(x1, x2), adkit.grad(f, 1)(x1, x2))
    numeric_grad, estimate = numeric.gradient(lambda v: f(v[0], v[1]), np.array([x1, x2]),
                                              full_output=True)
    print(f"f(x1, x2) = sqrt(x1^2 + x2^2) at ({x1:g}, {x2:g}): {float(f(x1, x2)):.6f}")
    print("Gradient check against adkit.numeric (central differences):")
    for i, name in enumerate(("x1", "x2")):
        print(f"  df/d{name}: numeric grad {numeric_grad[i]:.12f} (error estimate "
              f"{estimate.error[i]:.1e}), analytic grad {analytic[i]:.12f}")
    report = adkit.check_grads(f, (x1, x2))
    print(report)
    print("Gradient OK" if report.ok else "Gradient check FAILED")

    fwd = forward_trace(x1, x2, args.wrt)
    print(f"\nForward mode, tangents seeded on {args.wrt} (v̇ = dv/d{args.wrt}):")
    print("\n".join(_table(fwd, "tangent", "v̇_i")))

    rev, tape, inputs, y = reverse_trace(x1, x2)
    print("\nReverse mode, adjoints v̄_i = df/dv_i, in the order the backward sweep reaches them:")
    print("\n".join(_table(rev, "adjoint", "v̄_i")))
    tape_gradient = tape.gradient(y, inputs)  # adkit's own backward pass, for comparison
    print(f"  Tape.gradient: ({tape_gradient[0]:.6f}, {tape_gradient[1]:.6f})")

    os.makedirs(args.out, exist_ok=True)
    graph = draw_graph(tape, y, args.out)
    if graph["png"]:
        print(f"\ncomputational graph rendered to {graph['png']} (DOT in {graph['dot']})")
    else:
        print(f"\nGraphviz's dot is not installed: DOT saved to {graph['dot']}; the graph's edges:")
        for edge in graph["edges"]:
            print(f"  {edge}")

    return {"grad": tuple(float(g) for g in analytic),
            "numeric_grad": tuple(float(g) for g in numeric_grad),
            "numeric_error": tuple(float(e) for e in estimate.error),
            "check_ok": report.ok, "forward": fwd, "reverse": rev,
            "tape_gradient": tuple(float(g) for g in tape_gradient), "graph": graph}


if __name__ == "__main__":
    main()
