"""Dual numbers: a value and its tangent, pushed forward through the primitive table.

A tangent has the primal's shape, or one extra leading *batch* axis holding
many tangents at once: pushing the identity through one vectorised pass gives
a whole Jacobian (ForwardDiff.jl's chunks, without the chunk-size limit). A
tangent of None is a symbolic zero: it is never materialised, and rules for
it never run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arraybox import ArrayBox, Indexable, box_class
from ..inplace import note_view, shares_memory
from ..rules.helpers import FLOAT64, lift, ndim_of, shape_of
from ..tracer import BoxBase, Primitive, Trace, unit_jvp


class ForwardTrace(Trace):
    """One forward-mode differentiation; its Duals share its perturbation."""

    __slots__ = ()

    def process(self, prim: Primitive, args: tuple, kwargs: dict) -> "Dual":
        if prim.simple and not kwargs:
            if len(args) == 2:
                return self.binary(prim, args[0], args[1])
            if len(args) == 1:
                return self.unary(prim, args[0])
        values = list(args)
        tangents: list = [None] * len(args)
        traced = nested = False
        for i, a in enumerate(args):
            if isinstance(a, BoxBase):
                if a._trace is self:
                    tangents[i] = a._tangent
                    traced = traced or a._tangent is not None
                    a = values[i] = a._value
                nested = nested or isinstance(a, BoxBase)
        ans = prim(*values, **kwargs) if nested else prim.impl(*values, **kwargs)
        tangent = push_forward(prim, tangents, ans, values, kwargs) if traced else None
        out = _dual(ans, tangent, self)
        if prim.view and shares_memory(ans, values[0]):
            note_view(out, args[0], prim, args[1:], kwargs)
        return out

    # The two paths below do what the general one does for elementwise primitives
    # of one and two arguments, without its lists and loops: scalar code spends
    # most of its time here.
    def unary(self, prim: Primitive, a: "Dual") -> "Dual":
        if not self.active:
            raise self.escaped(prim)
        v, t = a._value, a._tangent
        ans = prim(v) if isinstance(v, BoxBase) else prim.impl(v)
        if t is not None:
            rule = prim.jvps[0]
            if rule is None:
                raise no_jvp_rule(prim, 0)
            t = rule(t, ans, v)
        # _dual(ans, t, self), inlined: this line runs once per scalar operation
        tv = type(ans)
        d = _new_dual(Dual if tv is float or tv is FLOAT64 else box_class(ans, Dual, DualArray))
        d._value, d._tangent, d._trace = ans, t, self
        return d

    def binary(self, prim: Primitive, a: Any, b: Any) -> "Dual":
        if not self.active:
            raise self.escaped(prim)
        if isinstance(a, BoxBase) and a._trace is self:
            va, ta = a._value, a._tangent
        else:
            va, ta = a, None
        if isinstance(b, BoxBase) and b._trace is self:
            vb, tb = b._value, b._tangent
        else:
            vb, tb = b, None
        if isinstance(va, BoxBase) or isinstance(vb, BoxBase):
            ans = prim(va, vb)
        else:
            ans = prim.impl(va, vb)
        if ta is None and tb is None:
            return _dual(ans, None, self)
        t_ans = type(ans)
        if t_ans is float or t_ans is FLOAT64 or (
                (ta is None or shape_of(va) == shape_of(ans)) and
                (tb is None or shape_of(vb) == shape_of(ans))):
            # no broadcasting of a traced argument: the rules apply as they are (an
            # answer that is a box of an outer trace needs its shape checked too)
            r0, r1 = prim.jvps
            tangent = None
            if ta is not None:
                if r0 is None:
                    raise no_jvp_rule(prim, 0)
                tangent = ta if r0 is unit_jvp else r0(ta, ans, va, vb)
            if tb is not None:
                if r1 is None:
                    raise no_jvp_rule(prim, 1)
                c = tb if r1 is unit_jvp else r1(tb, ans, va, vb)
                if c is not None:  # None: no dependence on this argument
                    tangent = c if tangent is None else tangent + c
        else:
            tangent = _apply_rules(prim, [ta, tb], ans, [va, vb], {})
        tv = type(ans)  # _dual(ans, tangent, self), inlined as in unary()
        d = _new_dual(Dual if tv is float or tv is FLOAT64 else box_class(ans, Dual, DualArray))
        d._value, d._tangent, d._trace = ans, tangent, self
        return d


class Dual(ArrayBox):
    """A forward-mode traced value: `Dual(value, tangent)`.

    The tangent has the value's shape, or a leading batch axis for many
    directions at once. Duals made without `trace=` share one default
    perturbation, like textbook dual numbers:

    >>> x = Dual(2.0, 1.0)
    >>> y = x * x + np.sin(x)
    >>> y.tangent   # d/dx (x^2 + sin x) at 2
    3.5838531634528574
    """

    __slots__ = ()
    _kind = "Dual"

    def __new__(cls, value: Any, tangent: Any = None, *, trace: ForwardTrace | None = None):
        return object.__new__(box_class(_as_primal(value), Dual, DualArray))

    def __init__(self, value: Any, tangent: Any = None, *, trace: ForwardTrace | None = None):
        value = _as_primal(value)
        if tangent is not None:
            tangent = _as_primal(tangent)
            vs, ts = shape_of(value), shape_of(tangent)
            if ts != vs and ts[1:] != vs:
                raise ValueError(f"tangent shape {ts} does not match value shape {vs} "
                                 f"(or a batch of tangents, shape (B,) + {vs})")
        self._value = value
        self._tangent = tangent
        self._trace = trace if trace is not None else DEFAULT_TRACE

    def __repr__(self) -> str:
        return f"Dual({self._value!r}, tangent={self.tangent!r})"

    @property
    def tangent(self) -> Any:
        """The tangent (zeros where it is a symbolic zero)."""
        t = self._tangent
        return np.zeros_like(self._value) if t is None else t


class DualArray(Indexable, Dual):
    """A Dual of at least one dimension (indexable); isinstance(x, Dual) holds."""

    __slots__ = ()


DEFAULT_TRACE = ForwardTrace()
DEFAULT_TRACE.level = 0  # outermost: every transform nests inside user-made Duals
_new_dual = object.__new__


def _dual(value: Any, tangent: Any, trace: ForwardTrace) -> Dual:
    d = _new_dual(box_class(value, Dual, DualArray))
    d._value = value
    d._tangent = tangent
    d._trace = trace
    return d


def _as_primal(x: Any) -> Any:
    if isinstance(x, BoxBase):
        return x
    if isinstance(x, (bool, np.bool_)):
        raise TypeError("a boolean cannot carry a derivative")
    if isinstance(x, int):
        return float(x)
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if isinstance(x, np.ndarray) and x.dtype.kind in "iu":
        return x.astype(np.float64)
    return x


def push_forward(prim: Primitive, tangents: list, ans: Any, values: list, kwargs: dict) -> Any:
    """The output tangent of prim: the sum of its JVP rules over the traced arguments."""
    if not prim.batch_aware:
        nb = _batch_size(tangents, values)
        if nb is not None:
            return _loop_over_batch(prim, tangents, ans, values, kwargs, nb)
    return _apply_rules(prim, tangents, ans, values, kwargs)


def _apply_rules(prim: Primitive, tangents: list, ans: Any, values: list, kwargs: dict) -> Any:
    if prim.jvp_joint is not None:
        return prim.jvp_joint(tangents, ans, *values, **kwargs)
    rules = prim.jvps
    elementwise = prim.elementwise
    out = None
    nb = 0
    for i, t in enumerate(tangents):
        if t is None:
            continue
        rule = rules[i] if i < len(rules) else None
        if rule is None:
            raise no_jvp_rule(prim, i)
        if elementwise:
            x_ndim = ndim_of(values[i])
            nb = ndim_of(t) - x_ndim
            if nb:
                t = lift(t, x_ndim, ndim_of(ans), nb)
        c = rule(t, ans, *values, **kwargs)
        if c is not None:  # None: the output does not depend on this argument
            out = c if out is None else out + c
    if elementwise and out is not None:
        expected = shape_of(ans)
        if nb:
            expected = shape_of(out)[:nb] + expected
        if shape_of(out) != expected:
            out = np.broadcast_to(out, expected)
    return out


def no_jvp_rule(prim: Primitive, argnum: int) -> NotImplementedError:
    return NotImplementedError(
        f"{prim.name} has no forward-mode (JVP) rule for its argument {argnum}, so it "
        f"cannot be differentiated with respect to that argument in forward mode. "
        f"Use reverse mode (adkit.grad / adkit.vjp), or add a rule with "
        f"adkit.defjvp({prim.name}, ...).")


def _batch_size(tangents: list, values: list) -> int | None:
    for t, v in zip(tangents, values):
        if t is not None and ndim_of(t) > ndim_of(v):
            return shape_of(t)[0]
    return None


def _loop_over_batch(prim, tangents, ans, values, kwargs, size):
    """For rules written for one tangent: apply them direction by direction."""
    outs = []
    for b in range(size):
        single = [None if t is None else (t[b] if ndim_of(t) > ndim_of(v) else t)
                  for t, v in zip(tangents, values)]
        outs.append(_apply_rules(prim, single, ans, values, kwargs))
    return np.stack(outs)
