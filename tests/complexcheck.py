"""The harness for complex arguments: check_complex(fun, *args) checks fun's derivatives
at complex (or mixed real and complex) args under autograd's convention.

For the real loss L = sum(Re(fun(*args) * conj(w))) with a fixed random complex w,
the gradient of a complex argument z = x + iy is dL/dx - i dL/dy. It is compared:
- against central differences (fourth order) taken along x and y separately, element
  by element, and assembled as dL/dx - i dL/dy: the independent referee;
- with the forward-mode gradient (jacobian of L, two directions per complex element);
- with vjp(fun)(conj(w)) (conj(w) is L's cotangent for fun's output);
- with forward-mode jvp: d/dt L(z + t v) = Re(sum(grad * v)) for a random complex v,
  and jvp(fun) against the difference quotient of fun along v;
- the batched forward and reverse Jacobians of fun against each other;
- second order: the Hessian-vector product (forward over reverse) against differences
  of the gradient, and reverse over reverse against it.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from ruletest import EXERCISED, _close, _replace

import adkit
from adkit.forward import jacobian as fwd_jacobian
from adkit.reverse import Tape
from adkit.reverse import jacobian as rev_jacobian


def C(*shape: int, seed: int = 0, scale: float = 1.0, shift: complex = 0) -> Any:
    """A random complex128 array (a Python complex for no shape)."""
    rng = np.random.RandomState(seed)
    z = scale * (rng.uniform(-1, 1, shape) + 1j * rng.uniform(-1, 1, shape)) + shift
    return complex(z) if not shape else z


def _loss(fun: Callable, out: Any) -> Callable:
    rng = np.random.RandomState(7)
    shape = np.shape(out)
    w = rng.uniform(0.5, 1.5, shape) + 1j * rng.uniform(-1, 1, shape)

    def L(*args):
        return np.sum(np.real(fun(*args) * np.conj(w)))
    # L's cotangent for fun's output: conj(w), or Re(w) for a real output
    return L, np.conj(w) if np.iscomplexobj(out) else np.real(w)


def _difference(F: Callable, x: Any, v: Any, h: float) -> Any:
    """dF(x + t v)/dt at 0, central and fourth order (F real or complex, any shape)."""
    d1 = (F(x + h * v) - F(x - h * v)) / (2 * h)
    d2 = (F(x + 2 * h * v) - F(x - 2 * h * v)) / (4 * h)
    return (4 * d1 - d2) / 3


def numeric_gradient(L: Callable, x: Any, h: float = 1e-5) -> Any:
    """dL/dx - i dL/dy at a complex x (dL/dx at a real one), element by element."""
    x_arr = np.asarray(x)
    g = np.zeros(x_arr.shape, dtype=complex if np.iscomplexobj(x) else float)
    for k in np.ndindex(*x_arr.shape):
        e = np.zeros(x_arr.shape)
        e[k] = 1.0
        unit = e if np.ndim(x) else 1.0
        g[k] = _difference(L, x, unit, h)
        if np.iscomplexobj(x):
            g[k] -= 1j * _difference(L, x, 1j * unit, h)
    return g if np.ndim(x) else g[()]


def check_complex(fun: Callable, *args: Any, argnums: tuple | None = None,
                  rtol: float = 1e-6, atol: float = 1e-7, h: float = 1e-5,
                  order: int = 2, jacobians: bool = True) -> None:
    """Check fun's derivatives at complex args (see module docstring)."""
    args = list(args)
    if argnums is None:
        argnums = tuple(i for i, a in enumerate(args) if np.asarray(a).dtype.kind in "fc")
    out = fun(*args)
    L, ct = _loss(fun, out)
    with Tape() as tape:
        fun(*[tape.watch(a) if i in argnums else a for i, a in enumerate(args)])
    EXERCISED.update(n.prim.name for n in tape.nodes if n.prim is not None)

    rng = np.random.RandomState(3)
    grads = adkit.grad(L, argnums)(*args)
    grads_fwd = adkit.jacobian(L, argnums, mode="forward")(*args)
    pulled = adkit.vjp(lambda *a: fun(*_merge(args, argnums, a)),
                       *[args[i] for i in argnums])[1](ct if np.ndim(out) else ct[()])
    for k, i in enumerate(argnums):
        def Li(a, i=i):
            return L(*_replace(args, i, a))
        x = args[i]
        scale = max(1.0, float(np.max(np.abs(grads[k]), initial=0.0)))
        _close(grads[k], numeric_gradient(Li, x, h), rtol * 10, atol * 10 * scale,
               f"reverse vs differences along x and y, arg {i}")
        _close(grads_fwd[k], grads[k], 1e-10, 1e-12 * scale, f"forward vs reverse, arg {i}")
        _close(pulled[k], grads[k], 1e-10, 1e-12 * scale, f"vjp vs grad, arg {i}")
        v = _direction(rng, x)
        _, dL = adkit.jvp(Li, (x,), (v,))
        _close(dL, np.sum(np.real(grads[k] * v)), 1e-9, 1e-11 * scale,
               f"jvp of L vs Re(grad . v), arg {i}")
        _, df = adkit.jvp(lambda a: fun(*_replace(args, i, a)), (x,), (v,))
        num = _difference(lambda a: np.asarray(fun(*_replace(args, i, a))), x, v, h)
        _close(df, num, rtol * 10, atol * 10 * max(1.0, float(np.max(np.abs(num), initial=0))),
               f"jvp of fun vs differences along v, arg {i}")
        if order >= 2:
            _second_order(Li, x, v, h, rtol, atol)

    if jacobians and np.size(out) <= 200:
        jf = fwd_jacobian(fun, argnums)(*args)
        jr = rev_jacobian(fun, argnums)(*args)
        for k, i in enumerate(argnums):
            _close(jf[k], jr[k], 1e-9, 1e-11, f"batched forward vs reverse Jacobian, arg {i}")


def _merge(args: list, argnums: tuple, values: tuple) -> list:
    new = list(args)
    for i, a in zip(argnums, values):
        new[i] = a
    return new


def _direction(rng: np.random.RandomState, x: Any) -> Any:
    shape = np.shape(x)
    v = rng.standard_normal(shape)
    if np.iscomplexobj(x):
        v = v + 1j * rng.standard_normal(shape)
    return v if shape else v[()]


def _second_order(Li: Callable, x: Any, v: Any, h: float, rtol: float, atol: float) -> None:
    g = adkit.grad(Li)
    fwd_rev = adkit.hvp(Li, (x,), (v,))
    num = _difference(lambda a: np.asarray(g(a)), x, v, 1e-4)
    scale = max(1.0, float(np.max(np.abs(num))))
    _close(fwd_rev, num, rtol * 100, atol * 100 * scale, "forward-over-reverse HVP")
    # d/dt grad(z + t v) is the gradient of Re(grad(z) . v): the Hessian is symmetric
    rev_rev = adkit.grad(lambda a: np.sum(np.real(g(a) * v)))(x)
    _close(rev_rev, fwd_rev, 1e-8, 1e-10 * scale, "reverse-over-reverse HVP")
