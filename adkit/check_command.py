"""`adkit check EXPR --at x1=1 x2=2 [--order 2]`: one function, every mode, side by side.

The expression and the point come from the command line, so they are untrusted:
both are held to the budget of adkit.expression_budget before anything is
allocated, and whatever goes wrong in evaluating them is bad input, one line on
stderr and exit status 2, never a traceback. Exit status 1 means only that the
modes disagree, 3 that the point decides nothing (outside the domain, a kink),
4 that adkit failed where the plain-NumPy value pass had succeeded (a bug).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from .checks import MODES, GradCheckError, GradCheckReport, PointError, check_grads
from .errors import NoRuleError, TracedConversionError
from .expression import ExpressionError, compile_expression
from .expression_budget import (MAX_POINT_SIZE, BudgetError, check_derivative_cost,
                                describe_limits)
from .time_limit import TimeLimitExceeded, time_limit

#: seconds a check may take before it is abandoned (SymPy can take minutes)
DEFAULT_TIME_LIMIT = 60.0

#: exit statuses of `adkit check`
AGREE, DISAGREE, BAD_INPUT, BAD_POINT, INTERNAL_ERROR = 0, 1, 2, 3, 4


def add_parser(sub: Any) -> None:
    """Add the `check` command to the subparsers of `adkit`."""
    p = sub.add_parser(
        "check", help="differentiate an expression at a point in every mode and compare",
        description="Differentiate a NumPy expression at a point by forward and reverse "
        "mode, Richardson differences and SymPy, and print the derivatives side by side "
        "with each pair's error. Example: adkit check \"np.sqrt(x1*x1 + x2*x2)\" --at "
        f"x1=1 x2=2. {describe_limits()} Exit status: {AGREE} all modes agree, {DISAGREE} "
        f"two modes disagree, {BAD_INPUT} bad input (grammar, a limit, an error evaluating "
        f"the expression), {BAD_POINT} the point decides nothing (outside the domain, a "
        f"kink), {INTERNAL_ERROR} adkit itself failed (a bug: please report it).")
    p.add_argument("expression", help="a Python/NumPy expression in the variables of --at "
                   "(one that starts with - goes after --: adkit check --at x=1 -- \"-x\")")
    p.add_argument("--at", nargs="+", required=True, metavar="NAME=VALUE",
                   help="the point: x1=1 x2=2, or x=1,2,3 for a vector")
    p.add_argument("--order", type=int, choices=(1, 2), default=1,
                   help="1 compares the Jacobians, 2 adds the Hessians (default %(default)s)")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES,
                   help="the modes to compare (default: all four)")
    p.add_argument("--time-limit", type=_positive_seconds, default=DEFAULT_TIME_LIMIT,
                   metavar="SECONDS", help="give up after this long, with exit status 2 "
                   "(default %(default)g)")
    p.set_defaults(run=run)


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return seconds


def parse_point(items: list[str]) -> tuple[list[str], list[Any]]:
    """--at's NAME=VALUE items as (names, values): a float, or an array for a list."""
    names, values = [], []
    if sum(item.count(",") + 1 for item in items) > MAX_POINT_SIZE:
        raise BudgetError(f"the point has more than {MAX_POINT_SIZE:,} numbers; the limit "
                          "keeps the Jacobians small")
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
    """Evaluate, differentiate in every mode, print the table; returns the exit status."""
    try:
        with time_limit(args.time_limit):
            return _run(args)
    except TimeLimitExceeded:
        return _bad_input(f"the check took longer than its time limit of {args.time_limit:g} s "
                          "(SymPy is usually the slow mode: leave it out with --modes forward "
                          "reverse numeric, or raise --time-limit)")


def _run(args: argparse.Namespace) -> int:
    try:
        names, point = parse_point(args.at)
        f = compile_expression(args.expression, names)
        value = _evaluate_once(f, point)
        check_derivative_cost(f.last_work, sum(np.size(v) for v in point), np.size(value),
                              args.order, args.modes)
    except (ExpressionError, BudgetError) as e:
        return _bad_input(str(e))
    print(f"f({', '.join(names)}) = {args.expression}")
    print(f"at {', '.join(f'{n}={_fmt_value(v)}' for n, v in zip(names, point))}")
    print(f"value: {_fmt_value(value)}")
    status = AGREE
    for order in range(1, args.order + 1):
        try:
            report = check_grads(f, tuple(point), order=order, modes=args.modes)
        except GradCheckError as e:
            report, status = e.report, DISAGREE
        except PointError as e:
            print(f"\nadkit check: {e}")
            return BAD_POINT
        except (NoRuleError, TracedConversionError, BudgetError) as e:
            return _bad_input(f"cannot differentiate the expression: {e}")
        except Exception as e:  # noqa: BLE001  (the value pass succeeded: adkit's failure)
            # Uncaught, Python would exit with 1, which here means "the modes disagree".
            print(f"adkit check: internal error: differentiating the expression failed "
                  f"({type(e).__name__}: {' '.join(str(e).split())}); this is a bug in adkit, "
                  "please report it with the command line", file=sys.stderr)
            return INTERNAL_ERROR
        print()
        print(_side_by_side(report, names, point, order))
        print()
        print(report)
    print("\nall modes agree" if status == AGREE else "\nMODES DISAGREE (marked above)")
    return status


def _evaluate_once(f: Any, point: list[Any]) -> Any:
    """f at the point, a float or an array of numbers.

    This pass runs plain NumPy on plain arrays (no adkit engine is involved), so any
    error in it is the expression's own (x/0, x[5], a bad axis, a vector for
    matrix_power) and becomes an ExpressionError naming it; so does a value that has
    no derivative (booleans, None, a dtype)."""
    try:
        with np.errstate(all="ignore"):   # inf and nan are reported by check_grads
            value = f(*point)
    except (ExpressionError, BudgetError):
        raise
    except MemoryError:
        raise BudgetError("the expression needs more memory than this machine has") from None
    except Exception as e:  # noqa: BLE001  (see the docstring)
        raise ExpressionError(f"evaluating the expression failed: {type(e).__name__}: "
                              f"{e}") from None
    kind = getattr(value, "dtype", np.dtype(type(value)) if isinstance(
        value, (int, float)) else None)
    if kind is None or np.dtype(kind).kind not in "iuf":
        what = f"of dtype {np.dtype(kind)}" if kind is not None else f"a {type(value).__name__}"
        raise ExpressionError(f"the expression's value is {what}, which has no derivative; "
                              "adkit check differentiates expressions whose value is a "
                              "number or an array of numbers")
    return value


def _bad_input(message: str) -> int:
    """One line on stderr; exit status 2."""
    line = " ".join(message.split())
    print(f"adkit check: error: {line}", file=sys.stderr)
    return BAD_INPUT


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
