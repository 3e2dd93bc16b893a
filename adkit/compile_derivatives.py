"""A compiled function under a differentiation: one operation whose JVP and VJP are programs.

When a tape or a forward trace (adkit.grad, jvp, jacobian, hessian, ...) calls a
Compiled function on its traced values, the engine sees ONE operation, as it sees a
custom_vjp (adkit.custom), and both of its rules run generated programs:

- reverse mode (a Tape): the value comes from the function's own program, run one
  level down (on the arguments without the tape's boxes); the tape gets one entry
  per floating output leaf, whose VJP runs the *pullback* program: adkit.compile of
  "the VJP of f for output leaf k", the forward and the backward pass of f in one
  straight line (the forward values are recomputed there, not saved between the two
  programs);
- forward mode (a ForwardTrace): the *pushforward* program, adkit.compile of "the
  JVP of f", gives the value and the tangents at once; a batch of tangents (a
  Jacobian's identity) is one more signature.

The pullback and pushforward are Compiled functions themselves (made once per
signature of the call: argument structure, static values, which leaves are traced,
output leaf), with f's captured values and f's statistics, so differentiating them
again (a Hessian, grad of grad) runs programs at every order, and their guards
retrace exactly as f's own do. Other traces (an enclosing adkit.compile's staging,
adkit.symbolic) run f itself, which they trace inline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .forward.dual import ForwardTrace, _dual
from .pytree import tree_flatten, tree_unflatten
from .reverse.tape import Tape, _node, _var, as_gradient, backward, zeros_like_value
from .rules.helpers import dtype_of
from .scope import tracing
from .tracer import BoxBase, Primitive, primal

if TYPE_CHECKING:
    from .compile import Compiled

__all__ = ["innermost_trace", "call_traced", "rebuild", "DYNAMIC"]

#: marks a dynamic position in an argument template (static positions hold their value)
DYNAMIC = object()


def innermost_trace(leaves: list) -> Any:
    """The trace with the highest level among the leaves' boxes, or None."""
    top = None
    for x in leaves:
        if isinstance(x, BoxBase) and (top is None or x._trace.level > top.level):
            top = x._trace
    return top


def rebuild(template: tuple, treedef: Any, leaves: list) -> tuple[tuple, dict]:
    """Positional and keyword arguments from a template (static values in place, DYNAMIC
    elsewhere) and the leaves of (dynamic arguments, keyword arguments)."""
    dynamic, kwargs = tree_unflatten(treedef, leaves)
    it = iter(dynamic)
    return tuple(next(it) if a is DYNAMIC else a for a in template), kwargs


def call_traced(compiled: "Compiled", top: Any, args: tuple, kwargs: dict) -> Any:
    """compiled(*args, **kwargs) where `top` (the innermost trace among the arguments)
    differentiates: one operation on the tape or the forward trace, else f inline."""
    if not top.active or not isinstance(top, (Tape, ForwardTrace)):
        return compiled._f(*args, **kwargs)
    static_n = compiled._static_positions(args)
    dynamic = tuple(a for i, a in enumerate(args) if i not in static_n)
    leaves, treedef = tree_flatten((dynamic, kwargs))
    template = tuple(a if i in static_n else DYNAMIC for i, a in enumerate(args))
    ours = [isinstance(x, BoxBase) and x._trace is top for x in leaves]
    lower = [x._value if mine else x for x, mine in zip(leaves, ours)]
    if isinstance(top, Tape):
        mask = tuple(mine and x._node is not None for x, mine in zip(leaves, ours))
    else:
        mask = tuple(mine and x._tangent is not None for x, mine in zip(leaves, ours))
    if not any(mask):
        a, kw = rebuild(template, treedef, lower)
        return compiled(*a, **kw)
    static_key = tuple((i, type(a), a) for i, a in enumerate(template) if a is not DYNAMIC)
    if isinstance(top, Tape):
        return _record(compiled, top, leaves, lower, mask, template, treedef, static_key)
    return _push(compiled, top, leaves, lower, mask, template, treedef, static_key)


