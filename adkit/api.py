"""The differential operators users call: compositions of the two engines."""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from .arguments import accepts_argnum, check_callable, differentiable_leaves, normalize_argnums
from .forward.api import forward_jacobian, jvp
from .reverse.api import _Recorded, grad, reverse_jacobian, value_and_grad, vjp
from .rules.helpers import size_of
from .tracer import primal

__all__ = ["grad", "value_and_grad", "jacobian", "hessian", "hvp", "jvp", "vjp",
           "stop_gradient"]

_MODES = ("auto", "forward", "reverse")


@accepts_argnum
def jacobian(f: Callable, argnums: Any = 0, *, mode: str = "auto") -> Callable:
    """The Jacobian of f, shaped out.shape + in.shape.

    mode="forward" pushes the identity through f in one batched pass;
    mode="reverse" records f once and runs one backward pass per output
    element; mode="auto" records f, then picks forward when f has no more
    inputs than outputs.

    >>> jacobian(lambda x: np.sin(x) * x)(np.array([0.0, 1.0])).shape
    (2, 2)
    """
    if mode not in _MODES:
        raise ValueError(f"jacobian: mode must be one of {_MODES}, got {mode!r}")

    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = normalize_argnums(argnums, len(args), "jacobian")
        if mode == "forward":
            inputs = []
            for n in nums:
                leaves, td, _ = differentiable_leaves(args[n], f"argument {n}")
                inputs.append((n, td, leaves))
            return forward_jacobian(f, list(args), kwargs, inputs, single, None)
        rec = _Recorded(f, args, kwargs, nums, "jacobian")
        if mode == "auto":
            values, _, _ = rec.split(rec.raw_out)
            n_out = sum(size_of(v) for v in values)
            n_in = sum(size_of(x) for _, _, _, leaves in rec.inputs for x in leaves)
            if n_in <= n_out:
                inputs = [(n, td, leaves) for n, (td, _, _, leaves) in zip(nums, rec.inputs)]
                return forward_jacobian(f, list(args), kwargs, inputs, single, None)
        return reverse_jacobian(rec, single)

    return jacobian_f


@accepts_argnum
def hessian(f: Callable, argnums: Any = 0) -> Callable:
    """The Hessian of a scalar function: forward mode over reverse mode, the Jacobian of
    grad(f) (autograd's hessian, jacobian(jacobian(f))).

    A complex argument follows docs/complex.md: with g = grad(f) = du/dx - i du/dy, entry
    (i, j) is dRe g_i/dx_j - i dRe g_i/dy_j = d2u/dx_i dx_j - i d2u/dx_i dy_j, which is
    f''(z) for the real part of a holomorphic f. It holds half of the real 2n x 2n
    second derivative (the d2u/dy dy block is not in it); for all of it differentiate
    the real and imaginary parts, hessian(lambda x, y: f(x + 1j * y), argnums=(0, 1)).

    >>> hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 3.0]))
    array([[6., 2.],
           [2., 0.]])
    """
    return jacobian(grad(f, argnums), argnums, mode="forward")


def hvp(f: Callable, primals: Any, tangents: Any) -> Any:
    """The Hessian of f (with respect to its first argument) times a vector, without
    forming the Hessian: the JVP of the gradient (forward over reverse).

    >>> hvp(lambda x: np.sum(x ** 3), (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
    array([6., 0.])
    """
    check_callable(f, "hvp")
    return jvp(grad(f), primals, tangents)[1]


def stop_gradient(x: Any) -> Any:
    """x without any derivative: the plain value under every trace.

    >>> grad(lambda x: x * stop_gradient(x))(3.0)
    3.0
    """
    if isinstance(x, (tuple, list, dict)):
        from .pytree import tree_map
        return tree_map(stop_gradient, x)
    x = primal(x)
    if isinstance(x, np.ndarray):
        # the tape may hold this very array: hand out a read-only view of it
        x = x.view()
        x.flags.writeable = False
    return x