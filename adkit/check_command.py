"""`adkit check EXPR --at x1=1 x2=2 [--order 2]`: one function, every mode, side by side."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from .checks import MODES, GradCheckError, GradCheckReport, PointError, check_grads
from .expression import ExpressionError, compile_expression


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "check", help="differentiate an expression at a point in every mode and compare",
        description="Differentiate a NumPy expression at a point by forward and reverse "
        "mode, Richardson differences and SymPy, and print the derivatives side by side "
        "with each pair's error. Example: adkit check \"np.sqrt(x1*x1 + x2*x2)\" --at "
        "x1=1 x2=2")
    p.add_argument("expression", help="a Python/NumPy expression in the variables of --at")
    p.add_argument("--at", nargs="+", required=True, metavar="NAME=VALUE",
                   help="the point: x1=1 x2=2, or x=1,2,3 for a vector")
    p.add_argument("--order", type=int, choices=(1, 2), default=1,
                   help="2 adds the Hessians")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.set_defaults(run=run)


def parse_point(items: list[str]) -> tuple[list[str], list[Any]]:
    names, values = [], []
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.isidentifier():
            raise ExpressionError(f"--at takes NAME=VALUE pairs (x1=1, or x=1,2,3 for a "
                                  f"vector), got {item!r}")
        if name in names:
            raise ExpressionError(f"--at gives {name!r} twice")
        try:
            numbers = [float(t) for t in text.split(",")]
        except ValueError:
            raise ExpressionError(f"--at {item!r}: {text!r} is not a number or a "
                                  "comma-separated list of numbers") from None
        names.append(name)
        values.append(numbers[0] if len(numbers) == 1 and "," not in text
                      else np.array(numbers))
    return names, values


def run(args: argparse.Namespace) -> int:
    try:
        names, point = parse_point(args.at)
        f = compile_expression(args.expression, names)
        value = f(*point)
    except ExpressionError as e:
        print(f"adkit check: {e}")
        return 2
    print(f"f({', '.join(names)}) = {args.expression}")
    print(f"at {', '.join(f'{n}={_fmt_value(v)}' for n, v in zip(names, point))}")
    print(f"value: {_fmt_value(value)}")
    status = 0
    for order in range(1, args.order + 1):
        try:
            report = check_grads(f, tuple(point), order=order, modes=args.modes)
        except GradCheckError as e:
            report, status = e.report, 1
        except PointError as e:
            print(f"\nadkit check: {e}")
            return 3
        print()
        print(_side_by_side(report, names, point, order))
        print()
        print(report)
    print("\nall modes agree" if status == 0 else "\nMODES DISAGREE (marked above)")
    return status


def _labels(names: list[str], point: list[Any]) -> list[str]:
    out = []
    for n, v in zip(names, point):
        shape = np.shape(v)
        out += [n + (f"[{', '.join(map(str, i))}]" if shape else "") for i in np.ndindex(shape)]
    return out


def _side_by_side(report: GradCheckReport, names: list[str], point: list[Any],
                  order: int) -> str:
    inputs = _labels(names, point)
    modes = report.modes
    first = report.derivatives[modes[0]]
    if order == 1:
        rows = [(f"df/d{inputs[c]}" if first.shape[0] == 1 else f"df[{r}]/d{inputs[c]}", r, c)
                for r in range(first.shape[0]) for c in range(first.shape[1])]
    else:
        rows = [(f"d2f/d{inputs[r]}d{inputs[c]}", r, c)
                for r in range(first.shape[0]) for c in range(r, first.shape[1])]
    w = max(len(label) for label, _, _ in rows)
    col = max(22, max(len(m) for m in modes) + 2)
    lines = [f"{'':<{w}}" + "".join(f"{m:>{col}}" for m in modes)]
    for label, r, c in rows:
        lines.append(f"{label:<{w}}" + "".join(
            f"{report.derivatives[m][r, c]:>{col}.15g}" for m in modes))
    return "\n".join(lines)


def _fmt_value(v: Any) -> str:
    if np.ndim(v) == 0:
        return f"{float(v):.15g}"
    return np.array2string(np.asarray(v), precision=15, separator=", ")
