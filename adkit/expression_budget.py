"""The resource budget of `adkit check`: a short expression must not cost gigabytes or hours.

An expression from the command line is untrusted input. `np.ones_like(x, shape=(20000,
20000))` asks for 3 GB, `np.broadcast_to(x, shape=(1000, 1000))` for a Jacobian of 10^12
entries. So every array the expression creates is sized BEFORE NumPy allocates it (from
the shapes of the arguments and any size argument: shape, num, reps, repeats, n, s,
pad_width, minlength) and refused past `MAX_ELEMENTS`; the arrays of one evaluation may
hold at most `MAX_WORK` elements in all; and before any derivative is taken, the cost of
the modes (elements evaluated times inputs plus outputs) is checked against
`MAX_DERIVATIVE_WORK`, or the much smaller `MAX_SYMBOLIC_WORK` when SymPy is among them.
The predictions are upper bounds, loose for products (outer, kron, dot, einsum), exact
for broadcasting, matmul and the size arguments.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Iterable

import numpy as np

__all__ = ["BudgetError", "EvaluationBudget", "MAX_SOURCE_CHARS", "MAX_DEPTH",
           "MAX_POINT_SIZE", "MAX_ELEMENTS", "MAX_WORK", "MAX_DERIVATIVE_WORK",
           "MAX_SYMBOLIC_WORK", "check_derivative_cost", "describe_limits"]

#: characters in the expression text
MAX_SOURCE_CHARS = 10_000
#: nesting depth of the expression (operators, calls, brackets)
MAX_DEPTH = 100
#: numbers in the point (all --at values together)
MAX_POINT_SIZE = 1_000
#: elements in any one array the expression creates (8 MB of float64)
MAX_ELEMENTS = 10**6
#: elements in all arrays of one evaluation together
MAX_WORK = 10**7
#: elements evaluated times (inputs + outputs): what the forward, reverse and numeric
#: Jacobians cost (times the inputs again for --order 2): seconds, not minutes
MAX_DERIVATIVE_WORK = 10**6
#: the same with the symbolic mode: SymPy works per element, about 10^4 times slower
MAX_SYMBOLIC_WORK = 2 * 10**4


class BudgetError(ValueError):
    """An expression or point over one of the limits of this module."""


def describe_limits() -> str:
    """The limits, one sentence, for `adkit check --help`."""
    return (f"Limits: the expression at most {MAX_SOURCE_CHARS:,} characters and "
            f"{MAX_DEPTH} levels deep; the point at most {MAX_POINT_SIZE:,} numbers; any "
            f"array it creates at most {MAX_ELEMENTS:,} elements, all of one evaluation "
            f"{MAX_WORK:,}; elements evaluated times (inputs + outputs), the cost of the "
            f"Jacobians (times the inputs again for --order 2), at most "
            f"{MAX_DERIVATIVE_WORK:,}, or {MAX_SYMBOLIC_WORK:,} with the symbolic mode. "
            "Sizes are checked before anything is allocated.")


def _shape(value: Any) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        return (_size(value),)
    return tuple(getattr(value, "shape", ()))


def _size(value: Any) -> int:
    if isinstance(value, (tuple, list)):
        return sum(_size(v) for v in value)
    return math.prod(getattr(value, "shape", ()))


def _integers(value: Any) -> list[int]:
    """Every number in a size argument (an int, a tuple of them, nested), as |int|."""
    if isinstance(value, (tuple, list)):
        return [i for v in value for i in _integers(v)]
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf" and value.size <= 64:
        return [abs(int(v)) for v in value.ravel()]
    if isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value):
        return [abs(int(value))]
    return []


_ELEMENTWISE = {"np.where", "np.clip", "np.broadcast_arrays", "np.select", "np.isclose",
                "np.heaviside", "np.nan_to_num", "np.copysign"}
_MATMUL = {"@", "np.matmul", "np.linalg.matmul"}
_PRODUCTS = {"np.outer", "np.linalg.outer", "np.kron", "np.meshgrid", "np.tensordot",
             "np.linalg.tensordot", "np.einsum", "np.dot", "np.inner", "np.linalg.multi_dot",
             "np.cross", "np.linalg.cross", "np.vecdot", "np.linalg.vecdot", "np.matvec",
             "np.vecmat"}
#: size arguments: the result holds this many elements (or more)
_SHAPE_PARAMETERS = {"shape", "new_shape"}
#: size arguments that multiply the elements of the array arguments
_MULTIPLIER_PARAMETERS = {"num", "reps", "repeats", "s"}


def _matmul_size(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    if not a or not b:
        return 1   # NumPy refuses a 0-d operand itself
    a2 = a if len(a) >= 2 else (1,) + a
    b2 = b if len(b) >= 2 else b + (1,)
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        return 1   # NumPy's own error follows
    return math.prod(batch) * a2[-2] * b2[-1]


_SIGNATURES: dict[Any, inspect.Signature | None] = {}


def _bound_arguments(function: Callable, args: list, kwargs: dict) -> dict[str, Any]:
    """Parameter name -> value, where the function has a signature Python can read."""
    if function not in _SIGNATURES:
        try:
            _SIGNATURES[function] = inspect.signature(function)
        except (TypeError, ValueError):
            _SIGNATURES[function] = None
    signature = _SIGNATURES[function]
    if signature is None:
        return dict(kwargs)
    try:
        return dict(signature.bind_partial(*args, **kwargs).arguments)
    except TypeError:
        return dict(kwargs)   # a wrong call: NumPy raises its own error


def predicted_size(name: str, function: Callable | None, args: list, kwargs: dict) -> int:
    """An upper bound of the elements `function(*args, **kwargs)` creates."""
    operands = [a for a in [*args, *kwargs.values()] if hasattr(a, "shape")
                or isinstance(a, (tuple, list))]
    sizes = [_size(a) for a in operands]
    total = max(sum(sizes), 1)
    if name in _MATMUL and len(operands) >= 2:
        predicted = _matmul_size(_shape(operands[0]), _shape(operands[1]))
    elif name in _PRODUCTS:
        predicted = math.prod(max(s, 1) for s in sizes)
    elif isinstance(function, np.ufunc) or name in _ELEMENTWISE or function is None:
        try:
            predicted = math.prod(np.broadcast_shapes(*(_shape(a) for a in operands)))
        except ValueError:
            predicted = total   # shapes that do not broadcast: NumPy's own error follows
    elif name in ("np.diag", "np.diagflat") and operands:
        k = _integers(kwargs.get("k", args[1] if len(args) > 1 else 0))
        side = sizes[0] + (k[0] if k else 0)
        predicted = max(side * side, total)
    elif name == "np.bincount" and operands:
        values = np.asarray(args[0]) if args and hasattr(args[0], "shape") else np.zeros(0)
        largest = int(values.max()) + 1 if values.size and values.dtype.kind in "iu" else 0
        predicted = max(largest, total)
    else:
        predicted = total
    parameters = _bound_arguments(function, args, kwargs) if function is not None else {}
    for parameter, value in parameters.items():
        numbers = _integers(value)
        if not numbers:
            continue
        if parameter in _SHAPE_PARAMETERS:
            predicted = max(predicted, math.prod(numbers))
        elif parameter in _MULTIPLIER_PARAMETERS or (parameter == "n" and
                                                     name.startswith("np.fft.")):
            predicted = max(predicted, total * max(1, math.prod(numbers)))
        elif parameter == "pad_width" and operands:
            shape = _shape(operands[0])
            predicted = max(predicted, math.prod(d + 2 * max(numbers) for d in shape))
        elif parameter == "minlength":
            predicted = max(predicted, max(numbers))
    return predicted


class EvaluationBudget:
    """The element budget of one evaluation of an expression: `before` sizes a result
    before it is computed, `after` counts the one computed."""

    def __init__(self, inputs: Iterable[Any] = ()) -> None:
        self.work = sum(_size(v) for v in inputs)

    def before(self, name: str, function: Callable | None, args: list, kwargs: dict) -> None:
        """Refuse the call `name(*args, **kwargs)` when its result would be too large."""
        size = predicted_size(name, function, args, kwargs)
        self._refuse_past(size, f"{name} would create")

    def after(self, name: str, result: Any) -> None:
        """Count a result; refuse when it, or the evaluation so far, is over the budget."""
        size = _size(result)
        self._refuse_past(size, f"{name} created")
        self.work += size
        if self.work > MAX_WORK:
            raise BudgetError(f"the expression creates more than {MAX_WORK:,} array "
                              f"elements in all (by {name}); the limit keeps a check within "
                              "memory and time; use smaller arrays")

    @staticmethod
    def _refuse_past(size: int, what: str) -> None:
        if size > MAX_ELEMENTS:
            raise BudgetError(f"{what} an array of {size:,} elements, over the limit of "
                              f"{MAX_ELEMENTS:,} per array; use smaller shapes or sizes")


def check_derivative_cost(work: int, inputs: int, outputs: int, order: int,
                          modes: Iterable[str]) -> None:
    """Refuse a check whose derivatives would cost more than the budget: `work` elements per
    evaluation, differentiated by `inputs` numbers, with `outputs` numbers out."""
    cost = work * (inputs + outputs) * (inputs if order == 2 else 1)
    if "symbolic" in modes and cost > MAX_SYMBOLIC_WORK:
        others = " ".join(m for m in modes if m != "symbolic") or "forward reverse numeric"
        raise BudgetError(f"the symbolic mode would cost {cost:,} element-derivatives, over "
                          f"its limit of {MAX_SYMBOLIC_WORK:,} (SymPy works one element at a "
                          f"time); leave it out with --modes {others}, or use a smaller point")
    if cost > MAX_DERIVATIVE_WORK:
        raise BudgetError(f"the derivatives would cost {cost:,} element-derivatives "
                          f"({work:,} elements evaluated x ({inputs:,} inputs + {outputs:,} "
                          f"outputs){' x the inputs for order 2' if order == 2 else ''}), over "
                          f"the limit of {MAX_DERIVATIVE_WORK:,}; use a smaller point or "
                          "expression")
