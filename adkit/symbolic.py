"""The symbolic referee: run a plain NumPy function on SymPy symbols, differentiate exactly.

The function runs once, at an example point, on traced values that carry both
their number and a SymPy expression in the point's symbols. Each NumPy call
reaches the same primitive table the engines use, but only its SymPy slot: no
JVP or VJP rule runs, so the derivatives come from `sympy.diff` alone.

    >>> from adkit import symbolic
    >>> symbolic.expression(lambda x1, x2: np.sqrt(x1 * x1 + x2 * x2), 1.0, 2.0)
    sqrt(x1**2 + x2**2)
    >>> symbolic.grad(lambda x: np.sum(np.sin(x) * x))(np.array([0.0, 1.0]))
    array([0.        , 1.38177329])

Control flow on traced values (`if x > 0`, np.where on a comparison, argmax,
sort) follows the branch the example point takes: the expression is the
function on the piece of its domain containing the point, which is what its
derivative there needs. `Traced.branches` lists every such decision and
`expression` warns (BranchWarning) when there were any. What cannot be
followed is refused with an error, never turned into a wrong expression:
float() of a traced value, a primitive without a SymPy counterpart
(NoSympyError), tracing inside adkit's engines.

SymPy is imported when this module is, never by `import adkit`.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import sympy as sp

from . import dispatch  # noqa: F401  (fills the table)
from .arguments import argument_names, differentiable_leaves, normalize_argnums
from .arraybox import ArrayBox, Indexable, box_class
from .errors import NoSympyError, no_sympy, outside_caller
from .inplace import note_view, shares_memory
from .pytree import tree_flatten, tree_unflatten
from .rules.helpers import shape_of
from .scope import tracing
from .table import ON_OBJECTS, NoSympy, PerElement
from .tracer import BoxBase, Primitive, Trace, UserPrimitive

__all__ = ["expression", "trace", "grad", "jacobian", "hessian", "Traced",
           "NoSympyError", "BranchWarning"]


class BranchWarning(UserWarning):
    """The expression holds near the example point only: control flow depended on values."""


class At:
    """What a SymPy rule may need beyond the expressions: the numeric point.

    ans: the primitive's numeric answer; values: its numeric arguments.
    A rule that chooses by value (sort, max) calls branch() to say so.
    """

    __slots__ = ("ans", "values", "_trace", "_name")

    def __init__(self, ans: Any, values: list, trace: "SymbolicTrace", name: str) -> None:
        self.ans, self.values, self._trace, self._name = ans, values, trace, name

    def branch(self, what: str = "") -> None:
        self._trace.branch(f"np.{self._name}" + (f" ({what})" if what else ""))


class SymbolicTrace(Trace):
    """One symbolic run: boxes hold (number, SymPy expressions)."""

    __slots__ = ("branches",)
    observes_branches = True

    def __init__(self) -> None:
        super().__init__()
        self.branches: list[str] = []

    def branch(self, what: str) -> None:
        caller = outside_caller()
        note = f"{what} in {caller}" if caller else what
        if note not in self.branches:
            self.branches.append(note)

    def process(self, prim: Primitive, args: tuple, kwargs: dict) -> Any:
        rule = prim.sympy
        if rule is None and isinstance(prim, UserPrimitive):
            return prim.impl(*args, **kwargs)  # trace the body through the table
        if rule is None or isinstance(rule, NoSympy):
            raise _refused(prim)
        values, exprs = [], []
        for a in args:
            if isinstance(a, BoxBase) and a._trace is self:
                values.append(a._value)
                exprs.append(a._tangent)
            else:
                values.append(a)
                # SymPy has no arithmetic on booleans: (x > 0) * x needs the mask as 0/1
                exprs.append(_as_numbers(a) if prim.elementwise else a)
            if isinstance(values[-1], BoxBase):
                raise ValueError(
                    "adkit.symbolic cannot trace a function while adkit.grad, jacobian or "
                    "another transform is differentiating it: call the symbolic "
                    "transform outermost, on the plain function")
        ans = prim.impl(*values, **kwargs)
        if rule is ON_OBJECTS:
            sym = prim.impl(*exprs, **kwargs)
        elif isinstance(rule, str):
            sym = np.frompyfunc(getattr(sp, rule), len(exprs), 1)(*exprs)
        elif isinstance(rule, PerElement):
            sym = np.frompyfunc(functools.partial(rule.fn, sp), len(exprs), 1)(*exprs)
        else:
            sym = rule(sp, At(ans, values, self, prim.name), *exprs, **kwargs)
        sym = np.asarray(_sympify(sym), dtype=object)
        if sym.shape != shape_of(ans):
            raise AssertionError(f"adkit bug: the SymPy rule of {prim.name} gave shape "
                                 f"{sym.shape}, its NumPy result has {shape_of(ans)}")
        out = _box(ans, sym, self)
        if prim.view and shares_memory(ans, values[0]):
            note_view(out, args[0], prim, args[1:], kwargs)
        return out


# Elements become SymPy numbers (Python's 1 / 0.0 would raise where SymPy gives zoo).
_sympify = np.frompyfunc(lambda e: e if isinstance(e, sp.Basic) else sp.sympify(e), 1, 1)


def _as_numbers(a: Any) -> Any:
    if isinstance(a, (bool, np.bool_)) or getattr(a, "dtype", None) == np.bool_:
        return np.asarray(a, dtype=np.int8)
    return a


def _refused(prim: Primitive) -> NoSympyError:
    reason = prim.sympy.reason if isinstance(prim.sympy, NoSympy) else \
        "none was registered for it"
    return no_sympy(prim.name if "." in prim.name else f"np.{prim.name}", reason)  # scipy.*


class Symbolic(ArrayBox):
    """A value of a symbolic run: its number at the example point and its expression."""

    __slots__ = ()
    _kind = "Symbolic"

    @property
    def expr(self) -> Any:
        """The SymPy expression (an object array of them for an array)."""
        e = self._tangent
        return e[()] if e.ndim == 0 else e

    def __bool__(self) -> bool:
        self._trace.branch("bool()")
        return bool(self._value)

    def __int__(self) -> int:
        self._trace.branch("int()")
        return int(self._value)

    def __index__(self) -> int:
        self._trace.branch("an index")
        return int(self._value)

    def __repr__(self) -> str:
        return f"Symbolic({self._value!r}, expr={self.expr!r})"


class SymbolicArray(Indexable, Symbolic):
    """A Symbolic of at least one dimension (indexable)."""

    __slots__ = ()


def _box(value: Any, expr: np.ndarray, trace: SymbolicTrace) -> Symbolic:
    box = object.__new__(box_class(value, Symbolic, SymbolicArray))
    box._value, box._tangent, box._trace = value, expr, trace
    return box


@dataclass(frozen=True)
class Traced:
    """A function traced at a point: its output expressions and how they were made.

    output: a SymPy expression for a scalar output, a sympy.Array for an array,
        in the output's pytree structure.
    symbols: for each traced argument, its symbols with the argument's
        structure and shapes (object arrays of sympy.Symbol).
    point: {symbol: value at the example point}.
    branches: the value-dependent decisions taken (where, and by which call);
        empty when the expression holds everywhere it is defined.
    """

    output: Any
    symbols: tuple
    point: dict
    branches: tuple[str, ...]

    @property
    def flat_symbols(self) -> list:
        out = []
        for tree in self.symbols:
            for leaf in tree_flatten(tree)[0]:
                out.extend(np.ravel(leaf))
        return out

    def flat_output(self) -> list:
        out = []
        for leaf in tree_flatten(self.output)[0]:
            out.extend(np.array(leaf.tolist(), dtype=object).reshape(-1)
                       if isinstance(leaf, sp.NDimArray) else [leaf])
        return [sp.sympify(e) for e in out]

    def size(self, cse: bool = False) -> int:
        """Operation count of the output expressions (after common-subexpression
        elimination with cse=True)."""
        exprs = self.flat_output()
        if not cse:
            return int(sum(sp.count_ops(e) for e in exprs))
        replacements, reduced = sp.cse(exprs)
        return int(sum(sp.count_ops(v) for _, v in replacements) +
                   sum(sp.count_ops(e) for e in reduced))

    def evaluate(self, exprs: list) -> np.ndarray:
        """Numbers of the given expressions at the point, by lambdify.

        Common subexpressions are eliminated first (sympy.cse) for more than a
        few dozen expressions: the derivatives of a network share most of their
        terms, and printing them expanded would not finish. For a handful,
        cse costs more than it saves.
        """
        syms = list(self.point)
        exprs = [_without_deltas(e, self.point) for e in exprs]
        fn = sp.lambdify(syms, exprs, modules=_modules(), cse=len(exprs) > 32)
        with np.errstate(all="ignore"):
            values = np.array(fn(*[self.point[s] for s in syms]), dtype=complex).reshape(-1)
        # complex intermediates (FFTs, roots) leave rounding-sized imaginary parts in a
        # real derivative; a larger one means the value is not real: nan, never dropped
        real = np.abs(values.imag) <= 1e-9 * np.maximum(1.0, np.abs(values.real))
        return np.where(real, values.real, np.nan)

    def __repr__(self) -> str:
        note = f", branches={list(self.branches)}" if self.branches else ""
        return f"Traced({self.output!r}{note})"


def _without_deltas(e: Any, point: dict) -> Any:
    """DiracDelta (the derivative of a Heaviside step, from Max, Abs, sign) is 0 away
    from its jump and undefined on it: numbers for lambdify, which has none."""
    e = sp.sympify(e)
    if not e.has(sp.DiracDelta):
        return e
    return e.replace(lambda a: isinstance(a, sp.DiracDelta),
                     lambda a: sp.S.Zero if complex(a.args[0].xreplace(point)) != 0
                     else sp.nan)


@functools.lru_cache(maxsize=1)
def _modules() -> list:
    try:
        import scipy  # noqa: F401  (lambdify maps special functions to scipy.special)
        return ["scipy", "numpy"]
    except ImportError:
        return ["numpy"]


def trace(f: Callable, *args: Any, argnums: Any = None, **kwargs: Any) -> Traced:
    """Run f at args on symbols for the arguments in argnums (default: every
    float argument) and return the expressions it builds.

    >>> t = trace(lambda x: x[0] * x[1] if x[0] > 0 else -x[1], np.array([2.0, 3.0]))
    >>> t.output, t.branches[0].split(" in ")[0]
    (x_0*x_1, 'np.greater')
    """
    nums = _argnums(f, args, argnums)
    names = argument_names(f, len(args))
    trace_ = SymbolicTrace()
    args = list(args)
    symbols, point = [], {}
    for n in nums:
        leaves, td, _ = differentiable_leaves(args[n], f"argument {n}")
        if any(np.iscomplexobj(leaf) for leaf in leaves):
            raise TypeError(
                f"symbolic.trace: argument {n} is complex; its symbols are real. Pass the "
                "real and imaginary parts as real arguments, e.g. symbolic.grad(lambda x, "
                "y: f(x + 1j * y), argnums=(0, 1)), whose gradients g_x, g_y give "
                "autograd's g_x - 1j * g_y (adkit.check_grads does this for you)")
        sym_leaves, boxes = [], []
        for k, leaf in enumerate(leaves):
            name = names[n] if len(leaves) == 1 else f"{names[n]}_{k}"
            syms = _symbols(name, shape_of(leaf))
            for s, v in zip(syms.ravel(), np.ravel(leaf)):
                point[s] = float(v)
            sym_leaves.append(syms)
            boxes.append(_box(leaf, syms.copy(), trace_))
        symbols.append(tree_unflatten(td, sym_leaves))
        args[n] = tree_unflatten(td, boxes)
    with tracing(trace_):
        out = f(*args, **kwargs)
    leaves, td = tree_flatten(out)
    exprs = [_as_sympy(leaf, trace_) for leaf in leaves]
    return Traced(tree_unflatten(td, exprs), tuple(symbols), point, tuple(trace_.branches))


def expression(f: Callable, *example_args: Any, argnums: Any = None, **kwargs: Any) -> Any:
    """The SymPy expression f builds from symbols at the example arguments.

    Symbols are named after f's parameters (x1, x2), with element indices for
    arrays (x_0, x_1). Warns with BranchWarning when control flow depended on
    values, since the expression then holds near the example point only.
    """
    t = trace(f, *example_args, argnums=argnums, **kwargs)
    if t.branches:
        warnings.warn("the expression follows the branches taken at the example point "
                      f"({'; '.join(t.branches)}); it holds only where those decisions do",
                      BranchWarning, stacklevel=2)
    return t.output


def grad(f: Callable, argnums: Any = 0) -> Callable:
    """The exact gradient of a scalar function: symbolic trace, sympy.diff, lambdify.

    Mirrors adkit.grad: the result has the structure of the differentiated
    arguments (a tuple of them for a tuple argnums).
    """
    @functools.wraps(f)
    def grad_f(*args: Any, **kwargs: Any) -> Any:
        t, nums, single = _trace_for(f, args, kwargs, argnums, "grad")
        e = _scalar_output(t, "grad")
        values = t.evaluate([sp.diff(e, s) for s in t.flat_symbols])
        return _unflatten_like(t, values, (), single)
    return grad_f


def jacobian(f: Callable, argnums: Any = 0) -> Callable:
    """The exact Jacobian, shaped out.shape + in.shape (as adkit.jacobian)."""
    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        t, nums, single = _trace_for(f, args, kwargs, argnums, "jacobian")
        leaves = tree_flatten(t.output)[0]
        if len(leaves) != 1:
            raise ValueError("symbolic.jacobian needs a function with one array output")
        out_shape = tuple(leaves[0].shape) if isinstance(leaves[0], sp.NDimArray) else ()
        syms = t.flat_symbols
        values = t.evaluate([sp.diff(o, s) for o in t.flat_output() for s in syms])
        return _unflatten_like(t, values.reshape(-1, len(syms)), out_shape, single)
    return jacobian_f


def hessian(f: Callable, argnums: Any = 0) -> Callable:
    """The exact Hessian of a scalar function, shaped in.shape + in.shape; for a
    tuple argnums, a tuple of tuples of blocks (as adkit.hessian)."""
    @functools.wraps(f)
    def hessian_f(*args: Any, **kwargs: Any) -> Any:
        t, nums, single = _trace_for(f, args, kwargs, argnums, "hessian")
        e = _scalar_output(t, "hessian")
        syms = t.flat_symbols
        first = [sp.diff(e, s) for s in syms]
        n = len(syms)
        upper = [sp.diff(first[i], syms[j]) for i in range(n) for j in range(i, n)]
        flat = t.evaluate(upper)
        H = np.empty((n, n))
        k = 0
        for i in range(n):
            H[i, i:] = flat[k:k + n - i]
            H[i:, i] = flat[k:k + n - i]
            k += n - i
        return _hessian_blocks(t, H, single)
    return hessian_f


def _scalar_output(t: Traced, fname: str) -> Any:
    if not isinstance(t.output, sp.Expr):
        raise ValueError(f"symbolic.{fname} needs a function with one scalar output; "
                         "use symbolic.jacobian for array outputs")
    return t.output


def _trace_for(f, args, kwargs, argnums, fname):
    nums, single = normalize_argnums(argnums, len(args), f"symbolic.{fname}")
    return trace(f, *args, argnums=nums, **kwargs), nums, single


def _argnums(f, args, argnums) -> tuple:
    if argnums is not None:
        return normalize_argnums(argnums, len(args), "symbolic.trace")[0]
    nums = []
    for i, a in enumerate(args):
        leaves = tree_flatten(a)[0]
        if leaves and all(isinstance(x, (float, int, np.floating, np.integer)) and
                          not isinstance(x, (bool, np.bool_)) or
                          isinstance(x, np.ndarray) and x.dtype.kind in "fiu"
                          for x in leaves):
            nums.append(i)
    if not nums:
        raise TypeError("symbolic.trace: no numeric argument to make symbols for; pass "
                        "the example point as floats or float arrays")
    return tuple(nums)


def _symbols(name: str, shape: tuple) -> np.ndarray:
    if not shape:
        return np.asarray(sp.Symbol(name, real=True), dtype=object)
    flat = [sp.Symbol(name + "_" + "_".join(map(str, idx)), real=True)
            for idx in np.ndindex(*shape)]
    return np.array(flat + [None], dtype=object)[:-1].reshape(shape)


def _as_sympy(leaf: Any, trace_: SymbolicTrace) -> Any:
    if isinstance(leaf, BoxBase):
        if leaf._trace is not trace_:
            raise ValueError("the function returned a traced value of another "
                             "differentiation; return plain results")
        e = leaf._tangent
    else:
        e = np.asarray(leaf, dtype=object)
    e = np.frompyfunc(sp.sympify, 1, 1)(e) if e.ndim else sp.sympify(e[()])
    return sp.Array(e.tolist(), e.shape) if isinstance(e, np.ndarray) else e


def _unflatten_like(t: Traced, values: np.ndarray, out_shape: tuple, single: bool) -> Any:
    """Per-symbol columns of `values` back into the traced arguments' structure."""
    values = np.asarray(values).reshape(out_shape + (-1,))
    results, start = [], 0
    for tree in t.symbols:
        leaves, td = tree_flatten(tree)
        parts = []
        for leaf in leaves:
            stop = start + leaf.size
            parts.append(_plain(values[..., start:stop].reshape(out_shape + leaf.shape)))
            start = stop
        results.append(tree_unflatten(td, parts))
    return results[0] if single else tuple(results)


def _hessian_blocks(t: Traced, H: np.ndarray, single: bool) -> Any:
    shapes, offsets, start = [], [], 0
    for tree in t.symbols:
        leaves = tree_flatten(tree)[0]
        if len(leaves) != 1:
            raise TypeError("symbolic.hessian takes array arguments, not pytrees")
        shapes.append(leaves[0].shape)
        offsets.append((start, start + leaves[0].size))
        start += leaves[0].size
    blocks = tuple(tuple(_plain(H[a0:a1, b0:b1].reshape(sa + sb))
                         for (b0, b1), sb in zip(offsets, shapes))
                   for (a0, a1), sa in zip(offsets, shapes))
    return blocks[0][0] if single else blocks


def _plain(x: np.ndarray) -> Any:
    return float(x) if x.ndim == 0 else x
