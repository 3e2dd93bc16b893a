"""The harness every rule test uses: one call checks a function in every mode.

check(fun, *args) compares, at args:
- reverse-mode gradient against the exact one from adkit.symbolic (SymPy), when
  every primitive on the way has a SymPy counterpart;
- reverse-mode gradient, forward-mode gradient and a central finite difference
  (the independent referee, written here with plain NumPy) of the scalar
  L(args) = sum(w * fun(*args)) for a fixed random w;
- the full Jacobian of fun by batched forward mode and by reverse mode;
- second order: Hessian-vector products by forward-over-reverse,
  reverse-over-reverse and forward-over-forward against finite differences
  of the gradient, and the batched Hessian (forward over reverse) against
  reverse-over-reverse, so every JVP rule also runs on batched tangents
  flowing through VJP rules, and the batched forward-over-forward Hessian
  (batched tangents of batched tangents).
The primitives a check recorded are kept in EXERCISED, so a test can assert that
every entry of the table has been checked.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import adkit
from adkit.forward import jacobian as fwd_jacobian
from adkit.reverse import Tape
from adkit.reverse import jacobian as rev_jacobian

EXERCISED: set[str] = set()
_rng = np.random.RandomState(0)


def R(*shape: int, low: float = -2.0, high: float = 2.0, seed: int | None = None) -> np.ndarray:
    """A random float64 array (or scalar for no shape) in [low, high)."""
    rng = np.random.RandomState(seed) if seed is not None else _rng
    if not shape:
        return float(rng.uniform(low, high))
    return rng.uniform(low, high, size=shape)


def Rpos(*shape: int, seed: int | None = None) -> np.ndarray:
    return R(*shape, low=0.5, high=2.0, seed=seed)


def _weights(out: Any) -> Any:
    rng = np.random.RandomState(1)
    return rng.uniform(0.5, 1.5, size=np.shape(out))


def _scalar(fun: Callable, out_example: Any) -> Callable:
    """L = sum(w * fun(...)) (real and imaginary parts weighted alike for complex outputs)."""
    w = _weights(out_example)

    def L(*args):
        out = fun(*args)
        if np.iscomplexobj(out_example):
            return np.sum(w * np.real(out)) + np.sum(0.7 * w * np.imag(out))
        return np.sum(w * out)
    return L


def _perturb(args: list, i: int, delta: Any) -> list:
    new = list(args)
    new[i] = args[i] + delta
    return new


def numeric_directional(L: Callable, args: list, i: int, v: Any, h: float) -> float:
    """Central difference of L along v in argument i (fourth order: two steps)."""
    def at(t):
        return float(L(*_perturb(args, i, t * v)))
    d1 = (at(h) - at(-h)) / (2 * h)
    d2 = (at(2 * h) - at(-2 * h)) / (4 * h)
    return (4 * d1 - d2) / 3


def _close(a: Any, b: Any, rtol: float, atol: float, what: str) -> None:
    a, b = np.asarray(a, dtype=complex if np.iscomplexobj(a) else float), np.asarray(b)
    if a.shape != b.shape:
        raise AssertionError(f"{what}: shapes differ, {a.shape} vs {b.shape}")
    ok = np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    if not np.all(ok):
        err = np.max(np.abs(a - b))
        raise AssertionError(f"{what}: max abs error {err:.3g}\n{a}\nvs\n{b}")


def check(fun: Callable, *args: Any, argnums: tuple | None = None, order: int = 2,
          rtol: float = 1e-6, atol: float = 1e-7, h: float = 1e-4, modes: str = "all",
          jacobians: bool = True, symbolic: bool = True) -> None:
    """Check fun's derivatives at args in every mode (see module docstring)."""
    args = [np.asarray(a, dtype=float) if isinstance(a, list) else a for a in args]
    argnums = tuple(i for i, a in enumerate(args) if _is_float(a)) if argnums is None \
        else argnums
    out = fun(*args)
    L = _scalar(fun, out)
    with Tape() as tape:
        boxed = [tape.watch(a) if i in argnums else a for i, a in enumerate(args)]
        fun(*boxed)
    EXERCISED.update(n.prim.name for n in tape.nodes if n.prim is not None)

    rng = np.random.RandomState(2)
    grads_rev = adkit.grad(L, argnums)(*args)
    grads_fwd = adkit.jacobian(L, argnums, mode="forward")(*args)
    for k, i in enumerate(argnums):
        v = rng.standard_normal(np.shape(args[i]))
        v = float(v) if np.ndim(args[i]) == 0 else v
        num = numeric_directional(L, args, i, v, h)
        scale = max(1.0, abs(num))
        rev = float(np.sum(grads_rev[k] * v))
        fwd = float(np.sum(grads_fwd[k] * v))
        _close(rev, num, rtol * 10, atol * 10 * scale, f"reverse vs numeric, arg {i}")
        _close(fwd, rev, 1e-10, 1e-12 * scale, f"forward vs reverse gradient, arg {i}")
        _, jv = adkit.jvp(lambda a: L(*_replace(args, i, a)), (args[i],), (v,))
        _close(jv, rev, 1e-10, 1e-12 * scale, f"jvp vs reverse gradient, arg {i}")

    if symbolic:
        _check_symbolic(L, args, argnums, grads_rev)

    if jacobians and np.size(out) <= 400:
        jf = fwd_jacobian(fun, argnums)(*args)
        jr = rev_jacobian(fun, argnums)(*args)
        for k, i in enumerate(argnums):
            _close(jf[k], jr[k], 1e-9, 1e-11, f"batched forward vs reverse Jacobian, arg {i}")

    if order >= 2:
        for i in argnums:
            _second_order(L, args, i, rng, rtol, atol, h)
    _check_compiled(L, args, argnums, grads_rev, order)


