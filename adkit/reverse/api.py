"""Reverse mode: vjp, grad and row-by-row Jacobians from one recorded tape."""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable

import numpy as np

from ..arguments import (accepts_argnum, check_callable, check_like, check_outputs,
                         complex_argnums, differentiable_leaves, non_number, normalize_argnums)
from ..pytree import tree_flatten, tree_unflatten
from ..rules.helpers import FLOAT32, FLOAT64, is_complex, is_duck_array, shape_of, size_of
from ..scope import collector_paused, tracing
from ..tracer import primal
from .tape import Tape, Var, as_gradient, backward


class _Recorded:
    """A function run once on a fresh tape: its outputs, and the way back to its inputs."""

    def __init__(self, f: Callable, args: tuple, kwargs: dict, argnums: tuple, fname: str):
        self.tape = tape = Tape()
        args = list(args)
        self.inputs = []  # per argnum: (treedef, nodes, original leaves, prepared leaves)
        for n in argnums:
            leaves, td, originals = differentiable_leaves(args[n], f"argument {n}")
            boxes = [tape.watch(x) for x in leaves]
            self.inputs.append((td, [b._node for b in boxes], originals, leaves))
            args[n] = tree_unflatten(td, boxes)
        with tracing(tape):
            out = f(*args, **kwargs)
        self.raw_out = out

    def split(self, out: Any) -> tuple[list, list, Any]:
        """Output leaves as (plain values, their tape nodes or None, treedef)."""
        leaves, td = tree_flatten(out)
        values, nodes = [], []
        for leaf in leaves:
            if isinstance(leaf, Var) and leaf._trace is self.tape:
                values.append(leaf._value)
                nodes.append(leaf._node)
            else:
                values.append(leaf)
                nodes.append(None)
        return values, nodes, td

    def pull_back(self, nodes: list, cotangents: list, consume: bool = False) -> list:
        """Cotangents of every input, per argnum, as pytrees like the inputs.

        consume=True releases the tape as the reverse pass goes (it cannot be
        pulled back again), so the peak memory is that of the forward pass.
        """
        seeds = [(n, g) for n, g in zip(nodes, cotangents) if n is not None]
        wanted = [node for _, in_nodes, _, _ in self.inputs for node in in_nodes]
        adj = backward(self.tape.nodes, seeds, wanted, consume) if seeds else {}
        grads = []
        for td, in_nodes, originals, leaves in self.inputs:
            gs = [as_gradient(adj.get(node.index), orig, leaf)
                  for node, orig, leaf in zip(in_nodes, originals, leaves)]
            grads.append(tree_unflatten(td, gs))
        return grads


