"""Forward mode: jvp, derivative, and Jacobians in one batched pass."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np

from ..arguments import (check_callable, check_like, check_outputs, differentiable_leaves,
                         normalize_argnums)
from ..pytree import tree_flatten, tree_unflatten
from ..rules.helpers import dtype_of, is_complex, shape_of
from ..scope import tracing
from ..tracer import BoxBase, primal
from .dual import ForwardTrace, _dual


def _push(f: Callable, args: list, kwargs: dict, seeded: dict[int, tuple],
          batch: tuple) -> tuple[list, list, Any]:
    """Run f with Duals on the seeded arguments.

    seeded[n] = (treedef, prepared leaves, tangents). Returns the output leaves'
    values and tangents (zeros of shape batch + value shape where f's output
    does not depend on the inputs) and the output treedef.
    """
    trace = ForwardTrace()
    args = list(args)
    for n, (td, leaves, tangents) in seeded.items():
        args[n] = tree_unflatten(td, [_dual(x, t, trace) for x, t in zip(leaves, tangents)])
    with tracing(trace):
        out = f(*args, **kwargs)
    leaves, td = tree_flatten(out)
    check_outputs(out, leaves, td, "jvp" if not batch else "jacobian")
    values, tangents = [], []
    for leaf in leaves:
        if isinstance(leaf, BoxBase) and leaf._trace is trace:
            value, t = leaf._value, leaf._tangent
        else:
            value, t = leaf, None
        if t is None:
            t = np.zeros(batch + shape_of(value), dtype=dtype_of(value))
        else:
            if shape_of(t) != batch + shape_of(value):
                t = np.broadcast_to(t, batch + shape_of(value)).copy()
            dt, t_dt = dtype_of(value), dtype_of(t)
            if dt != t_dt and dt.kind in "fc" and t_dt.kind in "fc":
                # a tangent has its primal's dtype: a real output's is real, a complex one's complex
                t = np.real(t) if dt.kind == "f" else t
                t = t.astype(dt) if hasattr(t, "astype") else dt.type(t)  # a Python number
        values.append(value)
        tangents.append(t)
    return values, tangents, td


def jvp(f: Callable, primals: Any, tangents: Any) -> tuple[Any, Any]:
    """(f(*primals), the directional derivative of f at primals along tangents).

    >>> jvp(lambda x, y: x * y, (2.0, 3.0), (1.0, 0.0))
    (6.0, 3.0)
    """
    check_callable(f, "jvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp(f, primals, tangents): primals and tangents must be tuples "
                        "(one entry per positional argument of f)")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp got {len(primals)} primals but {len(tangents)} tangents")
    seeded = {}
    for n, (p, t) in enumerate(zip(primals, tangents)):
        leaves, td, _ = differentiable_leaves(p, f"primal {n}")
        t_leaves, t_td = tree_flatten(t)
        t_leaves = check_like(leaves, t_leaves, td, t_td, "tangent", f"argument {n}")
        t_leaves = [_cast(t, x) for t, x in zip(t_leaves, leaves)]
        seeded[n] = (td, leaves, t_leaves)
    values, out_tangents, td = _push(f, list(primals), {}, seeded, ())
    return tree_unflatten(td, values), tree_unflatten(td, out_tangents)


def derivative(f: Callable) -> Callable:
    """f' for a function of one real number (any output shape), by forward mode.

    >>> derivative(np.sin)(0.0)
    1.0
    """
    check_callable(f, "derivative")

    @functools.wraps(f)
    def df(x: Any, *args: Any, **kwargs: Any) -> Any:
        if np.ndim(primal(x)) != 0:
            raise ValueError(f"derivative(f) takes a scalar x, got shape {np.shape(primal(x))}; "
                             "use adkit.jacobian(f) or adkit.jvp for arrays")
        if is_complex(x):  # as jacobian: f'(z) for a holomorphic f (docs/complex.md)
            return jacobian(lambda x_: f(x_, *args, **kwargs))(x)
        _, t = jvp(lambda x_: f(x_, *args, **kwargs), (x,), (1.0,))
        return t
    return df


def jacobian(f: Callable, argnums: Any = 0, *, chunk_size: int | None = None) -> Callable:
    """The Jacobian by forward mode: the identity pushed through in one batched pass.

    Shape: out.shape + in.shape for each (output leaf, input leaf). chunk_size
    bounds how many directions travel together (memory: chunk_size times each
    intermediate); by default all of them.

    >>> jacobian(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    check_callable(f, "jacobian")

    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = normalize_argnums(argnums, len(args), "jacobian")
        inputs = []
        for n in nums:
            leaves, td, _ = differentiable_leaves(args[n], f"argument {n}")
            inputs.append((n, td, leaves))
        return forward_jacobian(f, list(args), kwargs, inputs, single, chunk_size)
    return jacobian_f


def forward_jacobian(f: Callable, args: list, kwargs: dict, inputs: list, single: bool,
                     chunk_size: int | None) -> Any:
    # per input leaf, worked out once: (elements, directions, complex); a complex leaf
    # takes two directions per element, 1 and 1j (see _basis)
    leaf_kinds = [_directions(x) for _, _, leaves in inputs for x in leaves]
    total = sum(width for _, width, _ in leaf_kinds)
    step = max(1, total if not chunk_size else int(chunk_size))  # total is 0 for empty inputs
    blocks, out_td, values = [], None, None
    for start in range(0, max(total, 1), step):
        stop = min(total, start + step)
        seeded, offset, kinds = {}, 0, iter(leaf_kinds)
        for n, td, leaves in inputs:
            tangents = []
            for x in leaves:
                size, width, cplx = next(kinds)
                tangents.append(_basis(x, offset, size, cplx, start, stop))
                offset += width
            seeded[n] = (td, leaves, tangents)
        values, tangents, out_td = _push(f, args, kwargs, seeded, (stop - start,))
        blocks.append(tangents)
    # tangents[k] has shape (directions,) + out_shape; directions run over all inputs
    out_jacs = []
    for k, value in enumerate(values):
        full = blocks[0][k] if len(blocks) == 1 else np.concatenate([b[k] for b in blocks])
        out_shape = shape_of(value)
        per_arg, offset, kinds = [], 0, iter(leaf_kinds)
        for n, td, leaves in inputs:
            jac_leaves = []
            for x in leaves:
                size, width, cplx = next(kinds)
                part = full[offset:offset + width]
                offset += width
                if cplx:  # d Re f/dx - i d Re f/dy: f'(z) for a holomorphic f
                    part = np.real(part[:size]) - 1j * np.real(part[size:])
                part = np.moveaxis(np.reshape(part, (size,) + out_shape), 0, -1)
                jac_leaves.append(np.reshape(part, out_shape + shape_of(x)))
            per_arg.append(tree_unflatten(td, jac_leaves))
        out_jacs.append(per_arg[0] if single else tuple(per_arg))
    return tree_unflatten(out_td, out_jacs)


def _directions(x: Any) -> tuple[int, int, bool]:
    """(elements of x, directions it takes, whether it is complex): two per element if so."""
    size, cplx = math.prod(shape_of(x)), is_complex(x)
    return size, 2 * size if cplx else size, cplx


def _basis(x: Any, offset: int, size: int, cplx: bool, start: int, stop: int) -> np.ndarray:
    """Rows start..stop of the identity, restricted to x's columns, shaped like x.

    x has `size` elements; a complex x (cplx) has twice as many columns: its elements
    along 1, then along 1j.
    """
    width = 2 * size if cplx else size
    seeds = np.zeros((stop - start, width), dtype=dtype_of(x))
    lo, hi = max(start, offset), min(stop, offset + width)
    if lo < hi:
        r = np.arange(lo, hi)
        seeds[r - start, r - offset] = 1
    if cplx:
        seeds = seeds[:, :size] + 1j * seeds[:, size:]
    return seeds.reshape((stop - start,) + shape_of(x))


def _cast(t: Any, x: Any) -> Any:
    """A Python-number tangent takes its primal's dtype."""
    if isinstance(t, (int, float)) and not isinstance(x, (int, float)):
        return np.asarray(t, dtype=dtype_of(x))[()]
    return t