"""Custom reverse rules with residuals, rematerialisation, and fixed points.

`custom_vjp` gives a function its own backward rule, fed by what its forward rule
saved (JAX's custom_vjp, PyTorch's save_for_backward): the residuals travel from
`fwd` to `bwd` through the tape entry of that one call, never through a global, so
calls may nest, interleave and run on several threads. `checkpoint` is a custom
VJP whose residuals are the inputs: the backward pass recomputes the forward values
it needs. `fixed_point` differentiates the solution of x = f(a)(x) by the implicit
function theorem (autograd.misc.fixed_points), not through the iterations.

How a call is evaluated: the innermost differentiation among the arguments (their
trace with the highest level) sees ONE operation. `fwd` runs one level down, on the
arguments without that trace's boxes, so outer differentiations trace `fwd` (and
later `bwd`, with residuals that are their traced values) as ordinary NumPy code:
that is what makes the rule differentiable again (grad of grad, Hessians). Forward
mode has no rule of its own here: it transposes `bwd` (which is linear in the
cotangent), so `bwd` must be written with NumPy operations for it, as the rules
of adkit.defvjp must.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from .pytree import tree_flatten, tree_map, tree_unflatten
from .reverse.api import vjp
from .reverse.tape import Tape, _node, _var
from .forward.dual import ForwardTrace, _dual
from .rules.helpers import dtype_of, shape_of, unbroadcast
from .tracer import BoxBase, Primitive, primal
from .arraybox import TracedConversionError
from .errors import NoRuleError

__all__ = ["custom_vjp", "CustomVJPPrimal", "checkpoint", "fixed_point"]


class CustomVJPPrimal(NamedTuple):
    """An argument as `fwd` sees it with symbolic_zeros=True: its value, and whether
    the differentiation in progress follows it (a False one needs no cotangent)."""

    value: Any
    perturbed: bool


class custom_vjp:  # noqa: N801  (a decorator, named like JAX's)
    """A function with its own reverse-mode rule: `fwd` computes the output and
    residuals, `bwd(residuals, g)` the cotangents of the arguments.

    Either decorate, as in JAX, then give the rules with defvjp::

        @adkit.custom_vjp
        def f(x, y):
            return np.sin(x) * y

        def f_fwd(x, y):
            return f(x, y), (np.cos(x), np.sin(x), y)

        def f_bwd(res, g):
            cos_x, sin_x, y = res
            return cos_x * g * y, sin_x * g

        f.defvjp(f_fwd, f_bwd)

    or give both at once, `f = adkit.custom_vjp(f_fwd, f_bwd)`: then `fwd(*args)[0]`
    is the function.

    - bwd returns one cotangent per positional argument (a tuple; a bare value when
      there is one), each shaped like its argument (a pytree like it), or None for
      a zero. Arguments in nondiff_argnums are passed to fwd in place, and to bwd
      first: bwd(*nondiff, residuals, g); they get no cotangent. Keyword arguments
      are static: fwd and the function get them, bwd does not.
    - symbolic_zeros=True wraps each differentiable argument that fwd gets in a
      CustomVJPPrimal(value, perturbed), so fwd can save work for arguments
      nobody differentiates.
    - Without any differentiation the function itself runs, not fwd. Forward mode
      transposes bwd; adkit.symbolic and other traces differentiate the function
      itself (a referee for the rule).

    >>> @custom_vjp
    ... def cube(x):
    ...     return x ** 3
    >>> cube.defvjp(lambda x: (x ** 3, 3 * x ** 2), lambda d, g: (d * g,))
    <custom_vjp cube>
    >>> adkit.grad(cube)(2.0), adkit.grad(adkit.grad(cube))(2.0)
    (12.0, 12.0)
    """

    def __init__(self, fun: Callable, fwd: Callable | None = None, bwd: Callable | None = None,
                 *, nondiff_argnums: Sequence[int] = (), symbolic_zeros: bool = False) -> None:
        if not callable(fun):
            raise TypeError(f"custom_vjp takes a function, got {type(fun).__name__}")
        if fwd is not None and bwd is None:  # custom_vjp(fwd, bwd): the function is fwd's output
            fun, fwd, bwd = _first_output(fun), fun, fwd
        self.fun = fun
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None
        self.nondiff_argnums = tuple(sorted(int(i) for i in nondiff_argnums))
        self.symbolic_zeros = bool(symbolic_zeros)
        self.name = getattr(fun, "__qualname__", getattr(fun, "__name__", "custom_vjp"))
        self._prim = Primitive(f"custom_vjp:{self.name}", fun)
        functools.update_wrapper(self, fun)
        if fwd is not None or bwd is not None:
            self.defvjp(fwd, bwd, symbolic_zeros=symbolic_zeros)

    def defvjp(self, fwd: Callable, bwd: Callable, *, symbolic_zeros: bool | None = None
               ) -> "custom_vjp":
        """Give the rules: fwd(*args) -> (output, residuals); bwd(residuals, g) ->
        one cotangent per positional argument. Returns the function itself."""
        if not callable(fwd) or not callable(bwd):
            raise TypeError(f"custom_vjp {self.name}: defvjp(fwd, bwd) takes two functions, "
                            f"got {type(fwd).__name__} and {type(bwd).__name__}")
        self.fwd, self.bwd = fwd, bwd
        if symbolic_zeros is not None:
            self.symbolic_zeros = bool(symbolic_zeros)
        return self

    def __repr__(self) -> str:
        return f"<custom_vjp {self.name}>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self, obj)

    # --- evaluation -----------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        top = _innermost_trace(list(args) + list(kwargs.values()))
        if top is None:
            return self.fun(*args, **kwargs)
        if not top.active:
            raise top.escaped(self._prim)
        if not isinstance(top, (Tape, ForwardTrace)):  # e.g. adkit.symbolic: the function
            return self.fun(*args, **kwargs)
        if self.fwd is None:
            raise TypeError(f"custom_vjp {self.name} is being differentiated but has no "
                            f"rules; give them with {self.name}.defvjp(fwd, bwd)")
        if kwargs and _innermost_trace(list(kwargs.values())) is top:
            raise TypeError(f"custom_vjp {self.name}: a differentiated value was passed by "
                            "keyword; keyword arguments are static (bwd gives them no "
                            "cotangent), so pass it positionally")
        diff = [i for i in range(len(args)) if i not in self.nondiff_argnums]
        if any(_innermost_trace((args[i],)) is top for i in self.nondiff_argnums):
            raise TypeError(f"custom_vjp {self.name}: argument {self.nondiff_argnums} is in "
                            "nondiff_argnums but is being differentiated; pass arrays as "
                            "ordinary arguments (bwd may return None for them)")
        flat = {i: tree_flatten(args[i]) for i in diff}
        lower = list(args)
        for i, (leaves, td) in flat.items():
            lower[i] = tree_unflatten(td, [_strip(x, top) for x in leaves])
        fwd_args = list(lower)
        if self.symbolic_zeros:
            for i, (leaves, _) in flat.items():
                fwd_args[i] = CustomVJPPrimal(lower[i], any(_follows(x, top) for x in leaves))
        result = self.fwd(*fwd_args, **kwargs)
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError(f"custom_vjp {self.name}: fwd must return a pair (output, "
                            f"residuals), got {type(result).__name__}")
        out, residuals = result
        call = _Call(self, args, lower, flat, diff, residuals, out)
        if isinstance(top, Tape):
            return call.record(top)
        return call.push(top)


class _Call:
    """One differentiated call: its arguments, residuals and output, and the rules
    applied to them."""

    def __init__(self, rule: custom_vjp, args: tuple, lower: list, flat: dict, diff: list,
                 residuals: Any, out: Any) -> None:
        self.rule, self.args, self.lower, self.diff = rule, args, lower, diff
        self.flat, self.residuals = flat, residuals
        self.out_leaves, self.out_td = tree_flatten(out)

    def _traced(self, trace: Any) -> list[tuple[int, int, Any]]:
        """(argument, leaf index, box) for every leaf that `trace` follows."""
        return [(i, j, x) for i in self.diff for j, x in enumerate(self.flat[i][0])
                if _follows(x, trace)]

    def cotangents(self, g_leaves: list) -> dict:
        """bwd on output cotangent leaves: {(argument, leaf index): cotangent or None}."""
        rule = self.rule
        g = tree_unflatten(self.out_td, g_leaves)
        nondiff = [self.args[i] for i in rule.nondiff_argnums]
        cts = rule.bwd(*nondiff, self.residuals, g)
        if len(self.diff) == 1 and not (isinstance(cts, tuple) and len(cts) == 1):
            cts = (cts,)
        if not isinstance(cts, (tuple, list)) or len(cts) != len(self.diff):
            raise TypeError(f"custom_vjp {rule.name}: bwd must return a tuple of "
                            f"{len(self.diff)} cotangents, one per differentiable argument, "
                            f"got {_describe(cts)}")
        found = {}
        for i, ct in zip(self.diff, cts):
            leaves, td = self.flat[i]
            if ct is None or not leaves:  # a zero, or an argument with nothing to differentiate
                continue
            ct_leaves, ct_td = tree_flatten(ct)
            if ct_td != td:
                raise TypeError(f"custom_vjp {rule.name}: bwd's cotangent for argument {i} "
                                f"has structure {ct_td!r}, but the argument has {td!r}")
            for j, (c, x) in enumerate(zip(ct_leaves, leaves)):
                if c is not None and shape_of(c) != shape_of(x):
                    c = _summed_to(c, shape_of(x), rule.name, i)
                found[i, j] = c
        return found

    # --- reverse mode: one tape entry per output leaf ---------------------------------
    def record(self, tape: Tape) -> Any:
        traced = self._traced(tape)
        if not traced:
            return tree_unflatten(self.out_td, self.out_leaves)
        parents = tuple(x._node for _, _, x in traced)
        out = []
        for k, leaf in enumerate(self.out_leaves):
            if dtype_of(primal(leaf)).kind not in "fc":  # integer outputs carry nothing
                out.append(leaf)
                continue
            pull = _Pullback(self, k, [(i, j) for i, j, _ in traced])
            node = _node(len(tape.nodes), self.rule._prim, parents,
                         tuple(pull.vjp(n) for n in range(len(traced))), leaf)
            tape.nodes.append(node)
            out.append(_var(leaf, node, tape))
        return tree_unflatten(self.out_td, out)

    # --- forward mode: bwd transposed --------------------------------------------------
    def push(self, trace: ForwardTrace) -> Any:
        traced = [(i, j, x) for i, j, x in self._traced(trace) if x._tangent is not None]
        if not traced:
            return tree_unflatten(self.out_td, self.out_leaves)
        first = traced[0][2]
        batched = np.ndim(first._tangent) > np.ndim(first._value)
        n = shape_of(first._tangent)[0] if batched else 1
        per_direction = []
        for b in range(n):
            ts = {(i, j): _broadcast_tangent(x._tangent[b] if batched else x._tangent, x._value)
                  for i, j, x in traced}
            per_direction.append(self._jvp(ts))
        out = []
        for k, leaf in enumerate(self.out_leaves):
            t = np.stack([d[k] for d in per_direction]) if batched else per_direction[0][k]
            out.append(_dual(leaf, t, trace))
        return tree_unflatten(self.out_td, out)

    def _jvp(self, tangents: dict) -> list:
        """J t for every output leaf, as the gradient in g of <bwd(residuals, g), t>."""
        zeros = [_zero(y) for y in self.out_leaves]

        def pairing(*g_leaves):
            cts = self.cotangents(list(g_leaves))
            total = 0.0
            for key, t in tangents.items():
                c = cts.get(key)
                if c is not None:
                    total = total + np.sum(np.real(c * t))
            return total
        try:
            _, pull = vjp(pairing, *zeros)
            return list(pull(1.0))
        except (TracedConversionError, NoRuleError) as e:
            raise TypeError(
                f"custom_vjp {self.rule.name}: forward mode derives J·t by transposing bwd, "
                f"which needs bwd written with NumPy operations ({e}). Differentiate it in "
                "reverse mode instead (adkit.grad, adkit.vjp).") from e


class _Pullback:
    """The VJPs of one output leaf's tape entry, one per traced argument leaf: the
    first asked runs bwd, the others read its answer (they are asked in a row, with
    the same cotangent)."""

    def __init__(self, call: _Call, k: int, keys: list) -> None:
        self.call, self.k, self.keys = call, k, keys
        self._g: Any = None
        self._cts: dict | None = None

    def vjp(self, n: int) -> Callable:
        key, last = self.keys[n], n == len(self.keys) - 1

        def pull(g: Any) -> Any:
            if self._cts is None or self._g is not g:
                leaves = [g if m == self.k else _zero(y)
                          for m, y in enumerate(self.call.out_leaves)]
                self._g, self._cts = g, self.call.cotangents(leaves)
            c = self._cts.get(key)
            if last:
                self._g = self._cts = None
            if c is None:
                i, j = key
                c = _zero(self.call.flat[i][0][j])
            return c
        return pull


def _summed_to(c: Any, shape: tuple, name: str, i: int) -> Any:
    """A cotangent of a broadcast argument, summed back to the argument's shape (as
    NumPy code that broadcasts y against x computes it); anything else is an error."""
    try:
        broadcasts = np.broadcast_shapes(shape, shape_of(c)) == shape_of(c)
    except ValueError:
        broadcasts = False
    if not broadcasts:
        raise ValueError(f"custom_vjp {name}: bwd's cotangent for argument {i} has shape "
                         f"{shape_of(c)}, but the argument has shape {shape}; return one "
                         "cotangent of the argument's shape")
    return unbroadcast(c, shape, True)


def _innermost_trace(args: Sequence[Any]) -> Any:
    top = None
    for leaf in tree_flatten(list(args))[0]:
        if isinstance(leaf, BoxBase):
            t = leaf._trace
            if top is None or t.level > top.level:
                top = t
    return top


def _follows(x: Any, trace: Any) -> bool:
    if not isinstance(x, BoxBase) or x._trace is not trace:
        return False
    return x._node is not None if isinstance(trace, Tape) else x._tangent is not None


def _strip(x: Any, trace: Any) -> Any:
    return x._value if isinstance(x, BoxBase) and x._trace is trace else x


def _float_dtype(x: Any) -> np.dtype:
    dt = dtype_of(primal(x))
    return dt if dt.kind in "fc" else np.dtype(np.float64)


def _zero(x: Any) -> np.ndarray:
    """A zero cotangent of x's shape (float64 for an integer x)."""
    return np.zeros(shape_of(primal(x)), _float_dtype(x))


