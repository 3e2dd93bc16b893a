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

from typing import Any, Callable, NamedTuple

import numpy as np

from .forward.dual import ForwardTrace, _dual
from .pytree import tree_flatten, tree_unflatten
from .reverse.tape import Tape, _node, _var, as_gradient, backward, zeros_like_value
from .captures import stageable
from .codegen import GuardFailure
from .rules.helpers import dtype_of, shape_of
from .scope import tracing
from .tracer import BoxBase, Primitive, primal

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


def call_traced(compiled: Any, top: Any, args: tuple, kwargs: dict) -> Any:
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
        return compiled.call(a, kw, donate=False)
    static_key = tuple((i, type(a), a) for i, a in enumerate(template) if a is not DYNAMIC)
    if isinstance(top, Tape):
        return _record(compiled, top, leaves, lower, mask, template, treedef, static_key)
    return _push(compiled, top, leaves, lower, mask, template, treedef, static_key)


# --- reverse mode -----------------------------------------------------------------------------
def _record(compiled: Any, tape: Tape, leaves: list, lower: list, mask: tuple,
            template: tuple, treedef: Any, static_key: tuple) -> Any:
    parents = tuple(x._node for x, m in zip(leaves, mask) if m)
    # first order, with one floating output or a scalar one among them (a loss, with
    # aux outputs): the forward part of the joint program for that output runs now and
    # its backward part when the cotangent arrives
    plain = not any(isinstance(x, BoxBase) for x in lower)
    signature = (static_key, treedef, mask, compiled.leaf_keys(lower)) if plain else None
    shape = compiled.output_shapes.get(signature) if plain else None
    if shape is not None:
        out = _record_split(compiled, tape, parents, lower, mask, template, treedef,
                            static_key, shape)
        if out is not None:
            return out
        compiled.output_shapes[signature] = None   # this signature takes the two programs
    a, kw = rebuild(template, treedef, lower)
    out = compiled.call(a, kw, donate=False)
    out_leaves, out_td = tree_flatten(out)
    floating = _floating(out_leaves)
    loss = _loss_leaf(out_leaves, floating)
    if plain and loss is not None and signature not in compiled.output_shapes:
        compiled.output_shapes[signature] = _OutputShape(
            loss, len(out_leaves), out_td, _seed_like(out_leaves[loss]))
    boxed = list(out_leaves)
    for k in floating:   # (integer outputs carry nothing)
        boxed[k] = _box(tape, compiled, parents, _remat(compiled, lower, template, treedef,
                                                        mask, static_key, k), out_leaves[k])
    return tree_unflatten(out_td, boxed)


def _floating(out_leaves: list) -> list[int]:
    """Indices of the output leaves that carry derivatives (floating or complex)."""
    return [k for k, leaf in enumerate(out_leaves) if dtype_of(primal(leaf)).kind in "fc"]


def _loss_leaf(out_leaves: list, floating: list) -> int | None:
    """The output most likely differentiated alone: the only floating one, or the first
    floating scalar (a loss beside aux outputs); None when there is no such leaf."""
    if len(floating) == 1:
        return floating[0]
    for k in floating:
        if shape_of(primal(out_leaves[k])) == ():
            return k
    return None


def _remat(compiled: Any, lower: list, template: tuple, treedef: Any, mask: tuple,
           static_key: tuple, k: int) -> "_Pullback":
    """The VJP closures of output leaf k by the pullback program (forward recomputed)."""
    pullback = _pullback_program(compiled, template, treedef, mask, static_key, k)
    return _Pullback(lambda g: pullback(*lower, g))


def _pullback_program(compiled: Any, template: tuple, treedef: Any, mask: tuple,
                      static_key: tuple, k: int) -> Any:
    """The compiled VJP of output leaf k: (leaves..., g) -> the masked leaves' cotangents."""
    return compiled.derived(
        ("vjp", static_key, treedef, mask, k),
        lambda: _vjp_of(compiled._f, template, treedef, mask, k, False), f"VJP of output {k}")


def _box(tape: Tape, compiled: Any, parents: tuple, pull: "_Pullback", leaf: Any) -> Any:
    node = _node(len(tape.nodes), compiled.primitive, parents,
                 tuple(pull.vjp(j) for j in range(len(parents))), leaf)
    tape.nodes.append(node)
    return _var(leaf, node, tape)


