"""The tape: a Wengert list of the primitives a function ran, and the reverse pass over it.

Each primitive applied to a traced value appends one Node: the operation, the
nodes of its traced inputs, and for each input a closure that maps the output's
cotangent to that input's (the table's staged VJP rules). The list is in
evaluation order, so walking it backwards is a topological order: the reverse
pass needs no graph search and no recursion, whatever the depth.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..arraybox import ArrayBox, Indexable, box_class
from ..inplace import note_view, shares_memory
from ..pytree import tree_flatten, tree_unflatten
from ..rules.helpers import (FLOAT32, FLOAT64, NDARRAY, dtype_of, is_duck_array, shape_of,
                             unbroadcast)
from ..scope import tracing
from ..staging import AS_PYTHON
from ..tracer import BoxBase, Primitive, Trace, primal
from .graphviz import tape_to_dot


class Node:
    """One entry v_i of the Wengert list."""

    __slots__ = ("index", "prim", "parents", "vjps", "shape", "complex")

    def __init__(self, index: int, prim: Primitive | None, parents: tuple, vjps: tuple,
                 value: Any) -> None:
        self.index = index
        self.prim = prim
        self.parents = parents
        self.vjps = vjps
        self.shape = shape_of(value)
        dt = getattr(value, "dtype", None)
        self.complex = dt is not None and dt.kind == "c" or type(value) is complex

    def __repr__(self) -> str:
        op = self.prim.name if self.prim is not None else "input"
        args = ", ".join(f"v{p.index}" for p in self.parents)
        return f"v{self.index} = {op}({args})  # shape {self.shape}"


class Var(ArrayBox):
    """A reverse-mode traced value: its value and its node on the tape."""

    __slots__ = ()
    _kind = "Var"

    @property
    def node(self) -> Node | None:
        return self._node


class VarArray(Indexable, Var):
    """A Var of at least one dimension (indexable); isinstance(x, Var) holds."""

    __slots__ = ()


_new = object.__new__


def _node(index: int, prim: Primitive, parents: tuple, vjps: tuple, value: Any) -> Node:
    """Node(...) without the cost of __init__ (this runs once per recorded primitive)."""
    n = _new(Node)
    n.index = index
    n.prim = prim
    n.parents = parents
    n.vjps = vjps
    tv = type(value)
    if tv is float or tv is FLOAT64 or tv is FLOAT32:
        n.shape = ()
        n.complex = False
    elif tv is NDARRAY:
        n.shape = value.shape
        n.complex = value.dtype.kind == "c"
    else:
        n.shape = getattr(value, "shape", ())
        n.complex = type(value) is complex or getattr(value, "dtype", _REAL).kind == "c"
    return n


_REAL = np.dtype(np.float64)
_new_var = _new


def _var(value: Any, node: Node | None, tape: "Tape") -> Var:
    tv = type(value)  # box_class's answer for a Python or NumPy float, without the call
    v = _new_var(Var if tv is float or tv is FLOAT64 else box_class(value, Var, VarArray))
    v._value = value
    v._node = node
    v._trace = tape
    return v


class Tape(Trace):
    """Records a Wengert list while active; differentiates what it recorded.

    >>> with Tape() as tape:
    ...     x = tape.watch(np.array([1.0, 2.0]))
    ...     y = np.sum(x * x)
    >>> tape.gradient(y, x)
    array([2., 4.])
    """

    __slots__ = ("nodes", "_scope")

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[Node] = []
        self._scope = None

    # --- recording ---------------------------------------------------------------------
    def watch(self, value: Any) -> Var:
        """A new input of this tape (a leaf v_i)."""
        node = _node(len(self.nodes), None, (), (), value)
        self.nodes.append(node)
        return _var(value, node, self)

    def process(self, prim: Primitive, args: tuple, kwargs: dict) -> Var:
        if prim.simple and not kwargs:
            if len(args) == 2:
                return self.binary(prim, args[0], args[1])
            if len(args) == 1:
                return self.unary(prim, args[0])
        values = list(args)
        traced = []
        nested = False  # a box of an outer trace among the values: evaluate one level down
        for i, a in enumerate(args):
            if isinstance(a, BoxBase):
                if a._trace is self:
                    a = values[i] = a._value
                    if args[i]._node is not None:
                        traced.append(i)
                nested = nested or isinstance(a, BoxBase)
        ans = prim(*values, **kwargs) if nested else prim.impl(*values, **kwargs)
        node = None
        if traced:
            makers = prim.vjps
            parents, vjps = [], []
            for i in traced:
                maker = makers[i] if i < len(makers) else None
                if maker is None:
                    raise no_vjp_rule(prim, i)
                vjp = maker(ans, *values, **kwargs)
                if vjp is not None:  # None: the output does not depend on this argument
                    parents.append(args[i]._node)
                    vjps.append(vjp)
            if parents:
                node = _node(len(self.nodes), prim, tuple(parents), tuple(vjps), ans)
                self.nodes.append(node)
        out = _var(ans, node, self)
        if prim.view and shares_memory(ans, values[0]):
            note_view(out, args[0], prim, args[1:], kwargs)
        return out

    # The two paths below do what process() does for elementwise primitives of one
    # and two arguments, without its lists and loops: scalar code lives here.
    def unary(self, prim: Primitive, a: Var) -> Var:
        if not self.active:
            raise self.escaped(prim)
        v, parent = a._value, a._node
        ans = prim(v) if isinstance(v, BoxBase) else prim.impl(v)
        if parent is None:
            return _var(ans, None, self)
        maker = prim.vjps[0]
        if maker is None:
            raise no_vjp_rule(prim, 0)
        node = _node(len(self.nodes), prim, (parent,), (maker(ans, v),), ans)
        self.nodes.append(node)
        return _var(ans, node, self)

    def binary(self, prim: Primitive, a: Any, b: Any) -> Var:
        if not self.active:
            raise self.escaped(prim)
        if isinstance(a, BoxBase) and a._trace is self:
            va, pa = a._value, a._node
        else:
            va, pa = a, None
        if isinstance(b, BoxBase) and b._trace is self:
            vb, pb = b._value, b._node
        else:
            vb, pb = b, None
        if isinstance(va, BoxBase) or isinstance(vb, BoxBase):
            ans = prim(va, vb)
        else:
            ans = prim.impl(va, vb)
        if pa is None and pb is None:
            return _var(ans, None, self)
        makers = prim.vjps
        if pa is not None:
            if makers[0] is None:
                raise no_vjp_rule(prim, 0)
            va_ = makers[0](ans, va, vb)
        if pb is not None:
            if makers[1] is None:
                raise no_vjp_rule(prim, 1)
            vb_ = makers[1](ans, va, vb)
        # a rule returning None declares no dependence on that argument
        if pa is not None and va_ is not None:
            if pb is not None and vb_ is not None:
                parents, vjps = (pa, pb), (va_, vb_)
            else:
                parents, vjps = (pa,), (va_,)
        elif pb is not None and vb_ is not None:
            parents, vjps = (pb,), (vb_,)
        else:
            return _var(ans, None, self)
        node = _node(len(self.nodes), prim, parents, vjps, ans)
        self.nodes.append(node)
        return _var(ans, node, self)

    # --- context manager ---------------------------------------------------------------
    def __enter__(self) -> "Tape":
        self._scope = tracing(self)
        self._scope.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._scope.__exit__(*exc)
        self._scope = None

    # --- differentiation ---------------------------------------------------------------
    def gradient(self, target: Any, sources: Any, output_gradient: Any = None) -> Any:
        """d target / d sources (target a scalar unless output_gradient is given)."""
        leaves, td = tree_flatten(sources)
        if not isinstance(target, Var) or target._trace is not self:
            grads = [np.zeros_like(np.asarray(primal(s))) for s in leaves]
            return tree_unflatten(td, grads)
        if output_gradient is None:
            if shape_of(target) != ():
                raise ValueError(f"target has shape {shape_of(target)}; gradient() needs a "
                                 "scalar target or an output_gradient of the same shape")
            output_gradient = np.ones_like(primal(target)) if hasattr(primal(target), "dtype") \
                else 1.0
        nodes = [s._node if isinstance(s, Var) and s._trace is self else None for s in leaves]
        adj = backward(self.nodes, [(target._node, output_gradient)],
                       [n for n in nodes if n is not None])
        grads = [as_gradient(adj.get(n.index) if n is not None else None, primal(s), primal(s))
                 for s, n in zip(leaves, nodes)]
        return tree_unflatten(td, grads)

    @property
    def entries(self) -> list[Node]:
        """The Wengert list, in evaluation order."""
        return list(self.nodes)

    def to_dot(self, outputs: Iterable[Any] = ()) -> str:
        """The recorded graph in Graphviz DOT (render with `dot -Tpng`)."""
        return tape_to_dot(self.nodes, outputs)

    def __repr__(self) -> str:
        return f"<Tape level={self.level} with {len(self.nodes)} entries>"


def backward(nodes: list[Node], seeds: list[tuple[Node, Any]],
             wanted: Iterable[Node], consume: bool = False) -> dict[int, Any]:
    """The reverse pass: adjoints of `wanted` nodes, given cotangents of the outputs.

    Walks the Wengert list from the last output back to the first entry; each
    node's adjoint is complete when reached (all its uses come later), is passed
    through the node's VJP closures and then dropped, so memory is released as
    the pass goes. With consume=True the nodes themselves are dropped too (and
    with them the values their closures hold): the tape is used up.
    """
    adjoints: dict[int, Any] = {}
    for node, g in seeds:
        prev = adjoints.get(node.index)
        adjoints[node.index] = g if prev is None else prev + g
    keep = {n.index for n in wanted}
    found: dict[int, Any] = {}
    pop, get = adjoints.pop, adjoints.get
    for i in range(max(node.index for node, _ in seeds), -1, -1):
        g = pop(i, None)
        if g is None:
            continue
        node = nodes[i]
        if consume:
            nodes[i] = None
        if not node.parents:  # an input
            if i in keep:
                found[i] = g
            continue
        elementwise = node.prim.elementwise
        for parent, vjp in zip(node.parents, node.vjps):
            c = vjp(g)
            tc = type(c)
            if tc is NDARRAY:  # the common case first, without getattr
                if elementwise and c.shape != parent.shape:
                    c = unbroadcast(c, parent.shape, parent.complex)
                elif c.dtype.kind == "c" and not parent.complex:
                    c = c.real  # a real value's cotangent is real (the complex convention)
            elif tc not in _SCALARS:
                v = c  # a box (forward over reverse) has the shape and dtype of its value
                while isinstance(v, BoxBase):
                    v = v._value
                if elementwise and getattr(v, "shape", ()) != parent.shape:
                    c = unbroadcast(c, parent.shape, parent.complex)
                elif not parent.complex and (type(v) is complex
                                             or getattr(v, "dtype", _REAL).kind == "c"):
                    c = np.real(c)
            j = parent.index
            prev = get(j)
            adjoints[j] = c if prev is None else prev + c
    return found


_SCALARS = (float, np.float64, np.float32)


def _is_complex_value(c: Any) -> bool:
    return type(c) is complex or getattr(c, "dtype", _REAL).kind == "c"


def no_vjp_rule(prim: Primitive, argnum: int) -> NotImplementedError:
    has_jvp = prim.jvp_joint is not None or (
        argnum < len(prim.jvps) and prim.jvps[argnum] is not None)
    if not has_jvp:
        return NotImplementedError(
            f"{prim.name} has no differentiation rule for its argument {argnum} in either "
            f"mode; add one with adkit.defvjp({prim.name}, ...) (reverse) or "
            f"adkit.defjvp({prim.name}, ...) (forward), or wrap the argument in "
            "adkit.stop_gradient if no derivative should flow through it.")
    return NotImplementedError(
        f"{prim.name} has no reverse-mode (VJP) rule for its argument {argnum}, so it "
        "cannot be differentiated with respect to that argument in reverse mode. Use "
        f"forward mode (adkit.jvp / jacobian(mode='forward')), or add a rule with "
        f"adkit.defvjp({prim.name}, ...).")


def as_gradient(g: Any, original: Any, leaf: Any) -> Any:
    """Shape, dtype and type of a gradient follow its argument."""
    if g is None:
        g = zeros_like_value(leaf)
    elif not isinstance(g, BoxBase):
        dt = getattr(leaf, "dtype", None)
        if _is_complex_value(g) and not _is_complex_value(leaf):
            g = np.real(g)  # a real argument's cotangent is the real part
        if isinstance(g, np.ndarray):
            if dt is not None and g.dtype != dt:  # (already real for a real argument)
                g = g.astype(dt)
            elif not g.flags.writeable:  # a broadcast view: hand out a real array
                g = np.array(g)
        elif dt is not None and (not hasattr(g, "dtype") or g.dtype != dt):
            g = np.asarray(g).astype(dt)[()]
        if shape_of(g) != shape_of(leaf):
            g = np.broadcast_to(g, shape_of(leaf)).copy()
        if isinstance(original, np.generic) and isinstance(g, np.ndarray):
            g = g[()]   # a NumPy scalar's gradient is a NumPy scalar
    elif _is_complex_value(leaf) and not _is_complex_value(g):
        g = g + 0j  # traced (forward over reverse, compile): a complex argument's type too
    elif g._trace.stages and type(g._value) is np.ndarray \
            and getattr(leaf, "dtype", None) not in (None, g._value.dtype):
        # compile(grad(f)): staged as the eager gradient is converted (a float32
        # argument's gradient is float32, whatever precision the function computed in)
        if _is_complex_value(g) and not _is_complex_value(leaf):
            g = np.real(g)
        if g._value.dtype != leaf.dtype:
            g = g.astype(leaf.dtype)
    if isinstance(original, (int, float)) and not isinstance(original, (bool, np.generic)) \
            and not isinstance(g, BoxBase):
        return float(g)
    if type(original) is complex and not isinstance(g, BoxBase):
        return complex(g)
    if isinstance(original, BoxBase) and original._trace.stages \
            and type(original._value) in AS_PYTHON and np.ndim(primal(g)) == 0 \
            and (not isinstance(g, BoxBase) or g._trace.stages):
        # compile(grad(f)) of a Python float (g is a constant where f is linear in it)
        return AS_PYTHON[type(original._value)](g)
    return g


def zeros_like_value(x: Any) -> Any:
    """A plain zero of x's shape and dtype (the gradient of something unused)."""
    v = primal(x)
    if is_duck_array(v):
        return np.zeros_like(v)   # a device array's zero stays on its device
    if isinstance(v, np.ndarray) or hasattr(v, "dtype"):
        return np.zeros(shape_of(v), dtype=dtype_of(v))
    return 0.0
