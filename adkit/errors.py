"""adkit's exceptions and the messages that name each problem's fix.

A leaf: it imports nothing of adkit, so any module (a rule, the boxes, the
referees) can raise these without importing the module that catches them.
The classes are re-exported where users meet them: `adkit.NoRuleError`,
`adkit.TracedConversionError`, `adkit.PointError`, `adkit.symbolic.NoSympyError`.
"""

from __future__ import annotations

import sys

__all__ = ["NoRuleError", "TracedConversionError", "NoSympyError", "PointError",
           "no_rule", "traced_conversion", "no_sympy", "outside_caller"]


class NoRuleError(TypeError):
    """A NumPy operation on a traced value that adkit has no rule for."""


class TracedConversionError(ValueError):
    """A traced value was about to become a plain number or array.

    A ValueError, like float("abc"): NumPy replaces a TypeError raised during
    assignment (y[0] = x) with its own generic message, losing the fix we name.
    """


class NoSympyError(NotImplementedError):
    """The traced function reached a primitive that has no SymPy counterpart."""


class PointError(ValueError):
    """The point cannot decide a gradient check: f or its derivative does not exist there."""


def no_rule(what: str) -> NoRuleError:
    """The error for `what` (a NumPy name) called on a traced value without a rule."""
    return NoRuleError(
        f"{what} was called on a traced value, but adkit has no differentiation rule "
        "for it, so it cannot be differentiated (adkit never falls back to a plain or "
        "object array, which would silently lose the derivative). Either rewrite it "
        "with supported NumPy functions (see docs/coverage.md), call it on "
        "adkit.stop_gradient(x) if no derivative should flow through it, or register "
        "it as a primitive with its rules: `op = adkit.primitive(fun)`, then "
        "`adkit.defvjp(op, ...)` and/or `adkit.defjvp(op, ...)` (README: 'Adding a "
        "primitive').")


def traced_conversion(what: str, kind: str, shape: tuple) -> TracedConversionError:
    """The error for `what` (e.g. "float()") done to a traced `kind` box of `shape`."""
    caller = outside_caller()
    where = f" (in {caller})" if caller else ""
    return TracedConversionError(
        f"{what} of a traced value{where} would silently drop its derivative, so adkit "
        f"refuses it. The value is a {kind} of shape {shape}. "
        "Instead: build arrays from traced values with np.stack([...]) (or np.array([...]) "
        "inside an adkit transform); write traced values only into traced arrays, e.g. "
        "`y = np.zeros_like(x, shape=(3,)); y[0] = x` rather than `y = np.zeros(3)`; use "
        "np.sin(x) rather than math.sin(x); or call adkit.stop_gradient(x) to drop the "
        "derivative on purpose. Methods of a plain ndarray (A.dot(x), A.clip(lo, x)) cannot "
        "see traced arguments: write np.dot(A, x) or A @ x.")


def no_sympy(what: str, reason: str) -> NoSympyError:
    """The error for `what` (a NumPy name) that adkit.symbolic cannot express, and why."""
    return NoSympyError(
        f"{what} has no SymPy counterpart ({reason}), so adkit.symbolic cannot "
        "trace this function. Check it with the other referees instead, e.g. "
        "adkit.check_grads(f, args, modes=('forward', 'reverse', 'numeric')).")


def outside_caller() -> str:
    """The innermost frame outside adkit and NumPy, to name where something happened."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not (module.startswith("adkit") or module.startswith("numpy")):
            return f"{frame.f_code.co_name}, {frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return ""