def _broadcast_tangent(t: Any, value: Any) -> Any:
    return t if shape_of(t) == shape_of(value) else np.broadcast_to(t, shape_of(value))


def _first_output(fwd: Callable) -> Callable:
    @functools.wraps(fwd)
    def fun(*args: Any, **kwargs: Any) -> Any:
        return fwd(*args, **kwargs)[0]
    return fun


def _describe(x: Any) -> str:
    if isinstance(x, (tuple, list)):
        return f"a {type(x).__name__} of {len(x)}"
    return f"a {type(x).__name__}"


# --- checkpointing ---------------------------------------------------------------------------


def checkpoint(fun: Callable) -> Callable:
    """fun, with its forward values recomputed in the backward pass instead of kept.

    Reverse mode records one entry per call holding only fun's inputs; its VJP runs
    fun again under a fresh tape and pulls the cotangent back through it. A loop of n
    steps cut into sqrt(n) checkpointed blocks of sqrt(n) steps keeps O(sqrt n)
    values instead of O(n), for one more forward pass. Nests and differentiates
    again like any function; forward mode runs fun itself.

    >>> step = lambda x: np.sin(x) * 1.01
    >>> block = checkpoint(lambda x: functools.reduce(lambda v, _: step(v), range(10), x))
    >>> g = adkit.grad(lambda x: np.sum(block(block(x))))(np.ones(3))
    >>> bool(np.allclose(g, adkit.grad(lambda x: np.sum(
    ...     functools.reduce(lambda v, _: step(v), range(20), x)))(np.ones(3))))
    True
    """
    if not callable(fun):
        raise TypeError(f"checkpoint takes a function, got {type(fun).__name__}")

    def fwd(*args: Any, **kwargs: Any) -> tuple:
        return fun(*args, **kwargs), (args, kwargs)

    def bwd(residuals: tuple, g: Any) -> tuple:
        args, kwargs = residuals
        wanted = [i for i, a in enumerate(args) if _differentiable(a)]
        if not wanted:
            return (None,) * len(args)

        def at(*chosen: Any) -> Any:
            full = list(args)
            for i, a in zip(wanted, chosen):
                full[i] = a
            return fun(*full, **kwargs)
        _, pull = vjp(at, *[args[i] for i in wanted])
        cts = dict(zip(wanted, pull(g)))
        return tuple(cts.get(i) for i in range(len(args)))

    rematerialised = _Checkpointed(fun)
    rematerialised.defvjp(fwd, bwd)
    return rematerialised