class _OutputShape(NamedTuple):
    """What a first call told about f's output: its loss leaf (index k of n; see
    _loss_leaf), the structure, and a seed like that leaf (to stage the joint with)."""

    k: int
    n: int
    treedef: Any
    seed: Any


def _seed_like(leaf: Any) -> Any:
    v = primal(leaf)
    if type(v) is float:
        return 1.0
    return np.ones(shape_of(v), dtype=dtype_of(v))[()] if type(v) is not np.ndarray \
        else np.ones(v.shape, dtype=v.dtype)


def _record_split(compiled: Any, tape: Tape, parents: tuple, lower: list, mask: tuple,
                  template: tuple, treedef: Any, static_key: tuple, shape: _OutputShape) -> Any:
    """f's value from the forward part of the joint (value and VJP) program, with a tape
    entry whose VJP runs its backward part on the saved residuals; None where the
    joint program cannot be used (the caller then takes the two-program way)."""
    joint = compiled.derived(
        ("joint", static_key, treedef, mask, shape.k),
        lambda: _vjp_of(compiled._f, template, treedef, mask, shape.k, True),
        f"value and VJP of output {shape.k}")
    args = (*lower, shape.seed)
    for attempt in range(2):
        found = joint.lookup(args, {})
        if found is None or found[0].eager_reason is not None:
            return None
        entry, inputs = found[0], found[1]
        seed = sum(1 for v in lower if stageable(v))   # the cotangent's input position
        forward_inputs = inputs[:seed] + inputs[seed + 1:]
        for program in reversed(entry.programs):
            if program.out_treedef.children[0] != shape.treedef:
                return None   # this path returns another structure: the two-program way
            part = program.split(seed, shape.n)
            if part is None:
                return None
            try:
                results = part.forward(*forward_inputs)
            except GuardFailure:
                joint.stats.guard_failures += 1
                continue
            except Exception:  # noqa: BLE001 - the two-program way answers (or raises)
                return None
            joint.stats.replays += 1
            out_leaves, residuals = results[:shape.n], results[shape.n:]
            floating = _floating(out_leaves)
            if _loss_leaf(out_leaves, floating) != shape.k:
                return None   # (not the output this joint program was made for)
            for k in floating:
                if k == shape.k:
                    pull = _Pullback(_Backward(compiled, part, residuals, lower, mask,
                                               template, treedef, static_key, shape))
                else:   # an aux output: differentiable too, by its pullback program
                    pull = _remat(compiled, lower, template, treedef, mask, static_key, k)
                out_leaves[k] = _box(tape, compiled, parents, pull, out_leaves[k])
            return tree_unflatten(shape.treedef, out_leaves)
        if attempt == 0:
            try:
                joint(*args)   # stage this path (or learn that it runs eagerly)
            except Exception:  # noqa: BLE001 - e.g. this path's output is not like the seed
                return None
    return None


class _Backward:
    """The second part of a split joint program on its residuals; where it cannot answer
    (a guard on the cotangent fails, it raises) the pullback program does."""

    __slots__ = ("compiled", "part", "residuals", "lower", "mask", "template", "treedef",
                 "static_key", "shape")

    def __init__(self, compiled: Any, part: Any, residuals: list, lower: list,
                 mask: tuple, template: tuple, treedef: Any, static_key: tuple,
                 shape: _OutputShape) -> None:
        self.compiled, self.part, self.residuals, self.lower = compiled, part, residuals, lower
        self.mask, self.template, self.treedef = mask, template, treedef
        self.static_key, self.shape = static_key, shape

    def __call__(self, g: Any) -> Any:
        # the program was staged for a cotangent like the seed: another type, shape or
        # dtype (a seed of another output shape) goes to the pullback program
        if self.compiled.leaf_keys([g]) == self.compiled.leaf_keys([self.shape.seed]):
            try:
                return self.part.backward(*self.residuals, g)
            except Exception:  # noqa: BLE001 - GuardFailure, or an error the pullback repeats
                self.compiled.stats.guard_failures += 1
        pullback = _pullback_program(self.compiled, self.template, self.treedef, self.mask,
                                     self.static_key, self.shape.k)
        return pullback(*self.lower, g)