# --- reverse mode -----------------------------------------------------------------------------
def _record(compiled: "Compiled", tape: Tape, leaves: list, lower: list, mask: tuple,
            template: tuple, treedef: Any, static_key: tuple) -> Any:
    a, kw = rebuild(template, treedef, lower)
    out = compiled(*a, **kw)
    out_leaves, out_td = tree_flatten(out)
    parents = tuple(x._node for x, m in zip(leaves, mask) if m)
    n_parents = len(parents)
    boxed = []
    for k, leaf in enumerate(out_leaves):
        if dtype_of(primal(leaf)).kind not in "fc":   # integer outputs carry nothing
            boxed.append(leaf)
            continue
        pullback = compiled.derived(
            ("vjp", static_key, treedef, mask, k),
            lambda k=k: _pullback(compiled._f, template, treedef, mask, k), f"VJP of output {k}")
        pull = _Pullback(pullback, lower)
        node = _node(len(tape.nodes), compiled.primitive, parents,
                     tuple(pull.vjp(j) for j in range(n_parents)), leaf)
        tape.nodes.append(node)
        boxed.append(_var(leaf, node, tape))
    return tree_unflatten(out_td, boxed)


class _Pullback:
    """The VJP closures of one tape entry: the tape asks once per parent with the same
    cotangent, and the pullback program answers for all parents in one run."""

    __slots__ = ("program", "lower", "g", "cotangents")

    def __init__(self, program: Callable, lower: list) -> None:
        self.program, self.lower = program, lower
        self.g = self.cotangents = None

    def vjp(self, j: int) -> Callable:
        def pull(g: Any) -> Any:
            if self.cotangents is None or self.g is not g:
                self.cotangents = self.program(*self.lower, g)
                self.g = g
            return self.cotangents[j]
        return pull


def _pullback(f: Callable, template: tuple, treedef: Any, mask: tuple, k: int) -> Callable:
    """(leaves..., g) -> cotangents of the masked leaves, for cotangent g of output leaf k."""
    n = len(mask)

    def pullback(*operands: Any) -> tuple:
        leaves, g = list(operands[:n]), operands[n]
        tape = Tape()
        watched = []
        for i, m in enumerate(mask):
            if m:
                box = tape.watch(leaves[i])
                leaves[i] = box
                watched.append(box._node)
        with tracing(tape):
            a, kw = rebuild(template, treedef, leaves)
            y = tree_flatten(f(*a, **kw))[0][k]
        originals = [x for x, m in zip(operands[:n], mask) if m]
        if not (isinstance(y, BoxBase) and y._trace is tape and y._node is not None):
            return tuple(zeros_like_value(x) for x in originals)
        adj = backward(tape.nodes, [(y._node, g)], watched, consume=True)
        return tuple(as_gradient(adj.get(node.index), x, x)
                     for node, x in zip(watched, originals))
    return pullback


# --- forward mode -----------------------------------------------------------------------------
def _push(compiled: "Compiled", trace: ForwardTrace, leaves: list, lower: list, mask: tuple,
          template: tuple, treedef: Any, static_key: tuple) -> Any:
    pushforward = compiled.derived(
        ("jvp", static_key, treedef, mask),
        lambda: _pushforward(compiled._f, template, treedef, mask), "JVP")
    tangents = [x._tangent for x, m in zip(leaves, mask) if m]
    out, out_tangents = pushforward(*lower, *tangents)
    out_leaves, out_td = tree_flatten(out)
    return tree_unflatten(out_td, [v if t is None else _dual(v, t, trace)
                                   for v, t in zip(out_leaves, out_tangents)])


def _pushforward(f: Callable, template: tuple, treedef: Any, mask: tuple) -> Callable:
    """(leaves..., tangents of the masked leaves...) -> (f's output, output leaf tangents)."""
    n = len(mask)

    def pushforward(*operands: Any) -> tuple:
        leaves, tangents = list(operands[:n]), iter(operands[n:])
        trace = ForwardTrace()
        for i, m in enumerate(mask):
            if m:
                leaves[i] = _dual(leaves[i], next(tangents), trace)
        with tracing(trace):
            a, kw = rebuild(template, treedef, leaves)
            out = f(*a, **kw)
        out_leaves, out_td = tree_flatten(out)
        values, out_tangents = [], []
        for leaf in out_leaves:
            if isinstance(leaf, BoxBase) and leaf._trace is trace:
                values.append(leaf._value)
                out_tangents.append(leaf._tangent)
            else:
                values.append(leaf)
                out_tangents.append(None)
        return tree_unflatten(out_td, values), out_tangents
    return pushforward


def compiled_primitive(name: str, compiled: "Compiled") -> Primitive:
    """The tape entries' operation for a compiled function (drawn and named as one)."""
    return Primitive(f"compiled:{name}", compiled)