def _check_compiled(L: Callable, args: list, argnums: tuple, grads_rev: tuple,
                    order: int) -> None:
    """adkit.compile of the gradient (and of an HVP) equals the eager engines (rel 1e-12), on
    its trace and on a replay at a moved point (an eager fallback must be right too)."""
    import warnings

    from adkit.compile import CompileWarning
    moved = [a * 1.001 + 1e-3 if i in argnums else a for i, a in enumerate(args)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        cg = adkit.compile(adkit.grad(L, argnums))
        for point, want in ((args, grads_rev), (moved, None)):
            with np.errstate(all="ignore"):
                want = adkit.grad(L, argnums)(*point) if want is None else want
                got = cg(*point)
            for k, i in enumerate(argnums):
                _close(got[k], want[k], 1e-12, 1e-14 * _scale(want[k]),
                       f"compiled vs eager gradient, arg {i}")
        if order >= 2:
            i = argnums[0]
            v = np.ones(np.shape(args[i]))
            hvp = adkit.compile(lambda a: adkit.hvp(lambda b: L(*_replace(args, i, b)),
                                                    (a,), (v,)))
            want = adkit.hvp(lambda b: L(*_replace(args, i, b)), (args[i],), (v,))
            # rounding floor: a rule may take another, equal formula on staged values
            _close(hvp(args[i]), want, 1e-12, 1e-14 * _scale(want),
                   f"compiled vs eager HVP, arg {i}")


def _scale(x: Any) -> float:
    x = np.abs(np.asarray(x))
    return max(1.0, float(np.max(x[np.isfinite(x)], initial=0.0)))


def _check_symbolic(L: Callable, args: list, argnums: tuple, grads_rev: tuple) -> None:
    """The exact gradient (SymPy, through the table's SymPy slots) against reverse mode."""
    from adkit import symbolic
    if sum(np.size(args[i]) for i in argnums) > 16:
        return  # SymPy time grows fast; small inputs already cover the slot
    try:
        exact = symbolic.grad(L, argnums)(*args)
    except symbolic.NoSympyError:
        return  # declared with NoSympy(reason); tests/test_symbolic.py checks the table
    for k, i in enumerate(argnums):
        scale = max(1.0, float(np.max(np.abs(exact[k]), initial=0.0)))
        _close(grads_rev[k], exact[k], 1e-9, 1e-11 * scale, f"reverse vs symbolic, arg {i}")


def _replace(args: list, i: int, a: Any) -> list:
    new = list(args)
    new[i] = a
    return new


def _second_order(L, args, i, rng, rtol, atol, h):
    def Li(a):
        return L(*_replace(args, i, a))
    g = adkit.grad(Li)
    x = args[i]
    v = rng.standard_normal(np.shape(x))
    v = float(v) if np.ndim(x) == 0 else v
    fwd_rev = adkit.hvp(Li, (x,), (v,))
    rev_rev = adkit.grad(lambda a: np.sum(g(a) * v))(x)
    fwd_fwd = adkit.jvp(lambda a: adkit.jvp(Li, (a,), (v,))[1], (x,), (v,))[1]
    num = (4 * (g(x + h * v) - g(x - h * v)) / (2 * h)
           - (g(x + 2 * h * v) - g(x - 2 * h * v)) / (4 * h)) / 3
    scale = max(1.0, float(np.max(np.abs(num))))
    _close(fwd_rev, num, rtol * 100, atol * 100 * scale, f"forward-over-reverse HVP, arg {i}")
    _close(rev_rev, fwd_rev, 1e-8, 1e-10 * scale, f"reverse-over-reverse HVP, arg {i}")
    _close(fwd_fwd, float(np.sum(fwd_rev * v)), 1e-8, 1e-10 * scale,
           f"forward-over-forward vHv, arg {i}")
    if np.size(x) <= 60:
        H = adkit.hessian(Li)(x)
        H_rr = adkit.reverse.jacobian(g)(x)
        _close(H, H_rr, 1e-8, 1e-10 * scale, f"batched Hessian vs reverse-over-reverse, arg {i}")
        H_ff = adkit.jacobian(adkit.jacobian(Li, mode="forward"), mode="forward")(x)
        _close(H_ff, H, 1e-8, 1e-10 * scale, f"batched forward-over-forward Hessian, arg {i}")


def _is_float(a: Any) -> bool:
    if isinstance(a, (bool, np.bool_)):
        return False
    if isinstance(a, float):
        return True
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"