class _Pullback:
    """The VJP closures of one tape entry: the tape asks once per parent with the same
    cotangent, and the program answers for all parents in one run."""

    __slots__ = ("run", "g", "cotangents")

    def __init__(self, run: Callable) -> None:
        self.run = run
        self.g = self.cotangents = None

    def vjp(self, j: int) -> Callable:
        def pull(g: Any) -> Any:
            if self.cotangents is None or self.g is not g:
                self.cotangents = self.run(g)
                self.g = g
            return self.cotangents[j]
        return pull


def _vjp_of(f: Callable, template: tuple, treedef: Any, mask: tuple, k: int,
            with_value: bool) -> Callable:
    """(leaves..., g) -> cotangents of the masked leaves for cotangent g of output leaf k
    (with_value: (f's output leaves, those cotangents), the joint program)."""
    n = len(mask)

    def pullback(*operands: Any) -> Any:
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
            out_leaves, out_td = tree_flatten(f(*a, **kw))
        y = out_leaves[k]
        originals = [x for x, m in zip(operands[:n], mask) if m]
        if not (isinstance(y, BoxBase) and y._trace is tape and y._node is not None):
            cts = tuple(zeros_like_value(x) for x in originals)
        else:
            adj = backward(tape.nodes, [(y._node, g)], watched, consume=True)
            cts = tuple(as_gradient(adj.get(node.index), x, x)
                        for node, x in zip(watched, originals))
        if not with_value:
            return cts
        values = [leaf._value if isinstance(leaf, BoxBase) and leaf._trace is tape else leaf
                  for leaf in out_leaves]
        return tree_unflatten(out_td, values), cts
    return pullback


# --- forward mode -----------------------------------------------------------------------------
def _push(compiled: Any, trace: ForwardTrace, leaves: list, lower: list, mask: tuple,
          template: tuple, treedef: Any, static_key: tuple) -> Any:
    tangents = [x._tangent for x, m in zip(leaves, mask) if m]
    # a Jacobian's basis (the identity, one direction per element) becomes a constant of
    # the program, so that the code generator sees the identity products it can skip
    bases = tuple(_basis_dtype(t, x._value) for t, x in zip(tangents, (x for x, m in
                                                                       zip(leaves, mask) if m)))
    pushforward = compiled.derived(
        ("jvp", static_key, treedef, mask, bases),
        lambda: _pushforward(compiled._f, template, treedef, mask, bases), "JVP")
    out, out_tangents = pushforward(*lower, *(t for t, b in zip(tangents, bases) if b is None))
    out_leaves, out_td = tree_flatten(out)
    return tree_unflatten(out_td, [v if t is None else _dual(v, t, trace)
                                   for v, t in zip(out_leaves, out_tangents)])


def _basis_dtype(t: Any, x: Any) -> Any:
    """t's dtype when t is the identity basis of x (shape (x.size,) + x.shape, ones on
    the diagonal of its (size, size) reshape, zeros elsewhere), else None."""
    if type(t) is not np.ndarray or t.dtype.kind != "f" or isinstance(x, BoxBase):
        return None
    n = t.shape[0] if t.ndim else 0
    if n == 0 or t.shape[1:] != shape_of(x) or t.size != n * n:
        return None
    flat = t.reshape(n, n)
    if not np.all(flat.diagonal() == 1) or np.count_nonzero(flat) != n:
        return None
    return t.dtype


def _pushforward(f: Callable, template: tuple, treedef: Any, mask: tuple,
                 bases: tuple) -> Callable:
    """(leaves..., tangents of the masked leaves that are not bases...) -> (f's output,
    output leaf tangents); bases[j]: the dtype of the identity basis that masked leaf j
    takes as its tangent (a constant of the program), or None."""
    n = len(mask)

    def pushforward(*operands: Any) -> tuple:
        leaves, tangents = list(operands[:n]), iter(operands[n:])
        trace = ForwardTrace()
        basis = iter(bases)
        for i, m in enumerate(mask):
            if m:
                dt = next(basis)
                if dt is None:
                    t = next(tangents)
                else:
                    shape = shape_of(leaves[i])
                    size = int(np.prod(shape, dtype=int))
                    t = np.eye(size, dtype=dt).reshape((size,) + shape)
                leaves[i] = _dual(leaves[i], t, trace)
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


def compiled_primitive(name: str, compiled: Any) -> Primitive:
    """The tape entries' operation for a compiled function (drawn and named as one)."""
    return Primitive(f"compiled:{name}", compiled)
