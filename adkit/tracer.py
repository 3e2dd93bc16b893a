"""Boxes, traces and primitives: the machinery forward and reverse mode share.

A *trace* is one differentiation in progress. Every value it tracks is wrapped
in a *box* that remembers its trace. A *primitive* is a NumPy operation with
rules; calling it finds the innermost trace among its arguments (the one with
the highest level), strips that trace's boxes, evaluates the primitive one
level down (which may meet outer traces' boxes and recurse) and lets the trace
record the result. Boxes of other traces pass through untouched, so nested
differentiations never confuse each other's perturbations.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

_next_level = itertools.count(1).__next__


class Trace:
    """One differentiation in progress; later traces nest inside earlier ones."""

    __slots__ = ("level", "active")

    #: whether plain-valued decisions on this trace's boxes are reported to
    #: branch() (comparisons, argmax, bool()): the symbolic tracer needs them
    observes_branches = False
    #: whether this trace's boxes stand for plain values (adkit.staging): primal()
    #: stops at them, so decisions on them are recorded rather than frozen
    stages = False

    def __init__(self) -> None:
        self.level = _next_level()
        self.active = True

    def process(self, prim: "Primitive", args: tuple, kwargs: dict) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not process primitives")

    def unary(self, prim: "Primitive", a: "BoxBase") -> Any:
        """prim(a) for a simple primitive and a box of this trace."""
        return self.process(prim, (a,), {})

    def binary(self, prim: "Primitive", a: Any, b: Any) -> Any:
        """prim(a, b) for a simple primitive; a and b are plain or boxes of this trace."""
        return self.process(prim, (a, b), {})

    def branch(self, what: str) -> None:
        """A decision was taken on the value of one of this trace's boxes."""

    def escaped(self, prim: "Primitive") -> Exception:
        return ValueError(
            f"{prim.name} received a traced value whose differentiation has already "
            "finished: a traced value escaped from the function being differentiated "
            "(returned inside a closure, stored in a global or on an object). Return "
            "derivatives from the differentiated function instead of traced values.")


def unit_jvp(g: Any, ans: Any, *args: Any, **kwargs: Any) -> Any:
    """The JVP rule of an argument the output depends on with slope 1 (x in x + y).

    Declaring it (rather than writing lambda g, ...: g) lets forward mode skip
    the call, as JAX skips the JVPs of linear operations.
    """
    return g


class BoxBase:
    """A value tracked by a trace. Subclasses: forward.Dual and reverse.Var.

    All box types share one slot layout, so an in-place write can turn a box
    into a box of a more deeply nested trace (see adkit.inplace).
    """

    __slots__ = ("_value", "_trace", "_tangent", "_node", "_views", "_viewof", "__weakref__")


def primal(x: Any) -> Any:
    """The plain value under every box (drops all derivatives)."""
    while isinstance(x, BoxBase):
        if x._trace.stages:
            break
        x = x._value
    return x



class Primitive:
    """One NumPy operation and its differentiation rules: an entry of the table.

    jvps[i](g, ans, *args, **kwargs) -> tangent of the output from tangent g of
        positional argument i. Built-in rules accept g with leading batch axes
        (batched tangents, one pass for a whole Jacobian); user rules need not:
        set batch_aware=False and the forward mode loops over the batch.
    jvp_joint(tangents, ans, *args, **kwargs): one rule for all arguments at
        once (tangents[i] is None for a constant argument).
    vjps[i](ans, *args, **kwargs) -> (lambda g: cotangent of argument i); staged
        so the closure keeps only what the reverse pass needs.
    sympy: the SymPy counterpart (a function name or callable) used by
        adkit.symbolic, or None when it has none.
    elementwise: follows NumPy broadcasting; the engines lift tangents and sum
        cotangents back to each argument's shape, so rules ignore broadcasting.
    view: NumPy may return a view of argument 0; needed for in-place semantics.
    simple: elementwise with per-argument rules and no view; the engines take
        a shorter path for these (set by table.defprim).
    """

    __slots__ = ("name", "impl", "jvps", "jvp_joint", "vjps", "sympy", "elementwise",
                 "batch_aware", "view", "writeback", "doc", "simple")

    def __init__(self, name: str, impl: Callable, *, elementwise: bool = False,
                 batch_aware: bool = True, view: bool = False, sympy: Any = None) -> None:
        self.name = name
        self.impl = impl
        self.jvps: tuple = ()
        self.jvp_joint: Callable | None = None
        self.vjps: tuple = ()
        self.sympy = sympy
        self.elementwise = elementwise
        self.batch_aware = batch_aware
        self.view = view
        self.writeback: Callable | None = None
        self.doc = ""
        self.simple = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        top = None
        for a in args:
            if isinstance(a, BoxBase):
                t = a._trace
                if top is None or t.level > top.level:
                    top = t
        if top is None:
            return self.impl(*args, **kwargs)
        if not top.active:
            raise top.escaped(self)
        return top.process(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<adkit primitive {self.name}>"


class NondiffPrimitive(Primitive):
    """An operation whose output carries no derivative (argmax, comparisons, floor).

    It runs on the plain values under every box and returns plain values: a
    derivative that is zero almost everywhere is represented by its absence.
    """

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        values, staged = [], False
        for a in args:   # one pass: report the decision, unwrap, look for a staged value
            if isinstance(a, BoxBase):
                if a._trace.observes_branches:
                    a._trace.branch(f"np.{self.name}")
                a = primal(a)
                staged = staged or isinstance(a, BoxBase)
            values.append(a)
        if staged:  # a staged value: the staging trace records the call
            return Primitive.__call__(self, *values, **kwargs)
        return self.impl(*values, **kwargs)


class UserPrimitive(Primitive):
    """A primitive registered by users (adkit.primitive); its rules see one tangent at a time.

    Its body is plain NumPy code, so a tracer without a rule for it (adkit.symbolic)
    may run the body itself on traced values.
    """

    __slots__ = ("given_jvps", "given_vjps")

    def __init__(self, fun: Callable, name: str) -> None:
        super().__init__(name, fun, batch_aware=False)
        self.given_jvps: tuple = ()
        self.given_vjps: tuple = ()
        self.doc = fun.__doc__ or ""

    @property
    def __name__(self) -> str:  # noqa: A003 - a function's name, for tools that print it
        """The decorated function's name (error messages and check reports show it)."""
        return getattr(self.impl, "__name__", self.name)

    @property
    def __wrapped__(self) -> Callable:
        """The decorated function, so inspect.signature(prim) shows its parameters."""
        return self.impl


class EveryArgument:
    """Per-argument rules for a variadic primitive (concatenate, stack, einsum).

    rules[i] is `make(i)`: the same rule, told which argument it is for.
    """

    __slots__ = ("make",)

    def __init__(self, make: Callable[[int], Callable]) -> None:
        self.make = make

    def __getitem__(self, i: int) -> Callable:
        return self.make(i)

    def __len__(self) -> int:
        return 1 << 30