class _Checkpointed(custom_vjp):  # noqa: N801
    """A custom VJP whose forward mode simply runs the function (nothing to save)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if isinstance(_innermost_trace(list(args) + list(kwargs.values())), ForwardTrace):
            return self.fun(*args, **kwargs)
        return super().__call__(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<checkpoint {self.name}>"


def _differentiable(arg: Any) -> bool:
    leaves = tree_flatten(arg)[0]
    return bool(leaves) and all(
        isinstance(primal(x), (float, np.floating)) or
        (isinstance(primal(x), np.ndarray) and primal(x).dtype.kind in "fc") or
        (isinstance(x, BoxBase)) for x in leaves)


# --- fixed points ----------------------------------------------------------------------------


def fixed_point(f: Callable, a: Any, x0: Any, distance: Callable | None = None,
                tol: float = 1e-10, max_iter: int = 10_000) -> Any:
    """x* = f(a)(x*), found by iterating x <- f(a)(x) from x0 until
    distance(x, x_prev) <= tol, and differentiable in `a` by the implicit function
    theorem: the cotangent of a is (df/da)^T w, where w = g + (df/dx)^T w is itself
    a fixed point (autograd.misc.fixed_points). Neither pass differentiates through
    the iterations; the derivative with respect to x0 is 0.

    distance defaults to the largest absolute difference. Raises RuntimeError when
    the iteration has not converged after max_iter steps.

    >>> newton_sqrt = lambda a: lambda x: 0.5 * (x + a / x)
    >>> round(float(fixed_point(newton_sqrt, 2.0, 1.0)), 12)
    1.414213562373
    >>> round(float(adkit.grad(lambda a: fixed_point(newton_sqrt, a, 1.0))(2.0)), 12)
    0.353553390593
    """
    if not callable(f):
        raise TypeError(f"fixed_point: f must be a function a -> (x -> x), got {type(f).__name__}")
    distance = _max_abs_difference if distance is None else distance
    x0 = primal(x0)   # the answer does not depend on where the iteration starts

    def solve(a_: Any) -> Any:
        return _iterate(f(a_), x0, distance, tol, max_iter)

    def fwd(a_: Any) -> tuple:
        x_star = solve(a_)
        return x_star, (a_, x_star)

    def bwd(residuals: tuple, g: Any) -> tuple:
        a_, x_star = residuals
        _, pull_x = vjp(f(a_), x_star)
        w = fixed_point(lambda g_: lambda w_: _add(g_, pull_x(w_)[0]), g,
                        _zeros_like(g), distance, tol, max_iter)
        _, pull_a = vjp(lambda a__: f(a__)(x_star), a_)
        return pull_a(w)

    return custom_vjp(solve, fwd, bwd)(a)


def _iterate(step: Callable, x: Any, distance: Callable, tol: float, max_iter: int) -> Any:
    x_prev, x = x, step(x)
    for _ in range(max_iter):
        if not distance(x, x_prev) > tol:
            return x
        x_prev, x = x, step(x)
    raise RuntimeError(
        f"fixed_point did not converge in {max_iter} iterations: the last step moved "
        f"{float(primal(distance(x, x_prev))):.3g} > tol={tol:g}. Check that f(a) is a "
        "contraction near the solution, start closer (x0), or raise max_iter / tol.")


def _max_abs_difference(x: Any, y: Any) -> Any:
    leaves = tree_flatten(x)[0]
    others = tree_flatten(y)[0]
    return max((np.max(np.abs(primal(u) - primal(v)), initial=0.0)
                for u, v in zip(leaves, others)), default=0.0)


def _add(x: Any, y: Any) -> Any:
    lx, td = tree_flatten(x)
    return tree_unflatten(td, [u + v for u, v in zip(lx, tree_flatten(y)[0])])


def _zeros_like(x: Any) -> Any:
    return tree_map(_zero, x)