def vjp(f: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """Evaluate f and return (output, vjp_fn); vjp_fn(cotangent) -> one cotangent per primal.

    >>> out, pull = vjp(lambda x: np.sin(x) * 2.0, np.array([0.0, 1.0]))
    >>> pull(np.ones(2))
    (array([2.        , 1.08060461]),)
    """
    check_callable(f, "vjp")
    rec = _Recorded(f, primals, {}, tuple(range(len(primals))), "vjp")
    out, aux = _split_aux(rec, has_aux, "vjp")
    values, nodes, td = rec.split(out)
    check_outputs(out, values, td, "vjp")

    def vjp_fn(cotangent: Any) -> tuple:
        cts, ct_td = tree_flatten(cotangent)
        cts = check_like(values, cts, td, ct_td, "cotangent", "the output")
        return tuple(rec.pull_back(nodes, cts))

    result = tree_unflatten(td, values)
    return (result, vjp_fn, aux) if has_aux else (result, vjp_fn)


@accepts_argnum
def value_and_grad(f: Callable, argnums: Any = 0, *, has_aux: bool = False) -> Callable:
    """A function returning (f(*args), gradient of f with respect to argnums)."""

    @functools.wraps(f)
    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple:
        nums, single = normalize_argnums(argnums, len(args), "grad")
        with collector_paused():
            rec = _Recorded(f, args, kwargs, nums, "grad")
            out, aux = _split_aux(rec, has_aux, "grad")
            values, nodes, td = rec.split(out)
            v = primal(values[0]) if len(values) == 1 and td.kind is None else None
            tv = type(v)
            if tv is float:  # the usual loss: a real scalar, every check passes
                seed = 1.0
            elif tv is FLOAT64 or tv is FLOAT32:
                seed = tv(1)
            else:
                seed = _seed(out, values, td)
            grads = rec.pull_back(nodes, [seed], consume=True)
            value = values[0]
            del rec, nodes, out  # the tape goes now, while the collector rests
        g = grads[0] if single else tuple(grads)
        return ((value, aux), g) if has_aux else (value, g)

    return value_and_grad_f


@accepts_argnum
def grad(f: Callable, argnums: Any = 0, *, has_aux: bool = False) -> Callable:
    """The gradient of a scalar function, by reverse mode.

    f returns a real number; an array of one element (shape (1,), (1, 1), ...)
    counts as one, as in autograd.

    >>> grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
    array([2., 4.])
    """
    vg = value_and_grad(f, argnums, has_aux=has_aux)

    @functools.wraps(f)
    def grad_f(*args: Any, **kwargs: Any) -> Any:
        (value_aux, g) = vg(*args, **kwargs)
        return (g, value_aux[1]) if has_aux else g

    return grad_f


@accepts_argnum
def elementwise_grad(f: Callable, argnums: Any = 0) -> Callable:
    """The gradient of sum(f(x)) in one reverse pass (autograd's elementwise_grad).

    For f acting element by element (np.tanh, a pointwise loss) it is the derivative
    of each output with respect to its own input: f' on a whole array at once. For
    any other f it is the sum of the Jacobian's rows, the vjp with a cotangent of
    ones. f's output must be real (an array, or a tuple/list/dict of them).

    >>> elementwise_grad(np.tanh)(np.array([0.0, 1.0]))
    array([1.        , 0.41997434])
    """
    @functools.wraps(f)
    def elementwise_grad_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = normalize_argnums(argnums, len(args), "elementwise_grad")
        with collector_paused():
            rec = _Recorded(f, args, kwargs, nums, "elementwise_grad")
            values, nodes, td = rec.split(rec.raw_out)
            check_outputs(rec.raw_out, values, td, "elementwise_grad")
            for v in values:
                if np.iscomplexobj(primal(v)):
                    raise TypeError("elementwise_grad needs a real output, but f returned a "
                                    "complex value; differentiate np.real(f(z)) or "
                                    "np.abs(f(z)) ** 2, or use adkit.vjp (docs/complex.md)")
            grads = rec.pull_back(nodes, [np.ones_like(primal(v)) for v in values],
                                  consume=True)
            del rec, nodes
        return grads[0] if single else tuple(grads)

    return elementwise_grad_f


@accepts_argnum
def holomorphic_grad(f: Callable, argnums: Any = 0, *, has_aux: bool = False) -> Callable:
    """The complex derivative f'(z) of a holomorphic scalar function, as autograd's.

    It is the gradient of Re f under the complex convention (docs/complex.md),
    which by the Cauchy-Riemann equations is f'(z) wherever f is holomorphic;
    for any other f it is the gradient of Re f. A real argument gets a warning:
    the gradient of Re f along the real line drops Im f'(x); pass it as complex.

    >>> holomorphic_grad(lambda z: z ** 2)(1 + 1j)
    (2+2j)
    """
    def real_part(*args: Any, **kwargs: Any) -> Any:
        out = f(*args, **kwargs)
        if has_aux:
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise ValueError("holomorphic_grad(..., has_aux=True) needs f to return a "
                                 f"pair (output, aux), got {type(out).__name__}")
            return np.real(out[0]), out[1]
        return np.real(out)

    g = grad(real_part, argnums, has_aux=has_aux)

    @functools.wraps(f)
    def holomorphic_grad_f(*args: Any, **kwargs: Any) -> Any:
        nums, _ = normalize_argnums(argnums, len(args), "holomorphic_grad")
        complex_nums = complex_argnums(args, nums)
        real = [n for n in nums if n not in complex_nums]
        if real:
            warnings.warn(f"holomorphic_grad: argument {real[0]} is real, so the result is "
                          "the derivative of Re f along the real line (Im f'(x) is dropped); "
                          "pass it as a complex number (x + 0j) for f'(x)", stacklevel=2)
        return g(*args, **kwargs)

    return holomorphic_grad_f


@accepts_argnum
def jacobian(f: Callable, argnums: Any = 0) -> Callable:
    """The Jacobian by reverse mode: one recorded pass, one backward pass per output element.

    Shape: out.shape + in.shape for each (output leaf, input leaf).
    """
    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = normalize_argnums(argnums, len(args), "jacobian")
        with collector_paused():
            return reverse_jacobian(_Recorded(f, args, kwargs, nums, "jacobian"), single)

    return jacobian_f


def reverse_jacobian(rec: _Recorded, single: bool) -> Any:
    values, nodes, td = rec.split(rec.raw_out)
    check_outputs(rec.raw_out, values, td, "jacobian")
    # a complex input's entry is the first seed's alone (docs/complex.md): -1j serves real inputs
    real_in = any(not is_complex(x) for _, _, _, leaves in rec.inputs for x in leaves)
    out_jacs = []
    for value, node in zip(values, nodes):
        out_shape = shape_of(value)
        plain_value = primal(value)
        dt = plain_value.dtype if hasattr(plain_value, "dtype") else np.dtype(np.float64)
        # a complex output's cotangent is dL/dRe - i dL/dIm: seed 1 pulls back the
        # derivative of its real part, seed -1j that of its imaginary part (real inputs only)
        seeds = (1, -1j) if dt.kind == "c" and real_in else (1,)
        rows = [[] for _ in seeds]  # per seed, per output element: list over argnums of pytrees
        for flat in range(int(np.prod(out_shape, dtype=np.int64))):
            for s, srows in zip(seeds, rows):
                seed = np.zeros(out_shape, dtype=dt)
                seed[np.unravel_index(flat, out_shape)] = s
                srows.append(rec.pull_back([node], [seed if out_shape else seed[()]]))
        per_arg = []
        for k, (in_td, _, _, leaves) in enumerate(rec.inputs):
            jac_leaves = []
            for li, leaf in enumerate(leaves):
                in_shape = shape_of(leaf)
                if rows[0]:
                    parts = [np.stack([np.reshape(tree_flatten(r[k])[0][li], in_shape)
                                       for r in srows]) for srows in rows]
                    stacked = parts[0] if len(parts) == 1 or is_complex(leaf) else \
                        parts[0] + 1j * parts[1]
                else:
                    stacked = np.zeros((0,) + in_shape, dtype=dt)
                jac_leaves.append(np.reshape(stacked, out_shape + in_shape))
            per_arg.append(tree_unflatten(in_td, jac_leaves))
        out_jacs.append(per_arg[0] if single else tuple(per_arg))
    return tree_unflatten(td, out_jacs)


def _split_aux(rec: _Recorded, has_aux: bool, fname: str) -> tuple[Any, Any]:
    out = rec.raw_out
    if not has_aux:
        return out, None
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ValueError(f"{fname}(..., has_aux=True) needs f to return a pair "
                         f"(output, aux), got {type(out).__name__}")
    aux_values, _, aux_td = rec.split(out[1])  # auxiliary outputs carry no derivative
    return out[0], tree_unflatten(aux_td, aux_values)


def _seed(out: Any, values: list, td: Any) -> Any:
    """grad's checks of f's output, and the cotangent that starts its reverse pass (ones)."""
    if out is None or len(values) == 1 and td.kind is None:
        _check_differentiable_output(out if out is None else values[0])
    # an array of one element counts as a scalar, as in autograd (x @ w of a
    # (1, n) row, a (1, 1) quadratic form); the gradient is seeded with ones
    if len(values) != 1 or td.kind is not None or size_of(values[0]) != 1:
        raise ValueError(_not_scalar_message(values, td))
    v = primal(values[0])
    if np.iscomplexobj(v):
        raise TypeError("grad needs a real scalar output, but f returned a complex "
                        "value. For the complex derivative of a holomorphic f use "
                        "adkit.holomorphic_grad(f); otherwise differentiate a real "
                        "quantity: np.real(f(z)), np.abs(f(z)) ** 2, ... "
                        "(docs/complex.md)")
    if is_duck_array(v):
        return np.ones_like(v)   # a device array's seed lives on its device
    return np.ones(np.shape(v), dtype=v.dtype)[()] if hasattr(v, "dtype") else 1.0


def _check_differentiable_output(value: Any) -> None:
    """grad differentiates a number: a bool, string or other object has no derivative
    (arguments.non_number)."""
    what = non_number(value)
    if what is not None:
        hint = " (does f end without a return statement?)" if primal(value) is None else ""
        raise TypeError(f"grad needs f to return a real number, but it returned {what}, "
                        f"which has no derivative{hint}. Return the float "
                        "quantity to differentiate (for a comparison, the difference it "
                        "compares).")


def _not_scalar_message(values: list, td: Any) -> str:
    if len(values) == 1 and td.kind is None:
        what = f"an output of shape {shape_of(values[0])}"
    else:
        what = f"a {td!r} structure of {len(values)} outputs"
    return (f"grad needs f to return a scalar (or an array of one element), but it "
            f"returned {what}. For the derivative "
            "of a non-scalar output use adkit.jacobian(f); for one vector-Jacobian product "
            "use adkit.vjp(f, x); or reduce the output to a scalar (e.g. np.sum).")
